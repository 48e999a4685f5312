/* test_prototypes.c - per-class nearest/farthest members and medoids against
 * numpy brute force (fixtures/make_analysis.py), both metrics, and the edge
 * cases: one-member and empty classes, bad labels, NaN.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "../analysis/prototypes.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/util.h"

#define FIX "fixtures/analysis/"

static struct array *load(const char *name, enum dtype t, int ndim)
{
    return fixture_load(FIX, name, t, ndim);
}

static struct array *loadf(const char *prefix, const char *tag, const char *what, enum dtype t,
                           int ndim)
{
    char name[96];
    snprintf(name, sizeof name, "%s_%s_%s.npy", prefix, tag, what);
    return load(name, t, ndim);
}

/* Runs prototypes on the first n rows with k and the metric, compares with
 * the numpy references PREFIX_TAG_{near,far,medoid,near_dist}. */
static void compare(const char *prefix, size_t n, size_t k, enum proto_metric metric,
                    size_t block)
{
    const char *tag = metric == PROTO_EUCLIDEAN ? "eu" : "cos";
    struct array *x = load("emb2000x50.npy", DT_F32, 2);
    struct array *y = load("labels2000.npy", DT_I32, 1);
    struct array *near = loadf(prefix, tag, "near", DT_I64, 2);
    struct array *far = loadf(prefix, tag, "far", DT_I64, 2);
    struct array *med = loadf(prefix, tag, "medoid", DT_I64, 1);
    struct array *nd = loadf(prefix, tag, "near_dist", DT_F64, 2);
    char cname[96];
    snprintf(cname, sizeof cname, "%s_centroids.npy", prefix);
    struct array *cen = load(cname, DT_F64, 2);

    struct proto_params p = proto_params_default();
    p.k = k;
    p.metric = metric;
    p.block = block;
    struct prototypes *pr = prototypes_compute(x->data, n, 50, y->data, n, 10, &p);
    cr_assert_not_null(pr, "%s", error_message());
    const int64_t *rn = near->data, *rf = far->data, *rm = med->data;
    const double *rd = nd->data, *rc = cen->data;
    size_t idx_bad = 0;
    double worst_d = 0, worst_c = 0;
    for (size_t c = 0; c < 10; c++) {
        const struct proto_class *pc = &pr->cls[c];
        cr_assert_eq(pc->n_near, k);
        for (size_t i = 0; i < k; i++) {
            if (pc->near[i] != rn[c * k + i] || pc->far[i] != rf[c * k + i]) {
                if (!idx_bad)
                    cr_expect(0,
                              "%s class %zu rank %zu: near %lld (numpy %lld), far %lld "
                              "(numpy %lld)",
                              tag, c, i, (long long)pc->near[i], (long long)rn[c * k + i],
                              (long long)pc->far[i], (long long)rf[c * k + i]);
                idx_bad++;
            }
            double e =
                fabs(pc->near_dist[i] - rd[c * k + i]) / fmax(fabs(rd[c * k + i]), 1e-12);
            worst_d = fmax(worst_d, e);
        }
        cr_expect_eq(pc->medoid, rm[c], "%s class %zu: medoid %lld, numpy %lld", tag, c,
                     (long long)pc->medoid, (long long)rm[c]);
        for (size_t j = 0; j < 50; j++)
            worst_c = fmax(worst_c, fabs(pr->centroids[c * 50 + j] - rc[c * 50 + j]));
    }
    cr_log_info("%s %s: %zu index mismatches, worst near-distance rel diff %.3g, "
                "worst centroid diff %.3g",
                prefix, tag, idx_bad, worst_d, worst_c);
    cr_expect(worst_d < 1e-9, "near distances: worst relative difference %.3g", worst_d);
    cr_expect(worst_c < 1e-9, "centroids: worst difference %.3g", worst_c);
    prototypes_free(pr);
    array_free(x);
    array_free(y);
    array_free(near);
    array_free(far);
    array_free(med);
    array_free(nd);
    array_free(cen);
}

Test(prototypes, euclidean_equals_numpy)
{
    compare("proto", 2000, 5, PROTO_EUCLIDEAN, 256);
}

Test(prototypes, cosine_equals_numpy)
{
    compare("proto", 2000, 5, PROTO_COSINE, 256);
}

Test(prototypes, medoid_over_many_sgemm_blocks_equals_numpy)
{
    compare("proto", 2000, 5, PROTO_EUCLIDEAN, 37);
    compare("proto", 2000, 5, PROTO_COSINE, 64);
}

Test(prototypes, small_classes_direct_path_equals_numpy)
{
    compare("proto_small", 150, 3, PROTO_EUCLIDEAN, 256);
    compare("proto_small", 150, 3, PROTO_COSINE, 256);
}

Test(prototypes, one_member_and_empty_classes_are_documented)
{
    struct array *x = load("emb2000x50.npy", DT_F32, 2);
    struct array *y = load("labels2000.npy", DT_I32, 1);
    int32_t *lab = y->data;
    lab[5] = 10; /* class 10: one member (row 5); class 11: none */
    struct proto_params p = proto_params_default();
    p.k = 500; /* more than any class has */
    struct prototypes *pr = prototypes_compute(x->data, 2000, 50, lab, 2000, 12, &p);
    cr_assert_not_null(pr, "%s", error_message());
    const struct proto_class *one = &pr->cls[10], *none = &pr->cls[11];
    cr_expect_eq(one->count, 1);
    cr_expect_eq(one->n_near, 1);
    cr_expect_eq(one->near[0], 5);
    cr_expect_eq(one->far[0], 5);
    cr_expect_eq(one->near_dist[0], 0.0);
    cr_expect_eq(one->medoid, 5);
    cr_expect_eq(one->medoid_sum, 0.0);
    for (size_t j = 0; j < 50; j++)
        cr_expect_eq(pr->centroids[10 * 50 + j], (double)((float *)x->data)[5 * 50 + j]);
    cr_expect_eq(none->count, 0);
    cr_expect_eq(none->n_near, 0);
    cr_expect_eq(none->medoid, -1);
    cr_expect(isnan(pr->centroids[11 * 50]));
    /* k above the class size lists every member, nearest first */
    size_t total = 0;
    for (size_t c = 0; c < 12; c++) {
        cr_expect_eq(pr->cls[c].n_near, pr->cls[c].count);
        total += pr->cls[c].count;
        for (size_t i = 1; i < pr->cls[c].n_near; i++)
            cr_expect(pr->cls[c].near_dist[i - 1] <= pr->cls[c].near_dist[i]);
    }
    cr_expect_eq(total, 2000);
    prototypes_free(pr);
    array_free(x);
    array_free(y);
}

Test(prototypes, ties_go_to_the_lower_index)
{
    /* four copies of one point and one other: equal distances everywhere */
    float x[5 * 2] = {1, 1, 3, 3, 1, 1, 1, 1, 1, 1};
    int32_t lab[5] = {0, 0, 0, 0, 0};
    struct proto_params p = proto_params_default();
    p.k = 2;
    struct prototypes *pr = prototypes_compute(x, 5, 2, lab, 5, 1, &p);
    cr_assert_not_null(pr);
    cr_expect_eq(pr->cls[0].near[0], 0);
    cr_expect_eq(pr->cls[0].near[1], 2);
    cr_expect_eq(pr->cls[0].far[0], 1);
    cr_expect_eq(pr->cls[0].far[1], 0);
    cr_expect_eq(pr->cls[0].medoid, 0);
    prototypes_free(pr);
}

Test(prototypes, bad_input_is_refused_with_a_reason)
{
    float x[4 * 2] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t lab[4] = {0, 1, 0, 1};
    struct proto_params p = proto_params_default();
    cr_expect_null(prototypes_compute(x, 4, 2, lab, 3, 2, &p));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect(strstr(error_message(), "3 labels for 4 rows"), "%s", error_message());
    lab[3] = 2;
    cr_expect_null(prototypes_compute(x, 4, 2, lab, 4, 2, &p));
    cr_expect(strstr(error_message(), "label at row 3 is 2"), "%s", error_message());
    lab[3] = 1;
    x[5] = INFINITY;
    cr_expect_null(prototypes_compute(x, 4, 2, lab, 4, 2, &p));
    cr_expect(strstr(error_message(), "row 2, column 1"), "%s", error_message());
    x[5] = 5;
    p.k = 0;
    cr_expect_null(prototypes_compute(x, 4, 2, lab, 4, 2, &p));
    p.k = 1;
    cr_expect_null(prototypes_compute(x, 0, 2, lab, 0, 2, &p));
    cr_expect(strstr(error_message(), "empty"), "%s", error_message());
    cr_expect_eq(proto_metric_parse("cosine"), PROTO_COSINE);
    cr_expect_eq(proto_metric_parse("manhattan"), -1);
}
