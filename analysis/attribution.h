/* attribution.h - input attributions with Captum's definitions: Integrated
 * Gradients, SmoothGrad, Gradient x Input, Guided Backpropagation and Guided
 * Grad-CAM, for one image at a time over a model loaded once.
 *
 *     struct attr_params p = attr_params_default();
 *     struct attr *a = attr_new(m, &prep, &p);          // NULL + error
 *     attr_forward(a, x);                               // one input item
 *     float *at = xmalloc(sizeof(float) * a->item);     // model layout
 *     float *map = xmalloc(sizeof(float) * a->in.h * a->in.w);
 *     struct attr_info info;
 *     attr_map(a, attr_pred(a), ATTR_IG, at, map, &info);
 *     ... info.gap: sum(at) - (f(x) - f(baseline)) ...
 *     attr_free(a);
 *
 * The class score f is the one Grad-CAM uses (cam.h: the logit before a
 * final Softmax/Sigmoid; a single sigmoid output's class 0 is its negative).
 * Attributions are computed in the model's input space (after --scale,
 * --mean, --std), one value per input element; the 2-D map is their sum over
 * the channels, as Captum's visualize_image_attr reduces them.
 */
#ifndef INTERP_ATTRIBUTION_H
#define INTERP_ATTRIBUTION_H

#include <stddef.h>
#include <stdint.h>

#include "../core/model.h"
#include "cam.h"

enum attr_method {
    /* Integrated Gradients (Sundararajan et al. 2017; Captum's
     * IntegratedGradients): (x - x') * sum_i s_i df/dx(x' + a_i (x - x')),
     * the step sizes s_i and points a_i of params.integration */
    ATTR_IG,
    /* SmoothGrad (Smilkov et al. 2017; Captum's NoiseTunnel over Saliency,
     * abs=True): mean over samples of |df/dx(x + N(0, noise^2))| */
    ATTR_SMOOTHGRAD,
    ATTR_GXI, /* Gradient x Input (Captum's InputXGradient): x * df/dx */
    /* Guided Backpropagation (Springenberg et al. 2015; Captum's
     * GuidedBackprop): df/dx with every ReLU's gradient relu(dout * (x > 0)) */
    ATTR_GUIDED_BP,
    /* Guided Grad-CAM (Selvaraju et al. 2017; Captum's GuidedGradCam):
     * guided backpropagation times Grad-CAM at params.layer (ReLU'd),
     * upsampled to the input by nearest neighbour (Captum's default
     * interpolate_mode) */
    ATTR_GUIDED_GRADCAM,
    ATTR_METHOD_COUNT
};

/* "ig", "smoothgrad", "gxi", "guided-backprop", "guided-gradcam". */
const char *attr_method_name(enum attr_method m);
/* The method named s (those names or "integrated-gradients",
 * "input-x-gradient", "gradient-x-input", "guidedbp", "guided-bp",
 * "guided-grad-cam"; case, '-', '_' ignored), or -1. */
int attr_method_parse(const char *s);

/* IG's baseline x': an image of pixel value 0 (black) or 0.5 (gray) in [0,1]
 * pixel space, taken through the model's preprocessing; or the image
 * blurred by attr_blur. */
enum attr_baseline { ATTR_BASE_BLACK, ATTR_BASE_GRAY, ATTR_BASE_BLUR };
const char *attr_baseline_name(enum attr_baseline b); /* "black", "gray", "blur" */
int attr_baseline_parse(const char *s);               /* or -1 */

/* Captum's approximation methods for IG's integral, n = steps:
 * gausslegendre (its default): a_i = (1 + t_i) / 2, s_i = w_i / 2 for the
 * n-point Gauss-Legendre nodes t_i and weights w_i on [-1, 1];
 * riemann_left/right/middle: a_i = i/n, (i+1)/n, (i+1/2)/n, s_i = 1/n;
 * riemann_trapezoid: a_i = i/(n-1), s_i = 1/n with the two ends halved
 * (Captum's; their sum is 1 - 1/n). */
enum attr_integration {
    ATTR_GAUSS_LEGENDRE,
    ATTR_RIEMANN_LEFT,
    ATTR_RIEMANN_RIGHT,
    ATTR_RIEMANN_MIDDLE,
    ATTR_RIEMANN_TRAPEZOID
};
const char *attr_integration_name(enum attr_integration i); /* Captum's names */
int attr_integration_parse(const char *s);                  /* or -1 */
/* The n points a (in [0, 1]) and step sizes s of method i. n >= 1
 * (the Riemann rules need n >= 2). */
void attr_integration_points(enum attr_integration i, int n, double *a, double *s);

#define ATTR_STEPS_MAX   10000
#define ATTR_SAMPLES_MAX 10000

struct attr_params {
    int steps;                         /* IG: 50, 1..ATTR_STEPS_MAX */
    enum attr_integration integration; /* IG: gausslegendre */
    enum attr_baseline baseline;       /* IG: black */
    int samples;                       /* SmoothGrad: 25, 1..ATTR_SAMPLES_MAX */
    /* SmoothGrad's noise standard deviation in the model's input units
     * (Captum's stdevs); NaN (default): 0.15 x (max - min) of the image,
     * Smilkov et al.'s 15% noise level */
    double noise;
    uint64_t seed; /* SmoothGrad's noise: core/rng.h seeded with it (default 0) */
    int layer;     /* Guided Grad-CAM's layer: -1 = the default CAM layer */
    int batch;     /* items per forward/backward pass (default 16) */
};
struct attr_params attr_params_default(void);

struct attr_info {
    double score, prob; /* f(x) and the class probability */
    double f_base;      /* IG: f(baseline) */
    double sum;         /* sum of the attribution */
    double gap;         /* IG: completeness gap sum - (f(x) - f(baseline)) */
    double noise;       /* SmoothGrad: the standard deviation used */
    double min, max;    /* of the map */
    enum cam_flag flag;
    const char *reason;
};

struct attr {
    const struct model *m;
    struct attr_params p;
    struct cam_score score;
    struct model_input_info in;
    size_t item;             /* floats per input item */
    float pk[4], pb[4];      /* pixel v in [0,1] -> v * pk[c] + pb[c] in model units */
    struct model_run *run;   /* backward, p.batch items */
    struct cam *cam;         /* Guided Grad-CAM's Grad-CAM (made on first use) */
    float *x;                /* the input of the last attr_forward */
    float *logits, *probs;   /* of the last attr_forward */
    float *buf, *seed, *acc; /* scratch: batch x item, batch x nlogit, item (double-free) */
};

/* A context for model m with preprocessing prep (for the black and gray
 * baselines) and parameters p (checked: ERR_INPUT naming the value for
 * steps, samples, batch or noise out of range, and for a Riemann rule with
 * one step). NULL with the error recorded. Free with attr_free; m must
 * outlive it. */
struct attr *attr_new(const struct model *m, const struct model_prep *prep,
                      const struct attr_params *p);
void attr_free(struct attr *a); /* NULL is a no-op */

/* Forward pass of one item x (a->item floats, model layout); keeps x, the
 * logits and probabilities. 0 or an error. */
int attr_forward(struct attr *a, const float *x);
int attr_pred(const struct attr *a); /* the predicted class of the last forward */

/* The attribution of class cls (0 .. score.nclass-1) by method after
 * attr_forward: a->item floats into attr (model layout; may be NULL) and the
 * h x w map (sum over channels) into map, with info. 0, or ERR_INPUT for a
 * class out of range (Guided Grad-CAM: a bad layer). */
int attr_map(struct attr *a, int cls, enum attr_method method, float *attr, float *map,
             struct attr_info *info);

/* After the model's weights changed in place (a re-initialised clone):
 * refolds the runs' fused convolutions. */
void attr_weights_changed(struct attr *a);

/* IG's baseline for the last forward's image into out (a->item floats). */
void attr_baseline_fill(const struct attr *a, enum attr_baseline b, float *out);

/* Petsiuk et al. 2018's blur (RISE's evaluation.py, gkern(11, 5)): each
 * channel convolved with an 11 x 11 kernel, scipy's gaussian_filter (sigma
 * 5, truncate 4, mode reflect) of a centred delta, with zero padding, in the
 * model's input space. x and out: one item in the layout of `in` (distinct
 * buffers). */
void attr_blur(const struct model_input_info *in, const float *x, float *out);

#endif
