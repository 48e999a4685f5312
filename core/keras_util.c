/* keras_util.c - the Keras importer's helpers: messages, the members of a
 * layer's JSON config, calls of the graph builder with ONNX-named
 * attributes, weights read from the HDF5 groups (.keras by index, .h5 by
 * name) with their shapes checked, and the activations by Keras name.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keras_int.h"
#include "util.h"

/* ---------------------------------------------------------------- messages */
int keras_err(struct kimp *K, const char *fmt, ...)
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
int keras_pass(struct kimp *K)
{
    error_set_path_if_missing(K->path);
    return error_code() ? error_code() : ERR_INPUT;
}

/* ---------------------------------------------------------------- JSON helpers */
const char *keras_jstr(const struct json_value *o, const char *key)
{
    return json_get_str(o, key, NULL);
}

/* An integer member in [lo, hi]; def when absent or null. */
int keras_jint(struct kimp *K, const struct json_value *o, const char *key, int64_t lo,
               int64_t hi, int64_t def, int64_t *out)
{
    *out = def;
    const struct json_value *v = json_get(o, key);
    if (!v || json_value_type(v) == JSON_NULL) return 0;
    int rc = json_get_int(o, key, lo, hi, out);
    if (rc < 0) return keras_err(K, "%s", error_message());
    return 0;
}

int keras_jnum(struct kimp *K, const struct json_value *o, const char *key, double def,
               double *out)
{
    *out = def;
    const struct json_value *v = json_get(o, key);
    if (!v || json_value_type(v) == JSON_NULL) return 0;
    if (json_num(v, out) || !isfinite(*out))
        return keras_err(K, "'%s' is not a finite number", key);
    return 0;
}

int keras_jbool(struct kimp *K, const struct json_value *o, const char *key, int def, int *out)
{
    *out = def;
    const struct json_value *v = json_get(o, key);
    if (!v || json_value_type(v) == JSON_NULL) return 0;
    if (json_boolean(v, out)) return keras_err(K, "'%s' is not true or false", key);
    return 0;
}

/* A pair of ints: an int (both) or a list of two; def when absent. */
int keras_jpair(struct kimp *K, const struct json_value *o, const char *key, int64_t lo,
                int64_t hi, int64_t def, int64_t v[2])
{
    v[0] = v[1] = def;
    const struct json_value *x = json_get(o, key);
    if (!x || json_value_type(x) == JSON_NULL) return 0;
    if (json_value_type(x) == JSON_NUMBER) {
        if (json_integer(x, &v[0]) || v[0] < lo || v[0] > hi)
            return keras_err(K, "'%s' must be an integer from %lld to %lld", key, (long long)lo,
                             (long long)hi);
        v[1] = v[0];
        return 0;
    }
    if (json_value_type(x) != JSON_ARRAY || json_len(x) != 2)
        return keras_err(K, "'%s' must be an integer or a list of two", key);
    for (int i = 0; i < 2; i++)
        if (json_integer(json_at(x, i), &v[i]) || v[i] < lo || v[i] > hi)
            return keras_err(K, "'%s' must hold integers from %lld to %lld", key, (long long)lo,
                             (long long)hi);
    return 0;
}

/* ((top, bottom), (left, right)) from an int, a pair of ints (symmetric) or
 * a pair of pairs: ZeroPadding2D's padding, Cropping2D's cropping. */
int keras_jpads(struct kimp *K, const struct json_value *o, const char *key, int64_t p[4])
{
    const struct json_value *x = json_get(o, key);
    int64_t lim = 1 << 16;
    if (x && json_value_type(x) == JSON_ARRAY && json_len(x) == 2 &&
        json_value_type(json_at(x, 0)) == JSON_ARRAY) {
        for (int i = 0; i < 2; i++) {
            const struct json_value *q = json_at(x, i);
            if (json_value_type(q) != JSON_ARRAY || json_len(q) != 2)
                return keras_err(K, "'%s' must be ((top, bottom), (left, right))", key);
            for (int j = 0; j < 2; j++)
                if (json_integer(json_at(q, j), &p[2 * i + j]) || p[2 * i + j] < 0 ||
                    p[2 * i + j] > lim)
                    return keras_err(K, "'%s' must hold integers from 0 to %lld", key,
                                     (long long)lim);
        }
        return 0;
    }
    int64_t v[2];
    if (keras_jpair(K, o, key, 0, lim, 1, v)) return ERR_INPUT;
    p[0] = p[1] = v[0], p[2] = p[3] = v[1];
    return 0;
}

/* A tensor name not yet in the graph: base, else base_1, base_2, ... */
char *keras_fresh_name(struct kimp *K, const char *base)
{
    if (graph_find(K->b.g, base) < 0) return xstrdup(base);
    for (long k = 1;; k++) {
        char *s = xasprintf("%s_%ld", base, k);
        if (graph_find(K->b.g, s) < 0) return s;
        free(s);
    }
}

int keras_rank(struct kimp *K, int t)
{
    return K->b.g->t[t].ndim;
}

/* ---------------------------------------------------------------- builder calls */
void keras_attrs_init(struct kattrs *a)
{
    memset(a, 0, sizeof *a);
    a->as.v = a->v;
    a->as.opset = KERAS_OPSET;
}
void keras_attr_i(struct kattrs *a, const char *name, int64_t i)
{
    a->v[a->as.n++] = (struct attr){.name = name, .i = i};
}
void keras_attr_f(struct kattrs *a, const char *name, float f)
{
    a->v[a->as.n++] = (struct attr){.name = name, .f = f};
}
void keras_attr_s(struct kattrs *a, const char *name, const char *s)
{
    a->v[a->as.n++] = (struct attr){.name = name, .s = s, .slen = strlen(s), .has_s = 1};
}
void keras_attr_ints(struct kattrs *a, const char *name, const int64_t *v, int n)
{
    int k = a->as.n;
    memcpy(a->store[k], v, sizeof(int64_t) * (size_t)n);
    a->v[a->as.n++] = (struct attr){.name = name, .ints = a->store[k], .nints = (size_t)n};
}

/* Adds op (the engine's name) over in[0..nin) into a tensor named `name`
 * (made unique); the output tensor index, or an error. */
int keras_op(struct kimp *K, const char *opname, const int *in, int nin, const char *name,
             const struct kattrs *a)
{
    struct kattrs none;
    if (!a) keras_attrs_init(&none), a = &none;
    char *nm = keras_fresh_name(K, name);
    int t = graph_build_node(&K->b, opname, in, nin, nm, &a->as);
    free(nm);
    return t;
}

int keras_op1(struct kimp *K, const char *opname, int x, const char *name,
              const struct kattrs *a)
{
    return keras_op(K, opname, &x, 1, name, a);
}

/* A constant of shape dims with the values v (copied). */
int keras_const(struct kimp *K, const char *name, int ndim, const int64_t *dims, const float *v)
{
    char *nm = keras_fresh_name(K, name);
    int t = graph_build_const(&K->b, nm, ndim, dims);
    free(nm);
    if (t < 0) return t;
    if (v) memcpy(K->b.g->t[t].f, v, sizeof(float) * K->b.g->t[t].item);
    return t;
}

int keras_const_scalar(struct kimp *K, const char *name, float v)
{
    return keras_const(K, name, 0, NULL, &v);
}

int keras_const_ints(struct kimp *K, const char *name, const int64_t *v, int n)
{
    char *nm = keras_fresh_name(K, name);
    int t = graph_build_const_ints(&K->b, nm, v, n);
    free(nm);
    return t;
}

/* NCHW <-> NHWC on a 4-D activation. */
int keras_to_nhwc(struct kimp *K, int x, const char *name)
{
    struct kattrs a;
    keras_attrs_init(&a);
    keras_attr_ints(&a, "perm", (int64_t[]){0, 2, 3, 1}, 4);
    return keras_op1(K, "Transpose", x, name, &a);
}
int keras_to_nchw(struct kimp *K, int x, const char *name)
{
    struct kattrs a;
    keras_attrs_init(&a);
    keras_attr_ints(&a, "perm", (int64_t[]){0, 3, 1, 2}, 4);
    return keras_op1(K, "Transpose", x, name, &a);
}

/* The engine axis of Keras axis `ax` on a tensor of Keras rank r (batch
 * included) held NCHW when nhwc. -1 when out of range. */
int keras_map_axis(int64_t ax, int r, int nhwc)
{
    if (ax < 0) ax += r;
    if (ax < 0 || ax >= r) return -1;
    if (!nhwc || r != 4) return (int)ax;
    static const int m[4] = {0, 2, 3, 1};
    return m[ax];
}

/* ---------------------------------------------------------------- weights */
void keras_vars_release(struct kvars *v)
{
    for (size_t i = 0; i < v->nnames; i++)
        free(v->names[i]);
    free(v->names);
    v->names = NULL, v->nnames = 0;
}

/* "conv2d/kernel:0" -> var "kernel", owner "conv2d" (into the buffers). */
static void keras_split_weight_name(const char *w, char *owner, size_t on, char *var, size_t vn)
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
static char *keras_var_path(struct kimp *K, struct kvars *v, const char *var)
{
    if (K->archive) {
        for (int i = 0; i < v->norder; i++)
            if (!strcmp(v->order[i], var)) return xasprintf("%s/vars/%d", v->group, i);
        return NULL;
    }
    for (size_t i = 0; i < v->nnames; i++) {
        char owner[256], name[256];
        keras_split_weight_name(v->names[i], owner, sizeof owner, name, sizeof name);
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
float *keras_var_read(struct kimp *K, struct kvars *v, const char *var, int nd,
                      const int64_t *want)
{
    char *p = keras_var_path(K, v, var);
    if (!p) {
        keras_err(K, "weight '%s' is missing from the file's weights (%s)", var, v->group);
        return NULL;
    }
    int ndim;
    uint64_t dims[H5_MAX_RANK];
    float *buf = NULL;
    int kind = h5_kind(K->h5, p);
    if (kind != H5_DATASET) {
        if (kind < 0)
            keras_err(K, "weight '%s' (%s): %s", var, p, error_message());
        else
            keras_err(K, "weight '%s' is missing from the file's weights (no %s)", var, p);
        goto out;
    }
    if (h5_dataset_shape(K->h5, p, &ndim, dims)) {
        keras_err(K, "weight '%s' (%s): %s", var, p, error_message());
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
        keras_err(K, "weight '%s' has shape %s, but the layer's config needs %s", var, hs, ws);
        goto out;
    }
    for (int i = 0; i < nd; i++)
        if (!mul_ok(count, (size_t)want[i], &count)) count = SIZE_MAX;
    size_t bytes;
    if (count == SIZE_MAX || !mul_ok(count, sizeof(float), &bytes) ||
        !graph_alloc_fits(K->b.g, 2 * bytes)) {
        keras_err(K, "weight '%s' %s is over the memory allowed (raise it with --max-memory)",
                  var, ws);
        goto out;
    }
    buf = xmalloc(bytes ? bytes : sizeof(float));
    if (h5_dataset_read_f32(K->h5, p, buf, count)) {
        keras_err(K, "weight '%s' (%s): %s", var, p, error_message());
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
const char *keras_activation_name(const struct json_value *v)
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
int keras_activation(struct kimp *K, const char *act, int x, int nhwc, const char *name)
{
    struct kattrs a;
    keras_attrs_init(&a);
    if (!act)
        return keras_err(K, "a custom activation is not supported (only Keras's built-ins)");
    if (!strcmp(act, "linear")) return x;
    const char *simple[][2] = {{"relu", "Relu"},         {"sigmoid", "Sigmoid"},
                               {"tanh", "Tanh"},         {"selu", "Selu"},
                               {"softplus", "Softplus"}, {"softsign", "Softsign"},
                               {"exponential", "Exp"},   {"gelu", "Gelu"}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (!strcmp(act, simple[i][0])) return keras_op1(K, simple[i][1], x, name, NULL);
    if (!strcmp(act, "elu")) {
        keras_attr_f(&a, "alpha", 1.0f);
        return keras_op1(K, "Elu", x, name, &a);
    }
    if (!strcmp(act, "leaky_relu")) {
        keras_attr_f(&a, "alpha", 0.2f);
        return keras_op1(K, "LeakyRelu", x, name, &a);
    }
    if (!strcmp(act, "softmax")) {
        int r = keras_rank(K, x);
        keras_attr_i(&a, "axis", keras_map_axis(-1, r, nhwc));
        return keras_op1(K, "Softmax", x, name, &a);
    }
    if (!strcmp(act, "hard_sigmoid")) { /* Keras 3: relu6(x + 3) / 6; Keras 2: 0.2 x + 0.5 */
        keras_attr_f(&a, "alpha", K->keras3 ? 1.0f / 6 : 0.2f);
        keras_attr_f(&a, "beta", 0.5f);
        return keras_op1(K, "HardSigmoid", x, name, &a);
    }
    if (!strcmp(act, "relu6")) {
        int lo = keras_const_scalar(K, "relu6/min", 0.0f),
            hi = keras_const_scalar(K, "relu6/max", 6.0f);
        if (lo < 0 || hi < 0) return ERR_INPUT;
        return keras_op(K, "Clip", (int[]){x, lo, hi}, 3, name, NULL);
    }
    char *base = xasprintf("%s/%s", name, act);
    int t = -1;
    if (!strcmp(act, "swish") || !strcmp(act, "silu")) { /* x sigmoid(x) */
        t = keras_op1(K, "Sigmoid", x, base, NULL);
        if (t >= 0) t = keras_op(K, "Mul", (int[]){x, t}, 2, name, NULL);
    } else if (!strcmp(act, "hard_silu") || !strcmp(act, "hard_swish")) {
        keras_attr_f(&a, "alpha", 1.0f / 6);
        keras_attr_f(&a, "beta", 0.5f);
        t = keras_op1(K, "HardSigmoid", x, base, &a);
        if (t >= 0) t = keras_op(K, "Mul", (int[]){x, t}, 2, name, NULL);
    } else if (!strcmp(act, "mish")) { /* x tanh(softplus(x)) */
        t = keras_op1(K, "Softplus", x, base, NULL);
        if (t >= 0) t = keras_op1(K, "Tanh", t, base, NULL);
        if (t >= 0) t = keras_op(K, "Mul", (int[]){x, t}, 2, name, NULL);
    } else {
        free(base);
        return keras_err(K, "activation '%s' is not supported", act);
    }
    free(base);
    return t;
}
