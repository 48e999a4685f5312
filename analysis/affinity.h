/* affinity.h - t-SNE input affinities: perplexity calibration and the joint P.
 *
 * From each point's k = floor(3 * perplexity) nearest neighbours, the
 * conditional p_j|i = exp(-beta_i d_ij^2) / sum_k exp(-beta_i d_ik^2) with
 * beta_i found by bisection so that the row's Shannon entropy (natural log)
 * equals log(perplexity) to 1e-5 (van der Maaten & Hinton 2008, sec. 2;
 * van der Maaten 2014, sec. 4.1). The joint P = (P_cond + P_cond^T) / (2N) is
 * stored as a sparse CSR matrix that sums to 1.
 *
 *     struct affinity *P = affinity_new(x, n, d, 30.0, threads, progress);
 *     for (size_t e = P->row[i]; e < P->row[i + 1]; e++)
 *         use(P->col[e], P->val[e]);          // p_ij, i != col
 *     affinity_free(P);
 */
#ifndef INTERP_AFFINITY_H
#define INTERP_AFFINITY_H

#include <stddef.h>
#include <stdint.h>

#include "../core/progress.h"
#include "knn.h"

/* Entropy tolerance of the bisection (nats) and its step limit. */
#define AFFINITY_TOL       1e-5
#define AFFINITY_MAX_STEPS 200

/* Symmetric joint probabilities in CSR form; no diagonal entries. Values are
 * float: at a million points P holds ~1.5e8 entries, and float keeps it at
 * ~1.2 GB (the sums over P are taken in double). */
struct affinity {
    size_t n, nnz;
    size_t *row;  /* n + 1 offsets (owned) */
    int32_t *col; /* nnz column indices, ascending within a row (owned) */
    float *val;   /* nnz values p_ij, summing to 1 over the matrix (owned) */
    uint32_t *order; /* NULL, or the points renumbered: row/column q is point
                        order[q] (affinity_new_knn with the approximate search
                        numbers the points in its locality order, so that the
                        t-SNE gradient's reads of y[j] stay near each other) (owned) */
};

/* How the neighbours are found: exact (knn.h, blocked sgemm) or approximate
 * (knn_approx.h, random-projection forest + neighbour-of-neighbour refinement).
 * Auto: exact below AFFINITY_APPROX_MIN_N points, approximate from there.
 * Measured on Fashion-MNIST PCA-50, k = 90, one thread, shared machine (load
 * 8-11 on 2 cores): 10k exact 10.0 s / approx 12.7 s; 20k 31.0 / 24.0 s;
 * 40k 80.9 / 32.7 s; the crossover lies between 10k and 20k. */
enum affinity_knn { AFFINITY_KNN_AUTO, AFFINITY_KNN_EXACT, AFFINITY_KNN_APPROX };
#define AFFINITY_APPROX_MIN_N 15000

/* Neighbours used for a perplexity: floor(3 * perplexity). */
size_t affinity_neighbours(double perplexity);
/* Largest perplexity valid for n points (n >= 3 * perplexity + 1). */
double affinity_max_perplexity(size_t n);

/* Checks that perplexity is usable with n points: ERR_INPUT when it is below 1
 * or not finite, or when n < 3 * perplexity + 1 (the message gives the largest
 * valid perplexity). Returns 0 or ERR_INPUT. */
int affinity_check(size_t n, double perplexity);

/* Conditional probabilities of each row of nn (n x k): p_cond (n x k, caller
 * memory) receives p_j|i for j = nn->idx[i*k + t]; beta and entropy (n each)
 * receive each row's precision and reached entropy when non-NULL. Rows are
 * independent (OpenMP, threads 0 = default); no allocation. Returns the number
 * of rows whose entropy missed log(perplexity) by more than AFFINITY_TOL after
 * AFFINITY_MAX_STEPS (possible only with many duplicate points). */
size_t affinity_conditional(const struct knn *nn, double perplexity, int threads,
                            double *p_cond, double *beta, double *entropy);

/* The joint P = (P_cond + P_cond^T) / (2N) of conditional rows over nn.
 * Owned result (free with affinity_free), NULL + error when too large. */
struct affinity *affinity_symmetrize(const struct knn *nn, const double *p_cond);

/* All of it from points x (n x d float32): affinity_check, knn_exact with
 * affinity_neighbours(perplexity), affinity_conditional, affinity_symmetrize.
 * Errors: ERR_INPUT for a bad perplexity or NaN/Inf in x. Owned result. */
struct affinity *affinity_new(const float *x, size_t n, size_t d, double perplexity,
                              int threads, const struct progress *progress);

/* The same with the neighbour search chosen by knn (seed: the approximate
 * search's random trees; the result depends on it, not on threads); *approx
 * (may be NULL) receives 1 when the approximate search was used, *t_knn the
 * seconds it took. With the approximate search P comes renumbered (P->order).
 * Memory beyond x: about n * k * 20 bytes at the peak. */
struct affinity *affinity_new_knn(const float *x, size_t n, size_t d, double perplexity,
                                  enum affinity_knn knn, uint64_t seed, int threads,
                                  const struct progress *progress, int *approx, double *t_knn);

/* Conditional affinities p_j|i of the rows of a knn table (its dist2 used,
 * e.g. m query points against a reference set, knn_query): *val receives an
 * owned m x k float array, each row summing to 1, perplexity calibrated as
 * affinity_conditional. Used to place new points into a map. Returns 0 or
 * an error (ERR_INPUT when k does not match the perplexity). */
int affinity_query(const struct knn *nn, double perplexity, int threads, float **val);

void affinity_free(struct affinity *p); /* NULL is a no-op */

#endif
