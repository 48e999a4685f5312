/* graph_region.c - incremental forward passes for occlusion (see
 * graph_region.h): box propagation through the spatial ops, per-copy kernels
 * on the boxes (a window of the original activation with the copy's changed
 * box laid over it), and a full batched run of the non-spatial tail.
 */
#include "graph_region.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "util.h"

/* ---------------------------------------------------------------- layout */
/* Transpose of the item dims: (1,2,0) takes C,H,W to H,W,C; (2,0,1) back. */
static int perm_is(const struct transpose_params *p, int a, int b, int c)
{
    return p->ndim == 3 && p->perm[0] == a && p->perm[1] == b && p->perm[2] == c;
}

static int same_dims(const struct tensor *a, const struct tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 1; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

static int tensor_nhwc(const struct graph *g, int t)
{
    for (;;) {
        const struct tensor *x = &g->t[t];
        if (x->ndim != 4 || !x->batched) return 0;
        if (t == g->input) return g->layout_nhwc;
        int p = x->producer;
        if (p < 0) return 0;
        const struct node *nd = &g->nodes[p];
        if (nd->op == OP_TRANSPOSE) return perm_is(&nd->p.tr, 1, 2, 0);
        if (!(op_is_pointwise(nd->op) || (nd->op == OP_COPY && same_dims(x, &g->t[nd->in[0]]))))
            return 0;
        t = nd->in[0];
    }
}

enum model_layout graph_region_layout(const struct model *m, int id)
{
    const struct graph *g = model_graph(m);
    if (id < 0 || id >= g->nt) return MODEL_NCHW;
    return tensor_nhwc(g, id) ? MODEL_NHWC : MODEL_NCHW;
}

/* ---------------------------------------------------------------- plan */
enum { RM_OFF, RM_REGION, RM_FULL };

struct rbox {
    int y, x, h, w; /* h or w 0: unchanged */
};

struct rt {
    int mode, nhwc;
    int C, H, W;
    int maxh, maxw;    /* the largest box any planned position gives */
    size_t slot;       /* floats per copy in box: C * maxh * maxw */
    float *box;        /* max_batch slots; copy i: C x h x w (NCHW) or h x w x C */
    struct rbox *b;    /* per copy */
    int need_full;     /* read by a full node (or the score): materialised */
    int materialised;  /* in the current batch */
    float *full;       /* max_batch x item */
    const float *orig; /* the base activation (one item) */
};

struct region_run {
    const struct model *m;
    const struct graph *g;
    int score, max_batch, ph, pw, npos_planned;
    struct rt *t;
    char *need;               /* per node */
    float *win[G_MAX_INPUTS]; /* window scratch, one per input slot */
    size_t win_floats[G_MAX_INPUTS];
    float *col;
    size_t col_floats;
    struct model_run *base;
    int have_base;
    double mac_region, mac_full; /* per copy, worst case */
};

/* floor(a / b) and ceil(a / b) for b > 0 and any sign of a */
static int floor_div(int a, int b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}
static int ceil_div(int a, int b)
{
    return -floor_div(-a, b);
}

/* Output positions whose window [o*s - pad, o*s - pad + (k-1)*d] meets the
 * changed input span [a, a + len): a contiguous range (the window treated as
 * its full span, a superset for dilated kernels), clamped to [0, on). */
static void axis_reach(int a, int len, int k, int s, int d, int pad, int on, int *o0, int *olen)
{
    if (len <= 0) {
        *o0 = 0, *olen = 0;
        return;
    }
    int lo = ceil_div(a + pad - (k - 1) * d, s), hi = floor_div(a + len - 1 + pad, s);
    if (lo < 0) lo = 0;
    if (hi > on - 1) hi = on - 1;
    *o0 = lo;
    *olen = hi >= lo ? hi - lo + 1 : 0;
}

struct win_geom {
    int kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, h, w, oh, ow;
};

static struct win_geom geom_of(const struct node *nd)
{
    struct win_geom q;
    if (nd->op == OP_CONV) {
        const struct conv_params *p = &nd->p.conv;
        q = (struct win_geom){p->kh, p->kw, p->sh, p->sw, p->dh, p->dw, p->pt,
                              p->pl, p->pb, p->pr, p->h,  p->w,  p->oh, p->ow};
    } else {
        const struct pool_params *p = &nd->p.pool;
        q = (struct win_geom){p->kh, p->kw, p->sh, p->sw, 1,    1,     p->pt,
                              p->pl, p->pb, p->pr, p->h,  p->w, p->oh, p->ow};
    }
    return q;
}

static int box_empty(const struct rbox *b)
{
    return b->h <= 0 || b->w <= 0;
}

static struct rbox box_union(struct rbox a, struct rbox b)
{
    if (box_empty(&a)) return b;
    if (box_empty(&b)) return a;
    int y0 = a.y < b.y ? a.y : b.y, x0 = a.x < b.x ? a.x : b.x;
    int y1 = a.y + a.h > b.y + b.h ? a.y + a.h : b.y + b.h;
    int x1 = a.x + a.w > b.x + b.w ? a.x + a.w : b.x + b.w;
    return (struct rbox){y0, x0, y1 - y0, x1 - x0};
}

/* A constant operand of a regional Add/Sub/Mul/Div must not vary over H, W. */
static int const_spatially_flat(const struct tensor *c)
{
    for (int i = c->ndim - 1; i >= 0 && i >= c->ndim - 2; i--)
        if (c->dims[i] != 1) return 0;
    return c->ndim <= 4 && (c->ndim < 4 || c->dims[0] == 1);
}

/* Can node nd produce its output as boxes? Sets *nhwc for the output. */
static int region_capable(const struct region_run *r, const struct node *nd, int *nhwc)
{
    const struct graph *g = r->g;
    const struct tensor *o = &g->t[nd->out];
    if (!o->batched || o->ndim != 4) return 0;
    int nbatched = 0, in_nhwc = 0;
    for (int k = 0; k < nd->nin; k++) {
        int t = nd->in[k];
        if (t < 0 || !g->t[t].batched) continue;
        if (r->t[t].mode != RM_REGION) return 0;
        if (nbatched && r->t[t].nhwc != in_nhwc) return 0;
        in_nhwc = r->t[t].nhwc;
        nbatched++;
    }
    int eltwise = nd->op == OP_ADD || nd->op == OP_SUB || nd->op == OP_MUL || nd->op == OP_DIV;
    if (!nbatched || (!g->t[nd->in[0]].batched && !eltwise)) return 0;
    const struct tensor *x = &g->t[nd->in[0]];
    *nhwc = in_nhwc;
    switch (nd->op) {
    case OP_CONV:
    case OP_MAXPOOL:
    case OP_AVGPOOL:
    case OP_BATCHNORM:
        return !in_nhwc && x->batched;
    OP_CASES_POINTWISE:
        return 1;
    case OP_COPY: return same_dims(x, o);
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
        if (in_nhwc) return 0;
        for (int k = 0; k < 2; k++) {
            const struct tensor *a = &g->t[nd->in[k]];
            if (a->batched ? !same_dims(a, o) : !const_spatially_flat(a)) return 0;
        }
        return 1;
    case OP_CONCAT:
        if (in_nhwc || nd->p.cat.outer != 1) return 0;
        for (int k = 0; k < nd->nin; k++) {
            const struct tensor *a = &g->t[nd->in[k]];
            if (!a->batched || a->ndim != 4 || a->dims[2] != o->dims[2] ||
                a->dims[3] != o->dims[3])
                return 0;
        }
        return 1;
    case OP_PAD:
        return !in_nhwc && nd->p.pad.ndim == 3 && nd->p.pad.begin[0] == 0 &&
               nd->p.pad.out_dims[0] == nd->p.pad.in_dims[0];
    case OP_TRANSPOSE:
        if (!in_nhwc && perm_is(&nd->p.tr, 1, 2, 0)) return *nhwc = 1, 1;
        if (in_nhwc && perm_is(&nd->p.tr, 2, 0, 1)) return *nhwc = 0, 1;
        return 0;
    default: return 0;
    }
}

static void rt_dims(struct rt *t, const struct tensor *x)
{
    if (t->nhwc)
        t->H = (int)x->dims[1], t->W = (int)x->dims[2], t->C = (int)x->dims[3];
    else
        t->C = (int)x->dims[1], t->H = (int)x->dims[2], t->W = (int)x->dims[3];
}

/* The box of node nd's output given its inputs' boxes (copy i). */
static struct rbox node_box(const struct region_run *r, const struct node *nd, int i)
{
    const struct graph *g = r->g;
    const struct rbox *in0 = &r->t[nd->in[0]].b[i];
    struct rbox ob = {0, 0, 0, 0};
    switch (nd->op) {
    case OP_CONV:
    case OP_MAXPOOL:
    case OP_AVGPOOL: {
        struct win_geom q = geom_of(nd);
        axis_reach(in0->y, in0->h, q.kh, q.sh, q.dh, q.pt, q.oh, &ob.y, &ob.h);
        axis_reach(in0->x, in0->w, q.kw, q.sw, q.dw, q.pl, q.ow, &ob.x, &ob.w);
        if (box_empty(&ob)) ob.h = ob.w = 0;
        return ob;
    }
    case OP_PAD:
        ob = *in0;
        ob.y += (int)nd->p.pad.begin[1];
        ob.x += (int)nd->p.pad.begin[2];
        return ob;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_CONCAT:
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] >= 0 && g->t[nd->in[k]].batched)
                ob = box_union(ob, r->t[nd->in[k]].b[i]);
        return ob;
    default: return *in0; /* pointwise, copy, transpose */
    }
}

/* Input rows (or columns) a windowed op reads for outputs [o0, o0+on):
 * [start, end) clipped to the plane, and the padding cut off each side. */
static void win_span(int o0, int on, int k, int s, int d, int pad, int pad_end, int size,
                     int *start, int *len, int *cut_lo, int *cut_hi)
{
    int r0 = o0 * s - pad, r1 = (o0 + on - 1) * s - pad + (k - 1) * d + 1;
    int ws = r0 < 0 ? 0 : r0, we = r1 > size ? size : r1;
    *start = ws, *len = we - ws;
    *cut_lo = ws - r0;
    /* never more than the op's own end padding: the AveragePool divisor
     * clips windows at size + pad_end */
    *cut_hi = r1 - we < pad_end ? r1 - we : pad_end;
}

/* Window floats a node's input k needs for copy i (0 when it needs none). */
static size_t node_window_floats(const struct region_run *r, const struct node *nd, int k,
                                 const struct rbox *ob)
{
    const struct graph *g = r->g;
    if (box_empty(ob)) return 0;
    if (nd->op == OP_CONV || nd->op == OP_MAXPOOL || nd->op == OP_AVGPOOL) {
        if (k) return 0;
        struct win_geom q = geom_of(nd);
        int ys, yl, xs, xl, a, b;
        win_span(ob->y, ob->h, q.kh, q.sh, q.dh, q.pt, q.pb, q.h, &ys, &yl, &a, &b);
        win_span(ob->x, ob->w, q.kw, q.sw, q.dw, q.pl, q.pr, q.w, &xs, &xl, &a, &b);
        return (size_t)r->t[nd->in[0]].C * (size_t)(yl > 0 ? yl : 0) *
               (size_t)(xl > 0 ? xl : 0);
    }
    int eltwise = nd->op == OP_ADD || nd->op == OP_SUB || nd->op == OP_MUL || nd->op == OP_DIV;
    if ((eltwise || nd->op == OP_CONCAT) && nd->in[k] >= 0 && g->t[nd->in[k]].batched)
        return (size_t)r->t[nd->in[k]].C * (size_t)ob->h * (size_t)ob->w;
    return 0;
}

static double conv_macs(const struct conv_params *p, int oh, int ow)
{
    return (double)oh * ow * p->m * (double)(p->c / p->group) * p->kh * p->kw;
}

void region_run_free(struct region_run *r)
{
    if (!r) return;
    if (r->t)
        for (int i = 0; i < r->g->nt; i++) {
            free(r->t[i].box);
            free(r->t[i].b);
            free(r->t[i].full);
        }
    free(r->t);
    free(r->need);
    for (int k = 0; k < G_MAX_INPUTS; k++)
        free(r->win[k]);
    free(r->col);
    model_run_free(r->base);
    free(r);
}

static int check_pos(const struct region_run *r, int y, int x)
{
    const struct rt *in = &r->t[r->g->input];
    if (y < 0 || x < 0 || y + r->ph > in->H || x + r->pw > in->W)
        return error_set(ERR_INPUT, NULL, "patch %dx%d at (%d, %d) is outside the %dx%d input",
                         r->ph, r->pw, y, x, in->H, in->W);
    return 0;
}

struct region_run *region_run_new(const struct model *m, int score, int max_batch, int ph,
                                  int pw, const int *ys, const int *xs, int npos)
{
    const struct graph *g = model_graph(m);
    if (score < 0 || score >= g->nt || !g->t[score].batched || max_batch < 1 || npos < 1) {
        error_set(ERR_INPUT, NULL,
                  "incremental occlusion: bad score tensor, batch or positions");
        return NULL;
    }
    const struct tensor *xin = &g->t[g->input];
    if (xin->ndim != 4) {
        error_set(ERR_INPUT, NULL, "the model input '%s' is not an image", xin->name);
        return NULL;
    }
    struct region_run *r = xcalloc(1, sizeof *r);
    r->m = m, r->g = g, r->score = score, r->max_batch = max_batch, r->ph = ph, r->pw = pw;
    r->t = xcalloc((size_t)g->nt, sizeof *r->t);
    r->need = xcalloc((size_t)(g->nn ? g->nn : 1), 1);
    int *keep = NULL;

    /* the nodes the score depends on */
    char *tneed = xcalloc((size_t)g->nt, 1);
    tneed[score] = 1;
    for (int i = g->nn - 1; i >= 0; i--) {
        const struct node *nd = &g->nodes[i];
        if (!tneed[nd->out]) continue;
        r->need[i] = 1;
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] >= 0) tneed[nd->in[k]] = 1;
    }
    free(tneed);

    /* modes: the input is a region, then each node as its inputs allow */
    struct rt *tin = &r->t[g->input];
    tin->mode = RM_REGION;
    tin->nhwc = g->layout_nhwc;
    rt_dims(tin, xin);
    if (ph < 1 || pw < 1 || ph > tin->H || pw > tin->W) {
        error_set(ERR_INPUT, NULL, "patch %dx%d does not fit the %dx%d input", ph, pw, tin->H,
                  tin->W);
        goto fail;
    }
    for (int i = 0; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        if (!r->need[i]) continue;
        struct rt *o = &r->t[nd->out];
        int nhwc = 0;
        if (region_capable(r, nd, &nhwc)) {
            o->mode = RM_REGION;
            o->nhwc = nhwc;
            rt_dims(o, &g->t[nd->out]);
        } else {
            o->mode = RM_FULL;
            for (int k = 0; k < nd->nin; k++)
                if (nd->in[k] >= 0 && r->t[nd->in[k]].mode == RM_REGION)
                    r->t[nd->in[k]].need_full = 1;
        }
    }
    if (r->t[score].mode == RM_REGION) r->t[score].need_full = 1;

    /* boxes for every planned position: the worst case sizes each buffer */
    for (int t = 0; t < g->nt; t++)
        if (r->t[t].mode == RM_REGION)
            r->t[t].b = xcalloc((size_t)max_batch, sizeof(struct rbox));
    double full_macs = 0;
    for (int i = 0; i < g->nn; i++)
        if (r->need[i] && g->nodes[i].op == OP_CONV)
            full_macs +=
                conv_macs(&g->nodes[i].p.conv, g->nodes[i].p.conv.oh, g->nodes[i].p.conv.ow);
        else if (r->need[i] && g->nodes[i].op == OP_GEMM)
            full_macs +=
                (double)g->nodes[i].p.gemm.rows * g->nodes[i].p.gemm.k * g->nodes[i].p.gemm.m;
    r->mac_full = full_macs;
    for (int p = 0; p < npos; p++) {
        if (check_pos(r, ys[p], xs[p])) goto fail;
        tin->b[0] = (struct rbox){ys[p], xs[p], ph, pw};
        double macs = 0;
        for (int i = 0; i < g->nn; i++) {
            const struct node *nd = &g->nodes[i];
            if (!r->need[i]) continue;
            struct rt *o = &r->t[nd->out];
            if (o->mode != RM_REGION) {
                if (nd->op == OP_CONV)
                    macs += conv_macs(&nd->p.conv, nd->p.conv.oh, nd->p.conv.ow);
                if (nd->op == OP_GEMM)
                    macs += (double)nd->p.gemm.rows * nd->p.gemm.k * nd->p.gemm.m;
                continue;
            }
            o->b[0] = node_box(r, nd, 0);
            if (o->b[0].h > o->maxh) o->maxh = o->b[0].h;
            if (o->b[0].w > o->maxw) o->maxw = o->b[0].w;
            if (nd->op == OP_CONV) macs += conv_macs(&nd->p.conv, o->b[0].h, o->b[0].w);
            for (int k = 0; k < nd->nin && k < G_MAX_INPUTS; k++) {
                size_t wf = node_window_floats(r, nd, k, &o->b[0]);
                if (wf > r->win_floats[k]) r->win_floats[k] = wf;
            }
        }
        if (macs > r->mac_region) r->mac_region = macs;
    }
    if (ph > tin->maxh) tin->maxh = ph;
    if (pw > tin->maxw) tin->maxw = pw;

    /* memory */
    int nkeep = 0;
    keep = xmalloc(sizeof(int) * (size_t)g->nt);
    for (int t = 0; t < g->nt; t++) {
        struct rt *x = &r->t[t];
        size_t item = g->t[t].item, bytes;
        if (x->mode == RM_REGION) {
            keep[nkeep++] = t;
            x->slot = (size_t)x->C * (size_t)x->maxh * (size_t)x->maxw;
            if (!mul3_ok(x->slot ? x->slot : 1, (size_t)max_batch, sizeof(float), &bytes) ||
                !(x->box = big_alloc(bytes, NULL, "occlusion boxes")))
                goto fail;
        }
        if (x->mode == RM_FULL || x->need_full) {
            if (!mul3_ok(item, (size_t)max_batch, sizeof(float), &bytes) ||
                !(x->full = big_alloc(bytes, NULL, "occlusion activations")))
                goto fail;
        }
    }
    for (int k = 0; k < G_MAX_INPUTS; k++)
        if (r->win_floats[k] && !(r->win[k] = big_alloc(r->win_floats[k] * sizeof(float), NULL,
                                                        "occlusion windows")))
            goto fail;
    for (int i = 0; i < g->nn; i++)
        if (r->need[i] && g->nodes[i].op == OP_CONV &&
            conv_col_floats(&g->nodes[i].p.conv) > r->col_floats)
            r->col_floats = conv_col_floats(&g->nodes[i].p.conv);
    if (!(r->col = big_alloc((r->col_floats ? r->col_floats : 1) * sizeof(float), NULL,
                             "convolution scratch")))
        goto fail;
    if (!(r->base = model_run_new(m, 1, MODEL_RUN_FORWARD, keep, nkeep))) goto fail;
    free(keep);
    return r;
fail:
    free(keep);
    region_run_free(r);
    return NULL;
}

double region_run_cost_ratio(const struct region_run *r)
{
    return r->mac_full > 0 ? r->mac_region / r->mac_full : 1.0;
}

void region_run_reload_weights(struct region_run *r)
{
    model_run_reload_weights(r->base);
}

int region_run_base(struct region_run *r, const float *input)
{
    int rc = model_forward(r->base, input, 1);
    if (rc) return rc;
    for (int t = 0; t < r->g->nt; t++)
        if (r->t[t].mode == RM_REGION) r->t[t].orig = model_run_tensor(r->base, t);
    r->have_base = 1;
    return 0;
}

/* ---------------------------------------------------------------- data */
static const float *box_data(const struct rt *t, int i)
{
    return t->box + (size_t)i * t->slot;
}
static float *box_data_mut(struct rt *t, int i)
{
    return t->box + (size_t)i * t->slot;
}

/* dst (C x wh x ww, NCHW) = tensor t over rows [y0, y0+wh), columns
 * [x0, x0+ww) of copy i: the original with copy i's box laid over it. */
static void window_fill(const struct rt *t, int i, int y0, int x0, int wh, int ww, float *dst)
{
    size_t plane = (size_t)t->H * t->W;
    for (int c = 0; c < t->C; c++)
        for (int y = 0; y < wh; y++)
            memcpy(dst + ((size_t)c * wh + y) * ww,
                   t->orig + c * plane + (size_t)(y0 + y) * t->W + x0,
                   sizeof(float) * (size_t)ww);
    const struct rbox *b = &t->b[i];
    int ya = b->y > y0 ? b->y : y0, yb = b->y + b->h < y0 + wh ? b->y + b->h : y0 + wh;
    int xa = b->x > x0 ? b->x : x0, xb = b->x + b->w < x0 + ww ? b->x + b->w : x0 + ww;
    if (box_empty(b) || ya >= yb || xa >= xb) return;
    const float *src = box_data(t, i);
    for (int c = 0; c < t->C; c++)
        for (int y = ya; y < yb; y++)
            memcpy(dst + ((size_t)c * wh + (y - y0)) * ww + (xa - x0),
                   src + ((size_t)c * b->h + (y - b->y)) * b->w + (xa - b->x),
                   sizeof(float) * (size_t)(xb - xa));
}

/* t->full = the original with each copy's box laid over it, n copies. */
static void materialise(struct rt *t, const struct tensor *x, int n)
{
    if (t->materialised) return;
    size_t item = x->item;
    for (int i = 0; i < n; i++) {
        float *dst = t->full + (size_t)i * item;
        memcpy(dst, t->orig, sizeof(float) * item);
        const struct rbox *b = &t->b[i];
        if (box_empty(b)) continue;
        const float *src = box_data(t, i);
        if (t->nhwc) {
            for (int y = 0; y < b->h; y++)
                memcpy(dst + ((size_t)(b->y + y) * t->W + b->x) * t->C,
                       src + (size_t)y * b->w * t->C, sizeof(float) * (size_t)b->w * t->C);
        } else {
            for (int c = 0; c < t->C; c++)
                for (int y = 0; y < b->h; y++)
                    memcpy(dst + ((size_t)c * t->H + b->y + y) * t->W + b->x,
                           src + ((size_t)c * b->h + y) * b->w, sizeof(float) * (size_t)b->w);
        }
    }
    t->materialised = 1;
}

/* A struct tensor describing one copy's box (for eltwise_prepare). */
static void box_tensor(struct tensor *bt, int C, int h, int w)
{
    memset(bt, 0, sizeof *bt);
    bt->ndim = 4;
    bt->dims[0] = 1, bt->dims[1] = C, bt->dims[2] = h, bt->dims[3] = w;
    bt->batched = 1;
    tensor_update_item(bt);
}

/* Node nd on copy i's boxes. */
static int region_node(struct region_run *r, const struct node *nd, int i)
{
    const struct graph *g = r->g;
    struct rt *o = &r->t[nd->out];
    struct rt *x = &r->t[nd->in[0]];
    struct rbox ob = node_box(r, nd, i);
    /* a box larger than planned means a position the plan did not see */
    if (ob.h > o->maxh || ob.w > o->maxw)
        return error_set(ERR_INPUT, NULL, "occlusion patch at an unplanned position");
    o->b[i] = ob;
    if (box_empty(&ob)) return 0;
    float *out = box_data_mut(o, i);
    size_t count = (size_t)o->C * ob.h * ob.w;
    switch (nd->op) {
    case OP_CONV:
    case OP_MAXPOOL:
    case OP_AVGPOOL: {
        struct win_geom q = geom_of(nd);
        int ys, yl, xs, xl, ct, cb, cl, cr;
        win_span(ob.y, ob.h, q.kh, q.sh, q.dh, q.pt, q.pb, q.h, &ys, &yl, &ct, &cb);
        win_span(ob.x, ob.w, q.kw, q.sw, q.dw, q.pl, q.pr, q.w, &xs, &xl, &cl, &cr);
        window_fill(x, i, ys, xs, yl, xl, r->win[0]);
        if (nd->op == OP_CONV) {
            struct conv_params p = nd->p.conv;
            p.h = yl, p.w = xl, p.oh = ob.h, p.ow = ob.w;
            p.pt = ct, p.pb = cb, p.pl = cl, p.pr = cr;
            conv_forward(out, r->win[0], g->t[nd->in[1]].f,
                         nd->nin > 2 && nd->in[2] >= 0 ? g->t[nd->in[2]].f : NULL, &p, 1,
                         r->col);
        } else {
            struct pool_params p = nd->p.pool;
            p.h = yl, p.w = xl, p.oh = ob.h, p.ow = ob.w;
            p.pt = ct, p.pb = cb, p.pl = cl, p.pr = cr;
            if (nd->op == OP_MAXPOOL)
                maxpool_forward(out, NULL, r->win[0], &p, 1);
            else
                avgpool_forward(out, r->win[0], &p, 1);
        }
        return 0;
    }
    case OP_BATCHNORM: {
        struct bn_params p = nd->p.bn;
        p.plane = (size_t)ob.h * ob.w;
        batchnorm_forward(out, box_data(x, i), &p, 1);
        return 0;
    }
    OP_CASES_POINTWISE:
        act_forward(nd->op, out, box_data(x, i), count, &nd->p.act);
        return 0;
    case OP_COPY:
    case OP_PAD: memcpy(out, box_data(x, i), sizeof(float) * count); return 0;
    case OP_TRANSPOSE: {
        const float *src = box_data(x, i);
        size_t hw = (size_t)ob.h * ob.w;
        for (int c = 0; c < o->C; c++)
            for (size_t p = 0; p < hw; p++) {
                if (o->nhwc)
                    out[p * o->C + c] = src[c * hw + p];
                else
                    out[c * hw + p] = src[p * o->C + c];
            }
        return 0;
    }
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: {
        struct tensor bt[2], to;
        const struct tensor *ops[2];
        const float *data[2];
        for (int k = 0; k < 2; k++) {
            int t = nd->in[k];
            if (g->t[t].batched) {
                window_fill(&r->t[t], i, ob.y, ob.x, ob.h, ob.w, r->win[k]);
                box_tensor(&bt[k], r->t[t].C, ob.h, ob.w);
                ops[k] = &bt[k], data[k] = r->win[k];
            } else {
                ops[k] = &g->t[t], data[k] = g->t[t].f;
            }
        }
        struct eltwise_params p;
        char err[160];
        if (eltwise_prepare(&p, ops[0], ops[1], &to, err, sizeof err))
            return error_set(ERR_FAIL, NULL, "incremental occlusion at node '%s': %s", nd->name,
                             err);
        eltwise_forward(nd->op, out, data[0], data[1], &p, 1);
        return 0;
    }
    case OP_CONCAT: {
        struct concat_params p = nd->p.cat;
        const float *ins[G_MAX_INPUTS];
        size_t hw = (size_t)ob.h * ob.w;
        p.out_inner = 0;
        for (int k = 0; k < nd->nin; k++) {
            struct rt *a = &r->t[nd->in[k]];
            window_fill(a, i, ob.y, ob.x, ob.h, ob.w, r->win[k]);
            ins[k] = r->win[k];
            p.inner[k] = (size_t)a->C * hw;
            p.out_inner += p.inner[k];
        }
        concat_forward(out, ins, &p, 1);
        return 0;
    }
    default: BUG_ON(1);
    }
    return 0;
}

/* Node nd in full on n copies (as model_forward runs it). */
static void full_node(struct region_run *r, const struct node *nd, int n)
{
    const struct graph *g = r->g;
    const float *in[G_MAX_INPUTS];
    for (int k = 0; k < nd->nin; k++) {
        int t = nd->in[k];
        if (t < 0) {
            in[k] = NULL;
            continue;
        }
        if (!g->t[t].batched) {
            in[k] = g->t[t].f;
            continue;
        }
        struct rt *a = &r->t[t];
        if (a->mode == RM_REGION) materialise(a, &g->t[t], n);
        in[k] = a->full;
    }
    float *out = r->t[nd->out].full;
    const float *x = in[0];
    size_t item = g->t[nd->out].item;
    switch (nd->op) {
    case OP_CONV:
        conv_forward(out, x, in[1], nd->nin > 2 ? in[2] : NULL, &nd->p.conv, n, r->col);
        break;
    case OP_BATCHNORM:
        batchnorm_forward(out, x, &nd->p.bn, n);
        break;
    OP_CASES_POINTWISE:
        act_forward(nd->op, out, x, item * (size_t)n, &nd->p.act);
        break;
    case OP_SOFTMAX: softmax_forward(out, x, &nd->p.softmax, n); break;
    case OP_COPY: copy_forward(out, x, item, n); break;
    case OP_MAXPOOL: maxpool_forward(out, NULL, x, &nd->p.pool, n); break;
    case OP_AVGPOOL: avgpool_forward(out, x, &nd->p.pool, n); break;
    case OP_GAP:
        gap_forward(out, x, nd->p.pool.c, (size_t)nd->p.pool.h * nd->p.pool.w, n);
        break;
    case OP_GEMM: gemm_forward(out, x, in[1], &nd->p.gemm, n); break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: eltwise_forward(nd->op, out, x, in[1], &nd->p.elt, n); break;
    case OP_TRANSPOSE: transpose_forward(out, x, &nd->p.tr, n); break;
    case OP_CONCAT: concat_forward(out, in, &nd->p.cat, n); break;
    case OP_PAD: pad_forward(out, x, &nd->p.pad, n); break;
    case OP_SLICE: slice_forward(out, x, &nd->p.pad, n); break;
    default: BUG_ON(1);
    }
}

int region_run_patches(struct region_run *r, const int *ys, const int *xs, int n,
                       const float *fill, float *scores)
{
    const struct graph *g = r->g;
    if (!r->have_base)
        return error_set(ERR_FAIL, NULL, "region_run_patches before region_run_base");
    if (n < 1 || n > r->max_batch)
        return error_set(ERR_INPUT, NULL, "batch of %d copies for a run sized for %d", n,
                         r->max_batch);
    struct rt *tin = &r->t[g->input];
    for (int i = 0; i < n; i++) {
        if (check_pos(r, ys[i], xs[i])) return ERR_INPUT;
        tin->b[i] = (struct rbox){ys[i], xs[i], r->ph, r->pw};
        float *d = box_data_mut(tin, i);
        size_t hw = (size_t)r->ph * r->pw;
        for (int c = 0; c < tin->C; c++)
            for (size_t p = 0; p < hw; p++) {
                if (tin->nhwc)
                    d[p * tin->C + c] = fill[c];
                else
                    d[c * hw + p] = fill[c];
            }
    }
    for (int t = 0; t < g->nt; t++)
        r->t[t].materialised = 0;
    for (int j = 0; j < g->nn; j++) {
        const struct node *nd = &g->nodes[j];
        if (!r->need[j]) continue;
        struct rt *o = &r->t[nd->out];
        if (o->mode == RM_REGION) {
            for (int i = 0; i < n; i++) {
                int rc = region_node(r, nd, i);
                if (rc) return rc;
            }
        } else {
            full_node(r, nd, n);
        }
    }
    struct rt *s = &r->t[r->score];
    if (s->mode == RM_REGION) materialise(s, &g->t[r->score], n);
    memcpy(scores, s->full, sizeof(float) * g->t[r->score].item * (size_t)n);
    return 0;
}
