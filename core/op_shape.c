/* op_shape.c - data movement ops (copy for Identity/Dropout/Flatten/Reshape/
 * Squeeze/Unsqueeze, Transpose, Concat) forward and backward, and the
 * load-time evaluation of the shape subgraphs PyTorch emits (Shape, Gather,
 * Unsqueeze, Squeeze, Concat, Reshape, Cast, Slice on constants).
 */
#include <stdio.h>
#include <string.h>

#include "graph.h"
#include "util.h"

/* ---------------------------------------------------------------- copy */
void copy_forward(float *out, const float *inp, size_t item, int n)
{
    memcpy(out, inp, sizeof(float) * item * (size_t)n);
}

/* dout n x item -> dinp n x item (accumulated) */
void copy_backward(float *dinp, const float *dout, size_t item, int n)
{
    if (!dinp) return;
    size_t m = item * (size_t)n;
    for (size_t i = 0; i < m; i++)
        dinp[i] += dout[i];
}

/* ---------------------------------------------------------------- Transpose */
/* Output position -> input offset: an odometer over the output item dims with
 * the input strides permuted. `add` selects the backward's accumulation. */
static void transpose_walk(float *dst, const float *src, const struct transpose_params *p,
                           int n, int backward)
{
    int nd = p->ndim;
    int64_t in_stride[G_MAX_DIMS], od[G_MAX_DIMS], os[G_MAX_DIMS];
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        in_stride[i] = s;
        s *= p->in_dims[i];
    }
    for (int i = 0; i < nd; i++) {
        od[i] = p->in_dims[p->perm[i]];
        os[i] = in_stride[p->perm[i]];
    }
    for (int b = 0; b < n; b++) {
        int64_t idx[G_MAX_DIMS] = {0};
        size_t off = 0;
        const float *S = src + b * p->item;
        float *D = dst + b * p->item;
        for (size_t o = 0; o < p->item; o++) {
            if (backward)
                D[off] += S[o]; /* dst = dinp (input layout), src = dout */
            else
                D[o] = S[off];
            for (int d = nd - 1; d >= 0; d--) {
                idx[d]++;
                off += (size_t)os[d];
                if (idx[d] < od[d]) break;
                off -= (size_t)(os[d] * idx[d]);
                idx[d] = 0;
            }
        }
    }
}

/* inp n x in_dims -> out n x in_dims[perm] */
void transpose_forward(float *out, const float *inp, const struct transpose_params *p, int n)
{
    transpose_walk(out, inp, p, n, 0);
}

/* dout n x in_dims[perm] -> dinp n x in_dims (accumulated) */
void transpose_backward(float *dinp, const float *dout, const struct transpose_params *p, int n)
{
    if (dinp) transpose_walk(dinp, dout, p, n, 1);
}

/* ---------------------------------------------------------------- Concat */
void concat_forward(float *out, const float *const *inputs, const struct concat_params *p,
                    int n)
{
    for (int b = 0; b < n; b++)
        for (size_t o = 0; o < p->outer; o++) {
            float *dst = out + ((size_t)b * p->outer + o) * p->out_inner;
            for (int i = 0; i < p->nin; i++) {
                memcpy(dst, inputs[i] + ((size_t)b * p->outer + o) * p->inner[i],
                       sizeof(float) * p->inner[i]);
                dst += p->inner[i];
            }
        }
}

/* dout n x outer x out_inner -> dinputs[i] n x outer x inner[i] (accumulated;
 * NULL entries skipped) */
void concat_backward(float *const *dinputs, const float *dout, const struct concat_params *p,
                     int n)
{
    for (int b = 0; b < n; b++)
        for (size_t o = 0; o < p->outer; o++) {
            const float *src = dout + ((size_t)b * p->outer + o) * p->out_inner;
            for (int i = 0; i < p->nin; i++) {
                if (dinputs[i]) {
                    float *d = dinputs[i] + ((size_t)b * p->outer + o) * p->inner[i];
                    for (size_t k = 0; k < p->inner[i]; k++)
                        d[k] += src[k];
                }
                src += p->inner[i];
            }
        }
}

/* ---------------------------------------------------------------- folding */
/* Value k of a constant as int64, whatever it holds. A float outside int64
 * (or NaN) saturates (or gives 0) rather than being converted undefinedly;
 * the extremes are then refused as sizes or indices by their users. */
static int64_t cval_i(const struct tensor *t, size_t k)
{
    if (t->is_int) return t->i64[k];
    float f = t->f[k];
    if (f != f) return 0;
    if (f >= 9.2e18f) return INT64_MAX;
    if (f <= -9.2e18f) return -INT64_MAX; /* not G_BATCH_SYM */
    return (int64_t)f;
}

/* Constant folding is for shape computations: a folded result may hold at
 * most its distinct inputs' values plus this many. A folded Gather or Concat
 * (or a chain of them) could otherwise turn a few bytes of file into
 * gigabytes of constants. */
#define FOLD_GROWTH_MAX ((size_t)1 << 24)

/* Makes `out` a constant of the given shape with zeroed data from the graph
 * arena; -1 with err set when the shape is negative, overflows, holds more
 * than `cap` values (see FOLD_GROWTH_MAX), or is over --max-elements /
 * --max-memory. */
static int set_const(struct graph *g, struct tensor *out, int is_int, int ndim,
                     const int64_t *dims, size_t cap, char *err, size_t errsz)
{
    const struct limits *lim = limits_get();
    size_t count = 1, bytes;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0) {
            snprintf(err, errsz, "constant result with a negative dimension (%lld)",
                     (long long)dims[i]);
            return -1;
        }
        if (!mul_ok(count, (size_t)dims[i], &count)) count = SIZE_MAX;
    }
    if (!mul_ok(count, is_int ? sizeof(int64_t) : sizeof(float), &bytes)) bytes = SIZE_MAX;
    if (count > cap) {
        snprintf(err, errsz,
                 "folding would make a constant of %s%zu values from inputs of %zu; constant "
                 "folding is for shape computations (a fixed engine limit)",
                 count == SIZE_MAX ? "more than " : "", count, cap - FOLD_GROWTH_MAX);
        return -1;
    }
    if (count > lim->max_elements || bytes > lim->max_bytes) {
        char need[32], have[32];
        if (count > lim->max_elements)
            snprintf(err, errsz,
                     "constant result of %s%zu values, over the limit of %llu (raise it with "
                     "--max-elements)",
                     count == SIZE_MAX ? "more than " : "", count,
                     (unsigned long long)lim->max_elements);
        else
            snprintf(err, errsz,
                     "constant result needs %s, over the %s allowed (raise it with "
                     "--max-memory)",
                     limits_format_bytes(bytes, need, sizeof need),
                     limits_format_bytes(lim->max_bytes, have, sizeof have));
        return -1;
    }
    if (!graph_alloc_fits(g, bytes)) {
        char need[32], have[32];
        snprintf(err, errsz,
                 "constant result of %s would bring the model's constants over the %s "
                 "allowed (raise it with --max-memory)",
                 limits_format_bytes(bytes, need, sizeof need),
                 limits_format_bytes(lim->max_bytes, have, sizeof have));
        return -1;
    }
    out->batched = 0;
    out->is_int = is_int;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        out->dims[i] = dims[i];
    out->item = count;
    if (is_int)
        out->i64 = graph_alloc(g, sizeof(int64_t) * (count ? count : 1));
    else
        out->f = graph_alloc(g, sizeof(float) * (count ? count : 1));
    return 0;
}

static int int_list(const struct tensor *t, int64_t *v, int max, char *err, size_t errsz)
{
    if (!t || t->batched || t->item > (size_t)max) {
        snprintf(err, errsz, "needs a constant list of at most %d values", max);
        return -1;
    }
    for (size_t k = 0; k < t->item; k++)
        v[k] = cval_i(t, k);
    return (int)t->item;
}

int fold_node(struct graph *g, const char *op, struct tensor *const *ins, int nin,
              const struct fold_attrs *at, struct tensor *out, char *err, size_t errsz)
{
    const struct tensor *x = nin > 0 ? ins[0] : NULL;
    if (!x) return 1;
    size_t cap = FOLD_GROWTH_MAX; /* the distinct inputs' values + FOLD_GROWTH_MAX */
    for (int i = 0; i < nin; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= ins[j] == ins[i];
        if (ins[i] && !seen && !ins[i]->batched) cap += ins[i]->item;
    }
    if (!strcmp(op, "Shape")) { /* known shape; the batch stays symbolic */
        int64_t start = at->has_start ? at->start : 0, end = at->has_end ? at->end : x->ndim;
        if (start < 0) start += x->ndim;
        if (end < 0) end += x->ndim;
        if (start < 0) start = 0;
        if (end > x->ndim) end = x->ndim;
        int64_t len = end > start ? end - start : 0;
        if (set_const(g, out, 1, 1, &len, cap, err, errsz)) return -1;
        for (int64_t k = 0; k < len; k++)
            out->i64[k] = (x->batched && start + k == 0) ? G_BATCH_SYM : x->dims[start + k];
        return 0;
    }
    for (int i = 0; i < nin; i++)
        if (ins[i] && ins[i]->batched) return 1; /* a runtime op */
    if (!strcmp(op, "Identity") || !strcmp(op, "Cast")) {
        int to_int = x->is_int;
        if (!strcmp(op, "Cast")) {
            if (at->to == 1 || at->to == 11 || at->to == 10)
                to_int = 0;
            else if (at->to == 6 || at->to == 7 || at->to == 9 || at->to == 2 || at->to == 3)
                to_int = 1;
            else {
                snprintf(err, errsz, "Cast to data type %lld is not supported",
                         (long long)at->to);
                return -1;
            }
        }
        if (set_const(g, out, to_int, x->ndim, x->dims, cap, err, errsz)) return -1;
        for (size_t k = 0; k < x->item; k++) {
            if (x->is_int && x->i64[k] == G_BATCH_SYM && !to_int) {
                snprintf(err, errsz, "the batch size cannot be cast to float");
                return -1;
            }
            if (to_int)
                out->i64[k] = cval_i(x, k);
            else
                out->f[k] = x->is_int ? (float)x->i64[k] : x->f[k];
        }
        return 0;
    }
    if (!strcmp(op, "Gather")) {
        const struct tensor *idx = nin > 1 ? ins[1] : NULL;
        if (!idx) return 1;
        int64_t axis = at->has_axis ? at->axis : 0;
        if (axis < 0) axis += x->ndim;
        if (axis < 0 || axis >= x->ndim || x->ndim + idx->ndim - 1 > G_MAX_DIMS) {
            snprintf(err, errsz, "Gather axis %lld out of range", (long long)at->axis);
            return -1;
        }
        int64_t od[G_MAX_DIMS];
        int nd = 0;
        size_t outer = 1, inner = 1;
        for (int i = 0; i < axis; i++)
            od[nd++] = x->dims[i], outer *= (size_t)x->dims[i];
        for (int i = 0; i < idx->ndim; i++)
            od[nd++] = idx->dims[i];
        for (int i = (int)axis + 1; i < x->ndim; i++)
            od[nd++] = x->dims[i], inner *= (size_t)x->dims[i];
        if (set_const(g, out, x->is_int, nd, od, cap, err, errsz)) return -1;
        size_t o = 0, len = (size_t)x->dims[axis];
        for (size_t a = 0; a < outer; a++)
            for (size_t k = 0; k < idx->item; k++) {
                int64_t j = cval_i(idx, k);
                if (j < 0) j += (int64_t)len;
                if (j < 0 || (size_t)j >= len) {
                    snprintf(err, errsz, "Gather index %lld out of range", (long long)j);
                    return -1;
                }
                for (size_t in = 0; in < inner; in++, o++) {
                    size_t src = (a * len + (size_t)j) * inner + in;
                    if (x->is_int)
                        out->i64[o] = x->i64[src];
                    else
                        out->f[o] = x->f[src];
                }
            }
        return 0;
    }
    if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze")) {
        int64_t axes[G_MAX_DIMS];
        int na = 0;
        if (at->has_axes) {
            na = at->naxes;
            memcpy(axes, at->axes, sizeof(int64_t) * (size_t)na);
        } else if (nin > 1 && ins[1]) {
            if ((na = int_list(ins[1], axes, G_MAX_DIMS, err, errsz)) < 0) return -1;
        }
        int64_t od[G_MAX_DIMS];
        int nd = 0;
        if (op[0] == 'U') {
            int r = x->ndim + na, src = 0;
            if (r > G_MAX_DIMS) {
                snprintf(err, errsz, "rank %d is more than %d", r, G_MAX_DIMS);
                return -1;
            }
            for (int i = 0; i < r; i++) {
                int ins1 = 0;
                for (int k = 0; k < na; k++)
                    if (axes[k] == i || axes[k] + r == i) ins1 = 1;
                od[nd++] = ins1 ? 1 : x->dims[src++];
            }
            if (src != x->ndim) {
                snprintf(err, errsz, "Unsqueeze axes out of range");
                return -1;
            }
        } else {
            for (int i = 0; i < x->ndim; i++) {
                int drop = na == 0 ? x->dims[i] == 1 : 0;
                for (int k = 0; k < na; k++)
                    if (axes[k] == i || axes[k] + x->ndim == i) drop = 1;
                if (!drop)
                    od[nd++] = x->dims[i];
                else if (x->dims[i] != 1) {
                    snprintf(err, errsz, "Squeeze of dimension %d of size %lld", i,
                             (long long)x->dims[i]);
                    return -1;
                }
            }
        }
        if (set_const(g, out, x->is_int, nd, od, cap, err, errsz)) return -1;
        if (out->item != x->item) {
            snprintf(err, errsz, "%s changes %zu values to %zu", op, x->item, out->item);
            return -1;
        }
        if (x->is_int)
            memcpy(out->i64, x->i64, sizeof(int64_t) * x->item);
        else
            memcpy(out->f, x->f, sizeof(float) * x->item);
        return 0;
    }
    if (!strcmp(op, "Concat")) {
        int64_t axis = at->axis;
        if (axis < 0) axis += x->ndim;
        if (axis < 0 || axis >= x->ndim) {
            snprintf(err, errsz, "Concat axis out of range");
            return -1;
        }
        int64_t od[G_MAX_DIMS];
        memcpy(od, x->dims, sizeof od);
        od[axis] = 0;
        for (int i = 0; i < nin; i++) {
            if (!ins[i] || ins[i]->ndim != x->ndim || ins[i]->is_int != x->is_int) {
                snprintf(err, errsz, "Concat inputs differ in rank or type");
                return -1;
            }
            for (int d = 0; d < x->ndim; d++)
                if (d != axis && ins[i]->dims[d] != x->dims[d]) {
                    snprintf(err, errsz,
                             "Concat input %d differs from input 0 in dimension %d (%lld vs "
                             "%lld)",
                             i, d, (long long)ins[i]->dims[d], (long long)x->dims[d]);
                    return -1;
                }
            if (__builtin_add_overflow(od[axis], ins[i]->dims[axis], &od[axis])) {
                snprintf(err, errsz, "Concat result too large");
                return -1;
            }
        }
        if (set_const(g, out, x->is_int, x->ndim, od, cap, err, errsz)) return -1;
        size_t outer = 1;
        for (int i = 0; i < axis; i++)
            outer *= (size_t)x->dims[i];
        size_t o = 0;
        for (size_t a = 0; a < outer; a++)
            for (int i = 0; i < nin; i++) {
                size_t inner = ins[i]->item / (outer ? outer : 1);
                for (size_t k = 0; k < inner; k++, o++) {
                    if (x->is_int)
                        out->i64[o] = ins[i]->i64[a * inner + k];
                    else
                        out->f[o] = ins[i]->f[a * inner + k];
                }
            }
        return 0;
    }
    if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten")) {
        int64_t sh[G_MAX_DIMS];
        int ns;
        if (op[0] == 'F') {
            int64_t axis = at->has_axis ? at->axis : 1;
            if (axis < 0) axis += x->ndim;
            if (axis < 0 || axis > x->ndim) {
                snprintf(err, errsz, "Flatten axis %lld out of range for rank %d",
                         (long long)(at->has_axis ? at->axis : 1), x->ndim);
                return -1;
            }
            size_t a = 1, b = 1;
            for (int i = 0; i < x->ndim; i++)
                if (!mul_ok(i < axis ? a : b, (size_t)x->dims[i], i < axis ? &a : &b) ||
                    a > INT64_MAX || b > INT64_MAX) {
                    snprintf(err, errsz, "Flatten result too large");
                    return -1;
                }
            sh[0] = (int64_t)a;
            sh[1] = (int64_t)b;
            ns = 2;
        } else {
            if ((ns = int_list(nin > 1 ? ins[1] : NULL, sh, G_MAX_DIMS, err, errsz)) < 0)
                return -1;
            int64_t known = 1;
            int infer = -1;
            for (int i = 0; i < ns; i++) {
                if (sh[i] == 0 && !at->allowzero) sh[i] = i < x->ndim ? x->dims[i] : 1;
                if (sh[i] == -1) {
                    if (infer >= 0) {
                        snprintf(err, errsz, "Reshape target with more than one -1");
                        return -1;
                    }
                    infer = i;
                } else if (sh[i] < 0) {
                    snprintf(err, errsz, "Reshape to a symbolic shape of a constant");
                    return -1;
                } else if (__builtin_mul_overflow(known, sh[i], &known)) {
                    known = INT64_MAX; /* more than any constant holds: refused below */
                }
            }
            if (infer >= 0) sh[infer] = known ? (int64_t)x->item / known : 0;
        }
        size_t count = 1;
        for (int i = 0; i < ns; i++)
            if (!mul_ok(count, (size_t)sh[i], &count)) count = SIZE_MAX;
        if (count != x->item) {
            snprintf(err, errsz, "Reshape of %zu values to %zu", x->item, count);
            return -1;
        }
        if (set_const(g, out, x->is_int, ns, sh, cap, err, errsz)) return -1;
        if (x->is_int)
            memcpy(out->i64, x->i64, sizeof(int64_t) * x->item);
        else
            memcpy(out->f, x->f, sizeof(float) * x->item);
        return 0;
    }
    if (!strcmp(op, "Slice")) {
        if (x->ndim != 1 || nin < 3 || !ins[1] || !ins[2]) {
            snprintf(err, errsz,
                     "only 1-D constant Slice with starts/ends inputs is supported");
            return -1;
        }
        int64_t len = x->dims[0];
        int64_t s = cval_i(ins[1], 0), e = cval_i(ins[2], 0), st = 1;
        if (nin > 4 && ins[4]) st = cval_i(ins[4], 0);
        if (st != 1) {
            snprintf(err, errsz, "Slice step %lld is not supported", (long long)st);
            return -1;
        }
        if (s < 0) s += len;
        if (e < 0) e += len;
        s = s < 0 ? 0 : s > len ? len : s;
        e = e < 0 ? 0 : e > len ? len : e;
        int64_t n = e > s ? e - s : 0;
        if (set_const(g, out, x->is_int, 1, &n, cap, err, errsz)) return -1;
        for (int64_t k = 0; k < n; k++) {
            if (x->is_int)
                out->i64[k] = x->i64[s + k];
            else
                out->f[k] = x->f[s + k];
        }
        return 0;
    }
    if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div")) {
        const struct tensor *y = nin > 1 ? ins[1] : NULL;
        if (!y) return 1;
        if (x->item != y->item && x->item != 1 && y->item != 1) {
            snprintf(err, errsz, "constant arithmetic needs equal shapes or a scalar");
            return -1;
        }
        const struct tensor *big = x->item >= y->item ? x : y;
        int is_int = x->is_int && y->is_int;
        if (set_const(g, out, is_int, big->ndim, big->dims, cap, err, errsz)) return -1;
        for (size_t k = 0; k < big->item; k++) {
            size_t i = x->item == 1 ? 0 : k, j = y->item == 1 ? 0 : k;
            if (is_int) {
                int64_t u = x->i64[i], v = y->i64[j];
                if (u == G_BATCH_SYM || v == G_BATCH_SYM) {
                    snprintf(err, errsz, "arithmetic on the symbolic batch size");
                    return -1;
                }
                int64_t w = 0;
                int over = op[0] == 'A'   ? __builtin_add_overflow(u, v, &w)
                           : op[0] == 'S' ? __builtin_sub_overflow(u, v, &w)
                           : op[0] == 'M' ? __builtin_mul_overflow(u, v, &w)
                                          : (w = v ? u / v : 0, 0); /* u != INT64_MIN */
                if (over) {
                    snprintf(err, errsz, "%s of constants %lld and %lld overflows", op,
                             (long long)u, (long long)v);
                    return -1;
                }
                out->i64[k] = w;
            } else {
                float u = x->is_int ? (float)x->i64[i] : x->f[i];
                float v = y->is_int ? (float)y->i64[j] : y->f[j];
                out->f[k] = op[0] == 'A'   ? u + v
                            : op[0] == 'S' ? u - v
                            : op[0] == 'M' ? u * v
                                           : u / v;
            }
        }
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- Pad (constant) */
/* An odometer over the input's rows (all item dims but the last): gives the
 * output offset of each row in turn. */
struct pad_iter {
    const struct pad_params *p;
    int64_t idx[G_MAX_DIMS], ostride[G_MAX_DIMS];
    size_t rows, len;
};

static void pad_iter_init(struct pad_iter *it, const struct pad_params *p)
{
    memset(it, 0, sizeof *it);
    it->p = p;
    int64_t s = 1;
    for (int i = p->ndim - 1; i >= 0; i--) {
        it->ostride[i] = s;
        s *= p->out_dims[i];
    }
    it->len = p->ndim ? (size_t)p->in_dims[p->ndim - 1] : 1;
    it->rows = it->len ? p->in_item / it->len : 0;
}

static size_t pad_iter_offset(struct pad_iter *it)
{
    size_t o = 0;
    for (int i = 0; i < it->p->ndim; i++)
        o += (size_t)((it->idx[i] + it->p->begin[i]) * it->ostride[i]);
    return o;
}

static void pad_iter_next(struct pad_iter *it)
{
    for (int d = it->p->ndim - 2; d >= 0; d--) {
        if (++it->idx[d] < it->p->in_dims[d]) break;
        it->idx[d] = 0;
    }
}

/* inp n x in_dims -> out n x out_dims, p->value outside */
void pad_forward(float *out, const float *inp, const struct pad_params *p, int n)
{
    for (int b = 0; b < n; b++) {
        float *o = out + (size_t)b * p->out_item;
        const float *x = inp + (size_t)b * p->in_item;
        for (size_t i = 0; i < p->out_item; i++)
            o[i] = p->value;
        struct pad_iter it;
        pad_iter_init(&it, p);
        for (size_t r = 0; r < it.rows; r++, pad_iter_next(&it))
            memcpy(o + pad_iter_offset(&it), x + r * it.len, sizeof(float) * it.len);
    }
}

/* dout n x out_dims -> dinp n x in_dims (accumulated): the inner window */
void pad_backward(float *dinp, const float *dout, const struct pad_params *p, int n)
{
    if (!dinp) return;
    for (int b = 0; b < n; b++) {
        const float *g = dout + (size_t)b * p->out_item;
        float *d = dinp + (size_t)b * p->in_item;
        struct pad_iter it;
        pad_iter_init(&it, p);
        for (size_t r = 0; r < it.rows; r++, pad_iter_next(&it)) {
            const float *src = g + pad_iter_offset(&it);
            float *dst = d + r * it.len;
            for (size_t k = 0; k < it.len; k++)
                dst[k] += src[k];
        }
    }
}

/* ---------------------------------------------------------------- Slice */
/* The window of a slice as the inner part of a pad: the same iterator walks
 * the window's rows and gives each row's offset in the full tensor. */
static struct pad_params slice_as_pad(const struct pad_params *p)
{
    struct pad_params q = *p;
    memcpy(q.in_dims, p->out_dims, sizeof q.in_dims);
    memcpy(q.out_dims, p->in_dims, sizeof q.out_dims);
    q.in_item = p->out_item, q.out_item = p->in_item;
    return q;
}

/* inp n x in_dims -> out n x out_dims: the window at p->begin */
void slice_forward(float *out, const float *inp, const struct pad_params *p, int n)
{
    struct pad_params q = slice_as_pad(p);
    for (int b = 0; b < n; b++) {
        float *o = out + (size_t)b * p->out_item;
        const float *x = inp + (size_t)b * p->in_item;
        struct pad_iter it;
        pad_iter_init(&it, &q);
        for (size_t r = 0; r < it.rows; r++, pad_iter_next(&it))
            memcpy(o + r * it.len, x + pad_iter_offset(&it), sizeof(float) * it.len);
    }
}

/* dout n x out_dims -> dinp n x in_dims (accumulated into the window) */
void slice_backward(float *dinp, const float *dout, const struct pad_params *p, int n)
{
    if (!dinp) return;
    struct pad_params q = slice_as_pad(p);
    for (int b = 0; b < n; b++) {
        const float *g = dout + (size_t)b * p->out_item;
        float *d = dinp + (size_t)b * p->in_item;
        struct pad_iter it;
        pad_iter_init(&it, &q);
        for (size_t r = 0; r < it.rows; r++, pad_iter_next(&it)) {
            float *dst = d + pad_iter_offset(&it);
            const float *src = g + r * it.len;
            for (size_t k = 0; k < it.len; k++)
                dst[k] += src[k];
        }
    }
}
