/* zip.c - a zip archive in memory: the central directory (with ZIP64 and an
 * archive comment), every entry checked against its local header and data
 * descriptor at open, stored and deflated entries inflated with a hard cap.
 * Format: PKWARE's APPNOTE.TXT 6.3 (sections 4.3 and 4.5); the overlap check
 * answers D. Fifield, "A better zip bomb" (WOOT 2019).
 */
#include "zip.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "util.h"

#define SIG_LOCAL   0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END     0x06054b50u
#define SIG_END64   0x06064b50u
#define SIG_LOC64   0x07064b50u
#define SIG_DESCR   0x08074b50u

#define END_LEN    22 /* end of central directory record, without its comment */
#define LOC64_LEN  20 /* ZIP64 end of central directory locator */
#define END64_LEN  56 /* ZIP64 end of central directory record, fixed part */
#define CEN_LEN    46 /* central directory file header, fixed part */
#define LOCAL_LEN  30 /* local file header, fixed part */
#define ID_ZIP64   0x0001
#define U16_MAX    0xffffu
#define U32_MAX    0xffffffffu
#define MAX_RATIO  1032 /* deflate's ceiling: 258 bytes per 2 bits */
#define ZLIB_CHUNK (1u << 30)

#define FLAG_ENCRYPTED  0x0001u
#define FLAG_DESCRIPTOR 0x0008u
#define FLAG_PATCHED    0x0020u
#define FLAG_STRONG     0x0040u
#define FLAG_MASKED     0x2000u

#define SHOW_LEN 96 /* room for an entry name as shown in a message */

struct zip_entry {
    char *name;      /* NUL-terminated, inside zip.names */
    uint64_t offset; /* local header */
    uint64_t data;   /* first byte of the (compressed) data */
    uint64_t end;    /* one past the data and its data descriptor */
    uint64_t comp;   /* compressed size */
    uint64_t size;   /* uncompressed size */
    uint32_t crc;
    uint16_t method, flags;
};

struct zip {
    const unsigned char *buf; /* borrowed */
    uint64_t len;
    char *path;
    size_t n;
    struct zip_entry *e;
    struct zip_entry **by_name; /* sorted by name, for zip_find */
    char *names;
};

/* ---- little-endian fields ----------------------------------------------- */

static uint32_t rd16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}

static uint64_t rd64(const unsigned char *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* An entry name as a message shows it: printable ASCII as is, every other
 * byte as \xNN (names are untrusted and end up on a terminal), cut short with
 * "..." when long. Returns out (SHOW_LEN bytes). */
static const char *shown(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (k + 8 >= SHOW_LEN) {
            memcpy(out + k, "...", 3);
            k += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f)
            out[k++] = (char)c;
        else
            k += (size_t)snprintf(out + k, SHOW_LEN - k, "\\x%02x", c);
    }
    out[k] = 0;
    return out;
}

static int bad(const struct zip *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const struct zip *z, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(ERR_INPUT, z->path, "zip: %s", msg);
}

/* ---- end records ---------------------------------------------------------- */

/* The end of central directory record: the last signature in the final
 * 64 KiB + 22 bytes whose comment length reaches exactly to the end of the
 * buffer (a comment may itself hold the signature bytes). */
static int find_end(const struct zip *z, uint64_t *pos)
{
    if (z->len < END_LEN)
        return bad(z, "not a zip archive (%llu bytes, too short for an end record)",
                   (unsigned long long)z->len);
    uint64_t last = z->len - END_LEN;
    uint64_t first = last > U16_MAX ? last - U16_MAX : 0;
    for (uint64_t p = last + 1; p-- > first;) {
        const unsigned char *b = z->buf + p;
        if (b[0] == 'P' && b[1] == 'K' && rd32(b) == SIG_END && rd16(b + 20) == last - p) {
            *pos = p;
            return 0;
        }
    }
    return bad(z, "no end of central directory record in the last 64 KiB "
                  "(not a zip archive, or truncated)");
}

struct dir {
    uint64_t count;  /* entries */
    uint64_t offset; /* of the central directory */
    uint64_t size;   /* of the central directory */
};

/* A classic end-record field next to its ZIP64 value: the classic one is
 * either the "see ZIP64" sentinel or the same number. */
static int same_or_sentinel(uint64_t classic, uint64_t sentinel, uint64_t v64)
{
    return classic == sentinel || classic == v64;
}

/* Reads the end record at pos (and the ZIP64 end record its locator points
 * at, when there is one); checks that the central directory ends exactly
 * where the end records begin. */
static int read_end(const struct zip *z, uint64_t pos, struct dir *d)
{
    const unsigned char *b = z->buf + pos;
    uint64_t disk = rd16(b + 4), cd_disk = rd16(b + 6), n_disk = rd16(b + 8);
    uint64_t n = rd16(b + 10), size = rd32(b + 12), off = rd32(b + 16);
    uint64_t dir_end = pos;
    if (pos >= LOC64_LEN && rd32(b - LOC64_LEN) == SIG_LOC64) {
        const unsigned char *l = b - LOC64_LEN;
        uint64_t at = rd64(l + 8), loc = pos - LOC64_LEN;
        if (rd32(l + 4) != 0 || rd32(l + 16) > 1)
            return bad(z, "multi-disk archives are not supported");
        if (at > loc || loc - at < END64_LEN || rd32(z->buf + at) != SIG_END64)
            return bad(z, "no ZIP64 end record at offset %llu, where its locator points",
                       (unsigned long long)at);
        const unsigned char *e = z->buf + at;
        uint64_t rsize = rd64(e + 4);
        if (rsize != loc - at - 12)
            return bad(z,
                       "the ZIP64 end record at offset %llu says %llu bytes, not the %llu "
                       "before its locator",
                       (unsigned long long)at, (unsigned long long)rsize,
                       (unsigned long long)(loc - at - 12));
        uint64_t disk64 = rd32(e + 16), cd_disk64 = rd32(e + 20), n_disk64 = rd64(e + 24);
        uint64_t n64 = rd64(e + 32), size64 = rd64(e + 40), off64 = rd64(e + 48);
        /* Two readers must not see two different archives. */
        if (!same_or_sentinel(disk, U16_MAX, disk64) ||
            !same_or_sentinel(cd_disk, U16_MAX, cd_disk64) ||
            !same_or_sentinel(n_disk, U16_MAX, n_disk64) ||
            !same_or_sentinel(n, U16_MAX, n64) || !same_or_sentinel(size, U32_MAX, size64) ||
            !same_or_sentinel(off, U32_MAX, off64))
            return bad(z, "the end record and the ZIP64 end record disagree");
        disk = disk64, cd_disk = cd_disk64, n_disk = n_disk64;
        n = n64, size = size64, off = off64;
        dir_end = at;
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n)
        return bad(z, "multi-disk archives are not supported");
    if (n > ZIP_MAX_ENTRIES)
        return bad(z, "%llu entries, more than the %d allowed", (unsigned long long)n,
                   ZIP_MAX_ENTRIES);
    if (off > dir_end || size != dir_end - off)
        return bad(z,
                   "the central directory (%llu bytes at offset %llu) does not end where "
                   "the end record begins (offset %llu): truncated or not a zip archive",
                   (unsigned long long)size, (unsigned long long)off,
                   (unsigned long long)dir_end);
    if (n * CEN_LEN > size)
        return bad(z, "the central directory (%llu bytes) is too small for %llu entries",
                   (unsigned long long)size, (unsigned long long)n);
    d->count = n, d->offset = off, d->size = size;
    return 0;
}

/* ---- extra fields --------------------------------------------------------- */

/* The ZIP64 extended information field (id 1) in extra[0..n): its payload
 * into *f and *flen (NULL, 0 when absent). -1 when an extra field runs past
 * the block or the ZIP64 field appears twice; 1 to 3 trailing bytes (padding
 * some tools add) are ignored. */
static int find_zip64(const unsigned char *x, size_t n, const unsigned char **f, size_t *flen)
{
    *f = NULL, *flen = 0;
    while (n >= 4) {
        size_t id = rd16(x), sz = rd16(x + 2);
        if (sz > n - 4) return -1;
        if (id == ID_ZIP64) {
            if (*f) return -1;
            *f = x + 4, *flen = sz;
        }
        x += 4 + sz, n -= 4 + sz;
    }
    return 0;
}

/* Replaces each field holding its sentinel with the next 8 (disk: 4) bytes
 * of the ZIP64 payload, in APPNOTE order: size, compressed size, local
 * header offset, disk. A NULL pointer is a field the header does not have.
 * -1 when the payload is too short; fields stay as they are without one. */
static int apply_zip64(const unsigned char *f, size_t flen, uint64_t *size, uint64_t *comp,
                       uint64_t *offset, uint64_t *disk)
{
    if (!f) return 0;
    size_t k = 0;
    uint64_t *v8[3] = {size, comp, offset};
    for (int i = 0; i < 3; i++) {
        if (!v8[i] || *v8[i] != U32_MAX) continue;
        if (flen - k < 8) return -1;
        *v8[i] = rd64(f + k);
        k += 8;
    }
    if (disk && *disk == U16_MAX) {
        if (flen - k < 4) return -1;
        *disk = rd32(f + k);
    }
    return 0;
}

/* ---- names ---------------------------------------------------------------- */

/* Refuses a name that could land outside the folder it is extracted to:
 * empty, absolute, a ".." component, a backslash (a separator on Windows) or
 * a NUL (the name would differ as a C string). */
static int check_name(const struct zip *z, size_t i, const char *s, size_t n)
{
    char nm[SHOW_LEN];
    if (n == 0) return bad(z, "entry %zu has an empty name", i);
    int escapes = s[0] == '/' || memchr(s, 0, n) || memchr(s, '\\', n);
    for (size_t a = 0; a < n && !escapes;) {
        size_t b = a;
        while (b < n && s[b] != '/')
            b++;
        escapes = b - a == 2 && s[a] == '.' && s[a + 1] == '.';
        a = b + 1;
    }
    if (escapes) return bad(z, "entry '%s' escapes the archive", shown(s, n, nm));
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(struct zip_entry *const *)a)->name, (*(struct zip_entry *const *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
    uint64_t x = (*(struct zip_entry *const *)a)->offset;
    uint64_t y = (*(struct zip_entry *const *)b)->offset;
    return x < y ? -1 : x > y;
}

/* ---- central directory and local headers ---------------------------------- */

/* Central directory entry i at p (cd_end bounds it): fills z->e[i], copies
 * the name to *names; *next is the following entry. */
static int read_central(struct zip *z, size_t i, const unsigned char *p,
                        const unsigned char *cd_end, char **names, const unsigned char **next)
{
    struct zip_entry *e = &z->e[i];
    if ((size_t)(cd_end - p) < CEN_LEN)
        return bad(z, "the central directory ends inside entry %zu", i);
    if (rd32(p) != SIG_CENTRAL) return bad(z, "central directory entry %zu is corrupt", i);
    size_t nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32);
    if (CEN_LEN + nlen + xlen + clen > (size_t)(cd_end - p))
        return bad(z, "the central directory ends inside entry %zu", i);
    const char *raw = (const char *)p + CEN_LEN;
    if (check_name(z, i, raw, nlen) < 0) return ERR_INPUT;
    e->name = *names;
    memcpy(e->name, raw, nlen);
    e->name[nlen] = 0;
    *names += nlen + 1;

    e->flags = (uint16_t)rd16(p + 8);
    e->method = (uint16_t)rd16(p + 10);
    e->crc = rd32(p + 16);
    e->comp = rd32(p + 20);
    e->size = rd32(p + 24);
    e->offset = rd32(p + 42);
    uint64_t disk = rd16(p + 34);
    const unsigned char *f;
    size_t flen;
    char nm[SHOW_LEN];
    if (find_zip64(p + CEN_LEN + nlen, xlen, &f, &flen) < 0 ||
        apply_zip64(f, flen, &e->size, &e->comp, &e->offset, &disk) < 0)
        return bad(z, "entry '%s': corrupt extra field in the central directory",
                   shown(e->name, nlen, nm));
    if (disk != 0) return bad(z, "multi-disk archives are not supported");
    *next = p + CEN_LEN + nlen + xlen + clen;
    return 0;
}

/* The data descriptor after entry e's data (APPNOTE 4.3.9): an optional
 * signature, the CRC-32 and both sizes in 4 or 8 bytes each. Every reading
 * is tried (a CRC may equal the signature; writers differ on the width);
 * the one that agrees with the central directory sets e->end. */
static int read_descriptor(const struct zip *z, struct zip_entry *e, uint64_t area_end,
                           int wide_first)
{
    for (int k = 0; k < 4; k++) {
        int sig = k < 2, wide = k & 1 ? !wide_first : wide_first;
        uint64_t at = e->data + e->comp, need = (sig ? 4 : 0) + 4 + (wide ? 16 : 8);
        if (area_end - at < need) continue;
        const unsigned char *d = z->buf + at;
        if (sig) {
            if (rd32(d) != SIG_DESCR) continue;
            d += 4;
        }
        uint64_t comp = wide ? rd64(d + 4) : rd32(d + 4);
        uint64_t size = wide ? rd64(d + 12) : rd32(d + 8);
        if (rd32(d) == e->crc && comp == e->comp && size == e->size) {
            e->end = at + need;
            return 0;
        }
    }
    char nm[SHOW_LEN];
    return bad(z,
               "entry '%s': its data descriptor is missing or disagrees with the central "
               "directory",
               shown(e->name, strlen(e->name), nm));
}

/* Entry e's local header: inside the data area (before the central
 * directory, at area_end), agreeing with the central directory; sets
 * e->data and e->end. */
static int check_local(const struct zip *z, struct zip_entry *e, uint64_t area_end)
{
    char nm[SHOW_LEN];
    size_t name_len = strlen(e->name);
    shown(e->name, name_len, nm);
    if (e->offset > area_end || area_end - e->offset < LOCAL_LEN)
        return bad(z,
                   "entry '%s': its local header (offset %llu) is outside the data area "
                   "(which ends at %llu)",
                   nm, (unsigned long long)e->offset, (unsigned long long)area_end);
    const unsigned char *l = z->buf + e->offset;
    if (rd32(l) != SIG_LOCAL)
        return bad(z, "entry '%s': no local header at offset %llu", nm,
                   (unsigned long long)e->offset);
    uint32_t flags = rd16(l + 6), method = rd16(l + 8), crc = rd32(l + 14);
    uint64_t comp = rd32(l + 18), size = rd32(l + 22);
    size_t nlen = rd16(l + 26), xlen = rd16(l + 28);
    if (LOCAL_LEN + nlen + xlen > area_end - e->offset)
        return bad(z, "entry '%s': its local header runs past the data area", nm);
    if (nlen != name_len || memcmp(l + LOCAL_LEN, e->name, nlen)) {
        char other[SHOW_LEN];
        return bad(z, "entry '%s': its local header names it '%s'", nm,
                   shown((const char *)l + LOCAL_LEN, nlen, other));
    }
    if (method != e->method)
        return bad(z, "entry '%s': its local header says method %u, the central directory %u",
                   nm, (unsigned)method, (unsigned)e->method);
    if ((flags ^ e->flags) & (FLAG_ENCRYPTED | FLAG_DESCRIPTOR | FLAG_STRONG))
        return bad(z,
                   "entry '%s': its local header's flags (0x%04x) disagree with the "
                   "central directory's (0x%04x)",
                   nm, (unsigned)flags, (unsigned)e->flags);
    const unsigned char *f;
    size_t flen;
    if (find_zip64(l + LOCAL_LEN + nlen, xlen, &f, &flen) < 0)
        return bad(z, "entry '%s': corrupt extra field in its local header", nm);
    /* A local ZIP64 field holds both sizes (APPNOTE 4.5.3). */
    if (f && flen >= 16 && (size == U32_MAX || comp == U32_MAX))
        size = rd64(f), comp = rd64(f + 8);
    else if (apply_zip64(f, flen, &size, &comp, NULL, NULL) < 0)
        return bad(z, "entry '%s': corrupt extra field in its local header", nm);

    e->data = e->offset + LOCAL_LEN + nlen + xlen;
    if (e->comp > area_end - e->data)
        return bad(z,
                   "entry '%s': its %llu bytes of data at offset %llu run past the data "
                   "area (which ends at %llu)",
                   nm, (unsigned long long)e->comp, (unsigned long long)e->data,
                   (unsigned long long)area_end);
    /* With a data descriptor the local fields are usually 0; compare what is there. */
    int dd = (e->flags & FLAG_DESCRIPTOR) != 0;
    if ((crc != e->crc && !(dd && crc == 0)) || (size != e->size && !(dd && size == 0)) ||
        (comp != e->comp && !(dd && comp == 0)))
        return bad(z,
                   "entry '%s': its local header (CRC-32 0x%08x, %llu -> %llu bytes) "
                   "disagrees with the central directory (0x%08x, %llu -> %llu)",
                   nm, (unsigned)crc, (unsigned long long)comp, (unsigned long long)size,
                   (unsigned)e->crc, (unsigned long long)e->comp, (unsigned long long)e->size);
    e->end = e->data + e->comp;
    if (dd) return read_descriptor(z, e, area_end, f != NULL);
    return 0;
}

/* Every entry's bytes (local header, data, descriptor) apart from every
 * other's: overlapping entries are how a small file inflates to gigabytes. */
static int check_overlaps(const struct zip *z)
{
    if (z->n < 2) return 0;
    struct zip_entry **by_off = xmalloc(z->n * sizeof *by_off);
    for (size_t i = 0; i < z->n; i++)
        by_off[i] = &z->e[i];
    qsort(by_off, z->n, sizeof *by_off, cmp_offset);
    int rc = 0;
    for (size_t i = 0; i + 1 < z->n && !rc; i++)
        if (by_off[i]->end > by_off[i + 1]->offset) {
            char a[SHOW_LEN], b[SHOW_LEN];
            rc = bad(z, "entries '%s' and '%s' overlap (a zip bomb?)",
                     shown(by_off[i]->name, strlen(by_off[i]->name), a),
                     shown(by_off[i + 1]->name, strlen(by_off[i + 1]->name), b));
        }
    free(by_off);
    return rc;
}

struct zip *zip_open(const void *buf, size_t len, const char *name)
{
    struct zip *z = xcalloc(1, sizeof *z);
    z->buf = buf;
    z->len = len;
    z->path = name ? xstrdup(name) : NULL;
    uint64_t pos = 0;
    struct dir d = {0};
    if (find_end(z, &pos) < 0 || read_end(z, pos, &d) < 0) goto fail;
    z->n = (size_t)d.count;
    z->e = xcalloc(z->n ? z->n : 1, sizeof *z->e);
    z->by_name = xcalloc(z->n ? z->n : 1, sizeof *z->by_name);
    /* names and their NULs fit in the directory that holds them */
    z->names = xmalloc((size_t)d.size + z->n + 1);
    char *names = z->names;
    const unsigned char *p = z->buf + d.offset, *cd_end = p + d.size;
    for (size_t i = 0; i < z->n; i++)
        if (read_central(z, i, p, cd_end, &names, &p) < 0) goto fail;
    if (p != cd_end) {
        bad(z, "the central directory has %llu bytes after its %zu entries",
            (unsigned long long)(cd_end - p), z->n);
        goto fail;
    }
    for (size_t i = 0; i < z->n; i++) {
        if (check_local(z, &z->e[i], d.offset) < 0) goto fail;
        z->by_name[i] = &z->e[i];
    }
    if (z->n > 1) qsort(z->by_name, z->n, sizeof *z->by_name, cmp_name);
    for (size_t i = 0; i + 1 < z->n; i++)
        if (!strcmp(z->by_name[i]->name, z->by_name[i + 1]->name)) {
            char nm[SHOW_LEN];
            bad(z, "two entries are named '%s'",
                shown(z->by_name[i]->name, strlen(z->by_name[i]->name), nm));
            goto fail;
        }
    if (check_overlaps(z) < 0) goto fail;
    return z;
fail:
    zip_free(z);
    return NULL;
}

void zip_free(struct zip *z)
{
    if (!z) return;
    free(z->e);
    free(z->by_name);
    free(z->names);
    free(z->path);
    free(z);
}

size_t zip_count(const struct zip *z)
{
    return z->n;
}

const char *zip_name(const struct zip *z, size_t i)
{
    ASSERT(i < z->n);
    return z->e[i].name;
}

unsigned long long zip_size(const struct zip *z, size_t i)
{
    ASSERT(i < z->n);
    return z->e[i].size;
}

long zip_find(const struct zip *z, const char *name)
{
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(z->by_name[mid]->name, name);
        if (c == 0) return (long)(z->by_name[mid] - z->e);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- reading an entry ----------------------------------------------------- */

static const char *method_name(unsigned m)
{
    switch (m) {
    case 1: return "shrink";
    case 6: return "implode";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "LZMA";
    case 93: return "Zstandard";
    case 95: return "xz";
    case 98: return "PPMd";
    default: return "unknown";
    }
}

/* Raw deflate from e's data into out (e->size + 1 bytes: the spare byte
 * shows a stream that goes on past its declared size, and inflation stops
 * there). */
static int inflate_entry(const struct zip *z, const struct zip_entry *e, unsigned char *out,
                         const char *nm)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
        return error_set(ERR_FAIL, z->path, "zip: cannot start zlib's inflate");
    uint64_t in_left = e->comp, out_left = e->size + 1;
    zs.next_in = (Bytef *)(z->buf + e->data);
    zs.next_out = out;
    int rc = 0;
    for (;;) {
        if (zs.avail_in == 0 && in_left) {
            zs.avail_in = in_left > ZLIB_CHUNK ? ZLIB_CHUNK : (uInt)in_left;
            in_left -= zs.avail_in;
        }
        if (zs.avail_out == 0 && out_left) {
            zs.avail_out = out_left > ZLIB_CHUNK ? ZLIB_CHUNK : (uInt)out_left;
            out_left -= zs.avail_out;
        }
        int r = inflate(&zs, Z_NO_FLUSH);
        if (zs.total_out > e->size) {
            rc = bad(z, "entry '%s' inflates to more than its declared %llu bytes", nm,
                     (unsigned long long)e->size);
            break;
        }
        if (r == Z_STREAM_END) break;
        if (r == Z_OK) continue;
        if (r == Z_MEM_ERROR) {
            rc = error_set(ERR_FAIL, z->path, "zip: out of memory inflating entry '%s'", nm);
        } else if (r == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0) {
            rc = bad(z, "entry '%s': its deflate data ends early (truncated)", nm);
        } else {
            rc = bad(z, "entry '%s': corrupt deflate data (%s)", nm,
                     zs.msg ? zs.msg : "no progress");
        }
        break;
    }
    if (!rc && zs.total_out != e->size)
        rc = bad(z, "entry '%s' inflates to %llu bytes, not the declared %llu", nm,
                 (unsigned long long)zs.total_out, (unsigned long long)e->size);
    inflateEnd(&zs);
    return rc;
}

int zip_read(const struct zip *z, size_t i, size_t max_len, void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    ASSERT(i < z->n);
    const struct zip_entry *e = &z->e[i];
    char nm[SHOW_LEN];
    shown(e->name, strlen(e->name), nm);
    if ((e->flags & (FLAG_ENCRYPTED | FLAG_STRONG | FLAG_MASKED)) || e->method == 99)
        return bad(z, "entry '%s' is encrypted", nm);
    if (e->flags & FLAG_PATCHED)
        return bad(z, "entry '%s' holds patch data (flag bit 5), which is not supported", nm);
    if (e->method != 0 && e->method != 8)
        return bad(z,
                   "entry '%s' uses compression method %u (%s); only stored (0) and "
                   "deflate (8) are supported",
                   nm, (unsigned)e->method, method_name(e->method));
    if (e->size > max_len) {
        char a[32], b[32];
        return bad(z,
                   "entry '%s' declares %llu bytes (%s) uncompressed, more than the %s "
                   "allowed",
                   nm, (unsigned long long)e->size, limits_format_bytes(e->size, a, sizeof a),
                   limits_format_bytes(max_len, b, sizeof b));
    }
    if (e->method == 0 && e->comp != e->size)
        return bad(z, "stored entry '%s' has %llu bytes of data for a size of %llu", nm,
                   (unsigned long long)e->comp, (unsigned long long)e->size);
    if (e->method == 8 && e->size / MAX_RATIO > e->comp)
        return bad(z,
                   "entry '%s' declares %llu bytes from %llu bytes of deflate data, more "
                   "than deflate can produce (%d:1)",
                   nm, (unsigned long long)e->size, (unsigned long long)e->comp, MAX_RATIO);
    char what[SHOW_LEN + 16];
    snprintf(what, sizeof what, "zip entry '%s'", nm);
    unsigned char *out = big_alloc((size_t)e->size + 1, z->path, what);
    if (!out) return error_code();
    if (e->method == 0) {
        memcpy(out, z->buf + e->data, (size_t)e->size);
    } else {
        int rc = inflate_entry(z, e, out, nm);
        if (rc < 0) {
            free(out);
            return rc;
        }
    }
    uint32_t crc = (uint32_t)crc32_z(0, out, (size_t)e->size);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    crc = e->crc; /* a mutated entry would otherwise never reach the parsers behind */
#endif
    if (crc != e->crc) {
        free(out);
        return bad(z, "entry '%s' fails its CRC-32 check (0x%08x, the archive says 0x%08x)", nm,
                   (unsigned)crc, (unsigned)e->crc);
    }
    out[e->size] = 0;
    *data = out;
    *len = (size_t)e->size;
    return 0;
}
