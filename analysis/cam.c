/* cam.c - Grad-CAM, Grad-CAM++ and input-gradient saliency over the model
 * engine's forward and backward passes (a batch of images through one
 * forward and one backward), the class-score conventions (logit, binary
 * single-logit models) and the check for blank maps.
 */
#include "cam.h"

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
    /* CAM_LAYER_ONLY: gradients stop at the layer, what lies below runs fused */
    c->run = (flags & CAM_LAYER_ONLY)
                 ? model_run_new_grad(m, max_batch, layer, NULL, 0)
                 : model_run_new(m, max_batch, MODEL_RUN_BACKWARD, NULL, 0);
    if (!c->run) {
        free(c);
        return NULL;
    }
    size_t B = (size_t)max_batch;
    c->logits = xmalloc(sizeof(float) * (size_t)sc.nlogit * B);
    c->seed = xmalloc(sizeof(float) * (size_t)sc.nlogit * B);
    c->probs = xmalloc(sizeof(float) * (size_t)sc.nclass * B);
    c->weights = xmalloc(sizeof(float) * (size_t)(c->lc > 0 ? c->lc : 1));
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
    free(c);
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
        if (cls[i] >= c->score.nclass) {
            error_set(ERR_INPUT, NULL, "class %d out of range (the model has %d classes)",
                      cls[i], c->score.nclass);
            return NULL;
        }
        cam_score_seed(&c->score, cls[i], c->seed + i * K);
    }
    if (model_backward(c->run, c->score.tensor, c->seed, to)) return NULL;
    for (int i = 0; i < c->n; i++) {
        if (cls[i] < 0) continue;
        memset(&info[i], 0, sizeof info[i]);
        info[i].score = cam_score_value(&c->score, c->logits + i * K, cls[i]);
        info[i].prob = c->probs[(size_t)i * c->score.nclass + cls[i]];
    }
    return model_run_grad(c->run, to);
}

/* d score(cls) / d tensor `to` for item 0 of the last forward. */
static const float *class_grad(struct cam *c, int cls, int to, struct cam_info *info)
{
    if (cls < 0 || cls >= c->score.nclass) {
        error_set(ERR_INPUT, NULL, "class %d out of range (the model has %d classes)", cls,
                  c->score.nclass);
        return NULL;
    }
    int *v = xmalloc(sizeof(int) * (size_t)(c->n > 1 ? c->n : 1));
    v[0] = cls;
    for (int i = 1; i < c->n; i++)
        v[i] = -1;
    const float *G = class_grads(c, v, to, info);
    free(v);
    return G;
}

/* The map of item i from G, the batch's gradient at the layer. */
static void map_of_item(struct cam *c, int i, enum cam_method method, const float *G,
                        float *map, struct cam_info *info)
{
    size_t hw = (size_t)c->lh * c->lw, C = (size_t)c->lc;
    const float *A = model_run_tensor(c->run, c->layer) + (size_t)i * hw * C;
    G += (size_t)i * hw * C;
    /* element (k, p) of a C x HW map in either layout */
#define AT(X, k, p) ((X)[c->nhwc ? (p)*C + (k) : (k)*hw + (p)])
    int zero_grad = 1;
    for (size_t k = 0; k < C; k++) {
        double w = 0;
        if (method == CAM_GRADCAM) {
            /* Grad-CAM eq. 1: alpha_k = 1/Z sum_ij dy/dA_kij */
            for (size_t p = 0; p < hw; p++)
                w += AT(G, k, p);
            w /= (double)hw;
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
                w += g * (g2 / (2 * g2 + sa * g3 + 1e-6));
            }
        }
        for (size_t p = 0; p < hw && zero_grad; p++)
            if (AT(G, k, p) != 0) zero_grad = 0;
        c->weights[k] = (float)w;
    }
    for (size_t p = 0; p < hw; p++) {
        double s = 0;
        for (size_t k = 0; k < C; k++)
            s += (double)c->weights[k] * AT(A, k, p);
        map[p] = s > 0 ? (float)s : 0.0f; /* eq. 2: ReLU */
    }
#undef AT
    cam_map_check(map, hw, zero_grad, info);
}

int cam_map(struct cam *c, int cls, enum cam_method method, float *map, struct cam_info *info)
{
    const float *G = class_grad(c, cls, c->layer, info);
    if (!G) return error_code() ? error_code() : ERR_FAIL;
    map_of_item(c, 0, method, G, map, info);
    return 0;
}

int cam_map_batch(struct cam *c, const int *cls, enum cam_method method, float *maps,
                  struct cam_info *info)
{
    const float *G = class_grads(c, cls, c->layer, info);
    if (!G) return error_code() ? error_code() : ERR_FAIL;
    size_t hw = (size_t)c->lh * c->lw;
    for (int i = 0; i < c->n; i++)
        map_of_item(c, i, method, G, maps + (size_t)i * hw, &info[i]);
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
