/* cmd_predict.c - `interp predict MODEL IMG...`: the top-k classes of each
 * image with their probabilities (softmax applied when the model outputs
 * logits), images preprocessed from the model's input shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/array.h"
#include "../core/error.h"
#include "../core/model.h"
#include "../core/namelist.h"
#include "../core/util.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp predict MODEL IMG... [--top K] [--classes NAMES] [--batch B]\n"
    "                      [--scale S] [--mean M] [--std S] [--json]\n"
    "\n"
    "Runs the model on each image and prints its top-K classes (default 5) with\n"
    "probabilities: the model's own Softmax output, or the softmax of its logits\n"
    "(a single output is a binary sigmoid: class 1 = the logit).\n"
    "Images are converted to the model's channels, resized bilinearly to its input\n"
    "size, and mapped as (pixel * S - M) / STD with pixel in 0..255: the default\n"
    "S = 1/255, M = 0, STD = 1 gives [0,1]. --mean/--std take one value or one per\n"
    "channel (0.485,0.456,0.406). NAMES: a file with one class name per line, or a\n"
    "comma-separated list. --batch B: images per forward pass (default 32).\n";

enum { OPT_TOP = OPT_COMMAND_BASE, OPT_CLASSES, OPT_BATCH };

/* Class names from a file, or from a comma-separated list when no such file. */
static char **names_get(const char *arg, size_t *n)
{
    if (access(arg, F_OK) == 0 || !strchr(arg, ',')) return class_names_load(arg, n);
    size_t k = 1;
    for (const char *s = arg; *s; s++)
        k += *s == ',';
    char **names = xcalloc(k, sizeof *names);
    const char *s = arg;
    for (size_t i = 0; i < k; i++) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        names[i] = xasprintf("%.*s", (int)len, s);
        s = e ? e + 1 : s + len;
    }
    *n = k;
    return names;
}

struct ranked {
    int cls;
    float p;
};

static int by_prob(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return x->p < y->p ? 1 : x->p > y->p ? -1 : x->cls - y->cls;
}

int cmd_predict(int argc, char **argv)
{
    static const struct option opts[] = {{"top", required_argument, 0, OPT_TOP},
                                         {"classes", required_argument, 0, OPT_CLASSES},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         PREP_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    const char *classes_arg = NULL;
    int top = 5, batch = 32, ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_TOP: top = (int)cli_parse_long("--top", optarg, 1, 100000); break;
        case OPT_BATCH: batch = (int)cli_parse_long("--batch", optarg, 1, 4096); break;
        case OPT_CLASSES: classes_arg = optarg; break;
        default:
            if (!cli_prep_option(&prep, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (argc - optind < 2) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *model_path = argv[optind];
    char **images = argv + optind + 1;
    int nimg = argc - optind - 1;
    struct model *m = model_load(model_path);
    if (!m) return cli_fail();
    int status = EXIT_OK;
    char **names = NULL;
    size_t nnames = 0;
    struct model_run *r = NULL;
    float *x = NULL, *probs = NULL;
    struct ranked *rk = NULL;
    int K = model_prob_classes(m);
    struct model_input_info info;
    if (model_input_info(m, &info)) {
        error_set_path_if_missing(model_path);
        status = cli_fail();
        goto done;
    }
    if (classes_arg) {
        if (!(names = names_get(classes_arg, &nnames))) {
            status = cli_fail();
            goto done;
        }
        if (nnames != (size_t)K) {
            status = cli_usage_error(classes_arg, "%zu class names for a model with %d classes",
                                     nnames, K);
            goto done;
        }
    }
    if (top > K) top = K;
    if (batch > nimg) batch = nimg;
    size_t item = model_tensor_item(m, model_input(m));
    if (!(r = model_run_new(m, batch, MODEL_RUN_FORWARD, NULL, 0)) ||
        !(x = big_alloc(sizeof(float) * item * (size_t)batch, NULL, "image batch"))) {
        status = cli_fail();
        goto done;
    }
    probs = xmalloc(sizeof(float) * (size_t)K * (size_t)batch);
    rk = xmalloc(sizeof *rk * (size_t)K);
    struct json j;
    if (c.json) {
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "model");
        json_string(&j, model_path);
        json_key(&j, "images");
        json_array_begin(&j);
    }
    for (int b0 = 0; b0 < nimg && status == EXIT_OK; b0 += batch) {
        int n = nimg - b0 < batch ? nimg - b0 : batch;
        for (int i = 0; i < n; i++)
            if (model_preprocess_file(m, images[b0 + i], &prep, x + (size_t)i * item)) {
                error_set_path_if_missing(images[b0 + i]);
                status = cli_fail();
                break;
            }
        if (status != EXIT_OK) break;
        model_forward(r, x, n);
        model_run_probs(r, probs);
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < K; k++)
                rk[k] = (struct ranked){k, probs[(size_t)i * K + k]};
            qsort(rk, (size_t)K, sizeof *rk, by_prob);
            if (c.json) {
                json_object_begin(&j);
                json_key(&j, "path");
                json_string(&j, images[b0 + i]);
                json_key(&j, "top");
                json_array_begin(&j);
                for (int t = 0; t < top; t++) {
                    json_object_begin(&j);
                    json_key(&j, "class");
                    json_int(&j, rk[t].cls);
                    if (names) {
                        json_key(&j, "name");
                        json_string(&j, names[rk[t].cls]);
                    }
                    json_key(&j, "probability");
                    json_double(&j, rk[t].p);
                    json_object_end(&j);
                }
                json_array_end(&j);
                json_object_end(&j);
            } else {
                namelist_put(stdout, images[b0 + i]); /* one line, whatever the name */
                putchar('\n');
                for (int t = 0; t < top; t++) {
                    if (names)
                        printf("  %2d. %-20s %8.6f\n", t + 1, names[rk[t].cls], rk[t].p);
                    else
                        printf("  %2d. class %-14d %8.6f\n", t + 1, rk[t].cls, rk[t].p);
                }
            }
        }
    }
    if (c.json && status == EXIT_OK) {
        json_array_end(&j);
        json_object_end(&j);
        json_finish(&j);
    }
done:
    free(rk);
    free(probs);
    free(x);
    model_run_free(r);
    if (names) class_names_free(names, nnames);
    model_free(m);
    return cli_finish(status);
}
