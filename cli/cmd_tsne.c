/* cmd_tsne.c - `interp tsne`: t-SNE of an embedding matrix; writes the
 * coordinates (.npy, .csv), the KL trace (CSV and plot), a scatter plot
 * coloured by class, and with --json one object with the figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "../analysis/tsne.h"
#include "../core/array.h"
#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/shard.h"
#include "../core/util.h"
#include "../plots/plot.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp tsne EMB [--labels L] [--classes NAMES] [--perplexity 30]\n"
    "                       [--iters 1000] [--early-exag 12] [--exag-iters 250]\n"
    "                       [--lr auto|X] [--method exact|bh|fft|auto] [--theta 0.5]\n"
    "                       [--knn exact|approx|auto] [--dof 1] [--fft-nodes N]\n"
    "                       [--init pca|random|FILE.npy] [--dims 2|3] [--dim D]\n"
    "                       [--add NEW.npy --to RUN [--shard K/N [--force]]]\n"
    "                       [--seed S] [--threads T]\n"
    "                       [-o OUT] [--json] [--quiet]\n"
    "\n"
    "t-SNE of the N x D matrix EMB (.npy, .csv/.tsv, or raw float32 .bin with\n"
    "--dim D). Input affinities from the 3*perplexity nearest neighbours (--knn\n"
    "auto: exact search below " XSTR(AFFINITY_APPROX_MIN_N) " points, random-projection trees\n"
    "refined by neighbours of neighbours from there), perplexity calibrated per\n"
    "point;"
    " gradient descent with momentum 0.5/0.8, gains and early exaggeration;\n"
    "learning rate max(N/48, 200) unless --lr is given. --method auto: exact\n"
    "gradient up to " XSTR(TSNE_EXACT_MAX_N) " points, Barnes-Hut (--theta) below "
    XSTR(TSNE_FFT_MIN_N) ", then the FFT\n"
    "grid of FIt-SNE (3-D stays Barnes-Hut); from 100 units across, 2-D maps\n"
    "split the kernel: a smooth part on a grid of 3-unit boxes, the pairs closer\n"
    "than 3 units summed directly. --fft-nodes N: FIt-SNE's grid throughout,\n"
    "N Lagrange nodes per box, 2 to 8 (default: 6 on a grid of up to 50 boxes\n"
    "for up to ~29000 points, fewer on larger ones, 3 from 100 boxes).\n"
    "--dof a < 1 gives the kernel (1 + d^2/a)^-a heavier tails (finer clusters).\n"
    "--init pca (default) is the PCA projection scaled to standard deviation\n"
    "1e-4; random is Gaussian with that deviation from --seed; FILE.npy gives\n"
    "N x dims starting coordinates. Same --seed and --threads give identical\n"
    "output.\n"
    "\n"
    "--add NEW.npy --to RUN places the M rows of NEW into the map RUN made of EMB\n"
    "(RUN: the output folder of that run, or its tsne.npy): affinities of each\n"
    "new point to its nearest rows of EMB, start at their weighted mean, then the\n"
    "new points alone are optimised (--iters, default 250 here; --lr, default 1)\n"
    "with the map fixed, as openTSNE's transform. Writes tsne.npy/.csv (M x dims)\n"
    "and the scatter plot of the new points (--labels: M labels). Each new point\n"
    "is placed on its own, so --shard K/N places rows i = K mod N of NEW (K =\n"
    "0..N-1) into a part folder (default tsne-out/part-K-of-N: tsne.npy/.csv of\n"
    "those rows, rows.npy, and manifest.json last, with the SHA-256 of EMB, the\n"
    "map and NEW); `interp merge` joins the parts into the tsne.npy and tsne.csv of\n"
    "one --add (the scatter plot is per part). A finished part is not run again\n"
    "(--force runs it again).\n"
    "\n"
    "Writes into OUT (default tsne-out/): tsne.npy and tsne.csv (N x dims),\n"
    "kl.csv (KL divergence every 50 iterations) with kl.gp/.dat/.png, and the\n"
    "scatter plot scatter.gp/.dat/.png coloured by --labels (first two axes).\n"
    "The final KL divergence is exact up to " XSTR(TSNE_KL_EXACT_MAX_N)
    " points, estimated beyond.\n";

enum {
    OPT_LABELS = OPT_COMMAND_BASE,
    OPT_CLASSES,
    OPT_PERPLEXITY,
    OPT_ITERS,
    OPT_EARLY_EXAG,
    OPT_EXAG_ITERS,
    OPT_LR,
    OPT_METHOD,
    OPT_THETA,
    OPT_INIT,
    OPT_DIMS,
    OPT_DIM,
    OPT_DOF,
    OPT_KNN,
    OPT_FFT_NODES,
    OPT_ADD,
    OPT_TO,
};

/* Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB). */
static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0;
}

/* Writes the coordinates as .npy and .csv. */
static int write_coords(const char *dir, const struct tsne_result *r)
{
    size_t shape[2] = {r->n, (size_t)r->dims};
    struct array *a = array_new(DT_F32, 2, shape);
    if (!a) return ERR_FAIL;
    memcpy(a->data, r->y, r->n * r->dims * sizeof *r->y);
    char *npy = path_join(dir, "tsne.npy"), *csv = path_join(dir, "tsne.csv");
    int rc = npy_write(npy, a);
    if (rc == 0) {
        cli_wrote(npy);
        rc = csv_write(csv, a, r->dims == 2 ? "tsne1,tsne2" : "tsne1,tsne2,tsne3");
        if (rc == 0) cli_wrote(csv);
    }
    free(npy);
    free(csv);
    array_free(a);
    return rc;
}

static void wrote_plot(const struct cli_common *c, struct plot_result *pr)
{
    cli_wrote(pr->script);
    cli_wrote(pr->data);
    if (pr->rendered && pr->png)
        cli_wrote(pr->png);
    else
        cli_note(c, "gnuplot not available: wrote %s, no PNG", pr->script);
}

/* kl.csv and the KL plot. */
static int write_kl(const struct cli_common *c, const char *dir, const struct tsne_result *r)
{
    size_t shape[2] = {r->nkl, 2};
    if (r->nkl == 0) return 0;
    struct array *a = array_new(DT_F64, 2, shape);
    if (!a) return ERR_FAIL;
    double *v = a->data, *xs = xmalloc(r->nkl * sizeof *xs);
    for (size_t t = 0; t < r->nkl; t++) {
        v[2 * t] = r->kl_iter[t];
        v[2 * t + 1] = r->kl[t];
        xs[t] = r->kl_iter[t];
    }
    char *path = path_join(dir, "kl.csv");
    int rc = csv_write(path, a, "iteration,kl");
    if (rc == 0) cli_wrote(path);
    free(path);
    array_free(a);
    if (rc == 0) {
        const double *ys[1] = {r->kl};
        char *names[1] = {r->kl_trace_exact ? "KL divergence" : "KL divergence (estimated)"};
        struct line_plot lp = {.x = xs,
                               .n = r->nkl,
                               .y = ys,
                               .nseries = 1,
                               .series_names = names,
                               .title = "t-SNE: KL divergence",
                               .xlabel = "iteration",
                               .ylabel = "KL(P || Q)",
                               .logy = 0};
        struct plot_result pr = {0};
        rc = plot_lines(dir, "kl", &lp, &pr);
        if (rc == 0) wrote_plot(c, &pr);
        plot_result_release(&pr);
    }
    free(xs);
    return rc;
}

static int write_scatter(const struct cli_common *c, const char *dir,
                         const struct tsne_result *r, const struct labels *lab)
{
    float *xs = big_alloc(r->n * sizeof *xs, NULL, "plot data");
    float *ys = xs ? big_alloc(r->n * sizeof *ys, NULL, "plot data") : NULL;
    if (!ys) {
        free(xs);
        return ERR_FAIL;
    }
    for (size_t i = 0; i < r->n; i++) {
        xs[i] = r->y[i * r->dims];
        ys[i] = r->y[i * r->dims + 1];
    }
    struct scatter s = {.x = xs,
                        .y = ys,
                        .n = r->n,
                        .labels = lab ? lab->id : NULL,
                        .nclasses = lab ? lab->nclasses : 0,
                        .class_names = lab ? lab->names : NULL,
                        .title = r->dims == 2 ? "t-SNE" : "t-SNE (axes 1 and 2 of 3)",
                        .xlabel = "t-SNE 1",
                        .ylabel = "t-SNE 2"};
    struct plot_result pr = {0};
    int rc = plot_scatter(dir, "scatter", &s, &pr);
    if (rc == 0) wrote_plot(c, &pr);
    plot_result_release(&pr);
    free(xs);
    free(ys);
    return rc;
}

int cmd_tsne(int argc, char **argv)
{
    static const struct option opts[] = {{"labels", required_argument, 0, OPT_LABELS},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         {"perplexity", required_argument, 0, OPT_PERPLEXITY},
                                         {"iters", required_argument, 0, OPT_ITERS},
                                         {"early-exag", required_argument, 0, OPT_EARLY_EXAG},
                                         {"exag-iters", required_argument, 0, OPT_EXAG_ITERS},
                                         {"lr", required_argument, 0, OPT_LR},
                                         {"method", required_argument, 0, OPT_METHOD},
                                         {"theta", required_argument, 0, OPT_THETA},
                                         {"init", required_argument, 0, OPT_INIT},
                                         {"dims", required_argument, 0, OPT_DIMS},
                                         {"dim", required_argument, 0, OPT_DIM},
                                         {"dof", required_argument, 0, OPT_DOF},
                                         {"knn", required_argument, 0, OPT_KNN},
                                         {"fft-nodes", required_argument, 0, OPT_FFT_NODES},
                                         {"add", required_argument, 0, OPT_ADD},
                                         {"to", required_argument, 0, OPT_TO},
                                         SHARD_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct tsne_params p = tsne_params_default();
    struct array_opts ao = array_opts_default();
    const char *labels_path = NULL, *classes_path = NULL, *init_path = NULL;
    const char *add_path = NULL, *to_path = NULL;
    struct cli_shard sh = {0};
    int ch, iters_given = 0;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_CLASSES: classes_path = optarg; break;
        case OPT_PERPLEXITY:
            p.perplexity = cli_parse_double("--perplexity", optarg, 1, 1e6);
            break;
        case OPT_ITERS:
            p.iters = (int)cli_parse_long("--iters", optarg, 1, 1000000);
            iters_given = 1;
            break;
        case OPT_EARLY_EXAG:
            p.early_exag = cli_parse_double("--early-exag", optarg, 1e-3, 1e6);
            break;
        case OPT_EXAG_ITERS:
            p.exag_iters = (int)cli_parse_long("--exag-iters", optarg, 0, 1000000);
            break;
        case OPT_LR:
            p.learning_rate =
                strcmp(optarg, "auto") ? cli_parse_double("--lr", optarg, 1e-6, 1e9) : 0.0;
            break;
        case OPT_METHOD:
            if (!strcmp(optarg, "exact"))
                p.method = TSNE_METHOD_EXACT;
            else if (!strcmp(optarg, "bh") || !strcmp(optarg, "barnes-hut"))
                p.method = TSNE_METHOD_BH;
            else if (!strcmp(optarg, "fft"))
                p.method = TSNE_METHOD_FFT;
            else if (!strcmp(optarg, "auto"))
                p.method = TSNE_METHOD_AUTO;
            else
                return cli_usage_error(NULL, "--method: '%s' is not exact, bh, fft or auto",
                                       optarg);
            break;
        case OPT_KNN:
            if (!strcmp(optarg, "exact"))
                p.knn = AFFINITY_KNN_EXACT;
            else if (!strcmp(optarg, "approx"))
                p.knn = AFFINITY_KNN_APPROX;
            else if (!strcmp(optarg, "auto"))
                p.knn = AFFINITY_KNN_AUTO;
            else
                return cli_usage_error(NULL, "--knn: '%s' is not exact, approx or auto",
                                       optarg);
            break;
        case OPT_DOF: p.dof = cli_parse_double("--dof", optarg, 0.01, 1000); break;
        case OPT_FFT_NODES:
            p.fft_nodes = (int)cli_parse_long("--fft-nodes", optarg, 2, 8);
            break;
        case OPT_ADD: add_path = optarg; break;
        case OPT_TO: to_path = optarg; break;
        case OPT_THETA: p.theta = cli_parse_double("--theta", optarg, 0, 10); break;
        case OPT_INIT:
            if (!strcmp(optarg, "pca"))
                p.init = TSNE_INIT_PCA;
            else if (!strcmp(optarg, "random"))
                p.init = TSNE_INIT_RANDOM;
            else {
                p.init = TSNE_INIT_GIVEN;
                init_path = optarg;
            }
            break;
        case OPT_DIMS: p.dims = (int)cli_parse_long("--dims", optarg, 2, 3); break;
        case OPT_DIM: ao.dim = (size_t)cli_parse_long("--dim", optarg, 1, 1L << 30); break;
        default:
            if (!cli_shard_option(&sh, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (argc - optind != 1) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    if (sh.on && !add_path)
        return cli_usage_error(NULL,
                               "--shard goes with --add: a map of all points is one "
                               "optimisation (map a sample, then --add the rest in shards)");
    if (sh.force && !sh.on) return cli_usage_error(NULL, "--force goes with --shard");
    const char *in = argv[optind];
    if (!add_path != !to_path)
        return cli_usage_error(NULL, "--add NEW.npy and --to RUN go together");
    if (add_path && init_path) return cli_usage_error(NULL, "--init does not apply to --add");
    if (add_path && !iters_given) p.iters = 250;
    p.seed = c.seed;
    p.threads = c.threads;
    p.progress = &c.progress;

    int status = EXIT_OK;
    struct labels *lab = NULL;
    struct array *init = NULL, *xnew = NULL, *ymap = NULL;
    struct tsne_result *r = NULL;
    struct shard_manifest mf = {0};
    int64_t *rows = NULL;
    char *map_path = NULL;
    char *dir = NULL;
    double t0 = now_seconds();

    struct array *x = array_load(in, &ao, DT_F32);
    if (!x) return cli_fail();
    size_t n = array_rows(x), d = array_cols(x), nrows = n;
    if (add_path) {
        struct array_opts ro = array_opts_default();
        struct stat st;
        xnew = array_load(add_path, &ro, DT_F32);
        if (!xnew) goto fail;
        if (array_cols(xnew) != d) {
            status =
                cli_usage_error(add_path, "new points have %zu columns, the map's data %zu",
                                array_cols(xnew), d);
            goto out;
        }
        map_path = stat(to_path, &st) == 0 && S_ISDIR(st.st_mode)
                       ? path_join(to_path, "tsne.npy")
                       : xstrdup(to_path);
        ymap = array_load(map_path, &ro, DT_F32);
        if (!ymap) goto fail;
        if (array_rows(ymap) != n || (array_cols(ymap) != 2 && array_cols(ymap) != 3)) {
            status = cli_usage_error(map_path,
                                     "map is %zu x %zu, expected %zu x 2 or 3 (the rows "
                                     "of %s)",
                                     array_rows(ymap), array_cols(ymap), n, in);
            goto out;
        }
        p.dims = (int)array_cols(ymap);
        nrows = array_rows(xnew);
    }
    if (labels_path) {
        lab = labels_load(labels_path, classes_path);
        if (!lab || labels_check_rows(lab, nrows, labels_path) < 0) goto fail;
    } else if (classes_path) {
        status = cli_usage_error(classes_path, "--classes needs --labels");
        goto out;
    }
    if (init_path) {
        struct array_opts io = array_opts_default();
        init = array_load(init_path, &io, DT_F32);
        if (!init) goto fail;
        if (array_rows(init) != n || array_cols(init) != (size_t)p.dims) {
            status = cli_usage_error(init_path,
                                     "initial coordinates are %zu x %zu, expected %zu x %d",
                                     array_rows(init), array_cols(init), n, p.dims);
            goto out;
        }
        p.init_y = init->data;
    }
    if (sh.on) {
        /* rows i = K mod N of NEW (dataset_shard's rule without classes) */
        struct dataset all = {.n = nrows};
        size_t cnt;
        if (!(rows = dataset_shard(&all, sh.k, sh.n, 1, &cnt))) goto fail;
        float *xv = xnew->data;
        for (size_t t = 0; t < cnt; t++) /* rows[t] >= t: a forward copy in place */
            memmove(xv + t * d, xv + (size_t)rows[t] * d, sizeof(float) * d);
        xnew->shape[0] = cnt;
        if (lab) {
            for (size_t t = 0; t < cnt; t++)
                lab->id[t] = lab->id[rows[t]];
            lab->n = cnt;
        }
        static const char *const not_settings[] = {"add", "to", "labels", "classes", NULL};
        char *settings = cli_shard_options(argc, argv, opts, not_settings);
        char *deflt = cli_shard_dir_default(&sh, "tsne-out");
        dir = cli_out_dir(&c, deflt);
        free(deflt);
        shard_manifest_init(&mf, "tsne-add", (struct shard){sh.k, sh.n}, nrows, cnt, 1);
        shard_manifest_add_param(&mf, "options", "%s", settings);
        free(settings);
        if (!dir) {
            status = EXIT_USAGE;
            goto out;
        }
        if (shard_manifest_add_input(&mf, "embeddings", in) ||
            shard_manifest_add_input(&mf, "map", map_path) ||
            shard_manifest_add_input(&mf, "new points", add_path))
            goto fail;
        int st = cli_shard_begin(&c, &sh, dir, &mf, "tsne");
        if (st) {
            status = st < 0 ? EXIT_OK : st;
            goto out;
        }
        nrows = cnt;
    } else if (!(dir = cli_out_dir(&c, "tsne-out"))) {
        status = EXIT_USAGE;
        goto out;
    }

    if (add_path && nrows == 0) /* an empty shard: more shards than new points */
        r = xcalloc(1, sizeof *r), r->dims = p.dims, r->y = xmalloc(sizeof(float));
    else if (add_path)
        r = tsne_transform(x->data, n, d, ymap->data, xnew->data, nrows, &p);
    else
        r = tsne_run(x->data, n, d, &p);
    if (!r) {
        error_set_path_if_missing(add_path ? add_path : in);
        goto fail;
    }
    if (write_coords(dir, r) < 0 || (!add_path && write_kl(&c, dir, r) < 0) ||
        (r->n && write_scatter(&c, dir, r, lab) < 0))
        goto fail;
    if (sh.on) {
        struct array ra = {.dtype = DT_I64, .ndim = 1, .shape = {nrows, 1, 1, 1}, .data = rows};
        char *rp = path_join(dir, "rows.npy");
        int rc = npy_write(rp, &ra);
        if (!rc) cli_wrote(rp);
        free(rp);
        if (rc || shard_manifest_add_file(&mf, dir, "tsne.npy", SHARD_ROWS, "float32") ||
            shard_manifest_add_file(&mf, dir, "tsne.csv", SHARD_ROWS, NULL) ||
            shard_manifest_add_file(&mf, dir, "rows.npy", SHARD_INDEX, "int64"))
            goto fail;
        if ((status = cli_shard_finish(&mf, dir))) goto out;
    }
    double total = now_seconds() - t0;

    if (c.json) {
        struct json j;
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "input");
        json_string(&j, in);
        json_key(&j, "n");
        json_int(&j, (int64_t)r->n);
        if (add_path) {
            json_key(&j, "added_to");
            json_string(&j, map_path);
            json_key(&j, "map_n");
            json_int(&j, (int64_t)n);
        }
        if (sh.on) {
            json_key(&j, "shard");
            json_int(&j, (int64_t)sh.k);
            json_key(&j, "shards");
            json_int(&j, (int64_t)sh.n);
        }
        json_key(&j, "d");
        json_int(&j, (int64_t)d);
        json_key(&j, "dims");
        json_int(&j, r->dims);
        json_key(&j, "method");
        json_string(&j, tsne_method_name(r->method));
        json_key(&j, "perplexity");
        json_double(&j, r->perplexity);
        json_key(&j, "iterations");
        json_int(&j, p.iters);
        json_key(&j, "learning_rate");
        json_double(&j, r->learning_rate);
        json_key(&j, "seed");
        json_int(&j, (int64_t)p.seed);
        json_key(&j, "dof");
        json_double(&j, p.dof);
        json_key(&j, "knn");
        json_string(&j, r->knn_approx ? "approx" : "exact");
        json_key(&j, "time_knn_s");
        json_double(&j, r->time_knn);
        json_key(&j, "kl_divergence");
        json_double(&j, r->kl_final);
        json_key(&j, "kl_exact");
        json_bool(&j, r->kl_final_exact);
        json_key(&j, "time_affinity_s");
        json_double(&j, r->time_affinity);
        json_key(&j, "time_optimise_s");
        json_double(&j, r->time_optimise);
        json_key(&j, "time_s");
        json_double(&j, total);
        json_key(&j, "peak_rss_mib");
        json_double(&j, peak_rss_mib());
        cli_json_paths(&j);
        json_object_end(&j);
        json_finish(&j);
    } else {
        cli_note(&c,
                 "t-SNE of %zu x %zu (%s): KL divergence %.4f%s, %.1f s, peak memory %.0f MiB",
                 r->n, d, tsne_method_name(r->method), r->kl_final,
                 r->kl_final_exact ? "" : " (estimated)", total, peak_rss_mib());
        cli_print_paths();
    }
    goto out;

fail:
    status = cli_fail();
out:
    tsne_result_free(r);
    shard_manifest_release(&mf);
    free(rows);
    free(dir);
    array_free(init);
    array_free(xnew);
    array_free(ymap);
    free(map_path);
    labels_free(lab);
    array_free(x);
    return cli_finish(status);
}
