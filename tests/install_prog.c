/* install_prog.c - a program outside the tree that links the installed
 * libinterp.a through pkg-config (tests/install.sh builds it with
 * `pkg-config --cflags --libs interp`): reads a .npy and fits a PCA, and
 * compares the explained variance ratios with scikit-learn's
 * (fixtures/make_analysis.py).
 *
 * usage: install_prog EMB.npy RATIO.npy   (prints the worst difference; exit 0 when <= 1e-4)
 */
#include <interp/analysis/pca.h>
#include <interp/core/array.h>
#include <interp/core/error.h>
#include <math.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s EMB.npy RATIO.npy\n", argv[0]);
        return 2;
    }
    struct array *x = array_load(argv[1], NULL, DT_F32);
    struct array_opts o = array_opts_default();
    o.want_ndim = 1;
    struct array *want = array_load(argv[2], &o, DT_F64);
    if (!x || !want) {
        fprintf(stderr, "%s: %s\n", error_path(), error_message());
        return 1;
    }
    struct pca_params p = pca_params_default();
    p.k = array_count(want);
    struct pca *fit = pca_fit(x->data, array_rows(x), array_cols(x), &p);
    if (!fit) {
        fprintf(stderr, "pca_fit: %s\n", error_message());
        return 1;
    }
    const double *w = want->data;
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < fit->k; i++)
        if (fabs(fit->explained_ratio[i] - w[i]) > worst)
            worst = fabs(fit->explained_ratio[i] - w[i]), at = i;
    printf("%zu x %zu, %zu components: worst |ratio - sklearn| %.3g at %zu\n", array_rows(x),
           array_cols(x), fit->k, worst, at);
    int ok = worst <= 1e-4;
    pca_free(fit);
    array_free(x);
    array_free(want);
    return ok ? 0 : 1;
}
