/* tables.h - internal to plots/: the generated data tables (colour maps from
 * plots/gen_colormaps.py, the bitmap font from plots/gen_font.py). Not part
 * of the public API; use colormap.h. */
#ifndef INTERP_PLOTS_TABLES_H
#define INTERP_PLOTS_TABLES_H

#include <stdint.h>

extern const uint8_t colormap_table_viridis[256][3];
extern const uint8_t colormap_table_inferno[256][3];
extern const uint8_t colormap_table_magma[256][3];
extern const uint8_t colormap_table_turbo[256][3];
extern const uint8_t colormap_table_coolwarm[256][3];

/* Printable ASCII 32..126, 13 rows of 8 pixels, bit 7 = leftmost. */
#define FONT_W 8
#define FONT_H 13
extern const uint8_t font8x13[95][13];

#endif
