/* eval_figures.c - an evaluation's curves as gnuplot figures and its
 * cascading-randomization montage as a PNG.
 */
#include "eval_figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/image.h"
#include "../core/util.h"
#include "colormap.h"

const char *const eval_figure_names[EVAL_FIGURES] = {"deletion", "insertion", "road_morf",
                                                     "road_lerf", "randomization"};

/* Mean over the images of v[i][j][k] (k < len) into out[j][k]. */
static void mean_curves(const double *v, int n, int J, int len, double *out)
{
    for (int j = 0; j < J; j++)
        for (int k = 0; k < len; k++) {
            double s = 0;
            for (int i = 0; i < n; i++)
                s += v[((size_t)i * J + j) * len + k];
            out[(size_t)j * len + k] = s / n;
        }
}

static int lines(const char *dir, const char *name, const struct eval_result *res,
                 const double *x, const double *ys, int len, const char *title,
                 const char *xlabel, const char *ylabel, struct plot_result *r)
{
    const double **y = xmalloc(sizeof(double *) * (size_t)res->nmeth);
    for (int j = 0; j < res->nmeth; j++)
        y[j] = ys + (size_t)j * len;
    struct line_plot lp = {.x = x,
                           .n = (size_t)len,
                           .y = y,
                           .nseries = (size_t)res->nmeth,
                           .series_names = res->methods,
                           .title = title,
                           .xlabel = xlabel,
                           .ylabel = ylabel};
    int rc = plot_lines(dir, name, &lp, r);
    free(y);
    return rc;
}

int eval_figures_write(const char *dir, const struct eval_result *res, struct plot_result *r)
{
    memset(r, 0, sizeof *r * EVAL_FIGURES);
    int n = res->nimg, J = res->nmeth, N = res->steps, L = res->nlayers, rc = 0;
    int len = N + 1 > EVAL_ROAD_N ? N + 1 : EVAL_ROAD_N;
    if (L + 1 > len) len = L + 1;
    double *x = xmalloc(sizeof(double) * (size_t)len);
    double *y = xmalloc(sizeof(double) * (size_t)len * J);
    for (int k = 0; k <= N; k++)
        x[k] = (double)k / N;
    mean_curves(res->del, n, J, N + 1, y);
    rc = lines(dir, eval_figure_names[0], res, x, y, N + 1,
               "Deletion: most relevant pixels first (lower area is better)",
               "fraction of pixels deleted", "class probability", &r[0]);
    if (!rc) {
        mean_curves(res->ins, n, J, N + 1, y);
        rc = lines(dir, eval_figure_names[1], res, x, y, N + 1,
                   "Insertion: most relevant pixels first (higher area is better)",
                   "fraction of pixels inserted", "class probability", &r[1]);
    }
    if (!rc && res->road) {
        for (int k = 0; k < EVAL_ROAD_N; k++)
            x[k] = eval_road_fractions[k];
        mean_curves(res->morf, n, J, EVAL_ROAD_N, y);
        rc = lines(dir, eval_figure_names[2], res, x, y, EVAL_ROAD_N,
                   "ROAD, most relevant first (lower is better)",
                   "fraction removed (noisy linear imputation)", "class probability", &r[2]);
        if (!rc) {
            mean_curves(res->lerf, n, J, EVAL_ROAD_N, y);
            rc =
                lines(dir, eval_figure_names[3], res, x, y, EVAL_ROAD_N,
                      "ROAD, least relevant first (higher is better)",
                      "fraction removed (noisy linear imputation)", "class probability", &r[3]);
        }
    }
    if (!rc && res->cascade && L > 0) {
        /* depth 0: the original (1); depth k: the top k layers re-initialised */
        for (int k = 0; k <= L; k++)
            x[k] = k;
        for (int j = 0; j < J; j++) {
            y[(size_t)j * (L + 1)] = 1;
            for (int k = 0; k < L; k++) {
                double s = 0;
                int cnt = 0;
                for (int i = 0; i < n; i++) {
                    double v = res->casc[(((size_t)i * J + j) * L + k) * EVAL_RAND_METRICS +
                                         EVAL_SPEARMAN_ABS];
                    if (!isnan(res->casc[(((size_t)i * J + j) * L + k) * EVAL_RAND_METRICS +
                                         EVAL_SSIM]))
                        s += isnan(v) ? 0 : v, cnt++;
                }
                y[(size_t)j * (L + 1) + k + 1] = cnt ? s / cnt : NAN;
            }
        }
        rc = lines(dir, eval_figure_names[4], res, x, y, L + 1,
                   "Cascading randomization: rank correlation with the trained model's map",
                   "layers re-initialised from the logits down",
                   "Spearman correlation of |map|", &r[4]);
    }
    free(x);
    free(y);
    if (rc)
        for (int k = 0; k < EVAL_FIGURES; k++)
            plot_result_release(&r[k]);
    return rc;
}

int eval_montage_write(const char *path, const struct eval_result *res, int cell)
{
    int J = res->nmeth, L = res->nlayers, cols = L + 1, H = res->h, W = res->w;
    if (!res->cascade || L == 0 || res->nimg == 0)
        return error_set(ERR_INPUT, path, "no cascading randomization to draw");
    const struct colormap *cm = colormap_find("inferno");
    size_t hw = (size_t)H * W;
    struct image **cells = xcalloc((size_t)J * cols, sizeof *cells);
    char **cl = xcalloc((size_t)cols, sizeof *cl);
    float *a = xmalloc(sizeof(float) * hw);
    int rc = 0;
    cl[0] = xstrdup("original");
    for (int k = 0; k < L; k++) /* layer L-1-k joins at depth k+1 */
        cl[k + 1] = k == 0 ? xstrdup("logits") : xasprintf("+%s", res->layer_names[L - 1 - k]);
    for (int j = 0; j < J && !rc; j++)
        for (int k = 0; k < cols && !rc; k++) {
            const float *m = res->maps + ((size_t)j * cols + k) * hw;
            double mx = 0;
            for (size_t p = 0; p < hw; p++) {
                a[p] = fabsf(m[p]);
                if (a[p] > mx) mx = a[p];
            }
            if (!(cells[(size_t)j * cols + k] = heatmap_image(a, H, W, cm, 0, mx > 0 ? mx : 1)))
                rc = error_code() ? error_code() : ERR_FAIL;
        }
    if (!rc)
        rc = montage_write_png_labeled(path, (const struct image *const *)cells, J, cols, cell,
                                       res->methods, cl);
    for (int k = 0; k < J * cols; k++)
        image_free(cells[k]);
    for (int k = 0; k < cols; k++)
        free(cl[k]);
    free(cells);
    free(cl);
    free(a);
    return rc;
}
