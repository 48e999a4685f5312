/* test_tsne.c - kNN, perplexity calibration, Barnes-Hut tree and t-SNE against
 * brute force and scikit-learn 1.2 (fixtures/make_tsne.py, 2,000 Fashion-MNIST
 * points reduced to 50 dims). The quality figures (KL, 10-NN preservation,
 * 10-NN label accuracy) are defined in make_tsne.py and re-implemented here.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "../analysis/affinity.h"
#include "../analysis/knn.h"
#include "../analysis/sptree.h"
#include "../analysis/tsne.h"
#include "../core/rng.h"
#include "../core/array.h"
#include "../core/error.h"

#define FIX "fixtures/tsne/"

static struct array *load(const char *name, enum dtype t, int ndim)
{
    return fixture_load("", name, t, ndim);
}

static struct array *load_x50(void)
{
    return load(FIX "x50.npy", DT_F32, 2);
}

/* ---- brute-force references ---------------------------------------------------- */

struct dj {
    double d;
    int32_t j;
};

/* k nearest of row i by double distances, self excluded, ties by index:
 * insertion into a sorted list of k (candidates come in index order, so a
 * strictly smaller distance is needed to pass an equal one). tmp holds k. */
static void brute_knn_row(const float *x, size_t n, size_t d, size_t i, size_t k,
                          struct dj *tmp, int32_t *out)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        if (j == i) continue;
        double s = 0.0;
        for (size_t c = 0; c < d; c++) {
            double t = (double)x[i * d + c] - (double)x[j * d + c];
            s += t * t;
        }
        if (m == k && !(s < tmp[k - 1].d)) continue;
        size_t pos = m < k ? m++ : k - 1;
        while (pos > 0 && s < tmp[pos - 1].d) {
            tmp[pos] = tmp[pos - 1];
            pos--;
        }
        tmp[pos].d = s;
        tmp[pos].j = (int32_t)j;
    }
    for (size_t t = 0; t < k; t++)
        out[t] = tmp[t].j;
}

/* 10-NN preservation and leave-one-out 10-NN label accuracy (make_tsne.py). */
static void quality(const float *xh, size_t d, const float *y, int dims, size_t n,
                    const int32_t *lab, double *pres, double *acc)
{
    struct dj *tmp = malloc(n * sizeof *tmp);
    int32_t hi[10], lo[10];
    double ps = 0.0;
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        brute_knn_row(xh, n, d, i, 10, tmp, hi);
        brute_knn_row(y, n, (size_t)dims, i, 10, tmp, lo);
        int common = 0;
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 10; b++)
                common += hi[a] == lo[b];
        ps += common / 10.0;
        int cnt[64] = {0}, best = 0;
        for (int a = 0; a < 10; a++)
            cnt[lab[lo[a]]]++;
        for (int c = 1; c < 64; c++)
            if (cnt[c] > cnt[best]) best = c; /* ties: the smallest label */
        correct += best == lab[i];
    }
    free(tmp);
    *pres = ps / (double)n;
    *acc = (double)correct / (double)n;
}

/* ---- kNN ------------------------------------------------------------------------ */

Test(tsne, knn_equals_bruteforce_double)
{
    struct array *x = load_x50();
    size_t n = x->shape[0], d = x->shape[1], k = 90;
    const float *xf = x->data;
    struct knn *nn = knn_exact(xf, n, d, k, 2, NULL);
    cr_assert_not_null(nn, "%s", error_message());
    struct dj *tmp = malloc(n * sizeof *tmp);
    int32_t *ref = malloc(k * sizeof *ref);
    size_t bad = 0, first_i = 0, first_t = 0;
    double worst_d = 0.0;
    for (size_t i = 0; i < n; i++) {
        brute_knn_row(xf, n, d, i, k, tmp, ref);
        for (size_t t = 0; t < k; t++) {
            if (nn->idx[i * k + t] != ref[t] && !bad++) {
                first_i = i;
                first_t = t;
            }
            double e = fabs(nn->dist2[i * k + t] - tmp[t].d);
            if (e > worst_d) worst_d = e;
        }
    }
    cr_assert_eq(bad, 0, "%zu of %zu neighbours differ, first at row %zu rank %zu", bad, n * k,
                 first_i, first_t);
    cr_assert_lt(worst_d, 1e-9, "worst distance difference %g", worst_d);

    /* numpy's answer (make_tsne.py) for the first 200 rows */
    struct array *h = load(FIX "knn_head.npy", DT_I32, 2);
    const int32_t *hr = h->data;
    cr_assert_eq(h->shape[1], k);
    for (size_t i = 0; i < h->shape[0]; i++)
        for (size_t t = 0; t < k; t++)
            cr_assert_eq(nn->idx[i * k + t], hr[i * k + t], "row %zu rank %zu: %d, numpy %d", i,
                         t, nn->idx[i * k + t], hr[i * k + t]);
    array_free(h);
    free(tmp);
    free(ref);
    knn_free(nn);
    array_free(x);
}

Test(tsne, knn_ties_break_by_index)
{
    /* 8 x 8 integer grid, duplicated: many equal distances and zero distances. */
    size_t n = 128, d = 2, k = 20;
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        x[i * d] = (float)((i % 64) % 8);
        x[i * d + 1] = (float)((i % 64) / 8);
    }
    struct knn *nn = knn_exact(x, n, d, k, 1, NULL);
    cr_assert_not_null(nn);
    struct dj *tmp = malloc(n * sizeof *tmp);
    int32_t ref[20];
    for (size_t i = 0; i < n; i++) {
        brute_knn_row(x, n, d, i, k, tmp, ref);
        for (size_t t = 0; t < k; t++)
            cr_assert_eq(nn->idx[i * k + t], ref[t], "row %zu rank %zu: %d, expected %d", i, t,
                         nn->idx[i * k + t], ref[t]);
    }
    free(tmp);
    knn_free(nn);
    free(x);
}

/* ---- perplexity calibration ---------------------------------------------------- */

Test(tsne, perplexity_calibration)
{
    struct array *x = load_x50();
    size_t n = x->shape[0], d = x->shape[1], k = affinity_neighbours(30.0);
    cr_assert_eq(k, 90);
    struct knn *nn = knn_exact(x->data, n, d, k, 0, NULL);
    cr_assert_not_null(nn);
    double *pc = malloc(n * k * sizeof *pc), *beta = malloc(n * sizeof *beta),
           *h = malloc(n * sizeof *h);
    size_t missed = affinity_conditional(nn, 30.0, 0, pc, beta, h);
    cr_assert_eq(missed, 0);
    /* Entropy recomputed here from the normalised rows. */
    double target = log(30.0), worst = 0.0, worst_sum = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0.0, e = 0.0;
        for (size_t t = 0; t < k; t++) {
            double p = pc[i * k + t];
            s += p;
            if (p > 0) e -= p * log(p);
        }
        if (fabs(e - target) > worst) {
            worst = fabs(e - target);
            wi = i;
        }
        if (fabs(s - 1.0) > worst_sum) worst_sum = fabs(s - 1.0);
    }
    cr_assert_lt(worst, 1e-5, "row %zu entropy off log(30) by %g", wi, worst);
    cr_assert_lt(worst_sum, 1e-12, "a row sums to 1 +- %g", worst_sum);

    /* beta against numpy's bisection (same tolerance, so they agree loosely) */
    struct array *b = load(FIX "beta.npy", DT_F64, 1);
    const double *br = b->data;
    double wr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs(beta[i] - br[i]) / br[i];
        if (r > wr) {
            wr = r;
            wi = i;
        }
    }
    cr_assert_lt(wr, 1e-3, "beta of row %zu: %g vs numpy %g (rel %g)", wi, beta[wi], br[wi],
                 wr);

    /* joint P: symmetric, sums to 1, no diagonal */
    struct affinity *P = affinity_symmetrize(nn, pc);
    cr_assert_not_null(P);
    double tot = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t e = P->row[i]; e < P->row[i + 1]; e++) {
            size_t j = (size_t)P->col[e];
            cr_assert_neq(j, i);
            if (e > P->row[i]) cr_assert_gt(P->col[e], P->col[e - 1]);
            tot += P->val[e];
            double back = -1;
            for (size_t f = P->row[j]; f < P->row[j + 1]; f++)
                if ((size_t)P->col[f] == i) back = P->val[f];
            cr_assert_eq(back, P->val[e], "P[%zu][%zu] = %g but P[%zu][%zu] = %g", i, j,
                         P->val[e], j, i, back);
        }
    /* P is stored as float (memory at large N): the sum is 1 to float rounding */
    cr_assert_lt(fabs(tot - 1.0), 1e-6, "P sums to %.17g", tot);
    affinity_free(P);
    array_free(b);
    free(pc);
    free(beta);
    free(h);
    knn_free(nn);
    array_free(x);
}

/* ---- the exact KL formula and quality metrics on sklearn's output --------------- */

static void check_reference(const char *yname, const char *statsname)
{
    struct array *x = load_x50();
    struct array *y = load(yname, DT_F32, 2);
    struct array *st = load(statsname, DT_F64, 1);
    struct array *lab = load(FIX "labels.npy", DT_I32, 1);
    size_t n = x->shape[0];
    const double *s = st->data;
    struct affinity *P = affinity_new(x->data, n, x->shape[1], 30.0, 0, NULL);
    cr_assert_not_null(P, "%s", error_message());
    double kl = tsne_kl_exact(P, y->data, 2, 0);
    cr_assert_lt(fabs(kl - s[0]) / s[0], 1e-6, "%s: KL %.9g, numpy %.9g", yname, kl, s[0]);
    double pres, acc;
    quality(x->data, x->shape[1], y->data, 2, n, lab->data, &pres, &acc);
    cr_assert_lt(fabs(pres - s[2]), 1e-12, "%s: preservation %.6f, numpy %.6f", yname, pres,
                 s[2]);
    cr_assert_lt(fabs(acc - s[3]), 1e-12, "%s: accuracy %.6f, numpy %.6f", yname, acc, s[3]);
    affinity_free(P);
    array_free(x);
    array_free(y);
    array_free(st);
    array_free(lab);
}

Test(tsne, kl_and_metrics_match_numpy_on_sklearn_output)
{
    check_reference(FIX "sk_exact_y.npy", FIX "sk_exact_stats.npy");
    check_reference(FIX "sk_bh_y.npy", FIX "sk_bh_stats.npy");
}

/* ---- gradients ------------------------------------------------------------------ */

/* Textbook gradient with dense P and Q (van der Maaten & Hinton 2008, eq. 5). */
static void dense_gradient(const struct affinity *P, const double *y, int dims, double *g)
{
    size_t n = P->n;
    double *pd = calloc(n * n, sizeof *pd), z = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t e = P->row[i]; e < P->row[i + 1]; e++)
            pd[i * n + P->col[e]] = P->val[e];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            if (i == j) continue;
            double d2 = 0;
            for (int d = 0; d < dims; d++)
                d2 += pow(y[i * dims + d] - y[j * dims + d], 2);
            z += 1.0 / (1.0 + d2);
        }
    for (size_t i = 0; i < n; i++) {
        for (int d = 0; d < dims; d++)
            g[i * dims + d] = 0;
        for (size_t j = 0; j < n; j++) {
            if (i == j) continue;
            double d2 = 0;
            for (int d = 0; d < dims; d++)
                d2 += pow(y[i * dims + d] - y[j * dims + d], 2);
            double w = 1.0 / (1.0 + d2), q = w / z;
            for (int d = 0; d < dims; d++)
                g[i * dims + d] +=
                    4.0 * (pd[i * n + j] - q) * w * (y[i * dims + d] - y[j * dims + d]);
        }
    }
    free(pd);
}

static double max_rel(const double *a, const double *b, size_t m, size_t *where)
{
    double scale = 0.0, worst = 0.0;
    for (size_t t = 0; t < m; t++)
        if (fabs(b[t]) > scale) scale = fabs(b[t]);
    for (size_t t = 0; t < m; t++)
        if (fabs(a[t] - b[t]) > worst) {
            worst = fabs(a[t] - b[t]);
            *where = t;
        }
    return worst / scale;
}

static void gradient_case(int dims)
{
    size_t n = 300;
    struct array *x = load_x50();
    struct affinity *P = affinity_new(x->data, n, x->shape[1], 30.0, 0, NULL);
    cr_assert_not_null(P, "%s", error_message());
    /* A realistic spread: sklearn's map for these rows, plus a third axis from
     * the data for 3-D. */
    struct array *ys = load(FIX "sk_bh_y.npy", DT_F32, 2);
    const float *yf = ys->data, *xf = x->data;
    double *y = malloc(n * dims * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        y[i * dims] = yf[2 * i];
        y[i * dims + 1] = yf[2 * i + 1];
        if (dims == 3) y[i * dims + 2] = 3.0 * xf[i * 50 + 2];
    }
    double *ge = malloc(n * dims * sizeof *ge), *gb = malloc(n * dims * sizeof *gb),
           *gd = malloc(n * dims * sizeof *gd);
    struct tsne_params p = tsne_params_default();
    p.dims = dims;
    p.theta = 0.0;
    double kle, klb;
    cr_assert_eq(tsne_gradient(P, y, dims, 1.0, &tsne_repulsion_exact, &p, ge, &kle), 0);
    cr_assert_eq(tsne_gradient(P, y, dims, 1.0, &tsne_repulsion_bh, &p, gb, &klb), 0);
    dense_gradient(P, y, dims, gd);
    size_t w = 0;
    double r = max_rel(ge, gd, n * dims, &w);
    cr_assert_lt(r, 1e-10, "%dD exact vs dense gradient: rel %g at point %zu", dims, r,
                 w / dims);
    cr_log_info("%dD exact vs dense gradient: worst rel %.3g", dims, r);
    r = max_rel(gb, ge, n * dims, &w);
    cr_log_info("%dD BH theta 0 vs exact gradient: worst rel %.3g", dims, r);
    cr_assert_lt(r, 1e-5, "%dD BH theta 0 vs exact: rel %g at point %zu", dims, r, w / dims);
    cr_assert_lt(fabs(klb - kle) / kle, 1e-10, "KL %g vs %g", klb, kle);
    /* the backend KL equals the exact KL formula */
    float *y32 = malloc(n * dims * sizeof *y32);
    for (size_t t = 0; t < n * (size_t)dims; t++)
        y32[t] = (float)y[t];
    double *yd = malloc(n * dims * sizeof *yd);
    for (size_t t = 0; t < n * (size_t)dims; t++)
        yd[t] = y32[t];
    double kl32;
    cr_assert_eq(tsne_gradient(P, yd, dims, 1.0, &tsne_repulsion_exact, &p, gd, &kl32), 0);
    double klx = tsne_kl_exact(P, y32, dims, 0);
    cr_assert_lt(fabs(klx - kl32) / klx, 1e-10, "KL %g vs %g", klx, kl32);
    /* theta 0.5 is an approximation, but a close one */
    p.theta = 0.5;
    cr_assert_eq(tsne_gradient(P, y, dims, 1.0, &tsne_repulsion_bh, &p, gb, &klb), 0);
    r = max_rel(gb, ge, n * dims, &w);
    cr_log_info("%dD BH theta 0.5 vs exact gradient: worst rel %.3g, KL %.6f vs %.6f", dims, r,
                klb, kle);
    cr_assert_lt(r, 0.05, "%dD BH theta 0.5 vs exact: rel %g at point %zu", dims, r, w / dims);
    cr_assert_lt(fabs(klb - kle) / kle, 0.01, "KL %g vs %g", klb, kle);
    free(y32);
    free(yd);
    free(y);
    free(ge);
    free(gb);
    free(gd);
    affinity_free(P);
    array_free(ys);
    array_free(x);
}

Test(tsne, bh_theta0_equals_exact_gradient_2d)
{
    gradient_case(2);
}
Test(tsne, bh_theta0_equals_exact_gradient_3d)
{
    gradient_case(3);
}

/* ---- whole runs against scikit-learn ------------------------------------------------ */

static void run_case(enum tsne_method m, const char *statsname)
{
    struct array *x = load_x50();
    struct array *st = load(statsname, DT_F64, 1);
    struct array *lab = load(FIX "labels.npy", DT_I32, 1);
    const double *s = st->data;
    size_t n = x->shape[0];
    struct tsne_params p = tsne_params_default();
    p.method = m;
    p.seed = 1;
    /* One thread: the output does not depend on the count (same_seed_same_output
     * checks that), and on a busy machine one thread is the quicker test. */
    p.threads = 1;
    struct tsne_result *r = tsne_run(x->data, n, x->shape[1], &p);
    cr_assert_not_null(r, "%s", error_message());
    cr_assert(r->kl_final_exact);
    cr_assert_eq(r->nkl, 20);
    cr_assert_eq(r->kl_iter[19], 1000);
    double pres, acc;
    quality(x->data, x->shape[1], r->y, 2, n, lab->data, &pres, &acc);
    cr_log_info("%s: KL %.4f (sklearn %.4f), 10-NN preservation %.4f (%.4f), "
                "kNN accuracy %.4f (%.4f), %.2f s + %.2f s",
                tsne_method_name(m), r->kl_final, s[0], pres, s[2], acc, s[3], r->time_affinity,
                r->time_optimise);
    cr_assert_lt(fabs(r->kl_final - s[0]) / s[0], 0.05, "%s: KL %.4f, sklearn %.4f",
                 tsne_method_name(m), r->kl_final, s[0]);
    cr_assert_geq(pres, s[2] - 0.02, "%s: preservation %.4f, sklearn %.4f", tsne_method_name(m),
                  pres, s[2]);
    cr_assert_geq(acc, s[3] - 0.02, "%s: kNN accuracy %.4f, sklearn %.4f", tsne_method_name(m),
                  acc, s[3]);
    /* the trace ends near the final value (it lags one step) and falls after
     * the exaggeration phase */
    cr_assert_lt(fabs(r->kl[19] - r->kl_final) / r->kl_final, 0.02, "trace %g, final %g",
                 r->kl[19], r->kl_final);
    cr_assert_lt(r->kl[19], r->kl[5]);
    tsne_result_free(r);
    array_free(x);
    array_free(st);
    array_free(lab);
}

Test(tsne, exact_matches_sklearn, .timeout = 600)
{
    run_case(TSNE_METHOD_EXACT, FIX "sk_exact_stats.npy");
}

Test(tsne, barnes_hut_matches_sklearn, .timeout = 600)
{
    run_case(TSNE_METHOD_BH, FIX "sk_bh_stats.npy");
}

Test(tsne, same_seed_same_output, .timeout = 300)
{
    struct array *x = load_x50();
    size_t n = 1100; /* above the size where the BH loop goes parallel */
    struct tsne_params p = tsne_params_default();
    p.method = TSNE_METHOD_BH;
    p.init = TSNE_INIT_RANDOM;
    p.iters = 150;
    p.exag_iters = 75;
    p.threads = 2;
    p.seed = 7;
    struct tsne_result *a = tsne_run(x->data, n, x->shape[1], &p);
    struct tsne_result *b = tsne_run(x->data, n, x->shape[1], &p);
    p.threads = 1;
    struct tsne_result *c = tsne_run(x->data, n, x->shape[1], &p);
    p.seed = 8;
    struct tsne_result *e = tsne_run(x->data, n, x->shape[1], &p);
    cr_assert(a && b && c && e, "%s", error_message());
    for (size_t t = 0; t < n * 2; t++)
        cr_assert_eq(a->y[t], b->y[t], "element %zu: %.9g vs %.9g", t, a->y[t], b->y[t]);
    for (size_t t = 0; t < n * 2; t++)
        cr_assert_eq(a->y[t], c->y[t], "2 vs 1 thread, element %zu: %.9g vs %.9g", t, a->y[t],
                     c->y[t]);
    cr_assert_eq(memcmp(a->kl, b->kl, a->nkl * sizeof *a->kl), 0);
    cr_assert_neq(memcmp(a->y, e->y, n * 2 * sizeof *a->y), 0, "seed had no effect");
    tsne_result_free(a);
    tsne_result_free(b);
    tsne_result_free(c);
    tsne_result_free(e);
    array_free(x);
}

/* The default step: N / (4 x 12) above 9,600 points (openTSNE's and
 * FIt-SNE's N / 12 without the factor 4 this gradient carries), 200 below. */
Test(tsne, default_learning_rate)
{
    struct rng g;
    rng_seed(&g, 3);
    size_t sizes[2] = {2000, 24000}, d = 5;
    double want[2] = {200.0, 500.0};
    for (int k = 0; k < 2; k++) {
        size_t n = sizes[k];
        float *x = malloc(sizeof(float) * n * d);
        for (size_t i = 0; i < n * d; i++)
            x[i] = (float)rng_normal(&g);
        struct tsne_params p = tsne_params_default();
        p.iters = 2;
        p.exag_iters = 1;
        p.perplexity = 5;
        struct tsne_result *r = tsne_run(x, n, d, &p);
        cr_assert(r, "%s", error_message());
        cr_expect(fabs(r->learning_rate - want[k]) < 1e-9, "N %zu: learning rate %g, want %g", n,
                  r->learning_rate, want[k]);
        tsne_result_free(r);
        free(x);
    }
}

Test(tsne, three_dimensions_and_given_init)
{
    struct array *x = load_x50();
    size_t n = 200;
    struct tsne_params p = tsne_params_default();
    p.dims = 3;
    p.iters = 100;
    p.exag_iters = 50;
    p.perplexity = 10;
    struct tsne_result *r = tsne_run(x->data, n, x->shape[1], &p);
    cr_assert_not_null(r, "%s", error_message());
    cr_assert_eq(r->dims, 3);
    cr_assert_eq(r->method, TSNE_METHOD_EXACT); /* auto at 200 points */
    for (size_t t = 0; t < n * 3; t++)
        cr_assert(isfinite(r->y[t]));
    /* given init with zero iterations of movement would be the init itself;
     * with iterations the map is centred and moves, but stays finite */
    p.init = TSNE_INIT_GIVEN;
    p.init_y = r->y;
    p.method = TSNE_METHOD_BH;
    struct tsne_result *r2 = tsne_run(x->data, n, x->shape[1], &p);
    cr_assert_not_null(r2, "%s", error_message());
    cr_assert(r2->kl_final <= r->kl_final * 1.05, "%g vs %g", r2->kl_final, r->kl_final);
    tsne_result_free(r2);
    tsne_result_free(r);
    array_free(x);
}

/* ---- bad input ----------------------------------------------------------------------- */

Test(tsne, bad_input)
{
    struct array *x = load_x50();
    size_t d = x->shape[1];
    float *xf = x->data;
    struct tsne_params p = tsne_params_default();

    /* 90 points: perplexity 30 needs 91; the largest valid is 89/3 = 29.67 */
    error_clear();
    cr_assert_null(tsne_run(xf, 90, d, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    cr_assert(strstr(error_message(), "largest valid perplexity is 29.66"), "%s",
              error_message());
    p.perplexity = 29.66;
    p.iters = 10;
    struct tsne_result *r = tsne_run(xf, 90, d, &p);
    cr_assert_not_null(r, "%s", error_message());
    tsne_result_free(r);
    p = tsne_params_default();

    p.dims = 4;
    cr_assert_null(tsne_run(xf, 200, d, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    cr_assert(strstr(error_message(), "2 or 3"), "%s", error_message());
    p.dims = 1;
    cr_assert_null(tsne_run(xf, 200, d, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    p = tsne_params_default();

    float *bad = malloc(200 * d * sizeof *bad);
    memcpy(bad, xf, 200 * d * sizeof *bad);
    bad[17 * d + 3] = NAN;
    cr_assert_null(tsne_run(bad, 200, d, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    cr_assert(strstr(error_message(), "row 17"), "%s", error_message());
    bad[17 * d + 3] = INFINITY;
    cr_assert_null(tsne_run(bad, 200, d, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    bad[17 * d + 3] = 0;

    p.perplexity = 0.5;
    cr_assert_null(tsne_run(bad, 200, d, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    p.perplexity = NAN;
    cr_assert_null(tsne_run(bad, 200, d, &p));
    p = tsne_params_default();
    p.theta = -1;
    cr_assert_null(tsne_run(bad, 200, d, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    p = tsne_params_default();
    p.init = TSNE_INIT_GIVEN; /* no coordinates */
    cr_assert_null(tsne_run(bad, 200, d, &p));
    cr_assert_eq(error_code(), ERR_INPUT);
    free(bad);

    cr_assert_null(knn_exact(xf, 10, d, 10, 0, NULL));
    cr_assert_eq(error_code(), ERR_INPUT);
    array_free(x);
}
