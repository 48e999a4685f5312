/* metrics.h - classification metrics: the numbers of scikit-learn's
 * classification_report (zero_division=0), confusion_matrix and
 * top_k_accuracy_score, bit for bit.
 *
 *     struct metrics *m = metrics_compute(truth, n, pred, n, nclasses);
 *     if (!m) ... error_message() ...
 *     printf("accuracy %.4f, macro F1 %.4f\n", m->accuracy, m->macro_f1);
 *     double top5;
 *     metrics_top_k(truth, n, probs, n, nclasses, 5, &top5, NULL);
 *     metrics_free(m);
 *
 * Classes are 0 .. nclasses-1, all of them reported (as scikit-learn with
 * labels=range(nclasses)): a class with no member and no prediction appears
 * with zeros and counts in the macro average. Conventions (zero_division=0):
 * precision = tp / predicted, 0 when nothing was predicted as the class;
 * recall = tp / support, 0 when the class has no member; F1 = 2PR / (P + R),
 * 0 when P + R = 0. Macro = unweighted mean over classes, weighted = mean
 * weighted by support; both summed in numpy's pairwise order so that they
 * equal scikit-learn's to the last bit.
 */
#ifndef INTERP_METRICS_H
#define INTERP_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics {
    size_t n, nclasses;
    size_t correct;
    double accuracy; /* correct / n */
    /* per class, nclasses each */
    double *precision, *recall, *f1;
    int64_t *support;   /* members (true class) */
    int64_t *predicted; /* rows predicted as the class */
    double macro_precision, macro_recall, macro_f1;
    double weighted_precision, weighted_recall, weighted_f1;
    /* nclasses x nclasses, row = true class, column = predicted class */
    int64_t *confusion;
    /* each row divided by its sum (scikit-learn's normalize="true"); a row
     * of a class without members is all 0 */
    double *confusion_norm;
};

/* Metrics of predictions pred[n_pred] against truth[n_truth]. ERR_INPUT when
 * n_truth != n_pred ("N labels for M predictions"), n is 0, nclasses is 0, or
 * a label or prediction is outside 0..nclasses-1 (naming the row). Owned
 * result, free with metrics_free. */
struct metrics *metrics_compute(const int32_t *truth, size_t n_truth, const int32_t *pred,
                                size_t n_pred, size_t nclasses);
void metrics_free(struct metrics *m); /* NULL is a no-op */

/* Top-1 predictions from scores (n x nclasses, row-major): the class of the
 * highest score, the lowest index among equal scores (numpy's argmax).
 * ERR_INPUT on NaN/Inf naming the row and column. */
int metrics_argmax(const double *scores, size_t n, size_t nclasses, int32_t *pred);

/* Top-k accuracy from scores (n x nclasses): the fraction of rows whose true
 * class is among the k highest scores. Ties as scikit-learn's
 * top_k_accuracy_score (a stable ascending sort, reversed): among equal
 * scores the higher class index ranks first, so the true class c is a hit
 * when #{j : s_j > s_c} + #{j > c : s_j == s_c} < k. k >= nclasses gives 1.
 * *accuracy = hits / n; *hits (may be NULL) the count. ERR_INPUT on length
 * mismatch, k = 0, a label out of range, NaN/Inf (naming row and column). */
int metrics_top_k(const int32_t *truth, size_t n_truth, const double *scores, size_t n_rows,
                  size_t nclasses, size_t k, double *accuracy, size_t *hits);

/* numpy's pairwise summation of a[0..n) (what np.sum and np.mean do on a
 * contiguous float64 array): 8 accumulators in blocks of up to 128, halves
 * beyond. Exposed for the averages here and for tests. */
double metrics_pairwise_sum(const double *a, size_t n);

#endif
