/* image.c - the image object, loading by signature, EXIF-style transposes,
 * bilinear resize, channel conversion and float -> 8-bit PNG output. The
 * codecs live in png.c, jpeg.c, webp.c, bmp.c and gif.c; nothing here knows
 * libpng, libjpeg or libwebp.
 */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "outfile.h"
#include "util.h"

/* ---- the object ---------------------------------------------------------- */

int image_check_pixels(uint64_t w, uint64_t h, const char *name)
{
    uint64_t max = limits_get()->max_pixels;
    if (w == 0 || h == 0)
        return error_set(ERR_INPUT, name, "image has no pixels (%llux%llu)",
                         (unsigned long long)w, (unsigned long long)h);
    /* w, h < 2^32 for every caller, so the product fits in 64 bits. */
    if (w > UINT32_MAX || h > UINT32_MAX || w * h > max)
        return error_set(ERR_INPUT, name,
                         "%llux%llu image is more than the limit of %llu pixels "
                         "(raise it with --max-pixels)",
                         (unsigned long long)w, (unsigned long long)h, (unsigned long long)max);
    return 0;
}

struct image *image_new(int c, int h, int w)
{
    size_t n;
    if (c < 1 || c > 4 || h < 1 || w < 1) {
        error_set(ERR_INPUT, NULL, "invalid image shape %dx%dx%d", c, h, w);
        return NULL;
    }
    if (image_check_pixels((uint64_t)w, (uint64_t)h, NULL) < 0) return NULL;
    if (!mul3_ok((size_t)c, (size_t)h, (size_t)w, &n) || !mul_ok(n, sizeof(float), &n)) {
        error_set(ERR_INPUT, NULL, "image %dx%dx%d is too large", c, h, w);
        return NULL;
    }
    float *data = big_calloc(n, NULL, "decoded image");
    if (!data) return NULL;
    struct image *im = xmalloc(sizeof *im);
    im->c = c;
    im->h = h;
    im->w = w;
    im->data = data;
    return im;
}

void image_free(struct image *im)
{
    if (!im) return;
    free(im->data);
    free(im);
}

/* ---- loading ------------------------------------------------------------- */

struct image_opts *image_opts_get(void)
{
    static struct image_opts opts; /* everything off */
    return &opts;
}

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

struct image *image_decode(const void *buf, size_t len, const char *name)
{
    const uint8_t *p = buf;
    if (len == 0) {
        error_set(ERR_INPUT, name, "empty file, not an image");
        return NULL;
    }
    if (len >= 8 && !memcmp(p, png_sig, 8)) return image_decode_png(buf, len, name);
    /* JPEG: SOI (FF D8) followed by the first marker's FF. */
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return image_decode_jpeg(buf, len, name);
    /* WebP: a RIFF container of form type WEBP */
    if (len >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4))
        return image_decode_webp(buf, len, name);
    if (len >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6)))
        return image_decode_gif(buf, len, name);
    /* BMP's "BM" is only two bytes: the decoder checks the rest of the header
     * and names what is wrong with it. */
    if (len >= 2 && p[0] == 'B' && p[1] == 'M') return image_decode_bmp(buf, len, name);
    error_set(ERR_INPUT, name, "not a PNG, JPEG, WebP, BMP or GIF image (unknown signature)");
    return NULL;
}

/* Reads all of fd: regular files in one allocation of their size, pipes and
 * devices by doubling; both capped by limits_get()->max_bytes. */
static uint8_t *read_all(int fd, const struct stat *st, const char *path, size_t *len)
{
    size_t cap = S_ISREG(st->st_mode) ? (size_t)st->st_size + 1 : 1 << 16, n = 0;
    uint8_t *buf = big_alloc(cap, path, "image file");
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            size_t ncap;
            if (!mul_ok(cap, 2, &ncap)) ncap = SIZE_MAX;
            uint8_t *nb = big_alloc(ncap, path, "image file");
            if (!nb) {
                free(buf);
                return NULL;
            }
            memcpy(nb, buf, n);
            free(buf);
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EINTR) continue;
            error_set_errno(errno == EISDIR ? ERR_INPUT : ERR_FAIL, path, "cannot read");
            free(buf);
            return NULL;
        }
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

struct image *image_load(const char *path)
{
    struct stat st;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_set_errno(errno == ENOMEM ? ERR_FAIL : ERR_INPUT, path, "cannot open");
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        error_set_errno(ERR_FAIL, path, "cannot stat");
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        error_set(ERR_INPUT, path, "is a directory, not an image file");
        close(fd);
        return NULL;
    }
    input_register(path);
    uint8_t *buf = read_all(fd, &st, path, &len);
    close(fd);
    if (!buf) return NULL;
    struct image *im = image_decode(buf, len, path);
    free(buf);
    return im;
}

/* ---- orientation ----------------------------------------------------------- */

struct image *image_orient(const struct image *im, int o)
{
    if (o < 1 || o > 8) {
        error_set(ERR_INPUT, NULL, "EXIF orientation %d is not 1-8", o);
        return NULL;
    }
    int H = im->h, W = im->w, swap = o >= 5;
    struct image *out = image_new(im->c, swap ? W : H, swap ? H : W);
    if (!out) return NULL;
    size_t plane = (size_t)H * W;
    /* For each output pixel (y, x) its source (sy, sx); Pillow's transpose
     * methods, named as in ImageOps.exif_transpose. */
    for (int c = 0; c < im->c; c++) {
        const float *src = im->data + c * plane;
        float *dst = out->data + c * plane;
        for (int y = 0; y < out->h; y++)
            for (int x = 0; x < out->w; x++) {
                int sy, sx;
                switch (o) {
                case 2: sy = y, sx = W - 1 - x; break;         /* FLIP_LEFT_RIGHT */
                case 3: sy = H - 1 - y, sx = W - 1 - x; break; /* ROTATE_180 */
                case 4: sy = H - 1 - y, sx = x; break;         /* FLIP_TOP_BOTTOM */
                case 5: sy = x, sx = y; break;                 /* TRANSPOSE */
                case 6: sy = H - 1 - x, sx = y; break;         /* ROTATE_270 */
                case 7: sy = H - 1 - x, sx = W - 1 - y; break; /* TRANSVERSE */
                case 8: sy = x, sx = W - 1 - y; break;         /* ROTATE_90 */
                default: sy = y, sx = x; break;
                }
                dst[(size_t)y * out->w + x] = src[(size_t)sy * W + sx];
            }
    }
    return out;
}

/* ---- resize -------------------------------------------------------------- */

/* One axis of torch's bilinear (aten/src/ATen/native/UpSample.h,
 * area_pixel_compute_source_index with align_corners=False): the source
 * coordinate of output index d is (d + 0.5) * scale - 0.5 with
 * scale = in / out computed in float, clamped at 0 (not at in - 1: the upper
 * neighbour index is clamped instead). The same for up- and downscaling: no
 * antialiasing. */
static void axis_weights(int d, float scale, int in, int *i0, int *i1, float *l1)
{
    float src = (float)(scale * (d + 0.5) - 0.5);
    if (src < 0) src = 0;
    int i = (int)src;
    if (i > in - 1) i = in - 1;
    float l = src - (float)i;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : i;
    *l1 = l < 0 ? 0 : l > 1 ? 1 : l;
}

void plane_resize_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw)
{
    ASSERT(sh > 0 && sw > 0 && dh > 0 && dw > 0);
    float sy = (float)sh / (float)dh, sx = (float)sw / (float)dw;
    for (int y = 0; y < dh; y++) {
        int y0, y1;
        float ly1;
        axis_weights(y, sy, sh, &y0, &y1, &ly1);
        float ly0 = 1.0f - ly1;
        const float *r0 = src + (size_t)y0 * sw, *r1 = src + (size_t)y1 * sw;
        float *out = dst + (size_t)y * dw;
        for (int x = 0; x < dw; x++) {
            int x0, x1;
            float lx1;
            axis_weights(x, sx, sw, &x0, &x1, &lx1);
            float lx0 = 1.0f - lx1;
            out[x] = ly0 * (lx0 * r0[x0] + lx1 * r0[x1]) + ly1 * (lx0 * r1[x0] + lx1 * r1[x1]);
        }
    }
}

struct image *image_resize(const struct image *im, int h, int w)
{
    struct image *out = image_new(im->c, h, w);
    if (!out) return NULL;
    size_t splane = (size_t)im->h * im->w, dplane = (size_t)h * w;
    for (int c = 0; c < im->c; c++)
        plane_resize_bilinear(im->data + c * splane, im->h, im->w, out->data + c * dplane, h,
                              w);
    return out;
}

/* ---- channels ------------------------------------------------------------ */

struct image *image_to_channels(const struct image *im, int c)
{
    if (c != 1 && c != 3) {
        error_set(ERR_INPUT, NULL,
                  "cannot convert a %d-channel image to %d channels (only 1 or 3)", im->c, c);
        return NULL;
    }
    struct image *out = image_new(c, im->h, im->w);
    if (!out) return NULL;
    size_t n = (size_t)im->h * im->w;
    const float *s = im->data;
    int color = im->c >= 3; /* 1, 2: gray(+alpha); 3, 4: RGB(+alpha) */
    if (c == 1 && color) {
        /* Pillow's rgb2l (libImaging/Convert.c): L = (19595 R + 38470 G +
         * 7471 B + 0x8000) >> 16, i.e. ITU-R 601 weights 0.299/0.587/0.114
         * in 16-bit fixed point. We keep the weights and skip the rounding. */
        const float wr = 19595.0f / 65536, wg = 38470.0f / 65536, wb = 7471.0f / 65536;
        for (size_t i = 0; i < n; i++)
            out->data[i] = wr * s[i] + wg * s[n + i] + wb * s[2 * n + i];
    } else if (c == 1) {
        memcpy(out->data, s, n * sizeof(float));
    } else if (color) {
        memcpy(out->data, s, 3 * n * sizeof(float));
    } else {
        for (int k = 0; k < 3; k++)
            memcpy(out->data + k * n, s, n * sizeof(float));
    }
    return out;
}

/* ---- writing ------------------------------------------------------------- */

int image_write_png(const char *path, const struct image *im)
{
    size_t n, bytes;
    if (im->c < 1 || im->c > 4)
        return error_set(ERR_INPUT, path, "cannot write a %d-channel image as PNG", im->c);
    n = (size_t)im->h * im->w;
    if (!mul_ok(n, (size_t)im->c, &bytes))
        return error_set(ERR_INPUT, path, "image too large to write");
    uint8_t *pix = big_alloc(bytes, path, "PNG pixels");
    if (!pix) return error_code();
    for (int c = 0; c < im->c; c++)
        for (size_t i = 0; i < n; i++) {
            float v = im->data[c * n + i];
            /* clamp to [0,1] (NaN -> 0), round to nearest */
            v = v > 0 ? (v < 1 ? v : 1) : 0;
            pix[i * im->c + c] = (uint8_t)(v * 255.0f + 0.5f);
        }
    int rc = png_write8(path, pix, im->w, im->h, im->c);
    free(pix);
    return rc;
}
