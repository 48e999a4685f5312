/* sha256.h - SHA-256 (FIPS 180-4), for the manifests of sharded runs: the
 * model file a part was made with and the files a part holds are named by
 * their digest, so `interp merge` can tell parts of one run from others.
 *
 *     char hex[SHA256_HEX_LEN + 1];
 *     if (sha256_file("model.onnx", hex) < 0) ... error_message() ...
 *
 *     struct sha256 s;
 *     sha256_init(&s);
 *     sha256_update(&s, "abc", 3);
 *     uint8_t d[SHA256_DIGEST_LEN];
 *     sha256_final(&s, d);                  // ba7816bf...
 */
#ifndef INTERP_SHA256_H
#define INTERP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN    64

struct sha256 {
    uint32_t h[8];   /* the chaining state */
    uint64_t bytes;  /* message length so far */
    uint8_t buf[64]; /* a partial block */
    size_t nbuf;     /* bytes in buf */
};

/* Starts a digest (the initial hash value of FIPS 180-4 section 5.3.3). */
void sha256_init(struct sha256 *s);
/* Adds n bytes of data (any length, in any number of calls). */
void sha256_update(struct sha256 *s, const void *data, size_t n);
/* Pads, finishes and writes the 32-byte digest; s must be initialised again
 * before reuse. */
void sha256_final(struct sha256 *s, uint8_t digest[SHA256_DIGEST_LEN]);
/* The digest as 64 lowercase hex digits and a NUL (what sha256sum prints). */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN + 1]);

/* The digest of a whole file as hex, read in blocks. *bytes (may be NULL)
 * receives its size. ERR_INPUT (path) when it cannot be opened, ERR_FAIL on a
 * read error. */
int sha256_file(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *bytes);

#endif
