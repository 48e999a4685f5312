/* colormap.h - colour maps from their published tables, and PNG heatmaps,
 * overlays, colour bars and image montages written directly (no gnuplot).
 *
 *     const struct colormap *cm = colormap_find("viridis");
 *     uint8_t rgb[3]; colormap_rgb(cm, 0.7, rgb);
 *     heatmap_write_png("cam.png", map, h, w, cm, 0, 1);
 */
#ifndef INTERP_COLORMAP_H
#define INTERP_COLORMAP_H

#include <stddef.h>
#include <stdint.h>

#include "../core/image.h"

struct colormap {
    const char *name;
    int diverging;             /* centred at 0.5 (e.g. for signed maps) */
    const uint8_t (*table)[3]; /* 256 entries */
};

/* jet, viridis, inferno, magma, turbo, and "coolwarm" (diverging). NULL if
 * unknown. The returned map is static (never freed); thread-safe. Tables:
 * viridis/inferno/magma/turbo/coolwarm are matplotlib's published 256-entry
 * data (see plots/gen_colormaps.py), jet is MATLAB's piecewise-linear
 * definition evaluated at i/255; entries are round(255 * v). */
const struct colormap *colormap_find(const char *name);
/* The names colormap_find knows, NULL-terminated (for --help and errors). */
const char *const *colormap_names(void);
/* Table index for t, as matplotlib's Colormap(t) picks it: floor(t * 256),
 * t <= 0 -> 0, t >= 1 -> 255, NaN -> 0. */
int colormap_index(double t);
/* t in [0,1] (clamped; NaN -> 0) to 8-bit RGB: cm->table[colormap_index(t)]. */
void colormap_rgb(const struct colormap *cm, double t, uint8_t rgb[3]);

/* Map (h x w floats, row-major) scaled from [vmin, vmax] to the colour map,
 * as an RGB PNG whose pixel (x, y) is map[y * w + x]'s colour (no
 * resampling). With `with_bar`, a colour bar strip (vmax at the top, vmin at
 * the bottom, the midpoint when there is room; values as %.3g in the 8x13
 * font) is drawn to the right on white, and the canvas is at least 34
 * pixels high. vmin == vmax maps everything to the bottom of the map (its
 * middle for a diverging map); NaN values take the bottom colour. Errors:
 * ERR_INPUT for a non-positive size, a non-finite or reversed range, or more
 * than limits_get()->max_pixels; I/O errors from png_write8_fast (zlib level 1:
 * written for speed, a third larger than at the default level). Atomic. */
int heatmap_write_png(const char *path, const float *map, int h, int w,
                      const struct colormap *cm, double vmin, double vmax, int with_bar);

/* The map (mh x mw) upsampled bilinearly (plane_resize_bilinear: half-pixel
 * centres) to the image's size, coloured, and blended over it per channel:
 * out = round((1 - alpha) * 255 * image + alpha * colour), with the colour
 * bar of heatmap_write_png to the right (text scaled up for images of 512+
 * rows). image: CHW [0,1] (clamped), 1 or 3 channels (2 and 4: the alpha
 * channel is ignored), at its original resolution. alpha in [0,1], else
 * ERR_INPUT. Atomic. */
int overlay_write_png(const char *path, const struct image *im, const float *map, int mh,
                      int mw, const struct colormap *cm, double vmin, double vmax,
                      double alpha);

/* A grid of images, rows x cols (cells[r * cols + c]), each fitted into a
 * cell x cell square keeping its aspect ratio (box-averaged first when it
 * shrinks by 4x or more, then bilinear), 4 pixels apart on white, with the
 * row's label (row_labels may be NULL; over 40 characters they end in "..")
 * in the 8x13 font at the left of each row (scale 2 when cell >= 192).
 * NULL cells stay blank. Any channel count 1-4 (alpha dropped). Atomic. */
int montage_write_png(const char *path, const struct image *const *cells, int rows, int cols,
                      int cell, char *const *row_labels);
/* The same with a label over each column (col_labels may be NULL; cut to
 * the cell's width). */
int montage_write_png_labeled(const char *path, const struct image *const *cells, int rows,
                              int cols, int cell, char *const *row_labels,
                              char *const *col_labels);
/* The map (h x w) coloured through cm from [vmin, vmax] (clamped) as a
 * 3-channel image in [0,1], for montages. NULL when allocation is refused. */
struct image *heatmap_image(const float *map, int h, int w, const struct colormap *cm,
                            double vmin, double vmax);

/* Draws text with the built-in 8x13 bitmap font (X11 misc-fixed, public
 * domain) into an RGB buffer (HWC, w x h): (x, y) is the top-left corner of
 * the first glyph cell, each glyph 8*scale x 13*scale, '\n' starts a new
 * line, pixels outside the buffer are clipped, characters outside printable
 * ASCII (one per UTF-8 code point) are drawn as '?'. Only set pixels are
 * written (no background). */
void text_draw(uint8_t *rgb, int w, int h, int x, int y, const char *s, const uint8_t color[3],
               int scale);

#endif
