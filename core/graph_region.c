/* graph_region.c - incremental forward passes for occlusion (see
 * graph_region.h): box propagation through the spatial ops, per-copy kernels
 * on the boxes (a window of the original activation with the copy's changed
 * box laid over it; conv chains fused and run by the same conv plans as
 * whole images), rank updates for the dense layers over flattened maps, a
 * batched run of the rest of the non-spatial tail. Each step shares the
 * batch's copies out to the run's threads.
 */
#include "graph_region.h"

#include <stdatomic.h>
#include <stdio.h>
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
/* RM_CHAIN: inside a fused conv chain (never computed on its own) */
enum { RM_OFF, RM_REGION, RM_FULL, RM_CHAIN };

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

/* A Conv [-> BatchNormalization] [-> Relu [-> 2x2 MaxPool]] chain on the
 * boxes, run as one conv plan over each copy's window (BN folded into the
 * weights, ReLU with the bias, the pool in the epilogue), as model.c runs
 * it on whole images; a lone Conv is a chain of one. */
struct chain {
    int head, last;       /* its first and last node */
    int bn;               /* the BatchNormalization node folded in, or -1 */
    struct conv_params p; /* BN folded, relu */
    struct pool_params q; /* the fused pool, when pool */
    int pool;
    enum conv_isa isa;
    const float *w, *b; /* the weights it runs with */
    float *fw, *fb, *u; /* owned: folded weights and bias, Winograd's transform (or NULL) */
};

/* A dense layer (Gemm, one row per item) over a flattened region tensor:
 * each copy's output is the original's plus alpha * W'[k, :] times the
 * change at each input k of its box, a rank update over the changed inputs
 * only. */
struct rank_gemm {
    int src;         /* the 4-D region tensor the Flatten reads */
    const float *wt; /* K x M: W' row k = the weights of input k */
    float *own;      /* wt when transposed here (owned) */
    float alpha;
    int m;
};

/* Scratch of one thread: the windows a node reads, the conv plans' scratch. */
struct region_thread {
    float *win[G_MAX_INPUTS];
    float *conv;
    float *acc;
};

struct region_run {
    const struct model *m;
    const struct graph *g;
    int score, max_batch, ph, pw, npos_planned;
    struct rt *t;
    char *need;    /* per node */
    int *chain_of; /* per node: its chain's index when it heads one, -2 inside
                      one, else -1 */
    struct chain *chains;
    int nchains;
    struct rank_gemm **rank; /* per node: a Gemm run as a rank update, or NULL */
    char *skip;              /* per node: a Flatten that only rank updates read */
    size_t win_floats[G_MAX_INPUTS];
    size_t conv_floats, acc_floats;
    float *col; /* im2col scratch of a conv that runs in full */
    size_t col_floats;
    int nthreads;
    struct region_thread *th; /* nthreads */
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
    free(r->chain_of);
    for (int k = 0; k < r->nchains; k++) {
        free(r->chains[k].fw);
        free(r->chains[k].fb);
        free(r->chains[k].u);
    }
    free(r->chains);
    if (r->rank)
        for (int i = 0; i < r->g->nn; i++)
            if (r->rank[i]) {
                free(r->rank[i]->own);
                free(r->rank[i]);
            }
    free(r->rank);
    free(r->skip);
    if (r->th)
        for (int k = 0; k < r->nthreads; k++) {
            for (int j = 0; j < G_MAX_INPUTS; j++)
                free(r->th[k].win[j]);
            free(r->th[k].conv);
            free(r->th[k].acc);
        }
    free(r->th);
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

/* ---------------------------------------------------------------- chains */
/* The box a conv or pool node gives for an input box (single input). */
static struct rbox window_box(const struct node *nd, struct rbox in)
{
    struct rbox ob = {0, 0, 0, 0};
    struct win_geom q = geom_of(nd);
    axis_reach(in.y, in.h, q.kh, q.sh, q.dh, q.pt, q.oh, &ob.y, &ob.h);
    axis_reach(in.x, in.w, q.kw, q.sw, q.dw, q.pl, q.ow, &ob.x, &ob.w);
    if (box_empty(&ob)) ob.h = ob.w = 0;
    return ob;
}

/* Chain ch for an input box: the conv outputs it computes (*conv: the conv
 * box, or with a pool the rows and columns of the pool box's windows) and
 * its output box (returned). */
static struct rbox chain_box(const struct region_run *r, const struct chain *ch, struct rbox in,
                             struct rbox *conv)
{
    const struct graph *g = r->g;
    struct rbox cb = window_box(&g->nodes[ch->head], in);
    *conv = cb;
    if (!ch->pool || box_empty(&cb)) return cb;
    struct rbox pb = window_box(&g->nodes[ch->last], cb);
    *conv = (struct rbox){2 * pb.y, 2 * pb.x, 2 * pb.h, 2 * pb.w};
    return pb;
}

/* The conv plan of chain ch over the window of conv outputs cb (the window
 * rows and columns into *ys, *yl, *xs, *xl). */
static void chain_plan(const struct chain *ch, struct rbox cb, struct rbox ob,
                       struct conv_plan *pl, int *ys, int *yl, int *xs, int *xl)
{
    struct conv_params p = ch->p;
    int ct, cbm, cl, cr;
    win_span(cb.y, cb.h, p.kh, p.sh, p.dh, p.pt, p.pb, p.h, ys, yl, &ct, &cbm);
    win_span(cb.x, cb.w, p.kw, p.sw, p.dw, p.pl, p.pr, p.w, xs, xl, &cl, &cr);
    p.h = *yl, p.w = *xl, p.oh = cb.h, p.ow = cb.w;
    p.pt = ct, p.pb = cbm, p.pl = cl, p.pr = cr;
    struct pool_params q = ch->q;
    q.c = p.m, q.h = cb.h, q.w = cb.w, q.oh = ob.h, q.ow = ob.w;
    conv_plan_init(pl, &p, ch->pool ? &q : NULL, ch->isa);
}

/* A chain's weights from the graph's constants: BN folded in (W' = a W,
 * b' = a bias + b, as model.c folds it), then Winograd's transform; again
 * after a clone's weights changed (region_run_reload_weights). */
static void chain_load(const struct graph *g, struct chain *ch)
{
    const struct node *cv = &g->nodes[ch->head];
    const struct conv_params *p = &cv->p.conv;
    ch->w = g->t[cv->in[1]].f;
    ch->b = cv->nin > 2 && cv->in[2] >= 0 ? g->t[cv->in[2]].f : NULL;
    if (ch->bn >= 0) {
        const struct node *bn = &g->nodes[ch->bn];
        size_t per = (size_t)(p->c / p->group) * p->kh * p->kw;
        for (int o = 0; o < p->m; o++) {
            float a = bn->p.bn.a[o], s = bn->p.bn.b[o];
            for (size_t k = 0; k < per; k++)
                ch->fw[(size_t)o * per + k] = a * ch->w[(size_t)o * per + k];
            ch->fb[o] = a * (ch->b ? ch->b[o] : 0.0f) + s;
        }
        ch->w = ch->fw, ch->b = ch->fb;
    }
    if (ch->u) conv_wino_weights(p, ch->isa, ch->w, ch->u);
}

/* A rank update's transposed weights (when it owns a copy), from the graph. */
static void rank_load(const struct graph *g, const struct node *nd, struct rank_gemm *rg)
{
    const struct gemm_params *gp = &nd->p.gemm;
    const float *w = g->t[nd->in[1]].f;
    if (!rg->own) return;
    for (int m = 0; m < gp->m; m++)
        for (int k = 0; k < gp->k; k++)
            rg->own[(size_t)k * gp->m + m] = w[(size_t)m * gp->k + k];
}

/* Conv chains among the region nodes: Conv [-> BN] [-> Relu [-> MaxPool
 * 2x2]] whose intermediates have one reader (the next node), are not the
 * score and stay regions (their mode becomes RM_CHAIN). */
static void find_chains(struct region_run *r, const int *readers)
{
    const struct graph *g = r->g;
    r->chains = xcalloc((size_t)(g->nn ? g->nn : 1), sizeof *r->chains);
    for (int i = 0; i < g->nn; i++) {
        const struct node *cv = &g->nodes[i];
        if (!r->need[i] || cv->op != OP_CONV || r->t[cv->out].mode != RM_REGION) continue;
        int last = i, t = cv->out;
        const struct node *bn = NULL;
        int relu = 0, pool = 0;
        struct conv_params cp = cv->p.conv;
        cp.relu = 1;
        for (int j = i + 1; j < g->nn && j <= i + 3 && !pool; j++) {
            const struct node *nx = &g->nodes[j];
            if (!r->need[j] || nx->in[0] != t || readers[t] != 1 || t == r->score ||
                r->t[nx->out].mode != RM_REGION)
                break;
            if (nx->op == OP_BATCHNORM && !bn && !relu)
                bn = nx;
            else if (nx->op == OP_RELU && !relu)
                relu = 1;
            else if (nx->op == OP_MAXPOOL && relu && conv_pool_fusable(&cp, &nx->p.pool))
                pool = j;
            else
                break;
            last = j, t = nx->out;
        }
        struct chain *ch = &r->chains[r->nchains];
        ch->head = i, ch->last = last, ch->p = cv->p.conv, ch->p.relu = relu;
        if (pool) ch->pool = 1, ch->q = g->nodes[pool].p.pool;
        ch->isa = conv_isa_default();
        ch->bn = bn ? (int)(bn - g->nodes) : -1;
        const struct conv_params *p = &cv->p.conv;
        if (bn) {
            size_t wn = (size_t)p->m * (p->c / p->group) * p->kh * p->kw;
            ch->fw = xmalloc(sizeof(float) * wn);
            ch->fb = xmalloc(sizeof(float) * (size_t)p->m);
        }
        if (conv_wino_usable(p, ch->isa)) /* windows may take Winograd's path */
            ch->u = xmalloc(sizeof(float) * conv_wino_weight_floats(p, ch->isa));
        chain_load(g, ch);
        r->chain_of[i] = r->nchains++;
        for (int j = i + 1; j <= last; j++) {
            r->chain_of[j] = -2;                       /* runs inside the chain */
            r->t[g->nodes[j - 1].out].mode = RM_CHAIN; /* the intermediates */
        }
    }
}

/* Gemm nodes (one row per item, constant weights) that read the Flatten of a
 * region tensor: rank updates; a Flatten only they read is not computed. */
static void find_rank_gemms(struct region_run *r, const int *readers)
{
    const struct graph *g = r->g;
    int *rank_readers = xcalloc((size_t)g->nt, sizeof(int));
    for (int j = 0; j < g->nn; j++) {
        const struct node *nd = &g->nodes[j];
        if (!r->need[j] || nd->op != OP_GEMM || nd->p.gemm.rows != 1 || nd->in[1] < 0 ||
            g->t[nd->in[1]].batched || !g->t[nd->in[1]].f)
            continue;
        int x = nd->in[0], f = g->t[x].producer;
        if (f < 0 || g->nodes[f].op != OP_COPY) continue;
        int src = g->nodes[f].in[0];
        if (r->t[src].mode != RM_REGION || g->t[src].ndim != 4 ||
            g->t[src].item != g->t[x].item || (size_t)nd->p.gemm.k != g->t[x].item)
            continue;
        const struct gemm_params *gp = &nd->p.gemm;
        struct rank_gemm *rg = xcalloc(1, sizeof *rg);
        rg->src = src, rg->alpha = gp->alpha, rg->m = gp->m;
        const float *w = g->t[nd->in[1]].f;
        if (gp->trans_b) { /* W is M x K: its transpose, one row per input */
            rg->own = xmalloc(sizeof(float) * (size_t)gp->k * gp->m);
            rank_load(g, nd, rg);
            rg->wt = rg->own;
        } else {
            rg->wt = w;
        }
        r->rank[j] = rg;
        rank_readers[x]++;
    }
    for (int f = 0; f < g->nn; f++) {
        const struct node *nd = &g->nodes[f];
        if (r->need[f] && nd->op == OP_COPY && rank_readers[nd->out] &&
            rank_readers[nd->out] == readers[nd->out] && nd->out != r->score)
            r->skip[f] = 1;
    }
    free(rank_readers);
}

/* The MACs of one copy's chain for conv box cb. */
static double chain_macs(const struct chain *ch, struct rbox cb)
{
    return box_empty(&cb) ? 0 : conv_macs(&ch->p, cb.h, cb.w);
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
    int nn1 = g->nn ? g->nn : 1;
    struct region_run *r = xcalloc(1, sizeof *r);
    r->m = m, r->g = g, r->score = score, r->max_batch = max_batch, r->ph = ph, r->pw = pw;
    r->t = xcalloc((size_t)g->nt, sizeof *r->t);
    r->need = xcalloc((size_t)nn1, 1);
    r->chain_of = xmalloc(sizeof(int) * (size_t)nn1);
    r->rank = xcalloc((size_t)nn1, sizeof *r->rank);
    r->skip = xcalloc((size_t)nn1, 1);
    for (int i = 0; i < g->nn; i++)
        r->chain_of[i] = -1;
    int *keep = NULL, *readers = xcalloc((size_t)g->nt, sizeof(int));

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
    for (int i = 0; i < g->nn; i++)
        if (r->need[i])
            for (int k = 0; k < g->nodes[i].nin; k++)
                if (g->nodes[i].in[k] >= 0) readers[g->nodes[i].in[k]]++;

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
        }
    }
    find_chains(r, readers);
    find_rank_gemms(r, readers);
    /* what full nodes read of the regions is materialised */
    for (int i = 0; i < g->nn; i++) {
        const struct node *nd = &g->nodes[i];
        if (!r->need[i] || r->skip[i] || r->rank[i] || r->t[nd->out].mode != RM_FULL) continue;
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] >= 0 && r->t[nd->in[k]].mode == RM_REGION)
                r->t[nd->in[k]].need_full = 1;
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
            if (!r->need[i] || r->skip[i] || r->chain_of[i] == -2) continue;
            if (r->chain_of[i] >= 0) {
                const struct chain *ch = &r->chains[r->chain_of[i]];
                struct rt *o = &r->t[g->nodes[ch->last].out];
                struct rbox cb, ob = chain_box(r, ch, r->t[nd->in[0]].b[0], &cb);
                o->b[0] = ob;
                if (ob.h > o->maxh) o->maxh = ob.h;
                if (ob.w > o->maxw) o->maxw = ob.w;
                macs += chain_macs(ch, cb);
                if (box_empty(&ob)) continue;
                struct conv_plan pl;
                int wy, wl, wx, wxl;
                chain_plan(ch, cb, ob, &pl, &wy, &wl, &wx, &wxl);
                size_t wf = (size_t)ch->p.c * wl * wxl, cf = conv_plan_scratch_floats(&pl);
                if (wf > r->win_floats[0]) r->win_floats[0] = wf;
                if (cf > r->conv_floats) r->conv_floats = cf;
                continue;
            }
            struct rt *o = &r->t[nd->out];
            if (r->rank[i]) {
                const struct rt *src = &r->t[r->rank[i]->src];
                macs += (double)src->C * src->b[0].h * src->b[0].w * r->rank[i]->m;
                if ((size_t)r->rank[i]->m > r->acc_floats) r->acc_floats = r->rank[i]->m;
                continue;
            }
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
            for (int k = 0; k < nd->nin && k < G_MAX_INPUTS; k++) {
                size_t wf = node_window_floats(r, nd, k, &o->b[0]);
                if (wf > r->win_floats[k]) r->win_floats[k] = wf;
            }
        }
        if (macs > r->mac_region) r->mac_region = macs;
    }
    if (ph > tin->maxh) tin->maxh = ph;
    if (pw > tin->maxw) tin->maxw = pw;

    /* memory; the base run keeps what the copies reuse: the regions, what a
     * rank update starts from */
    int nkeep = 0;
    keep = xmalloc(sizeof(int) * ((size_t)g->nt + (size_t)g->nn + 1));
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
    keep[nkeep++] = score; /* the original's own score (region_run_base_score) */
    for (int i = 0; i < g->nn; i++) {
        if (r->rank[i]) keep[nkeep++] = g->nodes[i].out;
        if (r->need[i] && g->nodes[i].op == OP_CONV && r->t[g->nodes[i].out].mode == RM_FULL &&
            conv_col_floats(&g->nodes[i].p.conv) > r->col_floats)
            r->col_floats = conv_col_floats(&g->nodes[i].p.conv);
    }
    if (!(r->col = big_alloc((r->col_floats ? r->col_floats : 1) * sizeof(float), NULL,
                             "convolution scratch")))
        goto fail;
    if (!(r->base = model_run_new(m, 1, MODEL_RUN_FORWARD, keep, nkeep))) goto fail;
    r->nthreads = model_run_threads(r->base);
    r->th = xcalloc((size_t)r->nthreads, sizeof *r->th);
    for (int k = 0; k < r->nthreads; k++) {
        struct region_thread *th = &r->th[k];
        for (int j = 0; j < G_MAX_INPUTS; j++)
            if (r->win_floats[j] && !(th->win[j] = big_alloc(r->win_floats[j] * sizeof(float),
                                                             NULL, "occlusion windows")))
                goto fail;
        if (!(th->conv = big_alloc((r->conv_floats ? r->conv_floats : 1) * sizeof(float), NULL,
                                   "convolution scratch")) ||
            !(th->acc = big_alloc((r->acc_floats ? r->acc_floats : 1) * sizeof(float), NULL,
                                  "occlusion sums")))
            goto fail;
    }
    free(keep);
    free(readers);
    return r;
fail:
    free(keep);
    free(readers);
    region_run_free(r);
    return NULL;
}

void region_run_info(const struct region_run *r, struct region_info *info)
{
    memset(info, 0, sizeof *info);
    for (int k = 0; k < r->nchains; k++) {
        info->chains++;
        info->pooled_chains += r->chains[k].pool;
    }
    for (int i = 0; i < r->g->nn; i++)
        if (r->rank[i]) {
            info->rank_updates++;
            info->rank_nhwc += r->t[r->rank[i]->src].nhwc;
        }
}

const float *region_run_base_score(const struct region_run *r)
{
    return r->have_base ? model_run_tensor(r->base, r->score) : NULL;
}

double region_run_cost_ratio(const struct region_run *r)
{
    return r->mac_full > 0 ? r->mac_region / r->mac_full : 1.0;
}

void region_run_reload_weights(struct region_run *r)
{
    model_run_reload_weights(r->base);
    for (int k = 0; k < r->nchains; k++)
        chain_load(r->g, &r->chains[k]);
    for (int i = 0; i < r->g->nn; i++)
        if (r->rank[i]) rank_load(r->g, &r->g->nodes[i], r->rank[i]);
    r->have_base = 0; /* the original's activations are stale */
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
static int region_node(struct region_run *r, const struct node *nd, int i,
                       struct region_thread *th)
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
        window_fill(x, i, ys, xs, yl, xl, th->win[0]);
        BUG_ON(nd->op == OP_CONV); /* every region conv runs as a chain (chain_copy) */
        struct pool_params p = nd->p.pool;
        p.h = yl, p.w = xl, p.oh = ob.h, p.ow = ob.w;
        p.pt = ct, p.pb = cb, p.pl = cl, p.pr = cr;
        if (nd->op == OP_MAXPOOL)
            maxpool_forward(out, NULL, th->win[0], &p, 1);
        else
            avgpool_forward(out, th->win[0], &p, 1);
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
                window_fill(&r->t[t], i, ob.y, ob.x, ob.h, ob.w, th->win[k]);
                box_tensor(&bt[k], r->t[t].C, ob.h, ob.w);
                ops[k] = &bt[k], data[k] = th->win[k];
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
            window_fill(a, i, ob.y, ob.x, ob.h, ob.w, th->win[k]);
            ins[k] = th->win[k];
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

/* Chain ch on copy i: the conv plan over the copy's window, the output box
 * into the chain's last tensor. */
static int chain_copy(struct region_run *r, const struct chain *ch, int i,
                      struct region_thread *th)
{
    const struct graph *g = r->g;
    struct rt *x = &r->t[g->nodes[ch->head].in[0]], *o = &r->t[g->nodes[ch->last].out];
    struct rbox cb, ob = chain_box(r, ch, x->b[i], &cb);
    if (ob.h > o->maxh || ob.w > o->maxw)
        return error_set(ERR_INPUT, NULL, "occlusion patch at an unplanned position");
    o->b[i] = ob;
    if (box_empty(&ob)) return 0;
    struct conv_plan pl;
    int wy, wl, wx, wxl;
    chain_plan(ch, cb, ob, &pl, &wy, &wl, &wx, &wxl);
    BUG_ON(conv_plan_scratch_floats(&pl) > r->conv_floats);
    window_fill(x, i, wy, wx, wl, wxl, th->win[0]);
    atomic_int next;
    atomic_init(&next, 0);
    conv_plan_forward(box_data_mut(o, i), th->win[0], &pl, ch->w, ch->b,
                      pl.path == CONV_PATH_WINOGRAD ? ch->u : NULL, 1, 1, th->conv, &next);
    return 0;
}

/* acc (m) += sum over j < n of d[j] * wt[j * m ..]: 32 outputs at a time in
 * four 8-float vectors that stay in registers over all of the inputs (a
 * plain loop would load and store acc for every input). */
typedef float rank_vec __attribute__((vector_size(32)));
UTIL_CLONES static void rank_rows(float *restrict acc, const float *restrict wt,
                                  const float *restrict d, int n, int m)
{
    int m0 = 0;
    for (; m0 + 32 <= m; m0 += 32) {
        rank_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int j = 0; j < n; j++) {
            float v = d[j];
            if (v == 0.0f) continue; /* an unchanged input */
            const float *w = wt + (size_t)j * m + m0;
            rank_vec w0, w1, w2, w3;
            memcpy(&w0, w, 32), memcpy(&w1, w + 8, 32), memcpy(&w2, w + 16, 32),
                memcpy(&w3, w + 24, 32);
            a0 += v * w0, a1 += v * w1, a2 += v * w2, a3 += v * w3;
        }
        for (int k = 0; k < 8; k++)
            acc[m0 + k] += a0[k], acc[m0 + 8 + k] += a1[k], acc[m0 + 16 + k] += a2[k],
                acc[m0 + 24 + k] += a3[k];
    }
    for (int j = 0; j < n; j++)
        for (int k = m0; k < m; k++)
            acc[k] += d[j] * wt[(size_t)j * m + k];
}

/* The rank-update Gemm node j on copy i: the original's output plus alpha
 * times the changed inputs' share, into its full tensor. */
static void rank_copy(struct region_run *r, int j, int i, struct region_thread *th)
{
    const struct graph *g = r->g;
    const struct rank_gemm *rg = r->rank[j];
    const struct rt *src = &r->t[rg->src];
    int M = rg->m;
    const float *base = model_run_tensor(r->base, g->nodes[j].out);
    float *out = r->t[g->nodes[j].out].full + (size_t)i * M, *acc = th->acc;
    const struct rbox *b = &src->b[i];
    memcpy(out, base, sizeof(float) * M);
    if (box_empty(b)) return;
    memset(acc, 0, sizeof(float) * M);
    const float *box = box_data(src, i);
    float d[256];
    if (!src->nhwc) {
        /* input (c, y, x) is k = (c * H + y) * W + x: a run of w inputs per row */
        for (int c = 0; c < src->C; c++)
            for (int y = 0; y < b->h; y++) {
                size_t k0 = ((size_t)c * src->H + b->y + y) * src->W + b->x;
                const float *nv = box + ((size_t)c * b->h + y) * b->w, *ov = src->orig + k0;
                for (int x0 = 0; x0 < b->w; x0 += 256) {
                    int n = b->w - x0 < 256 ? b->w - x0 : 256;
                    for (int q = 0; q < n; q++)
                        d[q] = nv[x0 + q] - ov[x0 + q];
                    rank_rows(acc, rg->wt + (k0 + x0) * M, d, n, M);
                }
            }
    } else {
        /* (y, x, c) is k = (y * W + x) * C + c: a run of w * C inputs per row */
        for (int y = 0; y < b->h; y++) {
            size_t k0 = ((size_t)(b->y + y) * src->W + b->x) * src->C;
            size_t len = (size_t)b->w * src->C;
            const float *nv = box + (size_t)y * len, *ov = src->orig + k0;
            for (size_t x0 = 0; x0 < len; x0 += 256) {
                int n = len - x0 < 256 ? (int)(len - x0) : 256;
                for (int q = 0; q < n; q++)
                    d[q] = nv[x0 + q] - ov[x0 + q];
                rank_rows(acc, rg->wt + (k0 + x0) * M, d, n, M);
            }
        }
    }
    for (int k = 0; k < M; k++)
        out[k] += rg->alpha * acc[k];
}

/* One step over the batch's copies, shared by the threads (copy by copy). */
struct region_job {
    struct region_run *r;
    int node, n;
    atomic_int next, failed;
    int rc;
    char msg[256];
};

static void region_job_run(void *arg, int tid)
{
    struct region_job *jb = arg;
    struct region_run *r = jb->r;
    const struct node *nd = &r->g->nodes[jb->node];
    struct region_thread *th = &r->th[tid];
    for (;;) {
        int i = atomic_fetch_add(&jb->next, 1);
        if (i >= jb->n || atomic_load(&jb->failed)) break;
        int rc = 0;
        if (r->chain_of[jb->node] >= 0)
            rc = chain_copy(r, &r->chains[r->chain_of[jb->node]], i, th);
        else if (r->rank[jb->node])
            rank_copy(r, jb->node, i, th);
        else
            rc = region_node(r, nd, i, th);
        if (rc && !atomic_exchange(&jb->failed, 1)) { /* the error is this thread's */
            jb->rc = rc;
            snprintf(jb->msg, sizeof jb->msg, "%s", error_message());
        }
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
        if (!r->need[j] || r->skip[j] || r->chain_of[j] == -2) continue;
        if (r->chain_of[j] >= 0 || r->rank[j] || r->t[nd->out].mode == RM_REGION) {
            struct region_job jb = {.r = r, .node = j, .n = n};
            atomic_init(&jb.next, 0);
            atomic_init(&jb.failed, 0);
            model_run_parallel(r->base, region_job_run, &jb);
            if (atomic_load(&jb.failed)) return error_set(jb.rc, NULL, "%s", jb.msg);
        } else {
            full_node(r, nd, n);
        }
    }
    struct rt *s = &r->t[r->score];
    if (s->mode == RM_REGION) materialise(s, &g->t[r->score], n);
    memcpy(scores, s->full, sizeof(float) * g->t[r->score].item * (size_t)n);
    return 0;
}
