/* test_image_formats.c - WebP, BMP and GIF decoding and the JPEG EXIF
 * orientation against Pillow (fixtures/make_images_more.py writes the files
 * and Pillow's pixels as .npy), and their malformed-input refusals.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/image.h"
#include "../core/util.h"
#include "fixture.h"

#define DIR "fixtures/formats/"

static struct limits saved_limits;
static struct image_opts saved_opts;

static void save_state(void)
{
    saved_limits = *limits_get();
    saved_opts = *image_opts_get();
}

static void restore_state(void)
{
    *limits_get() = saved_limits;
    *image_opts_get() = saved_opts;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    cr_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Worst |image - ref / 255| against an H x W x C uint8 reference, in units of
 * 1/255, with its place; the decoder's arithmetic (v / 255.0f) is exact. */
static double worst_diff(const struct image *im, const struct array *ref, int *wc, int *wy,
                         int *wx)
{
    const float *r = ref->data;
    size_t plane = (size_t)im->h * im->w;
    double worst = 0;
    *wc = *wy = *wx = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            for (int c = 0; c < im->c; c++) {
                float want = r[((size_t)y * im->w + x) * im->c + c] / 255.0f;
                double d = fabs(im->data[c * plane + (size_t)y * im->w + x] - want) * 255.0;
                if (d > worst) worst = d, *wc = c, *wy = y, *wx = x;
            }
    return worst;
}

/* Decodes file, compares it with ref; tol in units of 1/255. */
static void expect_like(const char *file, const char *ref_name, int channels, double tol)
{
    char path[256];
    snprintf(path, sizeof path, DIR "%s", file);
    struct image *im = image_load(path);
    cr_assert(im, "%s: %s", path, error_message());
    struct array *ref = fixture_load(DIR, ref_name, DT_F32, 3);
    cr_expect_eq(im->c, channels, "%s: %d channels, want %d", file, im->c, channels);
    cr_assert(im->h == (int)ref->shape[0] && im->w == (int)ref->shape[1] &&
                  im->c == (int)ref->shape[2],
              "%s: %dx%dx%d vs reference %zux%zux%zu (c x h x w)", file, im->c, im->h, im->w,
              ref->shape[2], ref->shape[0], ref->shape[1]);
    int wc, wy, wx;
    double worst = worst_diff(im, ref, &wc, &wy, &wx);
    printf("formats: %-24s c=%d %dx%d worst |diff| = %.3g/255 at (c=%d, y=%d, x=%d)\n", file,
           im->c, im->w, im->h, worst, wc, wy, wx);
    cr_expect(worst <= tol + 1e-4,
              "%s: worst difference %.4g/255 at (c=%d, y=%d, x=%d), allowed %g", file, worst,
              wc, wy, wx, tol);
    array_free(ref);
    image_free(im);
}

/* ---- valid files decode to Pillow's pixels -------------------------------- */

struct valid_case {
    const char *file;
    int channels;
};

/* All exact: BMP and GIF are lossless and decoded here; Pillow 9.4 decodes
 * WebP with the same libwebp 1.2.4 (through WebPAnimDecoder, which for a
 * still image writes the frame straight into its canvas), so lossy WebP
 * agrees to the bit as well. */
static const struct valid_case valid[] = {
    {"webp_lossy.webp", 3},
    {"webp_lossless.webp", 3},
    {"webp_lossy_alpha.webp", 4},
    {"webp_lossless_alpha.webp", 4},
    {"bmp_1bit.bmp", 3},
    {"bmp_1bit_bw.bmp", 1}, /* Pillow: mode "1" */
    {"bmp_4bit.bmp", 3},
    {"bmp_8bit.bmp", 3},
    {"bmp_gray8.bmp", 1}, /* Pillow: a gray-ramp palette is mode "L" */
    {"bmp_core8.bmp", 3},
    {"bmp_rgb24.bmp", 3},
    {"bmp_rgb24_topdown.bmp", 3},
    {"bmp_rgb32.bmp", 3}, /* BI_RGB: the fourth byte is not alpha */
    {"bmp_rgb555.bmp", 3},
    {"bmp_rgb565.bmp", 3},
    {"bmp_bitfields32.bmp", 3},
    {"bmp_v5_bgra.bmp", 4},
    {"bmp_v4_rgba.bmp", 4},
    {"bmp_os2v2.bmp", 3},
    /* references from numpy: Pillow 9.4 reads neither V3 headers,
     * BI_ALPHABITFIELDS nor 10-bit masks */
    {"bmp_v3_alpha.bmp", 4},
    {"bmp_alphabitfields.bmp", 4},
    {"bmp_masks10.bmp", 4},
    {"bmp_rle8.bmp", 3},
    {"bmp_rle4.bmp", 3},
    /* references from the writer's indices: Pillow 9.4 misreads these */
    {"bmp_rle4_odd.bmp", 3},
    {"bmp_rle8_delta.bmp", 3},
    {"gif_palette.gif", 3},
    {"gif_interlaced.gif", 3},
    {"gif_transparent.gif", 4},
    {"gif_gray.gif", 1},
    {"gif_nopalette.gif", 1},
    {"gif_multiframe.gif", 3},
    {"gif_offset.gif", 3},
    {"gif_offset_trns.gif", 4},
    {"gif_grow.gif", 3},
    {"gif_noise.gif", 3}, /* 120 x 90 noise: full 4096-code tables, clears */
};

Test(formats, decode_like_pillow, .init = save_state, .fini = restore_state)
{
    for (size_t k = 0; k < sizeof valid / sizeof *valid; k++) {
        char ref[128];
        snprintf(ref, sizeof ref, "%.*s.npy",
                 (int)(strrchr(valid[k].file, '.') - valid[k].file), valid[k].file);
        expect_like(valid[k].file, ref, valid[k].channels, 0);
    }
}

/* The decoders are reached by content alone: image_decode of each file's
 * bytes under a name with another extension gives the same pixels. */
Test(formats, recognised_by_content_not_name)
{
    const char *files[] = {"webp_lossy.webp", "bmp_rle8.bmp", "gif_interlaced.gif"};
    for (size_t k = 0; k < 3; k++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", files[k]);
        size_t len;
        uint8_t *b = slurp(path, &len);
        struct image *a = image_decode(b, len, "renamed.png"), *c = image_load(path);
        cr_assert(a && c, "%s: %s", files[k], error_message());
        cr_expect(a->c == c->c && a->h == c->h && a->w == c->w &&
                      !memcmp(a->data, c->data, sizeof(float) * a->c * a->h * a->w),
                  "%s differs", files[k]);
        image_free(a);
        image_free(c);
        free(b);
    }
}

/* ---- LZW by hand ------------------------------------------------------------ */

/* A GIF89a of w x 1 pixels, global palette of 4 entries (index i = (10 i,
 * 20 i, 30 i)), LZW minimum code size 2, whose data are `codes` packed LSB
 * first with the given widths. Returns its length in out. */
static size_t tiny_gif(uint8_t *out, int w, const unsigned *codes, const int *widths, int n)
{
    static const uint8_t head[] = {'G', 'I', 'F', '8', '9', 'a', 0, 0, 1, 0, 0x81, 0, 0};
    size_t k = 0;
    memcpy(out, head, sizeof head);
    out[6] = (uint8_t)w;
    k = sizeof head;
    for (int i = 0; i < 4; i++)
        out[k++] = (uint8_t)(10 * i), out[k++] = (uint8_t)(20 * i),
        out[k++] = (uint8_t)(30 * i);
    const uint8_t desc[] = {0x2C, 0, 0, 0, 0, (uint8_t)w, 0, 1, 0, 0, 2};
    memcpy(out + k, desc, sizeof desc);
    k += sizeof desc;
    uint8_t data[64] = {0};
    size_t bit = 0;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < widths[i]; b++, bit++)
            if (codes[i] >> b & 1) data[bit / 8] |= (uint8_t)(1 << bit % 8);
    size_t nb = (bit + 7) / 8;
    out[k++] = (uint8_t)nb;
    memcpy(out + k, data, nb);
    k += nb;
    out[k++] = 0;
    out[k++] = 0x3B;
    return k;
}

Test(formats, lzw_special_codes)
{
    uint8_t gif[256];
    /* clear, 1, then 6 before it exists (KwKwK: "11"), 7 likewise ("111",
     * after which codes are 4 bits wide), end: 6 pixels for a 5-pixel row,
     * the last one dropped */
    unsigned c1[] = {4, 1, 6, 7, 5};
    int w1[] = {3, 3, 3, 3, 4};
    size_t n = tiny_gif(gif, 5, c1, w1, 5);
    struct image *im = image_decode(gif, n, "kwkwk.gif");
    cr_assert(im, "%s", error_message());
    cr_expect(im->c == 3 && im->w == 5 && im->h == 1);
    for (int x = 0; x < 5; x++)
        cr_expect(im->data[x] == 10 / 255.0f && im->data[10 + x] == 30 / 255.0f, "x = %d", x);
    image_free(im);
    /* a code two past the next free one */
    unsigned c2[] = {4, 1, 7, 5};
    int w2[] = {3, 3, 3, 3};
    n = tiny_gif(gif, 5, c2, w2, 4);
    cr_expect_null(image_decode(gif, n, "undefined.gif"));
    cr_expect(strstr(error_message(), "LZW code 7 at pixel 1 is not defined (the next free "
                                      "code is 6)"),
              "%s", error_message());
    /* a clear, then end-of-information after 2 of 5 pixels */
    unsigned c3[] = {4, 2, 3, 5};
    n = tiny_gif(gif, 5, c3, w2, 4);
    cr_expect_null(image_decode(gif, n, "short.gif"));
    cr_expect(strstr(error_message(), "ends after 2 of its 5x1 = 5 pixels"), "%s",
              error_message());
    /* a clear in the middle resets the table: 7, which would be the next
     * code without it (after 1, 2 defined 6), is undefined after it */
    unsigned c4[] = {4, 1, 2, 4, 3, 7, 5};
    int w4[] = {3, 3, 3, 3, 3, 3, 3};
    n = tiny_gif(gif, 5, c4, w4, 7);
    cr_expect_null(image_decode(gif, n, "reset.gif"));
    cr_expect(strstr(error_message(),
                     "LZW code 7 at pixel 3 is not defined (the next free code is 6)"),
              "%s", error_message());
}

/* ---- EXIF orientation -------------------------------------------------------- */

Test(formats, exif_orientation_matches_exif_transpose, .init = save_state,
     .fini = restore_state)
{
    image_opts_get()->exif_orientation = 1;
    for (int o = 1; o <= 8; o++) {
        char file[32], ref[32];
        snprintf(file, sizeof file, "orient_%d.jpg", o);
        snprintf(ref, sizeof ref, "orient_%d.npy", o);
        /* the same libjpeg-turbo as Pillow: exact */
        expect_like(file, ref, 3, 0);
    }
    /* big-endian TIFF, the tag a LONG after another tag */
    expect_like("orient_8_mm.jpg", "orient_8_mm.npy", 3, 0);
    /* off (the default, as in Keras): the stored pixels, 37 wide */
    image_opts_get()->exif_orientation = 0;
    expect_like("orient_6.jpg", "orient_none.npy", 3, 0);
    struct image *im = image_load(DIR "orient_6.jpg");
    cr_assert(im);
    cr_expect(im->w == 37 && im->h == 23, "%dx%d", im->w, im->h);
    image_free(im);
}

/* A malformed EXIF block is ignored (the image decodes, not turned), never
 * read past: each patch below breaks one offset or count in orient_6.jpg. */
Test(formats, exif_malformed_is_ignored, .init = save_state, .fini = restore_state)
{
    image_opts_get()->exif_orientation = 1;
    size_t len;
    uint8_t *orig = slurp(DIR "orient_6.jpg", &len);
    /* find the APP1 segment and its TIFF header */
    size_t app1 = 2;
    while (app1 + 4 < len && !(orig[app1] == 0xFF && orig[app1 + 1] == 0xE1))
        app1 += 2 + ((size_t)orig[app1 + 2] << 8 | orig[app1 + 3]);
    cr_assert(app1 + 10 < len && !memcmp(orig + app1 + 4, "Exif", 4), "no APP1 Exif");
    size_t tiff = app1 + 10;
    cr_assert(!memcmp(orig + tiff, "II", 2) || !memcmp(orig + tiff, "MM", 2));
    int be = orig[tiff] == 'M';
    struct {
        size_t at;
        uint8_t v[4];
        const char *what;
    } patches[] = {
        {tiff + 4, {0xFF, 0xFF, 0xFF, 0xF0}, "IFD0 offset far past the segment"},
        {tiff + 4, {0x00, 0x00, 0x00, 0x00}, "IFD0 offset 0"},
        {tiff, {'X', 'X', 0, 0}, "no byte order"},
        {tiff + 8, {0xFF, 0xFF, 0, 0}, "65535 entries"},
        {tiff + 10 + 2, {0x00, 0x07, 0, 0}, "the tag's type 7 (UNDEFINED)"},
    };
    for (size_t k = 0; k < sizeof patches / sizeof *patches; k++) {
        uint8_t *b = malloc(len);
        memcpy(b, orig, len);
        size_t n = patches[k].at == tiff + 4 || patches[k].at == tiff ? 4 : 2;
        for (size_t i = 0; i < n; i++)
            b[patches[k].at + i] = patches[k].v[be || patches[k].at == tiff ? i : n - 1 - i];
        struct image *im = image_decode(b, len, "exif.jpg");
        cr_expect(im, "%s: %s", patches[k].what, error_message());
        if (im)
            cr_expect(im->w == 37 && im->h == 23, "%s: turned to %dx%d", patches[k].what, im->w,
                      im->h);
        image_free(im);
        free(b);
    }
    free(orig);
}

Test(formats, image_orient_checks_its_argument)
{
    struct image *im = image_new(2, 3, 5);
    cr_assert(im);
    for (int i = 0; i < 30; i++)
        im->data[i] = (float)i;
    cr_expect_null(image_orient(im, 0));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect_null(image_orient(im, 9));
    struct image *t = image_orient(im, 6); /* clockwise: (y, x) <- (H - 1 - x, y) */
    cr_assert(t && t->c == 2 && t->h == 5 && t->w == 3);
    cr_expect_eq(t->data[0], im->data[2 * 5 + 0]);       /* top left <- bottom left */
    cr_expect_eq(t->data[15 + 2], im->data[15 + 0 + 0]); /* plane 1, top right <- top left */
    struct image *back = image_orient(t, 8);
    cr_assert(back && back->h == 3 && back->w == 5);
    cr_expect(!memcmp(back->data, im->data, 30 * sizeof(float)));
    image_free(back);
    image_free(t);
    image_free(im);
}

/* ---- malformed input: NULL, ERR_INPUT, a specific phrase, the path ------- */

struct bad_case {
    const char *file, *phrase;
};

static const struct bad_case bad[] = {
    {"webp_truncated.webp", "truncated WebP"},
    {"webp_huge.webp", "16384x16384 image is more than the limit of 100000000 pixels"},
    {"webp_corrupt.webp", "corrupt WebP: bitstream error"},
    {"webp_animated.webp", "animated WebP is not supported"},
    {"bmp_truncated.bmp", "truncated BMP: 37x23 at 24 bits needs 2575 bytes of pixels"},
    {"bmp_huge.bmp", "100000x100000 image is more than the limit of 100000000 pixels"},
    {"bmp_bad_index.bmp", "has palette index 6, the palette has 5 colours"},
    {"bmp_bad_rle.bmp", "RLE8 literal run of 60 pixels at x = 0 passes the end of the "
                        "37-pixel row"},
    {"bmp_bad_delta.bmp", "RLE8 delta (3, 200) at (0, row 0) moves past the 37x23 image"},
    {"bmp_rle_truncated.bmp", "truncated BMP"},
    {"bmp_bad_header.bmp", "unsupported BMP header size 20"},
    {"bmp_bad_masks.bmp", "red mask 0xF00F is not contiguous"},
    {"bmp_bad_depth.bmp", "unsupported BMP bit depth 7"},
    {"gif_truncated.gif", "truncated GIF: the file ends in the first image's data"},
    {"gif_huge.gif", "65535x65535 image is more than the limit of 100000000 pixels"},
    {"gif_bad_lzw.gif", "corrupt GIF: LZW code"},
    {"gif_short_data.gif", "the first image's data ends after"},
    {"gif_bad_index.gif", "the palette has 4 colours"},
    {"gif_no_image.gif", "corrupt GIF: it has no image"},
    {"gif_bad_code_size.gif", "LZW minimum code size 12 (must be 1-8)"},
};

Test(formats, malformed_inputs_are_refused)
{
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", bad[k].file);
        error_clear();
        struct image *im = image_load(path);
        cr_expect_null(im, "%s decoded", path);
        image_free(im);
        cr_expect_eq(error_code(), ERR_INPUT, "%s: code %d (%s)", path, error_code(),
                     error_message());
        cr_expect(strstr(error_message(), bad[k].phrase), "%s: message '%s' lacks '%s'", path,
                  error_message(), bad[k].phrase);
        cr_expect(error_path() && !strcmp(error_path(), path), "%s: path '%s'", path,
                  error_path() ? error_path() : "(null)");
        cr_expect(!strchr(error_message(), '\n'), "%s: message is not one line", path);
    }
}

/* With the pixel limit raised the huge headers still fail, and before any
 * image-sized allocation: max_bytes is cut to 64 MiB, so an attempt to
 * allocate the claimed image would fail with a --max-memory message. The
 * BMP and the truncated GIF fail on their missing data; the GIF whose screen
 * is 65535 x 65535 is whole (its one frame is small), so it is its canvas
 * that max_bytes refuses; WebP's 16384^2 likewise. */
Test(formats, raised_limit_fails_before_allocating, .init = save_state, .fini = restore_state)
{
    limits_get()->max_pixels = 20000000000ULL;
    limits_get()->max_bytes = 64ULL << 20;
    struct image *im = image_load(DIR "bmp_huge.bmp");
    cr_expect_null(im);
    cr_expect(strstr(error_message(), "truncated BMP: 100000x100000 at 24 bits needs"), "%s",
              error_message());
    im = image_load(DIR "gif_huge.gif");
    cr_expect_null(im);
    cr_expect(strstr(error_message(), "--max-memory"), "%s", error_message());
    im = image_load(DIR "webp_huge.webp");
    cr_expect_null(im);
    cr_expect(strstr(error_message(), "--max-memory"), "%s", error_message());
}

Test(formats, pixel_limit_boundary, .init = save_state, .fini = restore_state)
{
    const char *files[] = {"webp_lossy.webp", "webp_lossless.webp", "bmp_rgb24.bmp",
                           "bmp_rle8.bmp", "gif_palette.gif"};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", files[k]);
        limits_get()->max_pixels = 851; /* 37 x 23 */
        struct image *im = image_load(path);
        cr_expect(im, "%s: %s", files[k], error_message());
        image_free(im);
        limits_get()->max_pixels = 850;
        cr_expect_null(image_load(path));
        cr_expect(strstr(error_message(), "37x23 image is more than the limit of 850 pixels"),
                  "%s: %s", files[k], error_message());
    }
}

/* Every prefix of a valid file is an error, except those that lose only
 * bytes a decoder never needs: the tail given (a BMP's last-row padding, an
 * RLE stream's end-of-line and end-of-bitmap codes after the last pixel, a
 * GIF's trailer and whatever follows its first frame). */
Test(formats, every_prefix_is_an_error)
{
    struct {
        const char *file;
        size_t tail;
    } files[] = {
        {"webp_lossy.webp", 0},     {"webp_lossless.webp", 0}, {"webp_lossy_alpha.webp", 0},
        {"bmp_rgb24.bmp", 1},       {"bmp_4bit.bmp", 1},       {"bmp_rgb565.bmp", 2},
        {"bmp_rle8.bmp", 4},        {"bmp_rle4.bmp", 4},       {"bmp_v5_bgra.bmp", 0},
        {"gif_palette.gif", 1},     {"gif_interlaced.gif", 1}, {"gif_transparent.gif", 1},
        {"gif_offset_trns.gif", 1},
    };
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", files[k].file);
        size_t len;
        uint8_t *b = slurp(path, &len);
        size_t decoded = 0, odd = 0, first_ok = len;
        for (size_t n = 0; n <= len; n++) {
            error_clear();
            struct image *im = image_decode(b, n, files[k].file);
            if (im && n < first_ok) first_ok = n;
            if (im && n < len - files[k].tail) decoded++;
            if (!im && n >= len - files[k].tail) decoded++;
            if (!im && error_code() != ERR_INPUT) odd++;
            image_free(im);
        }
        cr_expect(decoded == 0 && odd == 0,
                  "%s: %zu prefixes on the wrong side of %zu (the first that decodes is %zu of "
                  "%zu), %zu failed without ERR_INPUT",
                  files[k].file, decoded, len - files[k].tail, first_ok, len, odd);
        free(b);
    }
}
