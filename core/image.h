/* image.h - decoding PNG, JPEG, WebP, BMP and GIF to float CHW, resizing,
 * writing PNG.
 *
 * Decoded images are float32, channel-major (CHW), scaled to [0,1]: gray = 1
 * channel, gray+alpha = 2, RGB = 3, RGBA = 4 (palette expands to RGB/RGBA,
 * 16-bit keeps its precision: v / 65535). The channels are those of the mode
 * Pillow opens the file in (a palette that is exactly the gray ramp is gray).
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

/* How images are read besides their pixels: process-wide, mutable (the CLI
 * sets it from --exif-orientation), like limits_get(). */
struct image_opts {
    /* 1: a JPEG's EXIF Orientation tag (1-8) is applied after decoding (as
     * Pillow's ImageOps.exif_transpose does); 0, the default: ignored, as
     * Keras and Pillow's Image.open do. A missing, malformed or out-of-range
     * tag is ignored either way. */
    int exif_orientation;
};
struct image_opts *image_opts_get(void);

/* Decodes by content: the PNG, JPEG (FF D8 FF), WebP (RIFF....WEBP), BMP
 * ("BM") or GIF (GIF87a/GIF89a) signature, never the extension. Refuses (ERR_INPUT) more than
 * limits_get()->max_pixels pixels before allocating, corrupt or truncated
 * data, unsupported variants, a directory ("is a directory"), a missing file
 * ("cannot open: ..."). Registers path as an input. Caller frees. */
struct image *image_load(const char *path);
/* Same from memory (the fuzz entry point); `name` is the path in errors. A
 * truncated file is always an error, never a partly filled image. Errors
 * (ERR_INPUT unless noted): "empty file", "not a PNG, JPEG, WebP, BMP or GIF image",
 * "more than the limit of N pixels ... --max-pixels", "truncated PNG",
 * "truncated JPEG" (also in "corrupt or truncated JPEG" when a scan ends
 * early), "corrupt PNG: <libpng's reason>" (e.g. "IDAT: CRC error"),
 * "corrupt JPEG: <libjpeg's reason>", and "truncated/corrupt WebP, BMP,
 * GIF: ..." likewise; out of memory is ERR_FAIL. A PNG allocates its float
 * image only once the file is long enough to hold the pixels its header
 * claims (deflate expands at most 1032:1); a JPEG keeps its decoded rows, and
 * a GIF its decoded indices, in a buffer grown as they arrive; a BMP checks
 * that the file holds its rows before allocating. A JPEG's EXIF orientation
 * is applied when image_opts_get()->exif_orientation is set. Caller frees
 * (image_free). */
struct image *image_decode(const void *buf, size_t len, const char *name);
/* The format decoders image_decode dispatches to (same contract). CMYK/YCCK
 * JPEGs are converted to RGB (R = (1-C)(1-K), Adobe-inverted data undone as
 * Pillow does). */
struct image *image_decode_png(const void *buf, size_t len, const char *name);
struct image *image_decode_jpeg(const void *buf, size_t len, const char *name);
/* WebP with libwebp: lossy or lossless, RGBA when the file has alpha, else
 * RGB. The size comes from the header (WebPGetFeatures) and is checked
 * against max_pixels before anything is decoded. Animated WebP is refused
 * ("animated WebP is not supported"); "truncated WebP", "corrupt WebP: ...". */
struct image *image_decode_webp(const void *buf, size_t len, const char *name);
/* BMP (core/bmp.c): BITMAPCOREHEADER (OS/2 1.x), BITMAPINFOHEADER, V2-V5 and
 * the 64-byte OS/2 2.x header with its Windows compressions; 1/4/8-bit
 * palette (gray when the palette is Pillow's gray ramp), RLE4/RLE8 (with
 * delta, end-of-line and end-of-bitmap; pixels never written are palette
 * entry 0, where Pillow 9.4 refuses an early end of bitmap and misreads
 * deltas and odd RLE4 literal runs), 16/24/32-bit with BI_RGB, BI_BITFIELDS or BI_ALPHABITFIELDS
 * masks (a component of n bits becomes floor(v * 255 / (2^n - 1)) / 255, as
 * Pillow unpacks 5-5-5 and 5-6-5); bottom-up or top-down. RGBA only for
 * 32 bits with a non-zero alpha mask, as Pillow decides; BI_RGB 32-bit is RGB.
 * Errors name the field: "corrupt BMP: ...", "truncated BMP: ...",
 * "unsupported BMP ...", a pixel's palette index past the palette. */
struct image *image_decode_bmp(const void *buf, size_t len, const char *name);
/* GIF (core/gif.c): the first frame only, composited onto the logical
 * screen as Pillow does for frame 0: the screen (grown to hold the frame if
 * it sticks out) is filled with the transparent index when the frame has one,
 * else index 0, then the frame is drawn. Pillow opens that frame in mode "P"
 * (or "L" when there is no palette or it is the gray ramp) with the
 * transparent index in info; interp gives what convert("RGB") / ("RGBA") (or
 * "L" / "LA") makes of it: RGBA (gray+alpha) when the graphic control
 * extension before the frame names a transparent index, alpha 0 exactly
 * where a pixel has that index, else RGB (gray). Local or global palette,
 * interlaced rows. LZW checked code by code; frame data ending before all
 * its pixels (Pillow: "image file is truncated"), an index past the palette,
 * or a file that ends before the frame's data does are errors. What follows
 * frame 0 is never read. */
struct image *image_decode_gif(const void *buf, size_t len, const char *name);
/* The image transposed for an EXIF orientation (1-8), as Pillow's
 * ImageOps.exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose,
 * 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise; 5-8
 * swap height and width. A new image (caller frees), or NULL with
 * image_new's errors; ERR_INPUT for an orientation outside 1-8. */
struct image *image_orient(const struct image *im, int orientation);
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
/* The same, compressed for speed (zlib level 1, the Up filter on every
 * row): about 5x less CPU than png_write8's default level and adaptive
 * filters, for files a third larger; the same pixels. For the heatmaps and
 * overlays written for every image. */
int png_write8_fast(const char *path, const uint8_t *pix, int w, int h, int channels);
/* Writes a 16-bit gray PNG (host-order values). Atomic. */
int png_write16_gray(const char *path, const uint16_t *pix, int w, int h);
/* Writes a float CHW image in [0,1] (clamped) as an 8-bit PNG. Atomic. */
int image_write_png(const char *path, const struct image *im);

#endif
