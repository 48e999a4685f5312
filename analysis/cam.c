/* cam.c - the CAM family (Grad-CAM, Grad-CAM++, HiResCAM, XGradCAM,
 * LayerCAM, EigenCAM, EigenGradCAM, GradCAMElementWise, ScoreCAM,
 * AblationCAM) and input-gradient saliency over the model engine's forward
 * and backward passes (a batch of images through one forward and one
 * backward), the class-score conventions (logit, binary single-logit
 * models) and the check for blank maps.
 */
#include "cam.h"

#include <ctype.h>
#ifndef INTERP_NO_BLAS /* the WebAssembly build has no LAPACK: no EigenCAM there */
#include <lapacke.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/graph_region.h"
#include "../core/image.h"
#include "../core/util.h"

/* ---------------------------------------------------------------- scores */
int cam_score_init(const struct model *m, struct cam_score *s)
{
    enum model_final final = model_final_op(m);
    int fin = final == MODEL_FINAL_SOFTMAX ? 1 : final == MODEL_FINAL_SIGMOID ? 2 : 0;
    s->tensor = model_logits(m);
    int64_t dims[MODEL_MAX_DIMS];
    int rank = model_tensor_shape(m, s->tensor, dims);
    size_t n = model_tensor_item(m, s->tensor);
    if (!model_tensor_is_activation(m, s->tensor) || rank < 2 || n < 1 || n > 1000000)
        return error_set(ERR_INPUT, NULL, "the model's scores '%s' are not a vector per image",
                         model_tensor_name(m, s->tensor));
    s->nlogit = (int)n;
    if (n == 1) {
        s->nclass = 2;
        s->prob = CAM_PROB_BINARY;
        s->what = fin == 2 ? "logit (input of the final Sigmoid; class 0 = its negative)"
                           : "the single output as a logit (class 0 = its negative)";
    } else {
        s->nclass = (int)n;
        s->prob = fin == 2 ? CAM_PROB_SIGMOID : CAM_PROB_SOFTMAX;
        s->what = fin == 1 ? "logit (input of the final Softmax)"
                  : fin == 2
                      ? "logit (input of the final Sigmoid)"
                      : "logit (the model output; no Softmax found, probabilities by softmax)";
    }
    return 0;
}

double cam_score_value(const struct cam_score *s, const float *logits, int cls)
{
    if (s->prob == CAM_PROB_BINARY) return cls == 1 ? logits[0] : -(double)logits[0];
    return logits[cls];
}

static double sigmoid(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

void cam_score_probs(const struct cam_score *s, const float *z, float *probs)
{
    if (s->prob == CAM_PROB_BINARY) {
        double p = sigmoid(z[0]);
        probs[0] = (float)(1.0 - p), probs[1] = (float)p;
        return;
    }
    if (s->prob == CAM_PROB_SIGMOID) {
        for (int k = 0; k < s->nlogit; k++)
            probs[k] = (float)sigmoid(z[k]);
        return;
    }
    double mx = z[0], sum = 0;
    for (int k = 1; k < s->nlogit; k++)
        mx = z[k] > mx ? z[k] : mx;
    for (int k = 0; k < s->nlogit; k++)
        sum += exp((double)z[k] - mx);
    for (int k = 0; k < s->nlogit; k++)
        probs[k] = (float)(exp((double)z[k] - mx) / sum);
}

void cam_score_seed(const struct cam_score *s, int cls, float *seed)
{
    memset(seed, 0, sizeof(float) * (size_t)s->nlogit);
    if (s->prob == CAM_PROB_BINARY)
        seed[0] = cls == 1 ? 1.0f : -1.0f;
    else
        seed[cls] = 1.0f;
}

/* ---------------------------------------------------------------- context */
int cam_layer_check(const struct model *m, int layer)
{
    char buf[96];
    if (layer < 0 || layer >= model_tensor_count(m))
        return error_set(ERR_INPUT, NULL, "no such layer");
    int64_t dims[MODEL_MAX_DIMS];
    int rank = model_tensor_shape(m, layer, dims);
    if (!model_tensor_is_activation(m, layer))
        return error_set(ERR_INPUT, NULL, "'%s' is a constant (weights), not an activation",
                         model_tensor_name(m, layer));
    if (rank != 4)
        return error_set(ERR_INPUT, NULL, "layer '%s' is %s, not a 4-D activation (N,C,H,W)",
                         model_tensor_name(m, layer),
                         model_tensor_shape_str(m, layer, buf, sizeof buf));
    return 0;
}

int cam_layer_gradient_check(const struct model *m, int layer, enum cam_method method)
{
    if (!cam_method_uses_gradients(method) || model_tensor_depends(m, model_logits(m), layer))
        return 0;
    return error_set(ERR_INPUT, NULL,
                     "layer '%s': the class score does not depend on it, so it has no "
                     "gradient (%s needs one; eigencam, scorecam and ablationcam do not)",
                     model_tensor_name(m, layer), cam_method_name(method));
}

struct cam *cam_new_batch(const struct model *m, int layer, int max_batch, int flags)
{
    struct cam_score sc;
    struct model_input_info in;
    if (cam_score_init(m, &sc) || model_input_info(m, &in)) return NULL;
    if (layer < 0) layer = model_default_cam_layer(m);
    if (layer < 0) {
        error_set(ERR_INPUT, NULL,
                  "the model has no 4-D layer before its spatial dimensions "
                  "collapse; name one with --layer");
        return NULL;
    }
    if (cam_layer_check(m, layer)) return NULL;
    if (max_batch < 1) {
        error_set(ERR_INPUT, NULL, "batch size %d", max_batch);
        return NULL;
    }
    struct cam *c = xcalloc(1, sizeof *c);
    c->m = m, c->score = sc, c->layer = layer, c->max_batch = max_batch;
    int64_t d[MODEL_MAX_DIMS];
    model_tensor_shape(m, layer, d);
    c->nhwc = graph_region_layout(m, layer) == MODEL_NHWC;
    if (c->nhwc)
        c->lh = (int)d[1], c->lw = (int)d[2], c->lc = (int)d[3];
    else
        c->lc = (int)d[1], c->lh = (int)d[2], c->lw = (int)d[3];
    c->ic = in.c, c->ih = in.h, c->iw = in.w, c->input_nhwc = in.layout == MODEL_NHWC;
    /* lean: only the layer, the scores and gradients are read;
     * CAM_LAYER_ONLY: gradients stop at the layer, what lies below runs fused */
    c->run = (flags & CAM_LAYER_ONLY)
                 ? model_run_new_bound(m, max_batch, MODEL_RUN_LEAN, layer, NULL, 0)
                 : model_run_new(m, max_batch, MODEL_RUN_BACKWARD | MODEL_RUN_LEAN, &layer, 1);
    if (!c->run) {
        free(c);
        return NULL;
    }
    size_t B = (size_t)max_batch;
    c->logits = xmalloc(sizeof(float) * (size_t)sc.nlogit * B);
    c->seed = xmalloc(sizeof(float) * (size_t)sc.nlogit * B);
    c->probs = xmalloc(sizeof(float) * (size_t)sc.nclass * B);
    c->weights = xmalloc(sizeof(float) * (size_t)(c->lc > 0 ? c->lc : 1));
    c->input = xmalloc(sizeof(float) * model_tensor_item(m, model_input(m)) * B);
    return c;
}

struct cam *cam_new(const struct model *m, int layer)
{
    return cam_new_batch(m, layer, 1, 0);
}

void cam_free(struct cam *c)
{
    if (!c) return;
    model_run_free(c->run);
    free(c->logits);
    free(c->seed);
    free(c->probs);
    free(c->weights);
    free(c->input);
    model_run_free(c->batch);
    free(c->bscratch);
    free(c);
}

void cam_weights_changed(struct cam *c)
{
    if (!c) return;
    model_run_reload_weights(c->run);
    if (c->batch) model_run_reload_weights(c->batch);
}

int cam_forward_batch(struct cam *c, const float *inputs, int n)
{
    if (n < 1 || n > c->max_batch)
        return error_set(ERR_INPUT, NULL, "batch of %d images for a context sized for %d", n,
                         c->max_batch);
    int rc = model_forward(c->run, inputs, n);
    if (rc) return rc;
    c->n = n;
    size_t K = (size_t)c->score.nlogit;
    memcpy(c->input, inputs, sizeof(float) * model_tensor_item(c->m, model_input(c->m)) * n);
    memcpy(c->logits, model_run_tensor(c->run, c->score.tensor), sizeof(float) * K * n);
    for (int i = 0; i < n; i++)
        cam_score_probs(&c->score, c->logits + i * K, c->probs + (size_t)i * c->score.nclass);
    return 0;
}

int cam_forward(struct cam *c, const float *input)
{
    return cam_forward_batch(c, input, 1);
}

int cam_pred_item(const struct cam *c, int i)
{
    const float *p = c->probs + (size_t)i * c->score.nclass;
    int best = 0;
    for (int k = 1; k < c->score.nclass; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

int cam_pred(const struct cam *c)
{
    return cam_pred_item(c, 0);
}

/* ---------------------------------------------------------------- methods */
static const char *const method_names[CAM_METHOD_COUNT] = {
    [CAM_GRADCAM] = "gradcam",           [CAM_GRADCAM_PP] = "gradcam++",
    [CAM_HIRESCAM] = "hirescam",         [CAM_XGRADCAM] = "xgradcam",
    [CAM_LAYERCAM] = "layercam",         [CAM_EIGENCAM] = "eigencam",
    [CAM_EIGENGRADCAM] = "eigengradcam", [CAM_ELEMENTWISE] = "gradcamelementwise",
    [CAM_SCORECAM] = "scorecam",         [CAM_ABLATIONCAM] = "ablationcam"};

const char *cam_method_name(enum cam_method m)
{
    return (unsigned)m < CAM_METHOD_COUNT ? method_names[m] : "?";
}

/* lower case without '-', '_' and ' ' into out (size bytes) */
static void squash(const char *s, char *out, size_t size)
{
    size_t k = 0;
    for (; *s && k + 1 < size; s++)
        if (*s != '-' && *s != '_' && *s != ' ') out[k++] = (char)tolower((unsigned char)*s);
    out[k] = 0;
}

int cam_method_parse(const char *s)
{
    char a[64], b[64];
    squash(s, a, sizeof a);
    for (int m = 0; m < CAM_METHOD_COUNT; m++) {
        squash(method_names[m], b, sizeof b);
        if (!strcmp(a, b)) return m;
    }
    if (!strcmp(a, "gradcampp") || !strcmp(a, "gradcamplusplus")) return CAM_GRADCAM_PP;
    return -1;
}

int cam_method_uses_gradients(enum cam_method m)
{
    return m != CAM_EIGENCAM && m != CAM_SCORECAM && m != CAM_ABLATIONCAM;
}

/* Item i's score and probability for class cls into info (the rest zero). */
static void info_init(const struct cam *c, int i, int cls, struct cam_info *info)
{
    memset(info, 0, sizeof *info);
    info->score = cam_score_value(&c->score, c->logits + (size_t)i * c->score.nlogit, cls);
    info->prob = c->probs[(size_t)i * c->score.nclass + cls];
}

static int class_check(const struct cam *c, int cls)
{
    if (cls < 0 || cls >= c->score.nclass)
        return error_set(ERR_INPUT, NULL, "class %d out of range (the model has %d classes)",
                         cls, c->score.nclass);
    return 0;
}

/* d score(cls[i]) / d tensor `to` for the items of the last forward (cls[i] <
 * 0: that item's seed is zero), one backward; each item's score and
 * probability into info[i] (where cls[i] >= 0). The gradient (n x item(to)),
 * or NULL with the error recorded. */
static const float *class_grads(struct cam *c, const int *cls, int to, struct cam_info *info)
{
    size_t K = (size_t)c->score.nlogit;
    memset(c->seed, 0, sizeof(float) * K * c->n);
    for (int i = 0; i < c->n; i++) {
        if (cls[i] < 0) continue;
        if (class_check(c, cls[i])) return NULL;
        cam_score_seed(&c->score, cls[i], c->seed + i * K);
    }
    if (model_backward(c->run, c->score.tensor, c->seed, to)) {
        if (error_code() == ERR_INPUT && !model_tensor_depends(c->m, c->score.tensor, to))
            error_set(ERR_INPUT, NULL,
                      "layer '%s': the class score does not depend on it, so it has no "
                      "gradient (the gradient methods need one; eigencam, scorecam and "
                      "ablationcam do not)",
                      model_tensor_name(c->m, to));
        return NULL;
    }
    for (int i = 0; i < c->n; i++)
        if (cls[i] >= 0) info_init(c, i, cls[i], &info[i]);
    return model_run_grad(c->run, to);
}

/* d score(cls) / d tensor `to` for item 0 of the last forward. */
static const float *class_grad(struct cam *c, int cls, int to, struct cam_info *info)
{
    if (class_check(c, cls)) return NULL;
    int *v = xmalloc(sizeof(int) * (size_t)(c->n > 1 ? c->n : 1));
    v[0] = cls;
    for (int i = 1; i < c->n; i++)
        v[i] = -1;
    const float *G = class_grads(c, v, to, info);
    free(v);
    return G;
}

/* The forward-only batch run of ScoreCAM and AblationCAM (made once). */
static int batch_ready(struct cam *c)
{
    if (c->batch) return 0;
    int nk = model_forward_from_keep(c->m, c->layer, NULL, 0);
    int *keep = xmalloc(sizeof(int) * (size_t)nk);
    model_forward_from_keep(c->m, c->layer, keep, nk);
    c->batch = model_run_new(c->m, CAM_BATCH, MODEL_RUN_FORWARD, keep, nk);
    free(keep);
    if (!c->batch) return error_code() ? error_code() : ERR_FAIL;
    size_t in = model_tensor_item(c->m, model_input(c->m));
    size_t ly = model_tensor_item(c->m, c->layer);
    c->bscratch = xmalloc(sizeof(float) * CAM_BATCH * (in > ly ? in : ly));
    return 0;
}

/* Bilinear resize with align_corners=True (torch's UpsamplingBilinear2d):
 * output (y, x) samples the source at (y (h-1)/(oh-1), x (w-1)/(ow-1)). */
static void resize_corners(const float *src, int h, int w, float *dst, int oh, int ow)
{
    for (int y = 0; y < oh; y++) {
        double sy = oh > 1 ? (double)y * (h - 1) / (oh - 1) : 0;
        int y0 = (int)sy, y1 = y0 + 1 < h ? y0 + 1 : y0;
        double fy = sy - y0;
        for (int x = 0; x < ow; x++) {
            double sx = ow > 1 ? (double)x * (w - 1) / (ow - 1) : 0;
            int x0 = (int)sx, x1 = x0 + 1 < w ? x0 + 1 : x0;
            double fx = sx - x0;
            double top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx;
            double bot = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
            dst[y * ow + x] = (float)(top * (1 - fy) + bot * fy);
        }
    }
}

/* ScoreCAM's weights for item i of the last forward into w (Wang et al.
 * 2020, as pytorch-grad-cam's ScoreCAM.get_cam_weights): softmax over the
 * channels of the class score of the input times each channel's upsampled,
 * min-max scaled activation A (the item's). */
static int scorecam_weights(struct cam *c, int i, int cls, const float *A, double *w)
{
    int rc = batch_ready(c);
    if (rc) return rc;
    size_t hw = (size_t)c->lh * c->lw, ihw = (size_t)c->ih * c->iw, C = (size_t)c->lc;
    size_t in = model_tensor_item(c->m, model_input(c->m));
    const float *input = c->input + (size_t)i * in;
    float *plane = xmalloc(sizeof(float) * hw), *mask = xmalloc(sizeof(float) * ihw);
    for (size_t k0 = 0; k0 < C; k0 += CAM_BATCH) {
        int nb = (int)(C - k0 < CAM_BATCH ? C - k0 : CAM_BATCH);
        for (int j = 0; j < nb; j++) {
            size_t k = k0 + (size_t)j;
            for (size_t p = 0; p < hw; p++)
                plane[p] = c->nhwc ? A[p * C + k] : A[k * hw + p];
            resize_corners(plane, c->lh, c->lw, mask, c->ih, c->iw);
            float mn = mask[0], mx = mask[0];
            for (size_t p = 1; p < ihw; p++) {
                if (mask[p] < mn) mn = mask[p];
                if (mask[p] > mx) mx = mask[p];
            }
            float *x = c->bscratch + (size_t)j * in;
            for (size_t p = 0; p < ihw; p++) {
                float v = (mask[p] - mn) / (mx - mn + 1e-8f);
                for (int ch = 0; ch < c->ic; ch++) {
                    size_t at = c->input_nhwc ? p * c->ic + ch : ch * ihw + p;
                    x[at] = input[at] * v;
                }
            }
        }
        if ((rc = model_forward(c->batch, c->bscratch, nb))) break;
        const float *z = model_run_tensor(c->batch, c->score.tensor);
        for (int j = 0; j < nb; j++)
            w[k0 + j] = cam_score_value(&c->score, z + (size_t)j * c->score.nlogit, cls);
    }
    free(plane);
    free(mask);
    if (rc) return rc;
    double mx = w[0], sum = 0;
    for (size_t k = 1; k < C; k++)
        mx = w[k] > mx ? w[k] : mx;
    for (size_t k = 0; k < C; k++)
        sum += (w[k] = exp(w[k] - mx));
    for (size_t k = 0; k < C; k++)
        w[k] /= sum;
    return 0;
}

/* AblationCAM's weights for item i into w (pytorch-grad-cam's AblationCAM with
 * ratio_channels_to_ablate 1): (s - s_k) / s, s_k the class score with
 * channel k of the layer set to the ablation value; only the layers after
 * the target layer run again (model_forward_from), CAM_BATCH channels at a
 * time. */
static int ablation_weights(struct cam *c, int i, int cls, const float *A, double *w)
{
    int rc = batch_ready(c);
    if (rc) return rc;
    size_t hw = (size_t)c->lh * c->lw, C = (size_t)c->lc, ly = hw * C;
    float mn = A[0];
    for (size_t i = 1; i < ly; i++)
        mn = A[i] < mn ? A[i] : mn;
    /* zero for the usual post-ReLU layer; else very negative (pytorch-grad-cam's
     * AblationLayer: min - 1e7, taken once here, not compounded per row) */
    float v = mn == 0.0f ? 0.0f : mn - 1e7f;
    double s = cam_score_value(&c->score, c->logits + (size_t)i * c->score.nlogit, cls);
    const float *input = c->input + (size_t)i * model_tensor_item(c->m, model_input(c->m));
    if ((rc = model_forward(c->batch, input, 1))) return rc; /* the other inputs, item 0 */
    for (size_t k0 = 0; k0 < C; k0 += CAM_BATCH) {
        int nb = (int)(C - k0 < CAM_BATCH ? C - k0 : CAM_BATCH);
        for (int j = 0; j < nb; j++) {
            float *a = c->bscratch + (size_t)j * ly;
            size_t k = k0 + (size_t)j;
            memcpy(a, A, sizeof(float) * ly);
            for (size_t p = 0; p < hw; p++)
                a[c->nhwc ? p * C + k : k * hw + p] = v;
        }
        if ((rc = model_forward_from(c->batch, c->layer, c->bscratch, nb))) return rc;
        const float *z = model_run_tensor(c->batch, c->score.tensor);
        for (int j = 0; j < nb; j++) {
            double sk = cam_score_value(&c->score, z + (size_t)j * c->score.nlogit, cls);
            w[k0 + j] = (s - sk) / s;
        }
    }
    return 0;
}

/* EigenCAM's projection of X (C x hw in the layer's layout, through AT) on
 * its first principal component into out (hw), sign fixed (cam.h). */
static int eigen_project(const struct cam *c, const float *X, const float *G, float *out)
{
    size_t hw = (size_t)c->lh * c->lw, C = (size_t)c->lc;
    double *xc = xmalloc(sizeof(double) * hw * C), *cov = xcalloc(C * C, sizeof(double));
    double *v = xmalloc(sizeof(double) * C), ev;
    for (size_t k = 0; k < C; k++) { /* hw x C, NaN as 0, centred per channel */
        double mean = 0;
        for (size_t p = 0; p < hw; p++) {
            size_t at = c->nhwc ? p * C + k : k * hw + p;
            double x = G ? (double)G[at] * X[at] : X[at];
            xc[p * C + k] = isfinite(x) ? x : 0;
            mean += xc[p * C + k];
        }
        mean /= (double)hw;
        for (size_t p = 0; p < hw; p++)
            xc[p * C + k] -= mean;
    }
    for (size_t p = 0; p < hw; p++)
        for (size_t a = 0; a < C; a++) {
            double xa = xc[p * C + a];
            if (xa != 0)
                for (size_t b = a; b < C; b++)
                    cov[a * C + b] += xa * xc[p * C + b];
        }
    int rc = 0;
#ifdef INTERP_NO_BLAS
    (void)ev;
    rc = error_set(ERR_INPUT, NULL, "EigenCAM needs LAPACK, which the WebAssembly build lacks");
    if (rc == 0) {
#else
    lapack_int found, isuppz[2];
    lapack_int info =
        LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)C, cov, (lapack_int)C, 0, 0,
                       (lapack_int)C, (lapack_int)C, 0, &found, &ev, v, 1, isuppz);
    if (info != 0 || found != 1) {
        rc = error_set(ERR_FAIL, NULL, "EigenCAM: LAPACKE_dsyevr failed (info %d)", (int)info);
    } else {
#endif
        double mn = INFINITY, mx = -INFINITY;
        for (size_t p = 0; p < hw; p++) {
            double s = 0;
            for (size_t k = 0; k < C; k++)
                s += xc[p * C + k] * v[k];
            out[p] = (float)s;
            mn = s < mn ? s : mn, mx = s > mx ? s : mx;
        }
        if (fabs(mn) > fabs(mx))
            for (size_t p = 0; p < hw; p++)
                out[p] = -out[p];
    }
    free(xc);
    free(cov);
    free(v);
    return rc;
}

/* The map of item i for class cls from G, the batch's gradient at the layer
 * (NULL for the methods without gradients); info's score and probability
 * already set. 0 or an error (ScoreCAM's and AblationCAM's forwards,
 * EigenCAM's solver). */
static int map_of_item(struct cam *c, int i, int cls, enum cam_method method, const float *G,
                       float *map, struct cam_info *info)
{
    size_t hw = (size_t)c->lh * c->lw, C = (size_t)c->lc;
    const float *A = model_run_tensor(c->run, c->layer) + (size_t)i * hw * C;
    if (G) G += (size_t)i * hw * C;
    /* element (k, p) of a C x HW map in either layout */
#define AT(X, k, p) ((X)[c->nhwc ? (p)*C + (k) : (k)*hw + (p)])
    int zero_grad = G != NULL, rc = 0;
    for (size_t k = 0; k < C && G && zero_grad; k++)
        for (size_t p = 0; p < hw && zero_grad; p++)
            if (AT(G, k, p) != 0) zero_grad = 0;
    memset(c->weights, 0, sizeof(float) * C);
    switch (method) {
    case CAM_HIRESCAM:
    case CAM_LAYERCAM:
    case CAM_ELEMENTWISE:
        for (size_t p = 0; p < hw; p++) {
            double s = 0;
            for (size_t k = 0; k < C; k++) {
                double g = AT(G, k, p), a = AT(A, k, p);
                if (method == CAM_HIRESCAM)
                    s += g * a; /* HiResCAM: sum_k G * A */
                else if (method == CAM_LAYERCAM)
                    s += (g > 0 ? g : 0) * a; /* LayerCAM: sum_k relu(G) * A */
                else
                    s += g * a > 0 ? g * a : 0; /* element-wise: sum_k relu(G * A) */
            }
            map[p] = s > 0 ? (float)s : 0.0f;
        }
        break;
    case CAM_EIGENCAM:
    case CAM_EIGENGRADCAM:
        rc = eigen_project(c, A, method == CAM_EIGENGRADCAM ? G : NULL, map);
        for (size_t p = 0; p < hw && !rc; p++)
            map[p] = map[p] > 0 ? map[p] : 0.0f;
        break;
    default: { /* a weight per channel, then ReLU(sum_k w_k A_k) */
        double *w = xcalloc(C ? C : 1, sizeof(double));
        if (method == CAM_SCORECAM)
            rc = scorecam_weights(c, i, cls, A, w);
        else if (method == CAM_ABLATIONCAM)
            rc = ablation_weights(c, i, cls, A, w);
        else
            for (size_t k = 0; k < C; k++) {
                if (method == CAM_GRADCAM) {
                    /* Grad-CAM eq. 1: alpha_k = 1/Z sum_ij dy/dA_kij */
                    for (size_t p = 0; p < hw; p++)
                        w[k] += AT(G, k, p);
                    w[k] /= (double)hw;
                } else if (method == CAM_XGRADCAM) {
                    /* XGradCAM: sum_p G A / (sum_p A + eps) */
                    double sa = 0, sga = 0;
                    for (size_t p = 0; p < hw; p++)
                        sa += AT(A, k, p), sga += (double)AT(G, k, p) * AT(A, k, p);
                    w[k] = sga / (sa + 1e-7);
                } else {
                    /* Grad-CAM++ eq. 19 with exp(S) cancelled (pytorch-grad-cam):
                     * a_kij = g^2 / (2 g^2 + sum_ab A_kab g^3 + eps), zero where g = 0;
                     * w_k = sum_ij a_kij relu(g_kij). */
                    double sa = 0;
                    for (size_t p = 0; p < hw; p++)
                        sa += AT(A, k, p);
                    for (size_t p = 0; p < hw; p++) {
                        double g = AT(G, k, p);
                        if (g <= 0) continue; /* relu(g) = 0; a_kij = 0 where g = 0 */
                        double g2 = g * g, g3 = g2 * g;
                        w[k] += g * (g2 / (2 * g2 + sa * g3 + 1e-6));
                    }
                }
            }
        for (size_t k = 0; k < C && !rc; k++)
            c->weights[k] = (float)w[k];
        for (size_t p = 0; p < hw && !rc; p++) {
            double s = 0;
            for (size_t k = 0; k < C; k++)
                s += w[k] * AT(A, k, p);
            map[p] = s > 0 ? (float)s : 0.0f; /* eq. 2: ReLU */
        }
        free(w);
    }
    }
#undef AT
    if (rc) return rc;
    cam_map_check(map, hw, zero_grad, info);
    return 0;
}

int cam_map(struct cam *c, int cls, enum cam_method method, float *map, struct cam_info *info)
{
    if ((unsigned)method >= CAM_METHOD_COUNT)
        return error_set(ERR_INPUT, NULL, "unknown CAM method %d", (int)method);
    const float *G = NULL;
    if (cam_method_uses_gradients(method)) {
        if (!(G = class_grad(c, cls, c->layer, info)))
            return error_code() ? error_code() : ERR_FAIL;
    } else {
        if (class_check(c, cls)) return ERR_INPUT;
        info_init(c, 0, cls, info);
    }
    return map_of_item(c, 0, cls, method, G, map, info);
}

int cam_map_batch(struct cam *c, const int *cls, enum cam_method method, float *maps,
                  struct cam_info *info)
{
    if ((unsigned)method >= CAM_METHOD_COUNT)
        return error_set(ERR_INPUT, NULL, "unknown CAM method %d", (int)method);
    const float *G = NULL;
    if (cam_method_uses_gradients(method)) {
        if (!(G = class_grads(c, cls, c->layer, info)))
            return error_code() ? error_code() : ERR_FAIL;
    } else {
        for (int i = 0; i < c->n; i++) {
            if (cls[i] < 0) continue;
            if (class_check(c, cls[i])) return ERR_INPUT;
            info_init(c, i, cls[i], &info[i]);
        }
    }
    size_t hw = (size_t)c->lh * c->lw;
    for (int i = 0; i < c->n; i++) {
        float *map = maps + (size_t)i * hw;
        if (cls[i] < 0) { /* no class: a zero map */
            memset(map, 0, sizeof(float) * hw);
            memset(&info[i], 0, sizeof info[i]);
            cam_map_check(map, hw, 1, &info[i]);
            continue;
        }
        int rc = map_of_item(c, i, cls[i], method, G, map, &info[i]);
        if (rc) return rc;
    }
    return 0;
}

/* The saliency of item i from G, the batch's gradient at the input. */
static void saliency_of_item(struct cam *c, int i, const float *G, float *map,
                             struct cam_info *info)
{
    size_t hw = (size_t)c->ih * c->iw;
    G += (size_t)i * hw * c->ic;
    int zero_grad = 1;
    for (size_t p = 0; p < hw; p++) {
        float best = 0;
        for (int k = 0; k < c->ic; k++) {
            float g = fabsf(c->input_nhwc ? G[p * c->ic + k] : G[k * hw + p]);
            if (g > best) best = g;
        }
        if (best != 0) zero_grad = 0;
        map[p] = best;
    }
    cam_map_check(map, hw, zero_grad, info);
    if (info->flag == CAM_FLAG_ZERO)
        info->reason = "the gradient of the class score with respect to the input is zero "
                       "(dead or saturated units)";
}

int cam_saliency(struct cam *c, int cls, float *map, struct cam_info *info)
{
    const float *G = class_grad(c, cls, model_input(c->m), info);
    if (!G) return error_code() ? error_code() : ERR_FAIL;
    saliency_of_item(c, 0, G, map, info);
    return 0;
}

int cam_saliency_batch(struct cam *c, const int *cls, float *maps, struct cam_info *info)
{
    const float *G = class_grads(c, cls, model_input(c->m), info);
    if (!G) return error_code() ? error_code() : ERR_FAIL;
    size_t hw = (size_t)c->ih * c->iw;
    for (int i = 0; i < c->n; i++)
        saliency_of_item(c, i, G, maps + (size_t)i * hw, &info[i]);
    return 0;
}

void cam_map_check(const float *map, size_t n, int zero_grad, struct cam_info *info)
{
    double mn = INFINITY, mx = -INFINITY;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(map[i])) {
            finite = 0;
            continue;
        }
        if (map[i] < mn) mn = map[i];
        if (map[i] > mx) mx = map[i];
    }
    info->min = mn, info->max = mx;
    info->flag = CAM_FLAG_NONE, info->reason = NULL;
    if (!finite) {
        info->flag = CAM_FLAG_NONFINITE;
        info->reason = "NaN or infinite values: the model overflowed on this input";
    } else if (mx == 0 && mn == 0) {
        info->flag = CAM_FLAG_ZERO;
        info->reason = zero_grad ? "the gradient of the class score is zero at this layer "
                                   "(dead ReLUs or saturated "
                                   "units between the layer and the score)"
                                 : "no positive evidence: every channel-weighted sum is <= 0 "
                                   "and the ReLU removes it "
                                   "(usual for a class the model rejects; try the predicted "
                                   "class or another --layer)";
    } else if (mx == mn) {
        info->flag = CAM_FLAG_CONSTANT;
        info->reason = n == 1 ? "the layer is 1x1: a single value has no spatial information"
                              : "the map is constant: the layer has no spatial variation here";
    }
}

void cam_upsample(const float *map, int h, int w, float *out, int oh, int ow)
{
    plane_resize_bilinear(map, h, w, out, oh, ow);
}
