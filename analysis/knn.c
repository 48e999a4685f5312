/* knn.c - exact k nearest neighbours by blocked sgemm distances.
 *
 * Row blocks against column blocks: D = |x|^2 + |y|^2 - 2 X Y^T (one sgemm per
 * block pair), a bounded max-heap per row keeps k + margin candidates, then the
 * candidates' distances are recomputed in double and the best k kept, so float
 * cancellation in the Gram trick cannot reorder the answer.
 */
#include "knn.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define KNN_ROW_BLOCK 256
#define KNN_COL_BLOCK 2048

double knn_dist2(const float *a, const float *b, size_t d)
{
    double s = 0.0;
    for (size_t j = 0; j < d; j++) {
        double t = (double)a[j] - (double)b[j];
        s += t * t;
    }
    return s;
}

struct knn *knn_new(size_t n, size_t k)
{
    size_t nk;
    if (!mul_ok(n, k, &nk) || nk > SIZE_MAX / sizeof(double)) {
        error_set(ERR_INPUT, NULL, "neighbour table of %zu x %zu is too large", n, k);
        return NULL;
    }
    struct knn *nn = xcalloc(1, sizeof *nn);
    nn->n = n;
    nn->k = k;
    nn->idx = big_alloc(nk * sizeof *nn->idx, NULL, "neighbour indices");
    nn->dist2 = nn->idx ? big_alloc(nk * sizeof *nn->dist2, NULL, "neighbour distances") : NULL;
    if (!nn->idx || !nn->dist2) {
        knn_free(nn);
        return NULL;
    }
    return nn;
}

void knn_free(struct knn *nn)
{
    if (!nn) return;
    free(nn->idx);
    free(nn->dist2);
    free(nn->order);
    free(nn);
}

/* ---- bounded max-heap on (distance, index) --------------------------------- */

/* a is "larger" than b when farther, or equally far with a larger index. */
static inline int key_gt(float da, int32_t ia, float db, int32_t ib)
{
    return da > db || (da == db && ia > ib);
}

static void heap_push(float *hd, int32_t *hi, size_t *cnt, size_t cap, float d, int32_t j)
{
    size_t c = *cnt;
    if (c < cap) { /* sift up */
        size_t pos = c;
        while (pos > 0) {
            size_t par = (pos - 1) / 2;
            if (!key_gt(d, j, hd[par], hi[par])) break;
            hd[pos] = hd[par];
            hi[pos] = hi[par];
            pos = par;
        }
        hd[pos] = d;
        hi[pos] = j;
        *cnt = c + 1;
        return;
    }
    if (!key_gt(hd[0], hi[0], d, j)) return; /* not better than the worst kept */
    size_t pos = 0;                          /* replace the root, sift down */
    for (;;) {
        size_t l = 2 * pos + 1, r = l + 1, big = l;
        if (l >= cap) break;
        if (r < cap && key_gt(hd[r], hi[r], hd[l], hi[l])) big = r;
        if (!key_gt(hd[big], hi[big], d, j)) break;
        hd[pos] = hd[big];
        hi[pos] = hi[big];
        pos = big;
    }
    hd[pos] = d;
    hi[pos] = j;
}

int knn_cand_cmp(const void *a, const void *b)
{
    const struct knn_cand *x = a, *y = b;
    if (x->d < y->d) return -1;
    if (x->d > y->d) return 1;
    return (x->j > y->j) - (x->j < y->j);
}

/* ---- the search -------------------------------------------------------------- */

/* The k nearest rows of xr (n x d) to each row of xq (m x d); self = 1 when
 * xq is xr (row i then skips itself). Checks done by the callers. */
static struct knn *knn_search(const float *xr, size_t n, const float *xq, size_t m_q, size_t d,
                              size_t k, int self, int threads, const struct progress *progress)
{
    /* Candidates beyond k absorb float rounding of the Gram trick. */
    size_t avail = self ? n - 1 : n;
    size_t m = k + 16 + k / 4;
    if (m > avail) m = avail;
    int nt = util_threads(threads);

    struct knn *nn = knn_new(m_q, k);
    float *norm = nn ? big_alloc(n * sizeof *norm, NULL, "row norms") : NULL;
    float *qnorm = norm ? big_alloc(m_q * sizeof *qnorm, NULL, "row norms") : NULL;
    float *buf = xmalloc((size_t)KNN_ROW_BLOCK * KNN_COL_BLOCK * sizeof *buf);
    float *hd = xmalloc((size_t)KNN_ROW_BLOCK * m * sizeof *hd);
    int32_t *hi = xmalloc((size_t)KNN_ROW_BLOCK * m * sizeof *hi);
    size_t *hc = xmalloc(KNN_ROW_BLOCK * sizeof *hc);
    struct knn_cand *cs = xmalloc((size_t)nt * m * sizeof *cs);
    if (!qnorm) {
        knn_free(nn);
        nn = NULL;
        goto done;
    }

    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < d; j++)
            s += (double)xr[i * d + j] * xr[i * d + j];
        norm[i] = (float)s;
    }
    for (size_t i = 0; i < m_q; i++) {
        double s = 0.0;
        for (size_t j = 0; j < d; j++)
            s += (double)xq[i * d + j] * xq[i * d + j];
        qnorm[i] = (float)s;
    }

    for (size_t r0 = 0; r0 < m_q; r0 += KNN_ROW_BLOCK) {
        size_t bm = m_q - r0 < KNN_ROW_BLOCK ? m_q - r0 : KNN_ROW_BLOCK;
        memset(hc, 0, bm * sizeof *hc);
        for (size_t c0 = 0; c0 < n; c0 += KNN_COL_BLOCK) {
            size_t bc = n - c0 < KNN_COL_BLOCK ? n - c0 : KNN_COL_BLOCK;
            /* buf (bm x bc) = Xq[r0:] . Xr[c0:]^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bm, (int)bc, (int)d, 1.0f,
                        xq + r0 * d, (int)d, xr + c0 * d, (int)d, 0.0f, buf, (int)bc);
#pragma omp parallel for schedule(static) num_threads(nt)
            for (size_t r = 0; r < bm; r++) {
                size_t i = r0 + r;
                const float *row = buf + r * bc;
                float *rd = hd + r * m;
                int32_t *ri = hi + r * m;
                for (size_t c = 0; c < bc; c++) {
                    size_t j = c0 + c;
                    if (self && j == i) continue;
                    float dist = qnorm[i] + norm[j] - 2.0f * row[c];
                    if (dist < 0.0f) dist = 0.0f;
                    heap_push(rd, ri, &hc[r], m, dist, (int32_t)j);
                }
            }
        }
        /* Refine: exact double distances of the candidates, best k by (d, j). */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (size_t r = 0; r < bm; r++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            struct knn_cand *c = cs + (size_t)tid * m;
            size_t i = r0 + r;
            for (size_t t = 0; t < m; t++) {
                int32_t j = hi[r * m + t];
                c[t].j = j;
                c[t].d = knn_dist2(xq + i * d, xr + (size_t)j * d, d);
            }
            qsort(c, m, sizeof *c, knn_cand_cmp);
            for (size_t t = 0; t < k; t++) {
                nn->idx[i * k + t] = c[t].j;
                nn->dist2[i * k + t] = c[t].d;
            }
        }
        progress_update(progress, "kNN", r0 + bm, m_q, NULL);
    }

done:
    free(qnorm);
    free(norm);
    free(buf);
    free(hd);
    free(hi);
    free(hc);
    free(cs);
    return nn;
}

static int check_points(const float *x, size_t n, size_t d, const char *what)
{
    size_t nd;
    if (!mul_ok(n, d, &nd))
        return error_set(ERR_INPUT, NULL, "%zu x %zu matrix is too large", n, d);
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(x[i]))
            return error_set(ERR_INPUT, NULL, "%srow %zu column %zu is not a finite number",
                             what, i / d, i % d);
    return 0;
}

struct knn *knn_exact(const float *x, size_t n, size_t d, size_t k, int threads,
                      const struct progress *progress)
{
    if (n > INT32_MAX) {
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
    if (check_points(x, n, d, "") < 0) return NULL;
    return knn_search(x, n, x, n, d, k, 1, threads, progress);
}

struct knn *knn_query(const float *xr, size_t n, const float *xq, size_t m, size_t d, size_t k,
                      int threads, const struct progress *progress)
{
    if (n > INT32_MAX || d < 1 || k < 1 || k > n || m < 1) {
        error_set(ERR_INPUT, NULL, "%zu neighbours requested among %zu reference points", k, n);
        return NULL;
    }
    if (check_points(xr, n, d, "reference ") < 0 || check_points(xq, m, d, "new points: ") < 0)
        return NULL;
    return knn_search(xr, n, xq, m, d, k, 0, threads, progress);
}
