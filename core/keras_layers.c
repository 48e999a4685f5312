/* keras_layers.c - each Keras layer class as engine ops, with TensorFlow's
 * semantics: kernels HWIO to OIHW, 'same' padding with the odd pixel after,
 * average pooling over real pixels, Flatten in H, W, C order, BatchNormalization
 * from moving statistics, Normalization's max(sqrt(var), 1e-7). The table at
 * the end is the list of classes interp runs.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keras_int.h"
#include "util.h"

/* ---------------------------------------------------------------- layers */
/* The name of a layer's output before its activation: the layer's own name
 * when the activation is linear (so --layer finds it), else NAME/linear. */
char *keras_pre_name(const struct kcall *L, const char *act)
{
    if (act && !strcmp(act, "linear")) return xstrdup(L->out_name);
    return xasprintf("%s/linear", L->name);
}

const char *const *keras_var_order(const char *cls, const struct json_value *cfg, int *n)
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
    if (keras_jpair(K, c, "kernel_size", 1, 1 << 12, -1, ks) ||
        keras_jpair(K, c, "strides", 1, 1 << 16, 1, st) ||
        keras_jpair(K, c, "dilation_rate", 1, 1 << 16, 1, dil) ||
        keras_jbool(K, c, "use_bias", 1, &use_bias) ||
        keras_jint(K, c, "groups", 1, 1 << 20, 1, &groups) ||
        keras_jint(K, c, "depth_multiplier", 1, 1 << 20, 1, &mult))
        return ERR_INPUT;
    if (ks[0] < 0) return keras_err(K, "no kernel_size");
    if (!depthwise && keras_jint(K, c, "filters", 1, 1 << 24, 0, &filters)) return ERR_INPUT;
    if (!depthwise && filters < 1) return keras_err(K, "no filters");
    const char *pad = keras_jstr(c, "padding");
    if (!pad) pad = "valid";
    if (strcmp(pad, "valid") && strcmp(pad, "same"))
        return keras_err(K, "padding '%s' is not supported (valid, same)", pad);
    if ((st[0] > 1 || st[1] > 1) && (dil[0] > 1 || dil[1] > 1))
        return keras_err(K, "strides and dilation_rate both above 1");
    const struct tensor *xt = &K->b.g->t[L->in[0].t];
    if (xt->ndim != 4) return keras_err(K, "needs a 4-D input");
    int64_t C = xt->dims[1];
    const char *act = keras_activation_name(json_get(c, "activation"));
    if (!depthwise && !sep && C % groups)
        return keras_err(K, "groups %lld does not divide the %lld input channels",
                         (long long)groups, (long long)C);
    int x = L->in[0].t;
    struct kattrs a;
    keras_attrs_init(&a);
    keras_attr_ints(&a, "strides", st, 2);
    keras_attr_ints(&a, "dilations", dil, 2);
    keras_attr_s(&a, "auto_pad", !strcmp(pad, "same") ? "SAME_UPPER" : "VALID");
    int64_t kd[4], wd[4];
    float *k = NULL, *b = NULL, *pk = NULL;
    int rc = ERR_INPUT;
    char *nm;
    if (depthwise || sep) {
        kd[0] = ks[0], kd[1] = ks[1], kd[2] = C, kd[3] = mult;
        if (!(k = keras_var_read(K, &L->vars, depthwise ? "kernel" : "depthwise_kernel", 4,
                                 kd)))
            goto out;
        /* (kh, kw, C, m) -> (C*m, 1, kh, kw): output channel c*m + j */
        wd[0] = C * mult, wd[1] = 1, wd[2] = ks[0], wd[3] = ks[1];
        nm = xasprintf("%s/depthwise_kernel", L->name);
        int w = keras_const(K, nm, 4, wd, NULL);
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
        keras_attr_i(&ad, "group", C);
        int in3[3] = {x, w, -1};
        int nin = 2;
        if (depthwise && use_bias) {
            int64_t bd[1] = {C * mult};
            if (!(b = keras_var_read(K, &L->vars, "bias", 1, bd))) goto out;
            nm = xasprintf("%s/bias", L->name);
            in3[2] = keras_const(K, nm, 1, bd, b);
            free(nm);
            if (in3[2] < 0) goto out;
            nin = 3;
            L->params += (size_t)bd[0];
        }
        nm = depthwise ? keras_pre_name(L, act) : xasprintf("%s/depthwise", L->name);
        x = keras_op(K, "Conv", in3, nin, nm, &ad);
        free(nm);
        if (x < 0) goto out;
        if (depthwise) {
            rc = 0;
            L->out = x;
            goto out;
        }
        /* the pointwise 1x1 conv */
        int64_t pd[4] = {1, 1, C * mult, filters};
        if (!(pk = keras_var_read(K, &L->vars, "pointwise_kernel", 4, pd))) goto out;
        int64_t pw[4] = {filters, C * mult, 1, 1};
        nm = xasprintf("%s/pointwise_kernel", L->name);
        w = keras_const(K, nm, 4, pw, NULL); /* (1,1,I,O) -> (O,I,1,1) below */
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
            if (!(b = keras_var_read(K, &L->vars, "bias", 1, bd))) goto out;
            nm = xasprintf("%s/bias", L->name);
            inp[2] = keras_const(K, nm, 1, bd, b);
            free(nm);
            if (inp[2] < 0) goto out;
            nin = 3;
            L->params += (size_t)filters;
        }
        struct kattrs a1;
        keras_attrs_init(&a1);
        nm = keras_pre_name(L, act);
        x = keras_op(K, "Conv", inp, nin, nm, &a1);
        free(nm);
        if (x >= 0) rc = 0;
        L->out = x;
        goto out;
    }
    kd[0] = ks[0], kd[1] = ks[1], kd[2] = C / groups, kd[3] = filters;
    if (!(k = keras_var_read(K, &L->vars, "kernel", 4, kd))) goto out;
    wd[0] = filters, wd[1] = C / groups, wd[2] = ks[0], wd[3] = ks[1];
    nm = xasprintf("%s/kernel", L->name);
    int w = keras_const(K, nm, 4, wd, NULL);
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
        if (!(b = keras_var_read(K, &L->vars, "bias", 1, bd))) goto out;
        nm = xasprintf("%s/bias", L->name);
        in3[2] = keras_const(K, nm, 1, bd, b);
        free(nm);
        if (in3[2] < 0) goto out;
        nin = 3;
        L->params += (size_t)filters;
    }
    keras_attr_i(&a, "group", groups);
    nm = keras_pre_name(L, act);
    L->out = keras_op(K, "Conv", in3, nin, nm, &a);
    free(nm);
    if (L->out >= 0) rc = 0;
out:
    free(k), free(b), free(pk);
    if (rc) return ERR_INPUT;
    L->nhwc = L->in[0].nhwc;
    K->seen_weights = 1;
    L->out = keras_activation(K, act, L->out, L->nhwc, L->out_name);
    return L->out < 0 ? ERR_INPUT : 0;
}

/* Dense: kernel (in, out), applied to the last axis. */
static int layer_dense(struct kimp *K, struct kcall *L)
{
    const struct json_value *c = L->cfg;
    int64_t units;
    int use_bias;
    if (keras_jint(K, c, "units", 1, 1 << 24, 0, &units) ||
        keras_jbool(K, c, "use_bias", 1, &use_bias))
        return ERR_INPUT;
    if (units < 1) return keras_err(K, "no units");
    int x = L->in[0].t, nhwc = L->in[0].nhwc;
    int r = keras_rank(K, x);
    const char *act = keras_activation_name(json_get(c, "activation"));
    if (nhwc && r == 4) {
        char *nm0 = xasprintf("%s/nhwc", L->name);
        x = keras_to_nhwc(K, x, nm0);
        free(nm0);
        if (x < 0) return ERR_INPUT;
    }
    const struct tensor *xt = &K->b.g->t[x];
    int64_t n = xt->dims[xt->ndim - 1], kd[2] = {n, units};
    float *k = keras_var_read(K, &L->vars, "kernel", 2, kd), *b = NULL;
    if (!k) return ERR_INPUT;
    char *nm = xasprintf("%s/kernel", L->name);
    int w = keras_const(K, nm, 2, kd, k);
    free(nm);
    free(k);
    if (w < 0) return ERR_INPUT;
    L->params = (size_t)(n * units);
    int in3[3] = {x, w, -1};
    int nin = 2;
    if (use_bias) {
        int64_t bd[1] = {units};
        if (!(b = keras_var_read(K, &L->vars, "bias", 1, bd))) return ERR_INPUT;
        nm = xasprintf("%s/bias", L->name);
        in3[2] = keras_const(K, nm, 1, bd, b);
        free(nm);
        free(b);
        if (in3[2] < 0) return ERR_INPUT;
        nin = 3;
        L->params += (size_t)units;
    }
    nm = nhwc && r == 4 ? xasprintf("%s/matmul", L->name) : keras_pre_name(L, act);
    int t;
    if (r == 2) {
        t = keras_op(K, "Gemm", in3, nin, nm, NULL);
    } else { /* any rank: MatMul on the last axis, then the bias */
        char *mm = nin == 3 ? xasprintf("%s/matmul", L->name) : xstrdup(nm);
        t = keras_op(K, "MatMul", in3, 2, mm, NULL);
        free(mm);
        if (t >= 0 && nin == 3) t = keras_op(K, "Add", (int[]){t, in3[2]}, 2, nm, NULL);
    }
    free(nm);
    if (t < 0) return ERR_INPUT;
    if (nhwc && r == 4) {
        char *nm0 = keras_pre_name(L, act);
        t = keras_to_nchw(K, t, nm0);
        free(nm0);
        if (t < 0) return ERR_INPUT;
    }
    K->seen_weights = 1;
    L->nhwc = nhwc && r == 4;
    L->out = keras_activation(K, act, t, L->nhwc, L->out_name);
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
    int in[5] = {x, keras_const(K, n1, 1, d, a), keras_const(K, n2, 1, d, b),
                 keras_const(K, n3, 1, d, zeros), keras_const(K, n4, 1, d, ones)};
    free(n1), free(n2), free(n3), free(n4), free(ones), free(zeros);
    for (int i = 1; i < 5; i++)
        if (in[i] < 0) return ERR_INPUT;
    struct kattrs at;
    keras_attrs_init(&at);
    keras_attr_f(&at, "epsilon", 0.0f);
    return keras_op(K, "BatchNormalization", in, 5, name, &at);
}

/* The channel count of the tensor the layer normalises: Keras axis (-1 by
 * default, or an axis list of one) must be the channel axis. */
static int channel_axis(struct kimp *K, struct kcall *L, int64_t *C)
{
    const struct json_value *ax = json_get(L->cfg, "axis");
    int64_t a = -1;
    if (ax && json_value_type(ax) == JSON_ARRAY) {
        if (json_len(ax) != 1 || json_integer(json_at(ax, 0), &a))
            return keras_err(K, "axis must be one axis");
    } else if (ax && json_value_type(ax) != JSON_NULL && json_integer(ax, &a)) {
        return keras_err(K, "axis must be an integer");
    }
    int x = L->in[0].t, r = keras_rank(K, x);
    int m = keras_map_axis(a, r, L->in[0].nhwc);
    if (m != 1)
        return keras_err(K,
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
    if (keras_jbool(K, L->cfg, "scale", 1, &scale) ||
        keras_jbool(K, L->cfg, "center", 1, &center) ||
        keras_jnum(K, L->cfg, "epsilon", 1e-3, &eps) || channel_axis(K, L, &C))
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
            if (!(v[i] = keras_var_read(K, &L->vars, names[i], 1, d))) goto out;
            L->params += (size_t)C;
        }
        char *nm = xasprintf("%s/%s", L->name, names[i]);
        in[i + 1] = keras_const(K, nm, 1, d, v[i]);
        free(nm);
        if (in[i + 1] < 0) goto out;
    }
    struct kattrs a;
    keras_attrs_init(&a);
    keras_attr_f(&a, "epsilon", (float)eps);
    L->out = keras_op(K, "BatchNormalization", in, 5, L->out_name, &a);
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
        const char *cn = keras_jstr(x, "class_name");
        if (!cn || (strcmp(cn, "__numpy__") && strcmp(cn, "__tensor__")))
            return keras_err(K, "'%s' is an object, not numbers", key);
        c = json_get(x, "config"), key = "value";
        x = json_get(c, key);
    }
    if (x && json_value_type(x) == JSON_ARRAY) {
        size_t n = json_len(x);
        if (n != 1 && n != (size_t)C)
            return keras_err(K, "'%s' has %zu values for %lld channels", key, n, (long long)C);
        for (int64_t i = 0; i < C; i++) {
            const struct json_value *e = json_at(x, n == 1 ? 0 : (size_t)i);
            if (json_value_type(e) == JSON_ARRAY && json_len(e) == 1) e = json_at(e, 0);
            if (json_num(e, &d) || !isfinite(d))
                return keras_err(K, "'%s' is not a list of numbers", key);
            v[i] = (float)d;
        }
        return 0;
    }
    if (keras_jnum(K, c, key, def, &d)) return ERR_INPUT;
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
    int64_t C = keras_rank(K, x) >= 2 ? K->b.g->t[x].dims[1] : 1;
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
    if (keras_jbool(K, L->cfg, "invert", 0, &invert) || channel_axis(K, L, &C))
        return ERR_INPUT;
    if (invert) return keras_err(K, "invert=True is not supported");
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
        if (!(mean = keras_var_read(K, &L->vars, "mean", 1, d)) ||
            !(var = keras_var_read(K, &L->vars, "variance", 1, d)))
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
    if (keras_jpair(K, L->cfg, "pool_size", 1, 1 << 16, 2, ps) ||
        keras_jpair(K, L->cfg, "strides", 1, 1 << 16, -1, st))
        return ERR_INPUT;
    if (st[0] < 0) st[0] = ps[0], st[1] = ps[1];
    const char *pad = keras_jstr(L->cfg, "padding");
    if (!pad) pad = "valid";
    if (strcmp(pad, "valid") && strcmp(pad, "same"))
        return keras_err(K, "padding '%s' is not supported (valid, same)", pad);
    if (keras_rank(K, L->in[0].t) != 4) return keras_err(K, "needs a 4-D input");
    struct kattrs a;
    keras_attrs_init(&a);
    keras_attr_ints(&a, "kernel_shape", ps, 2);
    keras_attr_ints(&a, "strides", st, 2);
    keras_attr_s(&a, "auto_pad", !strcmp(pad, "same") ? "SAME_UPPER" : "VALID");
    if (avg)
        keras_attr_i(&a, "count_include_pad", 0); /* TensorFlow averages the valid pixels */
    L->out = keras_op1(K, avg ? "AveragePool" : "MaxPool", L->in[0].t, L->out_name, &a);
    L->nhwc = L->in[0].nhwc;
    return L->out < 0 ? ERR_INPUT : 0;
}

static int layer_global_pool(struct kimp *K, struct kcall *L)
{
    int keep;
    if (keras_jbool(K, L->cfg, "keepdims", 0, &keep)) return ERR_INPUT;
    int x = L->in[0].t;
    if (keras_rank(K, x) != 4) return keras_err(K, "needs a 4-D input");
    const struct tensor *xt = &K->b.g->t[x];
    char *nm = keep ? xstrdup(L->out_name) : xasprintf("%s/keepdims", L->name);
    int t;
    if (!strcmp(L->cls, "GlobalAveragePooling2D")) {
        t = keras_op1(K, "GlobalAveragePool", x, nm, NULL);
    } else {
        struct kattrs a;
        keras_attrs_init(&a);
        keras_attr_ints(&a, "kernel_shape", (int64_t[]){xt->dims[2], xt->dims[3]}, 2);
        t = keras_op1(K, "MaxPool", x, nm, &a);
    }
    free(nm);
    if (t < 0) return ERR_INPUT;
    L->nhwc = L->in[0].nhwc && keep;
    if (!keep) {
        struct kattrs a;
        keras_attrs_init(&a);
        keras_attr_i(&a, "axis", 1);
        t = keras_op1(K, "Flatten", t, L->out_name, &a);
    }
    L->out = t;
    return t < 0 ? ERR_INPUT : 0;
}

/* Flatten in Keras's order: H, W, C for a channels-last tensor. */
static int layer_flatten(struct kimp *K, struct kcall *L)
{
    int x = L->in[0].t;
    /* a channels_first Flatten moves the channels last first (Keras 2 and 3) */
    const char *df = keras_jstr(L->cfg, "data_format");
    int cf = df ? !strcmp(df, "channels_first") : K->channels_first;
    if ((L->in[0].nhwc || cf) && keras_rank(K, x) == 4) {
        char *nm = xasprintf("%s/nhwc", L->name);
        x = keras_to_nhwc(K, x, nm);
        free(nm);
        if (x < 0) return ERR_INPUT;
    }
    struct kattrs a;
    keras_attrs_init(&a);
    keras_attr_i(&a, "axis", 1);
    L->out = keras_op1(K, "Flatten", x, L->out_name, &a);
    return L->out < 0 ? ERR_INPUT : 0;
}

static int layer_reshape(struct kimp *K, struct kcall *L)
{
    const struct json_value *ts = json_get(L->cfg, "target_shape");
    size_t n = json_len(ts);
    if (!ts || json_value_type(ts) != JSON_ARRAY || n < 1 || n > G_MAX_DIMS - 1)
        return keras_err(K, "target_shape must be a list of 1 to %d sizes", G_MAX_DIMS - 1);
    int64_t shape[G_MAX_DIMS];
    shape[0] = 0; /* the batch, kept */
    for (size_t i = 0; i < n; i++)
        if (json_integer(json_at(ts, i), &shape[i + 1]) || shape[i + 1] < -1 ||
            shape[i + 1] == 0 || shape[i + 1] > (1 << 30))
            return keras_err(K, "target_shape holds %s",
                             json_value_type(json_at(ts, i)) == JSON_NUMBER ? "a bad size"
                                                                            : "something else");
    int x = L->in[0].t;
    if (L->in[0].nhwc && keras_rank(K, x) == 4) {
        char *nm = xasprintf("%s/nhwc", L->name);
        x = keras_to_nhwc(K, x, nm);
        free(nm);
        if (x < 0) return ERR_INPUT;
    }
    char *nm = xasprintf("%s/shape", L->name);
    int s = keras_const_ints(K, nm, shape, (int)n + 1);
    free(nm);
    if (s < 0) return ERR_INPUT;
    int back = n == 3 && !K->channels_first;
    nm = back ? xasprintf("%s/nhwc_out", L->name) : xstrdup(L->out_name);
    int t = keras_op(K, "Reshape", (int[]){x, s}, 2, nm, NULL);
    free(nm);
    if (t >= 0 && back) t = keras_to_nchw(K, t, L->out_name);
    L->out = t;
    L->nhwc = back;
    return t < 0 ? ERR_INPUT : 0;
}

static int layer_zeropad(struct kimp *K, struct kcall *L)
{
    int64_t p[4];
    if (keras_jpads(K, L->cfg, "padding", p)) return ERR_INPUT;
    if (keras_rank(K, L->in[0].t) != 4) return keras_err(K, "needs a 4-D input");
    int64_t pads[8] = {0, 0, p[0], p[2], 0, 0, p[1], p[3]};
    char *nm = xasprintf("%s/pads", L->name);
    int pt = keras_const_ints(K, nm, pads, 8);
    free(nm);
    if (pt < 0) return ERR_INPUT;
    L->out = keras_op(K, "Pad", (int[]){L->in[0].t, pt}, 2, L->out_name, NULL);
    L->nhwc = L->in[0].nhwc;
    return L->out < 0 ? ERR_INPUT : 0;
}

/* A window of the spatial dims: rows y0..y0+h, columns x0..x0+w. */
static int crop(struct kimp *K, struct kcall *L, int64_t y0, int64_t h, int64_t x0, int64_t w)
{
    int64_t st[2] = {y0, x0}, en[2] = {y0 + h, x0 + w}, ax[2] = {2, 3};
    char *n1 = xasprintf("%s/starts", L->name), *n2 = xasprintf("%s/ends", L->name),
         *n3 = xasprintf("%s/axes", L->name);
    int in[4] = {L->in[0].t, keras_const_ints(K, n1, st, 2), keras_const_ints(K, n2, en, 2),
                 keras_const_ints(K, n3, ax, 2)};
    free(n1), free(n2), free(n3);
    if (in[1] < 0 || in[2] < 0 || in[3] < 0) return ERR_INPUT;
    L->out = keras_op(K, "Slice", in, 4, L->out_name, NULL);
    L->nhwc = L->in[0].nhwc;
    return L->out < 0 ? ERR_INPUT : 0;
}

static int layer_cropping(struct kimp *K, struct kcall *L)
{
    int64_t p[4];
    if (keras_jpads(K, L->cfg, "cropping", p)) return ERR_INPUT;
    const struct tensor *x = &K->b.g->t[L->in[0].t];
    if (x->ndim != 4) return keras_err(K, "needs a 4-D input");
    int64_t h = x->dims[2] - p[0] - p[1], w = x->dims[3] - p[2] - p[3];
    if (h < 1 || w < 1)
        return keras_err(K, "cropping leaves nothing of a %lldx%lld input",
                         (long long)x->dims[2], (long long)x->dims[3]);
    return crop(K, L, p[0], h, p[2], w);
}

static int layer_center_crop(struct kimp *K, struct kcall *L)
{
    int64_t h, w;
    if (keras_jint(K, L->cfg, "height", 1, 1 << 20, 0, &h) ||
        keras_jint(K, L->cfg, "width", 1, 1 << 20, 0, &w))
        return ERR_INPUT;
    const struct tensor *x = &K->b.g->t[L->in[0].t];
    if (x->ndim != 4) return keras_err(K, "needs a 4-D input");
    int64_t H = x->dims[2], W = x->dims[3];
    if (h < 1 || w < 1 || h > H || w > W)
        return keras_err(K,
                         "a %lldx%lld crop of a %lldx%lld input is not supported (Keras "
                         "resizes then; crops must fit inside)",
                         (long long)h, (long long)w, (long long)H, (long long)W);
    return crop(K, L, (H - h) / 2, h, (W - w) / 2, w);
}

static int layer_merge(struct kimp *K, struct kcall *L)
{
    if (L->nin < 2) return keras_err(K, "needs at least two inputs");
    const char *cls = L->cls;
    const char *opname = !strcmp(cls, "Multiply")   ? "Mul"
                         : !strcmp(cls, "Subtract") ? "Sub"
                                                    : "Add";
    if (!strcmp(cls, "Subtract") && L->nin != 2)
        return keras_err(K, "needs exactly two inputs");
    for (int i = 1; i < L->nin; i++)
        if (L->in[i].nhwc != L->in[0].nhwc) return keras_err(K, "inputs in different layouts");
    int t = L->in[0].t;
    int avg = !strcmp(cls, "Average");
    for (int i = 1; i < L->nin; i++) {
        int last = i == L->nin - 1 && !avg;
        char *nm = last ? xstrdup(L->out_name) : xasprintf("%s/sum", L->name);
        t = keras_op(K, opname, (int[]){t, L->in[i].t}, 2, nm, NULL);
        free(nm);
        if (t < 0) return ERR_INPUT;
    }
    if (avg) {
        int k = keras_const_scalar(K, "average/scale", 1.0f / (float)L->nin);
        if (k < 0) return ERR_INPUT;
        t = keras_op(K, "Mul", (int[]){t, k}, 2, L->out_name, NULL);
        if (t < 0) return ERR_INPUT;
    }
    L->out = t;
    L->nhwc = L->in[0].nhwc;
    return 0;
}

static int layer_concat(struct kimp *K, struct kcall *L)
{
    int64_t ax;
    if (keras_jint(K, L->cfg, "axis", -8, 8, -1, &ax)) return ERR_INPUT;
    int in[G_MAX_INPUTS];
    for (int i = 0; i < L->nin; i++) {
        if (L->in[i].nhwc != L->in[0].nhwc) return keras_err(K, "inputs in different layouts");
        in[i] = L->in[i].t;
    }
    int m = keras_map_axis(ax, keras_rank(K, in[0]), L->in[0].nhwc);
    if (m < 1)
        return keras_err(K, "concatenation along axis %lld is not supported", (long long)ax);
    struct kattrs a;
    keras_attrs_init(&a);
    keras_attr_i(&a, "axis", m);
    L->out = keras_op(K, "Concat", in, L->nin, L->out_name, &a);
    L->nhwc = L->in[0].nhwc;
    return L->out < 0 ? ERR_INPUT : 0;
}

static int layer_activation(struct kimp *K, struct kcall *L)
{
    const char *cls = L->cls;
    int x = L->in[0].t;
    L->nhwc = L->in[0].nhwc;
    struct kattrs a;
    keras_attrs_init(&a);
    if (!strcmp(cls, "Activation")) {
        L->out = keras_activation(K, keras_activation_name(json_get(L->cfg, "activation")), x,
                                  L->nhwc, L->out_name);
    } else if (!strcmp(cls, "ReLU")) {
        double maxv = INFINITY, slope, thr;
        const struct json_value *mv = json_get(L->cfg, "max_value");
        if ((mv && json_value_type(mv) != JSON_NULL &&
             keras_jnum(K, L->cfg, "max_value", 0, &maxv)) ||
            keras_jnum(K, L->cfg, "negative_slope", 0, &slope) ||
            keras_jnum(K, L->cfg, "threshold", 0, &thr))
            return ERR_INPUT;
        if (thr != 0) return keras_err(K, "threshold %g is not supported", thr);
        if (slope != 0 && isfinite(maxv))
            return keras_err(K, "negative_slope with max_value is not supported");
        if (slope != 0) {
            keras_attr_f(&a, "alpha", (float)slope);
            L->out = keras_op1(K, "LeakyRelu", x, L->out_name, &a);
        } else if (isfinite(maxv)) {
            int lo = keras_const_scalar(K, "relu/min", 0.0f),
                hi = keras_const_scalar(K, "relu/max", (float)maxv);
            if (lo < 0 || hi < 0) return ERR_INPUT;
            L->out = keras_op(K, "Clip", (int[]){x, lo, hi}, 3, L->out_name, NULL);
        } else {
            L->out = keras_op1(K, "Relu", x, L->out_name, NULL);
        }
    } else if (!strcmp(cls, "LeakyReLU")) {
        double s;
        const char *key = json_get(L->cfg, "negative_slope") ? "negative_slope" : "alpha";
        if (keras_jnum(K, L->cfg, key, 0.3, &s)) return ERR_INPUT;
        keras_attr_f(&a, "alpha", (float)s);
        L->out = keras_op1(K, "LeakyRelu", x, L->out_name, &a);
    } else if (!strcmp(cls, "ELU")) {
        double al;
        if (keras_jnum(K, L->cfg, "alpha", 1.0, &al)) return ERR_INPUT;
        keras_attr_f(&a, "alpha", (float)al);
        L->out = keras_op1(K, "Elu", x, L->out_name, &a);
    } else { /* Softmax */
        int64_t ax = -1;
        const struct json_value *v = json_get(L->cfg, "axis");
        if (v && json_value_type(v) == JSON_ARRAY) {
            if (json_len(v) != 1 || json_integer(json_at(v, 0), &ax))
                return keras_err(K, "softmax over several axes is not supported");
        } else if (keras_jint(K, L->cfg, "axis", -8, 8, -1, &ax)) {
            return ERR_INPUT;
        }
        int m = keras_map_axis(ax, keras_rank(K, x), L->nhwc);
        if (m < 1)
            return keras_err(K, "softmax over axis %lld is not supported", (long long)ax);
        keras_attr_i(&a, "axis", m);
        L->out = keras_op1(K, "Softmax", x, L->out_name, &a);
    }
    return L->out < 0 ? ERR_INPUT : 0;
}

/* ---------------------------------------------------------------- the class table */
/* Identity at inference: regularisers and augmentation. */
const char *const keras_identity_classes[] = {"Dropout",
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

int keras_in_set(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set)) return 1;
    return 0;
}

const struct kclass keras_classes[] = {
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
const size_t keras_nclasses = sizeof keras_classes / sizeof keras_classes[0];

int keras_is_model_class(const char *cls)
{
    return !strcmp(cls, "Sequential") || !strcmp(cls, "Functional") || !strcmp(cls, "Model");
}
