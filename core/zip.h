/* zip.h - reading a zip archive held in memory (the container of a Keras 3
 * .keras model: config.json, metadata.json, model.weights.h5).
 *
 * Hardened for hostile files: the whole central directory is checked when
 * the archive is opened (every entry against its local header; unsafe,
 * duplicate and overlapping entries refused), and reading an entry never
 * produces more than the caller allows.
 *
 *     struct zip *z = zip_open(buf, len, "model.keras");   // buf stays alive
 *     long i = z ? zip_find(z, "config.json") : -1;
 *     void *text; size_t n;
 *     if (i >= 0 && zip_read(z, (size_t)i, 64u << 20, &text, &n) == 0) {
 *         ... text is n bytes, NUL-terminated ...
 *         free(text);
 *     }
 *     zip_free(z);
 */
#ifndef INTERP_ZIP_H
#define INTERP_ZIP_H

#include <stddef.h>

/* Most entries an archive may hold (a .keras file has three). */
#define ZIP_MAX_ENTRIES 65536

struct zip;

/* Reads the directory of the zip archive in buf[0..len). buf is borrowed: it
 * must stay alive and unchanged until zip_free. `name` is the path used in
 * error messages (may be NULL). Supports stored and deflated entries, an
 * archive comment, ZIP64 (end records and extra fields) and data descriptors.
 * Returns NULL with ERR_INPUT and a message starting "zip: " when there is no
 * end record in the last 64 KiB ("not a zip archive, or truncated"), for a
 * multi-disk archive, more than ZIP_MAX_ENTRIES entries, a central directory
 * out of bounds or not matching its end record, an entry name that is empty,
 * absolute, has a ".." component, a backslash or a NUL ("zip: entry '../x'
 * escapes the archive"), two entries with the same name, a local header that
 * disagrees with the central directory (name, method, flags, CRC-32 and sizes
 * where the local header has them) or a data descriptor that does, an entry
 * outside the data area (before the central directory) and entries that
 * overlap (the overlapping-files zip bomb). Free with zip_free. */
struct zip *zip_open(const void *buf, size_t len, const char *name);
void zip_free(struct zip *z); /* NULL is a no-op */

/* Number of entries (directory entries such as "dir/" included). */
size_t zip_count(const struct zip *z);
/* Entry i's name (i < zip_count): the bytes stored, NUL-terminated (UTF-8
 * when the archive says so, otherwise in practice ASCII). Owned by z. */
const char *zip_name(const struct zip *z, size_t i);
/* Entry i's uncompressed size as the central directory declares it. */
unsigned long long zip_size(const struct zip *z, size_t i);
/* Index of the entry named exactly `name`, -1 when there is none. */
long zip_find(const struct zip *z, const char *name);

/* Decompresses entry i (i < zip_count) into a new buffer of *len bytes plus
 * a NUL at data[*len] (for text use). At most max_len bytes are ever
 * produced: an entry declaring more is refused before anything is
 * allocated, and inflation stops at the first byte past the declared size.
 * The buffer is also held to limits_get()->max_bytes (big_alloc).
 * Returns 0, or ERR_INPUT ("zip: entry 'x' ...") when the entry is encrypted,
 * uses a method other than stored (0) and deflate (8), declares more than
 * max_len bytes or more than deflate can produce from its compressed size,
 * inflates to a size other than the declared one, has corrupt or truncated
 * deflate data, or fails its CRC-32; ERR_FAIL when memory runs out. On
 * failure *data is NULL and *len 0. The caller frees *data with free(). */
int zip_read(const struct zip *z, size_t i, size_t max_len, void **data, size_t *len);

#endif
