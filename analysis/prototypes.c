/* prototypes.c - per-class centroid, nearest/farthest members and the exact
 * medoid. Distances to the centroid run in double; the medoid's all-pairs
 * sums go through float32 sgemm in row blocks with a rounding bound, and
 * only the members that the bound cannot separate are re-summed in double.
 */
#include "prototypes.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/util.h"

/* classes this small skip sgemm: m^2 d doubles is nothing */
#define PROTO_DIRECT_MAX 32

struct proto_params proto_params_default(void)
{
    return (struct proto_params){
        .k = 3, .metric = PROTO_EUCLIDEAN, .medoid = 1, .block = 256, .progress = NULL};
}

int proto_metric_parse(const char *name)
{
    if (!strcmp(name, "euclidean")) return PROTO_EUCLIDEAN;
    if (!strcmp(name, "cosine")) return PROTO_COSINE;
    return -1;
}

const char *proto_metric_name(enum proto_metric m)
{
    return m == PROTO_COSINE ? "cosine" : "euclidean";
}

void prototypes_free(struct prototypes *pr)
{
    if (!pr) return;
    if (pr->cls)
        for (size_t c = 0; c < pr->nclasses; c++) {
            free(pr->cls[c].near);
            free(pr->cls[c].far);
            free(pr->cls[c].near_dist);
            free(pr->cls[c].far_dist);
        }
    free(pr->cls);
    free(pr->centroids);
    free(pr);
}

/* ------------------------------------------------------- exact distances */

static double norm_d(const float *a, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++)
        s += (double)a[j] * a[j];
    return sqrt(s);
}

/* Distance in double between rows a and b; na, nb their norms (cosine). */
static double dist_exact(const float *a, const float *b, size_t d, enum proto_metric metric,
                         double na, double nb)
{
    double s = 0;
    if (metric == PROTO_EUCLIDEAN) {
        for (size_t j = 0; j < d; j++) {
            double t = (double)a[j] - b[j];
            s += t * t;
        }
        return sqrt(s);
    }
    if (na == 0 || nb == 0) return 1.0;
    for (size_t j = 0; j < d; j++)
        s += (double)a[j] * b[j];
    return 1.0 - s / (na * nb);
}

/* ------------------------------------------------------ nearest/farthest */

struct ranked {
    double dist;
    int64_t idx;
};

static int cmp_near(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int cmp_far(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist > b->dist ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* ------------------------------------------------------------------ medoid */

/* Exact all-pairs sums in double, each pair once: for small classes. */
static void medoid_direct(const float *x, size_t d, const size_t *mem, size_t m,
                          enum proto_metric metric, const double *nrm, double *sum)
{
    memset(sum, 0, m * sizeof *sum);
    for (size_t i = 0; i < m; i++)
        for (size_t j = i + 1; j < m; j++) {
            double v = dist_exact(x + mem[i] * d, x + mem[j] * d, d, metric, nrm[i], nrm[j]);
            sum[i] += v;
            sum[j] += v;
        }
}

/*
 * Bounds for the float32 path. F holds the members as float32 rows: centred
 * on the centroid (euclidean: distances do not change, norms shrink, so the
 * rounding does too) or normalised to unit length (cosine). With u = 2^-24
 * and g = d u / (1 - d u) (Higham, Accuracy and Stability, Eq. 3.5: an inner
 * product of length d computed in any order is within g sum|a_k b_k| <=
 * g |a| |b|):
 *   euclidean: q = r_i^2 + r_j^2 - 2 fl(F_i . F_j) is within 2 g r_i r_j of
 *     |F_i - F_j|^2, and rounding the centred rows moved each by <= u r
 *     (+ the double centring, far below), so the true distance lies in
 *     [sqrt(q - E) - R, sqrt(q + E) + R] with E = 2 g r_i r_j, R = u (r_i + r_j);
 *     the doubled E <= g (r_i + r_j)^2 since 4 r_i r_j <= (r_i + r_j)^2;
 *   cosine: 1 - fl(F_i . F_j) is within g (1 + u)^2 + 2u + u^2 of the true
 *     cosine distance.
 * Both are doubled for safety. A member whose lower-bound sum exceeds the
 * smallest upper-bound sum cannot be the medoid; the rest are re-summed
 * exactly.
 */
static int medoid_sgemm(const float *x, size_t d, const size_t *mem, size_t m,
                        const double *cen, enum proto_metric metric, const double *nrm,
                        size_t block, double *lo, double *hi, double *sum)
{
    int rc = ERR_FAIL;
    size_t md, bm;
    if (block == 0) block = 256;
    if (block > m) block = m;
    if (!mul3_ok(m, d, sizeof(float), &md) || !mul3_ok(block, m, sizeof(float), &bm))
        return error_set(ERR_INPUT, NULL, "class of %zu members is too large", m);
    float *f = big_alloc(md, NULL, "medoid member block");
    float *g = big_alloc(bm, NULL, "medoid distance block");
    double *r = xmalloc(m * sizeof *r);
    if (!f || !g) goto done;

    for (size_t i = 0; i < m; i++) {
        const float *xi = x + mem[i] * d;
        float *fi = f + i * d;
        if (metric == PROTO_EUCLIDEAN) {
            for (size_t j = 0; j < d; j++)
                fi[j] = (float)((double)xi[j] - cen[j]);
        } else {
            double inv = nrm[i] > 0 ? 1.0 / nrm[i] : 0.0;
            for (size_t j = 0; j < d; j++)
                fi[j] = (float)((double)xi[j] * inv);
        }
        r[i] = norm_d(fi, d);
    }
    const double u = 0x1.0p-24, gam = (double)d * u / (1.0 - (double)d * u);
    const double sqrt_gam = sqrt(gam + 1e-14); /* sqrt(E) <= this (r_i + r_j) */
    for (size_t i0 = 0; i0 < m; i0 += block) {
        size_t b = m - i0 < block ? m - i0 : block;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)m, (int)d, 1.0f,
                    f + i0 * d, (int)d, f, (int)d, 0.0f, g, (int)m);
        for (size_t ii = 0; ii < b; ii++) {
            size_t i = i0 + ii;
            const float *gi = g + ii * m;
            double sum_d = 0, sum_err = 0;
            if (metric == PROTO_EUCLIDEAN) {
                /* one sqrt per pair: with s = sqrt(q), the true distance is
                 * within min(sqrt(E), E / s) + R of s (both ends of
                 * [sqrt(q - E), sqrt(q + E)]), and sqrt(E) <= c (r_i + r_j) */
                const double ri = r[i], ri2 = ri * ri;
                for (int half = 0; half < 2; half++) {
                    size_t j0 = half ? i + 1 : 0, j1 = half ? m : i;
                    for (size_t j = j0; j < j1; j++) {
                        double rj = r[j], q = ri2 + rj * rj - 2.0 * gi[j];
                        double sq = sqrt(q > 0 ? q : 0);
                        double e = 4 * gam * ri * rj + 1e-14 * (ri2 + rj * rj);
                        double se = sqrt_gam * (ri + rj), es = e / sq; /* inf at 0 */
                        sum_d += sq;
                        sum_err += (es < se ? es : se) + 2 * u * (ri + rj);
                    }
                }
            } else {
                /* a constant bound per pair */
                for (size_t j = 0; j < m; j++)
                    sum_d += 1.0 - gi[j];
                sum_d -= 1.0 - gi[i];
                sum_err =
                    (double)(m - 1) * (2 * (gam * (1 + u) * (1 + u) + 2 * u + u * u) + 1e-14);
            }
            /* the double sums themselves round: widen by m ulps */
            lo[i] = (sum_d - sum_err) * (1 - 4e-16 * (double)m);
            hi[i] = (sum_d + sum_err) * (1 + 4e-16 * (double)m);
        }
    }
    double best_hi = INFINITY;
    for (size_t i = 0; i < m; i++)
        if (hi[i] < best_hi) best_hi = hi[i];
    for (size_t i = 0; i < m; i++) {
        sum[i] = INFINITY;
        if (lo[i] > best_hi) continue;
        double s = 0;
        for (size_t j = 0; j < m; j++)
            if (j != i)
                s += dist_exact(x + mem[i] * d, x + mem[j] * d, d, metric, nrm[i], nrm[j]);
        sum[i] = s;
    }
    rc = 0;
done:
    free(f);
    free(g);
    free(r);
    return rc;
}

/* ------------------------------------------------------------------- main */

static int check_input(const float *x, size_t n, size_t d, const int32_t *labels,
                       size_t nlabels, size_t nclasses, const struct proto_params *p)
{
    if (nlabels != n) return error_set(ERR_INPUT, NULL, "%zu labels for %zu rows", nlabels, n);
    if (n == 0 || d == 0)
        return error_set(ERR_INPUT, NULL, "empty embedding (%zu x %zu)", n, d);
    if (p->k == 0) return error_set(ERR_INPUT, NULL, "k must be at least 1");
    if (nclasses == 0) return error_set(ERR_INPUT, NULL, "no classes");
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= nclasses)
            return error_set(ERR_INPUT, NULL,
                             "label at row %zu is %d, outside the classes 0..%zu", i,
                             (int)labels[i], nclasses - 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            if (!isfinite(x[i * d + j]))
                return error_set(ERR_INPUT, NULL, "%s at row %zu, column %zu",
                                 isnan(x[i * d + j]) ? "NaN" : "infinite value", i, j);
    return 0;
}

struct prototypes *prototypes_compute(const float *x, size_t n, size_t d, const int32_t *labels,
                                      size_t nlabels, size_t nclasses,
                                      const struct proto_params *pp)
{
    struct proto_params p = pp ? *pp : proto_params_default();
    if (check_input(x, n, d, labels, nlabels, nclasses, &p) < 0) return NULL;
    size_t cd;
    if (!mul_ok(nclasses, d, &cd) || !mul_ok(cd, sizeof(double), &cd))
        return error_set(ERR_INPUT, NULL, "%zu classes x %zu columns is too many", nclasses, d),
               NULL;

    struct prototypes *pr = xcalloc(1, sizeof *pr);
    pr->nclasses = nclasses;
    pr->d = d;
    pr->k = p.k;
    pr->metric = p.metric;
    pr->cls = big_calloc(nclasses * sizeof *pr->cls, NULL, "class table");
    pr->centroids = big_alloc(cd, NULL, "centroids");
    size_t *start = big_calloc((nclasses + 1) * sizeof *start, NULL, "class table");
    size_t *mem = big_alloc(n * sizeof *mem, NULL, "class members");
    double *nrm = big_alloc(n * sizeof *nrm, NULL, "row norms");
    double *lo = big_alloc(n * sizeof *lo, NULL, "medoid bounds");
    double *hi = big_alloc(n * sizeof *hi, NULL, "medoid bounds");
    double *sum = big_alloc(n * sizeof *sum, NULL, "medoid sums");
    struct ranked *rk = big_alloc(n * sizeof *rk, NULL, "distances");
    if (!pr->cls || !pr->centroids || !start || !mem || !nrm || !lo || !hi || !sum || !rk)
        goto fail;

    /* counting sort: members of class c are mem[start[c] .. start[c+1]),
     * ascending row order (which the tie rules rely on) */
    for (size_t i = 0; i < n; i++)
        start[labels[i] + 1]++;
    for (size_t c = 0; c < nclasses; c++)
        start[c + 1] += start[c];
    {
        size_t *fill = xmalloc(nclasses * sizeof *fill);
        memcpy(fill, start, nclasses * sizeof *fill);
        for (size_t i = 0; i < n; i++)
            mem[fill[labels[i]]++] = i;
        free(fill);
    }

    for (size_t c = 0; c < nclasses; c++) {
        struct proto_class *pc = &pr->cls[c];
        const size_t *cm = mem + start[c];
        size_t m = start[c + 1] - start[c];
        double *cen = pr->centroids + c * d;
        pc->count = m;
        pc->medoid = -1;
        pc->medoid_sum = NAN;
        if (m == 0) {
            for (size_t j = 0; j < d; j++)
                cen[j] = NAN;
            continue;
        }
        memset(cen, 0, d * sizeof *cen);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < d; j++)
                cen[j] += x[cm[i] * d + j];
        for (size_t j = 0; j < d; j++)
            cen[j] /= (double)m;

        double cn = 0;
        for (size_t j = 0; j < d; j++)
            cn += cen[j] * cen[j];
        cn = sqrt(cn);
        for (size_t i = 0; i < m; i++) {
            const float *xi = x + cm[i] * d;
            double s = 0;
            nrm[i] = norm_d(xi, d);
            if (p.metric == PROTO_EUCLIDEAN) {
                for (size_t j = 0; j < d; j++) {
                    double t = (double)xi[j] - cen[j];
                    s += t * t;
                }
                s = sqrt(s);
            } else if (nrm[i] == 0 || cn == 0) {
                s = 1.0;
            } else {
                for (size_t j = 0; j < d; j++)
                    s += (double)xi[j] * cen[j];
                s = 1.0 - s / (nrm[i] * cn);
            }
            rk[i] = (struct ranked){s, (int64_t)cm[i]};
        }
        size_t kk = p.k < m ? p.k : m;
        pc->n_near = pc->n_far = kk;
        pc->near = xmalloc(kk * sizeof *pc->near);
        pc->far = xmalloc(kk * sizeof *pc->far);
        pc->near_dist = xmalloc(kk * sizeof *pc->near_dist);
        pc->far_dist = xmalloc(kk * sizeof *pc->far_dist);
        qsort(rk, m, sizeof *rk, cmp_near);
        for (size_t i = 0; i < kk; i++) {
            pc->near[i] = rk[i].idx;
            pc->near_dist[i] = rk[i].dist;
        }
        qsort(rk, m, sizeof *rk, cmp_far);
        for (size_t i = 0; i < kk; i++) {
            pc->far[i] = rk[i].idx;
            pc->far_dist[i] = rk[i].dist;
        }

        if (p.medoid) {
            if (m <= PROTO_DIRECT_MAX || (double)d * 0x1.0p-24 > 0.25)
                medoid_direct(x, d, cm, m, p.metric, nrm, sum);
            else if (medoid_sgemm(x, d, cm, m, cen, p.metric, nrm, p.block, lo, hi, sum) < 0)
                goto fail;
            size_t best = 0;
            for (size_t i = 1; i < m; i++)
                if (sum[i] < sum[best]) best = i; /* strict: lower index on ties */
            pc->medoid = (int64_t)cm[best];
            pc->medoid_sum = sum[best];
        }
        progress_update(p.progress, "prototypes", c + 1, nclasses, NULL);
    }
    free(start);
    free(mem);
    free(nrm);
    free(lo);
    free(hi);
    free(sum);
    free(rk);
    return pr;
fail:
    free(start);
    free(mem);
    free(nrm);
    free(lo);
    free(hi);
    free(sum);
    free(rk);
    prototypes_free(pr);
    return NULL;
}
