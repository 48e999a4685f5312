/* pca.c - PCA by a symmetric eigensolver (covariance or Gram matrix) or by a
 * randomized range finder, with scikit-learn's variance conventions.
 *
 * The input is float32 and may be large (70,000 x 784): it is never copied
 * whole; blocks of rows are centred into a double buffer and fed to OpenBLAS
 * (dsyrk/dgemm), so every sum runs in double.
 */
#include "pca.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/array.h"
#include "../core/error.h"
#include "../core/rng.h"
#include "../core/outfile.h"
#include "../core/util.h"

/* Rows per block: 1024 rows of D doubles (6 MB at D = 784) keep BLAS busy
 * with level-3 work while the buffer stays small. */
#define PCA_BLOCK 1024

struct pca_params pca_params_default(void)
{
    struct pca_params p = {0};
    p.solver = PCA_AUTO;
    p.oversample = 10;
    p.power_iters = -1;
    return p;
}

void pca_free(struct pca *fit)
{
    if (!fit) return;
    free(fit->mean);
    free(fit->components);
    free(fit->explained_variance);
    free(fit->explained_ratio);
    free(fit);
}

int pca_input_check(const float *x, size_t n, size_t d, const char *name)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            float v = x[i * d + j];
            if (!isfinite(v))
                return error_set(ERR_INPUT, name, "%s at row %zu, column %zu",
                                 isnan(v) ? "NaN" : "infinite value", i, j);
        }
    return 0;
}

/* ---------------------------------------------------------------- helpers */

/* out (rows x d) = x[r0 .. r0+rows) - mean, in double. */
static void block_center(const float *x, size_t r0, size_t rows, size_t d, const double *mean,
                         double *out)
{
    for (size_t i = 0; i < rows; i++) {
        const float *xi = x + (r0 + i) * d;
        double *oi = out + i * d;
        for (size_t j = 0; j < d; j++)
            oi[j] = (double)xi[j] - mean[j];
    }
}

/* Sign convention (DESIGN.md): the entry of largest magnitude (the first
 * one on ties) is positive. */
static void fix_signs(double *comp, size_t k, size_t d)
{
    for (size_t i = 0; i < k; i++) {
        double *v = comp + i * d;
        size_t best = 0;
        for (size_t j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[best])) best = j;
        if (v[best] < 0)
            for (size_t j = 0; j < d; j++)
                v[j] = -v[j];
    }
}

/* Modified Gram-Schmidt on the rows of v (k x d), in order. A row that
 * vanishes (its component has zero variance, so any unit vector orthogonal
 * to the others is as good) is replaced by the first coordinate axis that is
 * not in the span of the earlier rows. */
static void orthonormalize_rows(double *v, size_t k, size_t d)
{
    size_t axis = 0;
    for (size_t i = 0; i < k; i++) {
        double *vi = v + i * d;
        for (int attempt = 0;; attempt++) {
            for (int pass = 0; pass < 2; pass++) /* twice is enough (Kahan) */
                for (size_t p = 0; p < i; p++) {
                    const double *vp = v + p * d;
                    double dot = 0;
                    for (size_t j = 0; j < d; j++)
                        dot += vi[j] * vp[j];
                    for (size_t j = 0; j < d; j++)
                        vi[j] -= dot * vp[j];
                }
            double nrm = 0;
            for (size_t j = 0; j < d; j++)
                nrm += vi[j] * vi[j];
            nrm = sqrt(nrm);
            if (nrm > 1e-6 || axis >= d) {
                BUG_ON(nrm == 0);
                for (size_t j = 0; j < d; j++)
                    vi[j] /= nrm;
                break;
            }
            BUG_ON(attempt > (int)d + 1);
            memset(vi, 0, d * sizeof *vi);
            vi[axis++] = 1.0;
        }
    }
}


/* Orthonormal basis of the columns of a (m x c, m >= c; row-major, or
 * column-major when col_major: LAPACK's own order, no transposed copy), in
 * place: Householder QR then the explicit Q. */
static int orthonormalize_cols(double *a, size_t m, size_t c, int col_major, double *tau)
{
    int lay = col_major ? LAPACK_COL_MAJOR : LAPACK_ROW_MAJOR;
    lapack_int ld = (lapack_int)(col_major ? m : c);
    if (LAPACKE_dgeqrf(lay, (lapack_int)m, (lapack_int)c, a, ld, tau) != 0 ||
        LAPACKE_dorgqr(lay, (lapack_int)m, (lapack_int)c, (lapack_int)c, a, ld, tau) != 0)
        return error_set(ERR_FAIL, NULL, "PCA: LAPACK QR failed");
    return 0;
}

/* The k largest eigenpairs of the symmetric m x m matrix s (upper triangle
 * used, destroyed): values descending into w[k], vectors as the columns of
 * z (m x k, row-major), in the same order. */
static int top_eigen(double *s, size_t m, size_t k, double *w, double *z)
{
    lapack_int found = 0;
    lapack_int *isuppz = xmalloc(2 * k * sizeof *isuppz);
    double *wa = xmalloc(m * sizeof *wa);
    double *za = big_alloc(m * k * sizeof *za, NULL, "PCA eigenvectors");
    int rc = 0;
    if (!za) {
        rc = ERR_FAIL;
        goto done;
    }
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)m, s,
                                     (lapack_int)m, 0.0, 0.0, (lapack_int)(m - k + 1),
                                     (lapack_int)m, 0.0, &found, wa, za, (lapack_int)k, isuppz);
    if (info != 0 || (size_t)found != k) {
        rc = error_set(ERR_FAIL, NULL, "PCA: LAPACKE_dsyevr failed (info %d)", (int)info);
        goto done;
    }
    /* dsyevr returns ascending order; reverse. */
    for (size_t i = 0; i < k; i++) {
        w[i] = wa[k - 1 - i];
        for (size_t r = 0; r < m; r++)
            z[r * k + i] = za[r * k + (k - 1 - i)];
    }
done:
    free(isuppz);
    free(wa);
    free(za);
    return rc;
}

/* ---------------------------------------------------------------- solvers */

/* C = Xc^T Xc (d x d) accumulated over row blocks; eigenvectors of C are the
 * components, eigenvalues the squared singular values of Xc. */
static int solve_covariance(const float *x, size_t n, size_t d, size_t k, struct pca *fit,
                            double *sv2, const struct progress *pg)
{
    int rc = ERR_FAIL;
    size_t dd, bd, rows = n < PCA_BLOCK ? n : PCA_BLOCK;
    double *c = NULL, *buf = NULL, *z = NULL;
    if (!mul_ok(d, d, &dd) || !mul_ok(dd, sizeof(double), &dd) ||
        !mul3_ok(rows, d, sizeof(double), &bd))
        return error_set(ERR_INPUT, NULL, "PCA: %zu columns is too many", d);
    c = big_calloc(dd, NULL, "PCA covariance matrix");
    buf = big_alloc(bd, NULL, "PCA row block");
    z = big_alloc(d * k * sizeof *z, NULL, "PCA components");
    if (!c || !buf || !z) goto done;
    for (size_t r0 = 0; r0 < n; r0 += rows) {
        size_t b = n - r0 < rows ? n - r0 : rows;
        block_center(x, r0, b, d, fit->mean, buf);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)b, 1.0, buf, (int)d,
                    1.0, c, (int)d);
        progress_update(pg, "PCA", r0 + b, n, "covariance");
    }
    double tr = 0;
    for (size_t j = 0; j < d; j++)
        tr += c[j * d + j];
    fit->total_variance = tr / (double)(n - 1);
    if ((rc = top_eigen(c, d, k, sv2, z)) < 0) goto done;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < d; j++)
            fit->components[i * d + j] = z[j * k + i];
    rc = 0;
done:
    free(c);
    free(buf);
    free(z);
    return rc;
}

/* G = Xc Xc^T (n x n), accumulated over column blocks; with G u = s^2 u the
 * component is v = Xc^T u / s (the SVD's right vector from its left one). */
static int solve_gram(const float *x, size_t n, size_t d, size_t k, struct pca *fit,
                      double *sv2, const struct progress *pg)
{
    int rc = ERR_FAIL;
    size_t nn, cols = d < PCA_BLOCK ? d : PCA_BLOCK, bd;
    double *g = NULL, *buf = NULL, *u = NULL, *t = NULL;
    if (!mul3_ok(n, n, sizeof(double), &nn) || !mul3_ok(n, cols, sizeof(double), &bd))
        return error_set(ERR_INPUT, NULL, "PCA: %zu rows is too many", n);
    g = big_calloc(nn, NULL, "PCA Gram matrix");
    buf = big_alloc(bd, NULL, "PCA column block");
    u = big_alloc(n * k * sizeof *u, NULL, "PCA left vectors");
    t = big_alloc(cols * k * sizeof *t, NULL, "PCA component block");
    if (!g || !buf || !u || !t) goto done;
    double tr = 0;
    for (size_t c0 = 0; c0 < d; c0 += cols) {
        size_t b = d - c0 < cols ? d - c0 : cols;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < b; j++)
                buf[i * b + j] = (double)x[i * d + c0 + j] - fit->mean[c0 + j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)b, 1.0, buf, (int)b,
                    1.0, g, (int)n);
        progress_update(pg, "PCA", c0 + b, 2 * d, "Gram matrix");
    }
    for (size_t i = 0; i < n; i++)
        tr += g[i * n + i];
    fit->total_variance = tr / (double)(n - 1);
    if ((rc = top_eigen(g, n, k, sv2, u)) < 0) goto done;
    for (size_t c0 = 0; c0 < d; c0 += cols) {
        size_t b = d - c0 < cols ? d - c0 : cols;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < b; j++)
                buf[i * b + j] = (double)x[i * d + c0 + j] - fit->mean[c0 + j];
        /* t (b x k) = buf^T (b x n) u (n x k) */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)b, (int)k, (int)n, 1.0, buf,
                    (int)b, u, (int)k, 0.0, t, (int)k);
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < b; j++)
                fit->components[i * d + c0 + j] = t[j * k + i];
        progress_update(pg, "PCA", d + c0 + b, 2 * d, "Gram matrix");
    }
    /* Rows have length s_i; normalising divides by it. Zero-variance rows
     * (k above the rank) are completed to an orthonormal set. */
    orthonormalize_rows(fit->components, k, d);
    rc = 0;
done:
    free(g);
    free(buf);
    free(u);
    free(t);
    return rc;
}

/* The passes of the randomized solver run in single precision, as the data
 * is (a range finder needs no more; the small factorisations stay double):
 * half the time and memory traffic of double GEMMs. fbuf: a centred row block
 * (PCA_BLOCK x d floats); fq, fz: d x l floats. */
static void block_center_f(const float *x, size_t r0, size_t rows, size_t d,
                           const double *mean, float *out)
{
    for (size_t i = 0; i < rows; i++) {
        const float *xi = x + (r0 + i) * d;
        float *oi = out + i * d;
        for (size_t j = 0; j < d; j++)
            oi[j] = (float)((double)xi[j] - mean[j]);
    }
}

/* y = Xc q (q: d x l), over row blocks, y kept column-major (n x l, i.e.
 * l rows of n: the order LAPACK's QR works in); fy: the same in floats. */
static void pass_right(const float *x, size_t n, size_t d, const double *mean, const double *q,
                       size_t l, double *y, float *fbuf, float *fq, float *fy)
{
    for (size_t t = 0; t < d * l; t++)
        fq[t] = (float)q[t];
    for (size_t r0 = 0; r0 < n; r0 += PCA_BLOCK) {
        size_t b = n - r0 < PCA_BLOCK ? n - r0 : PCA_BLOCK;
        block_center_f(x, r0, b, d, mean, fbuf);
        /* y^T[:, r0..r0+b) = q^T Xc_block^T */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, (int)l, (int)b, (int)d, 1.0f, fq,
                    (int)l, fbuf, (int)d, 0.0f, fy + r0, (int)n);
    }
    for (size_t t = 0; t < n * l; t++)
        y[t] = fy[t];
}

/* z (d x l, row-major) = Xc^T y (y column-major n x l), each row block's
 * product summed in double. */
static void pass_left(const float *x, size_t n, size_t d, const double *mean, const double *y,
                      size_t l, double *z, float *fbuf, float *fz, float *fy)
{
    for (size_t t = 0; t < n * l; t++)
        fy[t] = (float)y[t];
    memset(z, 0, d * l * sizeof *z);
    for (size_t r0 = 0; r0 < n; r0 += PCA_BLOCK) {
        size_t b = n - r0 < PCA_BLOCK ? n - r0 : PCA_BLOCK;
        block_center_f(x, r0, b, d, mean, fbuf);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, (int)d, (int)l, (int)b, 1.0f, fbuf,
                    (int)d, fy + r0, (int)n, 0.0f, fz, (int)l);
        for (size_t t = 0; t < d * l; t++)
            z[t] += fz[t];
    }
}

/* Halko, Martinsson & Tropp (2011): Algorithm 4.4 (randomized subspace
 * iteration: Y = (A A^T)^q A Omega with a QR after every product, Q = qr(Y))
 * then Algorithm 5.1 (B = Q^T A, SVD of the small B). Here B's SVD comes from
 * the eigenpairs of B B^T (l x l): B^T w / s are the right vectors. */
static int solve_randomized(const float *x, size_t n, size_t d, size_t k,
                            const struct pca_params *p, struct pca *fit, double *sv2)
{
    int rc = ERR_FAIL;
    size_t m = n < d ? n : d, l = k + p->oversample;
    if (l > m) l = m;
    int q = p->power_iters >= 0 ? p->power_iters : (k * 10 < m ? 7 : 4);
    size_t rows = n < PCA_BLOCK ? n : PCA_BLOCK, bd;
    double *buf = NULL, *om = NULL, *y = NULL, *tau = NULL, *bb = NULL, *w = NULL, *wv = NULL;
    float *fbuf = NULL, *fdl = NULL, *fy = NULL;
    if (!mul3_ok(rows, d, sizeof(double), &bd))
        return error_set(ERR_INPUT, NULL, "PCA: %zu columns is too many", d);
    buf = big_alloc(bd, NULL, "PCA row block");
    fbuf = big_alloc(bd / 2, NULL, "PCA row block");
    om = big_alloc(d * l * sizeof *om, NULL, "PCA test matrix");
    fdl = big_alloc(d * l * sizeof *fdl, NULL, "PCA test matrix");
    y = big_alloc(n * l * sizeof *y, NULL, "PCA range sample");
    fy = big_alloc(n * l * sizeof *fy, NULL, "PCA range sample");
    tau = xmalloc(l * sizeof *tau);
    bb = xmalloc(l * l * sizeof *bb);
    w = xmalloc(l * sizeof *w);
    wv = xmalloc(l * l * sizeof *wv);
    if (!buf || !fbuf || !om || !fdl || !y || !fy) goto done;

    struct rng g; /* the test matrix is a function of the seed only */
    rng_seed(&g, p->seed);
    for (size_t i = 0; i < d * l; i++)
        om[i] = rng_normal(&g);

    /* total variance: sum of squared centred entries */
    double tr = 0;
    for (size_t r0 = 0; r0 < n; r0 += PCA_BLOCK) {
        size_t b = n - r0 < PCA_BLOCK ? n - r0 : PCA_BLOCK;
        block_center(x, r0, b, d, fit->mean, buf);
        for (size_t i = 0; i < b * d; i++)
            tr += buf[i] * buf[i];
    }
    fit->total_variance = tr / (double)(n - 1);

    size_t steps = 2 * (size_t)q + 2, step = 0;
    pass_right(x, n, d, fit->mean, om, l, y, fbuf, fdl, fy); /* Y = A Omega */
    if ((rc = orthonormalize_cols(y, n, l, 1, tau)) < 0) goto done;
    progress_update(p->progress, "PCA", ++step, steps, "randomized");
    for (int it = 0; it < q; it++) {
        pass_left(x, n, d, fit->mean, y, l, om, fbuf, fdl, fy); /* Z = A^T Q */
        if ((rc = orthonormalize_cols(om, d, l, 0, tau)) < 0) goto done;
        pass_right(x, n, d, fit->mean, om, l, y, fbuf, fdl, fy); /* Y = A Z */
        if ((rc = orthonormalize_cols(y, n, l, 1, tau)) < 0) goto done;
        step += 2;
        progress_update(p->progress, "PCA", step, steps, "randomized");
    }
    pass_left(x, n, d, fit->mean, y, l, om, fbuf, fdl, fy); /* B^T = A^T Q (d x l) */
    memset(bb, 0, l * l * sizeof *bb);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)l, (int)d, 1.0, om, (int)l, 0.0, bb,
                (int)l); /* B B^T */
    if ((rc = top_eigen(bb, l, l, w, wv)) < 0) goto done;
    /* v_i = B^T w_i / s_i; normalised (and completed) below */
    for (size_t i = 0; i < k; i++) {
        sv2[i] = w[i] > 0 ? w[i] : 0;
        for (size_t j = 0; j < d; j++) {
            double s = 0;
            for (size_t c = 0; c < l; c++)
                s += om[j * l + c] * wv[c * l + i];
            fit->components[i * d + j] = s;
        }
    }
    orthonormalize_rows(fit->components, k, d);
    progress_update(p->progress, "PCA", steps, steps, "randomized");
    rc = 0;
done:
    free(buf);
    free(fbuf);
    free(om);
    free(fdl);
    free(y);
    free(fy);
    free(tau);
    free(bb);
    free(w);
    free(wv);
    return rc;
}

/* ---------------------------------------------------------------- fit */

static enum pca_solver choose_solver(size_t n, size_t d, size_t k, size_t over)
{
    size_t m = n < d ? n : d;
    if (m >= 1000 && 32 * (k + over) <= m) return PCA_RANDOMIZED;
    return d <= n ? PCA_COVARIANCE : PCA_GRAM;
}

struct pca *pca_fit(const float *x, size_t n, size_t d, const struct pca_params *pp)
{
    struct pca_params p = pp ? *pp : pca_params_default();
    if (n < 2) return error_set(ERR_INPUT, NULL, "PCA needs at least 2 rows, got %zu", n), NULL;
    if (d < 1) return error_set(ERR_INPUT, NULL, "PCA needs at least 1 column"), NULL;
    size_t m = n < d ? n : d, k = p.k ? p.k : m;
    if (k > d)
        return error_set(ERR_INPUT, NULL,
                         "%zu components asked for but the data has %zu columns", k, d),
               NULL;
    if (k > n)
        return error_set(ERR_INPUT, NULL, "%zu components asked for but the data has %zu rows",
                         k, n),
               NULL;
    if (n > INT_MAX || d > INT_MAX)
        return error_set(ERR_INPUT, NULL, "PCA: %zu x %zu is beyond LAPACK's sizes", n, d),
               NULL;
    if (pca_input_check(x, n, d, NULL) < 0) return NULL;

    enum pca_solver s = p.solver == PCA_AUTO ? choose_solver(n, d, k, p.oversample) : p.solver;
    /* The Gram matrix is n x n and only worth it when n < d; honour an
     * explicit request anyway (it is exact either way). */
    struct pca *fit = xcalloc(1, sizeof *fit);
    fit->d = d;
    fit->k = k;
    fit->n_fit = n;
    fit->whiten = p.whiten;
    fit->solver = s;
    fit->mean = xcalloc(d, sizeof *fit->mean);
    fit->explained_variance = xcalloc(k, sizeof(double));
    fit->explained_ratio = xcalloc(k, sizeof(double));
    fit->components = big_alloc(k * d * sizeof(double), NULL, "PCA components");
    double *sv2 = xcalloc(k, sizeof *sv2);
    if (!fit->components) goto fail;

    /* Column means in double, row by row (cache-friendly). */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            fit->mean[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++)
        fit->mean[j] /= (double)n;

    int rc;
    switch (s) {
    case PCA_GRAM: rc = solve_gram(x, n, d, k, fit, sv2, p.progress); break;
    case PCA_RANDOMIZED: rc = solve_randomized(x, n, d, k, &p, fit, sv2); break;
    default: rc = solve_covariance(x, n, d, k, fit, sv2, p.progress); break;
    }
    if (rc < 0) goto fail;

    fix_signs(fit->components, k, d);
    for (size_t i = 0; i < k; i++) {
        /* rounding can leave a zero eigenvalue slightly negative */
        double ev = (sv2[i] > 0 ? sv2[i] : 0) / (double)(n - 1);
        fit->explained_variance[i] = ev;
        fit->explained_ratio[i] = fit->total_variance > 0 ? ev / fit->total_variance : 0;
    }
    free(sv2);
    return fit;
fail:
    free(sv2);
    pca_free(fit);
    return NULL;
}

/* --------------------------------------------------------------- transform */

static void finish_scores(const struct pca *fit, const double *t, size_t rows, float *scores)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t c = 0; c < fit->k; c++) {
            double v = t[i * fit->k + c];
            if (fit->whiten) {
                double ev = fit->explained_variance[c];
                v = ev > 0 ? v / sqrt(ev) : 0;
            }
            scores[i * fit->k + c] = (float)v;
        }
}

void pca_transform(const struct pca *fit, const float *x, size_t n, float *scores)
{
    size_t d = fit->d, k = fit->k, rows = n < PCA_BLOCK ? n : PCA_BLOCK;
    if (n == 0) return;
    /* A block buffer makes this one dgemm per block; without memory for it,
     * the same sums row by row (slower, same numbers up to rounding). */
    double *buf = malloc(rows * d * sizeof *buf);
    double *t = malloc(rows * k * sizeof *t);
    if (buf && t) {
        for (size_t r0 = 0; r0 < n; r0 += rows) {
            size_t b = n - r0 < rows ? n - r0 : rows;
            block_center(x, r0, b, d, fit->mean, buf);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)k, (int)d, 1.0,
                        buf, (int)d, fit->components, (int)d, 0.0, t, (int)k);
            finish_scores(fit, t, b, scores + r0 * k);
        }
    } else {
        double row[64];
        for (size_t i = 0; i < n; i++)
            for (size_t c0 = 0; c0 < k; c0 += 64) {
                size_t cb = k - c0 < 64 ? k - c0 : 64;
                for (size_t c = 0; c < cb; c++) {
                    const double *v = fit->components + (c0 + c) * d;
                    double s = 0;
                    for (size_t j = 0; j < d; j++)
                        s += ((double)x[i * d + j] - fit->mean[j]) * v[j];
                    row[c] = s;
                }
                for (size_t c = 0; c < cb; c++) {
                    double v = row[c];
                    if (fit->whiten) {
                        double ev = fit->explained_variance[c0 + c];
                        v = ev > 0 ? v / sqrt(ev) : 0;
                    }
                    scores[i * k + c0 + c] = (float)v;
                }
            }
    }
    free(buf);
    free(t);
}

/* --------------------------------------------------------------- save/load */

static int save_one(const char *dir, const char *name, const double *v, int ndim, size_t r,
                    size_t c)
{
    size_t shape[2] = {r, c};
    struct array *a = array_new(DT_F64, ndim, shape);
    if (!a) return ERR_FAIL;
    memcpy(a->data, v, r * c * sizeof *v);
    char *path = path_join(dir, name);
    int rc = npy_write(path, a);
    free(path);
    array_free(a);
    return rc;
}

int pca_save(const struct pca *fit, const char *dir)
{
    int rc;
    if ((rc = save_one(dir, "mean.npy", fit->mean, 1, fit->d, 1)) < 0 ||
        (rc = save_one(dir, "components.npy", fit->components, 2, fit->k, fit->d)) < 0 ||
        (rc = save_one(dir, "variance.npy", fit->explained_variance, 1, fit->k, 1)) < 0 ||
        (rc = save_one(dir, "ratio.npy", fit->explained_ratio, 1, fit->k, 1)) < 0)
        return rc;
    return 0;
}

static struct array *load_one(const char *dir, const char *name, int ndim, int optional)
{
    char *path = path_join(dir, name);
    struct array *a = NULL;
    if (optional && access(path, F_OK) != 0) goto done;
    struct array_opts o = array_opts_default();
    o.format = FMT_NPY;
    o.want_ndim = ndim == 1 ? 1 : 2;
    a = array_load(path, &o, DT_F64);
    if (!a) {
        error_set_path_if_missing(path);
        goto done;
    }
    const double *v = a->data;
    for (size_t i = 0; i < array_count(a); i++)
        if (!isfinite(v[i])) {
            error_set(ERR_INPUT, path, "value %zu is not finite", i);
            array_free(a);
            a = NULL;
            break;
        }
done:
    free(path);
    return a;
}

struct pca *pca_load(const char *dir, int whiten)
{
    struct pca *fit = NULL;
    struct array *mean = load_one(dir, "mean.npy", 1, 0);
    struct array *comp = mean ? load_one(dir, "components.npy", 2, 0) : NULL;
    struct array *var = comp ? load_one(dir, "variance.npy", 1, 0) : NULL;
    struct array *ratio = var ? load_one(dir, "ratio.npy", 1, 1) : NULL;
    if (!var) goto done;
    size_t d = array_rows(mean), k = array_rows(comp);
    if (array_cols(comp) != d || array_rows(var) != k || (ratio && array_rows(ratio) != k)) {
        char *path = path_join(dir, "components.npy");
        error_set(ERR_INPUT, path,
                  "saved PCA does not fit together: mean %zu, components %zu x %zu, "
                  "variance %zu",
                  d, k, array_cols(comp), array_rows(var));
        free(path);
        goto done;
    }
    if (k == 0 || d == 0) {
        error_set(ERR_INPUT, dir, "saved PCA has no components");
        goto done;
    }
    fit = xcalloc(1, sizeof *fit);
    fit->d = d;
    fit->k = k;
    fit->whiten = whiten;
    fit->solver = PCA_COVARIANCE;
    fit->total_variance = NAN;
    fit->mean = xmalloc(d * sizeof(double));
    memcpy(fit->mean, mean->data, d * sizeof(double));
    fit->components = comp->data; /* take ownership */
    comp->data = NULL;
    fit->explained_variance = xmalloc(k * sizeof(double));
    memcpy(fit->explained_variance, var->data, k * sizeof(double));
    fit->explained_ratio = xcalloc(k, sizeof(double));
    if (ratio) {
        memcpy(fit->explained_ratio, ratio->data, k * sizeof(double));
        const double *r = ratio->data;
        if (r[0] > 0) fit->total_variance = fit->explained_variance[0] / r[0];
    } else {
        for (size_t i = 0; i < k; i++)
            fit->explained_ratio[i] = NAN;
    }
    for (size_t i = 0; i < k; i++)
        if (fit->explained_variance[i] < 0) {
            char *path = path_join(dir, "variance.npy");
            error_set(ERR_INPUT, path, "variance %zu is negative", i);
            free(path);
            pca_free(fit);
            fit = NULL;
            goto done;
        }
done:
    array_free(mean);
    array_free(comp);
    array_free(var);
    array_free(ratio);
    return fit;
}
