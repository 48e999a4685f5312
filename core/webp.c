/* webp.c - WebP decoding to float CHW with libwebp: lossy (VP8), lossless
 * (VP8L) and either with alpha (VP8X + ALPH). The header's size is checked
 * against the pixel limit before anything is decoded; libwebp then decodes
 * into a buffer interp allocated, so max_bytes applies to it.
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

#include "error.h"
#include "image.h"
#include "util.h"

/* libwebp's status as a phrase for "corrupt WebP: ...". */
static const char *status_text(VP8StatusCode st)
{
    switch (st) {
    case VP8_STATUS_OK: return "no error";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "decoding suspended";
    case VP8_STATUS_USER_ABORT: return "decoding aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
    }
    return "unknown error";
}

/* Records the error for a status other than OK; returns the code. */
static int webp_fail(VP8StatusCode st, const char *name)
{
    if (st == VP8_STATUS_NOT_ENOUGH_DATA)
        return error_set(ERR_INPUT, name, "truncated WebP: the file ends before its data does");
    if (st == VP8_STATUS_OUT_OF_MEMORY)
        return error_set(ERR_FAIL, name, "out of memory decoding WebP");
    if (st == VP8_STATUS_UNSUPPORTED_FEATURE)
        return error_set(ERR_INPUT, name,
                         "unsupported WebP: libwebp cannot decode this variant");
    return error_set(ERR_INPUT, name, "corrupt WebP: %s", status_text(st));
}

struct image *image_decode_webp(const void *buf, size_t len, const char *name)
{
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(buf, len, &f);
    if (st != VP8_STATUS_OK) {
        webp_fail(st, name);
        return NULL;
    }
    if (f.has_animation) {
        /* frames are composited by the demux library onto a canvas; a still
         * image is what a classifier's folder should hold */
        error_set(ERR_INPUT, name,
                  "animated WebP is not supported (only still images; save its first "
                  "frame as a still WebP or PNG)");
        return NULL;
    }
    if (f.width < 1 || f.height < 1) { /* libwebp never reports this: a guard */
        error_set(ERR_INPUT, name, "corrupt WebP: %dx%d image", f.width, f.height);
        return NULL;
    }
    if (image_check_pixels((uint64_t)f.width, (uint64_t)f.height, name) < 0) return NULL;
    int c = f.has_alpha ? 4 : 3;
    size_t stride, size;
    if (!mul_ok((size_t)f.width, (size_t)c, &stride) ||
        !mul_ok(stride, (size_t)f.height, &size)) {
        error_set(ERR_INPUT, name, "image too large");
        return NULL;
    }
    uint8_t *pix = big_alloc(size, name, "WebP pixels");
    if (!pix) return NULL;
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg)) { /* a libwebp/header version mismatch */
        free(pix);
        error_set(ERR_FAIL, name, "libwebp rejected its decoder configuration");
        return NULL;
    }
    /* Non-premultiplied RGBA or RGB, with libwebp's default (fancy)
     * upsampling, as Pillow decodes. */
    cfg.output.colorspace = c == 4 ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = pix;
    cfg.output.u.RGBA.stride = (int)stride;
    cfg.output.u.RGBA.size = size;
    st = WebPDecode(buf, len, &cfg);
    WebPFreeDecBuffer(&cfg.output); /* nothing to free with external memory */
    struct image *im = NULL;
    if (st != VP8_STATUS_OK) {
        webp_fail(st, name);
    } else if (cfg.output.width != f.width || cfg.output.height != f.height) {
        error_set(ERR_INPUT, name, "corrupt WebP: the header says %dx%d, the data %dx%d",
                  f.width, f.height, cfg.output.width, cfg.output.height);
    } else if ((im = image_new(c, f.height, f.width))) {
        size_t n = (size_t)f.width * f.height;
        const uint8_t *s = pix;
        for (size_t i = 0; i < n; i++, s += c)
            for (int k = 0; k < c; k++)
                im->data[k * n + i] = (float)s[k] / 255.0f;
    } else {
        error_set_path_if_missing(name);
    }
    free(pix);
    return im;
}
