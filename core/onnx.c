/* onnx.c - ONNX import: the protobuf (protobuf-c, generated from Debian's
 * onnx.proto) is unpacked into interp's own graph and freed. Nodes are sorted
 * topologically, shape subgraphs folded, and every runtime node prepared once
 * (attributes checked, output shapes inferred with a symbolic batch).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "onnx.pb-c.h"
#include "outfile.h"
#include "util.h"

#define OPSET_MIN 9
#define OPSET_MAX 17

typedef Onnx__NodeProto NodeProto;
typedef Onnx__TensorProto TensorProto;
typedef Onnx__AttributeProto AttrProto;

struct importer {
    struct graph *g;
    const char *path;
    const NodeProto *np; /* the node being prepared (for messages) */
    const char *nname;   /* its display name */
};

/* Records "node 'NAME' (OP): reason" as ERR_INPUT for the model file. */
static int node_error(struct importer *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int node_error(struct importer *im, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return error_set(ERR_INPUT, im->path, "node '%s' (%s): %s", im->nname,
                     im->np->op_type ? im->np->op_type : "?", why);
}

/* ---------------------------------------------------------------- attributes */
static const AttrProto *attr_find(const NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

static int64_t attr_i(const NodeProto *n, const char *name, int64_t def)
{
    const AttrProto *a = attr_find(n, name);
    return a ? a->i : def;
}

static float attr_f(const NodeProto *n, const char *name, float def)
{
    const AttrProto *a = attr_find(n, name);
    return a ? a->f : def;
}

/* Copies an ints attribute; returns its length, -1 when absent, -2 when longer than max. */
static int attr_ints(const NodeProto *n, const char *name, int64_t *v, int max)
{
    const AttrProto *a = attr_find(n, name);
    if (!a) return -1;
    if (a->n_ints > (size_t)max) return -2;
    for (size_t i = 0; i < a->n_ints; i++)
        v[i] = a->ints[i];
    return (int)a->n_ints;
}

/* The string attribute `name` into buf ("" when absent). */
static const char *attr_s(const NodeProto *n, const char *name, char *buf, size_t size)
{
    const AttrProto *a = attr_find(n, name);
    buf[0] = 0;
    if (a && a->has_s) {
        size_t k = a->s.len < size - 1 ? a->s.len : size - 1;
        memcpy(buf, a->s.data, k);
        buf[k] = 0;
    }
    return buf;
}

/* ---------------------------------------------------------------- limits */
/* "[2,1,3,3]" from a TensorProto's dims. */
static const char *proto_shape_str(const TensorProto *tp, char *shape, size_t size)
{
    size_t k = (size_t)snprintf(shape, size, "[");
    for (size_t i = 0; i < tp->n_dims && k < size; i++)
        k += (size_t)snprintf(shape + k, size - k, "%s%lld", i ? "," : "",
                              (long long)tp->dims[i]);
    if (k < size) snprintf(shape + k, size - k, "]");
    return shape;
}

/* Whether a tensor of t->item values of esz bytes (per batch item for an
 * activation) is over --max-memory or --max-elements: 1 with the reason, the
 * figure, the limit and the flag in why. */
static int tensor_over_limits(const struct tensor *t, size_t esz, char *why, size_t size)
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

/* ---------------------------------------------------------------- constants */
/* Converts an initializer (or a Constant's value) into constant tensor `ti`. */
static int tensor_from_proto(struct importer *im, const TensorProto *tp, int ti,
                             const char *what)
{
    struct graph *g = im->g;
    struct tensor *t = &g->t[ti];
    const char *nm = tp->name && tp->name[0] ? tp->name : t->name;
    if ((tp->has_data_location &&
         tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        tp->n_external_data) {
        const char *loc = "?";
        for (size_t i = 0; i < tp->n_external_data; i++)
            if (tp->external_data[i]->key && !strcmp(tp->external_data[i]->key, "location"))
                loc = tp->external_data[i]->value;
        return error_set(ERR_INPUT, im->path,
                         "%s '%s': weights in an external data file (%s) are not supported; "
                         "save the model with its weights inside",
                         what, nm, loc);
    }
    if (tp->n_dims > G_MAX_DIMS)
        return error_set(ERR_INPUT, im->path, "%s '%s': rank %zu is more than %d", what, nm,
                         tp->n_dims, G_MAX_DIMS);
    char shape[128];
    proto_shape_str(tp, shape, sizeof shape);
    size_t count = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return error_set(ERR_INPUT, im->path,
                             "%s '%s': shape %s has a negative dimension (%lld)", what, nm,
                             shape, (long long)tp->dims[i]);
        if (!mul_ok(count, (size_t)tp->dims[i], &count)) count = SIZE_MAX;
        t->dims[i] = tp->dims[i];
    }
    t->ndim = (int)tp->n_dims;
    t->batched = 0;
    t->item = count;
    int dt = tp->data_type;
    size_t esz =
        dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32
            ? 4
        : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
                dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE
            ? 8
        : dt == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL ||
                dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ||
                dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8
            ? 1
            : 0;
    if (!esz)
        return error_set(ERR_INPUT, im->path, "%s '%s': data type %d is not supported", what,
                         nm, dt);
    char why[300];
    int is_float = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                   dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    if (tensor_over_limits(t, is_float ? sizeof(float) : sizeof(int64_t), why, sizeof why))
        return error_set(ERR_INPUT, im->path, "%s '%s': %s", what, nm, why);
    size_t held = count * (is_float ? sizeof(float) : sizeof(int64_t)); /* checked above */
    if (!graph_alloc_fits(g, held)) {
        char need[32], have[32], all[32];
        return error_set(ERR_INPUT, im->path,
                         "%s '%s' %s (%s) would bring the decoded model and its weights to %s, "
                         "over the %s allowed (raise it with --max-memory)",
                         what, nm, shape, limits_format_bytes(held, need, sizeof need),
                         limits_format_bytes((uint64_t)g->arena_bytes + g->held_bytes + held,
                                             all, sizeof all),
                         limits_format_bytes(limits_get()->max_bytes, have, sizeof have));
    }
    size_t typed = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT   ? tp->n_float_data
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? tp->n_int64_data
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE
                       ? tp->n_double_data
                       : tp->n_int32_data; /* int32, bool, (u)int8 live in int32_data */
    int raw = tp->has_raw_data;
    size_t have = raw ? tp->raw_data.len : typed * esz;
    size_t want;
    if (!mul_ok(count, esz, &want)) want = SIZE_MAX;
    if (have != want) {
        return error_set(ERR_INPUT, im->path,
                         "%s '%s': %zu bytes of data for shape %s, which needs %zu", what, nm,
                         have, shape, want);
    }
    const unsigned char *rp = raw ? tp->raw_data.data : NULL;
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        t->is_int = 0;
        t->f = graph_alloc(g, sizeof(float) * (count ? count : 1));
        for (size_t k = 0; k < count; k++) {
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
                if (rp)
                    memcpy(&t->f[k], rp + 4 * k, 4); /* little-endian host assumed (x86, arm) */
                else
                    t->f[k] = tp->float_data[k];
            } else {
                double d;
                if (rp)
                    memcpy(&d, rp + 8 * k, 8);
                else
                    d = tp->double_data[k];
                t->f[k] = (float)d;
            }
        }
    } else {
        t->is_int = 1;
        t->i64 = graph_alloc(g, sizeof(int64_t) * (count ? count : 1));
        for (size_t k = 0; k < count; k++) {
            int64_t v;
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
                if (rp)
                    memcpy(&v, rp + 8 * k, 8);
                else
                    v = tp->int64_data[k];
            } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
                int32_t w;
                if (rp)
                    memcpy(&w, rp + 4 * k, 4);
                else
                    w = tp->int32_data[k];
                v = w;
            } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8) {
                v = rp ? (int8_t)rp[k] : tp->int32_data[k];
            } else {
                v = rp ? rp[k] : tp->int32_data[k];
            }
            t->i64[k] = v;
        }
    }
    return 0;
}

/* A Constant node: value (tensor) or value_float(s) / value_int(s). */
static int constant_node(struct importer *im, const NodeProto *n, int out)
{
    struct graph *g = im->g;
    struct tensor *t = &g->t[out];
    const AttrProto *a;
    if ((a = attr_find(n, "value")) && a->t)
        return tensor_from_proto(im, a->t, out, "Constant");
    if ((a = attr_find(n, "value_float"))) {
        t->ndim = 0, t->item = 1, t->f = graph_alloc(g, sizeof(float));
        t->f[0] = a->f;
        return 0;
    }
    if ((a = attr_find(n, "value_int"))) {
        t->ndim = 0, t->item = 1, t->is_int = 1, t->i64 = graph_alloc(g, sizeof(int64_t));
        t->i64[0] = a->i;
        return 0;
    }
    if ((a = attr_find(n, "value_floats")) || (a = attr_find(n, "value_ints"))) {
        int is_int = a->n_ints > 0 || a->n_floats == 0;
        size_t k = is_int ? a->n_ints : a->n_floats;
        t->ndim = 1, t->dims[0] = (int64_t)k, t->item = k, t->is_int = is_int;
        if (is_int) {
            t->i64 = graph_alloc(g, sizeof(int64_t) * (k ? k : 1));
            memcpy(t->i64, a->ints, sizeof(int64_t) * k);
        } else {
            t->f = graph_alloc(g, sizeof(float) * (k ? k : 1));
            memcpy(t->f, a->floats, sizeof(float) * k);
        }
        return 0;
    }
    return node_error(im, "Constant without a supported value attribute");
}

/* ---------------------------------------------------------------- node helpers */
static struct tensor *in_t(struct importer *im, struct node *nd, int i)
{
    return nd->in[i] >= 0 ? &im->g->t[nd->in[i]] : NULL;
}

static int need_batched(struct importer *im, struct node *nd, int i, int min_rank, int max_rank)
{
    struct tensor *t = in_t(im, nd, i);
    if (!t) return node_error(im, "input %d is missing", i);
    if (!t->batched)
        return node_error(im, "input '%s' must be computed from the image, not a constant",
                          t->name);
    if (t->ndim < min_rank || t->ndim > max_rank)
        return node_error(im, "input '%s' has rank %d, expected %d to %d", t->name, t->ndim,
                          min_rank, max_rank);
    return 0;
}

static int need_const(struct importer *im, struct node *nd, int i, int rank)
{
    struct tensor *t = in_t(im, nd, i);
    if (!t) return node_error(im, "input %d is missing", i);
    if (t->batched)
        return node_error(im, "input '%s' must be a constant (initializer)", t->name);
    if (t->is_int) return node_error(im, "input '%s' must hold floats", t->name);
    if (rank >= 0 && t->ndim != rank)
        return node_error(im, "constant '%s' has rank %d, expected %d", t->name, t->ndim, rank);
    return 0;
}

/* Kernels take int sizes: every dimension of a tensor they see must be
 * positive and small enough. */
static int dims_ok(struct importer *im, const struct tensor *t)
{
    char ts[160];
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] < 1 || t->dims[i] > (1 << 26))
            return node_error(
                im, "tensor '%s' %s: dimension %d is %lld (sizes must be 1 to 2^26)", t->name,
                tensor_shape_str(t, ts, sizeof ts), i, (long long)t->dims[i]);
    return 0;
}

static void out_like(struct importer *im, struct node *nd, const struct tensor *src)
{
    struct tensor *o = &im->g->t[nd->out];
    o->ndim = src->ndim;
    memcpy(o->dims, src->dims, sizeof o->dims);
    o->batched = 1;
    tensor_update_item(o);
}

static void out_dims(struct importer *im, struct node *nd, int ndim, const int64_t *dims)
{
    struct tensor *o = &im->g->t[nd->out];
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
static int spatial(struct importer *im, const NodeProto *n, int h, int w, int kh, int kw,
                   int *sh, int *sw, int *dh, int *dw, int *pt, int *pl, int *pb, int *pr,
                   int *oh, int *ow, int ceil_mode)
{
    int64_t v[8];
    char vs[200];
    int k;
    *sh = *sw = *dh = *dw = 1;
    *pt = *pl = *pb = *pr = 0;
    if ((int64_t)kh * kw > SPATIAL_MAX_STEP)
        return node_error(im, "kernel %dx%d is more than %d positions (a fixed engine limit)",
                          kh, kw, SPATIAL_MAX_STEP);
    static const char *const names[2] = {"strides", "dilations"};
    int *dst[2][2] = {{sh, sw}, {dh, dw}};
    for (int a = 0; a < 2; a++) {
        if ((k = attr_ints(n, names[a], v, 8)) == -1) continue;
        if (k != 2)
            return node_error(im, "%s has %zu values; a 2-D op needs 2", names[a],
                              attr_find(n, names[a])->n_ints);
        if (v[0] < 1 || v[1] < 1)
            return node_error(im, "%s %s: each must be at least 1", names[a],
                              ints_str(v, 2, vs, sizeof vs));
        if (v[0] > SPATIAL_MAX_STEP || v[1] > SPATIAL_MAX_STEP)
            return node_error(im, "%s %s: more than %d is not supported", names[a],
                              ints_str(v, 2, vs, sizeof vs), SPATIAL_MAX_STEP);
        *dst[a][0] = (int)v[0], *dst[a][1] = (int)v[1];
    }
    if ((k = attr_ints(n, "pads", v, 8)) >= 0 || k == -2) {
        if (k != 4)
            return node_error(im, "pads has %zu values; a 2-D op needs 4",
                              attr_find(n, "pads")->n_ints);
        for (int i = 0; i < 4; i++) {
            if (v[i] < 0)
                return node_error(im, "pads %s: negative pads are not supported",
                                  ints_str(v, 4, vs, sizeof vs));
            if (v[i] > SPATIAL_MAX_STEP)
                return node_error(im, "pads %s: more than %d is not supported",
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
            return node_error(im,
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
            return node_error(im,
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
            return node_error(im, "auto_pad %s would pad %lldx%lld, more than %d a side", ap,
                              (long long)th, (long long)tw, SPATIAL_MAX_STEP);
        int upper = ap[5] == 'U'; /* SAME_UPPER: the extra pad at the end */
        *pt = (int)(upper ? th / 2 : th - th / 2), *pb = (int)th - *pt;
        *pl = (int)(upper ? tw / 2 : tw - tw / 2), *pr = (int)tw - *pl;
    } else {
        return node_error(im,
                          "auto_pad '%s' is not supported (NOTSET, VALID, SAME_UPPER, "
                          "SAME_LOWER)",
                          ap);
    }
    if (OH < 1 || OW < 1)
        return node_error(im, "the output would be empty (%lldx%lld)", (long long)OH,
                          (long long)OW);
    /* BLAS takes int sizes: keep planes well inside them */
    if (H * W > SPATIAL_MAX_PLANE || OH * OW > SPATIAL_MAX_PLANE)
        return node_error(im,
                          "plane %lldx%lld -> %lldx%lld is more than 2^28 positions (a fixed "
                          "engine limit)",
                          (long long)H, (long long)W, (long long)OH, (long long)OW);
    *oh = (int)OH, *ow = (int)OW;
    return 0;
}

/* ---------------------------------------------------------------- op builders */
static int build_conv(struct importer *im, const NodeProto *n, struct node *nd)
{
    if (need_batched(im, nd, 0, 4, 4) || need_const(im, nd, 1, -1)) return ERR_INPUT;
    struct tensor *x = in_t(im, nd, 0), *w = in_t(im, nd, 1), *b = in_t(im, nd, 2);
    if (w->ndim != 4)
        return node_error(im, "only 2-D convolution is supported (weight rank %d)", w->ndim);
    if (dims_ok(im, x) || dims_ok(im, w)) return ERR_INPUT;
    char ws[160], vs[200];
    tensor_shape_str(w, ws, sizeof ws);
    int64_t group = attr_i(n, "group", 1);
    if (group < 1) return node_error(im, "group %lld: must be at least 1", (long long)group);
    struct conv_params *p = &nd->p.conv;
    int64_t ks[4];
    int k = attr_ints(n, "kernel_shape", ks, 4);
    if (k == -2 || (k >= 0 && k != 2))
        return node_error(im, "kernel_shape has %zu values; only 2-D convolution is supported",
                          attr_find(n, "kernel_shape")->n_ints);
    if (k == 2 && (ks[0] < 1 || ks[1] < 1))
        return node_error(im, "kernel_shape %s: sizes must be at least 1",
                          ints_str(ks, 2, vs, sizeof vs));
    if (k == 2 && (ks[0] != w->dims[2] || ks[1] != w->dims[3]))
        return node_error(im, "kernel_shape %s does not match weight '%s' %s",
                          ints_str(ks, 2, vs, sizeof vs), w->name, ws);
    p->c = (int)x->dims[1], p->h = (int)x->dims[2], p->w = (int)x->dims[3];
    p->m = (int)w->dims[0], p->kh = (int)w->dims[2], p->kw = (int)w->dims[3];
    if ((int64_t)p->kh * p->kw > SPATIAL_MAX_STEP || /* first: keeps the product in range */
        (int64_t)p->c * p->kh * p->kw > (1 << 24) || p->m > (1 << 24))
        return node_error(im,
                          "weight '%s' %s on %d input channels is more than 2^24 values per "
                          "output (a fixed engine limit)",
                          w->name, ws, p->c);
    if (group > p->c || p->c % group)
        return node_error(im, "group %lld does not divide the %d input channels",
                          (long long)group, p->c);
    p->group = (int)group;
    if (p->m % p->group)
        return node_error(im,
                          "group %d does not divide the %d output channels of weight '%s' %s",
                          p->group, p->m, w->name, ws);
    if (w->dims[1] * p->group != p->c)
        return node_error(im,
                          "weight '%s' %s takes %lld input channels per group, but the input "
                          "has %d in %d group%s",
                          w->name, ws, (long long)w->dims[1], p->c, p->group,
                          p->group > 1 ? "s" : "");
    if (b && (need_const(im, nd, 2, 1) || b->dims[0] != p->m))
        return b->batched || b->is_int ? ERR_INPUT
                                       : node_error(im, "bias has %lld values for %d channels",
                                                    (long long)b->dims[0], p->m);
    if (spatial(im, n, p->h, p->w, p->kh, p->kw, &p->sh, &p->sw, &p->dh, &p->dw, &p->pt, &p->pl,
                &p->pb, &p->pr, &p->oh, &p->ow, 0))
        return ERR_INPUT;
    int64_t od[4] = {1, p->m, p->oh, p->ow};
    out_dims(im, nd, 4, od);
    return 0;
}

static int build_batchnorm(struct importer *im, const NodeProto *n, struct node *nd)
{
    if (need_batched(im, nd, 0, 2, G_MAX_DIMS)) return ERR_INPUT;
    for (int i = 1; i < 5; i++)
        if (need_const(im, nd, i, 1)) return ERR_INPUT;
    if (attr_i(n, "training_mode", 0))
        return node_error(im,
                          "training_mode=1 is not supported (export the model in eval mode)");
    struct tensor *x = in_t(im, nd, 0);
    struct bn_params *p = &nd->p.bn;
    p->c = (int)x->dims[1];
    p->plane = x->item / (size_t)p->c;
    for (int i = 1; i < 5; i++)
        if (in_t(im, nd, i)->dims[0] != p->c)
            return node_error(im, "parameter '%s' has %lld values for %d channels",
                              in_t(im, nd, i)->name, (long long)in_t(im, nd, i)->dims[0], p->c);
    float eps = attr_f(n, "epsilon", 1e-5f);
    float *a = graph_alloc(im->g, sizeof(float) * (size_t)p->c);
    float *b = graph_alloc(im->g, sizeof(float) * (size_t)p->c);
    const float *scale = in_t(im, nd, 1)->f, *bias = in_t(im, nd, 2)->f;
    const float *mean = in_t(im, nd, 3)->f, *var = in_t(im, nd, 4)->f;
    for (int c = 0; c < p->c; c++) {
        /* y = scale (x - mean) / sqrt(var + eps) + bias, in double like the folded export */
        double s = (double)scale[c] / sqrt((double)var[c] + (double)eps);
        a[c] = (float)s;
        b[c] = (float)((double)bias[c] - (double)mean[c] * s);
    }
    p->a = a, p->b = b;
    out_like(im, nd, x);
    return 0;
}

static int scalar_const(struct importer *im, struct node *nd, int i, float *v)
{
    struct tensor *t = in_t(im, nd, i);
    if (!t) return 0;
    if (t->batched || t->item != 1)
        return node_error(im, "input '%s' must be a constant scalar", t->name);
    *v = t->is_int ? (float)t->i64[0] : t->f[0];
    return 0;
}

static int build_act(struct importer *im, const NodeProto *n, struct node *nd, int opset)
{
    if (need_batched(im, nd, 0, 1, G_MAX_DIMS)) return ERR_INPUT;
    struct act_params *p = &nd->p.act;
    p->alpha = attr_f(n, "alpha", 0.01f);
    if (nd->op == OP_CLIP) {
        p->lo = -INFINITY, p->hi = INFINITY;
        if (opset < 11) {
            p->lo = attr_f(n, "min", -INFINITY), p->hi = attr_f(n, "max", INFINITY);
        } else if (scalar_const(im, nd, 1, &p->lo) || scalar_const(im, nd, 2, &p->hi)) {
            return ERR_INPUT;
        }
    }
    out_like(im, nd, in_t(im, nd, 0));
    return 0;
}

static int build_softmax(struct importer *im, const NodeProto *n, struct node *nd, int opset)
{
    if (need_batched(im, nd, 0, 2, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(im, nd, 0);
    int64_t axis = attr_i(n, "axis", opset < 13 ? 1 : -1);
    if (axis < 0) axis += x->ndim;
    if (axis < 1 || axis >= x->ndim)
        return node_error(im,
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
    out_like(im, nd, x);
    return 0;
}

static int build_pool(struct importer *im, const NodeProto *n, struct node *nd)
{
    if (need_batched(im, nd, 0, 4, 4)) return ERR_INPUT;
    struct tensor *x = in_t(im, nd, 0);
    if (dims_ok(im, x)) return ERR_INPUT;
    struct pool_params *p = &nd->p.pool;
    p->c = (int)x->dims[1], p->h = (int)x->dims[2], p->w = (int)x->dims[3];
    if (nd->op == OP_GAP) {
        int64_t od[4] = {1, p->c, 1, 1};
        out_dims(im, nd, 4, od);
        return 0;
    }
    int64_t ks[4];
    char vs[200];
    if (attr_ints(n, "kernel_shape", ks, 4) != 2)
        return node_error(im, "needs a 2-D kernel_shape");
    if (ks[0] < 1 || ks[1] < 1)
        return node_error(im, "kernel_shape %s: sizes must be at least 1",
                          ints_str(ks, 2, vs, sizeof vs));
    if (ks[0] > SPATIAL_MAX_STEP || ks[1] > SPATIAL_MAX_STEP)
        return node_error(im, "kernel_shape %s: more than %d is not supported",
                          ints_str(ks, 2, vs, sizeof vs), SPATIAL_MAX_STEP);
    p->kh = (int)ks[0], p->kw = (int)ks[1];
    int ceil_mode = (int)attr_i(n, "ceil_mode", 0);
    if (nd->op == OP_AVGPOOL && ceil_mode)
        return node_error(im, "ceil_mode=1 is not supported for AveragePool");
    if (attr_i(n, "storage_order", 0) != 0)
        return node_error(im, "storage_order=1 is not supported");
    p->count_include_pad = (int)attr_i(n, "count_include_pad", 0);
    int dh, dw;
    if (spatial(im, n, p->h, p->w, p->kh, p->kw, &p->sh, &p->sw, &dh, &dw, &p->pt, &p->pl,
                &p->pb, &p->pr, &p->oh, &p->ow, ceil_mode))
        return ERR_INPUT;
    if (dh != 1 || dw != 1) return node_error(im, "dilated pooling is not supported");
    if (n->n_output > 1 && n->output[1] && n->output[1][0] && nd->op == OP_MAXPOOL)
        return node_error(im, "the Indices output is not supported");
    int64_t od[4] = {1, p->c, p->oh, p->ow};
    out_dims(im, nd, 4, od);
    return 0;
}

static int build_gemm(struct importer *im, const NodeProto *n, struct node *nd)
{
    int matmul = !strcmp(n->op_type, "MatMul");
    if (need_batched(im, nd, 0, 2, matmul ? G_MAX_DIMS : 2)) return ERR_INPUT;
    struct tensor *b = in_t(im, nd, 1);
    if (!b || b->batched)
        return node_error(im, "the right operand must be a constant weight matrix");
    if (need_const(im, nd, 1, 2)) return ERR_INPUT;
    struct tensor *a = in_t(im, nd, 0);
    if (dims_ok(im, a) || dims_ok(im, b)) return ERR_INPUT;
    if (a->item > (1 << 28)) return node_error(im, "input too large");
    struct gemm_params *p = &nd->p.gemm;
    p->alpha = 1.0f, p->beta = 1.0f;
    p->rows = 1;
    for (int i = 1; i < a->ndim - 1; i++)
        p->rows *= (int)a->dims[i];
    p->k = (int)a->dims[a->ndim - 1];
    if (!matmul) {
        if (attr_i(n, "transA", 0))
            return node_error(im, "transA=1 on a batched input is not supported");
        p->trans_b = (int)attr_i(n, "transB", 0);
        p->alpha = attr_f(n, "alpha", 1.0f);
        p->beta = attr_f(n, "beta", 1.0f);
    }
    int64_t bk = p->trans_b ? b->dims[1] : b->dims[0];
    p->m = (int)(p->trans_b ? b->dims[0] : b->dims[1]);
    if (bk != p->k)
        return node_error(im, "inner dimensions differ: input '%s' has %d, weight '%s' %lld%s",
                          a->name, p->k, b->name, (long long)bk,
                          p->trans_b ? " (transB=1)" : " (transB=0)");
    struct tensor *c = matmul ? NULL : in_t(im, nd, 2);
    if (c) {
        if (c->batched || c->is_int) return node_error(im, "C must be a float constant");
        if (c->item == 1)
            p->bias_scalar = 1;
        else if (c->item != (size_t)p->m || (c->ndim == 2 && c->dims[0] != 1))
            return node_error(im, "C of %zu values does not broadcast to %d outputs", c->item,
                              p->m);
        float *bias = graph_alloc(im->g, sizeof(float) * c->item);
        for (size_t k = 0; k < c->item; k++)
            bias[k] = p->beta * c->f[k];
        p->bias = bias;
    }
    int64_t od[G_MAX_DIMS];
    memcpy(od, a->dims, sizeof od);
    od[a->ndim - 1] = p->m;
    out_dims(im, nd, a->ndim, od);
    return 0;
}

static int build_eltwise(struct importer *im, struct node *nd)
{
    struct tensor *a = in_t(im, nd, 0), *b = in_t(im, nd, 1);
    if (!a || !b) return node_error(im, "needs two inputs");
    if (a->is_int || b->is_int)
        return node_error(im, "integer arithmetic at run time is not supported");
    char err[200];
    if (eltwise_prepare(&nd->p.elt, a, b, &im->g->t[nd->out], err, sizeof err))
        return node_error(im, "%s", err);
    return 0;
}

static int build_transpose(struct importer *im, const NodeProto *n, struct node *nd)
{
    if (need_batched(im, nd, 0, 1, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(im, nd, 0);
    int64_t perm[G_MAX_DIMS] = {0};
    int k = attr_ints(n, "perm", perm, G_MAX_DIMS);
    if (k < 0) {
        k = x->ndim;
        for (int i = 0; i < k; i++)
            perm[i] = k - 1 - i;
    }
    if (k != x->ndim) return node_error(im, "perm has %d values for rank %d", k, x->ndim);
    int seen[G_MAX_DIMS] = {0};
    for (int i = 0; i < k; i++) {
        if (perm[i] < 0 || perm[i] >= k || seen[perm[i]]++)
            return node_error(im, "perm is not a permutation");
    }
    if (perm[0] != 0)
        return node_error(im, "a transpose that moves the batch axis is not supported");
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
    out_dims(im, nd, k, od);
    return 0;
}

static int build_concat(struct importer *im, const NodeProto *n, struct node *nd)
{
    struct tensor *x = in_t(im, nd, 0);
    if (!x) return node_error(im, "no inputs");
    int64_t axis = attr_i(n, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 1 || axis >= x->ndim)
        return node_error(im, "concatenation along the batch axis is not supported");
    struct concat_params *p = &nd->p.cat;
    p->nin = nd->nin;
    p->outer = 1;
    for (int i = 1; i < axis; i++)
        p->outer *= (size_t)x->dims[i];
    int64_t od[G_MAX_DIMS];
    memcpy(od, x->dims, sizeof od);
    od[axis] = 0;
    for (int i = 0; i < nd->nin; i++) {
        struct tensor *t = in_t(im, nd, i);
        if (!t || !t->batched)
            return node_error(im, "concatenating a constant with activations is not supported");
        char xs[160], ts[160];
        tensor_shape_str(x, xs, sizeof xs);
        tensor_shape_str(t, ts, sizeof ts);
        if (t->ndim != x->ndim)
            return node_error(im, "input '%s' %s differs in rank from input '%s' %s", t->name,
                              ts, x->name, xs);
        for (int d = 1; d < x->ndim; d++)
            if (d != axis && t->dims[d] != x->dims[d])
                return node_error(im,
                                  "input '%s' %s differs from input '%s' %s in dimension %d "
                                  "(only axis %lld may differ)",
                                  t->name, ts, x->name, xs, d, (long long)axis);
        od[axis] += t->dims[axis];
        p->inner[i] = t->item / p->outer;
        p->out_inner += p->inner[i];
    }
    out_dims(im, nd, x->ndim, od);
    return 0;
}

static int build_pad(struct importer *im, const NodeProto *n, struct node *nd, int opset)
{
    if (need_batched(im, nd, 0, 1, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(im, nd, 0);
    char mode[32];
    attr_s(n, "mode", mode, sizeof mode);
    if (mode[0] && strcmp(mode, "constant"))
        return node_error(im, "mode '%s' is not supported (only constant)", mode);
    int64_t pads[2 * G_MAX_DIMS];
    int k;
    struct pad_params *p = &nd->p.pad;
    p->value = 0.0f;
    if (opset < 11) {
        k = attr_ints(n, "pads", pads, 2 * G_MAX_DIMS);
        p->value = attr_f(n, "value", 0.0f);
    } else {
        struct tensor *t = in_t(im, nd, 1);
        if (!t || t->batched || !t->is_int || t->item > 2 * G_MAX_DIMS)
            return node_error(im, "pads must be a constant list");
        k = (int)t->item;
        memcpy(pads, t->i64, sizeof(int64_t) * t->item);
        if (scalar_const(im, nd, 2, &p->value)) return ERR_INPUT;
    }
    if (k != 2 * x->ndim) return node_error(im, "pads has %d values for rank %d", k, x->ndim);
    if (pads[0] || pads[x->ndim])
        return node_error(im, "padding the batch axis is not supported");
    p->ndim = x->ndim - 1;
    int64_t od[G_MAX_DIMS];
    od[0] = 1;
    for (int i = 1; i < x->ndim; i++) {
        if (pads[i] < 0 || pads[i + x->ndim] < 0 || pads[i] > 1 << 16 ||
            pads[i + x->ndim] > 1 << 16)
            return node_error(im, "negative or huge pads are not supported");
        p->in_dims[i - 1] = x->dims[i];
        p->begin[i - 1] = pads[i];
        od[i] = p->out_dims[i - 1] = x->dims[i] + pads[i] + pads[i + x->ndim];
    }
    out_dims(im, nd, x->ndim, od);
    p->in_item = x->item;
    p->out_item = im->g->t[nd->out].item;
    nd->nin = 1;
    return 0;
}

/* Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout on an activation:
 * a copy under a new shape that keeps the batch as dim 0. */
static int build_copy(struct importer *im, const NodeProto *n, struct node *nd, int opset)
{
    if (need_batched(im, nd, 0, 1, G_MAX_DIMS)) return ERR_INPUT;
    struct tensor *x = in_t(im, nd, 0);
    const char *op = n->op_type;
    int64_t od[G_MAX_DIMS];
    int nd_out;
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
        /* Dropout's mask output is not produced: a consumer of it fails as a missing input */
        out_like(im, nd, x);
        nd->nin = 1;
        return 0;
    }
    if (!strcmp(op, "Flatten")) {
        int64_t axis = attr_i(n, "axis", 1);
        if (axis < 0) axis += x->ndim;
        if (axis != 1)
            return node_error(im, "Flatten with axis %lld would mix the batch",
                              (long long)axis);
        od[0] = 1, od[1] = (int64_t)x->item;
        out_dims(im, nd, 2, od);
        nd->nin = 1;
        return 0;
    }
    if (!strcmp(op, "Reshape")) {
        struct tensor *s = in_t(im, nd, 1);
        if (!s || s->batched || !s->is_int || s->ndim != 1 || s->item < 1 ||
            s->item > G_MAX_DIMS)
            return node_error(im, "the target shape must be a constant list (1 to %d values)",
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
                if (i) return node_error(im, "the batch size moves to dimension %d", i);
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
                    return node_error(im,
                                      "target shape %s: 0 at dimension %d copies a "
                                      "dimension that input '%s' %s lacks",
                                      ts, i, x->name, xs);
                v = x->dims[i];
            }
            if (v == -1) {
                if (infer >= 0)
                    return node_error(im, "target shape %s has more than one -1", ts);
                infer = i;
                continue;
            }
            if (v < 0)
                return node_error(im, "target shape %s: dimension %d is %lld", ts, i,
                                  (long long)v);
            od[i] = v;
            if ((i > 0 || batch_at0) && __builtin_mul_overflow(known, v, &known))
                known = INT64_MAX; /* stays there: refused below */
        }
        /* dim 0 is the batch when it says so, or when -1 / a literal 1 or the
         * file's fixed batch leaves exactly one item's worth for the rest */
        if (!batch_at0) {
            if (infer == 0 || od[0] == 1 ||
                (im->g->static_batch && od[0] == im->g->static_batch)) {
                if (infer == 0) infer = -1;
                batch_at0 = 1;
                od[0] = 1;
            } else {
                return node_error(
                    im, "reshape to a fixed first dimension %lld would change the batch",
                    (long long)od[0]);
            }
        }
        if (infer > 0) {
            if (!known || x->item % (size_t)known)
                return node_error(im,
                                  "cannot reshape input '%s' %s (%zu values per image) to %s: "
                                  "no size for the -1 fits",
                                  x->name, xs, x->item, ts);
            od[infer] = (int64_t)(x->item / (size_t)known);
            known *= od[infer];
        }
        if ((size_t)known != x->item)
            return node_error(im,
                              "cannot reshape input '%s' %s (%zu values per image) to %s "
                              "(%s values)",
                              x->name, xs, x->item, ts,
                              known == INT64_MAX
                                  ? "more"
                                  : (snprintf(ks, sizeof ks, "%lld", (long long)known), ks));
        od[0] = 1;
        out_dims(im, nd, nd_out, od);
        nd->nin = 1;
        return 0;
    }
    /* Squeeze / Unsqueeze */
    int64_t axes[G_MAX_DIMS];
    int na = -1;
    if (opset < 13) {
        na = attr_ints(n, "axes", axes, G_MAX_DIMS);
    } else if (nd->nin > 1 && in_t(im, nd, 1)) {
        struct tensor *a = in_t(im, nd, 1);
        if (a->batched || !a->is_int || a->item > G_MAX_DIMS)
            return node_error(im, "axes must be a constant list");
        na = (int)a->item;
        memcpy(axes, a->i64, sizeof(int64_t) * a->item);
    }
    int unsq = op[0] == 'U';
    int r = unsq ? x->ndim + (na > 0 ? na : 0) : x->ndim;
    if (unsq && (na <= 0 || r > G_MAX_DIMS)) return node_error(im, "bad axes");
    for (int k = 0; k < na; k++) {
        if (axes[k] < 0) axes[k] += r;
        if (axes[k] <= 0 || axes[k] >= r)
            return node_error(im, "axis %lld touches the batch or is out of range",
                              (long long)axes[k]);
    }
    for (int k = 0; k < na; k++)
        for (int j = 0; j < k; j++)
            if (axes[j] == axes[k])
                return node_error(im, "axis %lld is listed twice", (long long)axes[k]);
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
            return node_error(im, "squeezing dimension %d of size %lld", i,
                              (long long)x->dims[i]);
    }
    ASSERT(!unsq || src == x->ndim);
    out_dims(im, nd, nd_out, od);
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

static int fold_attrs_read(const NodeProto *n, struct fold_attrs *at)
{
    memset(at, 0, sizeof *at);
    const AttrProto *a;
    if ((a = attr_find(n, "axis"))) at->axis = a->i, at->has_axis = 1;
    int k = attr_ints(n, "axes", at->axes, G_MAX_DIMS);
    if (k >= 0) at->naxes = k, at->has_axes = 1;
    at->to = attr_i(n, "to", 1);
    if ((a = attr_find(n, "start"))) at->start = a->i, at->has_start = 1;
    if ((a = attr_find(n, "end"))) at->end = a->i, at->has_end = 1;
    at->allowzero = (int)attr_i(n, "allowzero", 0);
    return k == -2 ? -1 : 0;
}

static int import_node_body(struct importer *im, const NodeProto *n, int opset, const char *op,
                            const int *in, struct tensor *const *ins, int out);

static int import_node(struct importer *im, const NodeProto *n, int opset)
{
    struct graph *g = im->g;
    const char *op = n->op_type ? n->op_type : "";
    const char *dom = n->domain ? n->domain : "";
    if (dom[0] && strcmp(dom, "ai.onnx"))
        return node_error(im, "operator %s of domain '%s' is not supported", op, dom);
    if (n->n_output < 1 || !n->output[0][0]) return node_error(im, "no output");
    if (n->n_input > G_MAX_INPUTS) return node_error(im, "more than %d inputs", G_MAX_INPUTS);
    int in[G_MAX_INPUTS];
    struct tensor *ins[G_MAX_INPUTS];
    for (size_t i = 0; i < n->n_input; i++) {
        in[i] = -1, ins[i] = NULL;
        if (!n->input[i][0]) continue; /* an absent optional input */
        if ((in[i] = graph_find(g, n->input[i])) < 0)
            return node_error(
                im, "input '%s' is not available (an output the engine does not produce)",
                n->input[i]);
        ins[i] = &g->t[in[i]];
    }
    if (graph_find(g, n->output[0]) >= 0)
        return node_error(im, "output '%s' is defined twice", n->output[0]);
    int out = graph_add_tensor(g, n->output[0]);
    for (size_t i = 0; i < n->n_input; i++) /* the tensor array may have moved */
        ins[i] = in[i] >= 0 ? &g->t[in[i]] : NULL;
    int rc = import_node_body(im, n, opset, op, in, ins, out);
    if (rc) return rc;
    /* what every output must satisfy, whatever built it: within the limits,
     * not empty, and a copy keeps its element count */
    const struct tensor *o = &g->t[out];
    char why[300], os[160];
    if (tensor_over_limits(o, o->is_int ? sizeof(int64_t) : sizeof(float), why, sizeof why))
        return node_error(im, "output %s", why);
    if (o->batched && o->item == 0)
        return node_error(im, "output %s is empty", tensor_shape_str(o, os, sizeof os));
    if (o->producer >= 0 && g->nodes[o->producer].op == OP_COPY &&
        g->t[g->nodes[o->producer].in[0]].item != o->item)
        return node_error(im, "output %s has %zu values per image, its input %zu",
                          tensor_shape_str(o, os, sizeof os), o->item,
                          g->t[g->nodes[o->producer].in[0]].item);
    return 0;
}

static int import_node_body(struct importer *im, const NodeProto *n, int opset, const char *op,
                            const int *in, struct tensor *const *ins, int out)
{
    struct graph *g = im->g;
    if (!strcmp(op, "Constant")) return constant_node(im, n, out);
    if (in_list(op, fold_ops)) {
        struct fold_attrs at;
        char err[200];
        if (fold_attrs_read(n, &at)) return node_error(im, "too many axes");
        int r = fold_node(g, op, ins, (int)n->n_input, &at, &g->t[out], err, sizeof err);
        if (r < 0) return node_error(im, "%s", err);
        if (r == 0) return 0;
    }
    const struct op_entry *e = NULL;
    for (size_t k = 0; k < sizeof op_table / sizeof op_table[0]; k++)
        if (!strcmp(op_table[k].name, op)) e = &op_table[k];
    if (!e) return node_error(im, "operator %s (domain ai.onnx) is not supported", op);
    struct node *nd = graph_add_node(g, e->op, im->nname, op);
    nd->nin = (int)n->n_input;
    for (int i = 0; i < nd->nin; i++)
        nd->in[i] = in[i];
    nd->out = out;
    g->t[out].producer = g->nn - 1;
    switch (e->op) {
    case OP_CONV: return build_conv(im, n, nd);
    case OP_BATCHNORM: return build_batchnorm(im, n, nd);
    case OP_RELU:
    case OP_LEAKYRELU:
    case OP_SIGMOID:
    case OP_TANH:
    case OP_CLIP: return build_act(im, n, nd, opset);
    case OP_SOFTMAX: return build_softmax(im, n, nd, opset);
    case OP_COPY: return build_copy(im, n, nd, opset);
    case OP_MAXPOOL:
    case OP_AVGPOOL:
    case OP_GAP: return build_pool(im, n, nd);
    case OP_GEMM: return build_gemm(im, n, nd);
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: return build_eltwise(im, nd);
    case OP_TRANSPOSE: return build_transpose(im, n, nd);
    case OP_CONCAT: return build_concat(im, n, nd);
    case OP_PAD: return build_pad(im, n, nd, opset);
    default: return node_error(im, "internal: no builder");
    }
}

/* ---------------------------------------------------------------- name map */
/* A small open-addressing map from names to ints for the sort. */
struct strmap {
    const char **key;
    int *val;
    size_t cap;
};

static uint64_t strhash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void strmap_init(struct strmap *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 2)
        m->cap *= 2;
    m->key = xcalloc(m->cap, sizeof *m->key);
    m->val = xcalloc(m->cap, sizeof *m->val);
}

static int *strmap_slot(struct strmap *m, const char *k, int create)
{
    size_t i = strhash(k) & (m->cap - 1);
    for (; m->key[i]; i = (i + 1) & (m->cap - 1))
        if (!strcmp(m->key[i], k)) return &m->val[i];
    if (!create) return NULL;
    m->key[i] = k;
    return &m->val[i];
}

static void strmap_release(struct strmap *m)
{
    free(m->key);
    free(m->val);
}

/* ---------------------------------------------------------------- import */
static void node_display_name(const NodeProto *n, size_t idx, char *buf, size_t size)
{
    if (n->name && n->name[0])
        snprintf(buf, size, "%s", n->name);
    else
        snprintf(buf, size, "%s_%zu", n->op_type ? n->op_type : "node", idx);
}

/* A binary min-heap of node indices: Kahn's algorithm takes the lowest-index
 * ready node first, so a file already in topological order keeps its order. */
struct heap {
    size_t *v, n;
};

static void heap_push(struct heap *h, size_t x)
{
    size_t i = h->n++;
    for (; i && h->v[(i - 1) / 2] > x; i = (i - 1) / 2)
        h->v[i] = h->v[(i - 1) / 2];
    h->v[i] = x;
}

static size_t heap_pop(struct heap *h)
{
    size_t top = h->v[0], x = h->v[--h->n], i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c]) c++;
        if (h->v[c] >= x) break;
        h->v[i] = h->v[c];
        i = c;
    }
    h->v[i] = x;
    return top;
}

/* Names the nodes of a cycle among the nodes the sort could not place: walks
 * from `start` to an unplaced producer of one of its inputs until a node
 * repeats (every unplaced node has one, or it would have been placed), then
 * records "a -> b -> a" in the direction data flows. */
static int cycle_error(struct importer *im, const Onnx__GraphProto *gp, const char *used,
                       const size_t *inoff, const long *pin, size_t start)
{
    size_t nn = gp->n_node, *walk = xmalloc(sizeof(size_t) * (nn ? nn : 1));
    size_t *pos = xcalloc(nn ? nn : 1, sizeof(size_t)); /* step + 1, 0 = not seen */
    size_t len = 0, u = start;
    while (!pos[u]) {
        walk[len++] = u;
        pos[u] = len;
        size_t next = u;
        for (size_t k = inoff[u]; k < inoff[u + 1]; k++)
            if (pin[k] >= 0 && !used[pin[k]]) {
                next = (size_t)pin[k];
                break;
            }
        ASSERT(next != u); /* an unplaced node waits on an unplaced producer */
        u = next;
    }
    /* walk[s..len-1] is the cycle, each node a consumer of the next one */
    size_t s = pos[u] - 1;
    char path[300], nbuf[256];
    size_t k = 0;
    path[0] = 0;
    for (size_t j = 0; j <= len - s && k < sizeof path; j++) {
        size_t v = j == 0 ? walk[s] : walk[len - j]; /* j = len - s: back at walk[s] */
        node_display_name(gp->node[v], v, nbuf, sizeof nbuf);
        k += (size_t)snprintf(path + k, sizeof path - k, "%s%s", j ? " -> " : "", nbuf);
    }
    if (k >= sizeof path) memcpy(path + sizeof path - 4, "...", 4);
    node_display_name(gp->node[walk[s]], walk[s], nbuf, sizeof nbuf);
    im->np = gp->node[walk[s]], im->nname = nbuf;
    int rc = node_error(im, "the graph has a cycle: %s", path);
    free(walk);
    free(pos);
    return rc;
}

/* Kahn's algorithm over the producer -> consumer edges, O((nodes + edges)
 * log nodes). order[] receives node indices. Refuses an output defined twice,
 * an input nothing produces, a node reading its own output, and cycles. */
static int topo_sort(struct importer *im, const Onnx__GraphProto *gp, struct strmap *defined,
                     size_t *order)
{
    size_t nn = gp->n_node, nout = 0, nin = 0;
    for (size_t i = 0; i < nn; i++)
        nout += gp->node[i]->n_output, nin += gp->node[i]->n_input;
    struct strmap prod;
    strmap_init(&prod, nout + 1);
    int rc = 0;
    size_t *indeg = xcalloc(nn ? nn : 1, sizeof(size_t));
    size_t *inoff = xcalloc(nn + 1, sizeof(size_t));     /* node i's inputs: pin[inoff[i]..] */
    long *pin = xmalloc(sizeof(long) * (nin ? nin : 1)); /* their producers, -1: none */
    size_t *first = xcalloc(nn + 2, sizeof(size_t));     /* consumers of p: cons[first[p]..] */
    size_t *cons = xmalloc(sizeof(size_t) * (nin ? nin : 1));
    char *used = xcalloc(nn ? nn : 1, 1);
    struct heap ready = {xmalloc(sizeof(size_t) * (nn ? nn : 1)), 0};
    char nbuf[256];
    for (size_t i = 0; i < nn && !rc; i++) {
        const NodeProto *n = gp->node[i];
        for (size_t o = 0; o < n->n_output; o++) {
            if (!n->output[o][0]) continue;
            if (strmap_slot(&prod, n->output[o], 0) || strmap_slot(defined, n->output[o], 0)) {
                node_display_name(n, i, nbuf, sizeof nbuf);
                im->np = n, im->nname = nbuf;
                rc = node_error(im, "output '%s' is defined twice", n->output[o]);
                break;
            }
            *strmap_slot(&prod, n->output[o], 1) = (int)i;
        }
    }
    for (size_t i = 0; i < nn && !rc; i++) {
        const NodeProto *n = gp->node[i];
        inoff[i + 1] = inoff[i] + n->n_input;
        for (size_t k = 0; k < n->n_input && !rc; k++) {
            const char *nm = n->input[k];
            long *p = &pin[inoff[i] + k];
            *p = -1;
            if (!nm[0] || strmap_slot(defined, nm, 0)) continue;
            int *s = strmap_slot(&prod, nm, 0);
            node_display_name(n, i, nbuf, sizeof nbuf);
            im->np = n, im->nname = nbuf;
            if (!s)
                rc = node_error(
                    im, "input '%s' is not produced by any node, initializer or graph input",
                    nm);
            else if ((size_t)*s == i)
                rc = node_error(im, "reads its own output '%s' (a cycle of one node)", nm);
            else
                *p = *s, indeg[i]++, first[*s + 2]++;
        }
    }
    if (rc) goto out;
    /* counting sort of the edges by producer: first[p + 1] .. first[p + 2] */
    for (size_t p = 0; p < nn; p++)
        first[p + 2] += first[p + 1];
    for (size_t i = 0; i < nn; i++)
        for (size_t k = inoff[i]; k < inoff[i + 1]; k++)
            if (pin[k] >= 0) cons[first[pin[k] + 1]++] = i;
    /* now consumers of p are cons[first[p] .. first[p + 1]) */
    for (size_t i = 0; i < nn; i++)
        if (!indeg[i]) heap_push(&ready, i);
    size_t done = 0;
    while (ready.n) {
        size_t pick = heap_pop(&ready);
        used[pick] = 1;
        order[done++] = pick;
        for (size_t e = first[pick]; e < first[pick + 1]; e++)
            if (--indeg[cons[e]] == 0) heap_push(&ready, cons[e]);
    }
    if (done < nn) { /* every remaining node waits on another: a cycle */
        size_t start = 0;
        while (used[start])
            start++;
        rc = cycle_error(im, gp, used, inoff, pin, start);
    }
out:
    free(ready.v);
    free(used);
    free(cons);
    free(first);
    free(pin);
    free(inoff);
    free(indeg);
    strmap_release(&prod);
    return rc;
}

static int import_input(struct importer *im, const Onnx__ValueInfoProto *vi)
{
    struct graph *g = im->g;
    const char *nm = vi->name ? vi->name : "";
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return error_set(ERR_INPUT, im->path, "input '%s' is not a tensor", nm);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return error_set(ERR_INPUT, im->path,
                         "input '%s' has data type %d; only float32 is supported", nm,
                         tt->elem_type);
    if (!tt->shape || tt->shape->n_dim < 2 || tt->shape->n_dim > G_MAX_DIMS)
        return error_set(ERR_INPUT, im->path, "input '%s' needs a shape of rank 2 to %d", nm,
                         G_MAX_DIMS);
    int ti = graph_add_tensor(g, nm);
    struct tensor *t = &g->t[ti];
    t->batched = 1;
    t->ndim = (int)tt->shape->n_dim;
    for (int i = 0; i < t->ndim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        int known = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (i == 0) {
            g->static_batch = known ? d->dim_value : 0;
            t->dims[0] = 1;
            continue;
        }
        if (!known)
            return error_set(
                ERR_INPUT, im->path,
                "input '%s': dimension %d must be a fixed size (only the batch may vary)", nm,
                i);
        if (d->dim_value < 1)
            return error_set(ERR_INPUT, im->path,
                             "input '%s': dimension %d is %lld; sizes must be at least 1", nm,
                             i, (long long)d->dim_value);
        if (d->dim_value > (1 << 20))
            return error_set(ERR_INPUT, im->path,
                             "input '%s': dimension %d is %lld, more than 2^20 (a fixed engine "
                             "limit)",
                             nm, i, (long long)d->dim_value);
        t->dims[i] = d->dim_value;
    }
    tensor_update_item(t);
    char why[300];
    if (tensor_over_limits(t, sizeof(float), why, sizeof why))
        return error_set(ERR_INPUT, im->path, "input '%s' %s", nm, why);
    g->input = ti;
    return 0;
}

/* ---------------------------------------------------------------- limits before decoding */
/* One field of a protobuf message at *p: its number, wire type and, for a
 * length-delimited one, its payload; *p moves past it. 0 when malformed. */
static int pb_field(const uint8_t **p, const uint8_t *end, uint64_t *field, int *wt,
                    const uint8_t **payload, uint64_t *plen)
{
    uint64_t v[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && (v[0] & 7) != 0 && (v[0] & 7) != 2) break;
        int ok = 0;
        for (int sh = 0; sh < 64 && *p < end; sh += 7) {
            uint8_t b = *(*p)++;
            v[k] |= (uint64_t)(b & 0x7f) << sh;
            if (!(b & 0x80)) {
                ok = 1;
                break;
            }
        }
        if (!ok) return 0;
    }
    *field = v[0] >> 3, *wt = (int)(v[0] & 7);
    size_t left = (size_t)(end - *p);
    switch (*wt) {
    case 0: return 1;
    case 1: return left >= 8 ? (*p += 8, 1) : 0;
    case 5: return left >= 4 ? (*p += 4, 1) : 0;
    case 2:
        if (v[1] > left) return 0;
        *payload = *p, *plen = v[1];
        *p += v[1];
        return 1;
    default: return 0; /* groups: not in ONNX */
    }
}

/* The number of NodeProto entries in the main graph (ModelProto field 7,
 * GraphProto field 1), counted on the wire before anything is decoded; a
 * malformed stretch ends the count (the decoder refuses it afterwards). */
static size_t pb_count_nodes(const uint8_t *buf, size_t len)
{
    const uint8_t *p = buf, *end = buf + len, *pl, *q;
    uint64_t f, n, sub;
    int wt;
    size_t count = 0;
    while (p < end && pb_field(&p, end, &f, &wt, &pl, &n)) {
        if (f != 7 || wt != 2) continue;
        q = pl;
        const uint8_t *qe = pl + n, *x;
        uint64_t xn;
        while (q < qe && pb_field(&q, qe, &sub, &wt, &x, &xn))
            if (sub == 1 && wt == 2) count++;
    }
    return count;
}

/* protobuf-c's allocations, counted against --max-memory: the decoded
 * structures can be many times the file's size (an empty node is 2 bytes on
 * the wire and over 100 in memory). */
struct pb_budget {
    size_t used, limit;
    int over;
};

static void *pb_alloc(void *data, size_t size)
{
    struct pb_budget *b = data;
    if (size > b->limit || b->limit - size < b->used + 16) {
        b->over = 1;
        return NULL;
    }
    unsigned char *p = malloc(size + 16);
    if (!p) {
        b->over = 1;
        return NULL;
    }
    memcpy(p, &size, sizeof size);
    b->used += size + 16;
    return p + 16;
}

static void pb_free(void *data, void *ptr)
{
    struct pb_budget *b = data;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - 16;
    size_t size;
    memcpy(&size, p, sizeof size);
    b->used -= size + 16;
    free(p);
}

struct graph *onnx_graph_parse(const void *buf, size_t len, const char *name)
{
    struct importer im = {0};
    im.path = name;
    const struct limits *lim = limits_get();
    size_t nodes = pb_count_nodes(buf, len);
    if (nodes > lim->max_nodes) {
        error_set(ERR_INPUT, name,
                  "the graph has %zu nodes, over the limit of %llu (raise it with --max-nodes)",
                  nodes, (unsigned long long)lim->max_nodes);
        return NULL;
    }
    struct pb_budget budget = {0, lim->max_bytes > SIZE_MAX ? SIZE_MAX : (size_t)lim->max_bytes,
                               0};
    ProtobufCAllocator pba = {pb_alloc, pb_free, &budget};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&pba, len, buf);
    if (!mp) {
        char have[32];
        if (budget.over)
            error_set(ERR_INPUT, name,
                      "decoding the model needs more than the %s allowed "
                      "(raise it with --max-memory)",
                      limits_format_bytes(lim->max_bytes, have, sizeof have));
        else
            error_set(ERR_INPUT, name, "not an ONNX model (the protobuf does not decode)");
        return NULL;
    }
    struct graph *g = graph_new();
    g->held_bytes = budget.used; /* the decoded protobuf lives until the import ends */
    im.g = g;
    struct strmap defined = {0};
    size_t *order = NULL;
    int rc = 0, opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (!d || !d[0] || !strcmp(d, "ai.onnx")) opset = (int)mp->opset_import[i]->version;
    }
    const Onnx__GraphProto *gp = mp->graph;
    if (!gp) {
        rc = error_set(ERR_INPUT, name, "the model has no graph");
        goto done;
    }
    if (opset < 0) opset = OPSET_MIN; /* IR < 3 files carry no opset: the oldest we know */
    if (opset < OPSET_MIN || opset > OPSET_MAX) {
        rc = error_set(ERR_INPUT, name,
                       "opset %d is not supported (interp runs opsets %d to %d)", opset,
                       OPSET_MIN, OPSET_MAX);
        goto done;
    }
    g->opset = opset;
    if (gp->n_node > lim->max_nodes) { /* the wire count above missed none, but be sure */
        rc = error_set(
            ERR_INPUT, name,
            "the graph has %zu nodes, over the limit of %llu (raise it with --max-nodes)",
            gp->n_node, (unsigned long long)lim->max_nodes);
        goto done;
    }
    strmap_init(&defined, gp->n_initializer + gp->n_input + 1);
    for (size_t i = 0; i < gp->n_initializer && !rc; i++) {
        const TensorProto *tp = gp->initializer[i];
        if (!tp->name || !tp->name[0]) continue;
        if (graph_find(g, tp->name) >= 0) {
            rc = error_set(ERR_INPUT, name, "initializer '%s' appears twice", tp->name);
            break;
        }
        int ti = graph_add_tensor(g, tp->name);
        rc = tensor_from_proto(&im, tp, ti, "initializer");
        *strmap_slot(&defined, g->t[ti].name, 1) = ti;
    }
    if (rc) goto done;
    for (size_t i = 0; i < gp->n_input && !rc; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || graph_find(g, vi->name) >= 0)
            continue; /* an initializer listed as input */
        if (g->input >= 0) {
            rc = error_set(ERR_INPUT, name, "the model has more than one input ('%s', '%s')",
                           g->t[g->input].name, vi->name);
            break;
        }
        rc = import_input(&im, vi);
        if (!rc) *strmap_slot(&defined, g->t[g->input].name, 1) = g->input;
    }
    if (rc) goto done;
    if (g->input < 0) {
        rc = error_set(ERR_INPUT, name, "the model has no input");
        goto done;
    }
    order = xmalloc(sizeof(size_t) * (gp->n_node ? gp->n_node : 1));
    if ((rc = topo_sort(&im, gp, &defined, order))) goto done;
    for (size_t k = 0; k < gp->n_node && !rc; k++) {
        char nbuf[256];
        node_display_name(gp->node[order[k]], order[k], nbuf, sizeof nbuf);
        im.np = gp->node[order[k]], im.nname = nbuf;
        rc = import_node(&im, gp->node[order[k]], opset);
    }
    if (rc) goto done;
    if (gp->n_output < 1 || (g->output = graph_find(g, gp->output[0]->name)) < 0) {
        rc = error_set(ERR_INPUT, name, "the graph output is not produced");
        goto done;
    }
    if (!g->t[g->output].batched) {
        rc = error_set(ERR_INPUT, name, "the graph output '%s' does not depend on the input",
                       g->t[g->output].name);
        goto done;
    }
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
    /* NHWC: the input goes straight into a Transpose to NCHW (tf2onnx's pattern) */
    for (int i = 0; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        if (nd->op == OP_TRANSPOSE && nd->in[0] == g->input && nd->p.tr.ndim == 3 &&
            nd->p.tr.perm[0] == 2 && nd->p.tr.perm[1] == 0 && nd->p.tr.perm[2] == 1)
            g->layout_nhwc = 1;
    }
done:
    free(order);
    if (defined.cap) strmap_release(&defined);
    onnx__model_proto__free_unpacked(mp, &pba);
    g->held_bytes = 0;
    if (rc) {
        graph_free(g);
        return NULL;
    }
    return g;
}

struct graph *onnx_graph_load(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        error_set_errno(ERR_INPUT, path, "cannot open");
        return NULL;
    }
    input_register(path);
    struct graph *g = NULL;
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        error_set_errno(ERR_INPUT, path, "cannot read (not a regular file?)");
        fclose(fp);
        return NULL;
    }
    if (size == 0) {
        error_set(ERR_INPUT, path, "empty file, not an ONNX model");
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
            g = onnx_graph_parse(buf, (size_t)size, path);
    }
    free(buf);
    fclose(fp);
    return g;
}
