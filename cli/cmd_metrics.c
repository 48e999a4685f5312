/* cmd_metrics.c - `interp metrics`: accuracy, top-k, per-class precision,
 * recall and F1, macro and weighted averages, and the confusion matrix (CSV,
 * .npy and an annotated heatmap) from predictions or probabilities.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/metrics.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "../plots/plot.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp metrics (--pred P | --probs PROBS) --labels L [--classes NAMES]\n"
    "                      [--top K] [-o OUT] [--json] [--quiet]\n"
    "\n"
    "Compares predictions with the true labels L and writes into OUT (default\n"
    "metrics-out/): report.csv (per-class precision, recall, F1, support, then\n"
    "accuracy and the macro and weighted averages: scikit-learn's\n"
    "classification_report with zero_division=0), confusion.csv/.npy (counts,\n"
    "row = true class, column = predicted), confusion_norm.csv/.npy (rows divided\n"
    "by their sums), metrics.json, and confusion.png (the heatmap; colour = row\n"
    "fraction, text = counts) with its gnuplot script and data.\n"
    "\n"
    "  --pred P      predicted classes: .npy ints or text (ints or class names)\n"
    "  --probs PROBS N x C scores (.npy/.csv); prediction = highest score (lowest\n"
    "                class on ties), plus top-K accuracy (ties as scikit-learn's\n"
    "                top_k_accuracy_score: the higher class index ranks first)\n"
    "  --top K       K for top-K accuracy (default 5)\n"
    "  --classes F   class names, one per line (labels may then be names)\n"
    "Every class 0..C-1 is reported, also one with no member or no prediction\n"
    "(its precision/recall is then 0).\n";

enum { OPT_PRED = OPT_COMMAND_BASE, OPT_PROBS, OPT_LABELS, OPT_CLASSES, OPT_TOP };

static int write_report_csv(const char *path, const struct metrics *m, char *const *names,
                            size_t nnames)
{
    struct outfile of;
    if (outfile_open(&of, path) < 0) return ERR_INPUT;
    char buf[32];
    fputs("class,precision,recall,f1,support\n", of.fp);
    for (size_t j = 0; j < m->nclasses; j++) {
        cli_csv_field(of.fp, cli_class_name(names, nnames, j, buf, sizeof buf));
        fprintf(of.fp, ",%.17g,%.17g,%.17g,%lld\n", m->precision[j], m->recall[j], m->f1[j],
                (long long)m->support[j]);
    }
    /* as classification_report lays it out: accuracy in the F1 column */
    fprintf(of.fp, "accuracy,,,%.17g,%zu\n", m->accuracy, m->n);
    fprintf(of.fp, "macro avg,%.17g,%.17g,%.17g,%zu\n", m->macro_precision, m->macro_recall,
            m->macro_f1, m->n);
    fprintf(of.fp, "weighted avg,%.17g,%.17g,%.17g,%zu\n", m->weighted_precision,
            m->weighted_recall, m->weighted_f1, m->n);
    return outfile_commit(&of);
}

/* Square matrix with the class names as header and first column. */
static int write_matrix_csv(const char *path, const struct metrics *m, char *const *names,
                            size_t nnames, int normalized)
{
    struct outfile of;
    if (outfile_open(&of, path) < 0) return ERR_INPUT;
    char buf[32];
    size_t c = m->nclasses;
    fputs("true\\predicted", of.fp);
    for (size_t j = 0; j < c; j++) {
        fputc(',', of.fp);
        cli_csv_field(of.fp, cli_class_name(names, nnames, j, buf, sizeof buf));
    }
    fputc('\n', of.fp);
    for (size_t i = 0; i < c; i++) {
        cli_csv_field(of.fp, cli_class_name(names, nnames, i, buf, sizeof buf));
        for (size_t j = 0; j < c; j++) {
            if (normalized)
                fprintf(of.fp, ",%.17g", m->confusion_norm[i * c + j]);
            else
                fprintf(of.fp, ",%lld", (long long)m->confusion[i * c + j]);
        }
        fputc('\n', of.fp);
    }
    return outfile_commit(&of);
}

static int write_npy(const char *path, enum dtype t, const void *data, size_t r, size_t cols)
{
    size_t shape[2] = {r, cols};
    struct array *a = array_new(t, 2, shape);
    if (!a) return ERR_FAIL;
    memcpy(a->data, data, r * cols * dtype_size(t));
    int rc = npy_write(path, a);
    array_free(a);
    return rc;
}

struct summary {
    const struct metrics *m;
    char *const *names;
    size_t nnames;
    int has_top;
    size_t top_k;
    double top_acc;
    const char *source; /* "pred" or "probs" */
};

static void json_summary(struct json *j, const struct summary *s)
{
    const struct metrics *m = s->m;
    char buf[32];
    json_key(j, "n");
    json_int(j, (int64_t)m->n);
    json_key(j, "classes");
    json_int(j, (int64_t)m->nclasses);
    json_key(j, "from");
    json_string(j, s->source);
    json_key(j, "accuracy");
    json_double(j, m->accuracy);
    if (s->has_top) {
        json_key(j, "top_k");
        json_int(j, (int64_t)s->top_k);
        json_key(j, "top_k_accuracy");
        json_double(j, s->top_acc);
    }
    const char *avg[2] = {"macro", "weighted"};
    double v[2][3] = {{m->macro_precision, m->macro_recall, m->macro_f1},
                      {m->weighted_precision, m->weighted_recall, m->weighted_f1}};
    for (int a = 0; a < 2; a++) {
        json_key(j, avg[a]);
        json_object_begin(j);
        json_key(j, "precision");
        json_double(j, v[a][0]);
        json_key(j, "recall");
        json_double(j, v[a][1]);
        json_key(j, "f1");
        json_double(j, v[a][2]);
        json_object_end(j);
    }
    json_key(j, "per_class");
    json_array_begin(j);
    for (size_t c = 0; c < m->nclasses; c++) {
        json_object_begin(j);
        json_key(j, "class");
        json_string(j, cli_class_name(s->names, s->nnames, c, buf, sizeof buf));
        json_key(j, "precision");
        json_double(j, m->precision[c]);
        json_key(j, "recall");
        json_double(j, m->recall[c]);
        json_key(j, "f1");
        json_double(j, m->f1[c]);
        json_key(j, "support");
        json_int(j, m->support[c]);
        json_key(j, "predicted");
        json_int(j, m->predicted[c]);
        json_object_end(j);
    }
    json_array_end(j);
}

static int write_json_file(const char *path, const struct summary *s)
{
    struct outfile of;
    struct json j;
    if (cli_json_file_open(&of, &j, path) < 0) return ERR_INPUT;
    json_summary(&j, s);
    return cli_json_file_commit(&of, &j);
}

/* Gives pred the ids of truth's names (both read as text names without a
 * class list, each numbered by first appearance). Names only in pred get new
 * ids after truth's; names and nnames become the merged list (owned). */
static void merge_names(const struct labels *truth, struct labels *pred, char ***names,
                        size_t *nnames)
{
    size_t n = truth->nclasses;
    char **all = xmalloc((truth->nclasses + pred->nclasses) * sizeof *all);
    for (size_t i = 0; i < n; i++)
        all[i] = xstrdup(truth->names[i]);
    int32_t *map = xmalloc(pred->nclasses * sizeof *map);
    for (size_t p = 0; p < pred->nclasses; p++) {
        size_t i = 0;
        while (i < n && strcmp(all[i], pred->names[p]))
            i++;
        if (i == n) all[n++] = xstrdup(pred->names[p]);
        map[p] = (int32_t)i;
    }
    for (size_t r = 0; r < pred->n; r++)
        pred->id[r] = map[pred->id[r]];
    free(map);
    *names = all;
    *nnames = n;
}

int cmd_metrics(int argc, char **argv)
{
    static const struct option opts[] = {{"pred", required_argument, 0, OPT_PRED},
                                         {"probs", required_argument, 0, OPT_PROBS},
                                         {"labels", required_argument, 0, OPT_LABELS},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         {"top", required_argument, 0, OPT_TOP},
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    const char *pred_path = NULL, *probs_path = NULL, *labels_path = NULL, *classes_path = NULL;
    size_t top = 5;
    int ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_PRED: pred_path = optarg; break;
        case OPT_PROBS: probs_path = optarg; break;
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_CLASSES: classes_path = optarg; break;
        case OPT_TOP: top = (size_t)cli_parse_long("--top", optarg, 1, 1L << 30); break;
        default: cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (argc != optind) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    if (!labels_path) return cli_usage_error(NULL, "--labels is required");
    if (!!pred_path == !!probs_path)
        return cli_usage_error(NULL, "give one of --pred and --probs");

    int status = EXIT_OK;
    struct labels *truth = NULL, *pred = NULL;
    struct array *probs = NULL;
    struct metrics *m = NULL;
    int32_t *pid = NULL;
    char *out = NULL, **merged = NULL;
    size_t nmerged = 0;
    struct summary s = {0};

    truth = labels_load(labels_path, classes_path);
    if (!truth) goto fail;
    size_t n = truth->n, nclasses = truth->nclasses;
    char *const *names = truth->names;
    size_t nnames = truth->names ? truth->nclasses : 0;

    if (pred_path) {
        pred = labels_load(pred_path, classes_path);
        if (!pred) goto fail;
        if (pred->n != n) {
            error_set(ERR_INPUT, pred_path, "%zu predictions for %zu labels", pred->n, n);
            goto fail;
        }
        if (!classes_path && pred->names) {
            if (!truth->names) {
                status = cli_usage_error(pred_path, "predictions are class names but the "
                                                    "labels are numbers: give --classes");
                goto done;
            }
            merge_names(truth, pred, &merged, &nmerged);
            names = merged;
            nnames = nmerged;
        }
        if (pred->nclasses > nclasses) nclasses = pred->nclasses;
        if (nnames > nclasses) nclasses = nnames;
        pid = pred->id;
        s.source = "pred";
    } else {
        probs = array_load(probs_path, NULL, DT_F64);
        if (!probs) goto fail;
        size_t cols = array_cols(probs);
        if (array_rows(probs) != n) {
            error_set(ERR_INPUT, probs_path, "%zu rows of scores for %zu labels",
                      array_rows(probs), n);
            goto fail;
        }
        if (nclasses > cols) {
            error_set(ERR_INPUT, probs_path, "%zu score columns but %zu classes in %s", cols,
                      nclasses, classes_path ? classes_path : labels_path);
            goto fail;
        }
        nclasses = cols;
        pid = xmalloc((n ? n : 1) * sizeof *pid);
        if (metrics_argmax(probs->data, n, cols, pid) < 0) {
            error_set_path_if_missing(probs_path);
            goto fail;
        }
        s.has_top = 1;
        s.top_k = top;
        if (metrics_top_k(truth->id, n, probs->data, n, cols, top, &s.top_acc, NULL) < 0) {
            error_set_path_if_missing(probs_path);
            goto fail;
        }
        s.source = "probs";
    }
    if (!(m = metrics_compute(truth->id, n, pid, n, nclasses))) {
        error_set_path_if_missing(pred_path ? pred_path : labels_path);
        goto fail;
    }
    s.m = m;
    s.names = names;
    s.nnames = nnames;

    if ((status = cli_out_dir_make(&c, "metrics-out", &out))) goto done;
    {
        struct {
            const char *name;
            int kind;
        } files[] = {{"report.csv", 0},    {"confusion.csv", 1},      {"confusion_norm.csv", 2},
                     {"confusion.npy", 3}, {"confusion_norm.npy", 4}, {"metrics.json", 5}};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char *path = path_join(out, files[i].name);
            int rc = 0;
            switch (files[i].kind) {
            case 0: rc = write_report_csv(path, m, names, nnames); break;
            case 1: rc = write_matrix_csv(path, m, names, nnames, 0); break;
            case 2: rc = write_matrix_csv(path, m, names, nnames, 1); break;
            case 3: rc = write_npy(path, DT_I64, m->confusion, nclasses, nclasses); break;
            case 4: rc = write_npy(path, DT_F64, m->confusion_norm, nclasses, nclasses); break;
            case 5: rc = write_json_file(path, &s); break;
            }
            if (cli_wrote_result(path, rc) < 0) goto fail;
        }
    }
    {
        /* the heatmap wants names for every class */
        char **pn = xmalloc(nclasses * sizeof *pn);
        char buf[32];
        for (size_t i = 0; i < nclasses; i++)
            pn[i] = xstrdup(cli_class_name(names, nnames, i, buf, sizeof buf));
        struct matrix_plot mp = {.values = m->confusion_norm,
                                 .annot = m->confusion,
                                 .rows = nclasses,
                                 .cols = nclasses,
                                 .row_names = pn,
                                 .col_names = pn,
                                 .title =
                                     "Confusion matrix (colour: fraction of the true class)",
                                 .xlabel = "predicted class",
                                 .ylabel = "true class",
                                 .vmin = 0,
                                 .vmax = 1};
        struct plot_result r = {0};
        int rc = plot_matrix(out, "confusion", &mp, &r);
        for (size_t i = 0; i < nclasses; i++)
            free(pn[i]);
        free(pn);
        if (rc < 0) goto fail;
        cli_plot_wrote(&c, &r);
        plot_result_release(&r);
    }

    if (s.has_top)
        cli_note(&c, "accuracy %.4f, top-%zu %.4f, macro F1 %.4f, weighted F1 %.4f",
                 m->accuracy, top, s.top_acc, m->macro_f1, m->weighted_f1);
    else
        cli_note(&c, "accuracy %.4f, macro F1 %.4f, weighted F1 %.4f", m->accuracy, m->macro_f1,
                 m->weighted_f1);
    if (c.json) {
        struct json j;
        cli_json_begin(&j, "metrics");
        json_summary(&j, &s);
        cli_json_end(&j);
    } else {
        cli_print_paths();
    }
    goto done;
fail:
    status = cli_fail();
done:
    labels_free(truth);
    labels_free(pred);
    array_free(probs);
    metrics_free(m);
    if (!pred_path) free(pid);
    if (merged) class_names_free(merged, nmerged);
    free(out);
    return cli_finish(status);
}
