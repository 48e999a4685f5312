/* test_pca.c - PCA against scikit-learn's PCA(svd_solver="full") on
 * Fashion-MNIST (fixtures/make_analysis.py): the covariance, Gram and
 * randomized solvers, whitening, save/load, and the input errors.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "../analysis/pca.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/util.h"

#define FIX "fixtures/analysis/"

static struct array *load(const char *name, enum dtype t, int ndim)
{
    return fixture_load(FIX, name, t, ndim);
}

/* Worst |got - want| / scale over an r x c block, scale per column (cscale),
 * per row (rscale), or |want| (both NULL). Prints and asserts <= tol. */
static void expect_close(const char *what, const double *got, size_t gstride,
                         const double *want, size_t wstride, size_t r, size_t c,
                         const double *cscale, const double *rscale, double tol)
{
    double worst = 0;
    size_t wi = 0, wj = 0;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) {
            double g = got[i * gstride + j], w = want[i * wstride + j];
            double s = cscale ? cscale[j] : rscale ? rscale[i] : fabs(w);
            double e = fabs(g - w) / (s > 0 ? s : 1);
            if (!(e <= worst)) {
                worst = e;
                wi = i;
                wj = j;
            }
        }
    cr_log_info("%s: worst relative difference %.3g at [%zu,%zu]", what, worst, wi, wj);
    cr_expect(worst <= tol,
              "%s: worst relative difference %.3g at [%zu,%zu] "
              "(got %.10g, want %.10g)",
              what, worst, wi, wj, got[wi * gstride + wj], want[wi * wstride + wj]);
}

static double *scores_of(const struct pca *fit, const float *x, size_t n)
{
    float *s = xmalloc(n * fit->k * sizeof *s);
    pca_transform(fit, x, n, s);
    double *d = xmalloc(n * fit->k * sizeof *d);
    for (size_t i = 0; i < n * fit->k; i++)
        d[i] = s[i];
    free(s);
    return d;
}

/* Compares fit (its first k components) with the sklearn references PREFIX_*;
 * scores relative to each component's standard deviation (or 1 when whitened). */
static void compare_fit(const struct pca *fit, const float *x, size_t n, size_t k,
                        const char *prefix, double tol)
{
    char name[96];
    snprintf(name, sizeof name, "%s_mean.npy", prefix);
    struct array *mean = load(name, DT_F64, 1);
    snprintf(name, sizeof name, "%s_components.npy", prefix);
    struct array *comp = load(name, DT_F64, 2);
    snprintf(name, sizeof name, "%s_variance.npy", prefix);
    struct array *var = load(name, DT_F64, 1);
    snprintf(name, sizeof name, "%s_ratio.npy", prefix);
    struct array *ratio = load(name, DT_F64, 1);
    snprintf(name, sizeof name, "%s_scores.npy", prefix);
    struct array *sc = load(name, DT_F64, 2);
    size_t d = fit->d, kr = array_rows(comp);
    cr_assert_eq(array_rows(mean), d);
    cr_assert_eq(array_cols(comp), d);
    cr_assert_geq(fit->k, k);
    cr_assert_geq(kr, k);

    double one = 1, *ones = xmalloc(d * sizeof *ones);
    for (size_t j = 0; j < d; j++)
        ones[j] = 1;
    /* mean: relative to the largest mean entry */
    double mmax = 0;
    for (size_t j = 0; j < d; j++)
        mmax = fmax(mmax, fabs(((double *)mean->data)[j]));
    expect_close("mean", fit->mean, d, mean->data, d, 1, d, NULL, &mmax, tol);
    /* unit rows: an absolute difference is a relative one */
    expect_close("components", fit->components, d, comp->data, d, k, d, NULL, ones, tol);
    expect_close("explained variance", fit->explained_variance, k, var->data, k, 1, k, NULL,
                 NULL, tol);
    expect_close("explained ratio", fit->explained_ratio, k, ratio->data, k, 1, k, NULL, NULL,
                 tol);
    double *sd = xmalloc(k * sizeof *sd);
    for (size_t c = 0; c < k; c++)
        sd[c] = sqrt(((double *)var->data)[c]);
    double *got = scores_of(fit, x, n);
    expect_close("scores", got, fit->k, sc->data, array_cols(sc), n, k, sd, NULL, tol);
    (void)one;
    free(got);
    free(sd);
    free(ones);
    array_free(mean);
    array_free(comp);
    array_free(var);
    array_free(ratio);
    array_free(sc);
}

static void check_orthonormal(const struct pca *fit)
{
    double worst = 0;
    for (size_t a = 0; a < fit->k; a++)
        for (size_t b = 0; b <= a; b++) {
            double s = 0;
            for (size_t j = 0; j < fit->d; j++)
                s += fit->components[a * fit->d + j] * fit->components[b * fit->d + j];
            worst = fmax(worst, fabs(s - (a == b)));
        }
    cr_expect(worst < 1e-10, "components not orthonormal: worst %.3g", worst);
}

Test(pca, covariance_path_matches_sklearn)
{
    struct array *x = load("emb2000x50.npy", DT_F32, 2);
    struct pca_params p = pca_params_default();
    p.k = 10;
    struct pca *fit = pca_fit(x->data, array_rows(x), array_cols(x), &p);
    cr_assert_not_null(fit, "%s", error_message());
    cr_expect_eq(fit->solver, PCA_COVARIANCE);
    compare_fit(fit, x->data, array_rows(x), 10, "pca10", 1e-4);
    check_orthonormal(fit);
    pca_free(fit);
    array_free(x);
}

Test(pca, whitened_scores_match_sklearn)
{
    struct array *x = load("emb2000x50.npy", DT_F32, 2);
    struct array *ref = load("pca10w_scores.npy", DT_F64, 2);
    struct pca_params p = pca_params_default();
    p.k = 10;
    p.whiten = 1;
    size_t n = array_rows(x);
    struct pca *fit = pca_fit(x->data, n, array_cols(x), &p);
    cr_assert_not_null(fit, "%s", error_message());
    double *got = scores_of(fit, x->data, n);
    double ones[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    expect_close("whitened scores", got, 10, ref->data, 10, n, 10, ones, NULL, 1e-4);
    /* whitened columns have variance 1 (ddof 1) */
    for (size_t c = 0; c < 10; c++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += got[i * 10 + c] * got[i * 10 + c];
        cr_expect(fabs(s / (n - 1) - 1) < 1e-5, "column %zu variance %g", c, s / (n - 1));
    }
    free(got);
    pca_free(fit);
    array_free(ref);
    array_free(x);
}

Test(pca, gram_path_for_wide_data_matches_sklearn)
{
    /* 100 images x 784 raw pixels: D > N, so the N x N Gram matrix */
    struct array *x = load("raw100x784.npy", DT_F32, 2);
    struct pca_params p = pca_params_default();
    p.k = 10;
    struct pca *fit = pca_fit(x->data, array_rows(x), array_cols(x), &p);
    cr_assert_not_null(fit, "%s", error_message());
    cr_expect_eq(fit->solver, PCA_GRAM);
    compare_fit(fit, x->data, array_rows(x), 10, "gram10", 1e-4);
    check_orthonormal(fit);
    pca_free(fit);
    /* the covariance path (784 x 784) on the same data agrees too */
    p.solver = PCA_COVARIANCE;
    fit = pca_fit(x->data, array_rows(x), array_cols(x), &p);
    cr_assert_not_null(fit, "%s", error_message());
    compare_fit(fit, x->data, array_rows(x), 10, "gram10", 1e-4);
    pca_free(fit);
    array_free(x);
}

Test(pca, randomized_path_matches_exact_sklearn)
{
    struct array *x = load("emb2000x50.npy", DT_F32, 2);
    struct pca_params p = pca_params_default();
    p.k = 3;
    p.solver = PCA_RANDOMIZED;
    p.seed = 7;
    struct pca *fit = pca_fit(x->data, array_rows(x), array_cols(x), &p);
    cr_assert_not_null(fit, "%s", error_message());
    cr_expect_eq(fit->solver, PCA_RANDOMIZED);
    compare_fit(fit, x->data, array_rows(x), 3, "pca10", 1e-4);
    check_orthonormal(fit);
    /* same seed, same answer */
    struct pca *again = pca_fit(x->data, array_rows(x), array_cols(x), &p);
    cr_assert_not_null(again);
    cr_expect(memcmp(fit->components, again->components, 3 * 50 * sizeof(double)) == 0,
              "randomized PCA is not repeatable with a fixed seed");
    pca_free(again);
    pca_free(fit);
    array_free(x);

    x = load("raw100x784.npy", DT_F32, 2);
    p.k = 5;
    fit = pca_fit(x->data, array_rows(x), array_cols(x), &p);
    cr_assert_not_null(fit, "%s", error_message());
    compare_fit(fit, x->data, array_rows(x), 5, "gram10", 1e-4);
    pca_free(fit);
    array_free(x);
}

Test(pca, auto_picks_randomized_for_few_components_of_large_data)
{
    /* 1200 x 1000, rank-8 signal + small noise: the automatic rule takes the
     * randomized solver; its variances agree with the exact covariance one. */
    size_t n = 1200, d = 1000;
    float *x = xmalloc(n * d * sizeof *x);
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double v = 0;
            for (int r = 0; r < 8; r++)
                v += (8 - r) * sin((double)(r + 1) * (double)(i + 1) * 0.37 +
                                   (double)j * (r + 1) * 0.011);
            s = s * 1103515245u + 12345u;
            x[i * d + j] = (float)(v + 0.01 * ((s >> 8) / 16777216.0 - 0.5));
        }
    struct pca_params p = pca_params_default();
    p.k = 4;
    struct pca *r = pca_fit(x, n, d, &p);
    cr_assert_not_null(r, "%s", error_message());
    cr_expect_eq(r->solver, PCA_RANDOMIZED);
    p.solver = PCA_COVARIANCE;
    struct pca *c = pca_fit(x, n, d, &p);
    cr_assert_not_null(c, "%s", error_message());
    expect_close("randomized vs covariance variance", r->explained_variance, 4,
                 c->explained_variance, 4, 1, 4, NULL, NULL, 1e-6);
    double ones[4] = {1, 1, 1, 1};
    expect_close("randomized vs covariance components", r->components, d, c->components, d, 4,
                 d, NULL, ones, 1e-4);
    pca_free(r);
    pca_free(c);
    free(x);
}

Test(pca, components_beyond_the_rank_stay_orthonormal)
{
    /* 5 rows have rank 4 after centring: the 5th component has variance 0 */
    float x[5 * 20];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 20; j++)
            x[i * 20 + j] = (float)((i + 1) * (j % 7) - j * 0.5 * i + (i == j));
    struct pca_params p = pca_params_default();
    struct pca *fit = pca_fit(x, 5, 20, &p); /* k = 0: min(n, d) = 5 */
    cr_assert_not_null(fit, "%s", error_message());
    cr_expect_eq(fit->k, 5);
    cr_expect_eq(fit->solver, PCA_GRAM);
    cr_expect(fit->explained_variance[4] < 1e-10 * fit->explained_variance[0]);
    check_orthonormal(fit);
    pca_free(fit);
}

Test(pca, save_load_transform_round_trip)
{
    struct array *x = load("emb2000x50.npy", DT_F32, 2);
    struct pca_params p = pca_params_default();
    p.k = 4;
    p.whiten = 1;
    struct pca *fit = pca_fit(x->data, array_rows(x), 50, &p);
    cr_assert_not_null(fit);
    char dir[] = "/tmp/interp-pca-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(pca_save(fit, dir), 0, "%s", error_message());
    struct pca *back = pca_load(dir, 1);
    cr_assert_not_null(back, "%s", error_message());
    cr_expect_eq(back->k, 4);
    cr_expect_eq(back->d, 50);
    cr_expect(fabs(back->total_variance - fit->total_variance) < 1e-9 * fit->total_variance);
    double *a = scores_of(fit, x->data, 100), *b = scores_of(back, x->data, 100);
    cr_expect(memcmp(a, b, 400 * sizeof *a) == 0, "scores differ after save/load");
    free(a);
    free(b);
    pca_free(back);
    /* a damaged fit is refused (a fresh folder: files already read are
     * registered inputs, which outfile refuses to overwrite) */
    char dir2[] = "/tmp/interp-pca-XXXXXX";
    cr_assert_not_null(mkdtemp(dir2));
    cr_assert_eq(pca_save(fit, dir2), 0, "%s", error_message());
    char *cp = path_join(dir2, "components.npy");
    struct array *bad = array_new(DT_F64, 2, (size_t[]){4, 49});
    cr_assert_eq(npy_write(cp, bad), 0, "%s", error_message());
    free(cp);
    array_free(bad);
    cr_expect_null(pca_load(dir2, 0));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_log_info("damaged fit: %s: %s", error_path(), error_message());
    const char *names[] = {"mean.npy", "components.npy", "variance.npy", "ratio.npy"};
    for (int i = 0; i < 4; i++) {
        char *q = path_join(dir, names[i]), *q2 = path_join(dir2, names[i]);
        unlink(q);
        unlink(q2);
        free(q);
        free(q2);
    }
    rmdir(dir2);
    cr_expect_null(pca_load(dir, 0)); /* missing files */
    cr_expect_eq(error_code(), ERR_INPUT);
    rmdir(dir);
    pca_free(fit);
    array_free(x);
}

Test(pca, bad_input_is_refused_with_a_reason)
{
    struct array *x = load("emb2000x50.npy", DT_F32, 2);
    float *v = x->data;
    struct pca_params p = pca_params_default();

    p.k = 51; /* K > D */
    cr_expect_null(pca_fit(v, 2000, 50, &p));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "51 components") && strstr(error_message(), "50 columns"),
              "%s", error_message());

    p.k = 4; /* K > N */
    cr_expect_null(pca_fit(v, 3, 50, &p));
    cr_expect(strstr(error_message(), "3 rows"), "%s", error_message());

    p.k = 1; /* n < 2 */
    cr_expect_null(pca_fit(v, 1, 50, &p));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "at least 2 rows"), "%s", error_message());
    cr_expect_null(pca_fit(v, 0, 50, &p));

    p.k = 2;
    v[7 * 50 + 3] = NAN;
    cr_expect_null(pca_fit(v, 2000, 50, &p));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "NaN at row 7, column 3"), "%s", error_message());
    v[7 * 50 + 3] = 0;
    v[1999 * 50 + 49] = -INFINITY;
    cr_expect_null(pca_fit(v, 2000, 50, &p));
    cr_expect(strstr(error_message(), "row 1999, column 49"), "%s", error_message());
    cr_expect_eq(pca_input_check(v, 2000, 50, "new.npy"), ERR_INPUT);
    cr_expect_str_eq(error_path(), "new.npy");
    v[1999 * 50 + 49] = 0;
    cr_expect_eq(pca_input_check(v, 2000, 50, NULL), 0);
    array_free(x);
}
