/* op_elementwise.c - Add, Sub, Mul, Div with numpy broadcasting: forward and
 * backward. Operands are activations (one item per batch entry) or constants
 * (shared by every item); strides of 0 express broadcasting, so the backward
 * pass sums a broadcast operand's gradient by accumulating through the same map.
 */
#include <stdio.h>
#include <string.h>

#include "graph.h"

/* ---------------------------------------------------------------- prepare */
int eltwise_prepare(struct eltwise_params *p, const struct tensor *a, const struct tensor *b,
                    struct tensor *out, char *err, size_t errsz)
{
    const struct tensor *ops[2] = {a, b};
    int R = a->ndim > b->ndim ? a->ndim : b->ndim;
    memset(p, 0, sizeof *p);
    for (int k = 0; k < 2; k++)
        if (ops[k]->batched && ops[k]->ndim != R) {
            snprintf(err, errsz, "broadcasting would move the batch axis (ranks %d and %d)",
                     a->ndim, b->ndim);
            return -1;
        }
    int64_t od[G_MAX_DIMS];
    for (int i = 0; i < R; i++) {
        int64_t d = 1;
        for (int k = 0; k < 2; k++) {
            int j = i - (R - ops[k]->ndim);
            if (j < 0) continue;
            int64_t e = ops[k]->dims[j];
            if (i == 0 && !ops[k]->batched && (a->batched || b->batched) && e != 1) {
                snprintf(err, errsz, "a constant of %lld along the batch axis", (long long)e);
                return -1;
            }
            if (e == d || e == 1) continue;
            if (d != 1) {
                snprintf(err, errsz, "shapes do not broadcast (dim %d: %lld vs %lld)", i,
                         (long long)d, (long long)e);
                return -1;
            }
            d = e;
        }
        od[i] = d;
    }
    out->ndim = R;
    memcpy(out->dims, od, sizeof od);
    out->batched = 1;
    tensor_update_item(out);
    /* item dims: 1..R-1 (a batched tensor's dims[0] is the batch) */
    p->ndim = R - 1;
    for (int i = 1; i < R; i++)
        p->dims[i - 1] = od[i];
    for (int k = 0; k < 2; k++) {
        const struct tensor *t = ops[k];
        int64_t *s = k ? p->sb : p->sa;
        int64_t stride = 1;
        for (int i = R - 1; i >= 1; i--) {
            int j = i - (R - t->ndim);
            int64_t e = j >= 0 ? t->dims[j] : 1;
            s[i - 1] = (e == 1 && od[i] != 1) ? 0 : stride;
            stride *= e;
        }
        if (k)
            p->item_b = t->batched ? t->item : 0;
        else
            p->item_a = t->batched ? t->item : 0;
    }
    p->item = out->item;
    p->same = a->batched && b->batched && a->item == out->item && b->item == out->item;
    return 0;
}

/* ---------------------------------------------------------------- forward */
static inline float elt(enum op_type op, float x, float y)
{
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    default: return x / y;
    }
}

/* Walks the output item in row-major order; for each innermost run calls the
 * body with the offsets of a and b. The odometer covers ndim - 1 outer dims. */
#define ELT_WALK(p, BODY)                                                                      \
    do {                                                                                       \
        int nd_ = (p)->ndim;                                                                   \
        int64_t last_ = nd_ ? (p)->dims[nd_ - 1] : 1;                                          \
        int64_t la_ = nd_ ? (p)->sa[nd_ - 1] : 0, lb_ = nd_ ? (p)->sb[nd_ - 1] : 0;            \
        int64_t idx_[G_MAX_DIMS] = {0};                                                        \
        size_t o_ = 0, oa_ = 0, ob_ = 0;                                                       \
        for (;;) {                                                                             \
            for (int64_t k_ = 0; k_ < last_; k_++) {                                           \
                size_t io = o_ + (size_t)k_, ia = oa_ + (size_t)(k_ * la_),                    \
                       ib = ob_ + (size_t)(k_ * lb_);                                          \
                (void)ia;                                                                      \
                (void)ib;                                                                      \
                BODY;                                                                          \
            }                                                                                  \
            o_ += (size_t)last_;                                                               \
            int d_ = nd_ - 2;                                                                  \
            for (; d_ >= 0; d_--) {                                                            \
                idx_[d_]++;                                                                    \
                oa_ += (size_t)(p)->sa[d_];                                                    \
                ob_ += (size_t)(p)->sb[d_];                                                    \
                if (idx_[d_] < (p)->dims[d_]) break;                                           \
                oa_ -= (size_t)((p)->sa[d_] * idx_[d_]);                                       \
                ob_ -= (size_t)((p)->sb[d_] * idx_[d_]);                                       \
                idx_[d_] = 0;                                                                  \
            }                                                                                  \
            if (d_ < 0) break;                                                                 \
        }                                                                                      \
    } while (0)

/* a: n x item_a (or a constant), b likewise -> out n x item */
void eltwise_forward(enum op_type op, float *out, const float *a, const float *b,
                     const struct eltwise_params *p, int n)
{
    for (int bt = 0; bt < n; bt++) {
        const float *A = a + bt * p->item_a, *B = b + bt * p->item_b;
        float *O = out + bt * p->item;
        if (p->same) {
            for (size_t i = 0; i < p->item; i++)
                O[i] = elt(op, A[i], B[i]);
            continue;
        }
        ELT_WALK(p, O[io] = elt(op, A[ia], B[ib]));
    }
}

/* ---------------------------------------------------------------- backward */
/* dout n x item, a and b as in the forward -> da, db (accumulated; NULL skips).
 * d(a+b) = (1, 1), d(a-b) = (1, -1), d(ab) = (b, a), d(a/b) = (1/b, -a/b^2). */
void eltwise_backward(enum op_type op, float *da, float *db, const float *dout, const float *a,
                      const float *b, const struct eltwise_params *p, int n)
{
    for (int bt = 0; bt < n; bt++) {
        const float *A = a + bt * p->item_a, *B = b + bt * p->item_b;
        const float *G = dout + bt * p->item;
        float *DA = da ? da + bt * p->item_a : NULL;
        float *DB = db ? db + bt * p->item_b : NULL;
        if (DA) switch (op) {
            case OP_ADD:
            case OP_SUB: ELT_WALK(p, DA[ia] += G[io]); break;
            case OP_MUL: ELT_WALK(p, DA[ia] += G[io] * B[ib]); break;
            default: ELT_WALK(p, DA[ia] += G[io] / B[ib]); break;
            }
        if (DB) switch (op) {
            case OP_ADD: ELT_WALK(p, DB[ib] += G[io]); break;
            case OP_SUB: ELT_WALK(p, DB[ib] -= G[io]); break;
            case OP_MUL: ELT_WALK(p, DB[ib] += G[io] * A[ia]); break;
            default: ELT_WALK(p, DB[ib] -= G[io] * A[ia] / (B[ib] * B[ib])); break;
            }
    }
}
