/* affinity.c - perplexity calibration by bisection and the sparse joint P.
 *
 * Each row is calibrated on its own (binary search on beta, as van der Maaten's
 * x2p), in parallel; the symmetrisation is a counting sort into CSR with the
 * duplicate (i,j)/(j,i) pairs merged, in a fixed order so results are repeatable.
 */
#include "affinity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/util.h"
#include "knn_approx.h"

#ifdef _OPENMP
#include <omp.h>
#endif

size_t affinity_neighbours(double perplexity)
{
    return perplexity >= 1.0 ? (size_t)floor(3.0 * perplexity) : 0;
}

double affinity_max_perplexity(size_t n)
{
    return n > 1 ? (double)(n - 1) / 3.0 : 0.0;
}

int affinity_check(size_t n, double perplexity)
{
    if (!isfinite(perplexity) || perplexity < 1.0)
        return error_set(ERR_INPUT, NULL, "perplexity %g: must be a number >= 1", perplexity);
    if ((double)n < 3.0 * perplexity + 1.0) {
        if (n < 4)
            return error_set(ERR_INPUT, NULL,
                             "%zu points: t-SNE needs at least 4 (3 * perplexity + 1 "
                             "with perplexity >= 1)",
                             n);
        /* rounded down, so that the value printed is itself valid */
        return error_set(ERR_INPUT, NULL,
                         "perplexity %g needs at least %.0f points (3 * perplexity + 1), "
                         "got %zu; the largest valid perplexity is %.2f",
                         perplexity, ceil(3.0 * perplexity + 1.0), n,
                         floor(affinity_max_perplexity(n) * 100.0) / 100.0);
    }
    return 0;
}

/* One row: beta by bisection so that H(P_i) = log(perplexity). d holds the
 * squared distances in ascending order; shifting them by d[0] leaves P and H
 * unchanged and keeps exp() from underflowing for far-away points. */
static int calibrate_row(const double *d, size_t k, double target, double *p, double *beta_out,
                         double *h_out)
{
    double beta = 1.0, lo = -INFINITY, hi = INFINITY, h = 0.0;
    double d0 = d[0];
    int ok = 0;
    for (int step = 0; step < AFFINITY_MAX_STEPS; step++) {
        double sum = 0.0, dsum = 0.0;
        for (size_t t = 0; t < k; t++) {
            double dd = d[t] - d0;
            p[t] = exp(-beta * dd);
            sum += p[t];
            dsum += dd * p[t];
        }
        /* H = log(sum) + beta * E[d]: the entropy of p / sum in nats. */
        h = log(sum) + beta * dsum / sum;
        if (fabs(h - target) < AFFINITY_TOL) {
            ok = 1;
            break;
        }
        if (h > target) { /* too flat: sharpen */
            lo = beta;
            beta = isinf(hi) ? beta * 2.0 : 0.5 * (beta + hi);
        } else {
            hi = beta;
            beta = isinf(lo) ? beta * 0.5 : 0.5 * (beta + lo);
        }
    }
    if (!ok) { /* recompute p at the last beta */
        double sum = 0.0, dsum = 0.0;
        for (size_t t = 0; t < k; t++) {
            p[t] = exp(-beta * (d[t] - d0));
            sum += p[t];
            dsum += (d[t] - d0) * p[t];
        }
        h = log(sum) + beta * dsum / sum;
    }
    double sum = 0.0;
    for (size_t t = 0; t < k; t++)
        sum += p[t];
    for (size_t t = 0; t < k; t++)
        p[t] /= sum;
    if (beta_out) *beta_out = beta;
    if (h_out) *h_out = h;
    return ok;
}

size_t affinity_conditional(const struct knn *nn, double perplexity, int threads,
                            double *p_cond, double *beta, double *entropy)
{
    size_t n = nn->n, k = nn->k, missed = 0;
    double target = log(perplexity);
    int nt = util_threads(threads);
#pragma omp parallel for schedule(static) num_threads(nt) reduction(+ : missed)
    for (size_t i = 0; i < n; i++) {
        int ok = calibrate_row(nn->dist2 + i * k, k, target, p_cond + i * k,
                               beta ? beta + i : NULL, entropy ? entropy + i : NULL);
        missed += !ok;
    }
    return missed;
}

/* 8 bytes a pair: at n = 1e6, k = 90 the 1.8e8 entries take 1.44 GB. */
struct entry {
    int32_t j;
    float v;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return (x->j > y->j) - (x->j < y->j);
}

/* The joint P of the n x k neighbour table idx with conditional values pd
 * (double) or pf (float). When own is set, idx and pf are the caller's
 * big_alloc'd blocks and are freed as soon as they are copied (memory). */
static struct affinity *symmetrize(size_t n, size_t k, int32_t *idx, const double *pd,
                                   float *pf, int own)
{
    size_t nk, total;
    if (!mul_ok(n, k, &nk) || !mul_ok(nk, 2, &total)) {
        error_set(ERR_INPUT, NULL, "affinity matrix of %zu x %zu is too large", n, k);
        if (own) {
            free(idx);
            free(pf);
        }
        return NULL;
    }
    struct affinity *P = xcalloc(1, sizeof *P);
    P->n = n;
    P->row = big_calloc((n + 1) * sizeof *P->row, NULL, "affinity rows");
    struct entry *e = P->row ? big_alloc(total * sizeof *e, NULL, "affinity entries") : NULL;
    size_t *fill = e ? big_alloc(n * sizeof *fill, NULL, "affinity rows") : NULL;
    if (!fill) {
        free(e);
        affinity_free(P);
        if (own) {
            free(idx);
            free(pf);
        }
        return NULL;
    }

    /* Row i holds its own k entries plus one for each row that lists i. */
    for (size_t i = 0; i < n; i++)
        P->row[i + 1] += k;
    for (size_t t = 0; t < nk; t++)
        P->row[(size_t)idx[t] + 1]++;
    for (size_t i = 0; i < n; i++)
        P->row[i + 1] += P->row[i];
    for (size_t i = 0; i < n; i++) {
        fill[i] = P->row[i];
        for (size_t t = 0; t < k; t++) {
            e[fill[i]].j = idx[i * k + t];
            e[fill[i]++].v = pd ? (float)pd[i * k + t] : pf[i * k + t];
        }
    }
    for (size_t i = 0; i < n; i++) /* the transpose, sources in ascending order */
        for (size_t t = 0; t < k; t++) {
            size_t j = (size_t)idx[i * k + t];
            e[fill[j]].j = (int32_t)i;
            e[fill[j]++].v = pd ? (float)pd[i * k + t] : pf[i * k + t];
        }
    if (own) {
        free(idx);
        free(pf);
    }

    /* Sort each row by column, merge p_j|i with p_i|j, scale by 1/(2N). The
     * merged value is summed in double and rounded once. */
    double scale = 1.0 / (2.0 * (double)n);
#pragma omp parallel for schedule(dynamic, 1024) if (n >= 4096)
    for (size_t i = 0; i < n; i++) {
        struct entry *r = e + P->row[i];
        size_t len = P->row[i + 1] - P->row[i], out = 0;
        qsort(r, len, sizeof *r, entry_cmp);
        for (size_t t = 0; t < len;) {
            double v = r[t].v;
            size_t u = t + 1;
            if (u < len && r[u].j == r[t].j) v += r[u++].v;
            r[out].j = r[t].j;
            r[out++].v = (float)(v * scale);
            t = u;
        }
        fill[i] = out;
    }
    size_t nnz = 0;
    for (size_t i = 0; i < n; i++)
        nnz += fill[i];
    P->nnz = nnz;
    P->col = big_alloc((nnz ? nnz : 1) * sizeof *P->col, NULL, "affinity columns");
    P->val =
        P->col ? big_alloc((nnz ? nnz : 1) * sizeof *P->val, NULL, "affinity values") : NULL;
    if (!P->val) {
        free(e);
        free(fill);
        affinity_free(P);
        return NULL;
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const struct entry *r = e + P->row[i];
        P->row[i] = pos;
        for (size_t t = 0; t < fill[i]; t++) {
            P->col[pos] = r[t].j;
            P->val[pos++] = r[t].v;
        }
    }
    P->row[n] = pos;
    free(e);
    free(fill);
    return P;
}

struct affinity *affinity_symmetrize(const struct knn *nn, const double *p_cond)
{
    return symmetrize(nn->n, nn->k, nn->idx, p_cond, NULL, 0);
}

/* Conditional rows into float storage, each row calibrated in a double
 * scratch row (calibrate_row) and rounded after normalising. */
static int conditional_float(const struct knn *nn, double perplexity, int threads, float *out)
{
    size_t n = nn->n, k = nn->k;
    double target = log(perplexity);
    int nt = util_threads(threads);
    double *scratch = xmalloc((size_t)nt * k * sizeof *scratch);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (size_t i = 0; i < n; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *p = scratch + (size_t)tid * k;
        calibrate_row(nn->dist2 + i * k, k, target, p, NULL, NULL);
        for (size_t t = 0; t < k; t++)
            out[i * k + t] = (float)p[t];
    }
    free(scratch);
    return 0;
}

int affinity_query(const struct knn *nn, double perplexity, int threads, float **val)
{
    *val = NULL;
    if (affinity_neighbours(perplexity) != nn->k)
        return error_set(ERR_INPUT, NULL, "%zu neighbours given for perplexity %g (need %zu)",
                         nn->k, perplexity, affinity_neighbours(perplexity));
    float *v = big_alloc(nn->n * nn->k * sizeof *v, NULL, "conditional affinities");
    if (!v) return ERR_FAIL;
    conditional_float(nn, perplexity, threads, v);
    *val = v;
    return 0;
}

/* The n x k neighbour rows (idx, conditionals pc) renumbered in place by
 * order (new row q = old row order[q], indices mapped to the new numbers):
 * rows move along the permutation's cycles, one row at a time. */
static int renumber_rows(size_t n, size_t k, const uint32_t *order, int32_t *idx, float *pc)
{
    uint32_t *rank = big_alloc(n * sizeof *rank, NULL, "affinity rows");
    unsigned char *done = rank ? big_calloc(n, NULL, "affinity rows") : NULL;
    if (!done) {
        free(rank);
        return ERR_FAIL;
    }
    int32_t *ti = xmalloc(k * sizeof *ti);
    float *tp = xmalloc(k * sizeof *tp);
    for (size_t q = 0; q < n; q++)
        rank[order[q]] = (uint32_t)q;
    for (size_t s = 0; s < n; s++) {
        if (done[s]) continue;
        memcpy(ti, idx + s * k, k * sizeof *ti);
        memcpy(tp, pc + s * k, k * sizeof *tp);
        size_t q = s;
        for (;;) {
            size_t src = order[q];
            done[q] = 1;
            if (src == s) {
                memcpy(idx + q * k, ti, k * sizeof *ti);
                memcpy(pc + q * k, tp, k * sizeof *tp);
                break;
            }
            memcpy(idx + q * k, idx + src * k, k * sizeof *idx);
            memcpy(pc + q * k, pc + src * k, k * sizeof *pc);
            q = src;
        }
    }
    for (size_t t = 0; t < n * k; t++)
        idx[t] = (int32_t)rank[idx[t]];
    free(ti);
    free(tp);
    free(done);
    free(rank);
    return 0;
}

struct affinity *affinity_new_knn(const float *x, size_t n, size_t d, double perplexity,
                                  enum affinity_knn knn, uint64_t seed, int threads,
                                  const struct progress *progress, int *approx, double *t_knn)
{
    if (affinity_check(n, perplexity) < 0) return NULL;
    size_t k = affinity_neighbours(perplexity);
    int use_approx =
        knn == AFFINITY_KNN_APPROX || (knn == AFFINITY_KNN_AUTO && n >= AFFINITY_APPROX_MIN_N);
    if (approx) *approx = use_approx;
    double t0 = now_seconds();
    struct knn *nn;
    if (use_approx) {
        struct knn_approx_params kp = knn_approx_params_default();
        kp.seed = seed;
        kp.threads = threads;
        nn = knn_approx(x, n, d, k, &kp, progress);
    } else {
        nn = knn_exact(x, n, d, k, threads, progress);
    }
    if (t_knn) *t_knn = now_seconds() - t0;
    if (!nn) return NULL;
    float *pc = big_alloc(n * k * sizeof *pc, NULL, "conditional affinities");
    if (!pc) {
        knn_free(nn);
        return NULL;
    }
    progress_update(progress, "affinities", 0, n, NULL);
    conditional_float(nn, perplexity, threads, pc);
    /* Hand the index table and the conditionals over: symmetrize frees them
     * as soon as they are copied, the distances go now. */
    int32_t *idx = nn->idx;
    uint32_t *order = nn->order;
    nn->idx = NULL;
    nn->order = NULL;
    knn_free(nn);
    if (order && renumber_rows(n, k, order, idx, pc) < 0) {
        free(order);
        free(idx);
        free(pc);
        return NULL;
    }
    struct affinity *P = symmetrize(n, k, idx, NULL, pc, 1);
    if (P)
        P->order = order;
    else
        free(order);
    progress_update(progress, "affinities", n, n, NULL);
    return P;
}

struct affinity *affinity_new(const float *x, size_t n, size_t d, double perplexity,
                              int threads, const struct progress *progress)
{
    return affinity_new_knn(x, n, d, perplexity, AFFINITY_KNN_EXACT, 0, threads, progress, NULL,
                            NULL);
}

void affinity_free(struct affinity *p)
{
    if (!p) return;
    free(p->row);
    free(p->col);
    free(p->val);
    free(p->order);
    free(p);
}
