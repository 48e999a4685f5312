/* test_tsne_fft.c - the FFT-interpolation repulsion against the exact sums,
 * approximate kNN recall against brute force, heavy tails (--dof), placing
 * new points into a map, and repeatability, on the Fashion-MNIST fixtures of
 * fixtures/make_tsne.py (x50.npy: 2,000 x 50; knn5k.npy: 5,000 x 50 float16).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "../analysis/affinity.h"
#include "../analysis/fft_grid.h"
#include "../analysis/knn.h"
#include "../analysis/knn_approx.h"
#include "../analysis/tsne.h"
#include "../core/array.h"
#include "../core/error.h"

#define FIX "fixtures/tsne/"

static struct array *load(const char *name, enum dtype t, int ndim)
{
    return fixture_load("", name, t, ndim);
}

/* ---- FFT repulsion vs exact -------------------------------------------------------- */

struct force_err {
    double l2;    /* |F_fft - F|_2 / |F|_2 over all points and axes */
    double maxr;  /* max |F_fft - F| / max |F| */
    size_t where; /* point of the largest difference */
    double zrel;  /* |Z_fft - Z| / Z */
};

/* Approximate forces ff and Z zf (n x dims) against the exact fe, ze. */
static struct force_err force_err_of(const double *ff, double zf, const double *fe, double ze,
                                     size_t n, int dims)
{
    struct force_err e = {0};
    double num = 0.0, den = 0.0, fmax = 0.0, dmax = 0.0;
    for (size_t t = 0; t < n * (size_t)dims; t++) {
        double d = ff[t] - fe[t];
        num += d * d;
        den += fe[t] * fe[t];
        if (fabs(fe[t]) > fmax) fmax = fabs(fe[t]);
        if (fabs(d) > dmax) {
            dmax = fabs(d);
            e.where = t / dims;
        }
    }
    e.l2 = sqrt(num / den);
    e.maxr = dmax / fmax;
    e.zrel = fabs(zf - ze) / ze;
    return e;
}

/* The repulsive forces and Z of the FFT backend against the exact backend at
 * y (n x dims) with params p. */
static struct force_err fft_vs_exact(const double *y, size_t n, int dims,
                                     const struct tsne_params *p)
{
    double *fe = malloc(n * dims * sizeof *fe), *ff = malloc(n * dims * sizeof *ff), ze, zf;
    void *se = tsne_repulsion_exact.create(n, dims, p);
    void *sf = tsne_repulsion_fft.create(n, dims, p);
    cr_assert(se && sf, "%s", error_message());
    cr_assert_eq(tsne_repulsion_exact.compute(se, y, fe, &ze), 0);
    cr_assert_eq(tsne_repulsion_fft.compute(sf, y, ff, &zf), 0, "%s", error_message());
    struct force_err e = force_err_of(ff, zf, fe, ze, n, dims);
    tsne_repulsion_exact.destroy(se);
    tsne_repulsion_fft.destroy(sf);
    free(fe);
    free(ff);
    return e;
}

/* 300 points of sklearn's 2,000-point map (a spread of ~110 units, so the
 * grid is ~120 boxes of width < 1), and the same shrunk to a 1/4 (min boxes). */
static double *map300(size_t n, double scale)
{
    struct array *ys = load(FIX "sk_bh_y.npy", DT_F32, 2);
    const float *yf = ys->data;
    double *y = malloc(n * 2 * sizeof *y);
    for (size_t t = 0; t < n * 2; t++)
        y[t] = yf[t] * scale;
    array_free(ys);
    return y;
}

Test(tsne_fft, repulsion_equals_exact)
{
    size_t n = 300;
    for (int s = 0; s < 2; s++) {
        double scale = s == 0 ? 1.0 : 0.25;
        double *y = map300(n, scale);
        struct tsne_params p = tsne_params_default();
        /* 6 nodes per box: the setting for a force error below 1e-3 */
        p.fft_nodes = 6;
        struct force_err e = fft_vs_exact(y, n, 2, &p);
        cr_log_info(
            "scale %g, 6 nodes: force L2 rel %.3g, max rel %.3g (point %zu), Z rel %.3g", scale,
            e.l2, e.maxr, e.where, e.zrel);
        cr_assert_lt(e.l2, 1e-3, "scale %g, 6 nodes: force error %.3g (worst at point %zu)",
                     scale, e.l2, e.where);
        cr_assert_lt(e.zrel, 1e-4, "scale %g: Z error %.3g", scale, e.zrel);
        /* the default: 6 nodes on the shrunk map (the 50-box minimum grid),
         * the split kernel on the full one (~110 units: a few per cent, stated
         * in fft_grid.h) */
        p.fft_nodes = 0;
        e = fft_vs_exact(y, n, 2, &p);
        cr_log_info("scale %g, default nodes: force L2 rel %.3g, max rel %.3g, Z rel %.3g",
                    scale, e.l2, e.maxr, e.zrel);
        if (s == 0) {
            cr_assert_lt(e.l2, 0.05, "scale %g, default: force error %.3g", scale, e.l2);
            cr_assert_lt(e.zrel, 1e-2, "scale %g, default: Z error %.3g", scale, e.zrel);
        } else {
            cr_assert_lt(e.l2, 1e-3, "scale %g, default: force error %.3g", scale, e.l2);
            cr_assert_lt(e.zrel, 1e-4, "scale %g, default: Z error %.3g", scale, e.zrel);
        }
        /* heavy tails: the same accuracy with dof 0.5 */
        p.fft_nodes = 6;
        p.dof = 0.5;
        e = fft_vs_exact(y, n, 2, &p);
        cr_log_info("scale %g, dof 0.5: force L2 rel %.3g, Z rel %.3g", scale, e.l2, e.zrel);
        cr_assert_lt(e.l2, 2e-3, "dof 0.5: force error %.3g", e.l2);
        cr_assert_lt(e.zrel, 1e-4, "dof 0.5: Z error %.3g", e.zrel);
        free(y);
    }
}

/* The case: a t-SNE map of a few hundred points as t-SNE makes it
 * (300 Fashion-MNIST points, exact method: ~40 units across), the FFT
 * repulsion at the default grid settings against the exact sums. The grid has
 * 50 boxes (the minimum) and the default then puts 6 nodes in each. */
Test(tsne_fft, default_grid_repulsion_within_1e3_on_a_300_point_map, .timeout = 120)
{
    struct array *x = load(FIX "x50.npy", DT_F32, 2);
    size_t n = 300;
    struct tsne_params tp = tsne_params_default();
    tp.method = TSNE_METHOD_EXACT;
    tp.seed = 1;
    tp.threads = 2;
    struct tsne_result *r = tsne_run(x->data, n, x->shape[1], &tp);
    cr_assert_not_null(r, "%s", error_message());
    double *y = malloc(n * 2 * sizeof *y), lo = INFINITY, hi = -INFINITY;
    for (size_t t = 0; t < n * 2; t++) {
        y[t] = r->y[t];
        lo = fmin(lo, y[t]);
        hi = fmax(hi, y[t]);
    }
    cr_assert(hi - lo > 20.0 && hi - lo < 50.0, "the map spans %.1f units", hi - lo);
    struct tsne_params p = tsne_params_default(); /* fft_nodes 0: the default grid */
    struct force_err e = fft_vs_exact(y, n, 2, &p);
    cr_log_info("300-point map (%.1f units), default grid: force L2 rel %.3g, max rel %.3g, "
                "Z rel %.3g",
                hi - lo, e.l2, e.maxr, e.zrel);
    cr_assert_lt(e.l2, 1e-3, "default grid: force error %.3g (worst at point %zu)", e.l2,
                 e.where);
    cr_assert_lt(e.zrel, 1e-4, "default grid: Z error %.3g", e.zrel);
    /* the grid the default chose */
    struct fft_grid_params gp = fft_grid_params_default(2);
    struct fft_grid *g = fft_grid_new(2, &gp);
    double *f = malloc(n * 2 * sizeof *f), z;
    cr_assert_eq(fft_grid_repulsion(g, y, n, f, &z), 0);
    cr_assert_eq(fft_grid_boxes(g), 50);
    cr_assert_eq(fft_grid_nodes(g), 6);
    /* and 3 nodes on that grid, FIt-SNE's, miss the bound */
    p.fft_nodes = 3;
    struct force_err e3 = fft_vs_exact(y, n, 2, &p);
    cr_log_info("the same with 3 nodes: force L2 rel %.3g", e3.l2);
    cr_assert_gt(e3.l2, 1e-3);
    fft_grid_free(g);
    free(f);
    free(y);
    tsne_result_free(r);
    array_free(x);
}

/* The automatic node count follows the box count: 6 up to 50 boxes, 300 /
 * boxes between, 3 from 100; a given count is kept. */
Test(tsne_fft, nodes_follow_the_box_count)
{
    struct fft_grid_params gp = fft_grid_params_default(2);
    struct fft_grid *g = fft_grid_new(2, &gp);
    gp.nodes = 4;
    struct fft_grid *g4 = fft_grid_new(2, &gp);
    cr_assert(g && g4, "%s", error_message());
    double y[4] = {0.0, 0.0, 0.0, 0.0}, f[4], z;
    const double spans[] = {10.0, 50.0, 60.0, 75.0, 99.0, 100.0, 180.0, 1000.0};
    const int want[] = {6, 6, 5, 4, 3, 3, 3, 3};
    for (size_t t = 0; t < sizeof spans / sizeof *spans; t++) {
        y[2] = spans[t]; /* two points spanning `spans[t]` units along x */
        cr_assert_eq(fft_grid_repulsion(g, y, 2, f, &z), 0);
        cr_assert_eq(fft_grid_nodes(g), want[t], "span %g: %d boxes, %d nodes (want %d)",
                     spans[t], fft_grid_boxes(g), fft_grid_nodes(g), want[t]);
        cr_assert_eq(fft_grid_repulsion(g4, y, 2, f, &z), 0);
        cr_assert_eq(fft_grid_nodes(g4), 4);
    }
    fft_grid_free(g);
    fft_grid_free(g4);
}

/* The FFT grid with params gp against the exact sums (2-D); *split: whether
 * the grid split the kernel. */
static struct force_err grid_vs_exact(const double *y, size_t n,
                                      const struct fft_grid_params *gp, int *split)
{
    double *fe = malloc(n * 2 * sizeof *fe), *ff = malloc(n * 2 * sizeof *ff), ze, zf;
    struct tsne_params p = tsne_params_default();
    p.dof = gp->dof;
    void *se = tsne_repulsion_exact.create(n, 2, &p);
    struct fft_grid *g = fft_grid_new(2, gp);
    cr_assert(se && g, "%s", error_message());
    cr_assert_eq(tsne_repulsion_exact.compute(se, y, fe, &ze), 0);
    cr_assert_eq(fft_grid_repulsion(g, y, n, ff, &zf), 0, "%s", error_message());
    *split = fft_grid_split(g);
    struct force_err e = force_err_of(ff, zf, fe, ze, n, 2);
    tsne_repulsion_exact.destroy(se);
    fft_grid_free(g);
    free(fe);
    free(ff);
    return e;
}

/* A large spread map as t-SNE makes them: n points in 40 Gaussian clusters
 * (standard deviations 0.5 to 4.5) at random centres across ~160 units, from
 * a fixed xorshift stream. */
static double *spread_map(size_t n)
{
    uint64_t st = 0x9E3779B97F4A7C15u;
    double *y = malloc(n * 2 * sizeof *y), cx[40], cy[40], sd[40];
#define NEXT_U01() (st ^= st << 13, st ^= st >> 7, st ^= st << 17, ((st >> 11) + 0.5) / 9007199254740992.0)
    for (int c = 0; c < 40; c++) {
        cx[c] = 160.0 * NEXT_U01() - 80.0;
        cy[c] = 160.0 * NEXT_U01() - 80.0;
        sd[c] = 0.5 + 4.0 * NEXT_U01();
    }
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % 40);
        double r = sqrt(-2.0 * log(NEXT_U01())), a = 6.283185307179586 * NEXT_U01();
        y[2 * i] = cx[c] + sd[c] * r * cos(a);
        y[2 * i + 1] = cy[c] + sd[c] * r * sin(a);
    }
#undef NEXT_U01
    return y;
}

/* Large maps split the kernel by default (fft_grid.c, split_line): a smooth
 * part on a grid of boxes R = 3 wide and the pairs closer than R summed
 * directly. On sklearn's 2,000-point map (~110 units) it is more accurate
 * than FIt-SNE's grid there (3 nodes in boxes < 1 unit wide) on a grid of
 * about a sixth of the nodes; on 12,000 points in 40 clusters (parallel
 * paths) the same, and 1 and 2 threads give identical sums; a wide but dense
 * map keeps the plain grid. */
Test(tsne_fft, split_kernel_on_large_maps, .timeout = 120)
{
    size_t n = 2000;
    double *y = map300(n, 1.0);
    struct fft_grid_params gp = fft_grid_params_default(2);
    int split;
    struct force_err es = grid_vs_exact(y, n, &gp, &split);
    cr_assert_eq(split, 1, "the default did not split the kernel on a ~110-unit map");
    gp.split = 0;
    struct force_err ep = grid_vs_exact(y, n, &gp, &split);
    cr_assert_eq(split, 0);
    cr_log_info("2,000-point map: split kernel force L2 rel %.3g (max rel %.3g), Z rel %.3g; "
                "FIt-SNE's grid %.3g, Z rel %.3g",
                es.l2, es.maxr, es.zrel, ep.l2, ep.zrel);
    cr_assert_lt(es.l2, 0.03, "split kernel: force error %.3g (worst at point %zu)", es.l2,
                 es.where);
    cr_assert_lt(es.l2, ep.l2, "split %.3g against FIt-SNE's grid %.3g", es.l2, ep.l2);
    cr_assert_lt(es.zrel, 1e-3, "split kernel: Z error %.3g", es.zrel);
    /* heavy tails: the near part's general kernel */
    gp = fft_grid_params_default(2);
    gp.dof = 0.5;
    struct force_err eh = grid_vs_exact(y, n, &gp, &split);
    cr_log_info("2,000-point map, dof 0.5, split kernel: force L2 rel %.3g, Z rel %.3g", eh.l2,
                eh.zrel);
    cr_assert_eq(split, 1);
    cr_assert_lt(eh.l2, 0.03, "dof 0.5: force error %.3g", eh.l2);
    cr_assert_lt(eh.zrel, 1e-3, "dof 0.5: Z error %.3g", eh.zrel);
    free(y);

    n = 12000;
    y = spread_map(n);
    gp = fft_grid_params_default(2);
    gp.threads = 2;
    es = grid_vs_exact(y, n, &gp, &split);
    cr_assert_eq(split, 1);
    gp.split = 0;
    ep = grid_vs_exact(y, n, &gp, &split);
    cr_log_info("12,000 points in 40 clusters: split kernel force L2 rel %.3g, Z rel %.3g; "
                "FIt-SNE's grid %.3g, Z rel %.3g",
                es.l2, es.zrel, ep.l2, ep.zrel);
    cr_assert_lt(es.l2, 0.03, "12,000 points: force error %.3g", es.l2);
    cr_assert_lt(es.l2, ep.l2, "split %.3g against FIt-SNE's grid %.3g", es.l2, ep.l2);
    cr_assert_lt(es.zrel, 1e-3, "12,000 points: Z error %.3g", es.zrel);
    double *f1 = malloc(n * 2 * sizeof *f1), *f2 = malloc(n * 2 * sizeof *f2), z1, z2;
    for (int t = 1; t <= 2; t++) {
        gp = fft_grid_params_default(2);
        gp.threads = t;
        struct fft_grid *g = fft_grid_new(2, &gp);
        cr_assert_eq(fft_grid_repulsion(g, y, n, t == 1 ? f1 : f2, t == 1 ? &z1 : &z2), 0);
        cr_assert_eq(fft_grid_split(g), 1);
        fft_grid_free(g);
    }
    cr_assert_eq(memcmp(f1, f2, n * 2 * sizeof *f1), 0, "1 and 2 threads: different forces");
    cr_assert_eq(z1, z2, "1 and 2 threads: Z %.17g against %.17g", z1, z2);
    free(f1);
    free(f2);
    free(y);

    /* A map as wide but dense (20,000 points within a few units, one point
     * 150 units away): the near pairs would cost far more than the plain
     * grid, and the default keeps FIt-SNE's grid; forces still as accurate. */
    n = 20000;
    y = spread_map(n);
    for (size_t i = 0; i + 1 < n; i++) {
        y[2 * i] = 0.02 * (y[2 * i] - y[0]);
        y[2 * i + 1] = 0.02 * (y[2 * i + 1] - y[1]);
    }
    y[2 * (n - 1)] = 150.0;
    y[2 * (n - 1) + 1] = 0.0;
    gp = fft_grid_params_default(2);
    es = grid_vs_exact(y, n, &gp, &split);
    cr_log_info("20,000 dense points and one far away: split %d, force L2 rel %.3g, Z rel %.3g",
                split, es.l2, es.zrel);
    cr_assert_eq(split, 0, "the near pairs of a dense map should have kept the plain grid");
    cr_assert_lt(es.l2, 0.05);
    free(y);
}

Test(tsne_fft, repulsion_3d_equals_exact)
{
    size_t n = 300;
    struct array *x = load(FIX "x50.npy", DT_F32, 2);
    /* a map ~12 units wide: the 3-D grid stays small (12 boxes, 72^3 nodes) */
    double *y2 = map300(n, 0.1), *y = malloc(n * 3 * sizeof *y);
    const float *xf = x->data;
    for (size_t i = 0; i < n; i++) {
        y[3 * i] = y2[2 * i];
        y[3 * i + 1] = y2[2 * i + 1];
        y[3 * i + 2] = xf[i * 50 + 2];
    }
    struct tsne_params p = tsne_params_default();
    p.dims = 3;
    p.fft_nodes = 6;
    struct force_err e = fft_vs_exact(y, n, 3, &p);
    cr_log_info("3-D, 6 nodes: force L2 rel %.3g, Z rel %.3g", e.l2, e.zrel);
    cr_assert_lt(e.l2, 1e-3, "3-D force error %.3g", e.l2);
    cr_assert_lt(e.zrel, 1e-4, "3-D Z error %.3g", e.zrel);
    p.fft_nodes = 0;
    e = fft_vs_exact(y, n, 3, &p);
    cr_log_info("3-D, 3 nodes: force L2 rel %.3g, Z rel %.3g", e.l2, e.zrel);
    cr_assert_lt(e.l2, 0.05, "3-D default force error %.3g", e.l2);
    free(y);
    free(y2);
    array_free(x);
}

/* ---- approximate kNN ----------------------------------------------------------------- */

static double recall_of(const float *x, size_t n, size_t d, size_t k, int threads,
                        uint64_t seed, struct knn **out)
{
    struct knn *ex = knn_exact(x, n, d, k, 2, NULL);
    struct knn_approx_params kp = knn_approx_params_default();
    kp.seed = seed;
    kp.threads = threads;
    struct knn *ap = knn_approx(x, n, d, k, &kp, NULL);
    cr_assert(ex && ap, "%s", error_message());
    /* recall: |approx & exact| / k per row, both sorted by index-tied distance;
     * distances equal to the k-th exact one count as hits (ties) */
    size_t hit = 0;
    for (size_t i = 0; i < n; i++) {
        double kth = ex->dist2[i * k + k - 1];
        for (size_t t = 0; t < k; t++) {
            cr_assert_neq((size_t)ap->idx[i * k + t], i, "row %zu lists itself", i);
            if (t > 0)
                cr_assert_geq(ap->dist2[i * k + t], ap->dist2[i * k + t - 1],
                              "row %zu unsorted", i);
            hit += ap->dist2[i * k + t] <= kth;
        }
    }
    knn_free(ex);
    if (out)
        *out = ap;
    else
        knn_free(ap);
    return (double)hit / (double)(n * k);
}

Test(tsne_fft, approx_knn_recall, .timeout = 600)
{
    struct array *x = load(FIX "knn5k.npy", DT_F32, 2);
    size_t n = x->shape[0], d = x->shape[1];
    struct knn *a = NULL, *b = NULL;
    double r = recall_of(x->data, n, d, 90, 2, 1, &a);
    cr_log_info("approximate 90-NN recall on %zu x %zu: %.5f", n, d, r);
    cr_assert_geq(r, 0.98, "recall %.5f < 0.98", r);
    /* same seed, one thread: the same lists */
    double r1 = recall_of(x->data, n, d, 90, 1, 1, &b);
    cr_assert_eq(r1, r);
    cr_assert_eq(memcmp(a->idx, b->idx, n * 90 * sizeof *a->idx), 0,
                 "1 and 2 threads give different neighbours");
    knn_free(a);
    knn_free(b);
    array_free(x);
}

/* The approximate search hands back its locality order, and affinity_new_knn
 * renumbers P by it: P'[q][r] must be P[order[q]][order[r]] of the same lists
 * symmetrised in the caller's numbering. */
Test(tsne_fft, renumbered_affinities_equal_the_original, .timeout = 300)
{
    struct array *x = load(FIX "x50.npy", DT_F32, 2);
    size_t n = x->shape[0], d = x->shape[1], k = affinity_neighbours(30.0);
    struct knn_approx_params kp = knn_approx_params_default();
    kp.seed = 5;
    kp.threads = 2;
    struct knn *nn = knn_approx(x->data, n, d, k, &kp, NULL);
    cr_assert_not_null(nn, "%s", error_message());
    cr_assert_not_null(nn->order);
    double *pc = malloc(n * k * sizeof *pc);
    affinity_conditional(nn, 30.0, 2, pc, NULL, NULL);
    struct affinity *P = affinity_symmetrize(nn, pc);
    struct affinity *Q =
        affinity_new_knn(x->data, n, d, 30.0, AFFINITY_KNN_APPROX, 5, 2, NULL, NULL, NULL);
    cr_assert(P && Q, "%s", error_message());
    cr_assert_null(P->order);
    cr_assert_not_null(Q->order);
    cr_assert_eq(memcmp(Q->order, nn->order, n * sizeof *Q->order), 0);
    cr_assert_eq(Q->nnz, P->nnz);
    size_t moved = 0;
    for (size_t q = 0; q < n; q++) {
        size_t i = Q->order[q], len = Q->row[q + 1] - Q->row[q];
        moved += i != q;
        cr_assert_eq(len, P->row[i + 1] - P->row[i], "row %zu (point %zu) length", q, i);
        for (size_t e = Q->row[q]; e < Q->row[q + 1]; e++) {
            if (e > Q->row[q]) cr_assert_gt(Q->col[e], Q->col[e - 1], "row %zu unsorted", q);
            size_t j = Q->order[Q->col[e]], f = P->row[i];
            while (f < P->row[i + 1] && (size_t)P->col[f] != j)
                f++;
            cr_assert_lt(f, P->row[i + 1], "pair (%zu, %zu) missing", i, j);
            /* float vs double conditionals: the same to float rounding */
            cr_assert_float_eq(Q->val[e], P->val[f], 1e-6f * P->val[f] + 1e-12f,
                               "p(%zu, %zu): %g vs %g", i, j, Q->val[e], P->val[f]);
        }
    }
    cr_assert_gt(moved, n / 2, "the order moved only %zu of %zu points", moved, n);
    affinity_free(P);
    affinity_free(Q);
    free(pc);
    knn_free(nn);
    array_free(x);
}

/* ---- whole runs ------------------------------------------------------------------------- */

/* 10-NN preservation and leave-one-out 10-NN label accuracy (make_tsne.py). */
static void quality(const float *xh, size_t d, const float *y, size_t n, const int32_t *lab,
                    double *pres, double *acc)
{
    struct knn *hi = knn_exact(xh, n, d, 10, 0, NULL), *lo = knn_exact(y, n, 2, 10, 0, NULL);
    cr_assert(hi && lo);
    double ps = 0.0;
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        int common = 0, cnt[64] = {0}, best = 0;
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 10; b++)
                common += hi->idx[i * 10 + a] == lo->idx[i * 10 + b];
        ps += common / 10.0;
        for (int a = 0; a < 10; a++)
            cnt[lab[lo->idx[i * 10 + a]]]++;
        for (int c = 1; c < 64; c++)
            if (cnt[c] > cnt[best]) best = c;
        correct += best == lab[i];
    }
    knn_free(hi);
    knn_free(lo);
    *pres = ps / (double)n;
    *acc = (double)correct / (double)n;
}

Test(tsne_fft, fft_matches_sklearn, .timeout = 1200)
{
    struct array *x = load(FIX "x50.npy", DT_F32, 2);
    struct array *st = load(FIX "sk_exact_stats.npy", DT_F64, 1);
    struct array *lab = load(FIX "labels.npy", DT_I32, 1);
    const double *s = st->data;
    size_t n = x->shape[0];
    struct tsne_params p = tsne_params_default();
    p.method = TSNE_METHOD_FFT;
    p.seed = 1;
    p.threads = 2;
    struct tsne_result *r = tsne_run(x->data, n, x->shape[1], &p);
    cr_assert_not_null(r, "%s", error_message());
    cr_assert_eq(r->method, TSNE_METHOD_FFT);
    cr_assert(r->kl_final_exact);
    double pres, acc;
    quality(x->data, x->shape[1], r->y, n, lab->data, &pres, &acc);
    cr_log_info(
        "fft: KL %.4f (sklearn %.4f), 10-NN preservation %.4f (%.4f), kNN accuracy %.4f "
        "(%.4f), %.2f s + %.2f s",
        r->kl_final, s[0], pres, s[2], acc, s[3], r->time_affinity, r->time_optimise);
    cr_assert_lt(fabs(r->kl_final - s[0]) / s[0], 0.05, "KL %.4f, sklearn %.4f", r->kl_final,
                 s[0]);
    cr_assert_geq(pres, s[2] - 0.02, "preservation %.4f, sklearn %.4f", pres, s[2]);
    cr_assert_geq(acc, s[3] - 0.02, "kNN accuracy %.4f, sklearn %.4f", acc, s[3]);
    /* the estimated trace ends near the exact final value */
    cr_assert_lt(fabs(r->kl[r->nkl - 1] - r->kl_final) / r->kl_final, 0.03,
                 "trace %g, final %g", r->kl[r->nkl - 1], r->kl_final);
    tsne_result_free(r);
    /* with the approximate search the run is renumbered inside (P->order):
     * the map must come back in the caller's order, as good */
    p.knn = AFFINITY_KNN_APPROX;
    r = tsne_run(x->data, n, x->shape[1], &p);
    cr_assert_not_null(r, "%s", error_message());
    quality(x->data, x->shape[1], r->y, n, lab->data, &pres, &acc);
    cr_log_info("fft + approximate kNN: KL %.4f, 10-NN preservation %.4f, kNN accuracy %.4f",
                r->kl_final, pres, acc);
    cr_assert_lt(fabs(r->kl_final - s[0]) / s[0], 0.05, "KL %.4f, sklearn %.4f", r->kl_final,
                 s[0]);
    cr_assert_geq(pres, s[2] - 0.02, "preservation %.4f, sklearn %.4f", pres, s[2]);
    cr_assert_geq(acc, s[3] - 0.02, "kNN accuracy %.4f, sklearn %.4f", acc, s[3]);
    tsne_result_free(r);
    array_free(x);
    array_free(st);
    array_free(lab);
}

Test(tsne_fft, same_seed_same_output_any_threads, .timeout = 600)
{
    struct array *x = load(FIX "x50.npy", DT_F32, 2);
    size_t n = 1000;
    struct tsne_params p = tsne_params_default();
    p.method = TSNE_METHOD_FFT;
    p.knn = AFFINITY_KNN_APPROX;
    p.init = TSNE_INIT_RANDOM;
    p.iters = 60;
    p.exag_iters = 30;
    p.seed = 3;
    p.threads = 2;
    struct tsne_result *a = tsne_run(x->data, n, x->shape[1], &p);
    struct tsne_result *b = tsne_run(x->data, n, x->shape[1], &p);
    p.threads = 1;
    struct tsne_result *c = tsne_run(x->data, n, x->shape[1], &p);
    p.seed = 4;
    struct tsne_result *e = tsne_run(x->data, n, x->shape[1], &p);
    cr_assert(a && b && c && e, "%s", error_message());
    cr_assert_eq(memcmp(a->y, b->y, n * 2 * sizeof *a->y), 0, "same seed, different output");
    for (size_t t = 0; t < n * 2; t++)
        cr_assert_eq(a->y[t], c->y[t], "2 vs 1 thread, element %zu: %.9g vs %.9g", t, a->y[t],
                     c->y[t]);
    cr_assert_neq(memcmp(a->y, e->y, n * 2 * sizeof *a->y), 0, "seed had no effect");
    tsne_result_free(a);
    tsne_result_free(b);
    tsne_result_free(c);
    tsne_result_free(e);
    array_free(x);
}

/* Heavy tails: dof < 1 runs, its KL is that of its own kernel, and the map
 * differs (clusters tighter relative to the map: the mean 10-NN distance over
 * the map's spread falls). */
static double nn_spread_ratio(const float *y, size_t n)
{
    struct knn *nn = knn_exact(y, n, 2, 10, 0, NULL);
    double mx = 0, my = 0, v = 0, dn = 0;
    for (size_t i = 0; i < n; i++) {
        mx += y[2 * i];
        my += y[2 * i + 1];
    }
    mx /= n;
    my /= n;
    for (size_t i = 0; i < n; i++) {
        v += pow(y[2 * i] - mx, 2) + pow(y[2 * i + 1] - my, 2);
        dn += sqrt(nn->dist2[i * 10 + 9]);
    }
    knn_free(nn);
    return (dn / n) / sqrt(v / n);
}

Test(tsne_fft, heavy_tails_dof, .timeout = 600)
{
    struct array *x = load(FIX "x50.npy", DT_F32, 2);
    size_t n = 1000;
    struct tsne_params p = tsne_params_default();
    p.method = TSNE_METHOD_BH;
    p.seed = 1;
    p.iters = 500;
    struct tsne_result *a = tsne_run(x->data, n, x->shape[1], &p);
    p.dof = 0.5;
    struct tsne_result *b = tsne_run(x->data, n, x->shape[1], &p);
    cr_assert(a && b, "%s", error_message());
    double ra = nn_spread_ratio(a->y, n), rb = nn_spread_ratio(b->y, n);
    cr_log_info("10-NN distance / spread: dof 1 %.4f, dof 0.5 %.4f; KL %.4f / %.4f", ra, rb,
                a->kl_final, b->kl_final);
    cr_assert_neq(memcmp(a->y, b->y, n * 2 * sizeof *a->y), 0);
    cr_assert_lt(rb, ra, "dof 0.5 should give tighter clusters: %.4f vs %.4f", rb, ra);
    for (size_t t = 0; t < n * 2; t++)
        cr_assert(isfinite(b->y[t]));
    tsne_result_free(a);
    tsne_result_free(b);
    array_free(x);
}

/* ---- adding points to a map --------------------------------------------------------- */

Test(tsne_fft, add_places_points_near_their_neighbours, .timeout = 600)
{
    struct array *x = load(FIX "x50.npy", DT_F32, 2);
    struct array *lab = load(FIX "labels.npy", DT_I32, 1);
    /* The fixture is in class order: every 5th row is held out as new, the
     * others make the map (rows and labels copied into that order). */
    size_t n = 1600, m = 400, d = x->shape[1];
    float *xf = malloc((n + m) * d * sizeof *xf);
    int32_t *lb = malloc((n + m) * sizeof *lb);
    for (size_t i = 0, a = 0, b = n; i < n + m; i++) {
        size_t to = i % 5 ? a++ : b++;
        memcpy(xf + to * d, (const float *)x->data + i * d, d * sizeof *xf);
        lb[to] = ((const int32_t *)lab->data)[i];
    }
    struct tsne_params p = tsne_params_default();
    p.seed = 1;
    struct tsne_result *map = tsne_run(xf, n, d, &p);
    cr_assert_not_null(map, "%s", error_message());
    p.iters = 250;
    struct tsne_result *add = tsne_transform(xf, n, d, map->y, xf + n * d, m, &p);
    cr_assert_not_null(add, "%s", error_message());
    cr_assert_eq(add->n, m);
    /* 10-NN label vote of each added point among the map's points */
    size_t correct = 0, correct_map = 0;
    struct knn *nn = knn_query(map->y, n, add->y, m, 2, 10, 0, NULL);
    struct knn *nh = knn_query(xf, n, xf + n * d, m, d, 10, 0, NULL);
    cr_assert(nn && nh);
    for (size_t i = 0; i < m; i++) {
        int cnt[16] = {0}, ch[16] = {0}, best = 0, bh = 0;
        for (int a = 0; a < 10; a++) {
            cnt[lb[nn->idx[i * 10 + a]]]++;
            ch[lb[nh->idx[i * 10 + a]]]++;
        }
        for (int c = 1; c < 16; c++) {
            if (cnt[c] > cnt[best]) best = c;
            if (ch[c] > ch[bh]) bh = c;
        }
        correct += best == lb[n + i];
        correct_map += bh == lb[n + i];
    }
    double acc = (double)correct / m, acc_hi = (double)correct_map / m;
    /* the map's own points: leave-one-out 10-NN vote in 2-D */
    struct knn *own = knn_exact(map->y, n, 2, 10, 0, NULL);
    size_t cown = 0;
    for (size_t i = 0; i < n; i++) {
        int cnt[16] = {0}, best = 0;
        for (int a = 0; a < 10; a++)
            cnt[lb[own->idx[i * 10 + a]]]++;
        for (int c = 1; c < 16; c++)
            if (cnt[c] > cnt[best]) best = c;
        cown += best == lb[i];
    }
    knn_free(own);
    double acc_own = (double)cown / n;
    cr_log_info("added points: 10-NN label accuracy in the map %.4f (map's own points %.4f, "
                "in the 50-d data %.4f), mean KL %.4f",
                acc, acc_own, acc_hi, add->kl_final);
    /* as good as the map's own points, within 0.04 (measured: 0.7325 vs 0.73-0.75) */
    cr_assert_geq(acc, acc_own - 0.04, "added points' accuracy %.4f, map's own %.4f", acc,
                  acc_own);
    cr_assert_geq(acc, 0.65, "added points' accuracy %.4f", acc);
    knn_free(nn);
    knn_free(nh);
    tsne_result_free(add);
    tsne_result_free(map);
    free(xf);
    free(lb);
    array_free(x);
    array_free(lab);
}

Test(tsne_fft, method_auto_thresholds)
{
    cr_assert_eq(tsne_method_resolve(TSNE_METHOD_AUTO, TSNE_EXACT_MAX_N, 2), TSNE_METHOD_EXACT);
    cr_assert_eq(tsne_method_resolve(TSNE_METHOD_AUTO, TSNE_EXACT_MAX_N + 1, 2),
                 TSNE_FFT_MIN_N > TSNE_EXACT_MAX_N + 1 ? TSNE_METHOD_BH : TSNE_METHOD_FFT);
    cr_assert_eq(tsne_method_resolve(TSNE_METHOD_AUTO, TSNE_FFT_MIN_N, 2), TSNE_METHOD_FFT);
    cr_assert_eq(tsne_method_resolve(TSNE_METHOD_AUTO, TSNE_FFT_MIN_N, 3), TSNE_METHOD_BH);
    cr_assert_str_eq(tsne_method_name(TSNE_METHOD_FFT), "fft");
    struct tsne_params p = tsne_params_default();
    p.dof = 0;
    struct array *x = load(FIX "x50.npy", DT_F32, 2);
    cr_assert_null(tsne_run(x->data, 200, 50, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    cr_assert(strstr(error_message(), "degrees of freedom"), "%s", error_message());
    array_free(x);
}
