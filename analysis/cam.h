/* cam.h - class activation maps: Grad-CAM, Grad-CAM++ and the rest of
 * pytorch-grad-cam's CAM family (HiResCAM, XGradCAM, LayerCAM, EigenCAM,
 * EigenGradCAM, GradCAMElementWise, ScoreCAM, AblationCAM), and
 * input-gradient saliency, one image or a batch at a time, over a model
 * loaded once.
 *
 *     struct cam *c = cam_new(m, -1);                 // default layer
 *     cam_forward(c, x);                              // one input item
 *     struct cam_info info;
 *     float *map = xmalloc(sizeof(float) * c->lh * c->lw);
 *     cam_map(c, cam_pred(c), CAM_GRADCAM, map, &info);
 *     if (info.flag) ... info.reason ...
 *     cam_free(c);
 *
 * In batches (one forward and one backward for n images; CAM_LAYER_ONLY lets
 * the layers below the Grad-CAM layer run fused):
 *
 *     struct cam *c = cam_new_batch(m, -1, 64, CAM_LAYER_ONLY);
 *     cam_forward_batch(c, xs, n);                    // n <= 64 input items
 *     for (int i = 0; i < n; i++) cls[i] = cam_pred_item(c, i);
 *     cam_map_batch(c, cls, CAM_GRADCAM, maps, infos); // n x lh x lw, n infos
 *
 * Conventions (DESIGN.md): the class score is the pre-softmax logit; Grad-CAM
 * weights are the spatial mean of d score / d A (Selvaraju et al. 2017, eq. 1)
 * and the map is ReLU(sum_k w_k A_k) (eq. 2); Grad-CAM++ weights are the
 * closed form of Chattopadhay et al. 2018 (eq. 19) with the exp factor
 * cancelled, as pytorch-grad-cam computes them. The other methods follow
 * pytorch-grad-cam's definitions (see enum cam_method). Every map is
 * ReLU'd as pytorch-grad-cam's BaseCAM does, but raw (not normalised to
 * [0,1]); cam_upsample resizes them with half-pixel centres.
 */
#ifndef INTERP_CAM_H
#define INTERP_CAM_H

#include <stddef.h>

#include "../core/model.h"

/* ---- class scores ---- */
enum cam_prob {
    CAM_PROB_SOFTMAX, /* probabilities: softmax over the logits */
    CAM_PROB_SIGMOID, /* per-logit sigmoid (a final Sigmoid with several outputs) */
    CAM_PROB_BINARY,  /* one logit z: class 1 = z, class 0 = -z, p1 = sigmoid(z) */
};

struct cam_score {
    int tensor; /* the score tensor (logits), n x nlogit */
    int nlogit; /* floats per item in it */
    int nclass; /* classes to choose among: nlogit, or 2 for one logit */
    enum cam_prob prob;
    const char *what; /* which score is used, for reports (static string) */
};

/* Finds the class scores of m: the input of a final Softmax or Sigmoid (also
 * through Identity/Dropout), else the output itself ("output: no logit
 * before it"). 0, or ERR_INPUT when the output is not a vector per item. */
int cam_score_init(const struct model *m, struct cam_score *s);
/* The score of class cls from one item's logits (z[cls]; binary: +-z). */
double cam_score_value(const struct cam_score *s, const float *logits, int cls);
/* One item's nclass probabilities from its logits (computed in double). */
void cam_score_probs(const struct cam_score *s, const float *logits, float *probs);
/* d score(cls) / d logits for one item: nlogit floats. */
void cam_score_seed(const struct cam_score *s, int cls, float *seed);

/* ---- maps ---- */
/* A = the layer's activations (C x h x w), G = d score / d A, sums over the
 * h x w positions p; every map is then max(map, 0). */
enum cam_method {
    CAM_GRADCAM,      /* w_k = mean_p G_kp; map = sum_k w_k A_k */
    CAM_GRADCAM_PP,   /* Grad-CAM++ weights (Chattopadhay et al. 2018, eq. 19) */
    CAM_HIRESCAM,     /* map = sum_k G_k * A_k (Draelos & Carin 2020) */
    CAM_XGRADCAM,     /* w_k = sum_p G_kp A_kp / (sum_p A_kp + 1e-7) (Fu et al. 2020) */
    CAM_LAYERCAM,     /* map = sum_k max(G_k, 0) * A_k (Jiang et al. 2021) */
    CAM_EIGENCAM,     /* projection of A on its first principal component (Muhammad
                         & Yeasin 2020): the (hw x C) matrix centred per channel,
                         times its first right singular vector; sign below */
    CAM_EIGENGRADCAM, /* the same of G * A */
    CAM_ELEMENTWISE,  /* GradCAMElementWise: map = sum_k max(G_k * A_k, 0) */
    CAM_SCORECAM,     /* w = softmax_k(score of the input times mask_k) (Wang et
                         al. 2020): mask_k = A_k upsampled bilinearly with
                         align_corners=True (torch's UpsamplingBilinear2d, as
                         pytorch-grad-cam does), min-max scaled with 1e-8 */
    CAM_ABLATIONCAM,  /* w_k = (s - s_k) / s (Desai & Ramaswamy 2020): s the
                         score, s_k with channel k set to 0 (or to min(A) - 1e7
                         when min(A) != 0), recomputed from the layer on */
    CAM_METHOD_COUNT
};
/* EigenCAM's sign: the singular vector's sign is arbitrary (LAPACK's, which
 * pytorch-grad-cam's EigenCAM keeps as it comes); interp flips the
 * projection when |min| > |max|, so that its largest-magnitude value is
 * positive: the rule of the same package's
 * get_2d_projection_with_sign_correction (Seg-Eigen-CAM, Chung & Ying 2025,
 * eq. 13). The ReLU then keeps that side. */

/* "gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam",
 * "eigengradcam", "gradcamelementwise", "scorecam", "ablationcam". */
const char *cam_method_name(enum cam_method m);
/* The method named s (the names above, case-insensitive, '-' and '_'
 * ignored: "Grad-CAM++", "score_cam"), or -1. */
int cam_method_parse(const char *s);
/* 1 when the method needs d score / d A (all but EigenCAM, ScoreCAM and
 * AblationCAM). */
int cam_method_uses_gradients(enum cam_method m);

enum cam_flag {
    CAM_FLAG_NONE = 0,
    CAM_FLAG_ZERO,     /* every value is 0 */
    CAM_FLAG_CONSTANT, /* every value equal (and not 0) */
    CAM_FLAG_NONFINITE /* NaN or infinity somewhere */
};

struct cam_info {
    double score, prob; /* class score (logit) and probability */
    double min, max;    /* of the map */
    enum cam_flag flag;
    const char *reason; /* when flagged: the likely cause (static string), else NULL */
};

struct cam {
    const struct model *m;
    struct cam_score score;
    int layer;      /* tensor id of the layer */
    int nhwc;       /* the layer is laid out N x H x W x C */
    int lc, lh, lw; /* its channels and size */
    int ic, ih, iw; /* the input's channels and size */
    int input_nhwc;
    struct model_run *run;
    int max_batch, n;      /* images per forward at most, and in the last one */
    float *logits, *probs; /* of the last forward: n x nlogit, n x nclass */
    float *seed;           /* scratch: max_batch x nlogit */
    float *weights;        /* scratch: lc (the last map's channel weights) */
    float *input;          /* the inputs of the last forward: n x item(input) */
    /* ScoreCAM and AblationCAM, made on first use: a forward-only run of
     * CAM_BATCH items keeping the layer, and its input/activation scratch */
    struct model_run *batch;
    float *bscratch;
};

/* Items per forward of ScoreCAM's masked inputs and AblationCAM's ablated
 * activations. */
#define CAM_BATCH 16

/* Checks that `layer` (a tensor id) can be used for Grad-CAM: a 4-D
 * activation that the class scores depend on. ERR_INPUT naming the tensor and
 * its shape otherwise. */
int cam_layer_check(const struct model *m, int layer);

/* For a method that needs gradients (cam_method_uses_gradients): 0 when the
 * class scores depend on the layer, else ERR_INPUT naming the layer and
 * saying that it has no gradient. */
int cam_layer_gradient_check(const struct model *m, int layer, enum cam_method method);

/* A context for model m at tensor `layer` (-1: model_default_cam_layer; when
 * the model has none, ERR_INPUT "no 4-D layer ... --layer") for one image at
 * a time; maps and saliency both work. NULL with the error recorded. Free
 * with cam_free; m must outlive it. */
struct cam *cam_new(const struct model *m, int layer);
/* The same for batches of up to max_batch images. flags CAM_LAYER_ONLY:
 * gradients go down to the layer only (model_run_new_bound), so the layers
 * below it run fused, as in a forward-only run; cam_saliency then works only
 * when the layer is the input. */
enum { CAM_LAYER_ONLY = 1 };
struct cam *cam_new_batch(const struct model *m, int layer, int max_batch, int flags);
void cam_free(struct cam *c); /* NULL is a no-op */
/* After the model's weights changed in place (a re-initialised clone):
 * refolds the runs' convolutions (model_run_reload_weights). */
void cam_weights_changed(struct cam *c);

/* Forward pass of one item (model_tensor_item(model_input) floats, model
 * layout); fills c->logits and c->probs. 0 or an error. */
int cam_forward(struct cam *c, const float *input);
/* The same for n items (1 <= n <= max_batch) one after another in inputs;
 * c->logits and c->probs get n rows. */
int cam_forward_batch(struct cam *c, const float *inputs, int n);
/* The predicted class of the last forward's item 0 (highest probability). */
int cam_pred(const struct cam *c);
/* ... and of its item i. */
int cam_pred_item(const struct cam *c, int i);

/* The map of class cls (0 .. score.nclass-1) after cam_forward: lh x lw
 * floats into map, ReLU applied, and info (score, probability, min/max, the
 * flag with its reason). c->weights holds the lc channel weights of the
 * methods that have them (Grad-CAM, Grad-CAM++, XGradCAM, ScoreCAM,
 * AblationCAM). 0, or ERR_INPUT for a class out of range or, for a method
 * that needs gradients, a layer the class score does not depend on. */
int cam_map(struct cam *c, int cls, enum cam_method method, float *map, struct cam_info *info);
/* The maps of every item of the last forward, item i for class cls[i]
 * (cls[i] < 0: a zero map), the gradient methods by one backward (EigenCAM
 * needs none; ScoreCAM and AblationCAM run their own forwards item by item,
 * CAM_BATCH masks or channels at a time): n x lh x lw floats into maps, n
 * infos. cam_map is item 0 of this (after a batch forward the other items'
 * seeds are zero). Errors as cam_map. */
int cam_map_batch(struct cam *c, const int *cls, enum cam_method method, float *maps,
                  struct cam_info *info);

/* Saliency of class cls after cam_forward: ih x iw floats, max over channels
 * of |d score / d input| (Simonyan et al. 2014, sec. 3.1). info as cam_map. */
int cam_saliency(struct cam *c, int cls, float *map, struct cam_info *info);
/* The same for every item: n x ih x iw floats, n infos. */
int cam_saliency_batch(struct cam *c, const int *cls, float *maps, struct cam_info *info);

/* Sets min/max, flag and reason of a map (n floats). zero_grad: the gradient
 * was identically zero (a more specific reason). */
void cam_map_check(const float *map, size_t n, int zero_grad, struct cam_info *info);

/* Bilinear resize with half-pixel centres (plane_resize_bilinear). */
void cam_upsample(const float *map, int h, int w, float *out, int oh, int ow);

#endif
