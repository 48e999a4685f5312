/* cmd_pca.c - `interp pca`: fit PCA on an embedding and write the scores,
 * the fit (mean, components, variances), a PC1/PC2 scatter and a scree plot;
 * or project new data with a saved fit (--transform).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../analysis/pca.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "../plots/plot.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp pca EMB [--labels L] [--classes NAMES] [-k K] [--whiten]\n"
    "                      [--solver auto|covariance|gram|randomized] [--seed S]\n"
    "                      [--dim D] [-o OUT] [--json] [--quiet] [--threads T]\n"
    "       interp pca --transform NEW [--fit DIR] [--whiten] [-o OUT.npy|OUT.csv]\n"
    "\n"
    "Principal components of EMB (N x D: .npy, .bin with --dim, .csv/.tsv),\n"
    "centred, each component's largest loading positive. Writes into OUT\n"
    "(default pca-out/): scores.npy (N x K float32), components.npy (K x D),\n"
    "mean.npy, variance.npy (explained variance, ddof 1), ratio.npy, a PC1/PC2\n"
    "scatter coloured by --labels (pca_scatter.png) and a scree plot of the\n"
    "explained and cumulative ratio (pca_scree.png), each with its gnuplot\n"
    "script and data.\n"
    "\n"
    "  -k K              components (default min(10, N, D))\n"
    "  --whiten          scores divided by the square root of their variance\n"
    "  --solver S        covariance (D x D, D <= N), gram (N x N, D > N),\n"
    "                    randomized (Halko et al. 2011), auto (default: exact,\n"
    "                    randomized when K is small and min(N, D) >= 1000)\n"
    "  --seed S          randomized solver's seed (default 42)\n"
    "  --transform NEW   project NEW (M x D) with the fit saved in --fit DIR\n"
    "                    (default pca-out/), into -o (default NEW's name with\n"
    "                    .pca.npy, in the current folder). Given EMB too, fits\n"
    "                    EMB first and writes OUT/transform.npy.\n";

enum {
    OPT_LABELS = OPT_COMMAND_BASE,
    OPT_CLASSES,
    OPT_WHITEN,
    OPT_SOLVER,
    OPT_DIM,
    OPT_TRANSFORM,
    OPT_FIT,
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static struct array *load_matrix(const char *path, size_t dim)
{
    struct array_opts o = array_opts_default();
    o.dim = dim;
    struct array *a = array_load(path, &o, DT_F32);
    if (a && pca_input_check(a->data, array_rows(a), array_cols(a), path) < 0) {
        array_free(a);
        return NULL;
    }
    return a;
}

/* Scores of x under fit, written to path (.npy or .csv). */
static int write_scores(const struct pca *fit, const struct array *x, const char *path)
{
    size_t n = array_rows(x), shape[2] = {n, fit->k};
    struct array *s = array_new(DT_F32, 2, shape);
    if (!s) return ERR_FAIL;
    pca_transform(fit, x->data, n, s->data);
    int rc;
    if (ends_with(path, ".csv")) {
        /* header PC1,PC2,... */
        size_t cap = fit->k * 8 + 1, len = 0;
        char *hdr = xmalloc(cap);
        hdr[0] = 0;
        for (size_t i = 0; i < fit->k; i++)
            len += (size_t)snprintf(hdr + len, cap - len, "%sPC%zu", i ? "," : "", i + 1);
        rc = csv_write(path, s, hdr);
        free(hdr);
    } else {
        rc = npy_write(path, s);
    }
    array_free(s);
    if (rc == 0) cli_wrote(path);
    return rc;
}

static int plots(const struct cli_common *c, const char *dir, const struct pca *fit,
                 const struct array *x, const struct labels *lab)
{
    size_t n = array_rows(x), k = fit->k;
    struct plot_result r = {0};
    int rc = 0;
    if (k >= 2) {
        /* PC1/PC2 of the (possibly whitened) scores */
        float *s = big_alloc(n * k * sizeof *s, NULL, "scores");
        if (!s) return ERR_FAIL;
        pca_transform(fit, x->data, n, s);
        float *px = xmalloc(n * sizeof *px), *py = xmalloc(n * sizeof *py);
        for (size_t i = 0; i < n; i++) {
            px[i] = s[i * k];
            py[i] = s[i * k + 1];
        }
        free(s);
        char xl[64], yl[64];
        snprintf(xl, sizeof xl, "PC1 (%.1f%% of variance)", 100 * fit->explained_ratio[0]);
        snprintf(yl, sizeof yl, "PC2 (%.1f%% of variance)", 100 * fit->explained_ratio[1]);
        struct scatter sc = {.x = px,
                             .y = py,
                             .n = n,
                             .labels = lab ? lab->id : NULL,
                             .nclasses = lab ? lab->nclasses : 0,
                             .class_names = lab ? lab->names : NULL,
                             .title = fit->whiten ? "PCA (whitened)" : "PCA",
                             .xlabel = xl,
                             .ylabel = yl};
        rc = plot_scatter(dir, "pca_scatter", &sc, &r);
        free(px);
        free(py);
        if (rc < 0) return rc;
        cli_plot_wrote(c, &r);
        plot_result_release(&r);
    } else {
        cli_note(c, "one component: no PC1/PC2 scatter");
    }
    /* scree: explained ratio per component (bars), cumulative (line) */
    double *xs = xmalloc(k * sizeof *xs), *cum = xmalloc(k * sizeof *cum);
    double acc = 0;
    for (size_t i = 0; i < k; i++) {
        xs[i] = (double)(i + 1);
        acc += fit->explained_ratio[i];
        cum[i] = acc;
    }
    const double *ys[2] = {fit->explained_ratio, cum};
    char *names[2] = {"explained variance ratio", "cumulative"};
    struct line_plot lp = {.x = xs,
                           .n = k,
                           .y = ys,
                           .nseries = 2,
                           .series_names = names,
                           .title = "PCA scree plot",
                           .xlabel = "principal component",
                           .ylabel = "fraction of total variance",
                           .with_bars = 1};
    rc = plot_lines(dir, "pca_scree", &lp, &r);
    free(xs);
    free(cum);
    if (rc < 0) return rc;
    cli_plot_wrote(c, &r);
    plot_result_release(&r);
    return 0;
}

static const char *solver_name(enum pca_solver s)
{
    switch (s) {
    case PCA_COVARIANCE: return "covariance";
    case PCA_GRAM: return "gram";
    case PCA_RANDOMIZED: return "randomized";
    default: return "auto";
    }
}

static void json_doubles(struct json *j, const char *key, const double *v, size_t n)
{
    json_key(j, key);
    json_array_begin(j);
    for (size_t i = 0; i < n; i++)
        json_double(j, v[i]);
    json_array_end(j);
}

/* Default output of --transform: NEW's file name, extension replaced by
 * .pca.npy, in the current folder. */
static char *transform_default(const char *in)
{
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    if (!strcmp(in, "-") || !*base) return xstrdup("stdin.pca.npy");
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    return xasprintf("%.*s.pca.npy", len, base);
}

int cmd_pca(int argc, char **argv)
{
    static const struct option opts[] = {{"labels", required_argument, 0, OPT_LABELS},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         {"whiten", no_argument, 0, OPT_WHITEN},
                                         {"solver", required_argument, 0, OPT_SOLVER},
                                         {"dim", required_argument, 0, OPT_DIM},
                                         {"transform", required_argument, 0, OPT_TRANSFORM},
                                         {"fit", required_argument, 0, OPT_FIT},
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct pca_params p = pca_params_default();
    const char *labels_path = NULL, *classes_path = NULL, *transform = NULL, *fit_dir = NULL;
    size_t dim = 0;
    long k = -1;
    int ch;
    while ((ch = getopt_long(argc, argv, "k:" COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case 'k': k = cli_parse_long("-k", optarg, 1, 1L << 30); break;
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_CLASSES: classes_path = optarg; break;
        case OPT_WHITEN: p.whiten = 1; break;
        case OPT_SOLVER:
            if (!strcmp(optarg, "auto"))
                p.solver = PCA_AUTO;
            else if (!strcmp(optarg, "covariance"))
                p.solver = PCA_COVARIANCE;
            else if (!strcmp(optarg, "gram"))
                p.solver = PCA_GRAM;
            else if (!strcmp(optarg, "randomized"))
                p.solver = PCA_RANDOMIZED;
            else
                return cli_usage_error(NULL,
                                       "--solver: '%s' is not auto, covariance, "
                                       "gram or randomized",
                                       optarg);
            break;
        case OPT_DIM: dim = (size_t)cli_parse_long("--dim", optarg, 1, 1L << 30); break;
        case OPT_TRANSFORM: transform = optarg; break;
        case OPT_FIT: fit_dir = optarg; break;
        default: cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    p.seed = c.seed;
    p.progress = &c.progress;
    int nargs = argc - optind;
    if (nargs > 1 || (nargs == 0 && !transform)) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    if (classes_path && !labels_path) return cli_usage_error(NULL, "--classes needs --labels");
    const char *emb_path = nargs ? argv[optind] : NULL;
    if (emb_path && fit_dir)
        return cli_usage_error(NULL, "--fit reads a saved fit: give EMB or --fit, not both");

    int status = EXIT_OK;
    double t0 = now_seconds();
    struct array *x = NULL, *nx = NULL;
    struct labels *lab = NULL;
    struct pca *fit = NULL;
    char *out = NULL, *tpath = NULL;

    if (!emb_path) {
        /* --transform with a saved fit */
        const char *fd = fit_dir ? fit_dir : "pca-out";
        if (c.out && !ends_with(c.out, ".npy") && !ends_with(c.out, ".csv")) {
            status = cli_usage_error(c.out, "--transform output must end in .npy or .csv");
            goto done;
        }
        char *mp = path_join(fd, "mean.npy");
        int have = access(mp, F_OK) == 0;
        free(mp);
        if (!have) {
            status = cli_usage_error(fd,
                                     "no saved PCA fit here (mean.npy, components.npy, "
                                     "variance.npy): run `interp pca EMB -o %s` first, or "
                                     "give --fit DIR",
                                     fd);
            goto done;
        }
        if (!(fit = pca_load(fd, p.whiten))) goto fail;
        if (!(nx = load_matrix(transform, dim))) goto fail;
        if (array_cols(nx) != fit->d) {
            status = cli_usage_error(transform, "%zu columns, but the fit in %s has %zu",
                                     array_cols(nx), fd, fit->d);
            goto done;
        }
        tpath = c.out ? xstrdup(c.out) : transform_default(transform);
        if (write_scores(fit, nx, tpath) < 0) goto fail;
    } else {
        if (!(x = load_matrix(emb_path, dim))) goto fail;
        size_t n = array_rows(x), d = array_cols(x), m = n < d ? n : d;
        if (labels_path) {
            lab = labels_load(labels_path, classes_path);
            if (!lab || labels_check_rows(lab, n, labels_path) < 0) goto fail;
        }
        p.k = k > 0 ? (size_t)k : (m < 10 ? m : 10);
        if (!(fit = pca_fit(x->data, n, d, &p))) {
            error_set_path_if_missing(emb_path);
            goto fail;
        }
        if ((status = cli_out_dir_make(&c, "pca-out", &out))) goto done;
        char *sp = path_join(out, "scores.npy");
        int rc = write_scores(fit, x, sp);
        free(sp);
        if (rc < 0 || pca_save(fit, out) < 0) goto fail;
        const char *names[] = {"mean.npy", "components.npy", "variance.npy", "ratio.npy"};
        for (int i = 0; i < 4; i++) {
            char *q = path_join(out, names[i]);
            cli_wrote(q);
            free(q);
        }
        if (plots(&c, out, fit, x, lab) < 0) goto fail;
        if (transform) {
            if (!(nx = load_matrix(transform, dim))) goto fail;
            if (array_cols(nx) != d) {
                status = cli_usage_error(transform, "%zu columns, but EMB has %zu",
                                         array_cols(nx), d);
                goto done;
            }
            tpath = path_join(out, "transform.npy");
            if (write_scores(fit, nx, tpath) < 0) goto fail;
        }
    }

    if (c.json) {
        struct json j;
        cli_json_begin(&j, "pca");
        json_key(&j, "input");
        json_string(&j, emb_path ? emb_path : fit_dir ? fit_dir : "pca-out");
        if (x) {
            json_key(&j, "n");
            json_int(&j, (int64_t)array_rows(x));
        }
        json_key(&j, "d");
        json_int(&j, (int64_t)fit->d);
        json_key(&j, "k");
        json_int(&j, (int64_t)fit->k);
        if (x) {
            json_key(&j, "solver");
            json_string(&j, solver_name(fit->solver));
        }
        json_key(&j, "whiten");
        json_bool(&j, p.whiten);
        json_doubles(&j, "explained_variance", fit->explained_variance, fit->k);
        json_doubles(&j, "explained_variance_ratio", fit->explained_ratio, fit->k);
        double cum = 0;
        for (size_t i = 0; i < fit->k; i++)
            cum += fit->explained_ratio[i];
        json_key(&j, "cumulative_ratio");
        json_double(&j, cum);
        json_key(&j, "total_variance");
        json_double(&j, fit->total_variance);
        if (tpath) {
            json_key(&j, "transformed");
            json_string(&j, tpath);
            json_key(&j, "transformed_rows");
            json_int(&j, (int64_t)array_rows(nx));
        }
        json_key(&j, "seconds");
        json_double(&j, now_seconds() - t0);
        cli_json_end(&j);
    } else {
        cli_print_paths();
    }
    goto done;
fail:
    status = cli_fail();
done:
    array_free(x);
    array_free(nx);
    labels_free(lab);
    pca_free(fit);
    free(out);
    free(tpath);
    return cli_finish(status);
}
