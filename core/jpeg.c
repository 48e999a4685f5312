/* jpeg.c - JPEG decoding to float CHW with libjpeg-turbo (gray, RGB/YCbCr,
 * CMYK/YCCK converted to RGB), and the EXIF orientation when asked. Errors come back through a
 * custom error_exit that longjmps, so corrupt data never reaches libjpeg's exit(); a premature
 * end of data, which libjpeg only warns about, is an error here.
 */
#include <limits.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t first */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

/* after jpeglib.h: its message list depends on jconfig.h's macros */
#include <jerror.h>

#include "error.h"
#include "image.h"
#include "util.h"

struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    jmp_buf jmp;
    int created;   /* jpeg_create_decompress returned */
    int truncated; /* libjpeg hit the end of the data */
    char msg[JMSG_LENGTH_MAX];
    uint8_t *pix; /* decoded rows, interleaved, grown as rows arrive */
    size_t cap;   /* bytes allocated in pix */
    struct image *im;
};

static struct jpeg_job *job_of(j_common_ptr cinfo)
{
    return (struct jpeg_job *)cinfo->client_data;
}

static void on_error_exit(j_common_ptr cinfo)
{
    struct jpeg_job *j = job_of(cinfo);
    cinfo->err->format_message(cinfo, j->msg);
    longjmp(j->jmp, 1);
}

/* msg_level -1 = warning, >= 0 = trace. Warnings after which libjpeg goes on
 * with made-up data are errors here (djpeg and Pillow accept them): the end of
 * the file (libjpeg feeds fake EOI markers and the rest of the image comes out
 * gray), a marker inside entropy-coded data (the scan ended early: same gray
 * fill), bad Huffman/arithmetic codes and lost restart sync (garbage blocks).
 * Harmless ones (extra bytes before a marker, data after EOI, odd JFIF
 * versions, bad ICC profiles) are counted in num_warnings and ignored. */
static void on_message(j_common_ptr cinfo, int msg_level)
{
    if (msg_level >= 0) return;
    int code = cinfo->err->msg_code;
    int bad = code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
              code == JWRN_MUST_RESYNC;
#if JPEG_LIB_VERSION >= 70 || defined(C_ARITH_CODING_SUPPORTED) ||                             \
    defined(D_ARITH_CODING_SUPPORTED)
    bad = bad || code == JWRN_ARITH_BAD_CODE;
#endif
    if (bad) {
        struct jpeg_job *j = job_of(cinfo);
        j->truncated = code == JWRN_JPEG_EOF;
        cinfo->err->format_message(cinfo, j->msg);
        longjmp(j->jmp, 1);
    }
    cinfo->err->num_warnings++;
}

static void on_output(j_common_ptr cinfo)
{
    (void)cinfo; /* never print */
}

/* Makes room for `rows` rows of `stride` bytes. pix grows by doubling as rows
 * actually decode, so a header claiming a huge image over a few bytes of data
 * fails as truncated long before its full size is allocated. */
static int reserve_rows(struct jpeg_job *j, size_t rows, size_t stride, size_t h,
                        const char *name)
{
    size_t need, cap;
    if (!mul_ok(rows, stride, &need)) return error_set(ERR_INPUT, name, "image too large");
    if (need <= j->cap) return 0;
    size_t grow = j->cap ? j->cap : stride * 64;
    if (!mul_ok(grow, 2, &cap)) cap = need;
    if (cap < need) cap = need;
    if (cap / stride > h) cap = h * stride; /* h * stride fits: rows <= h */
    uint8_t *p = big_alloc(cap, name, "JPEG rows");
    if (!p) return error_code();
    if (j->pix) memcpy(p, j->pix, j->cap);
    free(j->pix);
    j->pix = p;
    j->cap = cap;
    return 0;
}

/* Interleaved 8-bit samples -> float planes; CMYK -> RGB. */
static void to_planes(struct jpeg_job *j, int comps)
{
    struct image *im = j->im;
    size_t n = (size_t)im->h * im->w;
    const uint8_t *s = j->pix;
    if (comps == 4) {
        /* Adobe (Photoshop, Pillow) stores CMYK inverted; Pillow reads such
         * files as "CMYK;I". R = (1 - C)(1 - K) in [0,1]. */
        int inv = j->cinfo.saw_Adobe_marker;
        for (size_t i = 0; i < n; i++, s += 4) {
            float k = inv ? s[3] / 255.0f : 1.0f - s[3] / 255.0f;
            for (int c = 0; c < 3; c++) {
                float v = inv ? s[c] / 255.0f : 1.0f - s[c] / 255.0f;
                im->data[c * n + i] = v * k;
            }
        }
        return;
    }
    for (size_t i = 0; i < n; i++, s += comps)
        for (int c = 0; c < comps; c++)
            im->data[c * n + i] = (float)s[c] / 255.0f;
}

/* ---- EXIF orientation ------------------------------------------------------ */

static unsigned exif_u16(const uint8_t *p, int be)
{
    return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t exif_u32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The Orientation tag (0x0112) of IFD0 in an APP1 payload "Exif\0?" + TIFF
 * (CIPA DC-008, 4.6.4): 1-8, or 0 when absent, out of range or malformed
 * (every offset is checked against n). SHORT or LONG, count 1. */
static int exif_orientation(const uint8_t *p, size_t n)
{
    if (n < 6 + 8 || memcmp(p, "Exif", 5)) return 0; /* Pillow checks these 5 bytes */
    const uint8_t *t = p + 6;
    size_t tn = n - 6;
    int be;
    if (!memcmp(t, "II\x2a\0", 4))
        be = 0;
    else if (!memcmp(t, "MM\0\x2a", 4))
        be = 1;
    else
        return 0;
    uint32_t ifd = exif_u32(t + 4, be);
    if (ifd > tn || tn - ifd < 2) return 0;
    unsigned count = exif_u16(t + ifd, be);
    if ((tn - ifd - 2) / 12 < count) return 0; /* the entries do not fit */
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (exif_u16(t + e, be) != 0x0112) continue;
        unsigned type = exif_u16(t + e + 2, be);
        uint32_t cnt = exif_u32(t + e + 4, be), v;
        if (cnt != 1) return 0;
        if (type == 3) /* SHORT: left-justified in the 4-byte value field */
            v = exif_u16(t + e + 8, be);
        else if (type == 4) /* LONG */
            v = exif_u32(t + e + 8, be);
        else
            return 0;
        return v >= 1 && v <= 8 ? (int)v : 0;
    }
    return 0;
}

/* The orientation from the first Exif APP1 segment libjpeg saved (Pillow
 * also keeps the first). */
static int jpeg_orientation(struct jpeg_decompress_struct *ci)
{
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 5 && !memcmp(m->data, "Exif", 5))
            return exif_orientation(m->data, m->data_length);
    return 0;
}

/* The work under setjmp; returns 0 or a negative code with the error set. */
static int decode(struct jpeg_job *j, const void *buf, size_t len, const char *name)
{
    struct jpeg_decompress_struct *ci = &j->cinfo;
    jpeg_create_decompress(ci);
    j->created = 1;
    ci->client_data = j;
    /* Progressive files keep whole-image coefficient buffers: cap them (there
     * is no backing store, so libjpeg then errors instead of allocating). */
    uint64_t maxb = limits_get()->max_bytes;
    ci->mem->max_memory_to_use = maxb > (uint64_t)LONG_MAX ? LONG_MAX : (long)maxb;
    jpeg_mem_src(ci, buf, (unsigned long)len);
    int orient = image_opts_get()->exif_orientation;
    if (orient) jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(ci, TRUE);
    if (orient) orient = jpeg_orientation(ci);
    if (image_check_pixels(ci->image_width, ci->image_height, name) < 0) return ERR_INPUT;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE: ci->out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: ci->out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK: ci->out_color_space = JCS_CMYK; break;
    default:
        return error_set(ERR_INPUT, name, "unsupported JPEG colour space (%d components)",
                         ci->num_components);
    }
    jpeg_start_decompress(ci);
    int comps = ci->output_components;
    size_t w = ci->output_width, h = ci->output_height, stride;
    if (!mul_ok(w, (size_t)comps, &stride))
        return error_set(ERR_INPUT, name, "image too large");
    while (ci->output_scanline < ci->output_height) {
        size_t y = ci->output_scanline;
        if (reserve_rows(j, y + 1, stride, h, name) < 0) return error_code();
        JSAMPROW row = j->pix + y * stride;
        jpeg_read_scanlines(ci, &row, 1);
    }
    /* Reads to EOI: a file cut after the last scan is still truncated. */
    jpeg_finish_decompress(ci);
    j->im = image_new(comps == 4 ? 3 : comps, (int)h, (int)w);
    if (!j->im) return error_code();
    to_planes(j, comps);
    if (orient > 1) {
        struct image *t = image_orient(j->im, orient);
        if (!t) return error_code();
        image_free(j->im);
        j->im = t;
    }
    return 0;
}

struct image *image_decode_jpeg(const void *buf, size_t len, const char *name)
{
    struct jpeg_job *j = xcalloc(1, sizeof *j);
    struct image *im = NULL;
    j->cinfo.err = jpeg_std_error(&j->jerr);
    j->jerr.error_exit = on_error_exit;
    j->jerr.emit_message = on_message;
    j->jerr.output_message = on_output;
    j->cinfo.client_data = j;
    if (setjmp(j->jmp)) {
        if (j->truncated)
            error_set(ERR_INPUT, name, "truncated JPEG: the file ends before its data does");
        else if (j->jerr.msg_code == JERR_NO_BACKING_STORE)
            error_set(ERR_INPUT, name,
                      "JPEG needs more memory than the %.0f MiB allowed for one input "
                      "(raise it with --max-memory)",
                      limits_get()->max_bytes / 1048576.0);
        else if (j->jerr.msg_code == JERR_OUT_OF_MEMORY)
            error_set(ERR_FAIL, name, "out of memory decoding JPEG (%s)", j->msg);
        else if (j->jerr.msg_code == JWRN_HIT_MARKER)
            error_set(ERR_INPUT, name,
                      "corrupt or truncated JPEG: the data ends before the image does "
                      "(premature end of data segment)");
        else {
            /* libjpeg's corrupt-data warnings start with this; say it once */
            const char *m = j->msg, *pre = "Corrupt JPEG data: ";
            if (!strncmp(m, pre, strlen(pre))) m += strlen(pre);
            error_set(ERR_INPUT, name, "corrupt JPEG: %s", m);
        }
        goto done;
    }
    if (decode(j, buf, len, name) < 0) {
        error_set_path_if_missing(name);
        goto done;
    }
    im = j->im;
    j->im = NULL;
done:
    if (j->created) jpeg_destroy_decompress(&j->cinfo);
    image_free(j->im);
    free(j->pix);
    free(j);
    return im;
}
