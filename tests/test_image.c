/* test_image.c - image decoding, resizing, channel conversion and PNG writing
 * against references from Pillow and PyTorch (fixtures/make_images.py).
 *
 * The .npy references are read by a small reader here, independent of
 * core/npy.c, so these tests depend on nothing but the image code.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/image.h"
#include "../core/rng.h"
#include "../core/util.h"

#define DIR "fixtures/images/"

/* ---- a minimal .npy reader (v1/v2, little-endian u1/u2/f4, C order) ---- */

struct ref {
    int ndim;
    size_t shape[4];
    size_t n;
    int kind;  /* 1 = u8, 2 = u16, 4 = f32 */
    double *v; /* values as doubles */
};

static struct ref ref_load(const char *name)
{
    struct ref r = {0};
    char path[256];
    snprintf(path, sizeof path, DIR "%s", name);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    unsigned char pre[12];
    cr_assert(fread(pre, 1, 10, f) == 10 && !memcmp(pre, "\x93NUMPY", 6), "%s: not npy", path);
    size_t hlen = pre[8] | pre[9] << 8;
    if (pre[6] >= 2) {
        cr_assert(fread(pre + 10, 1, 2, f) == 2);
        hlen = hlen | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    char *hdr = calloc(1, hlen + 1);
    cr_assert(fread(hdr, 1, hlen, f) == hlen);
    cr_assert(strstr(hdr, "'fortran_order': False"), "%s: Fortran order", path);
    if (strstr(hdr, "'|u1'"))
        r.kind = 1;
    else if (strstr(hdr, "'<u2'"))
        r.kind = 2;
    else if (strstr(hdr, "'<f4'"))
        r.kind = 4;
    else
        cr_assert_fail("%s: dtype in %s", path, hdr);
    char *p = strstr(hdr, "'shape': (");
    cr_assert(p);
    p += 10;
    r.n = 1;
    while (*p != ')') {
        char *end;
        size_t d = strtoul(p, &end, 10);
        if (end == p) break;
        r.shape[r.ndim++] = d;
        r.n *= d;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    free(hdr);
    unsigned char *raw = malloc(r.n * r.kind);
    cr_assert(fread(raw, r.kind, r.n, f) == r.n, "%s: short data", path);
    fclose(f);
    r.v = malloc(r.n * sizeof(double));
    for (size_t i = 0; i < r.n; i++) {
        if (r.kind == 1)
            r.v[i] = raw[i];
        else if (r.kind == 2)
            r.v[i] = raw[2 * i] | raw[2 * i + 1] << 8;
        else {
            float x;
            memcpy(&x, raw + 4 * i, 4);
            r.v[i] = x;
        }
    }
    free(raw);
    return r;
}

/* Worst |im - ref / scale| over an image vs an H x W x C reference; sets the
 * place (channel, row, column) of the worst. */
static double worst_hwc(const struct image *im, const struct ref *r, double scale, int *wc,
                        int *wy, int *wx)
{
    double worst = -1;
    size_t plane = (size_t)im->h * im->w;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            for (int c = 0; c < im->c; c++) {
                /* the decoder's own arithmetic: exact when it matches */
                float want = (float)r->v[((size_t)y * im->w + x) * im->c + c] / (float)scale;
                double d = fabs(im->data[c * plane + (size_t)y * im->w + x] - want);
                if (d > worst) worst = d, *wc = c, *wy = y, *wx = x;
            }
    return worst;
}

/* ---- valid files decode to Pillow's pixels -------------------------------- */

struct valid_case {
    const char *file, *ref;
    int channels;
    double tol; /* in units of 1/255 (or 1/65535 for 16-bit) */
};

static const struct valid_case valid[] = {
    {"gray8.png", "gray8.npy", 1, 0},
    {"gray16.png", "gray16.npy", 1, 0},
    {"gray_alpha.png", "gray_alpha.npy", 2, 0},
    {"rgb.png", "rgb.npy", 3, 0},
    {"rgba.png", "rgba.npy", 4, 0},
    {"rgb16.png", "rgb16.npy", 3, 0},
    {"palette.png", "palette.npy", 3, 0},
    {"palette_trns.png", "palette_trns.npy", 4, 0},
    {"gray1.png", "gray1.npy", 1, 0},
    {"gray2.png", "gray2.npy", 1, 0},
    {"interlaced.png", "interlaced.npy", 3, 0},
    /* Pillow links the same libjpeg-turbo: identical IDCT and upsampling */
    {"gray.jpg", "gray_jpg.npy", 1, 0},
    {"rgb.jpg", "rgb_jpg.npy", 3, 0},
    {"progressive.jpg", "progressive_jpg.npy", 3, 0},
    /* Pillow rounds its CMYK -> RGB to 8 bits; we keep (1-C)(1-K) in float */
    {"cmyk.jpg", "cmyk_jpg.npy", 3, 0.5 + 1e-3},
};

Test(image, decodes_like_pillow)
{
    for (size_t k = 0; k < sizeof valid / sizeof *valid; k++) {
        const struct valid_case *t = &valid[k];
        char path[256];
        snprintf(path, sizeof path, DIR "%s", t->file);
        struct image *im = image_load(path);
        cr_assert(im, "%s: %s", path, error_message());
        struct ref r = ref_load(t->ref);
        cr_assert_eq(r.ndim, 3);
        cr_expect_eq(im->c, t->channels, "%s: %d channels, want %d", t->file, im->c,
                     t->channels);
        cr_assert(im->h == (int)r.shape[0] && im->w == (int)r.shape[1] &&
                      im->c == (int)r.shape[2],
                  "%s: %dx%dx%d vs reference %zux%zux%zu", t->file, im->c, im->h, im->w,
                  r.shape[2], r.shape[0], r.shape[1]);
        double scale = r.kind == 2 ? 65535.0 : 255.0;
        int wc = 0, wy = 0, wx = 0;
        double worst = worst_hwc(im, &r, scale, &wc, &wy, &wx);
        printf("image: %-17s c=%d worst |diff| = %.3g/%g at (c=%d, y=%d, x=%d)\n", t->file,
               im->c, worst * scale, scale, wc, wy, wx);
        cr_expect(worst * scale <= t->tol + 1e-6,
                  "%s: worst difference %.4g/%g at (c=%d, y=%d, x=%d), allowed %g", t->file,
                  worst * scale, scale, wc, wy, wx, t->tol);
        free(r.v);
        image_free(im);
    }
}

/* ---- malformed input: NULL, ERR_INPUT, a specific phrase, the path ------- */

struct bad_case {
    const char *path, *phrase;
};

static const struct bad_case bad[] = {
    {DIR "bad_crc.png", "IDAT: CRC error"},
    {DIR "corrupt_idat.png", "corrupt PNG"},
    {DIR "truncated.png", "truncated PNG"},
    {DIR "truncated.jpg", "truncated JPEG"},
    {DIR "huge_header.png", "100000x100000 image is more than the limit of 100000000 pixels"},
    {DIR "huge_header.jpg", "30000x30000 image is more than the limit of 100000000 pixels"},
    {DIR "not_image.png", "not a PNG, JPEG, WebP, BMP or GIF image"},
    {DIR "empty.png", "empty file"},
    {"fixtures/images", "is a directory"},
    {DIR "no_such_file.png", "cannot open"},
};

Test(image, malformed_inputs_are_refused)
{
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        error_clear();
        struct image *im = image_load(bad[k].path);
        cr_expect_null(im, "%s decoded", bad[k].path);
        image_free(im);
        cr_expect_eq(error_code(), ERR_INPUT, "%s: code %d (%s)", bad[k].path, error_code(),
                     error_message());
        cr_expect(strstr(error_message(), bad[k].phrase), "%s: message '%s' lacks '%s'",
                  bad[k].path, error_message(), bad[k].phrase);
        cr_expect(error_path() && !strcmp(error_path(), bad[k].path), "%s: path '%s'",
                  bad[k].path, error_path() ? error_path() : "(null)");
        cr_expect(!strchr(error_message(), '\n'), "%s: message is not one line", bad[k].path);
    }
    /* the size refusal names the flag that raises the limit */
    cr_expect_null(image_load(DIR "huge_header.png"));
    cr_expect(strstr(error_message(), "--max-pixels"), "%s", error_message());
}

/* With the pixel limit raised, the huge headers fail on their missing data,
 * and before any image-sized allocation: max_bytes is cut to 64 MiB, so an
 * attempt to allocate the 40 GB image would fail with another message. */
Test(image, raised_limit_fails_on_truncated_data_without_allocating)
{
    limits_get()->max_pixels = 20000000000ULL;
    limits_get()->max_bytes = 64ULL << 20;
    struct image *im = image_load(DIR "huge_header.png");
    cr_expect_null(im);
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "truncated PNG"), "%s", error_message());
    im = image_load(DIR "huge_header.jpg");
    cr_expect_null(im);
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "truncated JPEG"), "%s", error_message());
}

/* A large, valid PNG cut short: its header passes every check, so decoding
 * allocates and then must still fail on the missing rows, not fill them. */
Test(image, large_png_cut_short_is_an_error)
{
    char dir[] = "/tmp/test_image_XXXXXX", path[64];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/big.png", dir);
    int w = 1500, h = 1200;
    uint8_t *pix = calloc((size_t)w * h, 1);
    for (size_t i = 0; i < (size_t)w * h; i++)
        pix[i] = (uint8_t)(i * 7 % 251);
    cr_assert_eq(png_write8(path, pix, w, h, 1), 0, "%s", error_message());
    FILE *f = fopen(path, "rb");
    static uint8_t buf[4 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unlink(path);
    rmdir(dir);
    struct image *im = image_decode(buf, len, "big.png");
    cr_assert(im, "%s", error_message());
    cr_expect_eq(im->data[(size_t)h * w - 1], pix[(size_t)h * w - 1] / 255.0f);
    image_free(im);
    size_t cuts[] = {len - 1, len - 12, len * 9 / 10, len / 2, 100};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        im = image_decode(buf, cuts[k], "big.png");
        cr_expect_null(im, "cut at %zu of %zu decoded", cuts[k], len);
        image_free(im);
        cr_expect(strstr(error_message(), "truncated PNG"), "cut %zu: %s", cuts[k],
                  error_message());
    }
    free(pix);
}

/* Every proper prefix of every valid file is an error (never a partly filled
 * image), and decoding never crashes on one. */
Test(image, every_prefix_is_an_error)
{
    const char *files[] = {"rgb.png", "interlaced.png", "gray16.png",      "palette_trns.png",
                           "rgb.jpg", "gray.jpg",       "progressive.jpg", "cmyk.jpg"};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", files[k]);
        FILE *f = fopen(path, "rb");
        cr_assert(f);
        static uint8_t buf[1 << 16];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        size_t decoded = 0;
        for (size_t n = 0; n < len; n++) {
            struct image *im = image_decode(buf, n, files[k]);
            if (im)
                decoded++;
            else if (error_code() != ERR_INPUT)
                decoded += 1000;
            image_free(im);
        }
        cr_expect_eq(decoded, 0, "%s: %zu of %zu prefixes decoded or failed oddly", files[k],
                     decoded, len);
        struct image *im = image_decode(buf, len, files[k]);
        cr_expect(im, "%s: whole file: %s", files[k], error_message());
        image_free(im);
    }
}

Test(image, pixel_limit_boundary)
{
    /* rgb.png is 37 x 23 = 851 pixels */
    limits_get()->max_pixels = 851;
    struct image *im = image_load(DIR "rgb.png");
    cr_expect(im, "%s", error_message());
    image_free(im);
    limits_get()->max_pixels = 850;
    cr_expect_null(image_load(DIR "rgb.png"));
    cr_expect(strstr(error_message(), "37x23 image is more than the limit of 850 pixels"), "%s",
              error_message());
    cr_expect_null(image_load(DIR "rgb.jpg"));
    cr_expect(strstr(error_message(), "37x23 image is more than the limit of 850 pixels"), "%s",
              error_message());
    /* below the width itself, libpng's own user limit refuses first */
    limits_get()->max_pixels = 30;
    cr_expect_null(image_load(DIR "rgb.png"));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "--max-pixels"), "%s", error_message());
}

/* ---- resize = torch.nn.functional.interpolate(bilinear, align_corners=False) */

Test(image, resize_matches_torch)
{
    struct ref in = ref_load("resize_in.npy");
    cr_assert_eq(in.ndim, 3);
    struct image *src = image_new((int)in.shape[0], (int)in.shape[1], (int)in.shape[2]);
    cr_assert(src);
    for (size_t i = 0; i < in.n; i++)
        src->data[i] = (float)in.v[i];
    const char *refs[] = {"resize_up.npy", "resize_down.npy", "resize_mixed.npy",
                          "resize_line.npy"};
    for (size_t k = 0; k < sizeof refs / sizeof *refs; k++) {
        struct ref r = ref_load(refs[k]);
        struct image *out = image_resize(src, (int)r.shape[1], (int)r.shape[2]);
        cr_assert(out, "%s", error_message());
        cr_assert_eq(out->c, (int)r.shape[0]);
        double worst = 0;
        size_t at = 0;
        for (size_t i = 0; i < r.n; i++) {
            double d = fabs(out->data[i] - r.v[i]);
            if (d > worst) worst = d, at = i;
        }
        size_t plane = r.shape[1] * r.shape[2];
        printf("image: resize %dx%d -> %zux%zu worst |diff| = %.3g at (c=%zu, y=%zu, x=%zu)\n",
               src->h, src->w, r.shape[1], r.shape[2], worst, at / plane,
               at % plane / r.shape[2], at % r.shape[2]);
        cr_expect(worst <= 1e-5, "%s: worst %.3g at (c=%zu, y=%zu, x=%zu)", refs[k], worst,
                  at / plane, at % plane / r.shape[2], at % r.shape[2]);
        free(r.v);
        image_free(out);
    }
    /* same size: the identity */
    struct image *same = image_resize(src, src->h, src->w);
    cr_assert(same);
    cr_expect(!memcmp(same->data, src->data, in.n * sizeof(float)));
    image_free(same);
    image_free(src);
    free(in.v);
}

/* ---- channels -------------------------------------------------------------- */

Test(image, rgb_to_gray_matches_pillow_convert_L)
{
    struct image *rgb = image_load(DIR "rgb.png");
    cr_assert(rgb, "%s", error_message());
    struct image *g = image_to_channels(rgb, 1);
    cr_assert(g);
    cr_assert_eq(g->c, 1);
    struct ref l = ref_load("rgb_to_l.npy");
    int wc = 0, wy = 0, wx = 0;
    double worst = worst_hwc(g, &l, 255.0, &wc, &wy, &wx);
    printf("image: RGB -> L vs Pillow worst |diff| = %.4f/255 at (y=%d, x=%d)\n", worst * 255,
           wy, wx);
    /* Pillow rounds to 8 bits, we do not: at most half a level apart */
    cr_expect(worst * 255 <= 0.5 + 1e-3, "worst %.4f/255 at (y=%d, x=%d)", worst * 255, wy, wx);
    /* and rounding ours as Pillow does gives Pillow's value exactly */
    size_t n = (size_t)g->h * g->w, off = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)floor(g->data[i] * 255.0 + 0.5) != (int)l.v[i]) off++;
    cr_expect(off <= 2, "%zu of %zu pixels round differently from Pillow", off, n);
    free(l.v);
    image_free(g);

    /* alpha is dropped: RGBA -> RGB keeps the colour planes */
    struct image *rgba = image_load(DIR "rgba.png");
    cr_assert(rgba);
    struct image *c3 = image_to_channels(rgba, 3);
    cr_assert(c3 && c3->c == 3);
    cr_expect(!memcmp(c3->data, rgba->data, 3 * n * sizeof(float)));
    image_free(c3);
    /* gray -> RGB copies the plane three times */
    struct image *gray = image_load(DIR "gray8.png");
    cr_assert(gray);
    struct image *g3 = image_to_channels(gray, 3);
    cr_assert(g3 && g3->c == 3);
    for (int k = 0; k < 3; k++)
        cr_expect(!memcmp(g3->data + k * n, gray->data, n * sizeof(float)));
    cr_expect_null(image_to_channels(gray, 2));
    cr_expect_eq(error_code(), ERR_INPUT);
    image_free(g3);
    image_free(gray);
    image_free(rgba);
    image_free(rgb);
}

/* ---- writing ------------------------------------------------------------- */

Test(image, png_write_round_trips)
{
    /* a new name per write: a file once read is a registered input, which
     * outfile refuses to overwrite */
    char dir[] = "/tmp/test_image_XXXXXX", path[64];
    cr_assert(mkdtemp(dir));
    int w = 19, h = 13;
    uint8_t pix[19 * 13 * 4];
    struct rng g;
    rng_seed(&g, 7);
    for (int ch = 1; ch <= 4; ch++) {
        for (int i = 0; i < w * h * ch; i++)
            pix[i] = (uint8_t)(rng_next(&g) & 0xFF);
        snprintf(path, sizeof path, "%s/out%d.png", dir, ch);
        cr_assert_eq(png_write8(path, pix, w, h, ch), 0, "%s", error_message());
        struct image *im = image_load(path);
        cr_assert(im, "%s", error_message());
        cr_assert(im->c == ch && im->h == h && im->w == w);
        int diff = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < ch; c++)
                    diff += im->data[(c * h + y) * w + x] != pix[(y * w + x) * ch + c] / 255.0f;
        cr_expect_eq(diff, 0, "%d channels: %d samples differ", ch, diff);
        image_free(im);
        unlink(path);
    }
    uint16_t p16[19 * 13];
    for (int i = 0; i < w * h; i++)
        p16[i] = (uint16_t)(rng_next(&g) & 0xFFFF);
    p16[0] = 0, p16[1] = 65535, p16[2] = 256, p16[3] = 1;
    snprintf(path, sizeof path, "%s/out16.png", dir);
    cr_assert_eq(png_write16_gray(path, p16, w, h), 0, "%s", error_message());
    struct image *im = image_load(path);
    cr_assert(im && im->c == 1);
    int diff = 0;
    for (int i = 0; i < w * h; i++)
        diff += im->data[i] != p16[i] / 65535.0f;
    cr_expect_eq(diff, 0, "16-bit: %d samples differ", diff);

    unlink(path);
    /* float -> 8-bit: clamped and rounded to nearest */
    snprintf(path, sizeof path, "%s/outf.png", dir);
    im->data[0] = -0.3f, im->data[1] = 1.7f, im->data[2] = 0.5f, im->data[3] = NAN;
    cr_assert_eq(image_write_png(path, im), 0, "%s", error_message());
    struct image *back = image_load(path);
    cr_assert(back && back->c == 1);
    diff = 0;
    for (int i = 0; i < w * h; i++) {
        float v = i == 3 ? 0 : fminf(fmaxf(im->data[i], 0), 1);
        diff += back->data[i] != floorf(v * 255 + 0.5f) / 255.0f;
    }
    cr_expect_eq(diff, 0, "image_write_png: %d samples differ", diff);
    image_free(back);
    image_free(im);
    unlink(path);
    cr_expect_eq(rmdir(dir), 0, "temporaries left in %s", dir);
}

Test(image, png_write_into_missing_folder_fails)
{
    char dir[] = "/tmp/test_image_XXXXXX", path[96];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/missing/out.png", dir);
    uint8_t pix[12] = {0};
    cr_expect_lt(png_write8(path, pix, 2, 2, 3), 0);
    cr_expect_eq(error_code(), ERR_INPUT, "%s", error_message());
    cr_expect(error_path() && !strcmp(error_path(), path));
    struct stat st;
    cr_expect(stat(path, &st) != 0 && errno == ENOENT, "a file was left at %s", path);
    uint16_t p16[4] = {0};
    cr_expect_lt(png_write16_gray(path, p16, 2, 2), 0);
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect_eq(rmdir(dir), 0, "something was left in %s", dir);
}
