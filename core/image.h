/* image.h - decoding PNG and JPEG to float CHW, resizing, writing PNG.
 *
 * Decoded images are float32, channel-major (CHW), scaled to [0,1]: gray = 1
 * channel, gray+alpha = 2, RGB = 3, RGBA = 4 (palette expands to RGB/RGBA,
 * 16-bit keeps its precision: v / 65535).
 *
 *     struct image *im = image_load("cat.png");           // c x h x w
 *     struct image *small = image_resize(im, 128, 128);   // bilinear
 *     image_free(im); image_free(small);
 */
#ifndef INTERP_IMAGE_H
#define INTERP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct image {
    int c, h, w;
    float *data; /* c*h*w floats, owned */
};

/* A zero-filled c x h x w image (c 1..4). NULL with ERR_INPUT for a bad shape
 * or more than max_pixels, or big_calloc's error. Free with image_free. */
struct image *image_new(int c, int h, int w);
void image_free(struct image *im); /* NULL is a no-op */

/* Decodes by content (PNG or JPEG signature). Refuses (ERR_INPUT) more than
 * limits_get()->max_pixels pixels before allocating, corrupt or truncated
 * data, unsupported variants, a directory ("is a directory"), a missing file
 * ("cannot open: ..."). Registers path as an input. Caller frees. */
struct image *image_load(const char *path);
/* Same from memory (the fuzz entry point); `name` is the path in errors. A
 * truncated file is always an error, never a partly filled image. Errors
 * (ERR_INPUT unless noted): "empty file", "not a PNG or JPEG image",
 * "more than the limit of N pixels ... --max-pixels", "truncated PNG",
 * "truncated JPEG" (also in "corrupt or truncated JPEG" when a scan ends
 * early), "corrupt PNG: <libpng's reason>" (e.g. "IDAT: CRC error"),
 * "corrupt JPEG: <libjpeg's reason>"; out of memory is ERR_FAIL. A PNG
 * allocates its float image only once the file is long enough to hold the
 * pixels its header claims (deflate expands at most 1032:1); a JPEG keeps its
 * decoded rows in a buffer grown as rows arrive. Caller frees (image_free). */
struct image *image_decode(const void *buf, size_t len, const char *name);
/* The format decoders image_decode dispatches to (same contract). CMYK/YCCK
 * JPEGs are converted to RGB (R = (1-C)(1-K), Adobe-inverted data undone as
 * Pillow does). */
struct image *image_decode_png(const void *buf, size_t len, const char *name);
struct image *image_decode_jpeg(const void *buf, size_t len, const char *name);
/* 0 when a w x h image is within limits_get()->max_pixels (and not empty);
 * else ERR_INPUT naming the size, the limit and the --max-pixels flag. */
int image_check_pixels(uint64_t w, uint64_t h, const char *name);

/* Bilinear resize with half-pixel centres (align_corners=False, no
 * antialiasing: what torch.nn.functional.interpolate(mode="bilinear") and
 * OpenCV INTER_LINEAR compute; source coordinate (d + 0.5) * in/out - 0.5,
 * clamped at 0), for up- and downscaling alike. Returns a new image (caller
 * frees), NULL with image_new's errors. */
struct image *image_resize(const struct image *im, int h, int w);
/* Same on a single float plane (used for maps): src sh x sw -> dst dh x dw,
 * all sizes >= 1, dst caller-allocated; a kernel: never allocates. */
void plane_resize_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw);

/* Converts to `c` channels (1 or 3): gray -> RGB by copying, RGB -> gray by
 * ITU-R 601 luma with Pillow's fixed-point weights, exactly
 *     L = (19595 R + 38470 G + 7471 B) / 65536       (in float, no rounding)
 * which is Pillow's convert("L") before it rounds to 8 bits; alpha is dropped
 * (composited on nothing). Returns a new image (caller frees), or NULL with
 * ERR_INPUT for another c. */
struct image *image_to_channels(const struct image *im, int c);

/* Writes an 8-bit PNG from interleaved bytes (HWC), channels 1 (gray),
 * 2 (gray+alpha), 3 (RGB) or 4 (RGBA); atomic. */
int png_write8(const char *path, const uint8_t *pix, int w, int h, int channels);
/* Writes a 16-bit gray PNG (host-order values). Atomic. */
int png_write16_gray(const char *path, const uint16_t *pix, int w, int h);
/* Writes a float CHW image in [0,1] (clamped) as an 8-bit PNG. Atomic. */
int image_write_png(const char *path, const struct image *im);

#endif
