/* colormap.c - the colour maps by name, and value -> colour lookup.
 * The published tables live in colormap_tables.c (generated from matplotlib's
 * data by gen_colormaps.py); jet is computed here from its definition. */
#include "colormap.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "tables.h"

/* ---- jet ----------------------------------------------------------------
 * MATLAB's jet as matplotlib defines it (_cm._jet_data): per channel, a
 * piecewise-linear function of x through these (x, value) points; entry i of
 * the 256-entry table is the function at x = i / 255, rounded to 8 bits. */
struct knot {
    double x, v;
};
static const struct knot jet_r[] = {{0, 0}, {0.35, 0}, {0.66, 1}, {0.89, 1}, {1, 0.5}};
static const struct knot jet_g[] = {{0, 0},    {0.125, 0}, {0.375, 1},
                                    {0.64, 1}, {0.91, 0},  {1, 0}};
static const struct knot jet_b[] = {{0, 0.5}, {0.11, 1}, {0.34, 1}, {0.65, 0}, {1, 0}};

static uint8_t jet_table[256][3];
static pthread_once_t jet_once = PTHREAD_ONCE_INIT;

static double knots_eval(const struct knot *k, size_t n, double x)
{
    for (size_t i = 1; i < n; i++) {
        if (x <= k[i].x) {
            double f = (x - k[i - 1].x) / (k[i].x - k[i - 1].x);
            return k[i - 1].v + f * (k[i].v - k[i - 1].v);
        }
    }
    return k[n - 1].v;
}

static uint8_t to_byte(double v)
{
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    return (uint8_t)lrint(v * 255.0);
}

static void jet_init(void)
{
    for (int i = 0; i < 256; i++) {
        double x = i / 255.0;
        jet_table[i][0] = to_byte(knots_eval(jet_r, sizeof jet_r / sizeof *jet_r, x));
        jet_table[i][1] = to_byte(knots_eval(jet_g, sizeof jet_g / sizeof *jet_g, x));
        jet_table[i][2] = to_byte(knots_eval(jet_b, sizeof jet_b / sizeof *jet_b, x));
    }
}

/* ---- lookup ------------------------------------------------------------- */

static const struct colormap maps[] = {
    {"jet", 0, (const uint8_t (*)[3])jet_table}, {"viridis", 0, colormap_table_viridis},
    {"inferno", 0, colormap_table_inferno},      {"magma", 0, colormap_table_magma},
    {"turbo", 0, colormap_table_turbo},          {"coolwarm", 1, colormap_table_coolwarm},
};

const struct colormap *colormap_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) {
        if (strcmp(maps[i].name, name) == 0) {
            if (i == 0) pthread_once(&jet_once, jet_init);
            return &maps[i];
        }
    }
    return NULL;
}

const char *const *colormap_names(void)
{
    static const char *const names[] = {"jet",   "viridis",  "inferno", "magma",
                                        "turbo", "coolwarm", NULL};
    return names;
}

int colormap_index(double t)
{
    /* matplotlib's Colormap.__call__ for floats: index floor(t * N), with
     * t == 1 (and above) on the last entry, below 0 on the first. */
    if (!(t == t) || t <= 0) return 0; /* NaN -> 0, as documented */
    if (t >= 1) return 255;
    int i = (int)(t * 256.0);
    return i > 255 ? 255 : i;
}

void colormap_rgb(const struct colormap *cm, double t, uint8_t rgb[3])
{
    const uint8_t *e = cm->table[colormap_index(t)];
    rgb[0] = e[0];
    rgb[1] = e[1];
    rgb[2] = e[2];
}
