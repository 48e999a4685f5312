/* graph.h - the engine's internal model: named float32 tensors, nodes in
 * topological order, prepared op parameters, and the op kernels.
 *
 * Internal to core/: the importers (import_onnx.c, import_keras.c) read a
 * file and build the graph through graph_build.c's functions, model.c runs
 * it, tests call the kernels directly. Activations carry a leading batch dimension that is
 * symbolic until a run: their dims[0] is stored as 1 and `item` counts the
 * floats of one batch item. Constants (weights, folded shapes) have no batch.
 */
#ifndef INTERP_GRAPH_H
#define INTERP_GRAPH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "conv_wino.h"

#define G_MAX_DIMS   6
#define G_MAX_INPUTS 8
/* A folded shape value that stands for the batch size (Shape of an activation
 * gives it for dim 0; Reshape turns it back into the batch). */
#define G_BATCH_SYM INT64_MIN
/* An input dimension the file leaves open (graph_build_input). */
#define G_DIM_UNKNOWN (INT64_MIN + 1)

enum op_type {
    OP_CONV,
    OP_BATCHNORM,
    OP_RELU,
    OP_LEAKYRELU,
    OP_SIGMOID,
    OP_TANH,
    OP_CLIP,
    OP_ELU,  /* alpha */
    OP_SELU, /* alpha, gamma */
    OP_SOFTPLUS,
    OP_SOFTSIGN,
    OP_HARDSIGMOID, /* max(0, min(1, alpha x + beta)) */
    OP_EXP,
    OP_GELU, /* exact (erf) or, with approximate, the tanh form */
    OP_SOFTMAX,
    OP_COPY, /* Identity, Dropout, Flatten, Reshape, Squeeze, Unsqueeze */
    OP_MAXPOOL,
    OP_AVGPOOL,
    OP_GAP,
    OP_GEMM, /* Gemm and MatMul with a constant right operand */
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_TRANSPOSE,
    OP_CONCAT,
    OP_PAD,   /* constant-mode Pad (PyTorch exports avg_pool's count_include_pad this way) */
    OP_SLICE, /* a window of the item dims, steps of 1 (Keras's Cropping2D, CenterCrop) */
    OP_COUNT
};

/* The case labels of the pointwise activations (act_forward/act_backward),
 * for the switches that dispatch them; op_is_pointwise says the same. */
#define OP_CASES_POINTWISE                                                                     \
    case OP_RELU:                                                                              \
    case OP_LEAKYRELU:                                                                         \
    case OP_SIGMOID:                                                                           \
    case OP_TANH:                                                                              \
    case OP_CLIP:                                                                              \
    case OP_ELU:                                                                               \
    case OP_SELU:                                                                              \
    case OP_SOFTPLUS:                                                                          \
    case OP_SOFTSIGN:                                                                          \
    case OP_HARDSIGMOID:                                                                       \
    case OP_EXP:                                                                               \
    case OP_GELU
static inline int op_is_pointwise(enum op_type op)
{
    return op >= OP_RELU && op <= OP_GELU;
}

struct tensor {
    char *name;
    int ndim;
    int64_t dims[G_MAX_DIMS]; /* activations: dims[0] = 1 stands for the batch */
    int batched;              /* 1: activation (per-run data), 0: constant */
    int is_int;               /* constant holding int64 values (i64) */
    size_t item;              /* floats per batch item (activations) or in all (constants) */
    float *f;                 /* constant float data (graph arena) */
    int64_t *i64;             /* constant int data (graph arena) */
    int producer;             /* node index, -1 for inputs and constants */
    size_t offset; /* activations: offset of item 0 in the run's block, in floats per item */
};

/* ---- prepared parameters, one struct per op family ---- */
struct conv_params {
    int c, h, w;   /* input channels and size */
    int m, oh, ow; /* output channels and size */
    int kh, kw, sh, sw, dh, dw;
    int pt, pl, pb, pr; /* pads: top, left, bottom, right */
    int group;
    int relu; /* forward only: ReLU applied with the bias (a fused Conv+BN+Relu) */
};
struct pool_params {
    int c, h, w, oh, ow, kh, kw, sh, sw;
    int pt, pl, pb, pr;
    int count_include_pad; /* AveragePool */
};
struct bn_params {
    int c;
    size_t plane; /* elements per channel per item */
    const float *a,
        *b; /* y = a[c] * x + b[c], a = scale / sqrt(var + eps), b = bias - mean * a */
};
struct act_params {
    float alpha;     /* LeakyRelu, Elu, Selu, HardSigmoid */
    float beta;      /* HardSigmoid */
    float gamma;     /* Selu */
    float lo, hi;    /* Clip */
    int approximate; /* Gelu: the tanh form */
};
struct softmax_params {
    size_t outer, len, inner; /* per item: outer x len x inner, softmax over len */
};
struct gemm_params {
    int rows;    /* rows per item: 1 for Gemm, the product of the middle dims for MatMul */
    int k, m;    /* inner and output size */
    int trans_b; /* weight is m x k (1) or k x m (0) */
    float alpha, beta;
    const float
        *bias; /* beta * C: NULL, or m values broadcast over rows (bias_scalar: 1 value) */
    int bias_scalar;
};
struct eltwise_params {
    int ndim;                 /* item dims (without the batch) */
    int64_t dims[G_MAX_DIMS]; /* output item dims */
    int64_t sa[G_MAX_DIMS],
        sb[G_MAX_DIMS];    /* strides of a and b per output item dim (0: broadcast) */
    size_t item_a, item_b; /* per-item stride of a and b: 0 for constants */
    size_t item;           /* output floats per item */
    int same;              /* a, b and out have identical shapes (fast path) */
};
struct transpose_params {
    int ndim;                    /* item dims */
    int64_t in_dims[G_MAX_DIMS]; /* input item dims */
    int perm[G_MAX_DIMS];        /* output item dim i = input item dim perm[i] */
    size_t item;
};
struct concat_params {
    int nin;
    size_t outer;               /* per item: product of the dims before the axis */
    size_t inner[G_MAX_INPUTS]; /* per input: axis dim x dims after it */
    size_t out_inner;           /* sum of inner */
};

struct pad_params {
    int ndim;                    /* item dims */
    int64_t in_dims[G_MAX_DIMS]; /* input item dims */
    int64_t out_dims[G_MAX_DIMS];
    int64_t begin[G_MAX_DIMS]; /* pad before each item dim (>= 0) */
    size_t in_item, out_item;
    float value;
};

struct node {
    enum op_type op;
    char *name;           /* the node or layer name (or op_type + index when unnamed) */
    char *src_op;         /* the op type or layer class as the file writes it */
    int in[G_MAX_INPUTS]; /* tensor indices; -1 for an absent optional input */
    int nin;
    int out; /* one output tensor */
    union {
        struct conv_params conv;
        struct pool_params pool;
        struct bn_params bn;
        struct act_params act;
        struct softmax_params softmax;
        struct gemm_params gemm;
        struct eltwise_params elt;
        struct transpose_params tr;
        struct concat_params cat;
        struct pad_params pad;
    } p;
};

/* A layer as the model file describes it (Keras): one or more nodes of the
 * graph, named for `interp info`; ONNX graphs have none. */
struct graph_layer {
    const char *name, *cls; /* the layer's name and class (graph arena) */
    int out;                /* its output tensor */
    int nhwc;               /* out is the NCHW form of a channels-last tensor */
    size_t params;          /* floats in its weights */
};

struct arena_chunk;

struct graph {
    struct tensor *t;
    int nt, cap_t;
    struct node *nodes; /* topological order */
    int nn, cap_n;
    int input, output; /* tensor indices */
    int layout_nhwc;   /* input is N x H x W x C (a Transpose to NCHW follows) */
    int opset;
    int64_t static_batch; /* the input's dim 0 when the file fixes it, else 0 */
    size_t param_count;   /* floats in float initializers used by runtime nodes */
    const char *source;   /* what the file was: "ONNX opset 13", "Keras 3.10.0 .keras" */
    int raw_pixels;       /* the model scales its input itself: feed 0..255 */
    const char *pixels_why; /* why raw_pixels was chosen (NULL: the [0,1] default) */
    struct graph_layer *layers; /* the file's layers (Keras), in order */
    int nlayers, cap_layers;
    size_t arena_bytes;   /* allocated by graph_alloc so far */
    size_t held_bytes;    /* held elsewhere while importing (the decoded protobuf) */
    struct arena_chunk *arena;
    void *name_index; /* hash: name -> tensor index */
    int borrowed;     /* a graph_clone: names, index and layers belong to the original */
};

/* ---- graph building (graph.c) ---- */
struct graph *graph_new(void);
void graph_free(struct graph *g); /* NULL is a no-op */
/* A copy of g whose float constants (weights) and the parameters derived
 * from them (batch-norm a/b, Gemm bias) are its own, for re-initialising
 * weights without touching g; names, the name index, the layers and int
 * constants stay g's, so g must outlive the copy. NULL + ERR_INPUT when the
 * copy is over --max-memory. Freed by graph_free. */
struct graph *graph_clone(const struct graph *g);
/* Memory that lives as long as the graph, 16-byte aligned, zeroed. Aborts
 * when out of memory: input-sized requests ask graph_alloc_fits first. */
void *graph_alloc(struct graph *g, size_t bytes);
/* Whether `bytes` more (with what the graph and the import already hold)
 * stay within --max-memory (limits_get()->max_bytes). */
int graph_alloc_fits(const struct graph *g, size_t bytes);
char *graph_strdup(struct graph *g, const char *s);
/* Index of the tensor named `name`, or -1. */
int graph_find(const struct graph *g, const char *name);
/* Adds a tensor (name copied); returns its index. The name must be new. */
int graph_add_tensor(struct graph *g, const char *name);
/* Appends a node (name copied); returns a pointer valid until the next add. */
struct node *graph_add_node(struct graph *g, enum op_type op, const char *name,
                            const char *src_op);
/* Sets t->item from its dims (product; dims[0] counts as the batch for
 * activations); SIZE_MAX when the product overflows. */
void tensor_update_item(struct tensor *t);
/* Human-readable shape "[N,64,7,7]" (N for the batch) into buf. */
const char *tensor_shape_str(const struct tensor *t, char *buf, size_t size);
const char *op_name(enum op_type op);

/* ---- the builder (graph_build.c): what every importer calls ---- */
/* Who is being built, for messages: "<kind> '<name>' (<op>): reason",
 * e.g. "node 'conv1' (Conv): ..." or "layer 'dense' (Dense): ...". */
struct graph_builder {
    struct graph *g;
    const char *path; /* the model file */
    const char *kind; /* "node" (ONNX) or "layer" (Keras) */
    const char *name; /* the node or layer being built */
    const char *op;   /* its op type or layer class, as the file writes it */
};
/* Records ERR_INPUT for gb->path with the prefix above; returns ERR_INPUT. */
int gb_error(struct graph_builder *gb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An op's attributes, by ONNX's names and meanings ("strides", "pads",
 * "auto_pad", "group", "axis", "epsilon", ...): the builder's vocabulary,
 * whatever the file format. Values point into the caller's memory. */
struct attr {
    const char *name;
    int64_t i;
    float f;
    const int64_t *ints;
    size_t nints;
    const char *s; /* s[0..slen), not NUL-terminated */
    size_t slen;
    int has_s;
};
struct attrs {
    const struct attr *v;
    int n;
    int opset;          /* the operator definitions' version (ONNX opset numbering) */
    int indices_output; /* MaxPool: its optional Indices output is used (refused) */
};
const struct attr *attr_find(const struct attrs *n, const char *name); /* NULL if absent */
int64_t attr_i(const struct attrs *n, const char *name, int64_t def);
float attr_f(const struct attrs *n, const char *name, float def);
/* Copies an ints attribute; returns its length, -1 when absent, -2 when longer than max. */
int attr_ints(const struct attrs *n, const char *name, int64_t *v, int max);
/* The string attribute `name` into buf ("" when absent); returns buf. */
const char *attr_s(const struct attrs *n, const char *name, char *buf, size_t size);

/* Whether a tensor of t->item values of esz bytes (per batch item for an
 * activation) is over --max-memory or --max-elements: 1 with the reason,
 * the figure, the limit and the flag in why. */
int tensor_over_limits(const struct tensor *t, size_t esz, char *why, size_t size);

/* Adds the graph input `name` of rank ndim (2 to G_MAX_DIMS): dims[0] the
 * batch the file fixes (> 0) or not (<= 0); the other dims must be known
 * (G_DIM_UNKNOWN: refused), 1 to 2^20, and within the limits. Sets g->input
 * and g->static_batch. ERR_INPUT naming the input and the dimension. */
int graph_build_input(struct graph_builder *gb, const char *name, int ndim,
                      const int64_t *dims);
/* Adds a node computing `op` (an op name of the engine's vocabulary: the
 * ONNX operator names DESIGN.md lists, and the shape ops folded at load
 * time) from the tensors in[0..nin) (-1: an absent optional input) into a
 * new tensor out_name: attributes checked, output shape inferred, constant
 * inputs folded where the op allows it. Returns the output's tensor index,
 * or ERR_INPUT through gb_error. */
int graph_build_node(struct graph_builder *gb, const char *op, const int *in, int nin,
                     const char *out_name, const struct attrs *a);
/* A new constant float tensor `name` of shape dims[0..ndim) (no batch),
 * zeroed, for the importer to fill through g->t[index].f: checked against
 * --max-memory and --max-elements first. The index, or ERR_INPUT. */
int graph_build_const(struct graph_builder *gb, const char *name, int ndim, const int64_t *dims);
/* A new constant int64 list `name` holding v[0..n) (shapes, pads). */
int graph_build_const_ints(struct graph_builder *gb, const char *name, const int64_t *v, int n);
/* Appends a layer to g->layers (name and cls copied). */
void graph_add_layer(struct graph *g, const char *name, const char *cls, int out, int nhwc,
                     size_t params);
/* The checks every new tensor passes (limits, not empty, a copy keeps its
 * size); for importers that make constants themselves. 0 or ERR_INPUT. */
int graph_build_check_output(struct graph_builder *gb, int out);
/* Ends a build: `output` (a tensor index) becomes the graph output (it must
 * depend on the input); counts the parameters and recognises an NHWC input
 * (a Transpose to NCHW straight after it). 0 or ERR_INPUT. */
int graph_build_finish(struct graph_builder *gb, int output);

/* ---- importers: each reads one format through the builder ---- */
/* import_onnx.c: reads an ONNX model into a graph: initializers and
 * Constant nodes become constants, shape subgraphs are folded, runtime nodes
 * are prepared (shapes, attributes) in topological order. NULL + ERR_INPUT
 * naming the node and the reason for anything the engine cannot run
 * exactly; `name` is the path used in errors. The protobuf structures are
 * freed before returning. (model.c reads the file and picks the importer.) */
struct graph *onnx_graph_parse(const void *buf, size_t len, const char *name);
/* import_keras.c: a Keras 3 .keras archive or a legacy Keras .h5 model in
 * buf (told apart by their magic bytes): the architecture from its JSON
 * config, the weights from its HDF5 groups, each layer mapped onto the
 * engine's ops (NCHW inside; a channels-last input gets a Transpose).
 * NULL + ERR_INPUT naming the layer and the reason for anything it cannot
 * run exactly. */
struct graph *keras_graph_parse(const void *buf, size_t len, const char *name);
/* Whether buf starts like a file keras_graph_parse reads: a zip archive or
 * an HDF5 file (its signature at 0, 512, 1024, ...). */
int keras_sniff(const void *buf, size_t len);

/* ---- the run's threads, for engine code beside model.c (graph_region.c) ---- */
struct model_run;
/* Threads model_run_parallel uses: the run's pool (the caller included), 1
 * inside a caller's own OpenMP region. */
int model_run_threads(const struct model_run *r);
/* Runs fn(arg, tid) on each of them (tid 0 .. threads-1, 0 = the caller) and
 * returns when all have finished; BLAS runs single-threaded meanwhile. */
void model_run_parallel(struct model_run *r, void (*fn)(void *arg, int tid), void *arg);

/* ---- kernels: n = batch items; shapes per the comment on each ---- */
/* op_conv.c. inp n x C x H x W, weight M x C/group x KH x KW, bias M or NULL,
 * out n x M x OH x OW; col scratch of conv_col_floats(p) floats. */
size_t conv_col_floats(const struct conv_params *p);
void conv_forward(float *out, const float *inp, const float *weight, const float *bias,
                  const struct conv_params *p, int n, float *col);
void conv_backward(float *dinp, const float *dout, const float *weight,
                   const struct conv_params *p, int n, float *col);
/* The input gradient of a stride-1, dilation-1, ungrouped conv whose pads
 * are below its kernel is a forward conv of dout (C = p->m input channels,
 * H x W = OH x OW) with the flipped, transposed weights (conv_backward_
 * weights: C x M x KH x KW) and pads KH-1-pt, ..., giving n x C x H x W:
 * fills bp and returns 1 for such a conv, else 0. What the forward's plans
 * (Winograd, the direct kernel) then compute, without im2col and col2im. */
int conv_backward_params(const struct conv_params *p, struct conv_params *bp);
void conv_backward_weights(const struct conv_params *p, const float *weight, float *wf);
/* Forward-only conv (p->relu as above) prepared once as a plan: the path
 * (Winograd F(2x2,3x3), the direct kernel, or im2col + sgemm) for an
 * instruction-set level (conv_isa_default() unless a test picks another),
 * with an optional fused 2x2 stride-2 unpadded MaxPool q that reads the
 * conv's output (conv_pool_fusable): then the pooled n x M x OH/2 x OW/2
 * goes to out and the conv output is never stored. The work over n images
 * is split into units (image x group x row tile) that nthreads threads
 * share: each calls conv_plan_forward with its own scratch of
 * conv_plan_scratch_floats floats and the same counter `next` (set to 0
 * before), and takes units until none is left. u: the plan's transformed
 * weights (conv_plan_weights into conv_plan_weight_floats floats; NULL when
 * that is 0). One thread with nthreads = 1 computes all of it. */
enum conv_path { CONV_PATH_IM2COL, CONV_PATH_DIRECT, CONV_PATH_WINOGRAD };
/* An input a plan computes row by row instead of reading it (a gradient
 * that exists only as the pooled gradient and its argmax, see model.c's
 * fused pool chains): row(src, b, c, y, dst) writes the W values of row y of
 * channel c of item b. Embedded first in the caller's own struct. */
struct conv_src {
    void (*row)(const struct conv_src *src, int b, int c, int y, float *dst);
};
#define CONV_SRC_MAX_W 4096 /* the widest such input (a row's stack buffer) */
struct conv_plan {
    struct conv_params p;
    struct pool_params q;
    int pool; /* q is fused */
    enum conv_isa isa;
    enum conv_path path;
    struct wino_geom wg; /* Winograd's bands */
};
int conv_pool_fusable(const struct conv_params *p, const struct pool_params *q);
void conv_plan_init(struct conv_plan *pl, const struct conv_params *p,
                    const struct pool_params *q, enum conv_isa isa);
size_t conv_plan_weight_floats(const struct conv_plan *pl);
void conv_plan_weights(const struct conv_plan *pl, const float *weight, float *u);
size_t conv_plan_scratch_floats(const struct conv_plan *pl);
int conv_plan_units(const struct conv_plan *pl, int n, int nthreads);
void conv_plan_forward(float *out, const float *inp, const struct conv_plan *pl,
                       const float *weight, const float *bias, const float *u, int n,
                       int nthreads, float *scratch, atomic_int *next);
/* As conv_plan_forward for a plan with a fused pool, and each pooled
 * output's argmax into am (n x M x OH/2 x OW/2; y * OW + x in the conv map,
 * as maxpool_forward gives it over the ReLU'd conv output): the backward of
 * a lean run needs no more of the chain. */
void conv_plan_forward_argmax(float *out, int32_t *am, const float *inp,
                              const struct conv_plan *pl, const float *weight,
                              const float *bias, const float *u, int n, int nthreads,
                              float *scratch, atomic_int *next);
/* As conv_plan_forward over an input src computes; plans without a fused
 * pool on the Winograd or direct path (conv_plan_takes_src), W at most
 * CONV_SRC_MAX_W. */
int conv_plan_takes_src(const struct conv_plan *pl);
void conv_plan_forward_src(float *out, const struct conv_src *src, const struct conv_plan *pl,
                           const float *weight, const float *bias, const float *u, int n,
                           int nthreads, float *scratch, atomic_int *next);

/* op_pool.c. inp n x C x H x W, out n x C x OH x OW, argmax n x C x OH x OW
 * (index into the input plane; may be NULL when no backward will follow). */
void maxpool_forward(float *out, int32_t *argmax, const float *inp, const struct pool_params *p,
                     int n);
void maxpool_backward(float *dinp, const float *dout, const int32_t *argmax,
                      const struct pool_params *p, int n);
/* The gradient through ReLU -> 2x2 stride-2 MaxPool whose windows tile the
 * input (2 oh x 2 ow), one plane, written whole: s * dout to each window's
 * argmax where the window's maximum `out` is positive (the ReLU passed it;
 * guided: and dout is), zeros elsewhere. */
void maxpool2x2_relu_backward(float *d, const float *dout, const float *out, const int32_t *am,
                              int oh, int ow, float s, int guided);
/* Its row y (2 ow values) alone: dout, out and am point at pooled row y / 2. */
void maxpool2x2_relu_row(float *d, const float *dout, const float *out, const int32_t *am,
                         int ow, int y, float s, int guided);
void avgpool_forward(float *out, const float *inp, const struct pool_params *p, int n);
void avgpool_backward(float *dinp, const float *dout, const struct pool_params *p, int n);
/* inp n x C x plane, out n x C */
void gap_forward(float *out, const float *inp, int c, size_t plane, int n);
void gap_backward(float *dinp, const float *dout, int c, size_t plane, int n);

/* op_norm.c. inp, out n x C x plane */
void batchnorm_forward(float *out, const float *inp, const struct bn_params *p, int n);
void batchnorm_backward(float *dinp, const float *dout, const struct bn_params *p, int n);

/* op_activation.c. count = n * item floats; backward reads the forward's
 * input (inp) and output (out). */
void act_forward(enum op_type op, float *out, const float *inp, size_t count,
                 const struct act_params *p);
void act_backward(enum op_type op, float *dinp, const float *dout, const float *out,
                  const float *inp, size_t count, const struct act_params *p);
/* Guided backpropagation's ReLU (Springenberg et al. 2015): only positive
 * gradients pass, and only where the input was positive:
 * dinp += (inp > 0) * max(dout, 0). */
void relu_backward_guided(float *dinp, const float *dout, const float *inp, size_t count);
void softmax_forward(float *out, const float *inp, const struct softmax_params *p, int n);
void softmax_backward(float *dinp, const float *dout, const float *out,
                      const struct softmax_params *p, int n);

/* op_dense.c. inp n x rows x K, weight K x M (or M x K with trans_b),
 * out n x rows x M. */
void gemm_forward(float *out, const float *inp, const float *weight,
                  const struct gemm_params *p, int n);
/* The model runs' forward: weights packed by gemm_pack (gemm_pack_floats
 * floats) once per run; thread tid of nthreads computes a fixed share of the
 * output columns, each output summed in one order that depends neither on
 * nthreads nor on the other rows of the batch (gemm_forward may differ from
 * it by float rounding). */
size_t gemm_pack_floats(const struct gemm_params *p);
void gemm_pack(float *pk, const float *weight, const struct gemm_params *p);
void gemm_forward_part(float *out, const float *inp, const float *pk,
                       const struct gemm_params *p, int n, int tid, int nthreads);
/* The model runs' input gradient: dinp (n x rows x K) += alpha * dout * W'^T
 * over wt, the weights as M x K: the graph's with trans_b, else a copy
 * gemm_bwd_pack made (gemm_bwd_pack_floats floats; 0 with trans_b); thread
 * tid of nthreads computes a fixed share of the inputs, each summed in one
 * order that depends neither on nthreads nor on the other rows. */
size_t gemm_bwd_pack_floats(const struct gemm_params *p);
void gemm_bwd_pack(float *wt, const float *weight, const struct gemm_params *p);
void gemm_backward_part(float *dinp, const float *dout, const float *wt,
                        const struct gemm_params *p, int n, int tid, int nthreads);
void gemm_backward(float *dinp, const float *dout, const float *weight,
                   const struct gemm_params *p, int n);

/* op_elementwise.c. a, b: n items of their own shapes (or constants),
 * out n x item. da/db may be NULL (no gradient wanted). */
void eltwise_forward(enum op_type op, float *out, const float *a, const float *b,
                     const struct eltwise_params *p, int n);
void eltwise_backward(enum op_type op, float *da, float *db, const float *dout, const float *a,
                      const float *b, const struct eltwise_params *p, int n);
/* Fills p for out = a (op) b with numpy broadcasting; ERR_INPUT text in err. */
int eltwise_prepare(struct eltwise_params *p, const struct tensor *a, const struct tensor *b,
                    struct tensor *out, char *err, size_t errsz);

/* op_shape.c */
void copy_forward(float *out, const float *inp, size_t item, int n);
void copy_backward(float *dinp, const float *dout, size_t item, int n);
void transpose_forward(float *out, const float *inp, const struct transpose_params *p, int n);
void transpose_backward(float *dinp, const float *dout, const struct transpose_params *p,
                        int n);
/* inputs[i]: n items of outer x inner[i]; out n x outer x out_inner */
void concat_forward(float *out, const float *const *inputs, const struct concat_params *p,
                    int n);
void concat_backward(float *const *dinputs, const float *dout, const struct concat_params *p,
                     int n);

/* inp n x in_dims -> out n x out_dims, `value` outside */
void pad_forward(float *out, const float *inp, const struct pad_params *p, int n);
void pad_backward(float *dinp, const float *dout, const struct pad_params *p, int n);
/* Slice (the window at p->begin of out_dims, in in_dims): inp n x in_dims ->
 * out n x out_dims; backward accumulates dout into the window of dinp. */
void slice_forward(float *out, const float *inp, const struct pad_params *p, int n);
void slice_backward(float *dinp, const float *dout, const struct pad_params *p, int n);

/* Load-time evaluation of shape subgraphs (Shape, Gather, Unsqueeze, Squeeze,
 * Concat, Reshape, Cast, Slice, Identity, Constant-valued arithmetic) whose
 * inputs are all constants (or, for Shape, have a known shape). ins are the
 * input tensors (NULL for absent optional ones), attributes via the callbacks'
 * values in `at`. Fills `out` as a constant. Returns 0, 1 when the op is not
 * foldable here (the caller builds a runtime node), or ERR_INPUT with err set. */
struct fold_attrs {
    int64_t axis;
    int has_axis;
    int64_t axes[G_MAX_DIMS];
    int naxes;
    int has_axes;
    int64_t to; /* Cast */
    int64_t start, end;
    int has_start, has_end; /* Shape (opset 15) */
    int allowzero;
};
int fold_node(struct graph *g, const char *op, struct tensor *const *ins, int nin,
              const struct fold_attrs *at, struct tensor *out, char *err, size_t errsz);

#endif
