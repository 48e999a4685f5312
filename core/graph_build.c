/* graph_build.c - the graph builder both importers call: every op of the
 * engine's vocabulary (ONNX's operator names and attribute semantics) is
 * checked and prepared here, once, with its output shape inferred under a
 * symbolic batch. An importer reads its format (core/import_onnx.c,
 * core/import_keras.c), names the op, its inputs and its attributes, and
 * gets the output tensor; past this file nothing knows the format.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "util.h"

/* ---------------------------------------------------------------- errors */
int gb_error(struct graph_builder *gb, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return error_set(ERR_INPUT, gb->path, "%s '%s' (%s): %s", gb->kind ? gb->kind : "node",
                     gb->name ? gb->name : "?", gb->op ? gb->op : "?", why);
}

/* ---------------------------------------------------------------- attributes */
const struct attr *attr_find(const struct attrs *n, const char *name)
{
    for (int i = 0; n && i < n->n; i++)
        if (n->v[i].name && !strcmp(n->v[i].name, name)) return &n->v[i];
    return NULL;
}

int64_t attr_i(const struct attrs *n, const char *name, int64_t def)
{
    const struct attr *a = attr_find(n, name);
    return a ? a->i : def;
}

float attr_f(const struct attrs *n, const char *name, float def)
{
    const struct attr *a = attr_find(n, name);
    return a ? a->f : def;
}

int attr_ints(const struct attrs *n, const char *name, int64_t *v, int max)
{
    const struct attr *a = attr_find(n, name);
    if (!a) return -1;
    if (a->nints > (size_t)max) return -2;
    for (size_t i = 0; i < a->nints; i++)
        v[i] = a->ints[i];
    return (int)a->nints;
}

const char *attr_s(const struct attrs *n, const char *name, char *buf, size_t size)
{
    const struct attr *a = attr_find(n, name);
    buf[0] = 0;
    if (a && a->has_s) {
        size_t k = a->slen < size - 1 ? a->slen : size - 1;
        memcpy(buf, a->s, k);
        buf[k] = 0;
    }
    return buf;
}

/* ---------------------------------------------------------------- limits */
/* Whether a tensor of t->item values of esz bytes (per batch item for an
 * activation) is over --max-memory or --max-elements: 1 with the reason, the
 * figure, the limit and the flag in why. */
int tensor_over_limits(const struct tensor *t, size_t esz, char *why, size_t size)
{
    const struct limits *lim = limits_get();
    char shape[160], need[32], have[32];
    tensor_shape_str(t, shape, sizeof shape);
    const char *per = t->batched ? " per image" : "";
    size_t bytes;
    if (t->item == SIZE_MAX || !mul_ok(t->item, esz, &bytes)) {
        snprintf(why, size, "%s has more values%s than memory can hold", shape, per);
        return 1;
    }
    if (bytes > lim->max_bytes) {
        snprintf(why, size, "%s needs %s%s, over the %s allowed (raise it with --max-memory)",
                 shape, limits_format_bytes(bytes, need, sizeof need),
                 t->batched ? " at batch 1" : "",
                 limits_format_bytes(lim->max_bytes, have, sizeof have));
        return 1;
    }
    if (t->item > lim->max_elements) {
        snprintf(why, size,
                 "%s has %zu values%s, over the limit of %llu (raise it with --max-elements)",
                 shape, t->item, per, (unsigned long long)lim->max_elements);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- node helpers */
static struct tensor *in_t(struct graph_builder *gb, struct node *nd, int i)
{
    return nd->in[i] >= 0 ? &gb->g->t[nd->in[i]] : NULL;
}

static int need_batched(struct graph_builder *gb, struct node *nd, int i, int min_rank,
                        int max_rank)
{
    struct tensor *t = in_t(gb, nd, i);
    if (!t) return gb_error(gb, "input %d is missing", i);
    if (!t->batched)
        return gb_error(gb, "input '%s' must be computed from the image, not a constant",
                        t->name);
    if (t->ndim < min_rank || t->ndim > max_rank)
        return gb_error(gb, "input '%s' has rank %d, expected %d to %d", t->name, t->ndim,
                        min_rank, max_rank);
    return 0;
}

static int need_const(struct graph_builder *gb, struct node *nd, int i, int rank)
{
    struct tensor *t = in_t(gb, nd, i);
    if (!t) return gb_error(gb, "input %d is missing", i);
    if (t->batched) return gb_error(gb, "input '%s' must be a constant (initializer)", t->name);
    if (t->is_int) return gb_error(gb, "input '%s' must hold floats", t->name);
    if (rank >= 0 && t->ndim != rank)
        return gb_error(gb, "constant '%s' has rank %d, expected %d", t->name, t->ndim, rank);
    return 0;
}

/* Kernels take int sizes: every dimension of a tensor they see must be
 * positive and small enough. */
static int dims_ok(struct graph_builder *gb, const struct tensor *t)
{
    char ts[160];
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] < 1 || t->dims[i] > (1 << 26))
            return gb_error(
                gb, "tensor '%s' %s: dimension %d is %lld (sizes must be 1 to 2^26)", t->name,
                tensor_shape_str(t, ts, sizeof ts), i, (long long)t->dims[i]);
    return 0;
}

static void out_like(struct graph_builder *gb, struct node *nd, const struct tensor *src)
{
    struct tensor *o = &gb->g->t[nd->out];
    o->ndim = src->ndim;
    memcpy(o->dims, src->dims, sizeof o->dims);
    o->batched = 1;
    tensor_update_item(o);
}

static void out_dims(struct graph_builder *gb, struct node *nd, int ndim, const int64_t *dims)
{
    struct tensor *o = &gb->g->t[nd->out];
    o->ndim = ndim;
    memcpy(o->dims, dims, sizeof(int64_t) * (size_t)ndim);
    o->batched = 1;
    tensor_update_item(o);
}

/* "[a,b,c]" from n attribute values into buf. */
static const char *ints_str(const int64_t *v, int n, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? "," : "", (long long)v[i]);
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

/* Fixed engine limits on spatial attributes (the kernels index with int):
 * strides, dilations and pads up to 2^16, kernels up to 2^16 positions,
 * planes up to 2^28 positions. */
#define SPATIAL_MAX_STEP  (1 << 16)
#define SPATIAL_MAX_PLANE (1 << 28)

/* Spatial attributes shared by Conv and the pools: kernel, strides, pads,
 * dilations, auto_pad -> output size. Every value is checked before it is
 * used, in 64 bits, so an absurd attribute is refused with its value. */
static int spatial(struct graph_builder *gb, const struct attrs *n, int h, int w, int kh,
                   int kw, int *sh, int *sw, int *dh, int *dw, int *pt, int *pl, int *pb,
                   int *pr, int *oh, int *ow, int ceil_mode)
{
    int64_t v[8];
    char vs[200];
    int k;
    *sh = *sw = *dh = *dw = 1;
    *pt = *pl = *pb = *pr = 0;
    if ((int64_t)kh * kw > SPATIAL_MAX_STEP)
        return gb_error(gb, "kernel %dx%d is more than %d positions (a fixed engine limit)", kh,
                        kw, SPATIAL_MAX_STEP);
    static const char *const names[2] = {"strides", "dilations"};
    int *dst[2][2] = {{sh, sw}, {dh, dw}};
    for (int a = 0; a < 2; a++) {
        if ((k = attr_ints(n, names[a], v, 8)) == -1) continue;
        if (k != 2)
            return gb_error(gb, "%s has %zu values; a 2-D op needs 2", names[a],
                            attr_find(n, names[a])->nints);
        if (v[0] < 1 || v[1] < 1)
            return gb_error(gb, "%s %s: each must be at least 1", names[a],
                            ints_str(v, 2, vs, sizeof vs));
        if (v[0] > SPATIAL_MAX_STEP || v[1] > SPATIAL_MAX_STEP)
            return gb_error(gb, "%s %s: more than %d is not supported", names[a],
                            ints_str(v, 2, vs, sizeof vs), SPATIAL_MAX_STEP);
        *dst[a][0] = (int)v[0], *dst[a][1] = (int)v[1];
    }
    if ((k = attr_ints(n, "pads", v, 8)) >= 0 || k == -2) {
        if (k != 4)
            return gb_error(gb, "pads has %zu values; a 2-D op needs 4",
                            attr_find(n, "pads")->nints);
        for (int i = 0; i < 4; i++) {
            if (v[i] < 0)
                return gb_error(gb, "pads %s: negative pads are not supported",
                                ints_str(v, 4, vs, sizeof vs));
            if (v[i] > SPATIAL_MAX_STEP)
                return gb_error(gb, "pads %s: more than %d is not supported",
                                ints_str(v, 4, vs, sizeof vs), SPATIAL_MAX_STEP);
        }
        *pt = (int)v[0], *pl = (int)v[1], *pb = (int)v[2], *pr = (int)v[3];
    }
    char ap[32];
    attr_s(n, "auto_pad", ap, sizeof ap);
    /* the dilated kernel's extent: at most 2^16 * 2^16 */
    int64_t ekh = (int64_t)*dh * (kh - 1) + 1, ekw = (int64_t)*dw * (kw - 1) + 1;
    int64_t H = h, W = w, OH, OW;
    if (!ap[0] || !strcmp(ap, "NOTSET")) {
        int64_t nh = H + *pt + *pb - ekh, nw = W + *pl + *pr - ekw;
        if (nh < 0 || nw < 0)
            return gb_error(gb,
                            "kernel %lldx%lld (dilated) is larger than the padded input "
                            "%lldx%lld: the output would be empty",
                            (long long)ekh, (long long)ekw, (long long)(H + *pt + *pb),
                            (long long)(W + *pl + *pr));
        if (ceil_mode) {
            OH = (nh + *sh - 1) / *sh + 1, OW = (nw + *sw - 1) / *sw + 1;
            /* PyTorch/ONNX: the last window must start inside the input or the top/left pad */
            if ((OH - 1) * *sh >= H + *pt) OH--;
            if ((OW - 1) * *sw >= W + *pl) OW--;
        } else {
            OH = nh / *sh + 1, OW = nw / *sw + 1;
        }
    } else if (!strcmp(ap, "VALID")) {
        *pt = *pl = *pb = *pr = 0;
        if (H < ekh || W < ekw)
            return gb_error(gb,
                            "kernel %lldx%lld (dilated) is larger than the input %lldx%lld "
                            "(auto_pad VALID): the output would be empty",
                            (long long)ekh, (long long)ekw, (long long)H, (long long)W);
        OH = (H - ekh) / *sh + 1, OW = (W - ekw) / *sw + 1;
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        OH = (H + *sh - 1) / *sh, OW = (W + *sw - 1) / *sw;
        int64_t th = (OH - 1) * *sh + ekh - H, tw = (OW - 1) * *sw + ekw - W;
        if (th < 0) th = 0;
        if (tw < 0) tw = 0;
        if (th > 2 * SPATIAL_MAX_STEP || tw > 2 * SPATIAL_MAX_STEP)
            return gb_error(gb, "auto_pad %s would pad %lldx%lld, more than %d a side", ap,
                            (long long)th, (long long)tw, SPATIAL_MAX_STEP);
        int upper = ap[5] == 'U'; /* SAME_UPPER: the extra pad at the end */
        *pt = (int)(upper ? th / 2 : th - th / 2), *pb = (int)th - *pt;
        *pl = (int)(upper ? tw / 2 : tw - tw / 2), *pr = (int)tw - *pl;
    } else {
        return gb_error(gb,
                        "auto_pad '%s' is not supported (NOTSET, VALID, SAME_UPPER, "
                        "SAME_LOWER)",
                        ap);
    }
    if (OH < 1 || OW < 1)
        return gb_error(gb, "the output would be empty (%lldx%lld)", (long long)OH,
                        (long long)OW);
    /* BLAS takes int sizes: keep planes well inside them */
    if (H * W > SPATIAL_MAX_PLANE || OH * OW > SPATIAL_MAX_PLANE)
        return gb_error(gb,
                        "plane %lldx%lld -> %lldx%lld is more than 2^28 positions (a fixed "
                        "engine limit)",
                        (long long)H, (long long)W, (long long)OH, (long long)OW);
    *oh = (int)OH, *ow = (int)OW;
    return 0;
}

/* ---------------------------------------------------------------- op builders */
static int build_conv(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    if (need_batched(gb, nd, 0, 4, 4) || need_const(gb, nd, 1, -1)) return ERR_INPUT;
    struct tensor *x = in_t(gb, nd, 0), *w = in_t(gb, nd, 1), *b = in_t(gb, nd, 2);
    if (w->ndim != 4)
        return gb_error(gb, "only 2-D convolution is supported (weight rank %d)", w->ndim);
    if (dims_ok(gb, x) || dims_ok(gb, w)) return ERR_INPUT;
    char ws[160], vs[200];
    tensor_shape_str(w, ws, sizeof ws);
    int64_t group = attr_i(n, "group", 1);
    if (group < 1) return gb_error(gb, "group %lld: must be at least 1", (long long)group);
    struct conv_params *p = &nd->p.conv;
    int64_t ks[4];
    int k = attr_ints(n, "kernel_shape", ks, 4);
    if (k == -2 || (k >= 0 && k != 2))
        return gb_error(gb, "kernel_shape has %zu values; only 2-D convolution is supported",
                        attr_find(n, "kernel_shape")->nints);
    if (k == 2 && (ks[0] < 1 || ks[1] < 1))
        return gb_error(gb, "kernel_shape %s: sizes must be at least 1",
                        ints_str(ks, 2, vs, sizeof vs));
    if (k == 2 && (ks[0] != w->dims[2] || ks[1] != w->dims[3]))
        return gb_error(gb, "kernel_shape %s does not match weight '%s' %s",
                        ints_str(ks, 2, vs, sizeof vs), w->name, ws);
    p->c = (int)x->dims[1], p->h = (int)x->dims[2], p->w = (int)x->dims[3];
    p->m = (int)w->dims[0], p->kh = (int)w->dims[2], p->kw = (int)w->dims[3];
    if ((int64_t)p->kh * p->kw > SPATIAL_MAX_STEP || /* first: keeps the product in range */
        (int64_t)p->c * p->kh * p->kw > (1 << 24) || p->m > (1 << 24))
        return gb_error(gb,
                        "weight '%s' %s on %d input channels is more than 2^24 values per "
                        "output (a fixed engine limit)",
                        w->name, ws, p->c);
    if (group > p->c || p->c % group)
        return gb_error(gb, "group %lld does not divide the %d input channels",
                        (long long)group, p->c);
    p->group = (int)group;
    if (p->m % p->group)
        return gb_error(gb, "group %d does not divide the %d output channels of weight '%s' %s",
                        p->group, p->m, w->name, ws);
    if (w->dims[1] * p->group != p->c)
        return gb_error(gb,
                        "weight '%s' %s takes %lld input channels per group, but the input "
                        "has %d in %d group%s",
                        w->name, ws, (long long)w->dims[1], p->c, p->group,
                        p->group > 1 ? "s" : "");
    if (b && (need_const(gb, nd, 2, 1) || b->dims[0] != p->m))
        return b->batched || b->is_int ? ERR_INPUT
                                       : gb_error(gb, "bias has %lld values for %d channels",
                                                  (long long)b->dims[0], p->m);
    if (spatial(gb, n, p->h, p->w, p->kh, p->kw, &p->sh, &p->sw, &p->dh, &p->dw, &p->pt, &p->pl,
                &p->pb, &p->pr, &p->oh, &p->ow, 0))
        return ERR_INPUT;
    int64_t od[4] = {1, p->m, p->oh, p->ow};
    out_dims(gb, nd, 4, od);
    return 0;
}

static int build_batchnorm(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    if (need_batched(gb, nd, 0, 2, G_MAX_DIMS)) return ERR_INPUT;
    for (int i = 1; i < 5; i++)
        if (need_const(gb, nd, i, 1)) return ERR_INPUT;
    if (attr_i(n, "training_mode", 0))
        return gb_error(gb, "training_mode=1 is not supported (export the model in eval mode)");
    struct tensor *x = in_t(gb, nd, 0);
    struct bn_params *p = &nd->p.bn;
    p->c = (int)x->dims[1];
    p->plane = x->item / (size_t)p->c;
    for (int i = 1; i < 5; i++)
        if (in_t(gb, nd, i)->dims[0] != p->c)
            return gb_error(gb, "parameter '%s' has %lld values for %d channels",
                            in_t(gb, nd, i)->name, (long long)in_t(gb, nd, i)->dims[0], p->c);
    float eps = attr_f(n, "epsilon", 1e-5f);
    float *a = graph_alloc(gb->g, sizeof(float) * (size_t)p->c);
    float *b = graph_alloc(gb->g, sizeof(float) * (size_t)p->c);
    const float *scale = in_t(gb, nd, 1)->f, *bias = in_t(gb, nd, 2)->f;
    const float *mean = in_t(gb, nd, 3)->f, *var = in_t(gb, nd, 4)->f;
    for (int c = 0; c < p->c; c++) {
        /* y = scale (x - mean) / sqrt(var + eps) + bias, in double like the folded export */
        double s = (double)scale[c] / sqrt((double)var[c] + (double)eps);
        a[c] = (float)s;
        b[c] = (float)((double)bias[c] - (double)mean[c] * s);
    }
    p->a = a, p->b = b;
    out_like(gb, nd, x);
    return 0;
}

static int scalar_const(struct graph_builder *gb, struct node *nd, int i, float *v)
{
    struct tensor *t = in_t(gb, nd, i);
    if (!t) return 0;
    if (t->batched || t->item != 1)
        return gb_error(gb, "input '%s' must be a constant scalar", t->name);
    *v = t->is_int ? (float)t->i64[0] : t->f[0];
    return 0;
}

static int build_act(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    int opset = n->opset;
    if (need_batched(gb, nd, 0, 1, G_MAX_DIMS)) return ERR_INPUT;
    struct act_params *p = &nd->p.act;
    /* ONNX's defaults per op */
    p->alpha = attr_f(n, "alpha",
                      nd->op == OP_ELU           ? 1.0f
                      : nd->op == OP_SELU        ? 1.67326319217681884765625f
                      : nd->op == OP_HARDSIGMOID ? 0.2f
                                                 : 0.01f);
    p->beta = attr_f(n, "beta", 0.5f);
    p->gamma = attr_f(n, "gamma", 1.05070102214813232421875f);
    if (nd->op == OP_GELU) {
        char ap[16];
        attr_s(n, "approximate", ap, sizeof ap);
        if (ap[0] && strcmp(ap, "none") && strcmp(ap, "tanh"))
            return gb_error(gb, "approximate '%s' is not supported (none, tanh)", ap);
        p->approximate = !strcmp(ap, "tanh");
    }
    if (nd->op == OP_CLIP) {
        p->lo = -INFINITY, p->hi = INFINITY;
        if (opset < 11) {
            p->lo = attr_f(n, "min", -INFINITY), p->hi = attr_f(n, "max", INFINITY);
        } else if (scalar_const(gb, nd, 1, &p->lo) || scalar_const(gb, nd, 2, &p->hi)) {
            return ERR_INPUT;
        }
    }
    out_like(gb, nd, in_t(gb, nd, 0));
    return 0;
}

static int build_softmax(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    int opset = n->opset;
    if (need_batched(gb, nd, 0, 2, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(gb, nd, 0);
    int64_t axis = attr_i(n, "axis", opset < 13 ? 1 : -1);
    if (axis < 0) axis += x->ndim;
    if (axis < 1 || axis >= x->ndim)
        return gb_error(gb,
                        "softmax over axis %lld (the batch or out of range) is not supported",
                        (long long)attr_i(n, "axis", 0));
    struct softmax_params *p = &nd->p.softmax;
    p->outer = p->len = p->inner = 1;
    for (int i = 1; i < axis; i++)
        p->outer *= (size_t)x->dims[i];
    if (opset < 13) { /* opset < 13: the input is coerced to 2-D at axis */
        for (int i = (int)axis; i < x->ndim; i++)
            p->len *= (size_t)x->dims[i];
    } else {
        p->len = (size_t)x->dims[axis];
        for (int i = (int)axis + 1; i < x->ndim; i++)
            p->inner *= (size_t)x->dims[i];
    }
    out_like(gb, nd, x);
    return 0;
}

static int build_pool(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    if (need_batched(gb, nd, 0, 4, 4)) return ERR_INPUT;
    struct tensor *x = in_t(gb, nd, 0);
    if (dims_ok(gb, x)) return ERR_INPUT;
    struct pool_params *p = &nd->p.pool;
    p->c = (int)x->dims[1], p->h = (int)x->dims[2], p->w = (int)x->dims[3];
    if (nd->op == OP_GAP) {
        int64_t od[4] = {1, p->c, 1, 1};
        out_dims(gb, nd, 4, od);
        return 0;
    }
    int64_t ks[4];
    char vs[200];
    if (attr_ints(n, "kernel_shape", ks, 4) != 2)
        return gb_error(gb, "needs a 2-D kernel_shape");
    if (ks[0] < 1 || ks[1] < 1)
        return gb_error(gb, "kernel_shape %s: sizes must be at least 1",
                        ints_str(ks, 2, vs, sizeof vs));
    if (ks[0] > SPATIAL_MAX_STEP || ks[1] > SPATIAL_MAX_STEP)
        return gb_error(gb, "kernel_shape %s: more than %d is not supported",
                        ints_str(ks, 2, vs, sizeof vs), SPATIAL_MAX_STEP);
    p->kh = (int)ks[0], p->kw = (int)ks[1];
    int ceil_mode = (int)attr_i(n, "ceil_mode", 0);
    if (nd->op == OP_AVGPOOL && ceil_mode)
        return gb_error(gb, "ceil_mode=1 is not supported for AveragePool");
    if (attr_i(n, "storage_order", 0) != 0)
        return gb_error(gb, "storage_order=1 is not supported");
    p->count_include_pad = (int)attr_i(n, "count_include_pad", 0);
    int dh, dw;
    if (spatial(gb, n, p->h, p->w, p->kh, p->kw, &p->sh, &p->sw, &dh, &dw, &p->pt, &p->pl,
                &p->pb, &p->pr, &p->oh, &p->ow, ceil_mode))
        return ERR_INPUT;
    if (dh != 1 || dw != 1) return gb_error(gb, "dilated pooling is not supported");
    if (n->indices_output && nd->op == OP_MAXPOOL)
        return gb_error(gb, "the Indices output is not supported");
    int64_t od[4] = {1, p->c, p->oh, p->ow};
    out_dims(gb, nd, 4, od);
    return 0;
}

static int build_gemm(struct graph_builder *gb, const struct attrs *n, struct node *nd,
                      const char *op)
{
    int matmul = !strcmp(op, "MatMul");
    if (need_batched(gb, nd, 0, 2, matmul ? G_MAX_DIMS : 2)) return ERR_INPUT;
    struct tensor *b = in_t(gb, nd, 1);
    if (!b || b->batched)
        return gb_error(gb, "the right operand must be a constant weight matrix");
    if (need_const(gb, nd, 1, 2)) return ERR_INPUT;
    struct tensor *a = in_t(gb, nd, 0);
    if (dims_ok(gb, a) || dims_ok(gb, b)) return ERR_INPUT;
    if (a->item > (1 << 28)) return gb_error(gb, "input too large");
    struct gemm_params *p = &nd->p.gemm;
    p->alpha = 1.0f, p->beta = 1.0f;
    p->rows = 1;
    for (int i = 1; i < a->ndim - 1; i++)
        p->rows *= (int)a->dims[i];
    p->k = (int)a->dims[a->ndim - 1];
    if (!matmul) {
        if (attr_i(n, "transA", 0))
            return gb_error(gb, "transA=1 on a batched input is not supported");
        p->trans_b = (int)attr_i(n, "transB", 0);
        p->alpha = attr_f(n, "alpha", 1.0f);
        p->beta = attr_f(n, "beta", 1.0f);
    }
    int64_t bk = p->trans_b ? b->dims[1] : b->dims[0];
    p->m = (int)(p->trans_b ? b->dims[0] : b->dims[1]);
    if (bk != p->k)
        return gb_error(gb, "inner dimensions differ: input '%s' has %d, weight '%s' %lld%s",
                        a->name, p->k, b->name, (long long)bk,
                        p->trans_b ? " (transB=1)" : " (transB=0)");
    struct tensor *c = matmul ? NULL : in_t(gb, nd, 2);
    if (c) {
        if (c->batched || c->is_int) return gb_error(gb, "C must be a float constant");
        if (c->item == 1)
            p->bias_scalar = 1;
        else if (c->item != (size_t)p->m || (c->ndim == 2 && c->dims[0] != 1))
            return gb_error(gb, "C of %zu values does not broadcast to %d outputs", c->item,
                            p->m);
        float *bias = graph_alloc(gb->g, sizeof(float) * c->item);
        for (size_t k = 0; k < c->item; k++)
            bias[k] = p->beta * c->f[k];
        p->bias = bias;
    }
    int64_t od[G_MAX_DIMS];
    memcpy(od, a->dims, sizeof od);
    od[a->ndim - 1] = p->m;
    out_dims(gb, nd, a->ndim, od);
    return 0;
}

static int build_eltwise(struct graph_builder *gb, struct node *nd)
{
    struct tensor *a = in_t(gb, nd, 0), *b = in_t(gb, nd, 1);
    if (!a || !b) return gb_error(gb, "needs two inputs");
    if (a->is_int || b->is_int)
        return gb_error(gb, "integer arithmetic at run time is not supported");
    char err[200];
    if (eltwise_prepare(&nd->p.elt, a, b, &gb->g->t[nd->out], err, sizeof err))
        return gb_error(gb, "%s", err);
    return 0;
}

static int build_transpose(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    if (need_batched(gb, nd, 0, 1, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(gb, nd, 0);
    int64_t perm[G_MAX_DIMS] = {0};
    int k = attr_ints(n, "perm", perm, G_MAX_DIMS);
    if (k < 0) {
        k = x->ndim;
        for (int i = 0; i < k; i++)
            perm[i] = k - 1 - i;
    }
    if (k != x->ndim) return gb_error(gb, "perm has %d values for rank %d", k, x->ndim);
    int seen[G_MAX_DIMS] = {0};
    for (int i = 0; i < k; i++) {
        if (perm[i] < 0 || perm[i] >= k || seen[perm[i]]++)
            return gb_error(gb, "perm is not a permutation");
    }
    if (perm[0] != 0)
        return gb_error(gb, "a transpose that moves the batch axis is not supported");
    struct transpose_params *p = &nd->p.tr;
    p->ndim = k - 1;
    int64_t od[G_MAX_DIMS];
    od[0] = 1;
    for (int i = 1; i < k; i++) {
        p->in_dims[i - 1] = x->dims[i];
        p->perm[i - 1] = (int)perm[i] - 1;
        od[i] = x->dims[perm[i]];
    }
    p->item = x->item;
    out_dims(gb, nd, k, od);
    return 0;
}

static int build_concat(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    struct tensor *x = in_t(gb, nd, 0);
    if (!x) return gb_error(gb, "no inputs");
    int64_t axis = attr_i(n, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 1 || axis >= x->ndim)
        return gb_error(gb, "concatenation along the batch axis is not supported");
    struct concat_params *p = &nd->p.cat;
    p->nin = nd->nin;
    p->outer = 1;
    for (int i = 1; i < axis; i++)
        p->outer *= (size_t)x->dims[i];
    int64_t od[G_MAX_DIMS];
    memcpy(od, x->dims, sizeof od);
    od[axis] = 0;
    for (int i = 0; i < nd->nin; i++) {
        struct tensor *t = in_t(gb, nd, i);
        if (!t || !t->batched)
            return gb_error(gb, "concatenating a constant with activations is not supported");
        char xs[160], ts[160];
        tensor_shape_str(x, xs, sizeof xs);
        tensor_shape_str(t, ts, sizeof ts);
        if (t->ndim != x->ndim)
            return gb_error(gb, "input '%s' %s differs in rank from input '%s' %s", t->name, ts,
                            x->name, xs);
        for (int d = 1; d < x->ndim; d++)
            if (d != axis && t->dims[d] != x->dims[d])
                return gb_error(gb,
                                "input '%s' %s differs from input '%s' %s in dimension %d "
                                "(only axis %lld may differ)",
                                t->name, ts, x->name, xs, d, (long long)axis);
        od[axis] += t->dims[axis];
        p->inner[i] = t->item / p->outer;
        p->out_inner += p->inner[i];
    }
    out_dims(gb, nd, x->ndim, od);
    return 0;
}

static int build_pad(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    int opset = n->opset;
    if (need_batched(gb, nd, 0, 1, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(gb, nd, 0);
    char mode[32];
    attr_s(n, "mode", mode, sizeof mode);
    if (mode[0] && strcmp(mode, "constant"))
        return gb_error(gb, "mode '%s' is not supported (only constant)", mode);
    int64_t pads[2 * G_MAX_DIMS];
    int k;
    struct pad_params *p = &nd->p.pad;
    p->value = 0.0f;
    if (opset < 11) {
        k = attr_ints(n, "pads", pads, 2 * G_MAX_DIMS);
        p->value = attr_f(n, "value", 0.0f);
    } else {
        struct tensor *t = in_t(gb, nd, 1);
        if (!t || t->batched || !t->is_int || t->item > 2 * G_MAX_DIMS)
            return gb_error(gb, "pads must be a constant list");
        k = (int)t->item;
        memcpy(pads, t->i64, sizeof(int64_t) * t->item);
        if (scalar_const(gb, nd, 2, &p->value)) return ERR_INPUT;
    }
    if (k != 2 * x->ndim) return gb_error(gb, "pads has %d values for rank %d", k, x->ndim);
    if (pads[0] || pads[x->ndim])
        return gb_error(gb, "padding the batch axis is not supported");
    p->ndim = x->ndim - 1;
    int64_t od[G_MAX_DIMS];
    od[0] = 1;
    for (int i = 1; i < x->ndim; i++) {
        if (pads[i] < 0 || pads[i + x->ndim] < 0 || pads[i] > 1 << 16 ||
            pads[i + x->ndim] > 1 << 16)
            return gb_error(gb, "negative or huge pads are not supported");
        p->in_dims[i - 1] = x->dims[i];
        p->begin[i - 1] = pads[i];
        od[i] = p->out_dims[i - 1] = x->dims[i] + pads[i] + pads[i + x->ndim];
    }
    out_dims(gb, nd, x->ndim, od);
    p->in_item = x->item;
    p->out_item = gb->g->t[nd->out].item;
    nd->nin = 1;
    return 0;
}

/* Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout on an activation:
 * a copy under a new shape that keeps the batch as dim 0. */
static int build_copy(struct graph_builder *gb, const struct attrs *n, struct node *nd,
                      const char *op)
{
    int opset = n->opset;
    if (need_batched(gb, nd, 0, 1, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(gb, nd, 0);
    int64_t od[G_MAX_DIMS];
    int nd_out;
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
        /* Dropout's mask output is not produced: a consumer of it fails as a missing input */
        out_like(gb, nd, x);
        nd->nin = 1;
        return 0;
    }
    if (!strcmp(op, "Flatten")) {
        int64_t axis = attr_i(n, "axis", 1);
        if (axis < 0) axis += x->ndim;
        if (axis != 1)
            return gb_error(gb, "Flatten with axis %lld would mix the batch", (long long)axis);
        od[0] = 1, od[1] = (int64_t)x->item;
        out_dims(gb, nd, 2, od);
        nd->nin = 1;
        return 0;
    }
    if (!strcmp(op, "Reshape")) {
        struct tensor *s = in_t(gb, nd, 1);
        if (!s || s->batched || !s->is_int || s->ndim != 1 || s->item < 1 ||
            s->item > G_MAX_DIMS)
            return gb_error(gb, "the target shape must be a constant list (1 to %d values)",
                            G_MAX_DIMS);
        int allowzero = (int)attr_i(n, "allowzero", 0);
        nd_out = (int)s->item;
        int infer = -1, batch_at0 = 0;
        int64_t known = 1;
        char ts[200], xs[160], ks[32];
        for (int i = 0; i < nd_out; i++) /* the target as written; the batch as N */
            od[i] = s->i64[i];
        size_t tk = (size_t)snprintf(ts, sizeof ts, "[");
        for (int i = 0; i < nd_out && tk < sizeof ts; i++)
            tk += (size_t)(od[i] == G_BATCH_SYM
                               ? snprintf(ts + tk, sizeof ts - tk, "%sN", i ? "," : "")
                               : snprintf(ts + tk, sizeof ts - tk, "%s%lld", i ? "," : "",
                                          (long long)od[i]));
        if (tk < sizeof ts) snprintf(ts + tk, sizeof ts - tk, "]");
        tensor_shape_str(x, xs, sizeof xs);
        for (int i = 0; i < nd_out; i++) {
            int64_t v = s->i64[i];
            if (v == G_BATCH_SYM) {
                if (i) return gb_error(gb, "the batch size moves to dimension %d", i);
                batch_at0 = 1;
                od[i] = 1;
                continue;
            }
            if (v == 0 && !allowzero) {
                if (i == 0) {
                    batch_at0 = 1;
                    od[i] = 1;
                    continue;
                }
                if (i >= x->ndim)
                    return gb_error(gb,
                                    "target shape %s: 0 at dimension %d copies a "
                                    "dimension that input '%s' %s lacks",
                                    ts, i, x->name, xs);
                v = x->dims[i];
            }
            if (v == -1) {
                if (infer >= 0) return gb_error(gb, "target shape %s has more than one -1", ts);
                infer = i;
                continue;
            }
            if (v < 0)
                return gb_error(gb, "target shape %s: dimension %d is %lld", ts, i,
                                (long long)v);
            od[i] = v;
            if ((i > 0 || batch_at0) && __builtin_mul_overflow(known, v, &known))
                known = INT64_MAX; /* stays there: refused below */
        }
        /* dim 0 is the batch when it says so, or when -1 / a literal 1 or the
         * file's fixed batch leaves exactly one item's worth for the rest */
        if (!batch_at0) {
            if (infer == 0 || od[0] == 1 ||
                (gb->g->static_batch && od[0] == gb->g->static_batch)) {
                if (infer == 0) infer = -1;
                batch_at0 = 1;
                od[0] = 1;
            } else {
                return gb_error(
                    gb, "reshape to a fixed first dimension %lld would change the batch",
                    (long long)od[0]);
            }
        }
        if (infer > 0) {
            if (!known || x->item % (size_t)known)
                return gb_error(gb,
                                "cannot reshape input '%s' %s (%zu values per image) to %s: "
                                "no size for the -1 fits",
                                x->name, xs, x->item, ts);
            od[infer] = (int64_t)(x->item / (size_t)known);
            known *= od[infer];
        }
        if ((size_t)known != x->item)
            return gb_error(gb,
                            "cannot reshape input '%s' %s (%zu values per image) to %s "
                            "(%s values)",
                            x->name, xs, x->item, ts,
                            known == INT64_MAX
                                ? "more"
                                : (snprintf(ks, sizeof ks, "%lld", (long long)known), ks));
        od[0] = 1;
        out_dims(gb, nd, nd_out, od);
        nd->nin = 1;
        return 0;
    }
    /* Squeeze / Unsqueeze */
    int64_t axes[G_MAX_DIMS];
    int na = -1;
    if (opset < 13) {
        na = attr_ints(n, "axes", axes, G_MAX_DIMS);
    } else if (nd->nin > 1 && in_t(gb, nd, 1)) {
        struct tensor *a = in_t(gb, nd, 1);
        if (a->batched || !a->is_int || a->item > G_MAX_DIMS)
            return gb_error(gb, "axes must be a constant list");
        na = (int)a->item;
        memcpy(axes, a->i64, sizeof(int64_t) * a->item);
    }
    int unsq = op[0] == 'U';
    int r = unsq ? x->ndim + (na > 0 ? na : 0) : x->ndim;
    if (unsq && (na <= 0 || r > G_MAX_DIMS)) return gb_error(gb, "bad axes");
    for (int k = 0; k < na; k++) {
        if (axes[k] < 0) axes[k] += r;
        if (axes[k] <= 0 || axes[k] >= r)
            return gb_error(gb, "axis %lld touches the batch or is out of range",
                            (long long)axes[k]);
    }
    for (int k = 0; k < na; k++)
        for (int j = 0; j < k; j++)
            if (axes[j] == axes[k])
                return gb_error(gb, "axis %lld is listed twice", (long long)axes[k]);
    nd_out = 0;
    int src = 0;
    for (int i = 0; i < r; i++) {
        int hit = 0;
        for (int k = 0; k < na; k++)
            hit |= axes[k] == i;
        if (unsq)
            od[nd_out++] = hit ? 1 : x->dims[src++];
        else if (!(hit || (na <= 0 && i > 0 && x->dims[i] == 1)))
            od[nd_out++] = x->dims[i];
        else if (x->dims[i] != 1)
            return gb_error(gb, "squeezing dimension %d of size %lld", i,
                            (long long)x->dims[i]);
    }
    ASSERT(!unsq || src == x->ndim);
    out_dims(gb, nd, nd_out, od);
    nd->nin = 1;
    return 0;
}

/* Slice of an activation along its item axes, steps of 1: inputs data,
 * starts, ends[, axes[, steps]] as constant lists (opset 10 on), attributes
 * starts, ends, axes before. Starts and ends are clamped to each dimension
 * as ONNX says; the batch axis cannot be sliced. */
static int build_slice(struct graph_builder *gb, const struct attrs *n, struct node *nd)
{
    if (need_batched(gb, nd, 0, 2, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(gb, nd, 0);
    int64_t st[G_MAX_DIMS], en[G_MAX_DIMS], ax[G_MAX_DIMS], sp[G_MAX_DIMS];
    int k, ke, ka = -1, ks = -1;
    if (n->opset < 10) {
        k = attr_ints(n, "starts", st, G_MAX_DIMS);
        ke = attr_ints(n, "ends", en, G_MAX_DIMS);
        ka = attr_ints(n, "axes", ax, G_MAX_DIMS);
    } else {
        const struct tensor *t[4];
        int *cnt[4] = {&k, &ke, &ka, &ks};
        int64_t *dst[4] = {st, en, ax, sp};
        for (int i = 0; i < 4; i++) {
            t[i] = i + 1 < nd->nin ? in_t(gb, nd, i + 1) : NULL;
            *cnt[i] = -1;
            if (!t[i]) continue;
            if (t[i]->batched || !t[i]->is_int || t[i]->ndim != 1 || t[i]->item > G_MAX_DIMS)
                return gb_error(gb, "starts, ends, axes and steps must be constant lists");
            *cnt[i] = (int)t[i]->item;
            memcpy(dst[i], t[i]->i64, sizeof(int64_t) * t[i]->item);
        }
    }
    if (k < 0 || k != ke || (ka >= 0 && ka != k) || (ks >= 0 && ks != k))
        return gb_error(gb, "starts, ends, axes and steps must have the same length");
    struct pad_params *p = &nd->p.pad;
    p->ndim = x->ndim - 1;
    int64_t od[G_MAX_DIMS];
    od[0] = 1;
    for (int i = 1; i < x->ndim; i++) {
        p->in_dims[i - 1] = p->out_dims[i - 1] = od[i] = x->dims[i];
        p->begin[i - 1] = 0;
    }
    int seen[G_MAX_DIMS] = {0};
    for (int j = 0; j < k; j++) {
        int64_t a = ka >= 0 ? ax[j] : j;
        if (a < 0) a += x->ndim;
        if (a < 0 || a >= x->ndim)
            return gb_error(gb, "axis %lld is out of range", (long long)a);
        if (a == 0) return gb_error(gb, "slicing the batch axis is not supported");
        if (seen[a]++) return gb_error(gb, "axis %lld is listed twice", (long long)a);
        if (ks >= 0 && sp[j] != 1)
            return gb_error(gb, "step %lld is not supported (only 1)", (long long)sp[j]);
        int64_t d = x->dims[a], b0 = st[j], e0 = en[j];
        if (b0 < 0) b0 += d;
        if (e0 < 0) e0 += d;
        b0 = b0 < 0 ? 0 : b0 > d ? d : b0;
        e0 = e0 < 0 ? 0 : e0 > d ? d : e0;
        if (e0 <= b0)
            return gb_error(gb, "the slice of axis %lld (size %lld) is empty", (long long)a,
                            (long long)d);
        p->begin[a - 1] = b0;
        p->out_dims[a - 1] = od[a] = e0 - b0;
    }
    out_dims(gb, nd, x->ndim, od);
    p->in_item = x->item;
    p->out_item = gb->g->t[nd->out].item;
    p->value = 0.0f;
    nd->nin = 1;
    return 0;
}

/* ---------------------------------------------------------------- the node table */
struct op_entry {
    const char *name;
    enum op_type op;
};
static const struct op_entry op_table[] = {
    {"Conv", OP_CONV},
    {"BatchNormalization", OP_BATCHNORM},
    {"Relu", OP_RELU},
    {"LeakyRelu", OP_LEAKYRELU},
    {"Sigmoid", OP_SIGMOID},
    {"Tanh", OP_TANH},
    {"Clip", OP_CLIP},
    {"Softmax", OP_SOFTMAX},
    {"Identity", OP_COPY},
    {"Dropout", OP_COPY},
    {"Flatten", OP_COPY},
    {"Reshape", OP_COPY},
    {"Squeeze", OP_COPY},
    {"Unsqueeze", OP_COPY},
    {"MaxPool", OP_MAXPOOL},
    {"AveragePool", OP_AVGPOOL},
    {"GlobalAveragePool", OP_GAP},
    {"Gemm", OP_GEMM},
    {"MatMul", OP_GEMM},
    {"Add", OP_ADD},
    {"Sub", OP_SUB},
    {"Mul", OP_MUL},
    {"Div", OP_DIV},
    {"Transpose", OP_TRANSPOSE},
    {"Concat", OP_CONCAT},
    {"Pad", OP_PAD},
    {"Elu", OP_ELU},
    {"Selu", OP_SELU},
    {"Softplus", OP_SOFTPLUS},
    {"Softsign", OP_SOFTSIGN},
    {"HardSigmoid", OP_HARDSIGMOID},
    {"Exp", OP_EXP},
    {"Gelu", OP_GELU},
    {"Slice", OP_SLICE},
};
static const char *const fold_ops[] = {"Shape",   "Gather", "Unsqueeze", "Squeeze",  "Concat",
                                       "Reshape", "Cast",   "Slice",     "Identity", "Add",
                                       "Sub",     "Mul",    "Div",       "Flatten",  NULL};

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

static int fold_attrs_read(const struct attrs *n, struct fold_attrs *at)
{
    memset(at, 0, sizeof *at);
    const struct attr *a;
    if ((a = attr_find(n, "axis"))) at->axis = a->i, at->has_axis = 1;
    int k = attr_ints(n, "axes", at->axes, G_MAX_DIMS);
    if (k >= 0) at->naxes = k, at->has_axes = 1;
    at->to = attr_i(n, "to", 1);
    if ((a = attr_find(n, "start"))) at->start = a->i, at->has_start = 1;
    if ((a = attr_find(n, "end"))) at->end = a->i, at->has_end = 1;
    at->allowzero = (int)attr_i(n, "allowzero", 0);
    return k == -2 ? -1 : 0;
}

int graph_build_check_output(struct graph_builder *gb, int out)
{
    /* what every output must satisfy, whatever built it: within the limits,
     * not empty, and a copy keeps its element count */
    const struct graph *g = gb->g;
    const struct tensor *o = &g->t[out];
    char why[300], os[160];
    if (tensor_over_limits(o, o->is_int ? sizeof(int64_t) : sizeof(float), why, sizeof why))
        return gb_error(gb, "output %s", why);
    if (o->batched && o->item == 0)
        return gb_error(gb, "output %s is empty", tensor_shape_str(o, os, sizeof os));
    if (o->producer >= 0 && g->nodes[o->producer].op == OP_COPY &&
        g->t[g->nodes[o->producer].in[0]].item != o->item)
        return gb_error(gb, "output %s has %zu values per image, its input %zu",
                        tensor_shape_str(o, os, sizeof os), o->item,
                        g->t[g->nodes[o->producer].in[0]].item);
    return 0;
}

static int build_body(struct graph_builder *gb, const char *op, const int *in,
                      struct tensor *const *ins, int nin, int out, const struct attrs *n)
{
    struct graph *g = gb->g;
    if (in_list(op, fold_ops)) {
        struct fold_attrs at;
        char err[200];
        if (fold_attrs_read(n, &at)) return gb_error(gb, "too many axes");
        int r = fold_node(g, op, ins, nin, &at, &g->t[out], err, sizeof err);
        if (r < 0) return gb_error(gb, "%s", err);
        if (r == 0) return 0;
    }
    const struct op_entry *e = NULL;
    for (size_t k = 0; k < sizeof op_table / sizeof op_table[0]; k++)
        if (!strcmp(op_table[k].name, op)) e = &op_table[k];
    if (!e) return gb_error(gb, "operator %s (domain ai.onnx) is not supported", op);
    struct node *nd = graph_add_node(g, e->op, gb->name, gb->op);
    nd->nin = nin;
    for (int i = 0; i < nd->nin; i++)
        nd->in[i] = in[i];
    nd->out = out;
    g->t[out].producer = g->nn - 1;
    switch (e->op) {
    case OP_CONV: return build_conv(gb, n, nd);
    case OP_BATCHNORM:
        return build_batchnorm(gb, n, nd);
    OP_CASES_POINTWISE:
        return build_act(gb, n, nd);
    case OP_SOFTMAX: return build_softmax(gb, n, nd);
    case OP_COPY: return build_copy(gb, n, nd, op);
    case OP_MAXPOOL:
    case OP_AVGPOOL:
    case OP_GAP: return build_pool(gb, n, nd);
    case OP_GEMM: return build_gemm(gb, n, nd, op);
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: return build_eltwise(gb, nd);
    case OP_TRANSPOSE: return build_transpose(gb, n, nd);
    case OP_CONCAT: return build_concat(gb, n, nd);
    case OP_PAD: return build_pad(gb, n, nd);
    case OP_SLICE: return build_slice(gb, n, nd);
    default: return gb_error(gb, "internal: no builder");
    }
}

int graph_build_node(struct graph_builder *gb, const char *op, const int *in, int nin,
                     const char *out_name, const struct attrs *n)
{
    struct graph *g = gb->g;
    if (nin > G_MAX_INPUTS) return gb_error(gb, "more than %d inputs", G_MAX_INPUTS);
    if (graph_find(g, out_name) >= 0)
        return gb_error(gb, "output '%s' is defined twice", out_name);
    int out = graph_add_tensor(g, out_name);
    struct tensor *ins[G_MAX_INPUTS];
    for (int i = 0; i < nin; i++) /* after the add: the tensor array may have moved */
        ins[i] = in[i] >= 0 ? &g->t[in[i]] : NULL;
    int rc = build_body(gb, op, in, ins, nin, out, n);
    if (rc) return rc;
    if (graph_build_check_output(gb, out)) return ERR_INPUT;
    return out;
}

int graph_build_input(struct graph_builder *gb, const char *nm, int ndim, const int64_t *dims)
{
    struct graph *g = gb->g;
    if (ndim < 2 || ndim > G_MAX_DIMS)
        return error_set(ERR_INPUT, gb->path, "input '%s' needs a shape of rank 2 to %d", nm,
                         G_MAX_DIMS);
    int ti = graph_add_tensor(g, nm);
    struct tensor *t = &g->t[ti];
    t->batched = 1;
    t->ndim = ndim;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d = dims[i];
        if (i == 0) {
            g->static_batch = d > 0 ? d : 0;
            t->dims[0] = 1;
            continue;
        }
        if (d == G_DIM_UNKNOWN)
            return error_set(
                ERR_INPUT, gb->path,
                "input '%s': dimension %d must be a fixed size (only the batch may vary)", nm,
                i);
        if (d < 1)
            return error_set(ERR_INPUT, gb->path,
                             "input '%s': dimension %d is %lld; sizes must be at least 1", nm,
                             i, (long long)d);
        if (d > (1 << 20))
            return error_set(ERR_INPUT, gb->path,
                             "input '%s': dimension %d is %lld, more than 2^20 (a fixed engine "
                             "limit)",
                             nm, i, (long long)d);
        t->dims[i] = d;
    }
    tensor_update_item(t);
    char why[300];
    if (tensor_over_limits(t, sizeof(float), why, sizeof why))
        return error_set(ERR_INPUT, gb->path, "input '%s' %s", nm, why);
    g->input = ti;
    return 0;
}

int graph_build_finish(struct graph_builder *gb, int output)
{
    struct graph *g = gb->g;
    g->output = output;
    if (!g->t[g->output].batched)
        return error_set(ERR_INPUT, gb->path,
                         "the graph output '%s' does not depend on the input",
                         g->t[g->output].name);
    /* parameters: float constants read by runtime nodes, each counted once */
    char *counted = xcalloc((size_t)g->nt, 1);
    for (int i = 0; i < g->nn; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int ti = g->nodes[i].in[k];
            if (ti >= 0 && !g->t[ti].batched && !g->t[ti].is_int && !counted[ti]) {
                counted[ti] = 1;
                g->param_count += g->t[ti].item;
            }
        }
    free(counted);
    /* NHWC: the input goes straight into a Transpose to NCHW (tf2onnx's
     * pattern, and the Keras importer's) */
    for (int i = 0; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        if (nd->op == OP_TRANSPOSE && nd->in[0] == g->input && nd->p.tr.ndim == 3 &&
            nd->p.tr.perm[0] == 2 && nd->p.tr.perm[1] == 0 && nd->p.tr.perm[2] == 1)
            g->layout_nhwc = 1;
    }
    return 0;
}

int graph_build_const(struct graph_builder *gb, const char *name, int ndim, const int64_t *dims)
{
    struct graph *g = gb->g;
    if (ndim < 0 || ndim > G_MAX_DIMS) return gb_error(gb, "weight '%s' has rank %d", name, ndim);
    if (graph_find(g, name) >= 0) return gb_error(gb, "tensor '%s' is defined twice", name);
    struct tensor tmp = {0};
    tmp.ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1)
            return gb_error(gb, "weight '%s': dimension %d is %lld", name, i, (long long)dims[i]);
        tmp.dims[i] = dims[i];
    }
    tensor_update_item(&tmp);
    char why[300], shape[160], need[32], have[32];
    if (tensor_over_limits(&tmp, sizeof(float), why, sizeof why))
        return gb_error(gb, "weight '%s' %s", name, why);
    size_t bytes = tmp.item * sizeof(float); /* checked above */
    if (!graph_alloc_fits(g, bytes))
        return gb_error(gb,
                        "weight '%s' %s (%s) would bring the model to more than the %s "
                        "allowed (raise it with --max-memory)",
                        name, tensor_shape_str(&tmp, shape, sizeof shape),
                        limits_format_bytes(bytes, need, sizeof need),
                        limits_format_bytes(limits_get()->max_bytes, have, sizeof have));
    int ti = graph_add_tensor(g, name);
    struct tensor *t = &g->t[ti];
    t->ndim = ndim;
    memcpy(t->dims, tmp.dims, sizeof t->dims);
    t->item = tmp.item;
    t->f = graph_alloc(g, bytes ? bytes : sizeof(float));
    return ti;
}

int graph_build_const_ints(struct graph_builder *gb, const char *name, const int64_t *v, int n)
{
    struct graph *g = gb->g;
    if (graph_find(g, name) >= 0) return gb_error(gb, "tensor '%s' is defined twice", name);
    int ti = graph_add_tensor(g, name);
    struct tensor *t = &g->t[ti];
    t->ndim = 1;
    t->dims[0] = n;
    t->item = (size_t)n;
    t->is_int = 1;
    t->i64 = graph_alloc(g, sizeof(int64_t) * (size_t)(n ? n : 1));
    memcpy(t->i64, v, sizeof(int64_t) * (size_t)n);
    return ti;
}

void graph_add_layer(struct graph *g, const char *name, const char *cls, int out, int nhwc,
                     size_t params)
{
    if (g->nlayers == g->cap_layers) {
        g->cap_layers = g->cap_layers ? 2 * g->cap_layers : 32;
        g->layers = xrealloc(g->layers, sizeof(struct graph_layer) * (size_t)g->cap_layers);
    }
    g->layers[g->nlayers++] = (struct graph_layer){graph_strdup(g, name), graph_strdup(g, cls),
                                                   out, nhwc, params};
}
