/* cmd_embed.c - `interp embed MODEL (DIR | IMG... | --list FILES)`: the latent
 * of every image (default: the input of the last dense layer) with the
 * model's probabilities and predictions, streamed in batches; a folder of
 * class folders also gives labels and class names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/array.h"
#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/model.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp embed MODEL (DIR | IMG... | --list FILES.txt) [--layer NAME]\n"
    "                    [--batch B] [--on-error stop|skip] [--scale S] [--mean M]\n"
    "                    [--std S] [-o OUT] [--json]\n"
    "\n"
    "Runs the model over many images in batches (default 64) and writes to OUT\n"
    "(a folder, default embed-out/):\n"
    "  embeddings.npy   N x D float32: the --layer tensor per image (default: the\n"
    "                   input of the last Gemm/MatMul, the latent; see `interp info`)\n"
    "  probs.npy        N x K float32 class probabilities\n"
    "  predictions.npy  N int32 top-1 classes\n"
    "  files.txt        the image of each row, in row order (a name with a newline,\n"
    "                   tab, edge space or invalid UTF-8 is quoted: README, File formats)\n"
    "  skipped.txt      with --on-error skip: each image left out, a tab, the reason\n"
    "When DIR holds one folder per class (Keras's image_dataset_from_directory\n"
    "layout; class id = index of the sorted folder name), also:\n"
    "  labels.npy       N int32 class ids\n"
    "  classes.txt      the class names, one per line\n"
    "Images (.png .jpg .jpeg .webp .bmp .gif in a folder; any file named as an IMG,\n"
    "recognised by content) are preprocessed as for `interp predict`. --list reads\n"
    "one path per line, as files.txt is written.\n"
    "\n" ON_ERROR_USAGE;

enum { OPT_LIST = OPT_COMMAND_BASE, OPT_LAYER, OPT_BATCH };

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---------------------------------------------------------------- outputs */
static int write_npy(const char *dir, const char *name, enum dtype t, int ndim, size_t rows,
                     size_t cols, void *data)
{
    struct array a = {.dtype = t, .ndim = ndim, .shape = {rows, cols, 1, 1}, .data = data};
    char *p = path_join(dir, name);
    int rc = npy_write(p, &a);
    if (!rc) cli_wrote(p);
    free(p);
    return rc;
}

static int write_lines(const char *dir, const char *name, char **lines, size_t n)
{
    char *p = path_join(dir, name);
    int rc = outfile_write_lines(p, lines, n);
    if (!rc) cli_wrote(p);
    free(p);
    return rc;
}

int cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {{"list", required_argument, 0, OPT_LIST},
                                         {"layer", required_argument, 0, OPT_LAYER},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         ON_ERROR_LONG_OPTION,
                                         PREP_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    struct dataset_skips skips = {.policy = DATASET_STOP};
    const char *list_path = NULL, *layer_name = NULL;
    int batch = 64, ch;
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_LIST: list_path = optarg; break;
        case OPT_LAYER: layer_name = optarg; break;
        case OPT_BATCH: batch = (int)cli_parse_long("--batch", optarg, 1, 4096); break;
        default:
            if (!cli_prep_option(&prep, ch, optarg) && !cli_on_error_option(&skips, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || (nargs < 2 && !list_path) || (list_path && nargs != 1)) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *model_path = argv[optind];
    struct dataset ds = {0};
    float *emb = NULL, *probs = NULL, *x = NULL;
    int32_t *pred = NULL;
    struct model_run *r = NULL;
    char *dir = NULL, *skipped_txt = NULL;
    int status = EXIT_OK;
    struct model *m = model_load(model_path);
    if (!m) return cli_fail();

    /* the images, and labels when a folder holds class folders */
    if (list_path) {
        if (dataset_read_list(list_path, &ds)) goto fail;
    } else if (nargs == 2 && is_dir(argv[optind + 1])) {
        if (dataset_scan(argv[optind + 1], 0, &ds)) goto fail;
    } else {
        ds.n = (size_t)(argc - optind - 1);
        ds.files = xmalloc(sizeof(char *) * ds.n);
        for (size_t i = 0; i < ds.n; i++)
            ds.files[i] = xstrdup(argv[optind + 1 + (int)i]);
    }

    int layer = layer_name ? model_tensor_find(m, layer_name) : model_default_latent(m);
    if (layer_name && (layer < 0 || !model_tensor_is_activation(m, layer))) {
        status = cli_usage_error(
            model_path, "--layer: no activation named '%s' (see `interp info`)", layer_name);
        goto done;
    }
    if (layer < 0) {
        status = cli_usage_error(
            model_path, "no dense layer to take the latent from; name one with --layer");
        goto done;
    }
    size_t N = ds.n, D = model_tensor_item(m, layer),
           item = model_tensor_item(m, model_input(m));
    int K = model_prob_classes(m);
    if ((size_t)batch > N) batch = (int)N;
    size_t embytes, pbytes;
    if (!mul3_ok(N, D, sizeof(float), &embytes) ||
        !mul3_ok(N, (size_t)K, sizeof(float), &pbytes)) {
        status = cli_usage_error(NULL, "too many images");
        goto done;
    }
    if (!(dir = cli_out_dir(&c, "embed-out"))) {
        status = EXIT_USAGE;
        goto done;
    }
    if (!(r = model_run_new(m, batch, MODEL_RUN_FORWARD, &layer, 1)) ||
        !(x = big_alloc(sizeof(float) * item * (size_t)batch, NULL, "image batch")) ||
        !(emb = big_alloc(embytes, NULL, "embedding matrix")) ||
        !(probs = big_alloc(pbytes, NULL, "probabilities")) ||
        !(pred = big_alloc(sizeof(int32_t) * N, NULL, "predictions")))
        goto fail;

    /* Each batch is filled with the next images that decode (an image left
     * out by --on-error skip is replaced by the next one), so the batches,
     * and the bytes of every output row, are those of a run on the good
     * images alone. Rows b0.. of the outputs are the kept images. */
    double t0 = now_seconds();
    size_t next = 0, b0 = 0;
    while (next < N) {
        int n = 0;
        for (; n < batch && next < N; next++) {
            if (model_preprocess_file(m, ds.files[next], &prep, x + (size_t)n * item)) {
                if (dataset_skip(&skips, next, ds.files[next])) goto fail;
                continue;
            }
            n++;
        }
        if (n) {
            model_forward(r, x, n);
            memcpy(emb + b0 * D, model_run_tensor(r, layer), sizeof(float) * D * (size_t)n);
            float *p = probs + b0 * (size_t)K;
            model_run_probs(r, p);
            for (int i = 0; i < n; i++) {
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (p[(size_t)i * K + k] > p[(size_t)i * K + best]) best = k;
                pred[b0 + (size_t)i] = best;
            }
            b0 += (size_t)n;
        }
        progress_update(&c.progress, "embed", next, N, NULL);
    }
    double secs = now_seconds() - t0;
    dataset_drop_skipped(&ds, &skips);
    if ((status = cli_skips_finish(&c, &skips, N, dir,
                                   list_path    ? list_path
                                   : nargs == 2 ? argv[optind + 1]
                                                : NULL,
                                   &skipped_txt)))
        goto done;
    N = ds.n;

    if (write_npy(dir, "embeddings.npy", DT_F32, 2, N, D, emb) ||
        write_npy(dir, "probs.npy", DT_F32, 2, N, (size_t)K, probs) ||
        write_npy(dir, "predictions.npy", DT_I32, 1, N, 1, pred) ||
        write_lines(dir, "files.txt", ds.files, N) ||
        (ds.labels && (write_npy(dir, "labels.npy", DT_I32, 1, N, 1, ds.labels) ||
                       write_lines(dir, "classes.txt", ds.classes, ds.nclasses))))
        goto fail;
    if (c.json) {
        struct json j;
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "model");
        json_string(&j, model_path);
        json_key(&j, "layer");
        json_string(&j, model_tensor_name(m, layer));
        json_key(&j, "images");
        json_int(&j, (int64_t)N);
        json_key(&j, "dim");
        json_int(&j, (int64_t)D);
        json_key(&j, "classes");
        json_int(&j, K);
        if (ds.labels) {
            json_key(&j, "class_names");
            json_array_begin(&j);
            for (size_t k = 0; k < ds.nclasses; k++)
                json_string(&j, ds.classes[k]);
            json_array_end(&j);
        }
        cli_json_skips(&j, &skips, skipped_txt);
        json_key(&j, "seconds");
        json_double(&j, secs);
        json_key(&j, "images_per_second");
        json_double(&j, secs > 0 ? (double)(N + skips.n) / secs : 0);
        cli_json_paths(&j);
        json_object_end(&j);
        json_finish(&j);
    } else {
        cli_print_paths();
    }
    goto done;
fail:
    status = cli_fail();
done:
    free(dir);
    free(skipped_txt);
    dataset_skips_release(&skips);
    free(x);
    free(emb);
    free(probs);
    free(pred);
    model_run_free(r);
    dataset_release(&ds);
    model_free(m);
    return cli_finish(status);
}
