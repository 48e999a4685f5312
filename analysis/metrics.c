/* metrics.c - accuracy, top-k, per-class precision/recall/F1 and the
 * confusion matrix, computed with scikit-learn's formulas in its order of
 * operations so that the numbers are identical, not merely close.
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

#include "../core/error.h"
#include "../core/util.h"

void metrics_free(struct metrics *m)
{
    if (!m) return;
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    free(m->predicted);
    free(m->confusion);
    free(m->confusion_norm);
    free(m);
}

/* numpy/core/src/umath/loops_utils.h.src, pairwise_sum: below 8 a plain loop;
 * up to 128 (PW_BLOCKSIZE) eight interleaved accumulators combined as
 * ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) then the remainder; beyond, split at
 * half rounded down to a multiple of 8. np.add.reduce starts from the
 * identity 0, which changes nothing. */
double metrics_pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i;
        for (int j = 0; j < 8; j++)
            r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return metrics_pairwise_sum(a, n2) + metrics_pairwise_sum(a + n2, n - n2);
}

static int check_labels(const int32_t *v, size_t n, size_t nclasses, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0 || (size_t)v[i] >= nclasses)
            return error_set(ERR_INPUT, NULL, "%s at row %zu is %d, outside the classes 0..%zu",
                             what, i, (int)v[i], nclasses - 1);
    return 0;
}

static int check_scores(const double *s, size_t n, size_t nclasses)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nclasses; j++)
            if (!isfinite(s[i * nclasses + j]))
                return error_set(ERR_INPUT, NULL, "%s score at row %zu, column %zu",
                                 isnan(s[i * nclasses + j]) ? "NaN" : "infinite", i, j);
    return 0;
}

/* np.average(v, weights=w) = sum(v * w) / sum(w); unweighted = mean. */
static double average(const double *v, const double *w, size_t n, double *tmp)
{
    if (!w) return metrics_pairwise_sum(v, n) / (double)n;
    for (size_t i = 0; i < n; i++)
        tmp[i] = v[i] * w[i];
    return metrics_pairwise_sum(tmp, n) / metrics_pairwise_sum(w, n);
}

struct metrics *metrics_compute(const int32_t *truth, size_t n_truth, const int32_t *pred,
                                size_t n_pred, size_t nclasses)
{
    if (n_truth != n_pred)
        return error_set(ERR_INPUT, NULL, "%zu labels for %zu predictions", n_truth, n_pred),
               NULL;
    if (n_truth == 0) return error_set(ERR_INPUT, NULL, "no predictions"), NULL;
    if (nclasses == 0) return error_set(ERR_INPUT, NULL, "no classes"), NULL;
    size_t cc;
    if (!mul_ok(nclasses, nclasses, &cc) || cc > ((size_t)1 << 28))
        return error_set(ERR_INPUT, NULL, "%zu classes is too many", nclasses), NULL;
    if (check_labels(truth, n_truth, nclasses, "label") < 0 ||
        check_labels(pred, n_pred, nclasses, "prediction") < 0)
        return NULL;

    size_t n = n_truth, c = nclasses;
    struct metrics *m = xcalloc(1, sizeof *m);
    m->n = n;
    m->nclasses = c;
    m->precision = xcalloc(c, sizeof(double));
    m->recall = xcalloc(c, sizeof(double));
    m->f1 = xcalloc(c, sizeof(double));
    m->support = xcalloc(c, sizeof(int64_t));
    m->predicted = xcalloc(c, sizeof(int64_t));
    m->confusion = xcalloc(cc, sizeof(int64_t));
    m->confusion_norm = xcalloc(cc, sizeof(double));

    for (size_t i = 0; i < n; i++) {
        m->confusion[(size_t)truth[i] * c + (size_t)pred[i]]++;
        m->support[truth[i]]++;
        m->predicted[pred[i]]++;
        m->correct += truth[i] == pred[i];
    }
    m->accuracy = (double)m->correct / (double)n;

    for (size_t j = 0; j < c; j++) {
        double tp = (double)m->confusion[j * c + j];
        /* _prf_divide: a zero denominator becomes 1 (tp is then 0 too) */
        double p = tp / (double)(m->predicted[j] ? m->predicted[j] : 1);
        double r = tp / (double)(m->support[j] ? m->support[j] : 1);
        double denom = 1.0 * p + r; /* beta^2 P + R with beta = 1 */
        if (denom == 0.0) denom = 1;
        m->precision[j] = p;
        m->recall[j] = r;
        m->f1[j] = (1 + 1.0) * p * r / denom; /* evaluated left to right, as numpy */
        int64_t rs = m->support[j];
        for (size_t k = 0; k < c; k++)
            m->confusion_norm[j * c + k] =
                rs ? (double)m->confusion[j * c + k] / (double)rs : 0.0;
    }

    double *w = xmalloc(c * sizeof *w), *tmp = xmalloc(c * sizeof *tmp);
    for (size_t j = 0; j < c; j++)
        w[j] = (double)m->support[j];
    m->macro_precision = average(m->precision, NULL, c, tmp);
    m->macro_recall = average(m->recall, NULL, c, tmp);
    m->macro_f1 = average(m->f1, NULL, c, tmp);
    /* support sums to n > 0, so scikit-learn's all-zero-weights branch
     * cannot arise */
    m->weighted_precision = average(m->precision, w, c, tmp);
    m->weighted_recall = average(m->recall, w, c, tmp);
    m->weighted_f1 = average(m->f1, w, c, tmp);
    free(w);
    free(tmp);
    return m;
}

int metrics_argmax(const double *scores, size_t n, size_t nclasses, int32_t *pred)
{
    if (nclasses == 0 || nclasses > INT32_MAX)
        return error_set(ERR_INPUT, NULL, "%zu classes", nclasses);
    if (check_scores(scores, n, nclasses) < 0) return ERR_INPUT;
    for (size_t i = 0; i < n; i++) {
        const double *s = scores + i * nclasses;
        size_t best = 0;
        for (size_t j = 1; j < nclasses; j++)
            if (s[j] > s[best]) best = j;
        pred[i] = (int32_t)best;
    }
    return 0;
}

int metrics_top_k(const int32_t *truth, size_t n_truth, const double *scores, size_t n_rows,
                  size_t nclasses, size_t k, double *accuracy, size_t *hits_out)
{
    if (n_truth != n_rows)
        return error_set(ERR_INPUT, NULL, "%zu labels for %zu rows of scores", n_truth, n_rows);
    if (n_truth == 0) return error_set(ERR_INPUT, NULL, "no rows of scores");
    if (k == 0) return error_set(ERR_INPUT, NULL, "top-k needs k >= 1");
    if (nclasses == 0) return error_set(ERR_INPUT, NULL, "no classes");
    if (check_labels(truth, n_truth, nclasses, "label") < 0 ||
        check_scores(scores, n_rows, nclasses) < 0)
        return ERR_INPUT;
    size_t hits = 0;
    for (size_t i = 0; i < n_rows; i++) {
        const double *s = scores + i * nclasses;
        size_t t = (size_t)truth[i], ahead = 0;
        /* rank of t in the reversed stable ascending order */
        for (size_t j = 0; j < nclasses && ahead < k; j++)
            ahead += s[j] > s[t] || (j > t && s[j] == s[t]);
        hits += ahead < k;
    }
    *accuracy = (double)hits / (double)n_rows;
    if (hits_out) *hits_out = hits;
    return 0;
}
