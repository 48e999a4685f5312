/* model.c - the public model API over the graph: description, run contexts
 * with planned activation memory, the forward and backward passes, and
 * image preprocessing into the model's input layout.
 */
#include "model.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "error.h"
#include "graph.h"
#include "outfile.h"
#include "rng.h"
#include "util.h"

struct model {
    struct graph *g;
    char *path; /* the file (or name) it was loaded from, for messages */
    int logits, cam, latent;
    enum model_final final; /* what turns the logits into the output */
};

/* ---------------------------------------------------------------- loading */
static int find_cam(const struct graph *g)
{
    for (int i = 0; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        if (nd->in[0] < 0) continue;
        const struct tensor *x = &g->t[nd->in[0]];
        if (!x->batched || x->ndim != 4) continue;
        const struct tensor *o = &g->t[nd->out];
        int collapses =
            nd->op == OP_GAP || nd->op == OP_GEMM || (nd->op == OP_COPY && o->ndim < 4);
        if (!collapses) continue;
        int t = nd->in[0];
        for (;;) { /* back through pooling and data movement to the activation */
            int p = g->t[t].producer;
            if (p < 0) break;
            const struct node *pn = &g->nodes[p];
            int passthrough = pn->op == OP_MAXPOOL || pn->op == OP_AVGPOOL ||
                              pn->op == OP_GAP || pn->op == OP_TRANSPOSE || pn->op == OP_PAD ||
                              pn->op == OP_SLICE ||
                              (pn->op == OP_COPY && g->t[pn->in[0]].ndim == 4);
            if (!passthrough || g->t[pn->in[0]].ndim != 4) break;
            t = pn->in[0];
        }
        return t == g->input ? -1 : t;
    }
    return -1;
}

static size_t plan_memory(const struct graph *g, int max_batch, int keep_all, const char *keep,
                          const int *alloc, const int *seg_end, size_t *off);

/* The memory a forward pass at batch 1 needs: the weights (every constant)
 * plus the planned activations (liveness-based reuse, as model_run_new plans
 * a forward run, without fusion) plus one thread's convolution scratch.
 * Refused over --max-memory with the figure, the largest activation and the
 * flag: a model that loads can then run, at least one image at a time. */
static int model_check_memory(const struct model *m, const char *path)
{
    const struct graph *g = m->g;
    uint64_t weights = 0, scratch = 0;
    int big = g->input;
    for (int t = 0; t < g->nt; t++) {
        const struct tensor *x = &g->t[t];
        if (!x->batched && (x->f || x->i64))
            weights += (uint64_t)x->item * (x->is_int ? sizeof(int64_t) : sizeof(float));
        /* the largest activation, a node's output rather than the input on a tie */
        if (x->batched &&
            (x->item > g->t[big].item || (x->item == g->t[big].item && g->t[big].producer < 0)))
            big = t;
    }
    for (int i = 0; i < g->nn; i++)
        if (g->nodes[i].op == OP_CONV) {
            struct conv_plan pl;
            conv_plan_init(&pl, &g->nodes[i].p.conv, NULL, conv_isa_default());
            uint64_t s = conv_plan_scratch_floats(&pl) * sizeof(float);
            if (s > scratch) scratch = s;
        }
    char *keep = xcalloc((size_t)g->nt, 1);
    int *alloc = xmalloc(sizeof(int) * (size_t)(g->nn ? g->nn : 1));
    size_t *off = xcalloc((size_t)g->nt, sizeof(size_t));
    keep[g->input] = keep[g->output] = keep[m->logits] = 1;
    for (int i = 0; i < g->nn; i++)
        alloc[i] = g->nodes[i].out;
    uint64_t act = (uint64_t)plan_memory(g, 1, 0, keep, alloc, NULL, off) * sizeof(float);
    free(off);
    free(alloc);
    free(keep);
    uint64_t total = weights + act + scratch, limit = limits_get()->max_bytes;
    if (total <= limit) return 0;
    char tot[32], w[32], a[32], s[64], b[32], l[32], shape[160], who[320];
    const struct tensor *x = &g->t[big];
    if (x->producer >= 0)
        snprintf(who, sizeof who, "node '%s' (%s) output %s", g->nodes[x->producer].name,
                 g->nodes[x->producer].src_op, tensor_shape_str(x, shape, sizeof shape));
    else
        snprintf(who, sizeof who, "input '%s' %s", x->name,
                 tensor_shape_str(x, shape, sizeof shape));
    s[0] = 0;
    if (scratch) {
        char c[32];
        snprintf(s, sizeof s, " + convolution scratch %s",
                 limits_format_bytes(scratch, c, sizeof c));
    }
    return error_set(ERR_INPUT, path,
                     "needs %s at batch 1 (weights %s + activations %s%s; the largest "
                     "activation: %s, %s), over the %s allowed (raise it with --max-memory)",
                     limits_format_bytes(total, tot, sizeof tot),
                     limits_format_bytes(weights, w, sizeof w),
                     limits_format_bytes(act, a, sizeof a), s, who,
                     limits_format_bytes((uint64_t)x->item * sizeof(float), b, sizeof b),
                     limits_format_bytes(limit, l, sizeof l));
}

static struct model *model_wrap(struct graph *g, const char *path)
{
    if (!g) return NULL;
    struct model *m = xcalloc(1, sizeof *m);
    m->g = g;
    m->path = xstrdup(path ? path : "model");
    /* The logits: back from the output through Identity/Dropout (same shape
     * copies) to a final Softmax or Sigmoid, whose input they are. */
    int t = g->output, p;
    while ((p = g->t[t].producer) >= 0 && g->nodes[p].op == OP_COPY &&
           g->t[g->nodes[p].in[0]].item == g->t[t].item &&
           g->t[g->nodes[p].in[0]].ndim == g->t[t].ndim)
        t = g->nodes[p].in[0];
    m->final = MODEL_FINAL_NONE;
    m->logits = g->output;
    if (p >= 0 && (g->nodes[p].op == OP_SOFTMAX || g->nodes[p].op == OP_SIGMOID)) {
        m->final = g->nodes[p].op == OP_SOFTMAX ? MODEL_FINAL_SOFTMAX : MODEL_FINAL_SIGMOID;
        m->logits = g->nodes[p].in[0];
    }
    m->cam = find_cam(g);
    m->latent = -1;
    for (int i = 0; i < g->nn; i++)
        if (g->nodes[i].op == OP_GEMM) m->latent = g->nodes[i].in[0];
    if (model_check_memory(m, path)) {
        model_free(m);
        return NULL;
    }
    return m;
}

struct model *model_parse(const void *buf, size_t len, const char *name)
{
    static const char lfs[] = "version https://git-lfs";
    if (len >= sizeof lfs - 1 && !memcmp(buf, lfs, sizeof lfs - 1)) {
        error_set(ERR_INPUT, name,
                  "a Git LFS pointer, not the model itself (fetch it with `git lfs pull`)");
        return NULL;
    }
    struct graph *g = keras_sniff(buf, len) ? keras_graph_parse(buf, len, name)
                                            : onnx_graph_parse(buf, len, name);
    return model_wrap(g, name);
}

struct model *model_load(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        error_set_errno(ERR_INPUT, path, "cannot open");
        return NULL;
    }
    input_register(path);
    struct model *m = NULL;
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        error_set_errno(ERR_INPUT, path, "cannot read (not a regular file?)");
        fclose(fp);
        return NULL;
    }
    if (size == 0) {
        error_set(ERR_INPUT, path, "empty file, not a model (ONNX, .keras or .h5)");
        fclose(fp);
        return NULL;
    }
    if ((uint64_t)size > limits_get()->max_model_bytes) {
        char have[32], lim[32];
        error_set(ERR_INPUT, path,
                  "the file is %s, over the %s allowed for a model "
                  "(raise it with --max-model-size)",
                  limits_format_bytes((uint64_t)size, have, sizeof have),
                  limits_format_bytes(limits_get()->max_model_bytes, lim, sizeof lim));
        fclose(fp);
        return NULL;
    }
    unsigned char *buf = big_alloc((size_t)size, path, "model file");
    if (buf) {
        if (fread(buf, 1, (size_t)size, fp) != (size_t)size)
            error_set_errno(ERR_FAIL, path, "read failed");
        else
            m = model_parse(buf, (size_t)size, path);
    }
    free(buf);
    fclose(fp);
    return m;
}

struct model *model_clone(const struct model *m)
{
    struct graph *g = graph_clone(m->g);
    if (!g) {
        error_set_path_if_missing(m->path);
        return NULL;
    }
    struct model *c = xmalloc(sizeof *c);
    *c = *m;
    c->g = g;
    c->path = xstrdup(m->path);
    return c;
}

void model_free(struct model *m)
{
    if (!m) return;
    graph_free(m->g);
    free(m->path);
    free(m);
}

/* ---------------------------------------------------------------- description */
int model_tensor_count(const struct model *m)
{
    return m->g->nt;
}
int model_tensor_find(const struct model *m, const char *name)
{
    int t = graph_find(m->g, name);
    /* a Keras layer that adds no node (Dropout) names its input */
    for (int i = 0; t < 0 && i < m->g->nlayers; i++)
        if (!strcmp(m->g->layers[i].name, name)) t = m->g->layers[i].out;
    return t;
}
const char *model_tensor_name(const struct model *m, int id)
{
    return m->g->t[id].name;
}
size_t model_tensor_item(const struct model *m, int id)
{
    return m->g->t[id].item;
}
int model_tensor_is_activation(const struct model *m, int id)
{
    return m->g->t[id].batched;
}
int model_input(const struct model *m)
{
    return m->g->input;
}
int model_output(const struct model *m)
{
    return m->g->output;
}
int model_logits(const struct model *m)
{
    return m->logits;
}
int model_output_is_softmax(const struct model *m)
{
    return m->final == MODEL_FINAL_SOFTMAX;
}
enum model_final model_final_op(const struct model *m)
{
    return m->final;
}
const struct graph *model_graph(const struct model *m)
{
    return m->g;
}
int model_num_classes(const struct model *m)
{
    return (int)m->g->t[m->logits].item;
}
int model_default_cam_layer(const struct model *m)
{
    return m->cam;
}
int model_default_latent(const struct model *m)
{
    return m->latent;
}
size_t model_param_count(const struct model *m)
{
    return m->g->param_count;
}
int model_opset(const struct model *m)
{
    return m->g->opset;
}
int model_node_count(const struct model *m)
{
    return m->g->nn;
}
const char *model_source(const struct model *m)
{
    return m->g->source ? m->g->source : "?";
}
int model_raw_pixels(const struct model *m, const char **why)
{
    if (why) *why = m->g->pixels_why;
    return m->g->raw_pixels;
}
int model_layer_count(const struct model *m)
{
    return m->g->nlayers;
}
void model_layer_info(const struct model *m, int i, struct model_layer_info *info)
{
    const struct graph_layer *l = &m->g->layers[i];
    info->name = l->name;
    info->cls = l->cls;
    info->output = l->out;
    info->nhwc = l->nhwc;
    info->params = l->params;
}

int model_tensor_shape(const struct model *m, int id, int64_t dims[MODEL_MAX_DIMS])
{
    const struct tensor *t = &m->g->t[id];
    for (int i = 0; i < t->ndim; i++)
        dims[i] = (i == 0 && t->batched) ? -1 : t->dims[i];
    return t->ndim;
}

const char *model_tensor_shape_str(const struct model *m, int id, char *buf, size_t size)
{
    return tensor_shape_str(&m->g->t[id], buf, size);
}

void model_node_info(const struct model *m, int i, struct model_node_info *info)
{
    const struct node *nd = &m->g->nodes[i];
    info->name = nd->name;
    info->op = nd->src_op;
    info->output = nd->out;
    info->input = nd->in[0];
}

/* ---------------------------------------------------------------- weight layers */
/* Fills info for node i when it is a layer with learned weights (a Conv, or
 * a Gemm/MatMul with a constant weight); 0 otherwise. */
static int weight_layer_of(const struct graph *g, int i, struct model_weight_layer *info)
{
    const struct node *nd = &g->nodes[i];
    if (nd->op != OP_CONV && nd->op != OP_GEMM) return 0;
    if (nd->in[1] < 0 || g->t[nd->in[1]].batched || !g->t[nd->in[1]].f) return 0;
    memset(info, 0, sizeof *info);
    info->node = i, info->name = nd->name, info->op = nd->src_op;
    info->weight = nd->in[1], info->bias = -1, info->bias_node = -1;
    info->nweight = g->t[nd->in[1]].item;
    if (nd->op == OP_CONV) {
        const struct conv_params *p = &nd->p.conv;
        info->fan_in = p->c / p->group * p->kh * p->kw;
        if (nd->nin > 2 && nd->in[2] >= 0) info->bias = nd->in[2];
    } else {
        info->fan_in = nd->p.gemm.k;
        if (nd->nin > 2 && nd->in[2] >= 0 && nd->p.gemm.bias) info->bias = nd->in[2];
        for (int j = i + 1; j < g->nn && info->bias < 0 && !nd->p.gemm.bias; j++) {
            const struct node *a = &g->nodes[j]; /* MatMul + Add of a constant (Keras) */
            if (a->op != OP_ADD) continue;
            int k = a->in[0] == nd->out ? 1 : a->in[1] == nd->out ? 0 : -1;
            if (k < 0) continue;
            const struct tensor *b = &g->t[a->in[k]];
            if (!b->batched && b->f && b->item == (size_t)nd->p.gemm.m)
                info->bias = a->in[k], info->bias_node = j;
            break;
        }
    }
    if (info->bias >= 0) info->nbias = g->t[info->bias].item;
    return 1;
}

int model_weight_layer_count(const struct model *m)
{
    struct model_weight_layer info;
    int n = 0;
    for (int i = 0; i < m->g->nn; i++)
        n += weight_layer_of(m->g, i, &info);
    return n;
}

int model_weight_layer_info(const struct model *m, int i, struct model_weight_layer *info)
{
    for (int k = 0, n = 0; k < m->g->nn; k++)
        if (weight_layer_of(m->g, k, info) && n++ == i) return 0;
    return error_set(ERR_INPUT, NULL, "no weight layer %d (the model has %d)", i,
                     model_weight_layer_count(m));
}

int model_weight_layer_restore(struct model *m, const struct model *orig, int i)
{
    struct model_weight_layer info;
    if (!m->g->borrowed || orig->g->nt != m->g->nt || orig->g->nn != m->g->nn)
        return error_set(ERR_FAIL, NULL, "restoring weights needs a clone of the same model");
    if (model_weight_layer_info(m, i, &info)) return ERR_INPUT;
    struct graph *g = m->g;
    const struct graph *o = orig->g;
    memcpy(g->t[info.weight].f, o->t[info.weight].f, sizeof(float) * info.nweight);
    if (info.bias >= 0) {
        memcpy(g->t[info.bias].f, o->t[info.bias].f, sizeof(float) * info.nbias);
        struct node *nd = &g->nodes[info.node];
        if (nd->op == OP_GEMM && nd->p.gemm.bias)
            memcpy((float *)nd->p.gemm.bias, o->nodes[info.node].p.gemm.bias,
                   sizeof(float) * info.nbias);
    }
    return 0;
}

int model_weight_layer_randomize(struct model *m, int i, uint64_t seed)
{
    struct model_weight_layer info;
    if (!m->g->borrowed)
        return error_set(ERR_FAIL, NULL, "weights are re-initialised only in a model_clone");
    if (model_weight_layer_info(m, i, &info)) return ERR_INPUT;
    struct graph *g = m->g;
    struct rng r;
    rng_seed(&r, seed + (uint64_t)i);
    double bound = 1.0 / sqrt((double)(info.fan_in > 0 ? info.fan_in : 1));
    float *w = g->t[info.weight].f;
    for (size_t k = 0; k < info.nweight; k++)
        w[k] = (float)(bound * (2.0 * rng_uniform(&r) - 1.0));
    if (info.bias >= 0) {
        float *b = g->t[info.bias].f;
        for (size_t k = 0; k < info.nbias; k++)
            b[k] = (float)(bound * (2.0 * rng_uniform(&r) - 1.0));
        struct node *nd = &g->nodes[info.node];
        if (nd->op == OP_GEMM && nd->p.gemm.bias) { /* the builder's beta * C */
            float *pb = (float *)nd->p.gemm.bias;
            for (size_t k = 0; k < info.nbias; k++)
                pb[k] = nd->p.gemm.beta * b[k];
        }
    }
    return 0;
}

int model_input_info(const struct model *m, struct model_input_info *info)
{
    const struct tensor *t = &m->g->t[m->g->input];
    if (t->ndim != 4)
        return error_set(ERR_INPUT, NULL, "the model input '%s' is not an image (rank %d)",
                         t->name, t->ndim);
    info->layout = m->g->layout_nhwc ? MODEL_NHWC : MODEL_NCHW;
    if (info->layout == MODEL_NHWC)
        info->h = (int)t->dims[1], info->w = (int)t->dims[2], info->c = (int)t->dims[3];
    else
        info->c = (int)t->dims[1], info->h = (int)t->dims[2], info->w = (int)t->dims[3];
    if (info->c < 1 || info->c > 4)
        return error_set(ERR_INPUT, NULL, "the model input '%s' has %d channels", t->name,
                         info->c);
    return 0;
}

/* ---------------------------------------------------------------- run contexts */
struct model_run {
    const struct model *m;
    int max_batch, flags, n;
    int bound;        /* backward runs: the lowest tensor a gradient may be asked for */
    float *block;     /* activations */
    float *gblock;    /* gradients (backward runs: the tensors that depend on the bound) */
    int32_t *amblock; /* max-pool argmax (backward runs) */
    float *col;       /* conv scratch (backward) */
    float *btmp;      /* backward convs' input gradients before they are added */
    float *scratch;   /* forward conv scratch: nthreads x per_thread floats */
    int nthreads;     /* threads of the forward (the caller + pool workers) */
    size_t per_thread;
    struct pool *pool; /* nthreads - 1 workers, NULL for one thread */
    float **data;      /* per tensor */
    float **grad;      /* per tensor (backward runs; NULL below the bound) */
    int32_t **argmax;  /* per node */
    char *dep;         /* per tensor: gradient computed by the last backward */
    char *bdep;        /* per tensor: depends on the bound (backward runs) */
    /* Every Conv runs as a conv_step; Conv [-> BatchNormalization] [-> Relu
     * [-> 2x2 MaxPool]] chains whose intermediates nobody reads (forward
     * runs, and below the bound of backward runs) run as one, with BN folded
     * into its weights, ReLU applied with the bias and the pool in its
     * epilogue (conv[i] for the Conv node i) */
    struct conv_step **conv; /* per node, NULL when not a Conv that runs */
    int fwd_blas;            /* a forward calls BLAS (forward_blas) */
    int bwd_blas;            /* a backward may call BLAS (backward_blas) */
    float **gpack;           /* per Gemm node that runs: its packed weights (gemm_pack) */
    float **gbwd;            /* backward runs, per Gemm node whose input gradient a
                                backward computes: its weights as M x K (gemm_bwd_pack),
                                NULL with trans_b (the graph's are) */
    char *skip;              /* per node: runs inside a fused chain */
    /* Segments: runs of nodes without a dense layer, which a batch can go
     * through one item at a time (seg_end[i] > i for the segment's first
     * node i: its end), so each image's activations stay in cache from one
     * layer to the next; the memory plan keeps what a segment touches alive
     * to its end. */
    int *seg_end;
    char *kept; /* per tensor: readable after a forward (backward runs: all but
                 * the intermediates of fused chains) */
    int lean;   /* MODEL_RUN_LEAN: chains fused above the bound too */
    int guided; /* backward: guided-backpropagation rule at ReLUs */
    /* lean backward runs: for a MaxPool node reading Relu <- [BN <-] Conv
     * (each the only reader of the one before), the Relu and BN nodes; the
     * pool's gradient then goes to the Conv's output in one pass */
    struct pool_chain *pchain;
};

struct pool_chain {
    int relu, bn; /* node indices; bn -1 when the Relu reads the Conv */
    int conv_out; /* the tensor the gradient lands in */
};

struct conv_step {
    int last;              /* the chain's last node: its output is written */
    int head, bn;          /* the Conv node and its BatchNormalization node (-1: none) */
    struct conv_plan plan; /* BN folded into p, ReLU, the fused pool */
    const float *w, *b;    /* the weights and bias it runs with */
    float *fw, *fb;        /* owned: the folded weights and bias (NULL: the graph's) */
    float *u;              /* owned: Winograd-transformed weights, or NULL */
    struct conv_step *bw;  /* backward runs: the input gradient as a forward conv
                              (conv_backward_params), owned; NULL: conv_backward */
    int bw_only;           /* bw: the conv is the input's only reader, so its
                              gradient is written, not added */
    int am_node;           /* lean runs: the fused MaxPool node whose argmax the
                              chain writes (a backward passes it), else -1 */
};

/* from OpenBLAS (its cblas.h declares them only in some builds) */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);

static int forward_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads(); /* OMP_NUM_THREADS, or what --threads set */
#else
    return 1;
#endif
}

/* ---------------------------------------------------------------- thread pool */
/* The forward's worker threads spin for at most POOL_SPIN_NS after a job,
 * then wait on a condition variable. OpenMP was tried first: libgomp's
 * unbounded spin-waiting (at each region's end and between regions) took 80%
 * of the CPU time of a one-image forward on this shared, loaded machine and
 * made it 6x slower than with OMP_WAIT_POLICY=passive, a setting a library
 * cannot make for its caller. */
struct pool_worker {
    struct pool *pl;
    int tid;
};
struct pool {
    int n; /* threads including the caller (tid 0) */
    pthread_t *th;
    struct pool_worker *w;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen; /* bumped for each job */
    int busy, quit;
    void (*fn)(void *, int);
    void *arg;
};

/* How long a thread that is waiting for the pool spins before it sleeps:
 * a forward hands out one job a layer, a fraction of a millisecond apart,
 * and waking a sleeping thread costs a good part of a layer at batch 1 (the
 * seed model's one-image forward: 1.07 ms with sleeping workers, 0.92 ms
 * with this spin, 2 threads). Bounded, so a loaded machine loses at most
 * this per job. */
#ifndef POOL_SPIN_NS
#define POOL_SPIN_NS 100000
#endif

static int64_t pool_clock_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void pool_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spins until *v != seen (returns 1) or POOL_SPIN_NS pass (0). */
static int pool_spin_ul(const unsigned long *v, unsigned long seen)
{
    int64_t t0 = pool_clock_ns();
    for (int i = 1;; i++) {
        if (__atomic_load_n(v, __ATOMIC_ACQUIRE) != seen) return 1;
        pool_pause();
        if (!(i & 63) && pool_clock_ns() - t0 > POOL_SPIN_NS) return 0;
    }
}

/* Spins until *v is 0 (returns 1) or POOL_SPIN_NS pass (0). */
static int pool_spin_zero(const int *v)
{
    int64_t t0 = pool_clock_ns();
    for (int i = 1;; i++) {
        if (!__atomic_load_n(v, __ATOMIC_ACQUIRE)) return 1;
        pool_pause();
        if (!(i & 63) && pool_clock_ns() - t0 > POOL_SPIN_NS) return 0;
    }
}

static void *pool_main(void *a)
{
    struct pool_worker *w = a;
    struct pool *pl = w->pl;
    unsigned long seen = 0;
    for (;;) {
        pool_spin_ul(&pl->gen, seen); /* the next job usually comes soon */
        pthread_mutex_lock(&pl->mu);
        while (__atomic_load_n(&pl->gen, __ATOMIC_RELAXED) == seen && !pl->quit)
            pthread_cond_wait(&pl->go, &pl->mu);
        if (pl->quit) break;
        seen = __atomic_load_n(&pl->gen, __ATOMIC_RELAXED);
        void (*fn)(void *, int) = pl->fn;
        void *arg = pl->arg;
        pthread_mutex_unlock(&pl->mu);
        fn(arg, w->tid);
        pthread_mutex_lock(&pl->mu);
        if (__atomic_sub_fetch(&pl->busy, 1, __ATOMIC_RELEASE) == 0)
            pthread_cond_signal(&pl->done);
        pthread_mutex_unlock(&pl->mu);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

static void pool_free(struct pool *pl)
{
    if (!pl) return;
    pthread_mutex_lock(&pl->mu);
    pl->quit = 1;
    pthread_cond_broadcast(&pl->go);
    pthread_mutex_unlock(&pl->mu);
    for (int i = 0; i < pl->n - 1; i++)
        pthread_join(pl->th[i], NULL);
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->go);
    pthread_cond_destroy(&pl->done);
    free(pl->th);
    free(pl->w);
    free(pl);
}

/* A pool of n - 1 workers; fewer when thread creation fails (NULL: none). */
static struct pool *pool_new(int n)
{
    if (n < 2) return NULL;
    struct pool *pl = xcalloc(1, sizeof *pl);
    pl->th = xcalloc((size_t)n, sizeof(pthread_t));
    pl->w = xcalloc((size_t)n, sizeof *pl->w);
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->go, NULL);
    pthread_cond_init(&pl->done, NULL);
    pl->n = 1;
    for (int i = 0; i < n - 1; i++) {
        pl->w[i] = (struct pool_worker){pl, i + 1};
        if (pthread_create(&pl->th[i], NULL, pool_main, &pl->w[i])) break;
        pl->n++;
    }
    if (pl->n < 2) {
        pool_free(pl);
        return NULL;
    }
    return pl;
}

/* Runs fn(arg, tid) on every thread (tid 0 = the caller); returns when all
 * have finished. */
static void pool_run(struct pool *pl, void (*fn)(void *, int), void *arg)
{
    pthread_mutex_lock(&pl->mu);
    pl->fn = fn, pl->arg = arg;
    __atomic_store_n(&pl->busy, pl->n - 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&pl->gen, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pl->go);
    pthread_mutex_unlock(&pl->mu);
    fn(arg, 0);
    if (pool_spin_zero(&pl->busy)) { /* the workers finished while the caller spun */
        pthread_mutex_lock(&pl->mu); /* (the last one may still hold the lock) */
        pthread_mutex_unlock(&pl->mu);
        return;
    }
    pthread_mutex_lock(&pl->mu);
    while (__atomic_load_n(&pl->busy, __ATOMIC_ACQUIRE))
        pthread_cond_wait(&pl->done, &pl->mu);
    pthread_mutex_unlock(&pl->mu);
}

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

struct plan_slot {
    size_t off, size;
    int end;
};

/* First fit costs O(live tensors) per step; past this many live at once (a
 * hostile or very wide graph) the rest are placed one after another. */
#define PLAN_MAX_LIVE 4096

/* Offsets (in floats) for each activation. Forward runs reuse the memory of
 * tensors whose last reader has run (first fit); kept ones live to the end;
 * a tensor that a segment (seg_end, may be NULL) reads or writes lives to
 * the segment's end. Tensors inside fused chains get no memory. */
static size_t plan_memory(const struct graph *g, int max_batch, int keep_all, const char *keep,
                          const int *alloc, const int *seg_end, size_t *off)
{
    int nt = g->nt, nn = g->nn;
    int *end = xmalloc(sizeof(int) * (size_t)nt);
    for (int t = 0; t < nt; t++)
        end[t] = keep_all || keep[t] ? nn : g->t[t].producer;
    for (int i = 0, seg = -1; i < nn; i++) {
        if (seg_end && seg_end[i] > i) seg = seg_end[i] - 1;
        int last = seg >= i ? seg : i;
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int t = g->nodes[i].in[k];
            if (t >= 0 && end[t] < last) end[t] = last;
        }
        if (end[g->nodes[i].out] < last) end[g->nodes[i].out] = last;
    }
    struct plan_slot *act = xmalloc(sizeof *act * (size_t)(nt + 1));
    int nact = 0, bump = 0;
    size_t total = 0;
    /* the input first (start -1), then what each step writes (alloc[i]: the
     * node's output, a fused chain's last output, or -1 inside a chain) */
    for (int step = -1; step < nn; step++) {
        int t = step < 0 ? g->input : alloc[step];
        if (t < 0) continue;
        size_t size = round16(g->t[t].item * (size_t)max_batch);
        if (bump || (bump = nact > PLAN_MAX_LIVE)) { /* past everything placed so far */
            off[t] = total;
            total += size;
            continue;
        }
        int k = 0;
        for (int j = 0; j < nact; j++) /* free what nobody reads from here on */
            if (act[j].end >= step) act[k++] = act[j];
        nact = k;
        for (int a = 1; a < nact; a++) /* insertion sort by offset */
            for (int b = a; b > 0 && act[b - 1].off > act[b].off; b--) {
                struct plan_slot s = act[b];
                act[b] = act[b - 1], act[b - 1] = s;
            }
        size_t pos = 0;
        for (int j = 0; j < nact; j++) {
            if (act[j].off >= pos + size) break;
            if (act[j].off + act[j].size > pos) pos = act[j].off + act[j].size;
        }
        off[t] = pos;
        act[nact++] = (struct plan_slot){pos, size, end[t]};
        if (pos + size > total) total = pos + size;
    }
    free(act);
    free(end);
    return total;
}

static void conv_step_free(struct conv_step *cs)
{
    if (!cs) return;
    conv_step_free(cs->bw);
    free(cs->fw);
    free(cs->fb);
    free(cs->u);
    free(cs);
}

/* The weights a conv_step runs with, from the graph's constants: BN folded
 * in (W' = a W, b' = a bias + b, a and b from op_norm), then the plan's
 * transform (Winograd); a backward step (bw) its flipped, transposed
 * weights. Again after a clone's weights changed (model_run_reload_weights). */
static void conv_step_load(const struct graph *g, struct conv_step *cs)
{
    const struct node *cv = &g->nodes[cs->head];
    const struct conv_params *p = &cv->p.conv;
    const float *w = g->t[cv->in[1]].f;
    const float *b = cv->nin > 2 && cv->in[2] >= 0 ? g->t[cv->in[2]].f : NULL;
    cs->w = w, cs->b = b;
    if (cs->bn >= 0) {
        const struct node *bn = &g->nodes[cs->bn];
        size_t per = (size_t)(p->c / p->group) * p->kh * p->kw;
        for (int o = 0; o < p->m; o++) {
            float a = bn->p.bn.a[o], sh = bn->p.bn.b[o];
            for (size_t k = 0; k < per; k++)
                cs->fw[(size_t)o * per + k] = a * w[(size_t)o * per + k];
            cs->fb[o] = a * (b ? b[o] : 0.0f) + sh;
        }
        cs->w = cs->fw, cs->b = cs->fb;
    }
    if (cs->u) conv_plan_weights(&cs->plan, cs->w, cs->u);
    if (cs->bw) {
        conv_backward_weights(p, w, cs->bw->fw);
        if (cs->bw->u) conv_plan_weights(&cs->bw->plan, cs->bw->w, cs->bw->u);
    }
}

/* A conv_step for the Conv node i running p (BN folded into it when bn),
 * with the fused pool q (NULL: none). */
static struct conv_step *conv_step_new(const struct graph *g, int i, int last,
                                       const struct conv_params *p, const struct node *bn,
                                       const struct pool_params *q)
{
    struct conv_step *cs = xcalloc(1, sizeof *cs);
    cs->last = last, cs->head = i, cs->bn = bn ? (int)(bn - g->nodes) : -1, cs->am_node = -1;
    if (bn) {
        size_t wn = (size_t)p->m * (p->c / p->group) * p->kh * p->kw;
        cs->fw = xmalloc(sizeof(float) * wn);
        cs->fb = xmalloc(sizeof(float) * (size_t)p->m);
    }
    conv_plan_init(&cs->plan, p, q, conv_isa_default());
    size_t un = conv_plan_weight_floats(&cs->plan);
    if (un) cs->u = xmalloc(sizeof(float) * un);
    conv_step_load(g, cs);
    return cs;
}

void model_run_reload_weights(struct model_run *r)
{
    const struct graph *g = r->m->g;
    for (int i = 0; i < g->nn; i++) {
        if (r->conv[i]) conv_step_load(g, r->conv[i]);
        if (r->gpack[i]) gemm_pack(r->gpack[i], g->t[g->nodes[i].in[1]].f, &g->nodes[i].p.gemm);
        if (r->gbwd && r->gbwd[i])
            gemm_bwd_pack(r->gbwd[i], g->t[g->nodes[i].in[1]].f, &g->nodes[i].p.gemm);
    }
}

/* For a lean backward run: MaxPool <- Relu <- [BN <-] Conv chains whose
 * intermediates have one reader each and whose pool depends on the bound
 * (pchain[i] for the MaxPool node i). */
static void plan_pool_chains(struct model_run *r, const int *readers)
{
    const struct graph *g = r->m->g;
    r->pchain = xcalloc((size_t)(g->nn ? g->nn : 1), sizeof *r->pchain);
    for (int i = 0; i < g->nn; i++) {
        r->pchain[i].relu = -1;
        const struct node *q = &g->nodes[i];
        if (q->op != OP_MAXPOOL || !r->argmax[i]) continue;
        int rl = g->t[q->in[0]].producer;
        if (rl < 0 || g->nodes[rl].op != OP_RELU || readers[q->in[0]] != 1) continue;
        int t = g->nodes[rl].in[0], p = g->t[t].producer, bn = -1;
        if (p < 0 || readers[t] != 1 || !r->bdep[t]) continue;
        if (g->nodes[p].op == OP_BATCHNORM) {
            bn = p, t = g->nodes[p].in[0], p = g->t[t].producer;
            if (p < 0 || readers[t] != 1 || !r->bdep[t]) continue;
        }
        if (g->nodes[p].op != OP_CONV) continue;
        r->pchain[i] = (struct pool_chain){rl, bn, t};
    }
}

struct pool_chain_op {
    struct conv_src src; /* its rows, for a conv's input gradient that reads them */
    const struct node *pool, *bn;
    const float *dout, *pool_out;
    const int32_t *am;
    float *dconv;
    int guided;
};

/* A 2x2 stride-2 pool whose windows tile its input exactly: each input
 * element is in one window, so the chain's gradient can be written whole
 * (no zeroing first). */
static int pool_tiles(const struct pool_params *p)
{
    return p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && !p->pt && !p->pl && !p->pb &&
           !p->pr && p->h == 2 * p->oh && p->w == 2 * p->ow;
}

/* Planes [lo, hi) of MaxPool -> Relu -> BN's backward in one pass: each
 * window's gradient to its argmax, through the ReLU's mask (and the guided
 * rule) and the BN's scale, into the conv output's gradient (written when
 * the windows tile the input, else added). The ReLU passed the window's
 * gradient where its output at the argmax, the pool's output, is positive. */
static void pool_chain_range(void *a, size_t lo, size_t hi)
{
    const struct pool_chain_op *o = a;
    const struct pool_params *p = &o->pool->p.pool;
    size_t ip = (size_t)p->h * p->w, op = (size_t)p->oh * p->ow;
    for (size_t pl = lo; pl < hi; pl++) {
        float s = o->bn ? o->bn->p.bn.a[pl % (size_t)p->c] : 1.0f;
        const float *g = o->dout + pl * op, *y = o->pool_out + pl * op;
        const int32_t *am = o->am + pl * op;
        float *d = o->dconv + pl * ip;
        if (pool_tiles(p)) {
            maxpool2x2_relu_backward(d, g, y, am, p->oh, p->ow, s, o->guided);
            continue;
        }
        for (size_t k = 0; k < op; k++) {
            int32_t at = am[k];
            if (at < 0 || !(y[k] > 0.0f) || (o->guided && !(g[k] > 0.0f))) continue;
            d[at] += s * g[k];
        }
    }
}

/* Row y of channel c of item b of pool_chain_range's output (tiling
 * windows), for a conv that reads it without it being stored. */
static void pool_chain_row(const struct conv_src *src, int b, int c, int y, float *dst)
{
    const struct pool_chain_op *o = (const struct pool_chain_op *)src;
    const struct pool_params *p = &o->pool->p.pool;
    size_t k = ((size_t)b * p->c + (size_t)c) * p->oh * p->ow + (size_t)(y / 2) * p->ow;
    float s = o->bn ? o->bn->p.bn.a[c] : 1.0f;
    maxpool2x2_relu_row(dst, o->dout + k, o->pool_out + k, o->am + k, p->ow, y, s, o->guided);
}

/* Finds Conv [-> BN] [-> Relu [-> MaxPool 2x2]] chains of consecutive nodes
 * whose intermediate outputs have one reader and are not kept, and whose
 * outputs a backward never visits (nofuse[t]: depends on the bound of a
 * backward run; the bound itself may end a chain); every Conv gets a
 * conv_step, a chain one for all of its nodes. Lean backward runs also fuse
 * Conv [-> BN] [-> Relu] chains above the bound whose intermediates are not
 * in ukeep (what the caller keeps): the backward reads neither the Conv's
 * nor the BN's output there, nor the Relu's before a 2x2 MaxPool (the pool
 * chains read the pool's output and argmax), so such a pool joins the chain,
 * which then writes the pool's argmax too (conv_plan_forward_argmax). */
static void plan_fusion(struct model_run *r, const char *keep, const char *ukeep,
                        const char *nofuse)
{
    const struct graph *g = r->m->g;
    int *readers = xcalloc((size_t)g->nt, sizeof(int));
    for (int i = 0; i < g->nn; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] >= 0) readers[g->nodes[i].in[k]]++;
    for (int i = 0; i < g->nn; i++) {
        const struct node *cv = &g->nodes[i];
        if (cv->op != OP_CONV || r->skip[i]) continue;
        int last = i, t = cv->out;
        const struct node *bn = NULL;
        int relu = 0, pool = 0;
        struct conv_params cp = cv->p.conv;
        cp.relu = 1;
        /* above the bound (the conv's output depends on it, and is not it) */
        int above = nofuse && nofuse[t] && t != r->bound;
        if (!above || r->lean)
            for (int j = i + 1; j < g->nn && j <= i + 3 && !pool; j++) {
                const struct node *nx = &g->nodes[j];
                const char *kp = above ? ukeep : keep;
                if (nx->in[0] != t || readers[t] != 1 || kp[t] || t == g->output ||
                    t == r->bound)
                    break;
                if (!above && nofuse && nofuse[nx->out] && nx->out != r->bound) break;
                if (nx->op == OP_BATCHNORM && !bn && !relu)
                    bn = nx;
                else if (nx->op == OP_RELU && !relu)
                    relu = 1;
                else if (nx->op == OP_MAXPOOL && relu && conv_pool_fusable(&cp, &nx->p.pool))
                    pool = j; /* above the bound: with its argmax */
                else
                    break;
                last = j, t = nx->out;
            }
        struct conv_params p = cv->p.conv;
        p.relu = relu;
        r->conv[i] = conv_step_new(g, i, last, &p, bn, pool ? &g->nodes[pool].p.pool : NULL);
        if (pool && above) r->conv[i]->am_node = pool;
        for (int j = i + 1; j <= last; j++)
            r->skip[j] = 1;
    }
    free(readers);
}

/* Segments over the nodes that run (not skipped): maximal runs without a
 * Gemm/MatMul (whose weights are better shared by a whole batch) holding at
 * least one conv; seg_end[i] = the end for a segment's first node, else 0. */
static void plan_segments(struct model_run *r)
{
    const struct graph *g = r->m->g;
    for (int i = 0; i < g->nn;) {
        if (g->nodes[i].op == OP_GEMM) {
            i++;
            continue;
        }
        int j = i, convs = 0;
        while (j < g->nn && g->nodes[j].op != OP_GEMM)
            convs += r->conv[j] != NULL, j++;
        if (convs) r->seg_end[i] = j;
        i = j;
    }
}

/* Whether a forward of r calls BLAS: a conv by im2col + sgemm. */
static int forward_blas(const struct model_run *r)
{
    for (int i = 0; i < r->m->g->nn; i++)
        if (r->conv[i] && !r->skip[i] && r->conv[i]->plan.path == CONV_PATH_IM2COL) return 1;
    return 0;
}

/* A MaxPool node i that runs on its own or at the end of a fused chain
 * that writes its argmax */
static int pool_runs(const struct model_run *r, int i)
{
    if (!r->skip[i]) return 1;
    for (int j = i - 1; j >= 0; j--)
        if (r->conv[j]) return r->conv[j]->am_node == i;
    return 0;
}

/* Whether a backward of r may call BLAS: a conv's input gradient by
 * conv_backward or by an im2col + sgemm plan, or a dense layer's over weights
 * computed at run time (gemm_backward). */
static int backward_blas(const struct model_run *r)
{
    const struct graph *g = r->m->g;
    for (int i = 0; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        if (!r->bdep[nd->out]) continue;
        if (nd->op == OP_CONV &&
            (!r->conv[i] || !r->conv[i]->bw || r->conv[i]->bw->plan.path == CONV_PATH_IM2COL))
            return 1;
        if (nd->op == OP_GEMM && !g->t[nd->in[1]].f) return 1;
    }
    return 0;
}

/* A run; bound < 0 for forward-only runs. */
static struct model_run *run_new(const struct model *m, int max_batch, int flags, int bound,
                                 const int *keep, int nkeep)
{
    const struct graph *g = m->g;
    if (max_batch < 1) {
        error_set(ERR_INPUT, NULL, "batch size %d", max_batch);
        return NULL;
    }
    int backward = (flags & MODEL_RUN_BACKWARD) != 0;
    struct model_run *r = xcalloc(1, sizeof *r);
    int nn1 = g->nn ? g->nn : 1;
    r->m = m, r->max_batch = max_batch, r->flags = flags, r->bound = bound;
    r->data = xcalloc((size_t)g->nt, sizeof(float *));
    r->dep = xcalloc((size_t)g->nt, 1);
    char *kp = xcalloc((size_t)g->nt, 1);
    for (int i = 0; i < nkeep; i++)
        if (keep[i] >= 0 && keep[i] < g->nt) kp[keep[i]] = 1;
    kp[g->input] = kp[g->output] = kp[m->logits] = 1;
    char *ukp = xmalloc((size_t)g->nt); /* what the caller keeps (and the bound) */
    memcpy(ukp, kp, (size_t)g->nt);
    if (backward) ukp[bound] = 1;
    r->conv = xcalloc((size_t)nn1, sizeof *r->conv);
    r->skip = xcalloc((size_t)nn1, 1);
    r->seg_end = xcalloc((size_t)nn1, sizeof(int));
    if (backward) {
        /* what depends on the bound: a backward visits those nodes, which
         * read their inputs and outputs (kept) and run unfused */
        r->bdep = xcalloc((size_t)g->nt, 1);
        r->bdep[bound] = 1;
        kp[bound] = 1;
        for (int i = 0; i < g->nn; i++) {
            const struct node *nd = &g->nodes[i];
            int visited = 0; /* a backward to the bound passes through it */
            for (int k = 0; k < nd->nin; k++)
                if (nd->in[k] >= 0 && r->bdep[nd->in[k]]) visited = 1;
            if (!visited) continue;
            r->bdep[nd->out] = 1;
            kp[nd->out] = 1;
            for (int k = 0; k < nd->nin; k++)
                if (nd->in[k] >= 0) kp[nd->in[k]] = 1;
        }
    }
    r->lean = backward && (flags & MODEL_RUN_LEAN);
    plan_fusion(r, kp, ukp, r->bdep);
    free(ukp);
    plan_segments(r);
    r->fwd_blas = forward_blas(r);
    r->gpack = xcalloc((size_t)nn1, sizeof *r->gpack);
    for (int i = 0; i < g->nn; i++) { /* dense weights packed for gemm_forward_part */
        const struct node *nd = &g->nodes[i];
        if (nd->op != OP_GEMM || r->skip[i] || !g->t[nd->in[1]].f) continue;
        r->gpack[i] = xmalloc(sizeof(float) * gemm_pack_floats(&nd->p.gemm));
        gemm_pack(r->gpack[i], g->t[nd->in[1]].f, &nd->p.gemm);
    }
    if (backward) {
        r->gbwd = xcalloc((size_t)nn1, sizeof *r->gbwd);
        for (int i = 0; i < g->nn; i++) { /* and as M x K for gemm_backward_part */
            const struct node *nd = &g->nodes[i];
            if (nd->op != OP_GEMM || !g->t[nd->in[1]].f || !r->bdep[nd->in[0]] ||
                !gemm_bwd_pack_floats(&nd->p.gemm))
                continue;
            r->gbwd[i] = xmalloc(sizeof(float) * gemm_bwd_pack_floats(&nd->p.gemm));
            gemm_bwd_pack(r->gbwd[i], g->t[nd->in[1]].f, &nd->p.gemm);
        }
    }
    int *readers = xcalloc((size_t)g->nt, sizeof(int));
    for (int i = 0; i < g->nn; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] >= 0) readers[g->nodes[i].in[k]]++;
    size_t btmp = 0; /* the input gradients of backward convs, before they are added */
    for (int i = 0; backward && i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        struct conv_params bp;
        /* (a chain whose head the backward visits is a lean run's) */
        if (!r->conv[i] || !r->bdep[nd->in[0]] || !conv_backward_params(&nd->p.conv, &bp))
            continue;
        struct conv_step *bw = xcalloc(1, sizeof *bw);
        bw->last = i;
        r->conv[i]->bw_only = readers[nd->in[0]] == 1;
        size_t wn = (size_t)bp.m * bp.c * bp.kh * bp.kw;
        bw->fw = xmalloc(sizeof(float) * wn);
        conv_backward_weights(&nd->p.conv, g->t[nd->in[1]].f, bw->fw);
        bw->w = bw->fw;
        conv_plan_init(&bw->plan, &bp, NULL, conv_isa_default());
        size_t un = conv_plan_weight_floats(&bw->plan);
        if (un) {
            bw->u = xmalloc(sizeof(float) * un);
            conv_plan_weights(&bw->plan, bw->w, bw->u);
        }
        r->conv[i]->bw = bw;
        if (!r->conv[i]->bw_only && g->t[nd->in[0]].item > btmp) btmp = g->t[nd->in[0]].item;
    }
    if (backward) r->bwd_blas = backward_blas(r);
    int *alloc = xmalloc(sizeof(int) * (size_t)nn1);
    for (int i = 0; i < g->nn; i++)
        alloc[i] = r->skip[i]   ? -1
                   : r->conv[i] ? g->nodes[r->conv[i]->last].out
                                : g->nodes[i].out;
    size_t *off = xcalloc((size_t)g->nt, sizeof(size_t));
    size_t *goff = backward ? xcalloc((size_t)g->nt, sizeof(size_t)) : NULL;
    size_t total = plan_memory(g, max_batch, backward, kp, alloc, r->seg_end, off), gtotal = 0;
    free(alloc);
    if (backward) { /* every tensor lives to the end, but what a chain skips */
        memset(kp, 1, (size_t)g->nt);
        for (int i = 0; i < g->nn; i++)
            if (r->conv[i])
                for (int j = i; j < r->conv[i]->last; j++)
                    kp[g->nodes[j].out] = 0;
    }
    r->kept = kp;
    r->guided = (flags & MODEL_RUN_GUIDED_RELU) != 0;
    size_t col = 0, am = 0, per = 0;
    for (int i = 0; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        if (nd->op == OP_CONV && conv_col_floats(&nd->p.conv) > col)
            col = conv_col_floats(&nd->p.conv);
        if (r->conv[i]) {
            size_t s = conv_plan_scratch_floats(&r->conv[i]->plan);
            if (s > per) per = s;
            if (r->conv[i]->bw && (s = conv_plan_scratch_floats(&r->conv[i]->bw->plan)) > per)
                per = s;
        }
        if (backward && nd->op == OP_MAXPOOL && r->bdep[nd->out] && pool_runs(r, i))
            am += round16(g->t[nd->out].item * (size_t)max_batch);
    }
    if (backward) /* gradients only for what depends on the bound */
        for (int t = 0; t < g->nt; t++)
            if (g->t[t].batched && r->bdep[t]) {
                goff[t] = gtotal;
                gtotal += round16(g->t[t].item * (size_t)max_batch);
            }
    r->pool = pool_new(forward_threads());
    r->nthreads = r->pool ? r->pool->n : 1;
    r->per_thread = per;
    size_t bytes, gbytes = 0, sbytes, tbytes = 0;
    if (!backward) col = 1; /* the backward's scratch */
    if (!mul_ok(total, sizeof(float), &bytes) || !mul_ok(gtotal, sizeof(float), &gbytes) ||
        !mul3_ok(btmp, (size_t)max_batch, sizeof(float), &tbytes) ||
        !mul3_ok(per ? per : 1, (size_t)r->nthreads, sizeof(float), &sbytes)) {
        error_set(ERR_INPUT, m->path, "a batch of %d needs more memory than can be addressed",
                  max_batch);
        goto fail;
    }
    /* all of the run's blocks together against --max-memory, before any is
     * allocated: the message names the batch and the figure */
    uint64_t need = (uint64_t)bytes + gbytes + sbytes + tbytes + (uint64_t)col * sizeof(float) +
                    (backward ? (uint64_t)am * sizeof(int32_t) : 0);
    if (need > limits_get()->max_bytes) {
        char nb[32], lb[32];
        error_set(ERR_INPUT, m->path,
                  "a %s run at batch %d needs %s of activation%s and scratch memory, over the "
                  "%s allowed (use a smaller batch or raise --max-memory)",
                  backward ? "forward+backward" : "forward", max_batch,
                  limits_format_bytes(need, nb, sizeof nb), backward ? ", gradient" : "",
                  limits_format_bytes(limits_get()->max_bytes, lb, sizeof lb));
        goto fail;
    }
    if (!(r->block = big_alloc(bytes, m->path, "activation memory")) ||
        !(r->col =
              big_alloc((col ? col : 1) * sizeof(float), m->path, "convolution scratch")) ||
        !(r->scratch = big_alloc(sbytes, m->path, "convolution scratch")))
        goto fail;
    for (int t = 0; t < g->nt; t++)
        r->data[t] = g->t[t].batched ? r->block + off[t] : g->t[t].f;
    if (backward) {
        if (!(r->gblock =
                  big_alloc(gbytes ? gbytes : sizeof(float), m->path, "gradient memory")) ||
            !(r->btmp = big_alloc(tbytes ? tbytes : sizeof(float), m->path,
                                  "convolution gradients")) ||
            !(r->amblock =
                  big_alloc((am ? am : 1) * sizeof(int32_t), m->path, "max-pool indices")))
            goto fail;
        r->grad = xcalloc((size_t)g->nt, sizeof(float *));
        r->argmax = xcalloc((size_t)nn1, sizeof(int32_t *));
        for (int t = 0; t < g->nt; t++)
            if (g->t[t].batched && r->bdep[t]) r->grad[t] = r->gblock + goff[t];
        size_t a = 0;
        for (int i = 0; i < g->nn; i++)
            if (g->nodes[i].op == OP_MAXPOOL && r->bdep[g->nodes[i].out] && pool_runs(r, i)) {
                r->argmax[i] = r->amblock + a;
                a += round16(g->t[g->nodes[i].out].item * (size_t)max_batch);
            }
        if (r->lean) plan_pool_chains(r, readers);
    }
    free(off);
    free(goff);
    free(readers);
    return r;
fail:
    free(off);
    free(goff);
    free(readers);
    model_run_free(r);
    return NULL;
}

struct model_run *model_run_new(const struct model *m, int max_batch, int flags,
                                const int *keep, int nkeep)
{
    return run_new(m, max_batch, flags, (flags & MODEL_RUN_BACKWARD) ? m->g->input : -1, keep,
                   nkeep);
}

struct model_run *model_run_new_bound(const struct model *m, int max_batch, int flags,
                                      int bound, const int *keep, int nkeep)
{
    const struct graph *g = m->g;
    if (bound < 0 || bound >= g->nt || !g->t[bound].batched) {
        error_set(ERR_INPUT, NULL, "bad tensor for the gradient bound");
        return NULL;
    }
    return run_new(m, max_batch, flags | MODEL_RUN_BACKWARD, bound, keep, nkeep);
}

struct model_run *model_run_new_grad(const struct model *m, int max_batch, int bound,
                                     const int *keep, int nkeep)
{
    return model_run_new_bound(m, max_batch, MODEL_RUN_BACKWARD, bound, keep, nkeep);
}

void model_run_free(struct model_run *r)
{
    if (!r) return;
    free(r->block);
    free(r->gblock);
    free(r->amblock);
    free(r->col);
    free(r->btmp);
    free(r->scratch);
    pool_free(r->pool);
    free(r->data);
    free(r->grad);
    free(r->argmax);
    free(r->dep);
    free(r->bdep);
    if (r->conv)
        for (int i = 0; i < r->m->g->nn; i++)
            conv_step_free(r->conv[i]);
    free(r->conv);
    if (r->gpack)
        for (int i = 0; i < r->m->g->nn; i++)
            free(r->gpack[i]);
    free(r->gpack);
    if (r->gbwd)
        for (int i = 0; i < r->m->g->nn; i++)
            free(r->gbwd[i]);
    free(r->gbwd);
    free(r->skip);
    free(r->seg_end);
    free(r->kept);
    free(r->pchain);
    free(r);
}

int model_run_max_batch(const struct model_run *r)
{
    return r->max_batch;
}
int model_run_batch(const struct model_run *r)
{
    return r->n;
}

const float *model_run_tensor(const struct model_run *r, int id)
{
    if (id < 0 || id >= r->m->g->nt) return NULL;
    return r->data[id];
}

const float *model_run_grad(const struct model_run *r, int id)
{
    if (!r->grad || id < 0 || id >= r->m->g->nt || !r->dep[id]) return NULL;
    return r->grad[id];
}

/* ---------------------------------------------------------------- forward */
/* Threads: the convolutions' row tiles and the dense layers' column blocks
 * run on the run's pool, each thread calling a single-threaded BLAS. For
 * this kind of net (M = 32..64 filters, small matrices) that beats OpenBLAS
 * splitting each call over its own pthreads, whose hand-offs (sched_yield
 * spinning) and per-call packing of whole-image matrices dominated the
 * profile. BLAS's thread count is restored after the forward. Batches of at
 * least two items per thread go through each segment an item at a time,
 * the threads taking items in turn. */
static int run_threads(const struct model_run *r)
{
#ifdef _OPENMP
    if (omp_in_parallel()) return 1; /* called from a caller's own threads */
#endif
    return r->nthreads;
}

/* One parallel step of the forward: a conv or a dense layer. */
struct par_step {
    const struct model_run *r;
    float *out;
    const float *x, *w; /* w: a dense layer's packed weights */
    const struct conv_step *cs;
    const struct gemm_params *gp;
    const struct conv_src *src; /* conv_par: the conv's input, computed (x unused) */
    int32_t *am;                /* conv_par: a fused pool's argmax, or NULL */
    int n, nt;
    atomic_int next;
};

static void conv_par(void *a, int tid)
{
    struct par_step *s = a;
    const struct conv_step *cs = s->cs;
    float *scratch = s->r->scratch + (size_t)tid * s->r->per_thread;
    if (s->src)
        conv_plan_forward_src(s->out, s->src, &cs->plan, cs->w, cs->b, cs->u, s->n, s->nt,
                              scratch, &s->next);
    else if (s->am)
        conv_plan_forward_argmax(s->out, s->am, s->x, &cs->plan, cs->w, cs->b, cs->u, s->n,
                                 s->nt, scratch, &s->next);
    else
        conv_plan_forward(s->out, s->x, &cs->plan, cs->w, cs->b, cs->u, s->n, s->nt, scratch,
                          &s->next);
}

static void gemm_par(void *a, int tid)
{
    struct par_step *s = a;
    gemm_forward_part(s->out, s->x, s->w, s->gp, s->n, tid, s->nt);
}

/* cs over the n items of x, or of what src computes (conv_plan_takes_src),
 * writing a fused pool's argmax to am when it is not NULL */
static void run_conv(struct model_run *r, int nt, float *out, int32_t *am, const float *x,
                     const struct conv_src *src, const struct conv_step *cs, int n)
{
    struct par_step s = {
        .r = r, .out = out, .am = am, .x = x, .src = src, .cs = cs, .n = n, .nt = nt};
    atomic_init(&s.next, 0);
    if (nt > 1 && conv_plan_units(&cs->plan, n, nt) > 1)
        pool_run(r->pool, conv_par, &s);
    else
        conv_par(&s, 0);
}

static void gemm_bwd_par(void *a, int tid)
{
    struct par_step *s = a;
    gemm_backward_part(s->out, s->x, s->w, s->gp, s->n, tid, s->nt);
}

/* dx += dout * W'^T over wt (gemm_backward_part), its inputs split over the
 * run's threads */
static void run_gemm_bwd(struct model_run *r, int nt, float *dx, const float *dout,
                         const float *wt, const struct gemm_params *gp, int n)
{
    struct par_step s = {.r = r, .out = dx, .x = dout, .w = wt, .gp = gp, .n = n, .nt = nt};
    if (nt > 1 && gp->k >= 256)
        pool_run(r->pool, gemm_bwd_par, &s);
    else {
        s.nt = 1;
        gemm_bwd_par(&s, 0);
    }
}

static void run_gemm(struct model_run *r, int nt, float *out, const float *x, const float *pk,
                     const struct gemm_params *gp, int n)
{
    struct par_step s = {.r = r, .out = out, .x = x, .w = pk, .gp = gp, .n = n, .nt = nt};
    if (nt > 1 && gp->m >= 32)
        pool_run(r->pool, gemm_par, &s);
    else {
        s.nt = 1;
        gemm_par(&s, 0);
    }
}

int model_run_threads(const struct model_run *r)
{
    return run_threads(r);
}

void model_run_parallel(struct model_run *r, void (*fn)(void *arg, int tid), void *arg)
{
    int nt = run_threads(r);
    if (nt < 2) {
        fn(arg, 0);
        return;
    }
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    pool_run(r->pool, fn, arg);
    openblas_set_num_threads(saved);
}

/* ---- memory-bound ops split over the run's threads: contiguous ranges of
 * planes (an item's channel) or of elements, a range per thread */
struct par_range {
    void (*fn)(void *ctx, size_t lo, size_t hi);
    void *ctx;
    size_t n;
    int nt;
};

static void range_step(void *a, int tid)
{
    struct par_range *s = a;
    size_t lo = s->n * (size_t)tid / (size_t)s->nt,
           hi = s->n * (size_t)(tid + 1) / (size_t)s->nt;
    if (hi > lo) s->fn(s->ctx, lo, hi);
}

/* fn over [0, n) on the run's threads when the work (floats touched) pays
 * for the hand-off, else in the caller. */
static void par_for(struct model_run *r, size_t n, size_t work,
                    void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx)
{
    int nt = run_threads(r);
    if (nt < 2 || n < 2 || work < (1u << 16)) {
        fn(ctx, 0, n);
        return;
    }
    struct par_range s = {fn, ctx, n, nt};
    pool_run(r->pool, range_step, &s);
}

struct par_op {
    const struct node *nd;
    float *out, *dx;
    const float *x, *y, *dout;
    int32_t *am;
    const int32_t *cam;
    int guided;
};

static void act_fwd_range(void *a, size_t lo, size_t hi)
{
    struct par_op *o = a;
    act_forward(o->nd->op, o->out + lo, o->x + lo, hi - lo, &o->nd->p.act);
}

static void act_bwd_range(void *a, size_t lo, size_t hi)
{
    struct par_op *o = a;
    if (o->guided)
        relu_backward_guided(o->dx + lo, o->dout + lo, o->x + lo, hi - lo);
    else
        act_backward(o->nd->op, o->dx + lo, o->dout + lo, o->y + lo, o->x + lo, hi - lo,
                     &o->nd->p.act);
}

/* planes [lo, hi) of a batch-norm, cut at items (the channel restarts) */
static void bn_range(void *a, size_t lo, size_t hi, int backward)
{
    struct par_op *o = a;
    const struct bn_params *p = &o->nd->p.bn;
    size_t C = (size_t)p->c;
    while (lo < hi) {
        size_t c0 = lo % C, cnt = C - c0 < hi - lo ? C - c0 : hi - lo;
        struct bn_params q = *p;
        q.c = (int)cnt, q.a = p->a + c0, q.b = p->b + c0;
        size_t off = lo * p->plane;
        if (backward)
            batchnorm_backward(o->dx + off, o->dout + off, &q, 1);
        else
            batchnorm_forward(o->out + off, o->x + off, &q, 1);
        lo += cnt;
    }
}
static void bn_fwd_range(void *a, size_t lo, size_t hi)
{
    bn_range(a, lo, hi, 0);
}
static void bn_bwd_range(void *a, size_t lo, size_t hi)
{
    bn_range(a, lo, hi, 1);
}

static void maxpool_range(void *a, size_t lo, size_t hi, int backward)
{
    struct par_op *o = a;
    struct pool_params q = o->nd->p.pool;
    q.c = (int)(hi - lo);
    size_t ip = (size_t)q.h * q.w, op = (size_t)q.oh * q.ow;
    if (backward)
        maxpool_backward(o->dx + lo * ip, o->dout + lo * op, o->cam + lo * op, &q, 1);
    else
        maxpool_forward(o->out + lo * op, o->am ? o->am + lo * op : NULL, o->x + lo * ip, &q,
                        1);
}
static void maxpool_fwd_range(void *a, size_t lo, size_t hi)
{
    maxpool_range(a, lo, hi, 0);
}
static void maxpool_bwd_range(void *a, size_t lo, size_t hi)
{
    maxpool_range(a, lo, hi, 1);
}

static void zero_range(void *a, size_t lo, size_t hi)
{
    memset((float *)a + lo, 0, sizeof(float) * (hi - lo));
}

/* Tensor t's data from item b on (constants: their values). */
static float *item_at(const struct model_run *r, int t, int b)
{
    const struct tensor *x = &r->m->g->t[t];
    return x->batched ? r->data[t] + (size_t)b * x->item : r->data[t];
}

/* Node i (or the chain it heads) on items [b, b + n). nt threads share a
 * conv, a dense layer or a memory-bound op; tid >= 0: the calling thread
 * alone (a segment's item), with its own scratch. */
static void run_node(struct model_run *r, int i, int b, int n, int nt, int tid)
{
    const struct graph *g = r->m->g;
    const struct node *nd = &g->nodes[i];
    float *out = item_at(r, nd->out, b);
    const float *x = item_at(r, nd->in[0], b);
    size_t item = g->t[nd->out].item;
    if (r->conv[i]) {
        const struct conv_step *cs = r->conv[i];
        float *o = item_at(r, g->nodes[cs->last].out, b);
        int32_t *am = cs->am_node >= 0 ? r->argmax[cs->am_node] +
                                             (size_t)b * g->t[g->nodes[cs->last].out].item
                                       : NULL;
        if (tid < 0) {
            run_conv(r, nt, o, am, x, NULL, cs, n);
        } else {
            atomic_int next;
            atomic_init(&next, 0);
            float *scratch = r->scratch + (size_t)tid * r->per_thread;
            if (am)
                conv_plan_forward_argmax(o, am, x, &cs->plan, cs->w, cs->b, cs->u, n, 1,
                                         scratch, &next);
            else
                conv_plan_forward(o, x, &cs->plan, cs->w, cs->b, cs->u, n, 1, scratch, &next);
        }
        return;
    }
    int32_t *am = r->argmax && r->argmax[i] ? r->argmax[i] + (size_t)b * item : NULL;
    struct par_op o = {.nd = nd, .out = out, .x = x, .am = am};
    switch (nd->op) {
    case OP_BATCHNORM:
        if (tid < 0)
            par_for(r, (size_t)n * nd->p.bn.c, item * (size_t)n, bn_fwd_range, &o);
        else
            batchnorm_forward(out, x, &nd->p.bn, n);
        break;
    OP_CASES_POINTWISE:
        if (tid < 0)
            par_for(r, item * (size_t)n, item * (size_t)n, act_fwd_range, &o);
        else
            act_forward(nd->op, out, x, item * (size_t)n, &nd->p.act);
        break;
    case OP_SOFTMAX: softmax_forward(out, x, &nd->p.softmax, n); break;
    case OP_COPY: copy_forward(out, x, item, n); break;
    case OP_MAXPOOL:
        if (tid < 0)
            par_for(r, (size_t)n * nd->p.pool.c, g->t[nd->in[0]].item * (size_t)n,
                    maxpool_fwd_range, &o);
        else
            maxpool_forward(out, am, x, &nd->p.pool, n);
        break;
    case OP_AVGPOOL: avgpool_forward(out, x, &nd->p.pool, n); break;
    case OP_GAP:
        gap_forward(out, x, nd->p.pool.c, (size_t)nd->p.pool.h * nd->p.pool.w, n);
        break;
    case OP_GEMM: /* (segments hold no Gemm: a thread alone runs it whole) */
        run_gemm(r, tid < 0 ? nt : 1, out, x, r->gpack[i], &nd->p.gemm, n);
        break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
        eltwise_forward(nd->op, out, x, item_at(r, nd->in[1], b), &nd->p.elt, n);
        break;
    case OP_TRANSPOSE: transpose_forward(out, x, &nd->p.tr, n); break;
    case OP_CONCAT: {
        const float *ins[G_MAX_INPUTS];
        for (int k = 0; k < nd->nin; k++)
            ins[k] = item_at(r, nd->in[k], b);
        concat_forward(out, ins, &nd->p.cat, n);
        break;
    }
    case OP_PAD: pad_forward(out, x, &nd->p.pad, n); break;
    case OP_SLICE: slice_forward(out, x, &nd->p.pad, n); break;
    default: BUG_ON(1);
    }
}

/* A segment [i0, i1) over n items, one item at a time per thread. */
struct seg_job {
    struct model_run *r;
    int i0, i1, n;
    atomic_int next;
};

static void seg_par(void *a, int tid)
{
    struct seg_job *s = a;
    for (;;) {
        int b = atomic_fetch_add(&s->next, 1);
        if (b >= s->n) break;
        for (int i = s->i0; i < s->i1; i++)
            if (!s->r->skip[i]) run_node(s->r, i, b, 1, 1, tid);
    }
}

/* Single-threaded BLAS inside the run's own threads (see run_threads), for
 * the passes that call BLAS (need): each change of OpenBLAS's thread count
 * wakes its threads, which then spin (sched_yield) for a while on the cores
 * the run's own threads need - at batch 1 the second thread of a forward
 * that called no BLAS at all did almost nothing. Returns what to restore
 * (0: nothing). */
static int blas_enter(int nt, int need)
{
    int saved = 0;
    if (nt > 1 && need && (saved = openblas_get_num_threads()) != 1)
        openblas_set_num_threads(1);
    return saved != 1 ? saved : 0;
}

static void blas_leave(int saved)
{
    if (saved) openblas_set_num_threads(saved);
}

void model_run_set_guided(struct model_run *r, int on)
{
    r->guided = on != 0;
}

int model_forward(struct model_run *r, const float *input, int n)
{
    const struct graph *g = r->m->g;
    if (n < 1 || n > r->max_batch)
        return error_set(ERR_INPUT, NULL, "batch of %d items for a run sized for %d", n,
                         r->max_batch);
    r->n = n;
    memset(r->dep, 0, (size_t)g->nt);
    memcpy(r->data[g->input], input, sizeof(float) * g->t[g->input].item * (size_t)n);
    int nt = run_threads(r), saved = blas_enter(nt, r->fwd_blas);
    /* item by item through segments once every thread gets two items */
    int by_item = n >= 2 * nt;
    for (int i = 0; i < g->nn; i++) {
        if (by_item && r->seg_end[i] > i) {
            struct seg_job s = {.r = r, .i0 = i, .i1 = r->seg_end[i], .n = n};
            atomic_init(&s.next, 0);
            if (nt > 1)
                pool_run(r->pool, seg_par, &s);
            else
                seg_par(&s, 0);
            i = r->seg_end[i] - 1;
            continue;
        }
        if (!r->skip[i]) run_node(r, i, 0, n, nt, -1);
    }
    blas_leave(saved);
    return 0;
}

int model_tensor_depends(const struct model *m, int to, int from)
{
    const struct graph *g = m->g;
    if (from < 0 || from >= g->nt || to < 0 || to >= g->nt) return 0;
    if (to == from) return 1;
    char *dep = xcalloc((size_t)g->nt, 1);
    dep[from] = 1;
    for (int i = g->t[from].producer + 1; i < g->nn; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] >= 0 && dep[g->nodes[i].in[k]]) dep[g->nodes[i].out] = 1;
    int r = dep[to];
    free(dep);
    return r;
}

int model_forward_from_keep(const struct model *m, int from, int *keep, int max)
{
    const struct graph *g = m->g;
    if (from < 0 || from >= g->nt) return 0;
    char *dep = xcalloc((size_t)g->nt, 1), *seen = xcalloc((size_t)g->nt, 1);
    int n = 0;
    if (max > 0) keep[n] = from;
    n++;
    dep[from] = 1;
    for (int i = g->t[from].producer + 1; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        int any = 0;
        for (int k = 0; k < nd->nin; k++)
            any |= nd->in[k] >= 0 && dep[nd->in[k]];
        if (!any) continue;
        dep[nd->out] = 1;
        for (int k = 0; k < nd->nin; k++) {
            int t = nd->in[k];
            if (t < 0 || dep[t] || seen[t] || !g->t[t].batched) continue;
            seen[t] = 1;
            if (n < max) keep[n] = t;
            n++;
        }
    }
    free(dep);
    free(seen);
    return n;
}

int model_forward_from(struct model_run *r, int from, const float *data, int n)
{
    const struct graph *g = r->m->g;
    if (n < 1 || n > r->max_batch)
        return error_set(ERR_INPUT, NULL, "batch of %d items for a run sized for %d", n,
                         r->max_batch);
    if (from < 0 || from >= g->nt || !g->t[from].batched)
        return error_set(ERR_INPUT, NULL, "forward from a tensor that is not an activation");
    if (!r->n)
        return error_set(ERR_FAIL, NULL, "forward from '%s' before any forward",
                         g->t[from].name);
    if (!r->kept[from])
        return error_set(ERR_FAIL, NULL,
                         "forward from '%s': the run does not keep it (pass it in keep)",
                         g->t[from].name);
    /* dep: what depends on `from` and is recomputed; the other inputs of the
     * recomputed nodes are taken from item 0 of the last forward */
    char *dep = xcalloc((size_t)g->nt, 1);
    char *spread = xcalloc((size_t)g->nt, 1);
    int first = g->t[from].producer + 1, rc = 0;
    dep[from] = 1;
    for (int i = first; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        int any = 0;
        for (int k = 0; k < nd->nin; k++)
            any |= nd->in[k] >= 0 && dep[nd->in[k]];
        if (!any) continue;
        dep[nd->out] = 1;
        for (int k = 0; k < nd->nin; k++) {
            int t = nd->in[k];
            if (t < 0 || dep[t] || !g->t[t].batched) continue;
            if (!r->kept[t]) {
                rc = error_set(ERR_FAIL, NULL,
                               "forward from '%s': node '%s' also reads '%s', which the run "
                               "does not keep",
                               g->t[from].name, nd->name, g->t[t].name);
                goto done;
            }
            spread[t] = 1;
        }
    }
    for (int t = 0; t < g->nt; t++) /* item 0 to items 1..n-1 */
        if (spread[t])
            for (int k = 1; k < n; k++)
                memcpy(r->data[t] + (size_t)k * g->t[t].item, r->data[t],
                       sizeof(float) * g->t[t].item);
    if (data != r->data[from])
        memmove(r->data[from], data, sizeof(float) * g->t[from].item * (size_t)n);
    r->n = n;
    memset(r->dep, 0, (size_t)g->nt);
    int nt = run_threads(r), saved = blas_enter(nt, r->fwd_blas);
    for (int i = first; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        /* a fused chain runs from its head, when the head's input is recomputed */
        if (r->skip[i] || !dep[nd->out]) continue;
        run_node(r, i, 0, n, nt, -1);
    }
    blas_leave(saved);
done:
    free(dep);
    free(spread);
    return rc;
}

/* ---------------------------------------------------------------- backward */
int model_backward(struct model_run *r, int from, const float *dfrom, int to)
{
    const struct graph *g = r->m->g;
    if (!(r->flags & MODEL_RUN_BACKWARD))
        return error_set(ERR_FAIL, NULL, "backward on a forward-only run");
    if (!r->n) return error_set(ERR_FAIL, NULL, "backward before forward");
    if (to < 0 || to >= g->nt || from < 0 || from >= g->nt || !g->t[to].batched)
        return error_set(ERR_INPUT, NULL, "bad tensor for the gradient");
    if (!r->bdep[to])
        return error_set(ERR_INPUT, NULL,
                         "the run keeps what a gradient needs down to '%s' only, not '%s'",
                         g->t[r->bound].name, g->t[to].name);
    int n = r->n;
    /* dep: tensors that depend on `to` (their gradient is wanted and carries it) */
    memset(r->dep, 0, (size_t)g->nt);
    r->dep[to] = 1;
    for (int i = 0; i < g->nn; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] >= 0 && r->dep[g->nodes[i].in[k]])
                r->dep[g->nodes[i].out] = 1;
    if (!r->dep[from]) {
        memset(r->dep, 0, (size_t)g->nt);
        return error_set(ERR_INPUT, NULL, "'%s' does not depend on '%s'", g->t[from].name,
                         g->t[to].name);
    }
    /* lean runs: the MaxPool <- Relu <- [BN <-] Conv chains whose
     * intermediates are not `to` run their backward in one pass (skip[] marks
     * the Relu and BN nodes it covers; their gradients are not computed) */
    int start = g->t[from].producer; /* the backward visits nodes start, ..., 0 */
    char *skip = NULL;
    if (r->pchain) {
        skip = xcalloc((size_t)(g->nn ? g->nn : 1), 1);
        for (int i = 0; i <= start; i++) {
            const struct pool_chain *pc = &r->pchain[i];
            if (pc->relu < 0 || !r->dep[g->nodes[i].out] || !r->dep[pc->conv_out]) continue;
            int t1 = g->nodes[pc->relu].out, t2 = pc->bn >= 0 ? g->nodes[pc->bn].out : -1;
            if (t1 == to || t2 == to || pc->conv_out == to) continue;
            skip[pc->relu] = 1;
            if (pc->bn >= 0) skip[pc->bn] = 1;
        }
    }
    /* gradients written whole (not zeroed first): by a fused pool chain
     * whose windows tile its input, or by a conv that is its input's only
     * reader (bw_only) */
    char *written = xcalloc((size_t)g->nt, 1);
    for (int i = 0; i <= start; i++) {
        const struct node *nd = &g->nodes[i];
        if (skip && r->pchain[i].relu >= 0 && skip[r->pchain[i].relu] &&
            pool_tiles(&nd->p.pool))
            written[r->pchain[i].conv_out] = 1;
        if (nd->op == OP_CONV && r->dep[nd->out] && r->dep[nd->in[0]] &&
            g->t[nd->in[0]].batched && r->conv[i] && r->conv[i]->bw && r->conv[i]->bw_only &&
            nd->in[0] != from)
            written[nd->in[0]] = 1;
    }
    /* a fused chain whose conv output's gradient feeds only that conv's
     * input gradient, computed as a forward conv that reads each row as the
     * chain makes it (conv_plan_takes_src): the chain's output is never
     * stored (into_conv[pool node] = the conv node, done[] marks it) */
    int *into_conv = NULL;
    char *done = NULL;
    if (skip) {
        into_conv = xmalloc(sizeof(int) * (size_t)(g->nn ? g->nn : 1));
        done = xcalloc((size_t)(g->nn ? g->nn : 1), 1);
        for (int i = 0; i < g->nn; i++) {
            const struct pool_chain *pc = &r->pchain[i];
            into_conv[i] = -1;
            if (i > start || pc->relu < 0 || !skip[pc->relu] ||
                !pool_tiles(&g->nodes[i].p.pool))
                continue;
            int cv = g->t[pc->conv_out].producer, x = g->nodes[cv].in[0];
            const struct conv_step *cs = r->conv[cv];
            if (cs && cs->bw && cs->bw_only && conv_plan_takes_src(&cs->bw->plan) &&
                r->dep[x] && g->t[x].batched)
                into_conv[i] = cv;
        }
    }
    for (int t = 0; t < g->nt; t++)
        if (r->dep[t]) {
            int p = g->t[t].producer;
            if (skip && p >= 0 && skip[p]) continue; /* never read nor written */
            if (written[t]) continue;
            size_t cnt = g->t[t].item * (size_t)n;
            par_for(r, cnt, cnt, zero_range, r->grad[t]);
        }
    memcpy(r->grad[from], dfrom, sizeof(float) * g->t[from].item * (size_t)n);
    /* the convs and memory-bound ops on the run's threads, BLAS
     * single-threaded where a backward calls it (as the forward: OpenBLAS's
     * threads would spin on the small dense gradients, and each change of
     * their count wakes them) */
    int nt = run_threads(r), saved = blas_enter(nt, r->bwd_blas);
    for (int i = start; i >= 0; i--) {
        const struct node *nd = &g->nodes[i];
        if (!r->dep[nd->out] || (skip && (skip[i] || done[i]))) continue;
        if (skip && nd->op == OP_MAXPOOL && r->pchain[i].relu >= 0 && skip[r->pchain[i].relu]) {
            const struct pool_chain *pc = &r->pchain[i];
            struct pool_chain_op o = {{pool_chain_row},
                                      nd,
                                      pc->bn >= 0 ? &g->nodes[pc->bn] : NULL,
                                      r->grad[nd->out],
                                      r->data[nd->out],
                                      r->argmax[i],
                                      r->grad[pc->conv_out],
                                      r->guided};
            int cv = into_conv[i];
            if (cv >= 0) {
                run_conv(r, nt, r->grad[g->nodes[cv].in[0]], NULL, NULL, &o.src,
                         r->conv[cv]->bw, n);
                done[cv] = 1;
                continue;
            }
            par_for(r, (size_t)n * nd->p.pool.c, g->t[nd->in[0]].item * (size_t)n,
                    pool_chain_range, &o);
            continue;
        }
        float *dx[G_MAX_INPUTS];
        int any = 0;
        for (int k = 0; k < G_MAX_INPUTS; k++) {
            int t = k < nd->nin ? nd->in[k] : -1;
            dx[k] = (t >= 0 && r->dep[t] && g->t[t].batched) ? r->grad[t] : NULL;
            any |= dx[k] != NULL;
        }
        if (!any) continue;
        /* a node the backward visits depends on the bound: never fused, but
         * in lean runs (which never read the intermediates they skip) */
        BUG_ON(!r->lean && (r->skip[i] || (r->conv[i] && r->conv[i]->last != i)));
        const float *dout = r->grad[nd->out], *out = r->data[nd->out];
        const float *x = r->data[nd->in[0]];
        size_t item = g->t[nd->out].item;
        switch (nd->op) {
        case OP_CONV:
            if (dx[0] && r->conv[i] && r->conv[i]->bw && r->conv[i]->bw_only) {
                /* as a forward conv; the input's only reader: written */
                run_conv(r, nt, dx[0], NULL, dout, NULL, r->conv[i]->bw, n);
            } else if (dx[0] && r->conv[i] && r->conv[i]->bw) { /* then added */
                size_t cnt = g->t[nd->in[0]].item * (size_t)n;
                run_conv(r, nt, r->btmp, NULL, dout, NULL, r->conv[i]->bw, n);
                for (size_t k = 0; k < cnt; k++)
                    dx[0][k] += r->btmp[k];
            } else {
                conv_backward(dx[0], dout, r->data[nd->in[1]], &nd->p.conv, n, r->col);
            }
            break;
        case OP_BATCHNORM: {
            struct par_op o = {.nd = nd, .dx = dx[0], .dout = dout};
            if (dx[0]) par_for(r, (size_t)n * nd->p.bn.c, item * (size_t)n, bn_bwd_range, &o);
            break;
        }
        OP_CASES_POINTWISE : {
            /* Relu: out > 0 exactly where x > 0; in a lean run x may sit
             * inside a fused chain, never written */
            struct par_op o = {.nd = nd,
                               .dx = dx[0],
                               .dout = dout,
                               .x = nd->op == OP_RELU ? out : x,
                               .y = out,
                               .guided = nd->op == OP_RELU && r->guided};
            par_for(r, item * (size_t)n, item * (size_t)n, act_bwd_range, &o);
            break;
        }
        case OP_SOFTMAX: softmax_backward(dx[0], dout, out, &nd->p.softmax, n); break;
        case OP_COPY: copy_backward(dx[0], dout, item, n); break;
        case OP_MAXPOOL: {
            struct par_op o = {.nd = nd, .dx = dx[0], .dout = dout, .cam = r->argmax[i]};
            par_for(r, (size_t)n * nd->p.pool.c, g->t[nd->in[0]].item * (size_t)n,
                    maxpool_bwd_range, &o);
            break;
        }
        case OP_AVGPOOL: avgpool_backward(dx[0], dout, &nd->p.pool, n); break;
        case OP_GAP:
            gap_backward(dx[0], dout, nd->p.pool.c, (size_t)nd->p.pool.h * nd->p.pool.w, n);
            break;
        case OP_GEMM: {
            const struct gemm_params *gp = &nd->p.gemm;
            const float *wt = gp->trans_b && g->t[nd->in[1]].f ? g->t[nd->in[1]].f : r->gbwd[i];
            if (!dx[0])
                break;
            else if (wt)
                run_gemm_bwd(r, nt, dx[0], dout, wt, gp, n);
            else /* weights computed at run time */
                gemm_backward(dx[0], dout, r->data[nd->in[1]], gp, n);
            break;
        }
        case OP_ADD:
        case OP_SUB:
        case OP_MUL:
        case OP_DIV:
            eltwise_backward(nd->op, dx[0], dx[1], dout, x, r->data[nd->in[1]], &nd->p.elt, n);
            break;
        case OP_TRANSPOSE: transpose_backward(dx[0], dout, &nd->p.tr, n); break;
        case OP_CONCAT: concat_backward(dx, dout, &nd->p.cat, n); break;
        case OP_PAD: pad_backward(dx[0], dout, &nd->p.pad, n); break;
        case OP_SLICE: slice_backward(dx[0], dout, &nd->p.pad, n); break;
        default: BUG_ON(1);
        }
    }
    if (skip) { /* the covered tensors have no gradient to read */
        for (int i = 0; i < g->nn; i++) {
            if (skip[i]) r->dep[g->nodes[i].out] = 0;
            if (into_conv[i] >= 0) r->dep[r->pchain[i].conv_out] = 0;
        }
        free(skip);
        free(into_conv);
        free(done);
    }
    free(written);
    blas_leave(saved);
    return 0;
}

int model_backward_class(struct model_run *r, const int *cls, int to)
{
    const struct model *m = r->m;
    int K = model_num_classes(m);
    size_t cnt = (size_t)K * (size_t)r->n;
    float *seed = xcalloc(cnt ? cnt : 1, sizeof(float));
    for (int i = 0; i < r->n; i++) {
        if (cls[i] < 0 || cls[i] >= K) {
            free(seed);
            return error_set(ERR_INPUT, NULL, "class %d out of range (the model has %d)",
                             cls[i], K);
        }
        seed[(size_t)i * K + cls[i]] = 1.0f;
    }
    int rc = model_backward(r, m->logits, seed, to);
    free(seed);
    return rc;
}

/* ---------------------------------------------------------------- preprocessing */
struct model_prep model_prep_default(void)
{
    struct model_prep p = {.scale = NAN, .nmean = 1, .nstd = 1};
    p.std[0] = 1.0f;
    return p;
}

double model_prep_scale(const struct model *m, const struct model_prep *p)
{
    if (!isnan(p->scale)) return p->scale;
    return m->g->raw_pixels ? 1.0 : 1.0 / 255.0;
}

int model_preprocess(const struct model *m, const struct image *im, const struct model_prep *p,
                     float *dst)
{
    struct model_input_info in;
    if (model_input_info(m, &in)) return ERR_INPUT;
    if (in.c != 1 && in.c != 3)
        return error_set(ERR_INPUT, NULL, "the model wants %d channels; images give 1 or 3",
                         in.c);
    if ((p->nmean != 1 && p->nmean != in.c) || (p->nstd != 1 && p->nstd != in.c))
        return error_set(ERR_INPUT, NULL, "--mean/--std need 1 or %d values", in.c);
    struct image *conv = NULL, *sized = NULL;
    const struct image *src = im;
    if (src->c != in.c) {
        if (!(conv = image_to_channels(src, in.c))) return ERR_INPUT;
        src = conv;
    }
    if (src->h != in.h || src->w != in.w) {
        if (!(sized = image_resize(src, in.h, in.w))) {
            image_free(conv);
            return ERR_INPUT;
        }
        src = sized;
    }
    size_t plane = (size_t)in.h * in.w;
    for (int c = 0; c < in.c; c++) {
        double mean = p->mean[p->nmean == 1 ? 0 : c], sd = p->std[p->nstd == 1 ? 0 : c];
        double k = 255.0 * model_prep_scale(m, p) / sd, b = -mean / sd;
        const float *s = src->data + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++) {
            float v = (float)(s[i] * k + b);
            if (in.layout == MODEL_NHWC)
                dst[i * in.c + c] = v;
            else
                dst[c * plane + i] = v;
        }
    }
    image_free(conv);
    image_free(sized);
    return 0;
}

int model_prep_parse_list(const char *s, float *v, int *n, const char *what)
{
    int k = 0;
    const char *p = s;
    for (;;) {
        char *end;
        double d = strtod(p, &end);
        if (end == p || !isfinite(d) || k == 4)
            return error_set(ERR_INPUT, NULL, "%s: '%s' is not a list of 1 to 4 numbers", what,
                             s);
        v[k++] = (float)d;
        if (!*end) break;
        if (*end != ',')
            return error_set(ERR_INPUT, NULL, "%s: '%s' is not a list of numbers", what, s);
        p = end + 1;
    }
    *n = k;
    return 0;
}

int model_preprocess_file(const struct model *m, const char *path, const struct model_prep *p,
                          float *dst)
{
    struct image *im = image_load(path);
    if (!im) return error_code() ? error_code() : ERR_INPUT;
    int rc = model_preprocess(m, im, p, dst);
    image_free(im);
    if (rc) error_set_path_if_missing(path);
    return rc;
}

/* ---------------------------------------------------------------- probabilities */
int model_prob_classes(const struct model *m)
{
    int k = model_num_classes(m);
    return k == 1 ? 2 : k;
}

void model_run_probs(const struct model_run *r, float *probs)
{
    const struct model *m = r->m;
    int K = model_num_classes(m);
    const float *lg = r->data[m->logits];
    for (int i = 0; i < r->n; i++) {
        const float *z = lg + (size_t)i * K;
        if (K == 1) {
            double s = 1.0 / (1.0 + exp(-(double)z[0]));
            probs[2 * i] = (float)(1.0 - s), probs[2 * i + 1] = (float)s;
            continue;
        }
        float *p = probs + (size_t)i * K;
        if (m->final == MODEL_FINAL_SIGMOID) { /* independent per-class sigmoids */
            for (int k = 0; k < K; k++)
                p[k] = (float)(1.0 / (1.0 + exp(-(double)z[k])));
            continue;
        }
        if (m->final == MODEL_FINAL_SOFTMAX) {
            memcpy(p, r->data[m->g->output] + (size_t)i * K, sizeof(float) * K);
            continue;
        }
        double mx = z[0], sum = 0;
        for (int k = 1; k < K; k++)
            mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < K; k++)
            sum += exp((double)z[k] - mx);
        for (int k = 0; k < K; k++)
            p[k] = (float)(exp((double)z[k] - mx) / sum);
    }
}
