/* model.h - an image classifier (ONNX, Keras .keras or legacy .h5): load it,
 * describe it, run it forward on batches of images, and differentiate a
 * class score down to any tensor.
 *
 *     struct model *m = model_load("net.onnx");          // NULL + error on failure
 *     struct model_run *r = model_run_new(m, 16, MODEL_RUN_BACKWARD, NULL, 0);
 *     model_forward(r, x, n);                            // x: n inputs, model layout
 *     const float *logits = model_run_tensor(r, model_logits(m));   // n x K
 *     int cam = model_default_cam_layer(m);
 *     model_backward_class(r, classes, cam);             // d logit[i][classes[i]]
 *     const float *g = model_run_grad(r, cam);           // n x item(cam)
 *     model_run_free(r); model_free(m);
 *
 * Tensors are referred to by id (0 .. model_tensor_count-1). Activations have
 * a leading batch dimension, reported as -1 by model_tensor_shape; data of a
 * run is n items of model_tensor_item() floats each, C order.
 */
#ifndef INTERP_MODEL_H
#define INTERP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

#define MODEL_MAX_DIMS 6

struct model;
struct model_run;

/* Loads a model file, recognised by its content: a Keras 3 .keras archive
 * (zip) or a legacy Keras .h5 (HDF5), else ONNX (opsets 9-17), whatever its
 * name. NULL with ERR_INPUT (path = the file, the message naming the node or
 * layer and the reason) for anything the engine cannot run: unsupported op,
 * layer or attribute value, external weights, cycles, missing inputs,
 * weights that do not match their shape, a file over --max-model-size;
 * ERR_FAIL for I/O. Registers the path as an input. Free with model_free. */
struct model *model_load(const char *path);
/* Same from memory (fuzzing); `name` is used in messages. */
struct model *model_parse(const void *buf, size_t len, const char *name);
void model_free(struct model *m); /* NULL is a no-op */
/* A copy of m with weights of its own (every float constant), for
 * model_weight_layer_randomize; shares names and structure with m, so m
 * must outlive it. NULL + ERR_INPUT when the copy is over --max-memory.
 * Free with model_free. Runs made from m are unaffected by changes to it. */
struct model *model_clone(const struct model *m);

/* ---- description ---- */
int model_tensor_count(const struct model *m);
int model_tensor_find(const struct model *m, const char *name); /* -1 when absent */
const char *model_tensor_name(const struct model *m, int id);
/* Writes the shape into dims (dims[0] = -1 for the batch of an activation);
 * returns the rank. */
int model_tensor_shape(const struct model *m, int id, int64_t dims[MODEL_MAX_DIMS]);
size_t model_tensor_item(const struct model *m, int id);       /* floats per batch item */
int model_tensor_is_activation(const struct model *m, int id); /* 0 for constants */
/* "[N,64,7,7]" into buf; returns buf. */
const char *model_tensor_shape_str(const struct model *m, int id, char *buf, size_t size);

int model_input(const struct model *m);  /* the image input */
int model_output(const struct model *m); /* the first graph output */
/* The class scores before any final Softmax: the Softmax's input when the
 * output is produced by one, else the output itself. */
int model_logits(const struct model *m);
int model_output_is_softmax(const struct model *m);
/* What makes the output from the logits: found back from the output through
 * Identity/Dropout. With SIGMOID and one logit, the model is binary (class 1 =
 * the logit, class 0 = its negative); with SIGMOID and K logits, each class
 * has its own sigmoid. */
enum model_final { MODEL_FINAL_NONE, MODEL_FINAL_SOFTMAX, MODEL_FINAL_SIGMOID };
enum model_final model_final_op(const struct model *m);
/* The engine's internal graph (core/graph.h), for engine-level code such as
 * the incremental occlusion in core/graph_region.c. */
struct graph;
const struct graph *model_graph(const struct model *m);
int model_num_classes(const struct model *m); /* floats per item of model_logits */
/* 1 when tensor `to` is computed from tensor `from` (or is it). */
int model_tensor_depends(const struct model *m, int to, int from);
/* Default Grad-CAM layer: the last 4-D activation before the spatial
 * dimensions collapse (the first Flatten/Reshape/GlobalAveragePool/Gemm that
 * takes a 4-D input), walking back through pooling, Pad, Slice (a crop),
 * Dropout/Identity and Transpose: the post-activation output of the last conv block, before its
 * pooling. -1 when the model has none. */
int model_default_cam_layer(const struct model *m);
/* Default latent: the input of the last Gemm/MatMul. -1 when none. */
int model_default_latent(const struct model *m);
size_t model_param_count(const struct model *m); /* floats in weights used */
int model_opset(const struct model *m);

enum model_layout { MODEL_NCHW, MODEL_NHWC };
struct model_input_info {
    enum model_layout layout; /* NHWC when the input feeds a Transpose to NCHW */
    int c, h, w;              /* channels and image size the model expects */
};
/* ERR_INPUT when the input is not an image (rank 4, 1..4 channels). */
int model_input_info(const struct model *m, struct model_input_info *info);

/* What the file was, e.g. "ONNX opset 13" or "Keras 3.10.0 .keras". */
const char *model_source(const struct model *m);
/* 1 when the model scales its pixels itself (a Keras Rescaling or
 * Normalization before its first weights) and so wants 0..255, as Keras's
 * image_dataset_from_directory yields; *why (may be NULL) says which layer. */
int model_raw_pixels(const struct model *m, const char **why);
/* The layers the file describes (Keras models; 0 for ONNX), in order. */
int model_layer_count(const struct model *m);
struct model_layer_info {
    const char *name, *cls; /* layer name and class, as in model.summary() */
    int output;             /* its output tensor */
    int nhwc;               /* output is the NCHW form of a channels-last tensor */
    size_t params;          /* floats in its weights */
};
void model_layer_info(const struct model *m, int i, struct model_layer_info *info);

int model_node_count(const struct model *m);
struct model_node_info {
    const char *name; /* ONNX node name */
    const char *op;   /* ONNX op type */
    int output;       /* tensor id */
    int input;        /* its first input's tensor id */
};
void model_node_info(const struct model *m, int i, struct model_node_info *info);

/* ---- weight layers: the layers with learned weights ---- */
/* A Conv, or a Gemm/MatMul whose right operand is a constant weight, with
 * its bias: a Conv's third input, a Gemm's C, or for a MatMul the constant
 * of m values an Add after it adds (Keras's Dense as tf2onnx writes it). */
struct model_weight_layer {
    int node;              /* node index (model_node_info) */
    const char *name;      /* node (or Keras layer) name */
    const char *op;        /* op type as the file writes it */
    int weight, bias;      /* tensor ids; bias -1 when none */
    int bias_node;         /* the Add holding the bias of a MatMul, else -1 */
    size_t nweight, nbias; /* floats in each */
    int fan_in;            /* inputs per output: C/group*KH*KW (Conv), K (Gemm) */
};
/* How many, and the i-th in graph order (0, or ERR_INPUT when i is out of
 * range). Strings are owned by the model. */
int model_weight_layer_count(const struct model *m);
int model_weight_layer_info(const struct model *m, int i, struct model_weight_layer *info);
/* Re-initialises weight layer i of a model_clone as PyTorch initialises a
 * fresh Conv2d or Linear (kaiming_uniform with a = sqrt(5)): every weight and
 * bias value uniform in [-b, b], b = 1 / sqrt(fan_in). The values come from
 * core/rng.h seeded with seed + i (xoshiro256** through splitmix64): for
 * k = 0, 1, ... the weights in their storage order (the ONNX layout: Conv
 * M x C/group x KH x KW, Gemm as stored), then the bias, each
 * b * (2 rng_uniform - 1) rounded to float. So a layer gets the same values
 * whatever else is randomised. 0; ERR_FAIL on a model that is not a clone,
 * ERR_INPUT for i out of range. Runs made before read the new weights,
 * except forward runs' fused convolutions (BN folded into a copy of the
 * weights): call model_run_reload_weights on them. */
int model_weight_layer_randomize(struct model *m, int i, uint64_t seed);
/* Puts back weight layer i of clone m from orig (the model it was cloned
 * from). 0; ERR_FAIL when m is not a clone of orig, ERR_INPUT for i. */
int model_weight_layer_restore(struct model *m, const struct model *orig, int i);

/* ---- running ---- */
enum {
    MODEL_RUN_FORWARD = 0,     /* activations share memory; only kept tensors survive */
    MODEL_RUN_BACKWARD = 1,    /* every activation kept, gradient buffers allocated */
    MODEL_RUN_GUIDED_RELU = 2, /* with BACKWARD: guided backpropagation (see below) */
    /* with BACKWARD: the forward fuses Conv -> BatchNormalization -> Relu
     * chains whose intermediates are not kept (as forward runs do, without
     * the max-pool epilogue; below a bounded run's bound everything is fused
     * anyway), so those intermediates are not readable; the gradients are
     * the same. For gradients at the input or at kept tensors
     * (attributions, CAMs): a faster forward, and a backward that takes
     * MaxPool -> Relu -> BatchNormalization -> Conv in one pass, so that the
     * gradients of the Relu and BN outputs there are not computed
     * (model_run_grad returns NULL) unless one of them is `to`. */
    MODEL_RUN_LEAN = 4,
};

/* A run context for batches of up to max_batch items: all activation memory
 * planned once in one block (liveness-based reuse in forward mode). `keep`
 * lists tensor ids that must stay readable after model_forward (the input,
 * the output and the logits always do). Forward-only runs also fuse
 * Conv -> BatchNormalization -> Relu chains whose intermediates are not kept
 * (BN folded into the conv weights: equal to the unfused result up to float
 * rounding), so only kept tensors are guaranteed readable. NULL + error when the memory is
 * refused (big_alloc). Free with model_run_free. The model must outlive it. */
struct model_run *model_run_new(const struct model *m, int max_batch, int flags,
                                const int *keep, int nkeep);
/* A MODEL_RUN_BACKWARD run whose gradients go no lower than tensor `bound`
 * (an activation): model_backward accepts any `to` that depends on it (the
 * bound itself, or above). The layers below the bound run fused as in a
 * forward run (Conv+BN+ReLU+MaxPool as one; their intermediates are not
 * kept), which is what Grad-CAM at a late layer wants; bound = the input
 * gives model_run_new's backward run. What the backward reads (the bound,
 * everything above it and their inputs) is kept. NULL + error as
 * model_run_new. */
struct model_run *model_run_new_grad(const struct model *m, int max_batch, int bound,
                                     const int *keep, int nkeep);
/* The same with flags: MODEL_RUN_BACKWARD is implied; MODEL_RUN_LEAN and
 * MODEL_RUN_GUIDED_RELU apply above the bound as in model_run_new (a lean,
 * guided run for Guided Grad-CAM at a late layer). */
struct model_run *model_run_new_bound(const struct model *m, int max_batch, int flags,
                                      int bound, const int *keep, int nkeep);
void model_run_free(struct model_run *r); /* NULL is a no-op */
/* After the model's weights changed (model_weight_layer_randomize/restore
 * on a clone): folds them again into the run's convolutions (BN folded in,
 * Winograd-transformed, the backward's flipped copies). */
void model_run_reload_weights(struct model_run *r);
int model_run_max_batch(const struct model_run *r);

/* Runs the graph on n items (1 <= n <= max_batch) of model_tensor_item(
 * model_input) floats each, in the model's input layout. Returns 0. */
int model_forward(struct model_run *r, const float *input, int n);
/* Data of a tensor after model_forward: n x item floats; NULL when it was not
 * kept. Constants return their values. Owned by the run. */
const float *model_run_tensor(const struct model_run *r, int id);
int model_run_batch(const struct model_run *r); /* n of the last forward */

/* Backward (MODEL_RUN_BACKWARD runs only): the gradient of
 * sum_i <dfrom_i, from_i> (dfrom: n x item(from)) with respect to every tensor
 * between `to` and `from`; `to` bounds the work (pass model_input(m) for the
 * input gradient). Returns 0, ERR_INPUT when `from` does not depend on `to`
 * or `to` is below the run's bound (model_run_new_grad). */
int model_backward(struct model_run *r, int from, const float *dfrom, int to);
/* The common case: d logits[i][cls[i]] for each of the n items. */
int model_backward_class(struct model_run *r, const int *cls, int to);
/* n x item gradient of a tensor after model_backward; NULL when not computed. */
const float *model_run_grad(const struct model_run *r, int id);
/* Guided backpropagation (Springenberg et al. 2015, as Captum's
 * GuidedBackprop hooks nn.ReLU): on (or MODEL_RUN_GUIDED_RELU at creation),
 * every Relu node's backward becomes dx = (x > 0) * max(dout, 0); other
 * ops, LeakyRelu and Clip included, keep their gradients. */
void model_run_set_guided(struct model_run *r, int on);

/* Runs again only what depends on activation `from`, for n items
 * (1 <= n <= max_batch), from's values taken from data (n x item floats,
 * may be the run's own buffer); the activations that do not depend on it
 * keep item 0 of the last model_forward (copied to every item where a
 * recomputed node reads them). After it the run reads as if model_forward
 * had run on n inputs giving those values at `from` (AblationCAM: one
 * forward of the layers after the target layer per ablated channel).
 * `from` and those other inputs must be kept (backward runs keep all;
 * forward runs: pass them in keep). 0; ERR_INPUT for a bad tensor or n,
 * ERR_FAIL before any forward or for a tensor not kept. */
int model_forward_from(struct model_run *r, int from, const float *data, int n);
/* The tensors a forward run must keep for model_forward_from(from): from
 * itself, then the activations that do not depend on it but are read by
 * nodes that do. Writes up to max ids into keep; returns how many there are. */
int model_forward_from_keep(const struct model *m, int from, int *keep, int max);

/* ---- preprocessing ---- */
/* pixel v in 0..255 -> (v * scale - mean[c]) / std[c]. The default (scale
 * NaN: the model's own, mean 0, std 1) gives [0,1], or 0..255 for a model
 * that scales its input itself (model_raw_pixels). nmean/nstd: 1 (all
 * channels) or c. */
struct model_prep {
    double scale;
    float mean[4], std[4];
    int nmean, nstd;
};
struct model_prep model_prep_default(void);
/* The scale p gives for m: p->scale, or the model's own when it is NaN. */
double model_prep_scale(const struct model *m, const struct model_prep *p);
/* Converts a decoded image (image.h: CHW in [0,1]) to one model input item in
 * dst (model_tensor_item(model_input) floats, the model's layout): channels
 * converted (gray <-> RGB, alpha dropped), bilinear resize to the model's size
 * (half-pixel centres), then the affine map above. 0 or an error. */
int model_preprocess(const struct model *m, const struct image *im, const struct model_prep *p,
                     float *dst);

/* Parses "0.5" or "0.485,0.456,0.406" (1 to 4 numbers) into v, sets *n.
 * ERR_INPUT naming `what` on a bad list. */
int model_prep_parse_list(const char *s, float *v, int *n, const char *what);
/* image_load + model_preprocess into dst; errors name the file. */
int model_preprocess_file(const struct model *m, const char *path, const struct model_prep *p,
                          float *dst);

/* ---- class probabilities ---- */
/* Classes a prediction ranges over: model_num_classes, except 2 for a model
 * with a single output (a binary sigmoid: class 1 = the logit, class 0 = its
 * negative). */
int model_prob_classes(const struct model *m);
/* After model_forward: n x model_prob_classes probabilities into probs: the
 * output itself when the model ends in Softmax, the softmax of the logits
 * otherwise, (1 - s, s) with s = sigmoid(logit) for a single output. */
void model_run_probs(const struct model_run *r, float *probs);

#endif
