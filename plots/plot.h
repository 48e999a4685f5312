/* plot.h - figures as gnuplot scripts with their data, rendered to PNG.
 *
 * Each figure is written as NAME.gp (a gnuplot script) and NAME.dat (its data)
 * in a folder; when gnuplot is on the PATH the script is run to make NAME.png
 * (pngcairo). The library never prints: whether gnuplot ran is returned in
 * struct plot_result, and the CLI tells the user.
 *
 *     struct scatter s = {.x = xs, .y = ys, .n = n, .labels = ids,
 *                         .nclasses = 10, .class_names = names,
 *                         .title = "t-SNE", .xlabel = "t-SNE 1", .ylabel = "t-SNE 2"};
 *     struct plot_result r;
 *     if (plot_scatter("out", "tsne", &s, &r) < 0) ... error_message() ...
 *     if (!r.rendered) ... "gnuplot not found; wrote r.script" ...
 *     plot_result_release(&r);
 *
 * Common to every plot_* function:
 * - `dir` is created when missing (dir_ensure); NAME may not be empty. The
 *   .gp and .dat files are written atomically (core/outfile.h); the script
 *   names its data file relative to itself, so `cd DIR && gnuplot NAME.gp`
 *   remakes NAME.png, and `gnuplot -e "outfile='x.png'" NAME.gp` writes x.png.
 * - gnuplot runs as `gnuplot -d -e "outfile='TMP'" NAME.gp` inside DIR, its
 *   stdout discarded and its stderr captured; it renders into a temporary
 *   beside NAME.png that is renamed into place only when gnuplot succeeded,
 *   so there is never a partial PNG.
 * - All text (titles, class names) is quoted for gnuplot (single quotes,
 *   quote doubled, control characters as spaces) and drawn `noenhanced`:
 *   underscores, quotes and backslashes in names come out as written.
 * - Returns 0 with *r filled (owned paths, free with plot_result_release):
 *   r->rendered = 1 and r->png set when the PNG was made, r->rendered = 0
 *   and r->png = NULL when gnuplot is not installed (not an error).
 *   ERR_INPUT: bad arguments (NULL data, labels outside [0, nclasses), a
 *   folder that cannot be made). ERR_FAIL: write errors, or gnuplot failing
 *   on the script ("gnuplot failed: <its error line>"); the .gp and .dat
 *   stay on disk then for inspection. On error *r holds nothing to free.
 *   r may be NULL.
 */
#ifndef INTERP_PLOT_H
#define INTERP_PLOT_H

#include <stddef.h>
#include <stdint.h>

struct plot_result {
    char *script; /* owned paths; png NULL when gnuplot is missing or failed */
    char *data;
    char *png;
    int rendered; /* 1 when gnuplot made the PNG */
};
/* Frees the paths and zeroes *r; NULL and a zeroed result are no-ops. */
void plot_result_release(struct plot_result *r);

/* 1 when a gnuplot binary is found on the PATH (cached). */
int plot_gnuplot_available(void);

/* Which gnuplot to run: a program name looked up on the PATH or a path;
 * NULL restores "gnuplot"; "" disables rendering (scripts only, as when
 * gnuplot is missing). Clears the plot_gnuplot_available cache. Meant for the
 * CLI (e.g. a --no-render switch) and tests; call it before plotting. */
void plot_set_gnuplot(const char *prog);

/* Scatter coloured by class: a categorical palette combined with marker
 * shapes so that 47 classes stay distinguishable; legend outside the plot.
 * labels may be NULL (one colour); class_names may be NULL ("class 3").
 *
 * Class k is drawn in Tableau 20 colour k % 20 (the ten Tableau 10 colours,
 * then their light companions) with marker shape k / 10 (filled circle,
 * triangle, square, inverted triangle, diamond, pentagon), so (colour, shape)
 * is unique up to 120 classes and a class keeps its look across figures.
 * Points are small and semi-transparent when there are thousands. The key
 * lists the classes that have points, in columns of at most 24, with opaque
 * larger samples. NAME.dat holds one block per such class ("# class k: name"
 * then "x y" lines, blocks separated by two blank lines: gnuplot's `index`).
 * Points with a non-finite x or y are left out. Default size 820 x 700 plus
 * the key's width. */
struct scatter {
    const float *x, *y;
    size_t n;
    const int32_t *labels;
    size_t nclasses;
    char *const *class_names;
    const char *title, *xlabel, *ylabel;
    int width, height; /* pixels; 0 = default */
};
int plot_scatter(const char *dir, const char *name, const struct scatter *s,
                 struct plot_result *r);

/* Line plot of one or more series sharing x (e.g. KL per iteration, scree).
 * NAME.dat: one row per x, columns x y1 y2 ...; non-finite values (and
 * values <= 0 with logy) are written as NaN and left out. Series colours are
 * Tableau 10 in order. with_bars draws the first series as bars centred on
 * each x (scree: per-component ratio) and the others as lines with points
 * (cumulative ratio). The key goes below the plot when series_names is set
 * (NULL: no key). y starts at 0 when every value is >= 0 (linear axis). */
struct line_plot {
    const double *x;
    size_t n;
    const double *const *y; /* nseries arrays of n */
    size_t nseries;
    char *const *series_names;
    const char *title, *xlabel, *ylabel;
    int logy;          /* log scale on y */
    int with_bars;     /* first series as bars (scree: variance ratio), rest lines */
    int width, height; /* pixels; 0 = default (900 x 600) */
};
int plot_lines(const char *dir, const char *name, const struct line_plot *p,
               struct plot_result *r);

/* Annotated matrix heatmap (confusion matrix): values rows x cols, row/col
 * names on the axes, the cell text from `annot` (e.g. counts) when non-NULL,
 * colour from `values` (e.g. row-normalised). Readable at 47 classes (font
 * and size scale with the class count).
 *
 * Row 0 is at the top (true classes down the side, predicted along the
 * bottom, as scikit-learn draws it). Colours: ColorBrewer "Blues" (white =
 * vmin, dark blue = vmax) with a colour box on the right; cell text black,
 * white on cells past 55% of the range. Cells are 56 px up to 10 classes,
 * 36 px up to 25, 26 px beyond, where the grid gets thin lines, x names turn
 * 90 degrees, the counts shrink to fit and zero counts are not printed (set
 * show_zeros = 1 in the script to print them). NaN values draw blank.
 * NAME.dat: "column row value [count]" per cell, one scan line per row. */
struct matrix_plot {
    const double *values;
    const int64_t *annot;
    size_t rows, cols;
    char *const *row_names, *const *col_names;
    const char *title, *xlabel, *ylabel;
    double vmin, vmax; /* colour range; vmin == vmax (e.g. both 0): the data's */
    int width, height; /* pixels; 0 = sized from the class count */
};
int plot_matrix(const char *dir, const char *name, const struct matrix_plot *m,
                struct plot_result *r);

#endif
