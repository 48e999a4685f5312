/* graph_region.h - incremental forward passes for occlusion: each spatial
 * layer is recomputed only over the box that a patch can reach (its
 * receptive-field cone), the original image's activations are reused
 * everywhere else; a dense layer over the flattened maps adds the changed
 * inputs' share to the original's output, and the rest of the non-spatial
 * tail runs in full. The copies of a batch are shared by the run's threads.
 *
 *     int ys[] = {0, 8}, xs[] = {0, 0};
 *     struct region_run *rr = region_run_new(m, model_logits(m), 64, 24, 24, ys, xs, 2);
 *     region_run_base(rr, x);                          // the unoccluded image
 *     region_run_patches(rr, ys, xs, 2, fill, scores); // 2 x item(score) floats
 *     region_run_free(rr);
 *
 * A copy occluded by a patch differs from the original only inside the patch;
 * after a Conv/Pool with kernel k, stride s, dilation d, output row o can
 * change only when its window [o*s - pad, o*s - pad + (k-1)*d] meets the
 * changed rows, so the changed box grows by the kernel and shrinks by the
 * stride at each layer. Pointwise ops keep the box, two-input ops take the
 * union. Results equal a full recompute up to the summation order of sgemm.
 */
#ifndef INTERP_GRAPH_REGION_H
#define INTERP_GRAPH_REGION_H

#include "model.h"

struct region_run;

/* Plans incremental runs that produce tensor `score` (n x item(score) floats)
 * for up to max_batch occluded copies, each a ph x pw patch (in the model
 * input's H x W) at one of the npos positions (ys[i], xs[i]) (top-left
 * corners, the patch inside the image); box sizes are planned for the worst
 * of these positions, so later calls must use positions among them or with
 * the same alignment. Ops the region logic does not cover (and everything
 * after a tensor stops being a 4-D map) run in full. NULL with ERR_INPUT for
 * a bad patch or position, ERR_FAIL/ERR_INPUT from big_alloc. The model must
 * outlive the run. Free with region_run_free. */
struct region_run *region_run_new(const struct model *m, int score, int max_batch, int ph,
                                  int pw, const int *ys, const int *xs, int npos);
void region_run_free(struct region_run *r); /* NULL is a no-op */
/* After the model's weights changed (a clone re-initialised for the
 * randomization test): refolds the base run's convolutions and the run's
 * own conv chains and rank-update weights; region_run_base must run again
 * before region_run_patches. */
void region_run_reload_weights(struct region_run *r);

/* Runs the original (unoccluded) input: one item in the model's layout. The
 * activations kept are those the patches reuse. 0 or an error. */
int region_run_base(struct region_run *r, const float *input);

/* The unoccluded input's score (item(score) floats) after region_run_base;
 * NULL before. Owned by the run. */
const float *region_run_base_score(const struct region_run *r);

/* For each of n copies (n <= max_batch), the base input with the patch at
 * (ys[i], xs[i]) set to fill[c] (one value per input channel, model space),
 * writes item(score) floats of the score tensor to scores + i * item. Needs
 * region_run_base first. 0, or ERR_INPUT for a position outside the image. */
int region_run_patches(struct region_run *r, const int *ys, const int *xs, int n,
                       const float *fill, float *scores);

/* How the plan runs, for tests and reports: conv chains on the boxes (Conv
 * [-> BatchNormalization] [-> Relu [-> 2x2 MaxPool]] as one conv plan per
 * copy, over its window), of which with the pool fused; dense layers run as
 * rank updates of the original's output (over the flattened region's
 * changed inputs), of which over a channels-last region. */
struct region_info {
    int chains, pooled_chains, rank_updates, rank_nhwc;
};
void region_run_info(const struct region_run *r, struct region_info *info);

/* Multiply-adds of one incremental copy, relative to a full forward, for the
 * worst-case boxes (0..1; for reports and benchmarks). */
double region_run_cost_ratio(const struct region_run *r);

/* MODEL_NHWC when tensor `id` is a 4-D activation laid out N x H x W x C (an
 * NHWC model's input, or the output of a Transpose to channels-last), else
 * MODEL_NCHW. */
enum model_layout graph_region_layout(const struct model *m, int id);

#endif
