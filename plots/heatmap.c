/* heatmap.c - colour heatmaps, overlays on the original image, image
 * montages and the bitmap text they are labelled with, written directly as
 * 8-bit RGB PNGs (atomic; heatmaps and overlays, written per image, with
 * png_write8_fast). No gnuplot involved. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/util.h"
#include "colormap.h"
#include "tables.h"

#define WHITE 255

/* ---- text --------------------------------------------------------------- */

void text_draw(uint8_t *rgb, int w, int h, int x, int y, const char *s, const uint8_t color[3],
               int scale)
{
    if (!rgb || !s || w <= 0 || h <= 0) return;
    if (scale < 1) scale = 1;
    int x0 = x;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if (c == '\n') {
            x = x0;
            y += FONT_H * scale;
            continue;
        }
        if (c >= 0x80 && c < 0xC0) continue; /* UTF-8 continuation: one '?' per code point */
        if (c < 32 || c > 126) c = '?';
        const uint8_t *g = font8x13[c - 32];
        for (int r = 0; r < FONT_H * scale; r++) {
            int py = y + r;
            if (py < 0 || py >= h) continue;
            uint8_t bits = g[r / scale];
            if (!bits) continue;
            for (int col = 0; col < FONT_W * scale; col++) {
                int px = x + col;
                if (px < 0 || px >= w || !(bits & (0x80 >> (col / scale)))) continue;
                uint8_t *d = rgb + ((size_t)py * w + px) * 3;
                d[0] = color[0];
                d[1] = color[1];
                d[2] = color[2];
            }
        }
        x += FONT_W * scale;
    }
}

/* Width in pixels of s drawn at `scale` (one glyph per code point). */
static int text_width(const char *s, int scale)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!(*p >= 0x80 && *p < 0xC0)) n++;
    return n * FONT_W * scale;
}

/* ---- shared helpers ------------------------------------------------------ */

/* Value -> [0,1] for the colour map. A degenerate range (vmin == vmax) maps
 * everything to the bottom of the map (the middle for a diverging one). */
static double scale_value(double v, double vmin, double vmax, int diverging)
{
    if (!(vmax > vmin)) return diverging ? 0.5 : 0.0;
    return (v - vmin) / (vmax - vmin);
}

static int check_range(const char *path, double vmin, double vmax)
{
    if (!isfinite(vmin) || !isfinite(vmax) || vmin > vmax)
        return error_set(ERR_INPUT, path,
                         "colour range [%g, %g] is not a finite, ordered range", vmin, vmax);
    return 0;
}

/* An h x w RGB canvas filled with white, or NULL with the error recorded. */
static uint8_t *canvas_new(const char *path, int w, int h)
{
    size_t n;
    if (w <= 0 || h <= 0 || !mul3_ok((size_t)w, (size_t)h, 3, &n)) {
        error_set(ERR_INPUT, path, "image size %d x %d is not valid", w, h);
        return NULL;
    }
    if ((uint64_t)w * (uint64_t)h > limits_get()->max_pixels) {
        error_set(ERR_INPUT, path, "image of %d x %d pixels is over the limit of %llu pixels",
                  w, h, (unsigned long long)limits_get()->max_pixels);
        return NULL;
    }
    uint8_t *c = big_alloc(n, path, "output image");
    if (c) memset(c, WHITE, n);
    return c;
}

static void fill_rect(uint8_t *rgb, int w, int h, int x, int y, int rw, int rh,
                      const uint8_t col[3])
{
    for (int r = y; r < y + rh; r++) {
        if (r < 0 || r >= h) continue;
        for (int c = x; c < x + rw; c++) {
            if (c < 0 || c >= w) continue;
            memcpy(rgb + ((size_t)r * w + c) * 3, col, 3);
        }
    }
}

/* Colour bar geometry: to the right of a map area of height mh (at x = mx),
 * a bar of width bw with a 1-pixel black frame, labels to its right. */
struct colorbar {
    int scale; /* text scale */
    int x, bw; /* bar left edge (frame included) and width */
    int width; /* everything the bar adds to the canvas width */
    char top[32], mid[32], bot[32];
};

static void colorbar_layout(struct colorbar *b, int map_w, int map_h, const struct colormap *cm,
                            double vmin, double vmax)
{
    b->scale = map_h >= 512 ? map_h / 256 : 1;
    int s = b->scale;
    snprintf(b->top, sizeof b->top, "%.3g", vmax);
    snprintf(b->bot, sizeof b->bot, "%.3g", vmin);
    b->mid[0] = 0;
    /* a middle label (the centre of a diverging map) when there is room */
    if (map_h >= 5 * FONT_H * s) snprintf(b->mid, sizeof b->mid, "%.3g", 0.5 * (vmin + vmax));
    (void)cm;
    int tw = text_width(b->top, s);
    if (text_width(b->bot, s) > tw) tw = text_width(b->bot, s);
    if (text_width(b->mid, s) > tw) tw = text_width(b->mid, s);
    b->x = map_w + 6 * s;
    b->bw = 14 * s;
    b->width = 6 * s + b->bw + 4 * s + tw + 4 * s;
}

static int colorbar_height(const struct colorbar *b, int map_h)
{
    int need = 2 * FONT_H * b->scale + 8;
    return map_h > need ? map_h : need;
}

static void colorbar_draw(const struct colorbar *b, uint8_t *rgb, int w, int h,
                          const struct colormap *cm)
{
    static const uint8_t black[3] = {0, 0, 0};
    int s = b->scale, bh = h;
    fill_rect(rgb, w, h, b->x, 0, b->bw, bh, black);
    for (int r = 1; r < bh - 1; r++) {
        /* top row = vmax; the centre of each row samples the map */
        double t = 1.0 - (r - 1 + 0.5) / (double)(bh - 2);
        uint8_t col[3];
        colormap_rgb(cm, t, col);
        fill_rect(rgb, w, h, b->x + 1, r, b->bw - 2, 1, col);
    }
    int tx = b->x + b->bw + 4 * s;
    text_draw(rgb, w, h, tx, 0, b->top, black, s);
    text_draw(rgb, w, h, tx, h - FONT_H * s, b->bot, black, s);
    if (b->mid[0]) text_draw(rgb, w, h, tx, (h - FONT_H * s) / 2, b->mid, black, s);
}

/* ---- heatmap -------------------------------------------------------------- */

int heatmap_write_png(const char *path, const float *map, int h, int w,
                      const struct colormap *cm, double vmin, double vmax, int with_bar)
{
    if (!map || !cm || h <= 0 || w <= 0)
        return error_set(ERR_INPUT, path,
                         "heatmap needs a map of positive size and a colour map");
    if (check_range(path, vmin, vmax) < 0) return ERR_INPUT;
    struct colorbar bar;
    int cw = w, ch = h;
    if (with_bar) {
        colorbar_layout(&bar, w, h, cm, vmin, vmax);
        cw = w + bar.width;
        ch = colorbar_height(&bar, h);
    }
    uint8_t *rgb = canvas_new(path, cw, ch);
    if (!rgb) return error_code();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            colormap_rgb(cm, scale_value(map[(size_t)y * w + x], vmin, vmax, cm->diverging),
                         rgb + ((size_t)y * cw + x) * 3);
    if (with_bar) colorbar_draw(&bar, rgb, cw, ch, cm);
    int rc = png_write8_fast(path, rgb, cw, ch, 3);
    free(rgb);
    return rc;
}

/* ---- overlay -------------------------------------------------------------- */

int overlay_write_png(const char *path, const struct image *im, const float *map, int mh,
                      int mw, const struct colormap *cm, double vmin, double vmax, double alpha)
{
    if (!im || !map || !cm || mh <= 0 || mw <= 0)
        return error_set(ERR_INPUT, path, "overlay needs an image, a map and a colour map");
    if (im->c < 1 || im->c > 4 || im->h <= 0 || im->w <= 0)
        return error_set(ERR_INPUT, path, "overlay image has %d channels of %d x %d", im->c,
                         im->h, im->w);
    if (!(alpha >= 0 && alpha <= 1))
        return error_set(ERR_INPUT, path, "overlay alpha %g is not in [0,1]", alpha);
    if (check_range(path, vmin, vmax) < 0) return ERR_INPUT;

    int w = im->w, h = im->h, rc = ERR_FAIL;
    size_t npix = (size_t)w * (size_t)h; /* image_new checked w*h*c */
    float *up = NULL;
    uint8_t *rgb = NULL;
    struct colorbar bar;
    colorbar_layout(&bar, w, h, cm, vmin, vmax);
    int cw = w + bar.width, ch = colorbar_height(&bar, h);

    up = big_alloc(npix * sizeof *up, path, "upsampled map");
    rgb = up ? canvas_new(path, cw, ch) : NULL;
    if (!rgb) {
        rc = error_code();
        goto out;
    }
    /* half-pixel-centre bilinear, as DESIGN.md fixes for Grad-CAM maps */
    plane_resize_bilinear(map, mh, mw, up, h, w);

    /* gray (and gray+alpha) images show through as gray; alpha is dropped */
    const float *R = im->data, *G = im->c >= 3 ? R + npix : R,
                *B = im->c >= 3 ? R + 2 * npix : R;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            uint8_t col[3];
            colormap_rgb(cm, scale_value(up[i], vmin, vmax, cm->diverging), col);
            const float src[3] = {R[i], G[i], B[i]};
            uint8_t *d = rgb + ((size_t)y * cw + x) * 3;
            for (int k = 0; k < 3; k++) {
                double v = src[k];
                v = v < 0 ? 0 : v > 1 ? 1 : v; /* NaN stays out of lrint below */
                if (!(v == v)) v = 0;
                double o = (1.0 - alpha) * v * 255.0 + alpha * col[k];
                d[k] = (uint8_t)lrint(o < 0 ? 0 : o > 255 ? 255 : o);
            }
        }
    }
    colorbar_draw(&bar, rgb, cw, ch, cm);
    rc = png_write8_fast(path, rgb, cw, ch, 3);
out:
    free(up);
    free(rgb);
    return rc;
}

/* ---- montage -------------------------------------------------------------- */

#define MONTAGE_PAD       4
#define MONTAGE_LABEL_MAX 40 /* characters; longer labels end in ".." */

/* Averages k x k blocks (the last ones partial) of a CHW image: used before
 * the bilinear resize when shrinking a lot, since bilinear without
 * antialiasing would alias (it samples 4 source pixels per output pixel). */
static struct image *box_shrink(const struct image *im, int k)
{
    int oh = (im->h + k - 1) / k, ow = (im->w + k - 1) / k;
    struct image *o = image_new(im->c, oh, ow);
    if (!o) return NULL;
    for (int c = 0; c < im->c; c++) {
        const float *src = im->data + (size_t)c * im->h * im->w;
        float *dst = o->data + (size_t)c * oh * ow;
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                double sum = 0;
                int n = 0;
                for (int yy = y * k; yy < y * k + k && yy < im->h; yy++)
                    for (int xx = x * k; xx < x * k + k && xx < im->w; xx++) {
                        sum += src[(size_t)yy * im->w + xx];
                        n++;
                    }
                dst[(size_t)y * ow + x] = (float)(sum / n);
            }
    }
    return o;
}

/* The image as RGB fitted into a cell x cell square, aspect ratio kept. */
static struct image *cell_fit(const struct image *im, int cell)
{
    struct image *rgb = NULL, *small = NULL, *out = NULL;
    rgb = image_to_channels(im, 3);
    if (!rgb) return NULL;
    int big = rgb->h > rgb->w ? rgb->h : rgb->w;
    int k = big / (2 * cell);
    if (k >= 2) {
        small = box_shrink(rgb, k);
        if (!small) goto out;
    }
    const struct image *src = small ? small : rgb;
    double s = (double)cell / (src->h > src->w ? src->h : src->w);
    int nh = (int)lrint(src->h * s), nw = (int)lrint(src->w * s);
    if (nh < 1) nh = 1;
    if (nw < 1) nw = 1;
    if (nh > cell) nh = cell;
    if (nw > cell) nw = cell;
    out = image_resize(src, nh, nw);
out:
    image_free(rgb);
    image_free(small);
    return out;
}

int montage_write_png(const char *path, const struct image *const *cells, int rows, int cols,
                      int cell, char *const *row_labels)
{
    return montage_write_png_labeled(path, cells, rows, cols, cell, row_labels, NULL);
}

struct image *heatmap_image(const float *map, int h, int w, const struct colormap *cm,
                            double vmin, double vmax)
{
    struct image *im = image_new(3, h, w);
    if (!im) return NULL;
    size_t n = (size_t)h * w;
    for (size_t p = 0; p < n; p++) {
        uint8_t rgb[3];
        double t = vmax > vmin ? (map[p] - vmin) / (vmax - vmin) : cm->diverging ? 0.5 : 0.0;
        colormap_rgb(cm, t, rgb);
        for (int k = 0; k < 3; k++)
            im->data[k * n + p] = rgb[k] / 255.0f;
    }
    return im;
}

int montage_write_png_labeled(const char *path, const struct image *const *cells, int rows,
                              int cols, int cell, char *const *row_labels,
                              char *const *col_labels)
{
    static const uint8_t black[3] = {0, 0, 0};
    if (!cells || rows <= 0 || cols <= 0 || cell <= 0 || cell > 4096 || rows > 100000 ||
        cols > 100000)
        return error_set(ERR_INPUT, path, "montage of %d x %d cells of %d pixels is not valid",
                         rows, cols, cell);
    int ts = cell >= 192 ? 2 : 1; /* label text scale */
    int label_w = 0;
    char **labels = NULL;
    if (row_labels) {
        labels = xcalloc((size_t)rows, sizeof *labels);
        for (int r = 0; r < rows; r++) {
            const char *l = row_labels[r] ? row_labels[r] : "";
            labels[r] = xstrdup(l);
            if (strlen(labels[r]) > MONTAGE_LABEL_MAX)
                strcpy(labels[r] + MONTAGE_LABEL_MAX - 2, "..");
            int tw = text_width(labels[r], ts);
            if (tw > label_w) label_w = tw;
        }
        if (label_w) label_w += 2 * MONTAGE_PAD;
    }
    int rc = ERR_FAIL;
    uint8_t *rgb = NULL;
    /* column labels: a header line, cut to the cell's width */
    int head = col_labels ? FONT_H * ts + MONTAGE_PAD : 0;
    int64_t W = label_w + (int64_t)cols * (cell + MONTAGE_PAD) + MONTAGE_PAD;
    int64_t H = (int64_t)rows * (cell + MONTAGE_PAD) + MONTAGE_PAD + head;
    if (W > 1 << 20 || H > 1 << 20) {
        rc = error_set(ERR_INPUT, path, "montage of %lld x %lld pixels is too large",
                       (long long)W, (long long)H);
        goto out;
    }
    rgb = canvas_new(path, (int)W, (int)H);
    if (!rgb) {
        rc = error_code();
        goto out;
    }
    for (int c = 0; col_labels && c < cols; c++) {
        char buf[MONTAGE_LABEL_MAX + 1];
        int fit = cell / (FONT_W * ts);
        snprintf(buf, sizeof buf, "%s", col_labels[c] ? col_labels[c] : "");
        if (fit < MONTAGE_LABEL_MAX && (int)strlen(buf) > fit && fit >= 2)
            strcpy(buf + fit - 2, "..");
        int x0 = label_w + MONTAGE_PAD + c * (cell + MONTAGE_PAD) +
                 (cell - text_width(buf, ts)) / 2;
        text_draw(rgb, (int)W, (int)H, x0 > 0 ? x0 : 0, MONTAGE_PAD, buf, black, ts);
    }
    for (int r = 0; r < rows; r++) {
        int y0 = head + MONTAGE_PAD + r * (cell + MONTAGE_PAD);
        if (labels)
            text_draw(rgb, (int)W, (int)H, MONTAGE_PAD, y0 + (cell - FONT_H * ts) / 2,
                      labels[r], black, ts);
        for (int c = 0; c < cols; c++) {
            const struct image *im = cells[(size_t)r * cols + c];
            if (!im) continue;
            if (im->c < 1 || im->c > 4 || im->h <= 0 || im->w <= 0) {
                rc = error_set(ERR_INPUT, path, "montage cell %d,%d has %d channels", r, c,
                               im->c);
                goto out;
            }
            struct image *fit = cell_fit(im, cell);
            if (!fit) {
                rc = error_code() ? error_code() : ERR_FAIL;
                goto out;
            }
            int x0 = label_w + MONTAGE_PAD + c * (cell + MONTAGE_PAD) + (cell - fit->w) / 2;
            int yy0 = y0 + (cell - fit->h) / 2;
            size_t np = (size_t)fit->h * fit->w;
            for (int y = 0; y < fit->h; y++)
                for (int x = 0; x < fit->w; x++)
                    for (int k = 0; k < 3; k++) {
                        float v = fit->data[k * np + (size_t)y * fit->w + x];
                        v = v < 0 ? 0 : v > 1 ? 1 : v;
                        if (!(v == v)) v = 0;
                        rgb[((size_t)(yy0 + y) * W + x0 + x) * 3 + k] =
                            (uint8_t)lrintf(v * 255.0f);
                    }
            image_free(fit);
        }
    }
    rc = png_write8(path, rgb, (int)W, (int)H, 3);
out:
    if (labels)
        for (int r = 0; r < rows; r++)
            free(labels[r]);
    free(labels);
    free(rgb);
    return rc;
}
