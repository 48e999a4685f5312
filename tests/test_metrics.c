/* test_metrics.c - metrics against scikit-learn 1.2 (fixtures/make_analysis.py):
 * classification_report (zero_division=0), confusion_matrix and
 * top_k_accuracy_score, compared for exact equality.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "../analysis/metrics.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/util.h"

#define FIX "fixtures/analysis/"

static struct array *load(const char *name, enum dtype t, int ndim)
{
    return fixture_load(FIX, name, t, ndim);
}

/* Exact equality of doubles; reports the first difference. */
static void expect_exact(const char *what, const double *got, const double *want, size_t n,
                         size_t stride_got, size_t stride_want)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i * stride_got], w = want[i * stride_want];
        if (g != w) {
            if (!bad)
                cr_expect(0, "%s[%zu]: got %.17g, sklearn %.17g (diff %.3g)", what, i, g, w,
                          g - w);
            bad++;
        }
    }
    cr_log_info("%s: %zu of %zu values differ from sklearn", what, bad, n);
}

/* PREFIX_per_class (P, R, F1, support per row), PREFIX_avg (accuracy, macro
 * P R F1, weighted P R F1), PREFIX_confusion and PREFIX_confusion_norm. */
static void compare(const struct metrics *m, const char *prefix)
{
    char name[96];
    snprintf(name, sizeof name, "%s_per_class.npy", prefix);
    struct array *pc = load(name, DT_F64, 2);
    snprintf(name, sizeof name, "%s_avg.npy", prefix);
    struct array *avg = load(name, DT_F64, 1);
    snprintf(name, sizeof name, "%s_confusion.npy", prefix);
    struct array *cm = load(name, DT_I64, 2);
    snprintf(name, sizeof name, "%s_confusion_norm.npy", prefix);
    struct array *cn = load(name, DT_F64, 2);
    size_t c = m->nclasses;
    cr_assert_eq(array_rows(pc), c);
    cr_assert_eq(array_rows(cm), c);
    const double *r = pc->data;
    expect_exact("precision", m->precision, r + 0, c, 1, 4);
    expect_exact("recall", m->recall, r + 1, c, 1, 4);
    expect_exact("f1", m->f1, r + 2, c, 1, 4);
    for (size_t j = 0; j < c; j++)
        cr_expect_eq((double)m->support[j], r[j * 4 + 3], "support of class %zu", j);
    double got[7] = {m->accuracy,           m->macro_precision, m->macro_recall, m->macro_f1,
                     m->weighted_precision, m->weighted_recall, m->weighted_f1};
    const char *names[7] = {"accuracy",           "macro precision", "macro recall", "macro f1",
                            "weighted precision", "weighted recall", "weighted f1"};
    for (int i = 0; i < 7; i++)
        expect_exact(names[i], got + i, (double *)avg->data + i, 1, 1, 1);
    const int64_t *cc = cm->data;
    for (size_t i = 0; i < c * c; i++)
        cr_expect_eq(m->confusion[i], cc[i], "confusion[%zu][%zu]: %lld vs %lld", i / c, i % c,
                     (long long)m->confusion[i], (long long)cc[i]);
    expect_exact("confusion_norm", m->confusion_norm, cn->data, c * c, 1, 1);
    array_free(pc);
    array_free(avg);
    array_free(cm);
    array_free(cn);
}

Test(metrics, report_equals_sklearn_with_a_class_never_predicted)
{
    struct array *y = load("labels2000.npy", DT_I32, 1);
    struct array *p = load("pred2000.npy", DT_I32, 1);
    struct metrics *m = metrics_compute(y->data, array_rows(y), p->data, array_rows(p), 10);
    cr_assert_not_null(m, "%s", error_message());
    /* the fixture has what it claims: class 6 is never predicted */
    cr_expect_eq(m->predicted[6], 0);
    cr_expect_eq(m->precision[6], 0.0);
    cr_expect(m->macro_f1 != m->weighted_f1, "fixture should have unequal supports");
    compare(m, "m10");
    cr_log_info("accuracy %.4f macro F1 %.4f weighted F1 %.4f", m->accuracy, m->macro_f1,
                m->weighted_f1);
    metrics_free(m);
    array_free(y);
    array_free(p);
}

Test(metrics, empty_class_counts_in_the_macro_average)
{
    /* 11 classes: class 10 has no member and no prediction */
    struct array *y = load("labels2000.npy", DT_I32, 1);
    struct array *p = load("pred2000.npy", DT_I32, 1);
    struct metrics *m = metrics_compute(y->data, 2000, p->data, 2000, 11);
    cr_assert_not_null(m, "%s", error_message());
    cr_expect_eq(m->support[10], 0);
    cr_expect_eq(m->recall[10], 0.0);
    for (size_t j = 0; j < 11; j++)
        cr_expect_eq(m->confusion_norm[10 * 11 + j], 0.0);
    compare(m, "m11");
    metrics_free(m);
    array_free(y);
    array_free(p);
}

Test(metrics, forty_seven_classes_equal_sklearn)
{
    struct array *y = load("m47_labels.npy", DT_I32, 1);
    struct array *p = load("m47_pred.npy", DT_I32, 1);
    struct metrics *m = metrics_compute(y->data, array_rows(y), p->data, array_rows(p), 47);
    cr_assert_not_null(m, "%s", error_message());
    compare(m, "m47");
    metrics_free(m);
    array_free(y);
    array_free(p);
}

Test(metrics, argmax_of_probabilities_and_top_k_equal_sklearn)
{
    struct array *y = load("labels2000.npy", DT_I32, 1);
    struct array *pr = load("probs2000x10.npy", DT_F64, 2);
    struct array *tk = load("topk_probs.npy", DT_F64, 1);
    int32_t *pred = xmalloc(2000 * sizeof *pred);
    cr_assert_eq(metrics_argmax(pr->data, 2000, 10, pred), 0, "%s", error_message());
    struct metrics *m = metrics_compute(y->data, 2000, pred, 2000, 10);
    cr_assert_not_null(m);
    compare(m, "mprob");
    for (size_t k = 1; k <= 9; k++) {
        double acc;
        size_t hits;
        cr_assert_eq(metrics_top_k(y->data, 2000, pr->data, 2000, 10, k, &acc, &hits), 0);
        cr_expect_eq(acc, ((double *)tk->data)[k - 1], "top-%zu: %.17g vs sklearn %.17g", k,
                     acc, ((double *)tk->data)[k - 1]);
    }
    double top1;
    metrics_top_k(y->data, 2000, pr->data, 2000, 10, 1, &top1, NULL);
    cr_expect_eq(top1, m->accuracy); /* no ties in real probabilities */
    double all;
    metrics_top_k(y->data, 2000, pr->data, 2000, 10, 10, &all, NULL);
    cr_expect_eq(all, 1.0);
    metrics_free(m);
    free(pred);
    array_free(y);
    array_free(pr);
    array_free(tk);
}

Test(metrics, top_k_ties_follow_sklearn)
{
    /* scores in {0, .25, .5, .75}: most rows have ties around the k-th place */
    struct array *y = load("ties_labels.npy", DT_I32, 1);
    struct array *s = load("ties_scores.npy", DT_F64, 2);
    struct array *tk = load("ties_topk.npy", DT_F64, 1);
    for (size_t k = 1; k <= 9; k++) {
        double acc;
        cr_assert_eq(metrics_top_k(y->data, 300, s->data, 300, 10, k, &acc, NULL), 0);
        cr_expect_eq(acc, ((double *)tk->data)[k - 1], "top-%zu with ties: %.17g vs %.17g", k,
                     acc, ((double *)tk->data)[k - 1]);
    }
    /* the rule on one row: equal scores, the higher index ranks first */
    double row[4] = {0.5, 0.5, 0.5, 0.1};
    int32_t t;
    double acc;
    t = 2;
    metrics_top_k(&t, 1, row, 1, 4, 1, &acc, NULL);
    cr_expect_eq(acc, 1.0);
    t = 1;
    metrics_top_k(&t, 1, row, 1, 4, 1, &acc, NULL);
    cr_expect_eq(acc, 0.0);
    metrics_top_k(&t, 1, row, 1, 4, 2, &acc, NULL);
    cr_expect_eq(acc, 1.0);
    int32_t am;
    metrics_argmax(row, 1, 4, &am);
    cr_expect_eq(am, 0, "argmax takes the lowest index on ties");
    array_free(y);
    array_free(s);
    array_free(tk);
}

Test(metrics, bad_input_is_refused_with_a_reason)
{
    int32_t y[4] = {0, 1, 2, 1}, p[4] = {0, 1, 1, 3};
    cr_expect_null(metrics_compute(y, 4, p, 3, 3));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "4 labels for 3 predictions"), "%s", error_message());
    cr_expect_null(metrics_compute(y, 4, p, 4, 3));
    cr_expect(strstr(error_message(), "prediction at row 3 is 3"), "%s", error_message());
    y[2] = -1;
    cr_expect_null(metrics_compute(y, 4, p, 4, 4));
    cr_expect(strstr(error_message(), "label at row 2 is -1"), "%s", error_message());
    cr_expect_null(metrics_compute(y, 0, p, 0, 4));
    y[2] = 2;
    double s[4 * 3] = {0.1, 0.2, 0.7, 0.3, 0.3, 0.4, 0.2, NAN, 0.1, 1, 0, 0};
    double acc;
    cr_expect_eq(metrics_top_k(y, 4, s, 4, 3, 2, &acc, NULL), ERR_INPUT);
    cr_expect(strstr(error_message(), "NaN score at row 2, column 1"), "%s", error_message());
    int32_t pr[4];
    cr_expect_eq(metrics_argmax(s, 4, 3, pr), ERR_INPUT);
    s[7] = 0.5;
    cr_expect_eq(metrics_top_k(y, 3, s, 4, 3, 2, &acc, NULL), ERR_INPUT);
    cr_expect(strstr(error_message(), "3 labels for 4 rows"), "%s", error_message());
    cr_expect_eq(metrics_top_k(y, 4, s, 4, 3, 0, &acc, NULL), ERR_INPUT);
    cr_expect_eq(metrics_top_k(y, 4, s, 4, 3, 2, &acc, NULL), 0);
}
