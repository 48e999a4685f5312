/* knn_approx.c - approximate kNN: random-projection forest for candidates, then
 * neighbour-of-neighbour rounds (NN-descent in "pull" form: each point rebuilds
 * its own list from the previous round's lists, so threads never share a list
 * and the result is the same for any thread count).
 */
#include "knn_approx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int ka_tid(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

struct knn_approx_params knn_approx_params_default(void)
{
    struct knn_approx_params p = {
        .trees = 6,
        .leaf_size = 0,
        .rounds = 10,
        .expand = 12,
        .delta = 0.001,
        .seed = 0,
        .threads = 0,
    };
    return p;
}

static inline float dist_f(const float *a, const float *b, size_t d)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (size_t j = 0; j < d; j++) {
        float t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* ---- one random-projection tree ------------------------------------------------- */

struct rptree {
    uint32_t *perm; /* points grouped by leaf */
    uint32_t *leaf; /* leaf of each point */
    size_t *lstart; /* leaf offsets into perm, nleaves + 1 */
    size_t nleaves;
};

/* Splits until segments hold at most `leaf` points: hyperplane halfway
 * between two random points of the segment (Annoy); a degenerate split
 * (all on one side) halves the segment as it stands. */
static int rptree_build(struct rptree *t, const float *x, size_t n, size_t d, size_t leaf,
                        uint64_t seed)
{
    t->perm = big_alloc(n * sizeof *t->perm, NULL, "kNN trees");
    t->leaf = t->perm ? big_alloc(n * sizeof *t->leaf, NULL, "kNN trees") : NULL;
    unsigned char *side = t->leaf ? big_alloc(n, NULL, "kNN trees") : NULL;
    size_t cap = 2 * (n / (leaf / 2 + 1)) + 16;
    t->lstart = side ? big_alloc(cap * sizeof *t->lstart, NULL, "kNN trees") : NULL;
    if (!t->lstart) {
        free(side);
        return ERR_FAIL;
    }
    for (size_t i = 0; i < n; i++)
        t->perm[i] = (uint32_t)i;
    float *normal = xmalloc(d * sizeof *normal);
    size_t *stack = xmalloc(2 * 128 * sizeof *stack), sp = 0;
    size_t scap = 128;
    stack[sp++] = 0;
    stack[sp++] = n;
    t->nleaves = 0;
    uint64_t st = seed;
    while (sp > 0) {
        size_t e = stack[--sp], s = stack[--sp], m = e - s;
        if (m <= leaf) {
            if (t->nleaves + 1 >= cap) {
                cap *= 2;
                t->lstart = xrealloc(t->lstart, cap * sizeof *t->lstart);
            }
            /* leaves are recorded in the order they are popped; their
             * ranges are disjoint, lstart holds each leaf's start */
            t->lstart[t->nleaves] = s;
            for (size_t q = s; q < e; q++)
                t->leaf[t->perm[q]] = (uint32_t)t->nleaves;
            t->nleaves++;
            continue;
        }
        size_t a = s + splitmix64(&st) % m, b = s + splitmix64(&st) % (m - 1);
        if (b >= a) b++;
        const float *xa = x + (size_t)t->perm[a] * d, *xb = x + (size_t)t->perm[b] * d;
        double off = 0.0;
        for (size_t j = 0; j < d; j++) {
            normal[j] = xa[j] - xb[j];
            off += 0.5 * (double)normal[j] * ((double)xa[j] + xb[j]);
        }
        size_t nleft = 0;
        for (size_t q = s; q < e; q++) {
            const float *xi = x + (size_t)t->perm[q] * d;
            double dot = 0.0;
            for (size_t j = 0; j < d; j++)
                dot += (double)normal[j] * xi[j];
            side[q] = dot < off;
            nleft += side[q];
        }
        size_t mid;
        if (nleft == 0 || nleft == m) {
            mid = s + m / 2;
        } else { /* stable partition through the side flags */
            size_t i = s, j = e;
            while (i < j) {
                if (side[i]) {
                    i++;
                } else {
                    j--;
                    uint32_t tp = t->perm[i];
                    t->perm[i] = t->perm[j];
                    t->perm[j] = tp;
                    unsigned char ts = side[i];
                    side[i] = side[j];
                    side[j] = ts;
                }
            }
            mid = s + nleft;
        }
        if (sp + 4 > 2 * scap) {
            scap *= 2;
            stack = xrealloc(stack, 2 * scap * sizeof *stack);
        }
        stack[sp++] = mid;
        stack[sp++] = e;
        stack[sp++] = s;
        stack[sp++] = mid;
    }
    free(normal);
    free(stack);
    free(side);
    return 0;
}

/* The range of point i's leaf in perm: leaves are contiguous and disjoint,
 * so the leaf's end is found by scanning its points' leaf ids. */
static inline void leaf_range(const struct rptree *t, uint32_t lf, size_t n, size_t *s,
                              size_t *e)
{
    size_t a = t->lstart[lf], b = a;
    while (b < n && t->leaf[t->perm[b]] == lf)
        b++;
    *s = a;
    *e = b;
}

/* ---- bounded max-heap on (distance, index), with a "new" flag -------------------- */

static inline int key_gt(float da, int32_t ia, float db, int32_t ib)
{
    return da > db || (da == db && ia > ib);
}

static void sift_down(float *hd, int32_t *hi, unsigned char *hf, size_t pos, size_t cnt)
{
    float d = hd[pos];
    int32_t j = hi[pos];
    unsigned char f = hf[pos];
    for (;;) {
        size_t l = 2 * pos + 1, r = l + 1, big = l;
        if (l >= cnt) break;
        if (r < cnt && key_gt(hd[r], hi[r], hd[l], hi[l])) big = r;
        if (!key_gt(hd[big], hi[big], d, j)) break;
        hd[pos] = hd[big];
        hi[pos] = hi[big];
        hf[pos] = hf[big];
        pos = big;
    }
    hd[pos] = d;
    hi[pos] = j;
    hf[pos] = f;
}

/* Push (d, j) into a heap of at most cap; returns 1 when it was kept. */
static int heap_push(float *hd, int32_t *hi, unsigned char *hf, size_t *cnt, size_t cap,
                     float d, int32_t j)
{
    size_t c = *cnt;
    if (c < cap) {
        size_t pos = c;
        while (pos > 0) {
            size_t par = (pos - 1) / 2;
            if (!key_gt(d, j, hd[par], hi[par])) break;
            hd[pos] = hd[par];
            hi[pos] = hi[par];
            hf[pos] = hf[par];
            pos = par;
        }
        hd[pos] = d;
        hi[pos] = j;
        hf[pos] = 1;
        *cnt = c + 1;
        return 1;
    }
    if (!key_gt(hd[0], hi[0], d, j)) return 0;
    hd[0] = d;
    hi[0] = j;
    hf[0] = 1;
    sift_down(hd, hi, hf, 0, cap);
    return 1;
}

static inline void swap_entries(float *hd, int32_t *hi, unsigned char *hf, size_t a, size_t b)
{
    float td = hd[a];
    int32_t ti = hi[a];
    unsigned char tf = hf[a];
    hd[a] = hd[b];
    hi[a] = hi[b];
    hf[a] = hf[b];
    hd[b] = td;
    hi[b] = ti;
    hf[b] = tf;
}

/* Moves the e nearest of the k entries (by distance, then index: keys are
 * distinct) to the front, in no particular order (quickselect, median of
 * three). The refinement reads only a list's `expand` nearest, and the
 * result is sorted once at the end: a full heapsort of every list every
 * round took a sixth of the search's samples (sift_down). */
static void select_front(float *hd, int32_t *hi, unsigned char *hf, size_t k, size_t e)
{
    if (e == 0 || e >= k) return;
    size_t lo = 0, up = k - 1, want = e - 1;
    while (lo < up) {
        size_t mid = lo + (up - lo) / 2;
        if (key_gt(hd[lo], hi[lo], hd[mid], hi[mid])) swap_entries(hd, hi, hf, lo, mid);
        if (key_gt(hd[mid], hi[mid], hd[up], hi[up])) swap_entries(hd, hi, hf, mid, up);
        if (key_gt(hd[lo], hi[lo], hd[mid], hi[mid])) swap_entries(hd, hi, hf, lo, mid);
        swap_entries(hd, hi, hf, mid, up); /* the median as the pivot, at up */
        float pd = hd[up];
        int32_t pi = hi[up];
        size_t store = lo;
        for (size_t t = lo; t < up; t++)
            if (key_gt(pd, pi, hd[t], hi[t])) swap_entries(hd, hi, hf, t, store++);
        swap_entries(hd, hi, hf, store, up);
        if (store == want) return;
        if (store < want)
            lo = store + 1;
        else
            up = store - 1;
    }
}

/* The k entries as a max-heap (bottom-up). */
static void heapify(float *hd, int32_t *hi, unsigned char *hf, size_t k)
{
    for (size_t pos = k / 2; pos-- > 0;)
        sift_down(hd, hi, hf, pos, k);
}

/* ---- one refinement step --------------------------------------------------------- */

#define KA_AHEAD 8 /* candidates whose rows are fetched ahead of their distance */

/* Point i's list of the next generation (hi, hd, hf: its rows of the spare
 * lists) from the current lists gi, gd, gf: its own list plus the `expand`
 * nearest of each neighbour j's list where j is new to i or the entry new to
 * j (NN-descent's new/old rule: pairs of earlier rounds are not redone).
 * The candidates are gathered first and their distances computed with rows
 * fetched KA_AHEAD candidates ahead: x is read at random and the loop would
 * otherwise wait on memory (an AVX2 clone of this function was measured
 * slower). mk: the thread's marks (n), cand: k * expand slots. Returns the
 * entries new in the list. */
static size_t refine_point(const float *x, size_t d, size_t k, size_t expand, size_t i,
                           const int32_t *gi, const float *gd, const unsigned char *gf,
                           int32_t *hi, float *hd, unsigned char *hf, uint32_t *mk,
                           uint32_t *cand)
{
    uint32_t mark = (uint32_t)i + 1;
    const int32_t *li = gi + i * k;
    const unsigned char *lf = gf + i * k;
    /* the current list as a max-heap, all old */
    for (size_t t = 0; t < k; t++) {
        hd[t] = gd[i * k + t];
        hi[t] = li[t];
        hf[t] = 0;
        mk[li[t]] = mark;
    }
    heapify(hd, hi, hf, k);
    mk[i] = mark;
    size_t nc = 0;
    for (size_t t = 0; t < k; t++) {
        if (t + KA_AHEAD < k) {
            __builtin_prefetch(gi + (size_t)li[t + KA_AHEAD] * k);
            __builtin_prefetch(gf + (size_t)li[t + KA_AHEAD] * k);
        }
        const int32_t *lj = gi + (size_t)li[t] * k;
        const unsigned char *fj = gf + (size_t)li[t] * k;
        for (size_t u = 0; u < expand; u++) {
            if (!lf[t] && !fj[u]) continue;
            uint32_t l = (uint32_t)lj[u];
            if (mk[l] == mark) continue;
            mk[l] = mark;
            cand[nc++] = l;
        }
    }
    const float *xi = x + i * d;
    size_t cnt = k, row = d * sizeof *x;
    for (size_t c = 0; c < nc; c++) {
        if (c + KA_AHEAD < nc) {
            const char *r = (const char *)(x + (size_t)cand[c + KA_AHEAD] * d);
            for (size_t b = 0; b < row; b += 64)
                __builtin_prefetch(r + b);
        }
        heap_push(hd, hi, hf, &cnt, k, dist_f(xi, x + (size_t)cand[c] * d, d), (int32_t)cand[c]);
    }
    select_front(hd, hi, hf, k, expand);
    size_t nw = 0;
    for (size_t t = 0; t < k; t++)
        nw += hf[t];
    return nw;
}

/* ---- the search ---------------------------------------------------------------- */

struct knn *knn_approx(const float *x, size_t n, size_t d, size_t k,
                       const struct knn_approx_params *pin, const struct progress *progress)
{
    struct knn_approx_params p = pin ? *pin : knn_approx_params_default();
    if (n > INT32_MAX || n > UINT32_MAX - 1) {
        error_set(ERR_INPUT, NULL, "%zu points: at most %d supported", n, INT32_MAX);
        return NULL;
    }
    if (d < 1) {
        error_set(ERR_INPUT, NULL, "points have no coordinates (0 columns)");
        return NULL;
    }
    if (k < 1 || n < 2 || k > n - 1) {
        error_set(ERR_INPUT, NULL, "%zu neighbours requested of %zu points (at most %zu)", k, n,
                  n > 0 ? n - 1 : 0);
        return NULL;
    }
    size_t nd, nk;
    if (!mul_ok(n, d, &nd) || !mul_ok(n, k, &nk)) {
        error_set(ERR_INPUT, NULL, "%zu x %zu matrix is too large", n, d);
        return NULL;
    }
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(x[i])) {
            error_set(ERR_INPUT, NULL, "row %zu column %zu is not a finite number", i / d,
                      i % d);
            return NULL;
        }
    if (p.trees < 1) p.trees = 1;
    size_t leaf = p.leaf_size ? p.leaf_size : (k > 64 ? k : 64);
    if (leaf < 2) leaf = 2;
    size_t expand = p.expand < 1 ? 1 : (p.expand > k ? k : p.expand);
    int nt = util_threads(p.threads);

    struct knn *nn = NULL;
    uint32_t *order = NULL, *rank = NULL; /* new -> original index, and back */
    float *xs = NULL;                     /* x in the new order */
    uint32_t *cand = NULL;                /* per thread: a point's candidates */
    struct rptree *trees = xcalloc((size_t)p.trees, sizeof *trees);
    int32_t *gi = big_alloc(nk * sizeof *gi, NULL, "kNN graph");
    float *gd = gi ? big_alloc(nk * sizeof *gd, NULL, "kNN graph") : NULL;
    unsigned char *gf = gd ? big_alloc(nk, NULL, "kNN graph") : NULL;
    int32_t *gi2 = gf ? big_alloc(nk * sizeof *gi2, NULL, "kNN graph") : NULL;
    float *gd2 = gi2 ? big_alloc(nk * sizeof *gd2, NULL, "kNN graph") : NULL;
    unsigned char *gf2 = gd2 ? big_alloc(nk, NULL, "kNN graph") : NULL;
    uint32_t *stamp =
        gf2 ? big_calloc((size_t)nt * n * sizeof *stamp, NULL, "kNN graph") : NULL;
    if (!stamp) goto done;
    cand = xmalloc((size_t)nt * k * expand * sizeof *cand);

    /* Trees in parallel, each from its own generator. */
    int bad = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) reduction(| : bad)
    for (int t = 0; t < p.trees; t++) {
        uint64_t s = p.seed ^ (0xa0761d6478bd642fULL * (uint64_t)(t + 1));
        bad |= rptree_build(&trees[t], x, n, d, leaf, splitmix64(&s)) < 0;
    }
    if (bad) goto done;

    /* From here on the points are renumbered in the first tree's leaf order
     * (depth first, so leaf-mates and neighbouring leaves sit together): the
     * rows a point's neighbours and their neighbours read are then mostly
     * near each other in memory, and the refinement stops waiting on the
     * memory once x outgrows the caches (knn_approx.h). order[q] is the
     * original index of point q. */
    order = trees[0].perm;
    trees[0].perm = NULL;
    rank = big_alloc(n * sizeof *rank, NULL, "kNN graph");
    xs = rank ? big_alloc(nd * sizeof *xs, NULL, "kNN graph") : NULL;
    uint32_t *spare = xs ? big_alloc(n * sizeof *spare, NULL, "kNN graph") : NULL;
    trees[0].perm = spare ? big_alloc(n * sizeof *trees[0].perm, NULL, "kNN graph") : NULL;
    if (!trees[0].perm) {
        free(spare);
        goto done;
    }
    for (size_t q = 0; q < n; q++) {
        rank[order[q]] = (uint32_t)q;
        trees[0].perm[q] = (uint32_t)q;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (size_t q = 0; q < n; q++)
        memcpy(xs + q * d, x + (size_t)order[q] * d, d * sizeof *xs);
    for (int t = 0; t < p.trees; t++) {
        if (t > 0)
            for (size_t q = 0; q < n; q++)
                trees[t].perm[q] = rank[trees[t].perm[q]];
        for (size_t i = 0; i < n; i++)
            spare[rank[i]] = trees[t].leaf[i];
        uint32_t *old = trees[t].leaf;
        trees[t].leaf = spare;
        spare = old;
    }
    free(spare);
    x = xs;
    progress_update(progress, "kNN", 1, (size_t)p.rounds + 2, "trees");

    /* Initial lists: each point's leaf-mates over all trees (pull: every point
     * builds its own list), padded from a per-point generator if short. */
#pragma omp parallel for schedule(dynamic, 256) num_threads(nt)
    for (size_t i = 0; i < n; i++) {
        uint32_t *mk = stamp + (size_t)ka_tid() * n, mark = (uint32_t)i + 1;
        float *hd = gd + i * k;
        int32_t *hi = gi + i * k;
        unsigned char *hf = gf + i * k;
        size_t cnt = 0;
        mk[i] = mark;
        for (int t = 0; t < p.trees; t++) {
            size_t s, e;
            leaf_range(&trees[t], trees[t].leaf[i], n, &s, &e);
            for (size_t q = s; q < e; q++) {
                uint32_t j = trees[t].perm[q];
                if (mk[j] == mark) continue;
                mk[j] = mark;
                heap_push(hd, hi, hf, &cnt, k, dist_f(x + i * d, x + (size_t)j * d, d),
                          (int32_t)j);
            }
        }
        uint64_t s = p.seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1));
        while (cnt < k) {
            uint32_t j = (uint32_t)(splitmix64(&s) % n);
            if (mk[j] == mark) continue;
            mk[j] = mark;
            heap_push(hd, hi, hf, &cnt, k, dist_f(x + i * d, x + (size_t)j * d, d), (int32_t)j);
        }
        select_front(hd, hi, hf, k, expand);
        memset(hf, 1, k);
    }
    for (int t = 0; t < p.trees; t++) {
        free(trees[t].perm);
        free(trees[t].leaf);
        free(trees[t].lstart);
        trees[t].perm = trees[t].leaf = NULL;
        trees[t].lstart = NULL;
    }
    /* The stamps restart: a round's marks (i + 1) must not meet older ones. */
    memset(stamp, 0, (size_t)nt * n * sizeof *stamp);

    /* Refinement rounds (refine_point), each reading one generation of lists
     * and writing the other. */
    for (int round = 0; round < p.rounds; round++) {
        size_t changed = 0;
        if (round > 0) memset(stamp, 0, (size_t)nt * n * sizeof *stamp);
#pragma omp parallel for schedule(dynamic, 256) num_threads(nt) reduction(+ : changed)
        for (size_t i = 0; i < n; i++) {
            int tid = ka_tid();
            changed += refine_point(x, d, k, expand, i, gi, gd, gf, gi2 + i * k, gd2 + i * k,
                                    gf2 + i * k, stamp + (size_t)tid * n,
                                    cand + (size_t)tid * k * expand);
        }
        int32_t *ti = gi;
        gi = gi2;
        gi2 = ti;
        float *td = gd;
        gd = gd2;
        gd2 = td;
        unsigned char *tf = gf;
        gf = gf2;
        gf2 = tf;
        progress_update(progress, "kNN", (size_t)round + 2, (size_t)p.rounds + 2, NULL);
        if ((double)changed < p.delta * (double)nk) break;
    }

    /* The spare lists go before the result is allocated (peak memory). */
    free(gi2);
    free(gd2);
    free(gf2);
    free(gf);
    free(stamp);
    gi2 = NULL;
    gd2 = NULL;
    gf2 = gf = NULL;
    stamp = NULL;

    /* Exact double distances of the pairs found, ordered by (distance, index). */
    nn = knn_new(n, k);
    if (!nn) goto done;
    struct knn_cand *cs = xmalloc((size_t)nt * k * sizeof *cs);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (size_t i = 0; i < n; i++) {
        struct knn_cand *c = cs + (size_t)ka_tid() * k;
        size_t q = rank[i];
        for (size_t t = 0; t < k; t++) {
            size_t l = (size_t)gi[q * k + t];
            c[t].j = (int32_t)order[l];
            c[t].d = knn_dist2(x + q * d, x + l * d, d);
        }
        qsort(c, k, sizeof *c, knn_cand_cmp);
        for (size_t t = 0; t < k; t++) {
            nn->idx[i * k + t] = c[t].j;
            nn->dist2[i * k + t] = c[t].d;
        }
    }
    free(cs);
    nn->order = order;
    order = NULL;
    progress_update(progress, "kNN", (size_t)p.rounds + 2, (size_t)p.rounds + 2, NULL);

done:
    if (trees)
        for (int t = 0; t < p.trees; t++) {
            free(trees[t].perm);
            free(trees[t].leaf);
            free(trees[t].lstart);
        }
    free(trees);
    free(order);
    free(rank);
    free(xs);
    free(cand);
    free(gi);
    free(gd);
    free(gf);
    free(gi2);
    free(gd2);
    free(gf2);
    free(stamp);
    return nn;
}
