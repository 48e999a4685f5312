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

/* ---- running ---- */
enum {
    MODEL_RUN_FORWARD = 0,  /* activations share memory; only kept tensors survive */
    MODEL_RUN_BACKWARD = 1, /* every activation kept, gradient buffers allocated */
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
void model_run_free(struct model_run *r); /* NULL is a no-op */
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
