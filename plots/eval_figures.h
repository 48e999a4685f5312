/* eval_figures.h - the figures of an evaluation (analysis/evaluate.h): the
 * mean deletion and insertion curves, the ROAD curves, the cascading
 * randomization curve, as gnuplot figures (plot.h), and the montage of the
 * cascading randomization drawn as Adebayo et al. (2018) draw it.
 *
 *     struct plot_result figs[EVAL_FIGURES];
 *     if (eval_figures_write("out", &res, figs) < 0) ... error_message() ...
 *     eval_montage_write("out/randomization_montage.png", &res, 96);
 */
#ifndef INTERP_EVAL_FIGURES_H
#define INTERP_EVAL_FIGURES_H

#include "../analysis/evaluate.h"
#include "plot.h"

/* deletion, insertion, road_morf, road_lerf, randomization */
#define EVAL_FIGURES 5
extern const char *const eval_figure_names[EVAL_FIGURES];

/* Writes the figures into dir (NAME.gp, NAME.dat, NAME.png when gnuplot
 * runs), one series per method, each the mean over the images: the class
 * probability against the fraction of pixels deleted / inserted; against the
 * fraction removed by ROAD (MoRF, LeRF); the Spearman correlation of |map|
 * against the number of layers re-initialised from the top (skipped, r[k]
 * zeroed, when a test did not run). r: EVAL_FIGURES results (release each
 * with plot_result_release). 0 or plot_lines' error. */
int eval_figures_write(const char *dir, const struct eval_result *res, struct plot_result *r);

/* The montage of the first image's maps: a row per method, the original
 * map then one column per cascade depth ("logits" = the top layer alone,
 * then "+NAME" as each layer below joins), each map scaled to its own
 * largest |value| (Adebayo et al.'s normalisation) through inferno, cells
 * of `cell` pixels. 0 or montage_write_png's error; ERR_INPUT when no
 * cascade ran. */
int eval_montage_write(const char *path, const struct eval_result *res, int cell);

#endif
