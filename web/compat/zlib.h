/* zlib.h - the slice of zlib's interface that core/zip.c and core/hdf5_data.c
 * use, for the browser build, where web/compat/inflate.c implements it (no
 * zlib is compiled for wasm). Same names, types and return codes as zlib's.
 *
 *     z_stream z = {0};
 *     inflateInit2(&z, -MAX_WBITS);          // raw deflate (inflateInit: zlib wrapper)
 *     z.next_in = src, z.avail_in = n;       // the whole stream, in one call
 *     z.next_out = dst, z.avail_out = cap;
 *     int r = inflate(&z, Z_NO_FLUSH);       // Z_STREAM_END when complete
 *     inflateEnd(&z);
 *
 * Unlike zlib, inflate decodes a stream in one call: given the whole input,
 * it runs to the end of the stream (Z_STREAM_END), until the output is full
 * (Z_OK with avail_out 0), or until the input ends early (Z_BUF_ERROR); a
 * second call on the same stream returns Z_BUF_ERROR. Both callers hand over
 * up to 1 GiB at once, far past what the page accepts.
 */
#ifndef INTERP_COMPAT_ZLIB_H
#define INTERP_COMPAT_ZLIB_H

#include <stddef.h>

typedef unsigned char Bytef;
typedef unsigned int uInt;
typedef unsigned long uLong;

typedef struct z_stream_s {
    const Bytef *next_in; /* next input byte */
    uInt avail_in;        /* bytes available at next_in */
    uLong total_in;       /* input bytes read so far */
    Bytef *next_out;      /* next output byte */
    uInt avail_out;       /* space left at next_out */
    uLong total_out;      /* output bytes written so far */
    const char *msg;      /* last error message, NULL if none */
    void *state;          /* private */
} z_stream;
typedef z_stream *z_streamp;

#define Z_NO_FLUSH     0
#define Z_OK           0
#define Z_STREAM_END   1
#define Z_NEED_DICT    2
#define Z_STREAM_ERROR (-2)
#define Z_DATA_ERROR   (-3)
#define Z_MEM_ERROR    (-4)
#define Z_BUF_ERROR    (-5)
#define MAX_WBITS      15

/* windowBits 8..15: a zlib stream (RFC 1950: header, adler-32 checked);
 * -8..-15: raw deflate (RFC 1951). Z_OK, or Z_STREAM_ERROR for other values,
 * Z_MEM_ERROR. */
int inflateInit2(z_streamp strm, int windowBits);
#define inflateInit(strm) inflateInit2((strm), MAX_WBITS)
/* See the top of this file. Errors: Z_DATA_ERROR (strm->msg says why),
 * Z_BUF_ERROR, Z_STREAM_ERROR. */
int inflate(z_streamp strm, int flush);
int inflateEnd(z_streamp strm);

/* CRC-32 (ISO 3309, the zip and PNG checksum) of buf, continuing crc. */
uLong crc32_z(uLong crc, const Bytef *buf, size_t len);

#endif
