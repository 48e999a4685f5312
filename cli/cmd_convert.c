/* cmd_convert.c - `interp convert`: read a matrix in any supported format and
 * write it as .npy or .csv; without -o, describe it (shape, range, NaNs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/array.h"
#include "../core/error.h"
#include "../core/util.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp convert IN [--dim D] [--header|--no-header] [--labels L]\n"
    "                         [--classes NAMES] [--f64] [-o OUT.npy|OUT.csv] [--json]\n"
    "\n"
    "Reads a matrix (.npy of any numeric dtype and order, raw float32 .bin with\n"
    "--dim D, .csv/.tsv with or without a header; '-' = stdin) and writes it as\n"
    "float32 .npy (float64 with --f64) or .csv, chosen by OUT's extension.\n"
    "Without -o it describes the matrix: shape, minimum, maximum, mean, NaNs.\n"
    "--labels L checks that L has one label per row (and with -o writes them as\n"
    "OUT.labels.npy).\n";

enum { OPT_DIM = OPT_COMMAND_BASE, OPT_HEADER, OPT_NO_HEADER, OPT_LABELS, OPT_CLASSES, OPT_F64 };

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dim", required_argument, 0, OPT_DIM},
        {"header", no_argument, 0, OPT_HEADER},
        {"no-header", no_argument, 0, OPT_NO_HEADER},
        {"labels", required_argument, 0, OPT_LABELS},
        {"classes", required_argument, 0, OPT_CLASSES},
        {"f64", no_argument, 0, OPT_F64},
        COMMON_LONG_OPTIONS,
        {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct array_opts ao = array_opts_default();
    const char *labels_path = NULL, *classes_path = NULL;
    int f64 = 0, ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_DIM: ao.dim = (size_t)cli_parse_long("--dim", optarg, 1, 1L << 30); break;
        case OPT_HEADER: ao.header = 1; break;
        case OPT_NO_HEADER: ao.header = 0; break;
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_CLASSES: classes_path = optarg; break;
        case OPT_F64: f64 = 1; break;
        default: cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (argc - optind != 1) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *in = argv[optind];
    if (c.out && !ends_with(c.out, ".npy") && !ends_with(c.out, ".csv"))
        return cli_usage_error(c.out, "output must end in .npy or .csv");

    int status = EXIT_OK;
    struct labels *lab = NULL;
    struct array *a = array_load(in, &ao, f64 ? DT_F64 : DT_F32);
    if (!a) return cli_fail();
    size_t rows = array_rows(a), cols = array_cols(a), n = rows * cols;
    if (labels_path) {
        lab = labels_load(labels_path, classes_path);
        if (!lab || labels_check_rows(lab, rows, labels_path) < 0) {
            status = cli_fail();
            goto out;
        }
    }
    if (c.out) {
        int rc = ends_with(c.out, ".csv") ? csv_write(c.out, a, NULL) : npy_write(c.out, a);
        if (rc < 0) {
            status = cli_fail();
            goto out;
        }
        cli_wrote(c.out);
        if (lab) {
            char *lp = xasprintf("%.*s.labels.npy", (int)(strlen(c.out) - 4), c.out);
            size_t shape[1] = {lab->n};
            struct array *la = array_new(DT_I32, 1, shape);
            if (!la) {
                free(lp);
                status = cli_fail();
                goto out;
            }
            memcpy(la->data, lab->id, lab->n * sizeof *lab->id);
            rc = npy_write(lp, la);
            array_free(la);
            if (rc < 0) {
                free(lp);
                status = cli_fail();
                goto out;
            }
            cli_wrote(lp);
            free(lp);
        }
    }

    /* The description: range and NaNs over all values. */
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    size_t nan = 0;
    for (size_t i = 0; i < n; i++) {
        double v = f64 ? ((double *)a->data)[i] : ((float *)a->data)[i];
        if (isnan(v)) {
            nan++;
            continue;
        }
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        sum += v;
    }
    double mean = n > nan ? sum / (double)(n - nan) : NAN;
    if (c.json) {
        struct json j;
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "input");
        json_string(&j, in);
        json_key(&j, "rows");
        json_int(&j, (int64_t)rows);
        json_key(&j, "cols");
        json_int(&j, (int64_t)cols);
        json_key(&j, "dtype");
        json_string(&j, f64 ? "float64" : "float32");
        json_key(&j, "min");
        json_double(&j, lo);
        json_key(&j, "max");
        json_double(&j, hi);
        json_key(&j, "mean");
        json_double(&j, mean);
        json_key(&j, "nan");
        json_int(&j, (int64_t)nan);
        if (lab) {
            json_key(&j, "classes");
            json_int(&j, (int64_t)lab->nclasses);
        }
        cli_json_paths(&j);
        json_object_end(&j);
        json_finish(&j);
    } else if (c.out) {
        cli_print_paths();
    } else {
        printf("%s: %zu x %zu, min %.6g, max %.6g, mean %.6g, %zu NaN\n", in, rows, cols, lo,
               hi, mean, nan);
    }
out:
    labels_free(lab);
    array_free(a);
    return cli_finish(status);
}
