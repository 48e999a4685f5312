/* tsne.h - t-distributed stochastic neighbour embedding (van der Maaten &
 * Hinton 2008; Barnes-Hut: van der Maaten 2014).
 *
 * Affinities from the 3*perplexity nearest neighbours (affinity.h), then
 * gradient descent with momentum, gains and early exaggeration. The gradient
 *     dC/dy_i = 4 (exag * sum_j p_ij w_ij (y_i - y_j)  -  sum_j w_ij^2 (y_i - y_j) / Z)
 * with w_ij = 1 / (1 + |y_i - y_j|^2) and Z = sum_{k != l} w_kl, splits into an
 * attractive part over the sparse P (here) and a repulsive part supplied by a
 * backend (struct tsne_repulsion: exact sums, a Barnes-Hut tree, FIt-SNE's FFT
 * grid in fft_grid.c). The optimiser sees only the backend's per-point sums
 * and Z. With degrees of freedom a (p.dof, Kobak et al. 2019) the kernel is
 * w = (1 + d^2/a)^-a and the gradient 4 sum (p_ij - q_ij) w_ij^(1/a) (y_i - y_j).
 *
 *     struct tsne_params p = tsne_params_default();
 *     p.seed = 1;
 *     struct tsne_result *r = tsne_run(x, n, d, &p);      // x: n x d float32
 *     if (!r) ... error_message() ...
 *     // r->y: n x p.dims; r->kl[t] at iteration r->kl_iter[t]; r->kl_final
 *     tsne_result_free(r);
 *
 * Repeatability: every parallel loop writes per-point results and every sum
 * over points is taken serially in index order, so the output depends on the
 * inputs and the seed only (the same for any thread count, given the same
 * build and the same PCA).
 */
#ifndef INTERP_TSNE_H
#define INTERP_TSNE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/progress.h"
#include "affinity.h"

enum tsne_method { TSNE_METHOD_AUTO, TSNE_METHOD_EXACT, TSNE_METHOD_BH, TSNE_METHOD_FFT };
enum tsne_init { TSNE_INIT_PCA, TSNE_INIT_RANDOM, TSNE_INIT_GIVEN };

/* TSNE_METHOD_AUTO uses the exact gradient up to this many points (measured
 * on 2,000 Fashion-MNIST points, one core with AVX2: exact 4.9 s, Barnes-Hut
 * 5.5 s CPU for 1000 iterations; exact grows as N^2, BH as N log N). */
#define TSNE_EXACT_MAX_N 2000
/* Beyond TSNE_EXACT_MAX_N, auto uses Barnes-Hut below this many points and the
 * FFT grid from it on, in 2-D (3-D stays with Barnes-Hut: its FFT grid is
 * (2 p B)^3). The grid's cost follows the map's spread, which reaches ~100
 * units even at a few thousand points, so small maps pay for a large grid.
 * Measured (bench/bench_tsne.sh, section thresholds): Fashion-MNIST PCA-50,
 * 1000 iterations, one thread, CPU seconds and final KL, BH / FFT, with the
 * split kernel (commit 225bfdc): 3,000 points 7.9 / 17.8 s, KL 1.0146 / 1.0205;
 * 5,000 15.0 / 16.4 s, 1.2145 / 1.2208; 10,000 32.8 / 21.5 s, 1.4806 / 1.4809;
 * 20,000 73.8 / 30.1 s, 1.7840 / 1.7972. At 10,000 the FFT path takes a third
 * less CPU at the same KL; at 5,000 Barnes-Hut is both quicker and closer.
 * (With FIt-SNE's grid alone, at f1252e1, the crossover lay between 10,000
 * and 20,000.) */
#define TSNE_FFT_MIN_N 10000
/* The final KL divergence is computed exactly (O(N^2)) up to this many points,
 * beyond it from the backend's estimate of Z. */
#define TSNE_KL_EXACT_MAX_N 20000

struct tsne_params {
    int dims;                        /* 2 or 3 */
    double perplexity;               /* 30; 1 <= perplexity <= (N - 1) / 3 */
    int iters;                       /* 1000 in all, exaggeration phase included */
    double early_exag;               /* 12: P multiplied during the first exag_iters */
    int exag_iters;                  /* 250 */
    double learning_rate;            /* 0 = auto: max(N / (4 early_exag), 200): openTSNE's and
                                        FIt-SNE's N / 12 in this gradient's units (with its 4) */
    double momentum;                 /* 0.5 during the exaggeration phase */
    double final_momentum;           /* 0.8 after it */
    enum tsne_method method;         /* auto: exact up to TSNE_EXACT_MAX_N points, BH up
                                        to TSNE_FFT_MIN_N, FFT beyond (2-D) */
    double theta;                    /* 0.5: Barnes-Hut accuracy (0 = exact sums) */
    double dof;                      /* 1: degrees of freedom a of the output kernel
                                        (1 + d^2/a)^-a; < 1 = heavier tails, finer
                                        clusters (Kobak et al. 2019) */
    enum affinity_knn knn;           /* auto: exact below AFFINITY_APPROX_MIN_N points */
    int fft_nodes;                   /* Lagrange nodes per box (FFT method), FIt-SNE's
                                        grid throughout; 0: by the grid's box count
                                        and the points (fft_grid.h: 6 for small maps,
                                        3 from 100 boxes), and the split kernel on 2-D
                                        maps from 100 units across */
    int fft_min_boxes;               /* 0 = 50 in 2-D, 12 in 3-D: boxes per dimension */
    enum tsne_init init;             /* PCA scaled to std 1e-4 in its first column */
    const float *init_y;             /* n x dims, TSNE_INIT_GIVEN only (used as given) */
    uint64_t seed;                   /* random initialisation */
    int threads;                     /* OpenMP threads, 0 = the OpenMP default */
    int kl_every;                    /* 50: record the KL divergence every so many iterations */
    const struct progress *progress; /* stages "kNN", "affinities", "t-SNE" */
};
struct tsne_params tsne_params_default(void);

/* A repulsion backend. create() returns its state for n points in dims
 * (NULL + error on failure); compute() fills rep (n x dims) with
 * sum_{j != i} w_ij^2 (y_i - y_j) and *z with Z = sum_{i != j} w_ij (exact or
 * approximated) for y (n x dims), returning 0 or a negative error code;
 * destroy() frees the state. compute() must give the same result for the same
 * y whatever the thread count. */
struct tsne_repulsion {
    const char *name;
    int z_exact; /* 1 when Z (hence the KL divergence) is exact */
    int single;  /* 1: the 2-D attraction and KL terms may run in single precision
                    (relative error ~1e-7, far below this repulsion's; the exact
                    and Barnes-Hut backends keep double, so theta 0 equals exact) */
    void *(*create)(size_t n, int dims, const struct tsne_params *p);
    int (*compute)(void *state, const double *y, double *rep, double *z);
    void (*destroy)(void *state);
};
extern const struct tsne_repulsion tsne_repulsion_exact; /* O(N^2) */
extern const struct tsne_repulsion tsne_repulsion_bh;    /* O(N log N), theta */
extern const struct tsne_repulsion tsne_repulsion_fft;   /* O(N + grid log grid), fft_grid.h */
/* The method auto stands for with n points in dims (others are returned as given). */
enum tsne_method tsne_method_resolve(enum tsne_method m, size_t n, int dims);
/* The backend of a method (auto resolved by n and dims); NULL for an unknown
 * method. A new backend adds its enum value, its tsne_repulsion and a case
 * here; the optimiser needs no change. */
const struct tsne_repulsion *tsne_repulsion_for(enum tsne_method m, size_t n, int dims);
const char *tsne_method_name(enum tsne_method m); /* "exact", "bh", "fft", "auto" */

struct tsne_result {
    size_t n;
    int dims;
    float *y; /* n x dims coordinates (owned) */
    size_t nkl;
    int *kl_iter;            /* nkl iteration numbers (1-based: 50, 100, ...) (owned) */
    double *kl;              /* KL divergence of the unexaggerated P at the positions
                                the gradient of that iteration was taken at (owned) */
    int kl_trace_exact;      /* 1 when the trace is exact, 0 when Z is estimated (BH) */
    double kl_final;         /* KL divergence of the output y */
    int kl_final_exact;      /* 1: exact O(N^2) sum; 0: backend's estimate of Z */
    enum tsne_method method; /* the method used (auto resolved) */
    double learning_rate;    /* the rate used */
    double perplexity;
    double time_knn, time_affinity, time_optimise; /* seconds (affinity includes kNN) */
    int knn_approx;                                /* 1 when the kNN was approximate */
};
void tsne_result_free(struct tsne_result *r); /* NULL is a no-op */

/* t-SNE of x (n x d, row-major float32) with params p (NULL = defaults).
 * Errors (ERR_INPUT): dims not 2 or 3, perplexity outside [1, (n-1)/3] (the
 * message gives the largest valid value), NaN/Inf in x or init_y (naming the
 * row), other parameters out of range, PCA init with d < dims. Owned result,
 * free with tsne_result_free. */
struct tsne_result *tsne_run(const float *x, size_t n, size_t d, const struct tsne_params *p);

/* The optimisation alone, from affinities P and a starting y (P->n x dims,
 * doubles, updated in place). kl_iter/kl receive up to iters / kl_every
 * entries (may be NULL), *nkl their count. Returns 0 or a negative code. */
int tsne_optimize(const struct affinity *P, double *y, const struct tsne_params *p,
                  const struct tsne_repulsion *rep, int *kl_iter, double *kl, size_t *nkl);

/* The full gradient dC/dy (n x dims) at y for exaggeration exag, with the given
 * backend; *kl (when non-NULL) receives the KL divergence of the unexaggerated
 * P from the backend's Z. Allocates its own workspace. Returns 0 or an error. */
int tsne_gradient(const struct affinity *P, const double *y, int dims, double exag,
                  const struct tsne_repulsion *rep, const struct tsne_params *p, double *grad,
                  double *kl);

/* Exact KL(P || Q) of coordinates y (P->n x dims, float32): sum over the
 * nonzero p_ij of p_ij log(p_ij / q_ij), q_ij = w_ij / sum_{k != l} w_kl.
 * O(N^2) time, no allocation beyond O(N). threads 0 = default. */
double tsne_kl_exact(const struct affinity *P, const float *y, int dims, int threads);
/* The same with the kernel of dof degrees of freedom, w = (1 + d2/a)^-a. */
double tsne_kl_exact_dof(const struct affinity *P, const float *y, int dims, double dof,
                         int threads);

/* Places m new points x_new (m x d) into an existing map: reference points
 * x_ref (n x d) with their coordinates y_ref (n x p->dims), as openTSNE's
 * transform does. Each new point gets conditional affinities to its
 * 3*perplexity nearest reference points (perplexity calibrated, rows summing
 * to 1), starts at the affinity-weighted mean of those neighbours' positions,
 * and is moved alone (reference points fixed, new points not seeing each
 * other) to minimise its own KL(P_i || Q_i), q_ij = w_ij / sum_l w_il over
 * the reference points: gradient descent with momentum p->final_momentum and
 * gains for p->iters iterations at rate p->learning_rate (0 = auto: 0.1 * n_ref
 * / 1000, at least 1; see tsne.c), repulsion exact for n <= TSNE_EXACT_MAX_N,
 * else a Barnes-Hut tree over the fixed map (p->theta). p->dof applies.
 * Returns an owned result with y (m x dims) and kl_final = the mean over the
 * new points of their KL(P_i || Q_i); NULL + ERR_INPUT for bad shapes,
 * perplexity too large for n (the message names the largest valid one) or
 * NaN/Inf. */
struct tsne_result *tsne_transform(const float *x_ref, size_t n, size_t d, const float *y_ref,
                                   const float *x_new, size_t m, const struct tsne_params *p);

#endif
