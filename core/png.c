/* png.c - PNG decoding to float CHW and 8/16-bit PNG writing, with libpng.
 *
 * libpng reports errors by longjmp; every object that must survive one lives
 * in a heap-allocated job, so nothing depends on automatic variables after
 * setjmp. libpng never prints: errors are recorded, warnings ignored.
 */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "outfile.h"
#include "util.h"

/* deflate cannot expand more than 1032:1 (a 258-byte match costs at least
 * 2 bits; zlib FAQ), so a file shorter than raw_size / 1032 cannot hold the
 * image its header claims: it is truncated, and we say so before allocating. */
#define DEFLATE_MAX_RATIO 1032

/* libpng's last error and warning, behind its error pointer (read and write) */
struct png_msgs {
    char err[256], warn[256];
};

struct png_job {
    png_structp png;
    png_infop info;
    const uint8_t *buf; /* the encoded file */
    size_t len, pos;
    const char *name;
    struct image *im; /* the result being filled */
    uint8_t *pix;     /* one row, or every row for interlaced images */
    png_bytep *rows;  /* row pointers into pix (interlaced only) */
    int truncated;    /* the read callback ran out of data */
    struct png_msgs msgs;
};

static void on_error(png_structp png, png_const_charp msg)
{
    struct png_msgs *m = png_get_error_ptr(png);
    snprintf(m->err, sizeof m->err, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings concern ancillary chunks (bad iCCP profiles, ancillary CRCs) that
 * decoding does not use, or precede an error ("Image width exceeds user limit"
 * before "Invalid IHDR data"): the last one is kept, none is printed. */
static void on_warning(png_structp png, png_const_charp msg)
{
    struct png_msgs *m = png_get_error_ptr(png);
    snprintf(m->warn, sizeof m->warn, "%s", msg);
}

static void read_mem(png_structp png, png_bytep out, size_t n)
{
    struct png_job *j = png_get_io_ptr(png);
    if (n > j->len - j->pos) {
        j->truncated = 1;
        png_error(png, "file ends early");
    }
    memcpy(out, j->buf + j->pos, n);
    j->pos += n;
}

/* One decoded row (8 or 16 bits, c interleaved channels) into the planes. */
static void put_row(struct image *im, int y, const uint8_t *row, int depth)
{
    size_t plane = (size_t)im->h * im->w;
    float *dst = im->data + (size_t)y * im->w;
    int c = im->c;
    if (depth == 16) {
        /* PNG stores 16-bit samples big-endian */
        for (int x = 0; x < im->w; x++)
            for (int k = 0; k < c; k++) {
                const uint8_t *s = row + 2 * ((size_t)x * c + k);
                dst[k * plane + x] = (float)((s[0] << 8) | s[1]) / 65535.0f;
            }
    } else {
        for (int x = 0; x < im->w; x++)
            for (int k = 0; k < c; k++)
                dst[k * plane + x] = (float)row[(size_t)x * c + k] / 255.0f;
    }
}

/* The work between setjmp and a normal return. Returns 0, or a negative code
 * after recording an error that is not libpng's (limits, allocation). */
static int decode(struct png_job *j)
{
    png_structp png = j->png;
    png_infop info = j->info;
    uint64_t lim = limits_get()->max_pixels;
    png_uint_32 w, h;
    int depth, ctype, interlace;

    /* libpng refuses a dimension over this itself (default 1e6, which would
     * reject a legal 2000000x1 strip); our pixel check below is the real one. */
    png_uint_32 dim = lim > PNG_UINT_31_MAX ? PNG_UINT_31_MAX : (png_uint_32)lim;
    png_set_user_limits(png, dim ? dim : 1, dim ? dim : 1);
    /* Ancillary chunks that carry no pixels are skipped unread: libpng would
     * malloc whatever length their header claims before reading them (a
     * 134-byte file asked for 1.5 GB for a tEXt chunk; found by
     * fuzz/fuzz_png.c), and its own chunk-size check is only a warning on
     * read. Skipped chunks are consumed 1 KB at a time, so a lying length
     * ends as "truncated". Unknown chunks are skipped too. */
    static const png_byte skip[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0pCAL\0sCAL\0eXIf\0"
                                   "tIME\0hIST\0oFFs\0pHYs\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skip, (int)(sizeof skip / 5));
    png_set_read_fn(png, j, read_mem);
    png_read_info(png, info);
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if (image_check_pixels(w, h, j->name) < 0) return ERR_INPUT;

    size_t raw, rowbytes = png_get_rowbytes(png, info);
    if (!mul_ok(h, rowbytes + 1, &raw) || raw / DEFLATE_MAX_RATIO > j->len)
        return error_set(ERR_INPUT, j->name,
                         "truncated PNG: %zu bytes cannot hold a %ux%u image", j->len,
                         (unsigned)w, (unsigned)h);

    /* Expand everything to 8 or 16 bits per sample, 1-4 channels. */
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info), odepth = png_get_bit_depth(png, info);
    size_t orow = png_get_rowbytes(png, info);
    ASSERT(c >= 1 && c <= 4 && (odepth == 8 || odepth == 16));

    j->im = image_new(c, (int)h, (int)w);
    if (!j->im) return error_code();
    if (passes == 1) {
        /* Row by row straight into the planes: one row of scratch. */
        if (!(j->pix = big_alloc(orow, j->name, "PNG row"))) return error_code();
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(png, j->pix, NULL);
            put_row(j->im, (int)y, j->pix, odepth);
        }
    } else {
        /* Adam7 fills every row over 7 passes: libpng needs the whole image. */
        size_t all, nptr;
        if (!mul_ok(orow, h, &all) || !mul_ok(h, sizeof(png_bytep), &nptr))
            return error_set(ERR_INPUT, j->name, "image too large");
        if (!(j->pix = big_alloc(all, j->name, "interlaced PNG rows"))) return error_code();
        if (!(j->rows = big_alloc(nptr, j->name, "PNG row table"))) return error_code();
        for (png_uint_32 y = 0; y < h; y++)
            j->rows[y] = j->pix + (size_t)y * orow;
        png_read_image(png, j->rows);
        for (png_uint_32 y = 0; y < h; y++)
            put_row(j->im, (int)y, j->rows[y], odepth);
    }
    /* Reads up to IEND: a file cut after its image data is still truncated. */
    png_read_end(png, NULL);
    return 0;
}

/* When libpng refused a side over the user limit: the size from IHDR (the
 * first chunk, at byte 16) for a message with the figure. 1 when recorded. */
static int ihdr_size(const uint8_t *b, size_t len, const char *name)
{
    if (len < 24 || memcmp(b + 12, "IHDR", 4)) return 0;
    uint64_t w = (uint64_t)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
    uint64_t h = (uint64_t)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
    return image_check_pixels(w, h, name) < 0;
}

struct image *image_decode_png(const void *buf, size_t len, const char *name)
{
    struct png_job *j = xcalloc(1, sizeof *j);
    struct image *im = NULL;
    j->buf = buf;
    j->len = len;
    j->name = name;
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j->msgs, on_error, on_warning);
    if (j->png) j->info = png_create_info_struct(j->png);
    if (!j->png || !j->info) {
        error_set(ERR_FAIL, name, "out of memory starting the PNG decoder");
        goto done;
    }
    if (setjmp(png_jmpbuf(j->png))) {
        if (j->truncated)
            error_set(ERR_INPUT, name, "truncated PNG: the file ends before its data does");
        else if (strstr(j->msgs.err, "exceeds user limit") ||
                 strstr(j->msgs.warn, "exceeds user limit")) {
            if (!ihdr_size(buf, len, name))
                error_set(ERR_INPUT, name,
                          "image width or height is more than the limit of %llu pixels "
                          "(raise it with --max-pixels)",
                          (unsigned long long)limits_get()->max_pixels);
        }
        else if (strstr(j->msgs.err, "Out of memory") || strstr(j->msgs.err, "out of memory"))
            error_set(ERR_FAIL, name, "out of memory decoding PNG (%s)", j->msgs.err);
        else
            error_set(ERR_INPUT, name, "corrupt PNG: %s", j->msgs.err);
        goto done;
    }
    if (decode(j) < 0) {
        error_set_path_if_missing(name);
        goto done;
    }
    im = j->im;
    j->im = NULL;
done:
    if (j->png) png_destroy_read_struct(&j->png, j->info ? &j->info : NULL, NULL);
    image_free(j->im);
    free(j->pix);
    free(j->rows);
    free(j);
    return im;
}

/* ---- writing ------------------------------------------------------------- */

struct png_wjob {
    png_structp png;
    png_infop info;
    struct outfile of;
    uint8_t *row; /* 16-bit: one big-endian row */
    struct png_msgs msgs;
};

/* fast: zlib level 1 and the Up filter on every row instead of the default
 * level 6 with libpng's per-row choice among the five filters */
static int write_png(const char *path, const void *pix, int w, int h, int channels, int depth,
                     int fast)
{
    static const int ctypes[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                  PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (w < 1 || h < 1 || channels < 1 || channels > 4)
        return error_set(ERR_INPUT, path, "cannot write a %dx%d image with %d channels", w, h,
                         channels);
    size_t rowbytes;
    if (!mul3_ok((size_t)w, (size_t)channels, (size_t)depth / 8, &rowbytes))
        return error_set(ERR_INPUT, path, "image too large to write");
    struct png_wjob *j = xcalloc(1, sizeof *j);
    int rc = -1;
    if (depth == 16 && !(j->row = big_alloc(rowbytes, path, "PNG row"))) {
        rc = error_code();
        goto done;
    }
    if ((rc = outfile_open(&j->of, path)) < 0) goto done;
    rc = ERR_FAIL;
    j->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &j->msgs, on_error, on_warning);
    if (j->png) j->info = png_create_info_struct(j->png);
    if (!j->png || !j->info) {
        error_set(ERR_FAIL, path, "out of memory starting the PNG encoder");
        goto done;
    }
    if (setjmp(png_jmpbuf(j->png))) {
        error_set(ERR_FAIL, path, "cannot write PNG: %s", j->msgs.err);
        goto done;
    }
    png_init_io(j->png, j->of.fp);
    if (fast) {
        png_set_compression_level(j->png, 1);
        png_set_filter(j->png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
    }
    png_set_IHDR(j->png, j->info, (png_uint_32)w, (png_uint_32)h, depth, ctypes[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(j->png, j->info);
    for (int y = 0; y < h; y++) {
        if (depth == 8) {
            png_write_row(j->png, (png_const_bytep)pix + (size_t)y * rowbytes);
        } else {
            const uint16_t *src = (const uint16_t *)pix + (size_t)y * w * channels;
            for (size_t i = 0; i < (size_t)w * channels; i++) {
                j->row[2 * i] = (uint8_t)(src[i] >> 8);
                j->row[2 * i + 1] = (uint8_t)(src[i] & 0xFF);
            }
            png_write_row(j->png, j->row);
        }
    }
    png_write_end(j->png, NULL);
    rc = 0;
done:
    if (j->png) png_destroy_write_struct(&j->png, j->info ? &j->info : NULL);
    if (j->of.fp) {
        if (rc == 0)
            rc = outfile_commit(&j->of);
        else
            outfile_abort(&j->of);
    }
    free(j->row);
    free(j);
    return rc;
}

int png_write8(const char *path, const uint8_t *pix, int w, int h, int channels)
{
    return write_png(path, pix, w, h, channels, 8, 0);
}

int png_write8_fast(const char *path, const uint8_t *pix, int w, int h, int channels)
{
    return write_png(path, pix, w, h, channels, 8, 1);
}

int png_write16_gray(const char *path, const uint16_t *pix, int w, int h)
{
    return write_png(path, pix, w, h, 1, 16, 0);
}
