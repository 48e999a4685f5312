/* import_keras.c - the Keras front door: a Keras 3 `.keras` archive (zip of
 * config.json, metadata.json, model.weights.h5) or a legacy `.h5` model
 * (HDF5: the config in the root attribute model_config, the weights under
 * model_weights/). The JSON config gives the layers and how they connect;
 * each layer becomes engine ops through the graph builder (graph_build.c),
 * with TensorFlow's semantics: NHWC outside, NCHW inside (a channels-last
 * input gets a Transpose, a Flatten of a channels-last tensor flattens in
 * H, W, C order), 'same' padding with the extra pixel at the bottom/right,
 * BatchNormalization from its moving statistics. Nothing in the file is
 * ever executed: a Lambda layer (Python bytecode) is refused by name.
 * docs/keras_format.md describes the layouts, and which real files
 * confirmed them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "hdf5.h"
#include "json_value.h"
#include "util.h"
#include "zip.h"

#define KERAS_MAX_JSON  (256u << 20) /* config.json / metadata.json */
#define KERAS_MAX_DEPTH 32           /* models nested in models */
#define KERAS_OPSET     17           /* the ONNX operator semantics the builder follows */

/* A Keras tensor as the engine holds it: (layer, node, index) -> graph
 * tensor; nhwc: the graph holds the NCHW form of a channels-last 4-D tensor. */
struct ktensor {
    char *layer;
    int node, index;
    int t, nhwc;
};
/* The tensors of one (nested) model, by their Keras references. */
struct ktab {
    struct ktensor *v;
    int n, cap;
};

/* Where the layers of one model (or nested model) keep their weights. */
struct kscope {
    char path[768]; /* .keras: the group holding the layers' groups ("layers",
                       "layers/functional/layers"); .h5: "model_weights" or the
                       nested model's group */
    int shared;     /* .h5 nested model: one group for all its layers, the
                       weights told apart by their owner's name */
};

struct kimp {
    struct graph_builder b;
    const char *path;
    int keras3;  /* Keras 3 semantics (hard_sigmoid, defaults) */
    int archive; /* a .keras file (weights by index under vars/) */
    char version[48];
    struct h5file *h5;
    int channels_first;
    int seen_weights; /* a layer with weights was built (for the pixel scale) */
    const struct json_value *absorbed; /* a Resizing done by the preprocessing */
    int depth;
    const char *layers_group; /* .keras: "layers", or tf.keras 2.12-2.14's
                                 "_layer_checkpoint_dependencies" */
};

/* ---------------------------------------------------------------- messages */
static int kerr(struct kimp *K, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int kerr(struct kimp *K, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (K->b.name) return gb_error(&K->b, "%s", why);
    return error_set(ERR_INPUT, K->path, "%s", why);
}

/* Keeps a lower layer's message (JSON, HDF5) and names the file. */
static int kpass(struct kimp *K)
{
    error_set_path_if_missing(K->path);
    return error_code() ? error_code() : ERR_INPUT;
}

/* ---------------------------------------------------------------- JSON helpers */
static const char *jstr(const struct json_value *o, const char *key)
{
    return json_get_str(o, key, NULL);
}

/* An integer member in [lo, hi]; def when absent or null. */
static int jint(struct kimp *K, const struct json_value *o, const char *key, int64_t lo,
                int64_t hi, int64_t def, int64_t *out)
{
    *out = def;
    const struct json_value *v = json_get(o, key);
    if (!v || json_value_type(v) == JSON_NULL) return 0;
    int rc = json_get_int(o, key, lo, hi, out);
    if (rc < 0) return kerr(K, "%s", error_message());
    return 0;
}

static int jnum(struct kimp *K, const struct json_value *o, const char *key, double def,
                double *out)
{
    *out = def;
    const struct json_value *v = json_get(o, key);
    if (!v || json_value_type(v) == JSON_NULL) return 0;
    if (json_num(v, out) || !isfinite(*out)) return kerr(K, "'%s' is not a finite number", key);
    return 0;
}

static int jbool(struct kimp *K, const struct json_value *o, const char *key, int def, int *out)
{
    *out = def;
    const struct json_value *v = json_get(o, key);
    if (!v || json_value_type(v) == JSON_NULL) return 0;
    if (json_boolean(v, out)) return kerr(K, "'%s' is not true or false", key);
    return 0;
}

/* A pair of ints: an int (both) or a list of two; def when absent. */
static int jpair(struct kimp *K, const struct json_value *o, const char *key, int64_t lo,
                 int64_t hi, int64_t def, int64_t v[2])
{
    v[0] = v[1] = def;
    const struct json_value *x = json_get(o, key);
    if (!x || json_value_type(x) == JSON_NULL) return 0;
    if (json_value_type(x) == JSON_NUMBER) {
        if (json_integer(x, &v[0]) || v[0] < lo || v[0] > hi)
            return kerr(K, "'%s' must be an integer from %lld to %lld", key, (long long)lo,
                        (long long)hi);
        v[1] = v[0];
        return 0;
    }
    if (json_value_type(x) != JSON_ARRAY || json_len(x) != 2)
        return kerr(K, "'%s' must be an integer or a list of two", key);
    for (int i = 0; i < 2; i++)
        if (json_integer(json_at(x, i), &v[i]) || v[i] < lo || v[i] > hi)
            return kerr(K, "'%s' must hold integers from %lld to %lld", key, (long long)lo,
                        (long long)hi);
    return 0;
}

/* ((top, bottom), (left, right)) from an int, a pair of ints (symmetric) or
 * a pair of pairs: ZeroPadding2D's padding, Cropping2D's cropping. */
static int jpads(struct kimp *K, const struct json_value *o, const char *key, int64_t p[4])
{
    const struct json_value *x = json_get(o, key);
    int64_t lim = 1 << 16;
    if (x && json_value_type(x) == JSON_ARRAY && json_len(x) == 2 &&
        json_value_type(json_at(x, 0)) == JSON_ARRAY) {
        for (int i = 0; i < 2; i++) {
            const struct json_value *q = json_at(x, i);
            if (json_value_type(q) != JSON_ARRAY || json_len(q) != 2)
                return kerr(K, "'%s' must be ((top, bottom), (left, right))", key);
            for (int j = 0; j < 2; j++)
                if (json_integer(json_at(q, j), &p[2 * i + j]) || p[2 * i + j] < 0 ||
                    p[2 * i + j] > lim)
                    return kerr(K, "'%s' must hold integers from 0 to %lld", key,
                                (long long)lim);
        }
        return 0;
    }
    int64_t v[2];
    if (jpair(K, o, key, 0, lim, 1, v)) return ERR_INPUT;
    p[0] = p[1] = v[0], p[2] = p[3] = v[1];
    return 0;
}

/* ---------------------------------------------------------------- tensors */
static struct ktensor *kt_find(struct ktab *tab, const char *layer, int node, int index)
{
    struct ktensor *any = NULL;
    int calls = 0;
    for (int i = 0; i < tab->n; i++) {
        struct ktensor *k = &tab->v[i];
        if (strcmp(k->layer, layer) || k->index != index) continue;
        if (k->node == node) return k;
        any = k, calls++;
    }
    /* tf.keras numbers a nested model's first outer call 1 (its own inner
     * call is 0): a layer called once is that call, whatever the number */
    return calls == 1 ? any : NULL;
}

static void kt_add(struct ktab *tab, const char *layer, int node, int index, int t, int nhwc)
{
    if (tab->n == tab->cap) {
        tab->cap = tab->cap ? 2 * tab->cap : 64;
        tab->v = xrealloc(tab->v, sizeof *tab->v * (size_t)tab->cap);
    }
    tab->v[tab->n++] = (struct ktensor){xstrdup(layer), node, index, t, nhwc};
}

static void kt_release(struct ktab *tab)
{
    for (int i = 0; i < tab->n; i++)
        free(tab->v[i].layer);
    free(tab->v);
}

/* A tensor name not yet in the graph: base, else base_1, base_2, ... */
static char *fresh_name(struct kimp *K, const char *base)
{
    if (graph_find(K->b.g, base) < 0) return xstrdup(base);
    for (long k = 1;; k++) {
        char *s = xasprintf("%s_%ld", base, k);
        if (graph_find(K->b.g, s) < 0) return s;
        free(s);
    }
}

static int rank_of(struct kimp *K, int t)
{
    return K->b.g->t[t].ndim;
}

/* ---------------------------------------------------------------- builder calls */
struct kattrs {
    struct attr v[12];
    int64_t store[12][8];
    struct attrs as;
};

static void ka_init(struct kattrs *a)
{
    memset(a, 0, sizeof *a);
    a->as.v = a->v;
    a->as.opset = KERAS_OPSET;
}
static void ka_i(struct kattrs *a, const char *name, int64_t i)
{
    a->v[a->as.n++] = (struct attr){.name = name, .i = i};
}
static void ka_f(struct kattrs *a, const char *name, float f)
{
    a->v[a->as.n++] = (struct attr){.name = name, .f = f};
}
static void ka_s(struct kattrs *a, const char *name, const char *s)
{
    a->v[a->as.n++] = (struct attr){.name = name, .s = s, .slen = strlen(s), .has_s = 1};
}
static void ka_ints(struct kattrs *a, const char *name, const int64_t *v, int n)
{
    int k = a->as.n;
    memcpy(a->store[k], v, sizeof(int64_t) * (size_t)n);
    a->v[a->as.n++] = (struct attr){.name = name, .ints = a->store[k], .nints = (size_t)n};
}

/* Adds op (the engine's name) over in[0..nin) into a tensor named `name`
 * (made unique); the output tensor index, or an error. */
static int op(struct kimp *K, const char *opname, const int *in, int nin, const char *name,
              const struct kattrs *a)
{
    struct kattrs none;
    if (!a) ka_init(&none), a = &none;
    char *nm = fresh_name(K, name);
    int t = graph_build_node(&K->b, opname, in, nin, nm, &a->as);
    free(nm);
    return t;
}

static int op1(struct kimp *K, const char *opname, int x, const char *name,
               const struct kattrs *a)
{
    return op(K, opname, &x, 1, name, a);
}

/* A constant of shape dims with the values v (copied). */
static int kconst(struct kimp *K, const char *name, int ndim, const int64_t *dims,
                  const float *v)
{
    char *nm = fresh_name(K, name);
    int t = graph_build_const(&K->b, nm, ndim, dims);
    free(nm);
    if (t < 0) return t;
    if (v) memcpy(K->b.g->t[t].f, v, sizeof(float) * K->b.g->t[t].item);
    return t;
}

static int kconst_scalar(struct kimp *K, const char *name, float v)
{
    return kconst(K, name, 0, NULL, &v);
}

static int kconst_ints(struct kimp *K, const char *name, const int64_t *v, int n)
{
    char *nm = fresh_name(K, name);
    int t = graph_build_const_ints(&K->b, nm, v, n);
    free(nm);
    return t;
}

/* NCHW <-> NHWC on a 4-D activation. */
static int to_nhwc(struct kimp *K, int x, const char *name)
{
    struct kattrs a;
    ka_init(&a);
    ka_ints(&a, "perm", (int64_t[]){0, 2, 3, 1}, 4);
    return op1(K, "Transpose", x, name, &a);
}
static int to_nchw(struct kimp *K, int x, const char *name)
{
    struct kattrs a;
    ka_init(&a);
    ka_ints(&a, "perm", (int64_t[]){0, 3, 1, 2}, 4);
    return op1(K, "Transpose", x, name, &a);
}

/* The engine axis of Keras axis `ax` on a tensor of Keras rank r (batch
 * included) held NCHW when nhwc. -1 when out of range. */
static int map_axis(int64_t ax, int r, int nhwc)
{
    if (ax < 0) ax += r;
    if (ax < 0 || ax >= r) return -1;
    if (!nhwc || r != 4) return (int)ax;
    static const int m[4] = {0, 2, 3, 1};
    return m[ax];
}

/* ---------------------------------------------------------------- weights */
/* The variables of one layer: .keras files store them by index under
 * <group>/vars/<i> in the layer's creation order; legacy .h5 files list them
 * by name in the group's weight_names attribute. */
struct kvars {
    char group[900];   /* .keras: the layer's group; .h5: the group with weight_names */
    const char *owner; /* .h5 nested model: the layer's name (weights "owner/var:0") */
    char **names;      /* .h5: weight_names */
    size_t nnames;
    const char *const *order; /* .keras: the variable names in save order */
    int norder;
};

static void kvars_release(struct kvars *v)
{
    for (size_t i = 0; i < v->nnames; i++)
        free(v->names[i]);
    free(v->names);
    v->names = NULL, v->nnames = 0;
}

/* "conv2d/kernel:0" -> var "kernel", owner "conv2d" (into the buffers). */
static void split_weight_name(const char *w, char *owner, size_t on, char *var, size_t vn)
{
    const char *last = strrchr(w, '/');
    const char *v = last ? last + 1 : w;
    snprintf(var, vn, "%s", v);
    char *colon = strchr(var, ':');
    if (colon) *colon = 0;
    owner[0] = 0;
    if (last) {
        const char *prev = last;
        while (prev > w && prev[-1] != '/')
            prev--;
        size_t k = (size_t)(last - prev);
        if (k >= on) k = on - 1;
        memcpy(owner, prev, k);
        owner[k] = 0;
    }
}

/* The path of variable `var` (one of the names in alias[], '|'-separated)
 * of the layer, or NULL (absent). */
static char *kvar_path(struct kimp *K, struct kvars *v, const char *var)
{
    if (K->archive) {
        for (int i = 0; i < v->norder; i++)
            if (!strcmp(v->order[i], var)) return xasprintf("%s/vars/%d", v->group, i);
        return NULL;
    }
    for (size_t i = 0; i < v->nnames; i++) {
        char owner[256], name[256];
        split_weight_name(v->names[i], owner, sizeof owner, name, sizeof name);
        if (v->owner && strcmp(owner, v->owner)) continue;
        /* aliases: Keras 3 renamed DepthwiseConv2D's depthwise_kernel to kernel */
        int hit = !strcmp(name, var) ||
                  (!strcmp(var, "depthwise_kernel") && !strcmp(name, "kernel")) ||
                  (!strcmp(var, "kernel") && !strcmp(name, "depthwise_kernel"));
        if (hit) return xasprintf("%s/%s", v->group, v->names[i]);
    }
    return NULL;
}

/* Reads variable var of the layer into a new buffer (caller frees) after
 * checking that its shape is want[0..nd). */
static float *kvar_read(struct kimp *K, struct kvars *v, const char *var, int nd,
                        const int64_t *want)
{
    char *p = kvar_path(K, v, var);
    if (!p) {
        kerr(K, "weight '%s' is missing from the file's weights (%s)", var, v->group);
        return NULL;
    }
    int ndim;
    uint64_t dims[H5_MAX_RANK];
    float *buf = NULL;
    int kind = h5_kind(K->h5, p);
    if (kind != H5_DATASET) {
        if (kind < 0)
            kerr(K, "weight '%s' (%s): %s", var, p, error_message());
        else
            kerr(K, "weight '%s' is missing from the file's weights (no %s)", var, p);
        goto out;
    }
    if (h5_dataset_shape(K->h5, p, &ndim, dims)) {
        kerr(K, "weight '%s' (%s): %s", var, p, error_message());
        goto out;
    }
    char ws[160], hs[160];
    size_t k = 0, count = 1;
    int same = ndim == nd;
    k += (size_t)snprintf(ws + k, sizeof ws - k, "[");
    for (int i = 0; i < nd && k < sizeof ws; i++)
        k +=
            (size_t)snprintf(ws + k, sizeof ws - k, "%s%lld", i ? "," : "", (long long)want[i]);
    if (k < sizeof ws) snprintf(ws + k, sizeof ws - k, "]");
    k = (size_t)snprintf(hs, sizeof hs, "[");
    for (int i = 0; i < ndim && k < sizeof hs; i++) {
        k += (size_t)snprintf(hs + k, sizeof hs - k, "%s%llu", i ? "," : "",
                              (unsigned long long)dims[i]);
        if (i < nd && dims[i] != (uint64_t)want[i]) same = 0;
    }
    if (k < sizeof hs) snprintf(hs + k, sizeof hs - k, "]");
    if (!same) {
        kerr(K, "weight '%s' has shape %s, but the layer's config needs %s", var, hs, ws);
        goto out;
    }
    for (int i = 0; i < nd; i++)
        if (!mul_ok(count, (size_t)want[i], &count)) count = SIZE_MAX;
    size_t bytes;
    if (count == SIZE_MAX || !mul_ok(count, sizeof(float), &bytes) ||
        !graph_alloc_fits(K->b.g, 2 * bytes)) {
        kerr(K, "weight '%s' %s is over the memory allowed (raise it with --max-memory)", var,
             ws);
        goto out;
    }
    buf = xmalloc(bytes ? bytes : sizeof(float));
    if (h5_dataset_read_f32(K->h5, p, buf, count)) {
        kerr(K, "weight '%s' (%s): %s", var, p, error_message());
        free(buf);
        buf = NULL;
    }
out:
    free(p);
    return buf;
}

/* ---------------------------------------------------------------- activations */
/* The activation named by a config value: a string, or Keras 3's serialised
 * built-in {"class_name": "function", "config": "relu"}. NULL when absent
 * or not a built-in. */
static const char *activation_name(const struct json_value *v)
{
    if (!v || json_value_type(v) == JSON_NULL) return "linear";
    if (json_value_type(v) == JSON_STRING) return json_str(v);
    if (json_value_type(v) == JSON_OBJECT) {
        const struct json_value *c = json_get(v, "config");
        if (c && json_value_type(c) == JSON_STRING) return json_str(c);
    }
    return NULL;
}

/* Adds activation `act` after x; the output (x for linear). The final
 * tensor is called `name`. */
static int add_activation(struct kimp *K, const char *act, int x, int nhwc, const char *name)
{
    struct kattrs a;
    ka_init(&a);
    if (!act) return kerr(K, "a custom activation is not supported (only Keras's built-ins)");
    if (!strcmp(act, "linear")) return x;
    const char *simple[][2] = {{"relu", "Relu"},         {"sigmoid", "Sigmoid"},
                               {"tanh", "Tanh"},         {"selu", "Selu"},
                               {"softplus", "Softplus"}, {"softsign", "Softsign"},
                               {"exponential", "Exp"},   {"gelu", "Gelu"}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (!strcmp(act, simple[i][0])) return op1(K, simple[i][1], x, name, NULL);
    if (!strcmp(act, "elu")) {
        ka_f(&a, "alpha", 1.0f);
        return op1(K, "Elu", x, name, &a);
    }
    if (!strcmp(act, "leaky_relu")) {
        ka_f(&a, "alpha", 0.2f);
        return op1(K, "LeakyRelu", x, name, &a);
    }
    if (!strcmp(act, "softmax")) {
        int r = rank_of(K, x);
        ka_i(&a, "axis", map_axis(-1, r, nhwc));
        return op1(K, "Softmax", x, name, &a);
    }
    if (!strcmp(act, "hard_sigmoid")) { /* Keras 3: relu6(x + 3) / 6; Keras 2: 0.2 x + 0.5 */
        ka_f(&a, "alpha", K->keras3 ? 1.0f / 6 : 0.2f);
        ka_f(&a, "beta", 0.5f);
        return op1(K, "HardSigmoid", x, name, &a);
    }
    if (!strcmp(act, "relu6")) {
        int lo = kconst_scalar(K, "relu6/min", 0.0f), hi = kconst_scalar(K, "relu6/max", 6.0f);
        if (lo < 0 || hi < 0) return ERR_INPUT;
        return op(K, "Clip", (int[]){x, lo, hi}, 3, name, NULL);
    }
    char *base = xasprintf("%s/%s", name, act);
    int t = -1;
    if (!strcmp(act, "swish") || !strcmp(act, "silu")) { /* x sigmoid(x) */
        t = op1(K, "Sigmoid", x, base, NULL);
        if (t >= 0) t = op(K, "Mul", (int[]){x, t}, 2, name, NULL);
    } else if (!strcmp(act, "hard_silu") || !strcmp(act, "hard_swish")) {
        ka_f(&a, "alpha", 1.0f / 6);
        ka_f(&a, "beta", 0.5f);
        t = op1(K, "HardSigmoid", x, base, &a);
        if (t >= 0) t = op(K, "Mul", (int[]){x, t}, 2, name, NULL);
    } else if (!strcmp(act, "mish")) { /* x tanh(softplus(x)) */
        t = op1(K, "Softplus", x, base, NULL);
        if (t >= 0) t = op1(K, "Tanh", t, base, NULL);
        if (t >= 0) t = op(K, "Mul", (int[]){x, t}, 2, name, NULL);
    } else {
        free(base);
        return kerr(K, "activation '%s' is not supported", act);
    }
    free(base);
    return t;
}

/* ---------------------------------------------------------------- layers */
/* One call of a layer: its entry in the config, its input tensors, where
 * its weights are, the name of its output. */
struct kcall {
    const struct json_value *entry, *cfg;
    const char *cls, *name;
    struct ktensor in[G_MAX_INPUTS];
    int nin;
    struct kvars vars;
    char *out_name; /* the layer's name, made unique in the graph */
    int out, nhwc;  /* result */
    size_t params;
};

/* The name of a layer's output before its activation: the layer's own name
 * when the activation is linear (so --layer finds it), else NAME/linear. */
static char *pre_name(const struct kcall *L, const char *act)
{
    if (act && !strcmp(act, "linear")) return xstrdup(L->out_name);
    return xasprintf("%s/linear", L->name);
}

static const char *const *k3_order(const char *cls, const struct json_value *cfg, int *n)
{
    static const char *const conv[] = {"kernel", "bias"};
    static const char *const sep[] = {"depthwise_kernel", "pointwise_kernel", "bias"};
    static const char *const norm[] = {"mean", "variance", "count"};
    static const char *const bn_all[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    static const char *const bn_g[] = {"gamma", "moving_mean", "moving_variance"};
    static const char *const bn_b[] = {"beta", "moving_mean", "moving_variance"};
    static const char *const bn_none[] = {"moving_mean", "moving_variance"};
    int scale = 1, center = 1;
    const struct json_value *v;
    if ((v = json_get(cfg, "scale")) && json_value_type(v) == JSON_BOOL)
        json_boolean(v, &scale);
    if ((v = json_get(cfg, "center")) && json_value_type(v) == JSON_BOOL)
        json_boolean(v, &center);
    if (!strcmp(cls, "Conv2D") || !strcmp(cls, "Dense") || !strcmp(cls, "DepthwiseConv2D"))
        return *n = 2, conv;
    if (!strcmp(cls, "SeparableConv2D")) return *n = 3, sep;
    if (!strcmp(cls, "Normalization")) return *n = 3, norm;
    if (!strcmp(cls, "BatchNormalization")) {
        if (scale && center) return *n = 4, bn_all;
        if (scale) return *n = 3, bn_g;
        if (center) return *n = 3, bn_b;
        return *n = 2, bn_none;
    }
    return *n = 0, NULL;
}

/* ---- layers with weights ---- */

/* Conv2D, DepthwiseConv2D, SeparableConv2D: kernel HWIO (depthwise: H, W,
 * C, multiplier) to the engine's OIHW; strides, dilations, 'valid'/'same'. */
static int layer_conv(struct kimp *K, struct kcall *L)
{
    const struct json_value *c = L->cfg;
    int depthwise = !strcmp(L->cls, "DepthwiseConv2D"),
        sep = !strcmp(L->cls, "SeparableConv2D");
    int64_t ks[2], st[2], dil[2], filters = 0, mult = 1, groups = 1;
    int use_bias;
    if (jpair(K, c, "kernel_size", 1, 1 << 12, -1, ks) ||
        jpair(K, c, "strides", 1, 1 << 16, 1, st) ||
        jpair(K, c, "dilation_rate", 1, 1 << 16, 1, dil) ||
        jbool(K, c, "use_bias", 1, &use_bias) || jint(K, c, "groups", 1, 1 << 20, 1, &groups) ||
        jint(K, c, "depth_multiplier", 1, 1 << 20, 1, &mult))
        return ERR_INPUT;
    if (ks[0] < 0) return kerr(K, "no kernel_size");
    if (!depthwise && jint(K, c, "filters", 1, 1 << 24, 0, &filters)) return ERR_INPUT;
    if (!depthwise && filters < 1) return kerr(K, "no filters");
    const char *pad = jstr(c, "padding");
    if (!pad) pad = "valid";
    if (strcmp(pad, "valid") && strcmp(pad, "same"))
        return kerr(K, "padding '%s' is not supported (valid, same)", pad);
    if ((st[0] > 1 || st[1] > 1) && (dil[0] > 1 || dil[1] > 1))
        return kerr(K, "strides and dilation_rate both above 1");
    const struct tensor *xt = &K->b.g->t[L->in[0].t];
    if (xt->ndim != 4) return kerr(K, "needs a 4-D input");
    int64_t C = xt->dims[1];
    const char *act = activation_name(json_get(c, "activation"));
    if (!depthwise && !sep && C % groups)
        return kerr(K, "groups %lld does not divide the %lld input channels", (long long)groups,
                    (long long)C);
    int x = L->in[0].t;
    struct kattrs a;
    ka_init(&a);
    ka_ints(&a, "strides", st, 2);
    ka_ints(&a, "dilations", dil, 2);
    ka_s(&a, "auto_pad", !strcmp(pad, "same") ? "SAME_UPPER" : "VALID");
    int64_t kd[4], wd[4];
    float *k = NULL, *b = NULL, *pk = NULL;
    int rc = ERR_INPUT;
    char *nm;
    if (depthwise || sep) {
        kd[0] = ks[0], kd[1] = ks[1], kd[2] = C, kd[3] = mult;
        if (!(k = kvar_read(K, &L->vars, depthwise ? "kernel" : "depthwise_kernel", 4, kd)))
            goto out;
        /* (kh, kw, C, m) -> (C*m, 1, kh, kw): output channel c*m + j */
        wd[0] = C * mult, wd[1] = 1, wd[2] = ks[0], wd[3] = ks[1];
        nm = xasprintf("%s/depthwise_kernel", L->name);
        int w = kconst(K, nm, 4, wd, NULL);
        free(nm);
        if (w < 0) goto out;
        float *W = K->b.g->t[w].f;
        for (int64_t y = 0; y < ks[0]; y++)
            for (int64_t xx = 0; xx < ks[1]; xx++)
                for (int64_t ch = 0; ch < C; ch++)
                    for (int64_t j = 0; j < mult; j++)
                        W[((ch * mult + j) * ks[0] + y) * ks[1] + xx] =
                            k[((y * ks[1] + xx) * C + ch) * mult + j];
        L->params += (size_t)(C * mult * ks[0] * ks[1]);
        struct kattrs ad = a;
        ad.as.v = ad.v;
        ka_i(&ad, "group", C);
        int in3[3] = {x, w, -1};
        int nin = 2;
        if (depthwise && use_bias) {
            int64_t bd[1] = {C * mult};
            if (!(b = kvar_read(K, &L->vars, "bias", 1, bd))) goto out;
            nm = xasprintf("%s/bias", L->name);
            in3[2] = kconst(K, nm, 1, bd, b);
            free(nm);
            if (in3[2] < 0) goto out;
            nin = 3;
            L->params += (size_t)bd[0];
        }
        nm = depthwise ? pre_name(L, act) : xasprintf("%s/depthwise", L->name);
        x = op(K, "Conv", in3, nin, nm, &ad);
        free(nm);
        if (x < 0) goto out;
        if (depthwise) {
            rc = 0;
            L->out = x;
            goto out;
        }
        /* the pointwise 1x1 conv */
        int64_t pd[4] = {1, 1, C * mult, filters};
        if (!(pk = kvar_read(K, &L->vars, "pointwise_kernel", 4, pd))) goto out;
        int64_t pw[4] = {filters, C * mult, 1, 1};
        nm = xasprintf("%s/pointwise_kernel", L->name);
        w = kconst(K, nm, 4, pw, NULL); /* (1,1,I,O) -> (O,I,1,1) below */
        free(nm);
        if (w < 0) goto out;
        W = K->b.g->t[w].f;
        for (int64_t i = 0; i < C * mult; i++)
            for (int64_t o = 0; o < filters; o++)
                W[o * C * mult + i] = pk[i * filters + o];
        L->params += (size_t)(filters * C * mult);
        int inp[3] = {x, w, -1};
        nin = 2;
        if (use_bias) {
            int64_t bd[1] = {filters};
            if (!(b = kvar_read(K, &L->vars, "bias", 1, bd))) goto out;
            nm = xasprintf("%s/bias", L->name);
            inp[2] = kconst(K, nm, 1, bd, b);
            free(nm);
            if (inp[2] < 0) goto out;
            nin = 3;
            L->params += (size_t)filters;
        }
        struct kattrs a1;
        ka_init(&a1);
        nm = pre_name(L, act);
        x = op(K, "Conv", inp, nin, nm, &a1);
        free(nm);
        if (x >= 0) rc = 0;
        L->out = x;
        goto out;
    }
    kd[0] = ks[0], kd[1] = ks[1], kd[2] = C / groups, kd[3] = filters;
    if (!(k = kvar_read(K, &L->vars, "kernel", 4, kd))) goto out;
    wd[0] = filters, wd[1] = C / groups, wd[2] = ks[0], wd[3] = ks[1];
    nm = xasprintf("%s/kernel", L->name);
    int w = kconst(K, nm, 4, wd, NULL);
    free(nm);
    if (w < 0) goto out;
    float *W = K->b.g->t[w].f;
    int64_t ci = C / groups;
    for (int64_t y = 0; y < ks[0]; y++)
        for (int64_t xx = 0; xx < ks[1]; xx++)
            for (int64_t i = 0; i < ci; i++)
                for (int64_t o = 0; o < filters; o++)
                    W[((o * ci + i) * ks[0] + y) * ks[1] + xx] =
                        k[((y * ks[1] + xx) * ci + i) * filters + o];
    L->params += (size_t)(filters * ci * ks[0] * ks[1]);
    int in3[3] = {x, w, -1}, nin = 2;
    if (use_bias) {
        int64_t bd[1] = {filters};
        if (!(b = kvar_read(K, &L->vars, "bias", 1, bd))) goto out;
        nm = xasprintf("%s/bias", L->name);
        in3[2] = kconst(K, nm, 1, bd, b);
        free(nm);
        if (in3[2] < 0) goto out;
        nin = 3;
        L->params += (size_t)filters;
    }
    ka_i(&a, "group", groups);
    nm = pre_name(L, act);
    L->out = op(K, "Conv", in3, nin, nm, &a);
    free(nm);
    if (L->out >= 0) rc = 0;
out:
    free(k), free(b), free(pk);
    if (rc) return ERR_INPUT;
    L->nhwc = L->in[0].nhwc;
    K->seen_weights = 1;
    L->out = add_activation(K, act, L->out, L->nhwc, L->out_name);
    return L->out < 0 ? ERR_INPUT : 0;
}

/* Dense: kernel (in, out), applied to the last axis. */
static int layer_dense(struct kimp *K, struct kcall *L)
{
    const struct json_value *c = L->cfg;
    int64_t units;
    int use_bias;
    if (jint(K, c, "units", 1, 1 << 24, 0, &units) || jbool(K, c, "use_bias", 1, &use_bias))
        return ERR_INPUT;
    if (units < 1) return kerr(K, "no units");
    int x = L->in[0].t, nhwc = L->in[0].nhwc;
    int r = rank_of(K, x);
    const char *act = activation_name(json_get(c, "activation"));
    if (nhwc && r == 4) {
        char *nm0 = xasprintf("%s/nhwc", L->name);
        x = to_nhwc(K, x, nm0);
        free(nm0);
        if (x < 0) return ERR_INPUT;
    }
    const struct tensor *xt = &K->b.g->t[x];
    int64_t n = xt->dims[xt->ndim - 1], kd[2] = {n, units};
    float *k = kvar_read(K, &L->vars, "kernel", 2, kd), *b = NULL;
    if (!k) return ERR_INPUT;
    char *nm = xasprintf("%s/kernel", L->name);
    int w = kconst(K, nm, 2, kd, k);
    free(nm);
    free(k);
    if (w < 0) return ERR_INPUT;
    L->params = (size_t)(n * units);
    int in3[3] = {x, w, -1};
    int nin = 2;
    if (use_bias) {
        int64_t bd[1] = {units};
        if (!(b = kvar_read(K, &L->vars, "bias", 1, bd))) return ERR_INPUT;
        nm = xasprintf("%s/bias", L->name);
        in3[2] = kconst(K, nm, 1, bd, b);
        free(nm);
        free(b);
        if (in3[2] < 0) return ERR_INPUT;
        nin = 3;
        L->params += (size_t)units;
    }
    nm = nhwc && r == 4 ? xasprintf("%s/matmul", L->name) : pre_name(L, act);
    int t;
    if (r == 2) {
        t = op(K, "Gemm", in3, nin, nm, NULL);
    } else { /* any rank: MatMul on the last axis, then the bias */
        char *mm = nin == 3 ? xasprintf("%s/matmul", L->name) : xstrdup(nm);
        t = op(K, "MatMul", in3, 2, mm, NULL);
        free(mm);
        if (t >= 0 && nin == 3) t = op(K, "Add", (int[]){t, in3[2]}, 2, nm, NULL);
    }
    free(nm);
    if (t < 0) return ERR_INPUT;
    if (nhwc && r == 4) {
        char *nm0 = pre_name(L, act);
        t = to_nchw(K, t, nm0);
        free(nm0);
        if (t < 0) return ERR_INPUT;
    }
    K->seen_weights = 1;
    L->nhwc = nhwc && r == 4;
    L->out = add_activation(K, act, t, L->nhwc, L->out_name);
    return L->out < 0 ? ERR_INPUT : 0;
}

/* A per-channel affine y = a x + b on the channel axis, as a
 * BatchNormalization with mean 0, variance 1, epsilon 0. */
static int affine(struct kimp *K, struct kcall *L, int x, int64_t C, const float *a,
                  const float *b, const char *name)
{
    int64_t d[1] = {C};
    float *ones = xmalloc(sizeof(float) * (size_t)C),
          *zeros = xcalloc((size_t)C, sizeof(float));
    for (int64_t i = 0; i < C; i++)
        ones[i] = 1.0f;
    char *n1 = xasprintf("%s/scale", L->name), *n2 = xasprintf("%s/offset", L->name);
    char *n3 = xasprintf("%s/zero", L->name), *n4 = xasprintf("%s/one", L->name);
    int in[5] = {x, kconst(K, n1, 1, d, a), kconst(K, n2, 1, d, b), kconst(K, n3, 1, d, zeros),
                 kconst(K, n4, 1, d, ones)};
    free(n1), free(n2), free(n3), free(n4), free(ones), free(zeros);
    for (int i = 1; i < 5; i++)
        if (in[i] < 0) return ERR_INPUT;
    struct kattrs at;
    ka_init(&at);
    ka_f(&at, "epsilon", 0.0f);
    return op(K, "BatchNormalization", in, 5, name, &at);
}

/* The channel count of the tensor the layer normalises: Keras axis (-1 by
 * default, or an axis list of one) must be the channel axis. */
static int channel_axis(struct kimp *K, struct kcall *L, int64_t *C)
{
    const struct json_value *ax = json_get(L->cfg, "axis");
    int64_t a = -1;
    if (ax && json_value_type(ax) == JSON_ARRAY) {
        if (json_len(ax) != 1 || json_integer(json_at(ax, 0), &a))
            return kerr(K, "axis must be one axis");
    } else if (ax && json_value_type(ax) != JSON_NULL && json_integer(ax, &a)) {
        return kerr(K, "axis must be an integer");
    }
    int x = L->in[0].t, r = rank_of(K, x);
    int m = map_axis(a, r, L->in[0].nhwc);
    if (m != 1)
        return kerr(K,
                    "normalising axis %lld of a rank-%d tensor is not supported (only the "
                    "channels)",
                    (long long)a, r);
    *C = K->b.g->t[x].dims[1];
    return 0;
}

static int layer_batchnorm(struct kimp *K, struct kcall *L)
{
    int scale, center;
    double eps;
    int64_t C;
    if (jbool(K, L->cfg, "scale", 1, &scale) || jbool(K, L->cfg, "center", 1, &center) ||
        jnum(K, L->cfg, "epsilon", 1e-3, &eps) || channel_axis(K, L, &C))
        return ERR_INPUT;
    int64_t d[1] = {C};
    float *v[4] = {NULL, NULL, NULL, NULL};
    const char *names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    int rc = ERR_INPUT, in[5] = {L->in[0].t, -1, -1, -1, -1};
    for (int i = 0; i < 4; i++) {
        if ((i == 0 && !scale) || (i == 1 && !center)) {
            v[i] = xmalloc(sizeof(float) * (size_t)C);
            for (int64_t k = 0; k < C; k++)
                v[i][k] = i == 0 ? 1.0f : 0.0f;
        } else {
            if (!(v[i] = kvar_read(K, &L->vars, names[i], 1, d))) goto out;
            L->params += (size_t)C;
        }
        char *nm = xasprintf("%s/%s", L->name, names[i]);
        in[i + 1] = kconst(K, nm, 1, d, v[i]);
        free(nm);
        if (in[i + 1] < 0) goto out;
    }
    struct kattrs a;
    ka_init(&a);
    ka_f(&a, "epsilon", (float)eps);
    L->out = op(K, "BatchNormalization", in, 5, L->out_name, &a);
    L->nhwc = L->in[0].nhwc;
    rc = L->out < 0 ? ERR_INPUT : 0;
    K->seen_weights = 1;
out:
    for (int i = 0; i < 4; i++)
        free(v[i]);
    return rc;
}

/* A number or a list of C numbers from the config (Rescaling's scale and
 * offset, Normalization's mean and variance) into v[0..C). */
static int per_channel(struct kimp *K, const struct json_value *c, const char *key, double def,
                       int64_t C, float *v)
{
    const struct json_value *x = json_get(c, key);
    double d = def;
    if (x && json_value_type(x) == JSON_OBJECT) { /* {"class_name": "__numpy__", ...} */
        const char *cn = jstr(x, "class_name");
        if (!cn || (strcmp(cn, "__numpy__") && strcmp(cn, "__tensor__")))
            return kerr(K, "'%s' is an object, not numbers", key);
        c = json_get(x, "config"), key = "value";
        x = json_get(c, key);
    }
    if (x && json_value_type(x) == JSON_ARRAY) {
        size_t n = json_len(x);
        if (n != 1 && n != (size_t)C)
            return kerr(K, "'%s' has %zu values for %lld channels", key, n, (long long)C);
        for (int64_t i = 0; i < C; i++) {
            const struct json_value *e = json_at(x, n == 1 ? 0 : (size_t)i);
            if (json_value_type(e) == JSON_ARRAY && json_len(e) == 1) e = json_at(e, 0);
            if (json_num(e, &d) || !isfinite(d))
                return kerr(K, "'%s' is not a list of numbers", key);
            v[i] = (float)d;
        }
        return 0;
    }
    if (jnum(K, c, key, def, &d)) return ERR_INPUT;
    for (int64_t i = 0; i < C; i++)
        v[i] = (float)d;
    return 0;
}

static void pixels_note(struct kimp *K, struct kcall *L)
{
    if (K->seen_weights || K->b.g->raw_pixels) return;
    K->b.g->raw_pixels = 1;
    char *why = xasprintf("layer '%s' (%s) scales the input itself", L->name, L->cls);
    K->b.g->pixels_why = graph_strdup(K->b.g, why);
    free(why);
}

static int layer_rescaling(struct kimp *K, struct kcall *L)
{
    int x = L->in[0].t;
    int64_t C = rank_of(K, x) >= 2 ? K->b.g->t[x].dims[1] : 1;
    float *a = xmalloc(sizeof(float) * (size_t)C), *b = xmalloc(sizeof(float) * (size_t)C);
    int rc = ERR_INPUT;
    if (!per_channel(K, L->cfg, "scale", 1.0, C, a) &&
        !per_channel(K, L->cfg, "offset", 0.0, C, b)) {
        L->out = affine(K, L, x, C, a, b, L->out_name);
        rc = L->out < 0 ? ERR_INPUT : 0;
    }
    free(a), free(b);
    L->nhwc = L->in[0].nhwc;
    if (!rc) pixels_note(K, L);
    return rc;
}

/* Normalization: (x - mean) / max(sqrt(variance), 1e-7), the statistics
 * adapted (weights) or given in the config. */
static int layer_normalization(struct kimp *K, struct kcall *L)
{
    int invert;
    int64_t C;
    if (jbool(K, L->cfg, "invert", 0, &invert) || channel_axis(K, L, &C)) return ERR_INPUT;
    if (invert) return kerr(K, "invert=True is not supported");
    float *mean = NULL, *var = NULL;
    int64_t d[1] = {C};
    const struct json_value *m = json_get(L->cfg, "mean");
    int rc = ERR_INPUT;
    if (m && json_value_type(m) != JSON_NULL) {
        mean = xmalloc(sizeof(float) * (size_t)C), var = xmalloc(sizeof(float) * (size_t)C);
        if (per_channel(K, L->cfg, "mean", 0, C, mean) ||
            per_channel(K, L->cfg, "variance", 1, C, var))
            goto out;
    } else {
        /* adapted: the weights may hold (C,) or a broadcastable (1, ..., C) */
        if (!(mean = kvar_read(K, &L->vars, "mean", 1, d)) ||
            !(var = kvar_read(K, &L->vars, "variance", 1, d)))
            goto out;
        L->params = (size_t)(2 * C + 1);
    }
    float *a = xmalloc(sizeof(float) * (size_t)C), *b = xmalloc(sizeof(float) * (size_t)C);
    for (int64_t i = 0; i < C; i++) {
        double sd = sqrt(fmax((double)var[i], 0.0));
        if (sd < 1e-7) sd = 1e-7;
        a[i] = (float)(1.0 / sd);
        b[i] = (float)(-(double)mean[i] / sd);
    }
    L->out = affine(K, L, L->in[0].t, C, a, b, L->out_name);
    free(a), free(b);
    rc = L->out < 0 ? ERR_INPUT : 0;
out:
    free(mean), free(var);
    L->nhwc = L->in[0].nhwc;
    if (!rc) pixels_note(K, L);
    return rc;
}

/* ---- layers without weights ---- */

static int layer_pool(struct kimp *K, struct kcall *L)
{
    int avg = !strncmp(L->cls, "Average", 7);
    int64_t ps[2], st[2];
    if (jpair(K, L->cfg, "pool_size", 1, 1 << 16, 2, ps) ||
        jpair(K, L->cfg, "strides", 1, 1 << 16, -1, st))
        return ERR_INPUT;
    if (st[0] < 0) st[0] = ps[0], st[1] = ps[1];
    const char *pad = jstr(L->cfg, "padding");
    if (!pad) pad = "valid";
    if (strcmp(pad, "valid") && strcmp(pad, "same"))
        return kerr(K, "padding '%s' is not supported (valid, same)", pad);
    if (rank_of(K, L->in[0].t) != 4) return kerr(K, "needs a 4-D input");
    struct kattrs a;
    ka_init(&a);
    ka_ints(&a, "kernel_shape", ps, 2);
    ka_ints(&a, "strides", st, 2);
    ka_s(&a, "auto_pad", !strcmp(pad, "same") ? "SAME_UPPER" : "VALID");
    if (avg) ka_i(&a, "count_include_pad", 0); /* TensorFlow averages the valid pixels */
    L->out = op1(K, avg ? "AveragePool" : "MaxPool", L->in[0].t, L->out_name, &a);
    L->nhwc = L->in[0].nhwc;
    return L->out < 0 ? ERR_INPUT : 0;
}

static int layer_global_pool(struct kimp *K, struct kcall *L)
{
    int keep;
    if (jbool(K, L->cfg, "keepdims", 0, &keep)) return ERR_INPUT;
    int x = L->in[0].t;
    if (rank_of(K, x) != 4) return kerr(K, "needs a 4-D input");
    const struct tensor *xt = &K->b.g->t[x];
    char *nm = keep ? xstrdup(L->out_name) : xasprintf("%s/keepdims", L->name);
    int t;
    if (!strcmp(L->cls, "GlobalAveragePooling2D")) {
        t = op1(K, "GlobalAveragePool", x, nm, NULL);
    } else {
        struct kattrs a;
        ka_init(&a);
        ka_ints(&a, "kernel_shape", (int64_t[]){xt->dims[2], xt->dims[3]}, 2);
        t = op1(K, "MaxPool", x, nm, &a);
    }
    free(nm);
    if (t < 0) return ERR_INPUT;
    L->nhwc = L->in[0].nhwc && keep;
    if (!keep) {
        struct kattrs a;
        ka_init(&a);
        ka_i(&a, "axis", 1);
        t = op1(K, "Flatten", t, L->out_name, &a);
    }
    L->out = t;
    return t < 0 ? ERR_INPUT : 0;
}

/* Flatten in Keras's order: H, W, C for a channels-last tensor. */
static int layer_flatten(struct kimp *K, struct kcall *L)
{
    int x = L->in[0].t;
    /* a channels_first Flatten moves the channels last first (Keras 2 and 3) */
    const char *df = jstr(L->cfg, "data_format");
    int cf = df ? !strcmp(df, "channels_first") : K->channels_first;
    if ((L->in[0].nhwc || cf) && rank_of(K, x) == 4) {
        char *nm = xasprintf("%s/nhwc", L->name);
        x = to_nhwc(K, x, nm);
        free(nm);
        if (x < 0) return ERR_INPUT;
    }
    struct kattrs a;
    ka_init(&a);
    ka_i(&a, "axis", 1);
    L->out = op1(K, "Flatten", x, L->out_name, &a);
    return L->out < 0 ? ERR_INPUT : 0;
}

static int layer_reshape(struct kimp *K, struct kcall *L)
{
    const struct json_value *ts = json_get(L->cfg, "target_shape");
    size_t n = json_len(ts);
    if (!ts || json_value_type(ts) != JSON_ARRAY || n < 1 || n > G_MAX_DIMS - 1)
        return kerr(K, "target_shape must be a list of 1 to %d sizes", G_MAX_DIMS - 1);
    int64_t shape[G_MAX_DIMS];
    shape[0] = 0; /* the batch, kept */
    for (size_t i = 0; i < n; i++)
        if (json_integer(json_at(ts, i), &shape[i + 1]) || shape[i + 1] < -1 ||
            shape[i + 1] == 0 || shape[i + 1] > (1 << 30))
            return kerr(K, "target_shape holds %s",
                        json_value_type(json_at(ts, i)) == JSON_NUMBER ? "a bad size"
                                                                       : "something else");
    int x = L->in[0].t;
    if (L->in[0].nhwc && rank_of(K, x) == 4) {
        char *nm = xasprintf("%s/nhwc", L->name);
        x = to_nhwc(K, x, nm);
        free(nm);
        if (x < 0) return ERR_INPUT;
    }
    char *nm = xasprintf("%s/shape", L->name);
    int s = kconst_ints(K, nm, shape, (int)n + 1);
    free(nm);
    if (s < 0) return ERR_INPUT;
    int back = n == 3 && !K->channels_first;
    nm = back ? xasprintf("%s/nhwc_out", L->name) : xstrdup(L->out_name);
    int t = op(K, "Reshape", (int[]){x, s}, 2, nm, NULL);
    free(nm);
    if (t >= 0 && back) t = to_nchw(K, t, L->out_name);
    L->out = t;
    L->nhwc = back;
    return t < 0 ? ERR_INPUT : 0;
}

static int layer_zeropad(struct kimp *K, struct kcall *L)
{
    int64_t p[4];
    if (jpads(K, L->cfg, "padding", p)) return ERR_INPUT;
    if (rank_of(K, L->in[0].t) != 4) return kerr(K, "needs a 4-D input");
    int64_t pads[8] = {0, 0, p[0], p[2], 0, 0, p[1], p[3]};
    char *nm = xasprintf("%s/pads", L->name);
    int pt = kconst_ints(K, nm, pads, 8);
    free(nm);
    if (pt < 0) return ERR_INPUT;
    L->out = op(K, "Pad", (int[]){L->in[0].t, pt}, 2, L->out_name, NULL);
    L->nhwc = L->in[0].nhwc;
    return L->out < 0 ? ERR_INPUT : 0;
}

/* A window of the spatial dims: rows y0..y0+h, columns x0..x0+w. */
static int crop(struct kimp *K, struct kcall *L, int64_t y0, int64_t h, int64_t x0, int64_t w)
{
    int64_t st[2] = {y0, x0}, en[2] = {y0 + h, x0 + w}, ax[2] = {2, 3};
    char *n1 = xasprintf("%s/starts", L->name), *n2 = xasprintf("%s/ends", L->name),
         *n3 = xasprintf("%s/axes", L->name);
    int in[4] = {L->in[0].t, kconst_ints(K, n1, st, 2), kconst_ints(K, n2, en, 2),
                 kconst_ints(K, n3, ax, 2)};
    free(n1), free(n2), free(n3);
    if (in[1] < 0 || in[2] < 0 || in[3] < 0) return ERR_INPUT;
    L->out = op(K, "Slice", in, 4, L->out_name, NULL);
    L->nhwc = L->in[0].nhwc;
    return L->out < 0 ? ERR_INPUT : 0;
}

static int layer_cropping(struct kimp *K, struct kcall *L)
{
    int64_t p[4];
    if (jpads(K, L->cfg, "cropping", p)) return ERR_INPUT;
    const struct tensor *x = &K->b.g->t[L->in[0].t];
    if (x->ndim != 4) return kerr(K, "needs a 4-D input");
    int64_t h = x->dims[2] - p[0] - p[1], w = x->dims[3] - p[2] - p[3];
    if (h < 1 || w < 1)
        return kerr(K, "cropping leaves nothing of a %lldx%lld input", (long long)x->dims[2],
                    (long long)x->dims[3]);
    return crop(K, L, p[0], h, p[2], w);
}

static int layer_center_crop(struct kimp *K, struct kcall *L)
{
    int64_t h, w;
    if (jint(K, L->cfg, "height", 1, 1 << 20, 0, &h) ||
        jint(K, L->cfg, "width", 1, 1 << 20, 0, &w))
        return ERR_INPUT;
    const struct tensor *x = &K->b.g->t[L->in[0].t];
    if (x->ndim != 4) return kerr(K, "needs a 4-D input");
    int64_t H = x->dims[2], W = x->dims[3];
    if (h < 1 || w < 1 || h > H || w > W)
        return kerr(K,
                    "a %lldx%lld crop of a %lldx%lld input is not supported (Keras "
                    "resizes then; crops must fit inside)",
                    (long long)h, (long long)w, (long long)H, (long long)W);
    return crop(K, L, (H - h) / 2, h, (W - w) / 2, w);
}

static int layer_merge(struct kimp *K, struct kcall *L)
{
    if (L->nin < 2) return kerr(K, "needs at least two inputs");
    const char *cls = L->cls;
    const char *opname = !strcmp(cls, "Multiply")   ? "Mul"
                         : !strcmp(cls, "Subtract") ? "Sub"
                                                    : "Add";
    if (!strcmp(cls, "Subtract") && L->nin != 2) return kerr(K, "needs exactly two inputs");
    for (int i = 1; i < L->nin; i++)
        if (L->in[i].nhwc != L->in[0].nhwc) return kerr(K, "inputs in different layouts");
    int t = L->in[0].t;
    int avg = !strcmp(cls, "Average");
    for (int i = 1; i < L->nin; i++) {
        int last = i == L->nin - 1 && !avg;
        char *nm = last ? xstrdup(L->out_name) : xasprintf("%s/sum", L->name);
        t = op(K, opname, (int[]){t, L->in[i].t}, 2, nm, NULL);
        free(nm);
        if (t < 0) return ERR_INPUT;
    }
    if (avg) {
        int k = kconst_scalar(K, "average/scale", 1.0f / (float)L->nin);
        if (k < 0) return ERR_INPUT;
        t = op(K, "Mul", (int[]){t, k}, 2, L->out_name, NULL);
        if (t < 0) return ERR_INPUT;
    }
    L->out = t;
    L->nhwc = L->in[0].nhwc;
    return 0;
}

static int layer_concat(struct kimp *K, struct kcall *L)
{
    int64_t ax;
    if (jint(K, L->cfg, "axis", -8, 8, -1, &ax)) return ERR_INPUT;
    int in[G_MAX_INPUTS];
    for (int i = 0; i < L->nin; i++) {
        if (L->in[i].nhwc != L->in[0].nhwc) return kerr(K, "inputs in different layouts");
        in[i] = L->in[i].t;
    }
    int m = map_axis(ax, rank_of(K, in[0]), L->in[0].nhwc);
    if (m < 1) return kerr(K, "concatenation along axis %lld is not supported", (long long)ax);
    struct kattrs a;
    ka_init(&a);
    ka_i(&a, "axis", m);
    L->out = op(K, "Concat", in, L->nin, L->out_name, &a);
    L->nhwc = L->in[0].nhwc;
    return L->out < 0 ? ERR_INPUT : 0;
}

static int layer_activation(struct kimp *K, struct kcall *L)
{
    const char *cls = L->cls;
    int x = L->in[0].t;
    L->nhwc = L->in[0].nhwc;
    struct kattrs a;
    ka_init(&a);
    if (!strcmp(cls, "Activation")) {
        L->out = add_activation(K, activation_name(json_get(L->cfg, "activation")), x, L->nhwc,
                                L->out_name);
    } else if (!strcmp(cls, "ReLU")) {
        double maxv = INFINITY, slope, thr;
        const struct json_value *mv = json_get(L->cfg, "max_value");
        if ((mv && json_value_type(mv) != JSON_NULL &&
             jnum(K, L->cfg, "max_value", 0, &maxv)) ||
            jnum(K, L->cfg, "negative_slope", 0, &slope) ||
            jnum(K, L->cfg, "threshold", 0, &thr))
            return ERR_INPUT;
        if (thr != 0) return kerr(K, "threshold %g is not supported", thr);
        if (slope != 0 && isfinite(maxv))
            return kerr(K, "negative_slope with max_value is not supported");
        if (slope != 0) {
            ka_f(&a, "alpha", (float)slope);
            L->out = op1(K, "LeakyRelu", x, L->out_name, &a);
        } else if (isfinite(maxv)) {
            int lo = kconst_scalar(K, "relu/min", 0.0f),
                hi = kconst_scalar(K, "relu/max", (float)maxv);
            if (lo < 0 || hi < 0) return ERR_INPUT;
            L->out = op(K, "Clip", (int[]){x, lo, hi}, 3, L->out_name, NULL);
        } else {
            L->out = op1(K, "Relu", x, L->out_name, NULL);
        }
    } else if (!strcmp(cls, "LeakyReLU")) {
        double s;
        const char *key = json_get(L->cfg, "negative_slope") ? "negative_slope" : "alpha";
        if (jnum(K, L->cfg, key, 0.3, &s)) return ERR_INPUT;
        ka_f(&a, "alpha", (float)s);
        L->out = op1(K, "LeakyRelu", x, L->out_name, &a);
    } else if (!strcmp(cls, "ELU")) {
        double al;
        if (jnum(K, L->cfg, "alpha", 1.0, &al)) return ERR_INPUT;
        ka_f(&a, "alpha", (float)al);
        L->out = op1(K, "Elu", x, L->out_name, &a);
    } else { /* Softmax */
        int64_t ax = -1;
        const struct json_value *v = json_get(L->cfg, "axis");
        if (v && json_value_type(v) == JSON_ARRAY) {
            if (json_len(v) != 1 || json_integer(json_at(v, 0), &ax))
                return kerr(K, "softmax over several axes is not supported");
        } else if (jint(K, L->cfg, "axis", -8, 8, -1, &ax)) {
            return ERR_INPUT;
        }
        int m = map_axis(ax, rank_of(K, x), L->nhwc);
        if (m < 1) return kerr(K, "softmax over axis %lld is not supported", (long long)ax);
        ka_i(&a, "axis", m);
        L->out = op1(K, "Softmax", x, L->out_name, &a);
    }
    return L->out < 0 ? ERR_INPUT : 0;
}

/* ---------------------------------------------------------------- the class table */
/* Identity at inference: regularisers and augmentation. */
static const char *const identity_classes[] = {"Dropout",
                                               "SpatialDropout1D",
                                               "SpatialDropout2D",
                                               "SpatialDropout3D",
                                               "GaussianNoise",
                                               "GaussianDropout",
                                               "AlphaDropout",
                                               "ActivityRegularization",
                                               "RandomFlip",
                                               "RandomRotation",
                                               "RandomZoom",
                                               "RandomTranslation",
                                               "RandomContrast",
                                               "RandomBrightness",
                                               "RandomHeight",
                                               "RandomWidth",
                                               "RandomGrayscale",
                                               "RandomHue",
                                               "RandomSaturation",
                                               "RandomColorJitter",
                                               "RandomSharpness",
                                               "RandomShear",
                                               "RandomPosterization",
                                               "RandomInvert",
                                               "RandomErasing",
                                               "RandomGaussianBlur",
                                               "RandomColorDegeneration",
                                               "RandomPerspective",
                                               "RandomElasticTransform",
                                               "Solarization",
                                               "AutoContrast",
                                               "AugMix",
                                               "RandAugment",
                                               "CutMix",
                                               "MixUp",
                                               "Pipeline",
                                               "Masking",
                                               NULL};

static int in_set(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set)) return 1;
    return 0;
}

struct kclass {
    const char *name;
    int (*build)(struct kimp *, struct kcall *);
};
static const struct kclass classes[] = {
    {"Conv2D", layer_conv},
    {"Convolution2D", layer_conv},
    {"DepthwiseConv2D", layer_conv},
    {"SeparableConv2D", layer_conv},
    {"SeparableConvolution2D", layer_conv},
    {"Dense", layer_dense},
    {"BatchNormalization", layer_batchnorm},
    {"Rescaling", layer_rescaling},
    {"Normalization", layer_normalization},
    {"MaxPooling2D", layer_pool},
    {"MaxPool2D", layer_pool},
    {"AveragePooling2D", layer_pool},
    {"AvgPool2D", layer_pool},
    {"GlobalAveragePooling2D", layer_global_pool},
    {"GlobalAvgPool2D", layer_global_pool},
    {"GlobalMaxPooling2D", layer_global_pool},
    {"GlobalMaxPool2D", layer_global_pool},
    {"Flatten", layer_flatten},
    {"Reshape", layer_reshape},
    {"ZeroPadding2D", layer_zeropad},
    {"Cropping2D", layer_cropping},
    {"CenterCrop", layer_center_crop},
    {"Add", layer_merge},
    {"Subtract", layer_merge},
    {"Multiply", layer_merge},
    {"Average", layer_merge},
    {"Concatenate", layer_concat},
    {"Activation", layer_activation},
    {"ReLU", layer_activation},
    {"LeakyReLU", layer_activation},
    {"ELU", layer_activation},
    {"Softmax", layer_activation},
};

static int is_model_class(const char *cls)
{
    return !strcmp(cls, "Sequential") || !strcmp(cls, "Functional") || !strcmp(cls, "Model");
}

/* ---------------------------------------------------------------- models */
/* Keras's naming.to_snake_case, which names the weight groups of .keras
 * files after the layer classes ("BatchNormalization" -> "batch_normalization"). */
static void snake_case(const char *in, char *out, size_t size)
{
    size_t k = 0, n = strlen(in);
    for (size_t i = 0; i < n && k + 2 < size; i++) {
        char c = in[i];
        int up = c >= 'A' && c <= 'Z';
        /* "(.)([A-Z][a-z]+)" and "([a-z])([A-Z])" each insert an underscore */
        int lower_next = i + 1 < n && in[i + 1] >= 'a' && in[i + 1] <= 'z';
        int lower_prev = i > 0 && in[i - 1] >= 'a' && in[i - 1] <= 'z';
        if (up && i > 0 && (lower_next || lower_prev) && out[k - 1] != '_') out[k++] = '_';
        out[k++] = up ? (char)(c - 'A' + 'a') : c;
    }
    out[k] = 0;
}

static int build_model(struct kimp *K, const struct json_value *entry, const struct kscope *ws,
                       const struct ktensor *in, int nin, struct ktensor *out);

/* The layer entries of a model entry: config.layers, or the config itself
 * when Keras <= 2.1.6 wrote a Sequential's config as the bare list. */
static const struct json_value *entry_layers(const struct json_value *entry)
{
    const struct json_value *c = json_get(entry, "config");
    if (c && json_value_type(c) == JSON_ARRAY) return c;
    const struct json_value *l = json_get(c, "layers");
    return l && json_value_type(l) == JSON_ARRAY ? l : NULL;
}

/* A legacy group's weight_names: one attribute, or weight_names0, 1, ...
 * when Keras split a long list. */
static int read_names(struct kimp *K, const char *group, char ***names, size_t *n)
{
    char **v = NULL;
    size_t k = 0;
    if (!h5_attr_strings(K->h5, group, "weight_names", names, n)) return 0;
    error_clear();
    *names = NULL, *n = 0;
    for (int part = 0; part < 1 << 16; part++) {
        char an[32];
        snprintf(an, sizeof an, "weight_names%d", part);
        if (h5_attr_strings(K->h5, group, an, &v, &k)) {
            error_clear();
            return 0; /* no more parts (none at all: no weights) */
        }
        *names = xrealloc(*names, sizeof(char *) * (*n + k + 1));
        memcpy(*names + *n, v, sizeof(char *) * k);
        *n += k;
        free(v);
    }
    return 0;
}

/* Builds one call of a layer; L->in set. */
static int build_call(struct kimp *K, struct kcall *L, const struct kscope *ws,
                      const char *group)
{
    const char *cls = L->cls;
    K->b.name = L->name, K->b.op = cls;
    if (is_model_class(cls)) {
        struct kscope sub = *ws;
        int len = 0;
        if (K->archive)
            len = snprintf(sub.path, sizeof sub.path, "%s/%s", group, K->layers_group);
        else if (!ws->shared)
            len = snprintf(sub.path, sizeof sub.path, "%s/%s", ws->path, L->name),
            sub.shared = 1;
        if (len < 0 || (size_t)len >= sizeof sub.path) return kerr(K, "names nested too deep");
        struct ktensor o;
        int rc = build_model(K, L->entry, &sub, L->in, L->nin, &o);
        K->b.name = L->name, K->b.op = cls;
        if (rc) return rc;
        L->out = o.t, L->nhwc = o.nhwc;
        return 0;
    }
    if (!strcmp(cls, "Lambda") || !strcmp(cls, "TFOpLambda") || !strcmp(cls, "SlicingOpLambda"))
        return kerr(K, "a Lambda layer holds Python code, which interp never runs: not "
                       "supported");
    if (L->entry == K->absorbed || in_set(cls, identity_classes)) {
        L->out = L->in[0].t, L->nhwc = L->in[0].nhwc;
        return 0;
    }
    if (!strcmp(cls, "RandomCrop"))
        return kerr(K, "RandomCrop crops and resizes at inference: not supported");
    if (!strcmp(cls, "Resizing"))
        return kerr(K, "a Resizing layer is supported only where the input enters the model "
                       "(interp then resizes the images to its size)");
    const struct kclass *kc = NULL;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (!strcmp(classes[i].name, cls)) kc = &classes[i];
    if (!kc)
        return error_set(ERR_INPUT, K->path, "layer '%s' (%s) is not supported", L->name, cls);
    const char *df = jstr(L->cfg, "data_format");
    if (df && strcmp(cls, "Flatten") &&
        strcmp(df, K->channels_first ? "channels_first" : "channels_last"))
        return kerr(K, "data_format %s in a %s model is not supported", df,
                    K->channels_first ? "channels_first" : "channels_last");
    int64_t dummy;
    (void)dummy;
    /* where its variables are */
    memset(&L->vars, 0, sizeof L->vars);
    if (K->archive) {
        snprintf(L->vars.group, sizeof L->vars.group, "%s", group);
        L->vars.order = k3_order(cls, L->cfg, &L->vars.norder);
    } else {
        if (ws->shared) {
            snprintf(L->vars.group, sizeof L->vars.group, "%s", ws->path);
            L->vars.owner = L->name;
        } else {
            snprintf(L->vars.group, sizeof L->vars.group, "%s/%s", ws->path, L->name);
        }
        int need = k3_order(cls, L->cfg, &(int){0}) != NULL;
        if (need && h5_kind(K->h5, L->vars.group) == H5_GROUP &&
            read_names(K, L->vars.group, &L->vars.names, &L->vars.nnames))
            return ERR_INPUT;
        error_clear();
    }
    int rc = kc->build(K, L);
    kvars_release(&L->vars);
    return rc;
}

/* The layer's group in a .keras file's weights: <scope>/<snake class>[_k],
 * the counter per class in the model's layer order; Keras 3.6 and later
 * also name the layer in its vars group's attribute "name", which wins. */
static void k3_group(struct kimp *K, const struct kscope *ws, const char *snake, int count,
                     const char *lname, char *out, size_t size)
{
    if (count)
        snprintf(out, size, "%s/%s_%d", ws->path, snake, count);
    else
        snprintf(out, size, "%s/%s", ws->path, snake);
    char *vars = xasprintf("%s/vars", out), *nm = NULL;
    int ok = h5_kind(K->h5, vars) == H5_GROUP &&
             (h5_attr_string(K->h5, vars, "name", &nm) != 0 || !strcmp(nm, lname));
    error_clear();
    free(vars);
    free(nm);
    if (ok) return;
    /* search the siblings for the vars group that names this layer */
    char **kids = NULL;
    size_t n = 0;
    if (h5_list(K->h5, ws->path, &kids, &n)) {
        error_clear();
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *v = xasprintf("%s/%s/vars", ws->path, kids[i]), *s = NULL;
        if (h5_kind(K->h5, v) == H5_GROUP && !h5_attr_string(K->h5, v, "name", &s) &&
            !strcmp(s, lname))
            snprintf(out, size, "%s/%s", ws->path, kids[i]);
        error_clear();
        free(s);
        free(v);
    }
    for (size_t i = 0; i < n; i++)
        free(kids[i]);
    free(kids);
}

/* Input references of one inbound node (Keras 2: [[name, node, index,
 * kwargs], ...]; Keras 3: {"args": [...tensors...], "kwargs": {...}}), in
 * order. Returns the count, or an error. */
static int collect_refs(struct kimp *K, const struct json_value *v,
                        const struct json_value **refs, int max, int n, int depth)
{
    if (!v || depth > 8) return n;
    enum json_type t = json_value_type(v);
    if (t == JSON_OBJECT) {
        const char *cn = jstr(v, "class_name");
        if (cn && !strcmp(cn, "__keras_tensor__")) {
            const struct json_value *h = json_get(json_get(v, "config"), "keras_history");
            if (n >= max) return kerr(K, "more than %d inputs", max);
            refs[n++] = h;
            return n;
        }
        return collect_refs(K, json_get(v, "args"), refs, max, n, depth + 1);
    }
    if (t != JSON_ARRAY) return n;
    /* a Keras 2 reference: [name, node, index, {kwargs}] */
    if (json_len(v) >= 3 && json_value_type(json_at(v, 0)) == JSON_STRING &&
        json_value_type(json_at(v, 1)) == JSON_NUMBER) {
        if (n >= max) return kerr(K, "more than %d inputs", max);
        refs[n++] = v;
        return n;
    }
    for (size_t i = 0; i < json_len(v) && n >= 0; i++)
        n = collect_refs(K, json_at(v, i), refs, max, n, depth + 1);
    return n;
}

/* [name, node, index] */
static int parse_ref(struct kimp *K, const struct json_value *r, const char **name, int *node,
                     int *index)
{
    int64_t a = 0, b = 0;
    if (!r || json_value_type(r) != JSON_ARRAY || json_len(r) < 3 ||
        !(*name = json_str(json_at(r, 0))) || json_integer(json_at(r, 1), &a) ||
        json_integer(json_at(r, 2), &b) || a < 0 || b < 0 || a > 1 << 20 || b > 1 << 20)
        return kerr(K, "a malformed reference to a layer's output");
    *node = (int)a, *index = (int)b;
    return 0;
}

/* input_layers/output_layers: [[name, node, index], ...] or Keras 3.11's
 * flat [name, node, index] for one tensor. */
static int io_refs(struct kimp *K, const struct json_value *v, const struct json_value **refs,
                   int max)
{
    if (!v || json_value_type(v) != JSON_ARRAY) return 0;
    if (json_len(v) >= 1 && json_value_type(json_at(v, 0)) == JSON_STRING) {
        refs[0] = v;
        return 1;
    }
    int n = (int)json_len(v);
    if (n > max) return kerr(K, "more than %d model inputs or outputs", max);
    for (int i = 0; i < n; i++)
        refs[i] = json_at(v, i);
    return n;
}

static const struct json_value *entry_config(const struct json_value *e)
{
    const struct json_value *c = json_get(e, "config");
    return c && json_value_type(c) == JSON_OBJECT ? c : NULL;
}

static const char *entry_name(const struct json_value *e)
{
    const char *n = jstr(e, "name");
    return n ? n : jstr(entry_config(e), "name");
}

/* Builds the model `entry` (Sequential or Functional) with its inputs bound
 * to in[0..nin); its output into *out. */
static int build_model(struct kimp *K, const struct json_value *entry, const struct kscope *ws,
                       const struct ktensor *in, int nin, struct ktensor *out)
{
    const char *cls = jstr(entry, "class_name");
    const struct json_value *mcfg = entry_config(entry), *layers = entry_layers(entry);
    const char *mname = jstr(mcfg, "name");
    if (!layers) return kerr(K, "model '%s' has no layer list", mname ? mname : "?");
    if (++K->depth > KERAS_MAX_DEPTH) return kerr(K, "models nested too deep");
    size_t n = json_len(layers);
    if (n > limits_get()->max_nodes)
        return kerr(K, "%zu layers, over the limit of %llu (raise it with --max-nodes)", n,
                    (unsigned long long)limits_get()->max_nodes);
    int sequential = !strcmp(cls, "Sequential");
    /* weight group names: per class counters in layer order (Sequential's
     * layers leave out the InputLayer, a Functional's keep it) */
    char **groups = xcalloc(n ? n : 1, sizeof(char *));
    struct {
        char snake[96];
        int count;
    } *seen = xcalloc(n ? n : 1, sizeof *seen);
    int nseen = 0, rc = 0;
    struct ktab tab = {0};
    for (size_t i = 0; i < n; i++) {
        const struct json_value *e = json_at(layers, i);
        const char *c = jstr(e, "class_name");
        if (!c || !entry_config(e) || !entry_name(e)) {
            rc = kerr(K, "layer %zu of model '%s' has no class_name, config or name", i,
                      mname ? mname : "?");
            goto done;
        }
        if (sequential && !strcmp(c, "InputLayer")) continue;
        char sn[96];
        snake_case(c, sn, sizeof sn);
        int k = 0;
        for (; k < nseen && strcmp(seen[k].snake, sn); k++)
            ;
        if (k == nseen)
            snprintf(seen[nseen++].snake, sizeof seen[0].snake, "%s", sn), seen[k].count = -1;
        int cnt = ++seen[k].count;
        if (K->archive) {
            char g[900];
            k3_group(K, ws, sn, cnt, entry_name(e), g, sizeof g);
            groups[i] = xstrdup(g);
        }
    }
    if (sequential) {
        struct ktensor cur = in[0];
        for (size_t i = 0; i < n; i++) {
            const struct json_value *e = json_at(layers, i);
            if (!strcmp(jstr(e, "class_name"), "InputLayer")) continue;
            struct kcall L = {0};
            L.entry = e, L.cfg = entry_config(e), L.cls = jstr(e, "class_name");
            L.name = entry_name(e);
            L.in[0] = cur, L.nin = 1;
            L.out_name = fresh_name(K, L.name);
            rc = build_call(K, &L, ws, groups[i]);
            if (!rc) {
                graph_add_layer(K->b.g, L.name, L.cls, L.out, L.nhwc, L.params);
                cur.t = L.out, cur.nhwc = L.nhwc;
            }
            free(L.out_name);
            if (rc) goto done;
        }
        *out = cur;
        goto done;
    }
    /* Functional: bind the inputs, then build calls as their inputs exist */
    const struct json_value *irefs[G_MAX_INPUTS], *orefs[G_MAX_INPUTS];
    int ni = io_refs(K, json_get(mcfg, "input_layers"), irefs, G_MAX_INPUTS);
    int no = io_refs(K, json_get(mcfg, "output_layers"), orefs, G_MAX_INPUTS);
    if (ni < 0 || no < 0) {
        rc = ERR_INPUT;
        goto done;
    }
    if (ni != nin) {
        rc = kerr(K, "model '%s' has %d inputs; interp runs models of one image input",
                  mname ? mname : "?", ni);
        goto done;
    }
    if (no != 1) {
        rc = kerr(K, "model '%s' has %d outputs; interp explains models with one",
                  mname ? mname : "?", no);
        goto done;
    }
    for (int i = 0; i < ni; i++) {
        const char *nm;
        int node, idx;
        if ((rc = parse_ref(K, irefs[i], &nm, &node, &idx))) goto done;
        kt_add(&tab, nm, node, idx, in[i].t, in[i].nhwc);
    }
    char *done_call = xcalloc(n ? n : 1, 1); /* calls are built in passes */
    int *ncalls = xcalloc(n ? n : 1, sizeof(int)), *built = xcalloc(n ? n : 1, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        const struct json_value *e = json_at(layers, i);
        const struct json_value *nodes = json_get(e, "inbound_nodes");
        ncalls[i] = nodes ? (int)json_len(nodes) : 0;
        if (!strcmp(jstr(e, "class_name"), "InputLayer")) ncalls[i] = 0;
        done_call[i] = ncalls[i] == 0;
    }
    int progress = 1;
    while (progress && !rc) {
        progress = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            if (done_call[i]) continue;
            const struct json_value *e = json_at(layers, i);
            const struct json_value *node =
                json_at(json_get(e, "inbound_nodes"), (size_t)built[i]);
            const struct json_value *refs[G_MAX_INPUTS];
            K->b.name = entry_name(e), K->b.op = jstr(e, "class_name");
            int nr = collect_refs(K, node, refs, G_MAX_INPUTS, 0, 0);
            if (nr < 0) {
                rc = ERR_INPUT;
                break;
            }
            if (nr == 0) {
                rc = kerr(K, "a call without inputs");
                break;
            }
            struct kcall L = {0};
            int ready = 1;
            for (int r = 0; r < nr && ready; r++) {
                const char *nm;
                int nd, ix;
                if ((rc = parse_ref(K, refs[r], &nm, &nd, &ix))) break;
                struct ktensor *kt = kt_find(&tab, nm, nd, ix);
                if (!kt)
                    ready = 0;
                else
                    L.in[r] = *kt;
            }
            if (rc || !ready) continue;
            L.nin = nr;
            L.entry = e, L.cfg = entry_config(e), L.cls = jstr(e, "class_name");
            L.name = entry_name(e);
            char *base = built[i] ? xasprintf("%s@%d", L.name, built[i]) : xstrdup(L.name);
            L.out_name = fresh_name(K, base);
            free(base);
            rc = build_call(K, &L, ws, groups[i]);
            if (!rc) {
                graph_add_layer(K->b.g, L.name, L.cls, L.out, L.nhwc, L.params);
                kt_add(&tab, L.name, built[i], 0, L.out, L.nhwc);
                built[i]++;
                done_call[i] = built[i] == ncalls[i];
                progress = 1;
            }
            free(L.out_name);
        }
    }
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            if (!done_call[i]) {
                const struct json_value *e = json_at(layers, i);
                K->b.name = entry_name(e), K->b.op = jstr(e, "class_name");
                rc = kerr(K, "its inputs are never computed (a missing layer or a cycle)");
                break;
            }
    }
    if (!rc) {
        const char *nm;
        int nd, ix;
        K->b.name = NULL;
        if (!(rc = parse_ref(K, orefs[0], &nm, &nd, &ix))) {
            struct ktensor *kt = kt_find(&tab, nm, nd, ix);
            if (!kt)
                rc = kerr(K, "the model output '%s' is not computed", nm);
            else
                *out = *kt;
        }
    }
    free(done_call);
    free(ncalls);
    free(built);
done:
    for (size_t i = 0; i < n; i++)
        free(groups[i]);
    free(groups);
    free(seen);
    kt_release(&tab);
    K->depth--;
    return rc;
}

/* Refuses, before anything is built, the first layer whose class interp
 * cannot run (naming it), so that a model is never half-understood. */
static int check_classes(struct kimp *K, const struct json_value *layers, int depth)
{
    if (depth > KERAS_MAX_DEPTH) return kerr(K, "models nested too deep");
    for (size_t i = 0; layers && i < json_len(layers); i++) {
        const struct json_value *e = json_at(layers, i);
        const char *cls = jstr(e, "class_name"), *nm = entry_name(e);
        if (!cls || !nm) continue; /* build_model names the malformed entry */
        if (is_model_class(cls)) {
            if (check_classes(K, entry_layers(e), depth + 1)) return ERR_INPUT;
            continue;
        }
        if (!strcmp(cls, "Lambda") || !strcmp(cls, "TFOpLambda") ||
            !strcmp(cls, "SlicingOpLambda"))
            return error_set(ERR_INPUT, K->path,
                             "layer '%s' (%s) holds Python code, which interp never runs: "
                             "not supported",
                             nm, cls);
        int known = !strcmp(cls, "InputLayer") || !strcmp(cls, "Resizing") ||
                    in_set(cls, identity_classes);
        for (size_t k = 0; k < sizeof classes / sizeof classes[0] && !known; k++)
            known = !strcmp(classes[k].name, cls);
        if (!known)
            return error_set(ERR_INPUT, K->path, "layer '%s' (%s) is not supported", nm, cls);
    }
    return 0;
}

/* ---------------------------------------------------------------- the input */
/* The input shape [H, W, C] (or [C, H, W]) from the first InputLayer, a
 * Keras 2 first layer's batch_input_shape, or a Keras 3 build shape. */
static int input_shape(struct kimp *K, const struct json_value *root, int64_t *dims, int *ndim,
                       const char **name)
{
    const struct json_value *m = entry_config(root), *layers = entry_layers(root), *bs = NULL;
    *name = "input";
    for (int depth = 0; layers && depth < KERAS_MAX_DEPTH && !bs; depth++) {
        const struct json_value *first = json_at(layers, 0);
        const char *cls = jstr(first, "class_name");
        const struct json_value *c = entry_config(first);
        if (!cls || !c) break;
        if (!strcmp(cls, "InputLayer")) {
            bs = json_get(c, "batch_shape");
            if (!bs) bs = json_get(c, "batch_input_shape");
            *name = entry_name(first);
            if (!*name) *name = "input";
            break;
        }
        if ((bs = json_get(c, "batch_input_shape")) || (bs = json_get(c, "batch_shape"))) {
            *name = "input";
            break;
        }
        if (is_model_class(cls)) {
            layers = entry_layers(first);
            continue;
        }
        break;
    }
    if (!bs) bs = json_get(m, "build_input_shape");
    if (!bs) bs = json_get(json_get(root, "build_config"), "input_shape");
    if (!bs || json_value_type(bs) != JSON_ARRAY)
        return kerr(K, "the model's input shape is not in its config (no InputLayer)");
    size_t r = json_len(bs);
    if (r != 4) return kerr(K, "the input has rank %zu; interp runs image models (rank 4)", r);
    *ndim = 4;
    for (size_t i = 0; i < r; i++) {
        const struct json_value *d = json_at(bs, i);
        int64_t v = G_DIM_UNKNOWN;
        if (json_value_type(d) != JSON_NULL &&
            (json_integer(d, &v) || v < 1 || v > (1 << 20))) {
            double x = 0;
            json_num(d, &x);
            return kerr(K, "the input shape's dimension %zu is %g, not a size from 1 to 2^20",
                        i, x);
        }
        dims[i] = v;
    }
    return 0;
}

/* A Resizing layer where the input enters (after layers that only scale or
 * augment): interp's own resize does its work. The layer, or NULL. */
static const struct json_value *entry_resizing(const struct json_value *layers, int depth)
{
    for (size_t i = 0; layers && i < json_len(layers) && depth < KERAS_MAX_DEPTH; i++) {
        const struct json_value *e = json_at(layers, i);
        const char *cls = jstr(e, "class_name");
        if (!cls) return NULL;
        if (!strcmp(cls, "InputLayer") || !strcmp(cls, "Rescaling") ||
            !strcmp(cls, "Normalization") || in_set(cls, identity_classes))
            continue;
        if (!strcmp(cls, "Resizing")) return e;
        if (is_model_class(cls)) {
            const struct json_value *sub = entry_layers(e);
            const struct json_value *r = entry_resizing(sub, depth + 1);
            if (r) return r;
            /* a nested model that does more than preprocess ends the search */
            for (size_t j = 0; j < json_len(sub); j++) {
                const char *c2 = jstr(json_at(sub, j), "class_name");
                if (c2 && strcmp(c2, "InputLayer") && strcmp(c2, "Rescaling") &&
                    strcmp(c2, "Normalization") && !in_set(c2, identity_classes))
                    return NULL;
            }
            continue;
        }
        return NULL;
    }
    return NULL;
}

/* The data format: channels_first when a layer says so. */
static int find_channels_first(const struct json_value *layers, int depth)
{
    for (size_t i = 0; layers && i < json_len(layers) && depth < KERAS_MAX_DEPTH; i++) {
        const struct json_value *e = json_at(layers, i), *c = entry_config(e);
        const char *df = jstr(c, "data_format");
        if (df) return !strcmp(df, "channels_first");
        const char *cls = jstr(e, "class_name");
        if (cls && is_model_class(cls)) {
            int r = find_channels_first(entry_layers(e), depth + 1);
            if (r >= 0) return r;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------- the file */
int keras_sniff(const void *buf, size_t len)
{
    const unsigned char *b = buf;
    if (len >= 4 && b[0] == 'P' && b[1] == 'K' &&
        ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6)))
        return 1;
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    for (size_t off = 0; off + 8 <= len; off = off ? 2 * off : 512)
        if (!memcmp(b + off, sig, 8)) return 1;
    return 0;
}

/* Reads a text entry of the archive (NUL-terminated). */
static int zip_text(struct kimp *K, struct zip *z, const char *entry, int required, char **out,
                    size_t *len)
{
    *out = NULL;
    long i = zip_find(z, entry);
    if (i < 0) {
        if (!required) return 0;
        return error_set(ERR_INPUT, K->path,
                         "not a Keras model: the archive has no %s (a .keras file holds "
                         "config.json, metadata.json and model.weights.h5)",
                         entry);
    }
    void *d;
    if (zip_read(z, (size_t)i, KERAS_MAX_JSON, &d, len)) return kpass(K);
    *out = d;
    return 0;
}

static void version_from_json(struct kimp *K, const char *text, size_t len)
{
    struct json_value *m = json_parse(text, len, K->path);
    if (!m) {
        error_clear();
        return;
    }
    const char *v = jstr(m, "keras_version");
    if (v) snprintf(K->version, sizeof K->version, "%s", v);
    json_value_free(m);
}

struct graph *keras_graph_parse(const void *buf, size_t len, const char *name)
{
    struct kimp K = {0};
    K.path = name;
    K.b.path = name;
    K.b.kind = "layer";
    struct graph *g = graph_new();
    K.b.g = g;
    struct zip *z = NULL;
    void *wbuf = NULL;
    char *cfg_text = NULL, *meta = NULL;
    size_t cfg_len = 0, wlen = 0, mlen = 0;
    struct json_value *root = NULL;
    int rc = 0;
    const unsigned char *b = buf;
    if (len >= 2 && b[0] == 'P' && b[1] == 'K') {
        K.archive = 1;
        if (!(z = zip_open(buf, len, name))) {
            rc = kpass(&K);
            goto done;
        }
        if ((rc = zip_text(&K, z, "config.json", 1, &cfg_text, &cfg_len)) ||
            (rc = zip_text(&K, z, "metadata.json", 0, &meta, &mlen)))
            goto done;
        long wi = zip_find(z, "model.weights.h5");
        if (wi < 0) {
            rc = error_set(ERR_INPUT, name,
                           "the archive has no model.weights.h5 (the weights of a .keras "
                           "file)");
            goto done;
        }
        uint64_t lim = limits_get()->max_model_bytes;
        if (zip_read(z, (size_t)wi, lim > SIZE_MAX ? SIZE_MAX : (size_t)lim, &wbuf, &wlen)) {
            rc = kpass(&K);
            goto done;
        }
        g->held_bytes = wlen + cfg_len;
        if (!(K.h5 = h5_open(wbuf, wlen, name))) {
            char *why = xstrdup(error_message());
            rc = error_set(ERR_INPUT, name, "model.weights.h5: %s", why);
            free(why);
            goto done;
        }
        if (meta) version_from_json(&K, meta, mlen);
        if (!K.version[0]) snprintf(K.version, sizeof K.version, "3");
    } else {
        if (!(K.h5 = h5_open(buf, len, name))) {
            rc = kpass(&K);
            goto done;
        }
        if (h5_attr_string(K.h5, "/", "model_config", &cfg_text)) {
            char **ln = NULL;
            size_t nl = 0;
            error_clear();
            int weights_only = !h5_attr_strings(K.h5, "/", "layer_names", &ln, &nl);
            for (size_t i = 0; i < nl; i++)
                free(ln[i]);
            free(ln);
            error_clear();
            rc = error_set(ERR_INPUT, name,
                           weights_only
                               ? "weights only (model.save_weights), no architecture: save the "
                                 "whole model with model.save"
                               : "an HDF5 file without a model_config attribute: not a Keras "
                                 "model");
            goto done;
        }
        cfg_len = strlen(cfg_text);
        char *v = NULL;
        if (!h5_attr_string(K.h5, "/", "keras_version", &v))
            snprintf(K.version, sizeof K.version, "%s", v);
        error_clear();
        free(v);
        if (!K.version[0]) snprintf(K.version, sizeof K.version, "2");
    }
    K.keras3 = atoi(K.version) >= 3;
    if (!(root = json_parse(cfg_text, cfg_len, name))) {
        rc = kpass(&K);
        goto done;
    }
    const char *cls = jstr(root, "class_name");
    if (json_value_type(root) != JSON_OBJECT || !cls || !entry_layers(root))
        rc = error_set(ERR_INPUT, name,
                       "the config is not a Keras model (no class_name and config)");
    else if (!is_model_class(cls))
        rc = error_set(ERR_INPUT, name,
                       "the config describes a %s, not a Sequential or "
                       "Functional model",
                       cls);
    if (rc) goto done;
    {
        char src[96];
        snprintf(src, sizeof src, "Keras %s %s", K.version, K.archive ? ".keras" : ".h5");
        g->source = graph_strdup(g, src);
    }
    if ((rc = check_classes(&K, entry_layers(root), 0))) goto done;
    K.channels_first = find_channels_first(entry_layers(root), 0) == 1;
    /* the input: NHWC (or NCHW) as the file declares it */
    int64_t dims[4];
    int ndim;
    const char *iname;
    if ((rc = input_shape(&K, root, dims, &ndim, &iname))) goto done;
    K.absorbed = entry_resizing(entry_layers(root), 0);
    if (K.absorbed) {
        const struct json_value *rcfg = entry_config(K.absorbed);
        int64_t h, w;
        int crop = 0, padr = 0;
        const char *interp = jstr(rcfg, "interpolation");
        K.b.name = entry_name(K.absorbed), K.b.op = "Resizing";
        if ((rc = jint(&K, rcfg, "height", 1, 1 << 20, 0, &h)) ||
            (rc = jint(&K, rcfg, "width", 1, 1 << 20, 0, &w)) ||
            (rc = jbool(&K, rcfg, "crop_to_aspect_ratio", 0, &crop)) ||
            (rc = jbool(&K, rcfg, "pad_to_aspect_ratio", 0, &padr)))
            goto done;
        if (h < 1 || w < 1 || crop || padr || (interp && strcmp(interp, "bilinear"))) {
            rc = kerr(&K, "only a plain bilinear Resizing is supported (interp resizes the "
                          "images so)");
            goto done;
        }
        int hi = K.channels_first ? 2 : 1;
        dims[hi] = h, dims[hi + 1] = w;
        K.b.name = NULL;
    }
    dims[0] = 0;
    if ((rc = graph_build_input(&K.b, iname, ndim, dims))) goto done;
    struct ktensor in = {NULL, 0, 0, g->input, 0};
    if (!K.channels_first) {
        K.b.name = iname, K.b.op = "InputLayer";
        char *nm = xasprintf("%s/nchw", iname);
        in.t = to_nchw(&K, g->input, nm);
        free(nm);
        in.nhwc = 1;
        if (in.t < 0) {
            rc = ERR_INPUT;
            goto done;
        }
    }
    struct kscope ws = {{0}, 0};
    K.layers_group = "layers";
    if (K.archive && h5_kind(K.h5, "layers") != H5_GROUP &&
        h5_kind(K.h5, "_layer_checkpoint_dependencies") == H5_GROUP)
        K.layers_group = "_layer_checkpoint_dependencies";
    error_clear();
    snprintf(ws.path, sizeof ws.path, "%s", K.archive ? K.layers_group : "model_weights");
    if (!K.archive && h5_kind(K.h5, "model_weights") != H5_GROUP) {
        error_clear();
        rc = error_set(ERR_INPUT, name, "no model_weights group: the file holds no weights");
        goto done;
    }
    struct ktensor out;
    if ((rc = build_model(&K, root, &ws, &in, 1, &out))) goto done;
    K.b.name = NULL;
    rc = graph_build_finish(&K.b, out.t);
done:
    json_value_free(root);
    h5_close(K.h5);
    zip_free(z);
    free(wbuf);
    free(cfg_text);
    free(meta);
    g->held_bytes = 0;
    if (rc) {
        if (!error_code()) error_set(ERR_INPUT, name, "not a Keras model");
        graph_free(g);
        return NULL;
    }
    return g;
}
