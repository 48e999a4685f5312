/* occlusion.h - occlusion sensitivity maps (Zeiler & Fergus 2014, sec. 4.2):
 * slide a gray patch over the image and record how much the class
 * probability drops when each region is hidden.
 *
 *     struct occlusion_params p = occlusion_params_default();   // 24, 8, 0.5
 *     struct model_prep prep = model_prep_default();
 *     struct occlusion *o = occlusion_new(m, &p, &prep);
 *     int cls = 3;
 *     float *grid = xmalloc(sizeof(float) * o->ny * o->nx);
 *     float *map = xmalloc(sizeof(float) * o->h * o->w);
 *     occlusion_run(o, x, &cls, 1, grid, map, NULL);
 *     occlusion_free(o);
 *
 * Conventions (DESIGN.md): patches P x P at 0, S, 2S, ... along each axis,
 * plus one flush with the far border when the grid does not reach it; the
 * fill is `fill` in [0,1] pixel space, mapped through the preprocessing
 * (scale, mean, std) like any pixel; a patch's value is
 * p(class | original) - p(class | occluded); a pixel's value is the mean over
 * the patches covering it. By default each copy is recomputed incrementally
 * (core/graph_region.h: only the patch's receptive-field cone), which equals
 * the full recompute up to float rounding; `exact` forces the full path.
 */
#ifndef INTERP_OCCLUSION_H
#define INTERP_OCCLUSION_H

#include "../core/model.h"
#include "../core/progress.h"
#include "cam.h"

struct occlusion_params {
    int patch;   /* side in model-input pixels (default 24; clamped to the input) */
    int stride;  /* default 8 */
    double fill; /* pixel value in [0,1] (default 0.5) */
    int batch;   /* occluded copies per forward pass (default 64) */
    int exact;   /* 1: full recompute of every copy, no incremental path */
};
struct occlusion_params occlusion_params_default(void);

struct occlusion {
    const struct model *m;
    struct cam_score score;
    struct occlusion_params p;
    int c, h, w, nhwc; /* the model input */
    int ph, pw;        /* patch size used */
    int ny, nx;        /* patch grid; patch (a, b) covers rows ys[a].., columns xs[b].. */
    int *ys, *xs;
    float fill[4];    /* per input channel, in model space */
    int incremental;  /* 1 when the incremental path is in use */
    size_t uncovered; /* pixels no patch covers (stride > patch): value 0 */
    float *probs;     /* class probabilities of the last original image (score.nclass) */
    /* private */
    struct model_run *run_;
    struct region_run *rr_;
    float *copies_, *scores_, *cprobs_, *drops_;
    int *bys_, *bxs_;
    unsigned *count_;
};

/* Prepares occlusion of images for model m: the patch grid from the input
 * size, the fill through `prep`, run contexts for p->batch copies. NULL with
 * ERR_INPUT for a bad patch/stride/batch/fill or a model that is not an image
 * classifier, or the allocation error. Free with occlusion_free. */
struct occlusion *occlusion_new(const struct model *m, const struct occlusion_params *p,
                                const struct model_prep *prep);
void occlusion_free(struct occlusion *o); /* NULL is a no-op */
/* After the model's weights changed in place (model_weight_layer_randomize
 * on a clone): refolds the runs' fused convolutions. */
void occlusion_weights_changed(struct occlusion *o);

/* Occludes one image (model_tensor_item(model_input) floats, model layout)
 * and, for each of the ncls classes cls[j], writes the patch grid of drops
 * (grid + j * ny * nx, may be NULL) and the per-pixel map (map + j * h * w,
 * may be NULL). o->probs receives the original's probabilities. Progress is
 * reported per batch (stage "occlusion"). 0, or ERR_INPUT for a class out of
 * range. */
int occlusion_run(struct occlusion *o, const float *input, const int *cls, int ncls,
                  float *grid, float *map, const struct progress *prog);

/* Only the original's class probabilities, into o->probs (one forward). */
int occlusion_predict(struct occlusion *o, const float *input);

/* Checks an occlusion map (n floats) like cam_map_check, with reasons that
 * fit occlusion (the probability did not move). */
void occlusion_map_check(const struct occlusion *o, const float *map, size_t n, int cls,
                         struct cam_info *info);

#endif
