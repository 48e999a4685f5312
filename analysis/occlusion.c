/* occlusion.c - occlusion maps: the patch grid, batches of occluded copies
 * through the full forward pass or the incremental one (core/graph_region.c),
 * and the per-pixel mean over covering patches.
 */
#include "occlusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/graph_region.h"
#include "../core/util.h"

struct occlusion_params occlusion_params_default(void)
{
    return (struct occlusion_params){.patch = 24, .stride = 8, .fill = 0.5, .batch = 64};
}

/* Positions 0, S, 2S, ... with pos + P <= n, then n - P when the last one
 * does not reach the border. Returns the count; pos may be NULL. */
static int grid_positions(int n, int P, int S, int *pos)
{
    int k = 0, last = -1;
    for (int y = 0; y + P <= n; y += S) {
        if (pos) pos[k] = y;
        k++, last = y;
    }
    if (last + P < n) {
        if (pos) pos[k] = n - P;
        k++;
    }
    return k;
}

void occlusion_weights_changed(struct occlusion *o)
{
    model_run_reload_weights(o->run_);
    if (o->rr_) region_run_reload_weights(o->rr_);
}

void occlusion_free(struct occlusion *o)
{
    if (!o) return;
    free(o->ys);
    free(o->xs);
    free(o->probs);
    model_run_free(o->run_);
    region_run_free(o->rr_);
    free(o->copies_);
    free(o->scores_);
    free(o->cprobs_);
    free(o->drops_);
    free(o->bys_);
    free(o->bxs_);
    free(o->count_);
    free(o);
}

struct occlusion *occlusion_new(const struct model *m, const struct occlusion_params *p,
                                const struct model_prep *prep)
{
    struct model_input_info in;
    struct cam_score sc;
    if (model_input_info(m, &in) || cam_score_init(m, &sc)) return NULL;
    if (p->patch < 1 || p->stride < 1 || p->batch < 1 || !(p->fill >= 0 && p->fill <= 1)) {
        error_set(ERR_INPUT, NULL,
                  "occlusion needs patch >= 1, stride >= 1, batch >= 1 and "
                  "fill in [0,1]");
        return NULL;
    }
    if ((prep->nmean != 1 && prep->nmean != in.c) || (prep->nstd != 1 && prep->nstd != in.c)) {
        error_set(ERR_INPUT, NULL, "--mean/--std need 1 or %d values", in.c);
        return NULL;
    }
    struct occlusion *o = xcalloc(1, sizeof *o);
    o->m = m, o->score = sc, o->p = *p;
    o->c = in.c, o->h = in.h, o->w = in.w, o->nhwc = in.layout == MODEL_NHWC;
    o->ph = p->patch < in.h ? p->patch : in.h;
    o->pw = p->patch < in.w ? p->patch : in.w;
    o->ny = grid_positions(in.h, o->ph, p->stride, NULL);
    o->nx = grid_positions(in.w, o->pw, p->stride, NULL);
    o->ys = xmalloc(sizeof(int) * (size_t)o->ny);
    o->xs = xmalloc(sizeof(int) * (size_t)o->nx);
    grid_positions(in.h, o->ph, p->stride, o->ys);
    grid_positions(in.w, o->pw, p->stride, o->xs);
    /* the fill is a pixel value: the same affine map as model_preprocess */
    for (int c = 0; c < in.c; c++) {
        double mean = prep->mean[prep->nmean == 1 ? 0 : c],
               sd = prep->std[prep->nstd == 1 ? 0 : c];
        o->fill[c] = (float)(p->fill * 255.0 * model_prep_scale(m, prep) / sd - mean / sd);
    }
    int npatch = o->ny * o->nx;
    int B = p->batch < npatch ? p->batch : npatch;
    o->p.batch = B;
    size_t item = model_tensor_item(m, model_input(m)), bytes;
    o->probs = xmalloc(sizeof(float) * (size_t)sc.nclass);
    o->scores_ = xmalloc(sizeof(float) * (size_t)sc.nlogit * (size_t)B);
    o->cprobs_ = xmalloc(sizeof(float) * (size_t)sc.nclass);
    o->bys_ = xmalloc(sizeof(int) * (size_t)B);
    o->bxs_ = xmalloc(sizeof(int) * (size_t)B);
    if (!mul3_ok((size_t)npatch, (size_t)sc.nclass, sizeof(float), &bytes) ||
        !(o->drops_ = big_alloc(bytes, NULL, "occlusion drops")) ||
        !mul3_ok((size_t)in.h, (size_t)in.w, sizeof(unsigned), &bytes) ||
        !(o->count_ = big_alloc(bytes, NULL, "occlusion counts")))
        goto fail;
    /* the full path: also used for the original image */
    int keep = sc.tensor;
    if (!(o->run_ = model_run_new(m, p->exact ? B : 1, MODEL_RUN_FORWARD, &keep, 1))) goto fail;
    if (p->exact) {
        if (!mul3_ok(item, (size_t)B, sizeof(float), &bytes) ||
            !(o->copies_ = big_alloc(bytes, NULL, "occluded copies")))
            goto fail;
    } else {
        int *ay = xmalloc(sizeof(int) * (size_t)npatch),
            *ax = xmalloc(sizeof(int) * (size_t)npatch);
        for (int a = 0; a < o->ny; a++)
            for (int b = 0; b < o->nx; b++)
                ay[a * o->nx + b] = o->ys[a], ax[a * o->nx + b] = o->xs[b];
        o->rr_ = region_run_new(m, sc.tensor, B, o->ph, o->pw, ay, ax, npatch);
        free(ay);
        free(ax);
        if (!o->rr_) goto fail;
        o->incremental = 1;
    }
    /* pixels no patch covers (only when stride > patch) */
    memset(o->count_, 0, sizeof(unsigned) * (size_t)in.h * in.w);
    for (int a = 0; a < o->ny; a++)
        for (int b = 0; b < o->nx; b++)
            for (int y = o->ys[a]; y < o->ys[a] + o->ph; y++)
                for (int x = o->xs[b]; x < o->xs[b] + o->pw; x++)
                    o->count_[(size_t)y * in.w + x]++;
    for (size_t i = 0; i < (size_t)in.h * in.w; i++)
        o->uncovered += o->count_[i] == 0;
    return o;
fail:
    occlusion_free(o);
    return NULL;
}

/* Copy i of the batch: the input with the patch at (y, x) set to the fill. */
static void make_copy(const struct occlusion *o, const float *input, float *dst, int y0, int x0)
{
    size_t item = (size_t)o->c * o->h * o->w, plane = (size_t)o->h * o->w;
    memcpy(dst, input, sizeof(float) * item);
    for (int y = y0; y < y0 + o->ph; y++)
        for (int x = x0; x < x0 + o->pw; x++)
            for (int c = 0; c < o->c; c++) {
                size_t p = (size_t)y * o->w + x;
                dst[o->nhwc ? p * o->c + c : c * plane + p] = o->fill[c];
            }
}

int occlusion_predict(struct occlusion *o, const float *input)
{
    int rc = model_forward(o->run_, input, 1);
    if (rc) return rc;
    cam_score_probs(&o->score, model_run_tensor(o->run_, o->score.tensor), o->probs);
    return 0;
}

int occlusion_run(struct occlusion *o, const float *input, const int *cls, int ncls,
                  float *grid, float *map, const struct progress *prog)
{
    const struct cam_score *sc = &o->score;
    for (int j = 0; j < ncls; j++)
        if (cls[j] < 0 || cls[j] >= sc->nclass)
            return error_set(ERR_INPUT, NULL,
                             "class %d out of range (the model has %d classes)", cls[j],
                             sc->nclass);
    int rc;
    if (o->rr_) { /* the incremental run's base forward gives the original's scores */
        if ((rc = region_run_base(o->rr_, input))) return rc;
        cam_score_probs(sc, region_run_base_score(o->rr_), o->probs);
    } else if ((rc = occlusion_predict(o, input))) {
        return rc;
    }
    int npatch = o->ny * o->nx, B = o->p.batch;
    size_t item = model_tensor_item(o->m, model_input(o->m));
    for (int b0 = 0; b0 < npatch; b0 += B) {
        int n = npatch - b0 < B ? npatch - b0 : B;
        for (int i = 0; i < n; i++) {
            o->bys_[i] = o->ys[(b0 + i) / o->nx];
            o->bxs_[i] = o->xs[(b0 + i) % o->nx];
        }
        const float *scores;
        if (o->rr_) {
            if ((rc = region_run_patches(o->rr_, o->bys_, o->bxs_, n, o->fill, o->scores_)))
                return rc;
            scores = o->scores_;
        } else {
            for (int i = 0; i < n; i++)
                make_copy(o, input, o->copies_ + (size_t)i * item, o->bys_[i], o->bxs_[i]);
            if ((rc = model_forward(o->run_, o->copies_, n))) return rc;
            scores = model_run_tensor(o->run_, sc->tensor);
        }
        for (int i = 0; i < n; i++) {
            cam_score_probs(sc, scores + (size_t)i * sc->nlogit, o->cprobs_);
            for (int j = 0; j < ncls; j++)
                o->drops_[(size_t)j * npatch + b0 + i] = o->probs[cls[j]] - o->cprobs_[cls[j]];
        }
        progress_update(prog, "occlusion", (size_t)(b0 + n), (size_t)npatch, NULL);
    }
    size_t hw = (size_t)o->h * o->w;
    double *acc = xcalloc(hw, sizeof(double));
    for (int j = 0; j < ncls; j++) {
        const float *d = o->drops_ + (size_t)j * npatch;
        if (grid) memcpy(grid + (size_t)j * npatch, d, sizeof(float) * (size_t)npatch);
        if (!map) continue;
        memset(acc, 0, hw * sizeof(double));
        for (int a = 0; a < o->ny; a++)
            for (int b = 0; b < o->nx; b++) {
                double v = d[a * o->nx + b];
                for (int y = o->ys[a]; y < o->ys[a] + o->ph; y++) {
                    double *row = acc + (size_t)y * o->w;
                    for (int x = o->xs[b]; x < o->xs[b] + o->pw; x++)
                        row[x] += v;
                }
            }
        float *mj = map + (size_t)j * hw;
        for (size_t i = 0; i < hw; i++)
            mj[i] = o->count_[i] ? (float)(acc[i] / o->count_[i]) : 0.0f;
    }
    free(acc);
    return 0;
}

void occlusion_map_check(const struct occlusion *o, const float *map, size_t n, int cls,
                         struct cam_info *info)
{
    cam_map_check(map, n, 0, info);
    info->prob = o->probs[cls];
    if (info->flag == CAM_FLAG_ZERO || info->flag == CAM_FLAG_CONSTANT)
        info->reason =
            o->probs[cls] > 0.9999 || o->probs[cls] < 1e-4
                ? "the class probability does not move under occlusion: it is saturated "
                  "(near 0 or 1); try a larger --patch"
                : "the class probability does not move under occlusion: try a larger --patch "
                  "or "
                  "another --fill";
}
