/* evaluate.h - can a map be trusted? Faithfulness tests (deletion and
 * insertion curves, Petsiuk et al. 2018; ROAD, Rong et al. 2022) and the
 * model-parameter randomization sanity check (Adebayo et al. 2018) for any
 * set of explainers (explainer.h) over a few images.
 *
 *     struct eval_params p = eval_params_default();
 *     struct eval *ev = eval_new(m, &prep, specs, nspecs, &ep, &p);   // NULL + error
 *     struct eval_result res;
 *     eval_run(ev, inputs, nimg, &res, &progress);
 *     ... res.del_auc[i * res.nmeth + j], eval_summary(&res, &sum) ...
 *     eval_result_release(&res);
 *     eval_free(ev);
 *
 * Definitions (each function below says more):
 * - the class is the model's prediction for the image, its score the
 *   softmax probability (cam.h's probabilities);
 * - pixel order: by map value, largest first, ties by pixel index (a stable
 *   sort); a pixel is all its channels;
 * - deletion: from the image, pixels replaced by the substrate in that
 *   order; insertion: from the substrate, the image's pixels put back; after
 *   step i of N, the first floor(i H W / N) pixels are done; AUC = the
 *   trapezoid rule over i / N (RISE's auc());
 * - ROAD: the most (MoRF) or least (LeRF) relevant floor(p H W) pixels
 *   removed, p in 10, 20, 30, 40, 50, 70, 90% (the reference code's
 *   benchmark), filled by the noisy linear imputation;
 * - randomization: weight layers (model.h) re-initialised from the logits
 *   down, one more at each step (cascading), and one at a time
 *   (independent); each map recomputed for the same image and class, and
 *   compared with the original: Spearman rank correlation of the maps and of
 *   their absolute values, SSIM of the absolute maps scaled to [0, 1].
 */
#ifndef INTERP_EVALUATE_H
#define INTERP_EVALUATE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/model.h"
#include "../core/progress.h"
#include "../core/rng.h"
#include "explainer.h"

#define EVAL_ROAD_N 7
/* ROAD's fractions removed: 0.1 0.2 0.3 0.4 0.5 0.7 0.9. */
extern const double eval_road_fractions[EVAL_ROAD_N];
#define EVAL_STEPS_MAX 100000

/* Deletion's replacement and insertion's start: gray (pixel 0.5), black
 * (pixel 0) through the model's preprocessing, or the image blurred by RISE's
 * kernel (attribution.h attr_blur). */
enum eval_substrate { EVAL_SUB_GRAY, EVAL_SUB_BLUR, EVAL_SUB_BLACK };
const char *eval_substrate_name(enum eval_substrate s);
int eval_substrate_parse(const char *s); /* or -1 */

/* The randomization metrics, per randomized model. */
enum { EVAL_SPEARMAN, EVAL_SPEARMAN_ABS, EVAL_SSIM, EVAL_RAND_METRICS };

struct eval_params {
    int steps;                   /* deletion/insertion steps (default 100), 1..EVAL_STEPS_MAX */
    enum eval_substrate del_sub; /* default gray (RISE: zeros of a normalised image) */
    enum eval_substrate ins_sub; /* default blur (RISE) */
    int road;                    /* run ROAD (default 1) */
    double road_noise;           /* imputation noise, pixel units (default 0.01) */
    int cascade, single;         /* randomization tests (default both) */
    int max_layers;              /* cascade depth limit, 0 = every weight layer */
    uint64_t seed;               /* weights, ROAD's noise (default 0) */
    int batch;                   /* forward batch (default 32) */
    /* a method fails the sanity check when the Spearman correlation of
     * |map| with the original, averaged over the cascade's steps (the top
     * layer re-initialised, then the top two, ..., then every one) and over
     * the images, is at least this (default 0.5): while the model is being
     * destroyed from the logits down, its map keeps more than half of its
     * pixel ranking (Adebayo et al.'s figure 2, summed up in one number) */
    double fail_rho;
};
struct eval_params eval_params_default(void);

struct eval;

/* An evaluation of the nspec explainers over model m. Copies specs. NULL +
 * ERR_INPUT for bad parameters (steps, batch, noise, an explainer that
 * cannot be made: its message) or a model without weight layers when a
 * randomization test is asked for. m must outlive it. */
struct eval *eval_new(const struct model *m, const struct model_prep *prep,
                      const struct explainer_spec *specs, int nspec,
                      const struct explainer_params *ep, const struct eval_params *p);
void eval_free(struct eval *ev); /* NULL is a no-op */

/* Everything eval_run measured. Arrays are image-major: [i][j]... with
 * nimg images and nmeth methods (the specs in order). Owned; release with
 * eval_result_release. */
struct eval_result {
    int nimg, nmeth, steps, nlayers, h, w;
    int cascade, single, road;
    char **layer_names;        /* nlayers, the weight layers in graph order */
    char **methods;            /* nmeth canonical names */
    int *controls;             /* nmeth: 1 for random/sobel */
    int *pred;                 /* nimg: the predicted class */
    double *prob;              /* nimg: its probability */
    double *del, *ins;         /* nimg x nmeth x (steps + 1): probability after each step */
    double *del_auc, *ins_auc; /* nimg x nmeth */
    double *morf, *lerf;       /* nimg x nmeth x EVAL_ROAD_N */
    /* nimg x nmeth x nlayers x EVAL_RAND_METRICS: cascade[k] = the top k + 1
     * layers randomized (k = 0: the logits' layer); single[l] = layer l only */
    double *casc, *indep;
    /* the first image: nmeth x (nlayers + 1) maps of h x w, the original then
     * each cascade depth (zero where no cascade ran) */
    float *maps;
    double seconds_maps, seconds_curves, seconds_road, seconds_rand;
};
void eval_result_release(struct eval_result *r);

/* Runs every test on the n input items x[i] (model layout). Progress: stage
 * "evaluate", one tick per image and test. 0, or an error (the message
 * names the method). */
int eval_run(struct eval *ev, const float *const *x, int n, struct eval_result *res,
             const struct progress *prog);

/* Mean and spread over the images, per method. */
struct eval_stat {
    double mean, sd; /* sd: the sample standard deviation (0 for one image) */
};
struct eval_summary_row {
    struct eval_stat del_auc, ins_auc;     /* lower / higher is better */
    struct eval_stat morf, lerf, road_gap; /* means over the fractions; gap = lerf - morf */
    struct eval_stat casc_mean_rho_abs;    /* Spearman of |map| averaged over the cascade */
    struct eval_stat casc_rho, casc_rho_abs, casc_ssim; /* every layer randomized */
    struct eval_stat indep_rho_abs;                     /* mean over the independent layers */
    int undefined; /* randomized maps that were constant (Spearman undefined, counted as 0) */
    int fails;     /* 1: fails the sanity check (casc_mean_rho_abs.mean >= fail_rho) */
};
/* rows: res->nmeth entries. A NaN Spearman (a constant map: no ranking)
 * counts as 0 in the means. */
void eval_summary(const struct eval_result *res, double fail_rho,
                  struct eval_summary_row *rows);

/* One sentence on what row j's numbers mean (deletion and insertion areas
 * against the random control when one was evaluated, ROAD's gap, the
 * randomization verdict) into buf (size bytes, NUL-terminated). */
void eval_describe(const struct eval_result *res, const struct eval_summary_row *rows, int j,
                   double fail_rho, char *buf, size_t size);

/* ---- the pieces, public for the tests ---- */
/* Deletion and insertion curves of one map (h x w) for the image x and
 * class cls: ev's steps + 1 probabilities into each of del and ins. */
int eval_curves(struct eval *ev, const float *x, int cls, const float *map, double *del,
                double *ins);
/* ROAD for one map: EVAL_ROAD_N probabilities each for MoRF and LeRF. The
 * order: the map min-max scaled ((m - min) / (max - min + 1e-5), ROAD's
 * normalize_map) plus 1e-4 N(0,1) per pixel from core/rng.h seeded tie_seed
 * (ROAD's fixed tie-break), largest first; the imputations (MoRF at each
 * fraction, then LeRF) draw their noise from one stream seeded noise_seed.
 * eval_run uses tie_seed = seed + image index, noise_seed = tie_seed +
 * ((index of the method among explainer_name_at's names) + 1) << 32. */
int eval_road(struct eval *ev, const float *x, int cls, const float *map, uint64_t tie_seed,
              uint64_t noise_seed, double *morf, double *lerf);
/* Pixel order: idx[0..n) sorted by map value descending, ties by index. */
void eval_order(const float *map, size_t n, int *idx);
/* RISE's auc(): (sum - s[0]/2 - s[n-1]/2) / (n - 1) over n >= 2 values. */
double eval_auc(const double *s, int n);
/* Spearman's rank correlation (average ranks for ties); NaN when either
 * input is constant. */
double eval_spearman(const float *a, const float *b, size_t n);
/* skimage.metrics.structural_similarity's default on two h x w images with
 * data_range 1: 7 x 7 uniform window, K1 0.01, K2 0.03, sample covariance,
 * the mean over the windows inside the image. NaN when h or w < 7. */
double eval_ssim(const float *a, const float *b, int h, int w);
/* ROAD's noisy linear imputation (NoisyLinearImputer): each removed pixel
 * (removed[p] != 0) of each channel takes the weighted mean of its in-image
 * neighbours (1/6 for the 4 direct ones, 1/12 for the diagonals), known or
 * imputed (a sparse linear system, solved by conjugate gradients to 1e-12),
 * plus noise[c] * N(0, 1) drawn from r channel by channel, pixel by pixel.
 * x, out: one item in the layout of `in` (may be the same buffer). 0, or
 * ERR_INPUT when every pixel is removed. */
int eval_impute(const struct model_input_info *in, const float *x, const unsigned char *removed,
                const float *noise, struct rng *r, float *out);

#endif
