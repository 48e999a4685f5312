/* pca.h - principal component analysis of an N x D float matrix.
 *
 * Centred; eigen-decomposition with LAPACKE_dsyevr of the D x D covariance
 * (D <= N) or of the N x N Gram matrix (D > N); a randomized range finder
 * when K is small and D large. Component signs: the largest-magnitude loading
 * of each component is positive (DESIGN.md).
 *
 *     struct pca_params p = pca_params_default();  p.k = 2;
 *     struct pca *fit = pca_fit(x, n, d, &p);       // NULL + error on failure
 *     float *scores = xmalloc(n * fit->k * sizeof *scores);
 *     pca_transform(fit, x, n, scores);
 *     pca_free(fit);
 *
 * Numbers are those of scikit-learn's PCA (svd_solver="full"): explained
 * variance = s_i^2 / (N - 1) (ddof 1), ratio = that over the total variance
 * trace(cov), whitened scores = scores / sqrt(explained variance). Sums and
 * products run in double (OpenBLAS dsyrk/dgemm on blocks of rows converted
 * from float), so float32 input loses nothing before the eigensolver.
 */
#ifndef INTERP_PCA_H
#define INTERP_PCA_H

#include <stddef.h>

#include "../core/progress.h"

enum pca_solver { PCA_AUTO, PCA_COVARIANCE, PCA_GRAM, PCA_RANDOMIZED };

struct pca_params {
    size_t k;   /* components kept; 0 = min(N, D) */
    int whiten; /* scores divided by sqrt(explained variance) */
    enum pca_solver solver;
    unsigned long long seed; /* randomized solver */
    const struct progress *progress;
    /* Randomized solver (Halko, Martinsson & Tropp 2011, Alg. 4.4): a
     * Gaussian test matrix of k + oversample columns, power_iters rounds of
     * re-orthonormalised power iteration. oversample default 10; power_iters
     * -1 = auto (7 when k < min(N, D) / 10, else 4, as scikit-learn). */
    size_t oversample;
    int power_iters;
};
/* k 0, whiten 0, PCA_AUTO, seed 0, no progress, oversample 10, power_iters -1.
 * PCA_AUTO: randomized when min(N, D) >= 1000 and 32 (k + oversample) <=
 * min(N, D) (the range finder's ~16 passes of N*D*(k+10) flops then cost less
 * than one N*D*min(N,D)/2 product), else covariance when D <= N, else Gram. */
struct pca_params pca_params_default(void);

struct pca {
    size_t d, k, n_fit;
    int whiten;
    double *mean;               /* d */
    double *components;         /* k x d, rows unit length */
    double *explained_variance; /* k, with ddof 1 as scikit-learn */
    double *explained_ratio;    /* k, of the total variance */
    double total_variance;
    enum pca_solver solver; /* the solver that ran (never PCA_AUTO) */
};

/* Fits on x (n x d, row-major float32). ERR_INPUT for k > min(n, d), n < 2,
 * d < 1, NaN/Inf in x (naming the row and column), sizes beyond LAPACK's int;
 * ERR_FAIL when LAPACK fails. Owned result, free with pca_free.
 * A component whose variance is zero (k above the rank) is still a unit
 * vector orthogonal to the others, as any basis of the null space would be. */
struct pca *pca_fit(const float *x, size_t n, size_t d, const struct pca_params *p);
/* scores (n x k, row-major) of x (n x fit->d) under the fit: (x - mean)
 * components^T, divided by sqrt(explained variance) when fit->whiten (a
 * component of zero variance then scores 0). NaN in x propagates; check with
 * pca_input_check first. Never fails. */
void pca_transform(const struct pca *fit, const float *x, size_t n, float *scores);
void pca_free(struct pca *fit); /* NULL is a no-op */

/* 0 when every value of x (n x d) is finite, else ERR_INPUT "NaN at row R,
 * column C" (0-based) with `name` as the error path (may be NULL). */
int pca_input_check(const float *x, size_t n, size_t d, const char *name);

/* Saves the fit into folder `dir` (which must exist) as mean.npy (d, f8),
 * components.npy (k x d, f8), variance.npy (k, f8: explained variance) and
 * ratio.npy (k, f8), atomically each. Whitening is not stored: it is a choice
 * made at transform time. 0 or a negative error code. */
int pca_save(const struct pca *fit, const char *dir);
/* Reads a fit saved by pca_save (or written by numpy in the same layout)
 * from `dir`, with fit->whiten = whiten. ERR_INPUT when files are missing or
 * their shapes disagree. Owned result (pca_free). n_fit is 0 and
 * total_variance NaN (unknown) unless ratio.npy lets them be recovered
 * (total = variance / ratio). */
struct pca *pca_load(const char *dir, int whiten);

#endif
