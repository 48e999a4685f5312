/* cmd_embed.c - `interp embed MODEL (DIR | IMG... | --list FILES)`: the latent
 * of every image (default: the input of the last dense layer) with the
 * model's probabilities and predictions, streamed in batches; a folder of
 * class folders also gives labels and class names. With --shard K/N, the
 * K-th of N slices (core/dataset.h dataset_shard) into a part folder that
 * `interp merge` joins.
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
#include "../core/shard.h"
#include "../core/util.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp embed MODEL (DIR | IMG... | --list FILES.txt) [--layer NAME]\n"
    "                    [--batch B] [--on-error stop|skip] [--scale S] [--mean M]\n"
    "                    [--std S] [-o OUT] [--json] [--shard K/N [--force]]\n"
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
    "\n"
    "Batches hold the images dealt by class (the first image of each class, then\n"
    "the second, ...); the rows are written in the sorted order. An image left out\n"
    "by --on-error skip leaves its batch one image short (no other image moves), and\n"
    "each row is computed alone whatever its batch holds, so the rows are byte for\n"
    "byte those of a run on the good images alone. --shard K/N runs the K-th of N\n"
    "slices (K = 0..N-1): batch j of that order goes to shard j mod N, so every\n"
    "shard sees every class. OUT (default embed-out/part-K-of-N) gets the same files\n"
    "for its rows, in the order they ran, with rows.npy (their rows in the whole\n"
    "run), with --on-error skip skipped.txt and skipped_rows.npy (the rows it left\n"
    "out) and, last, manifest.json (the model's SHA-256, the shard, the settings).\n"
    "`interp merge OUT...` joins the N parts into what one run writes, byte for\n"
    "byte (same --batch, options, build and CPU type; any --threads). A shard that\n"
    "can read none of its images still writes its part (the merge fails only when\n"
    "no shard read any). A finished shard is not run again (--force runs it again);\n"
    "one that was killed left no manifest.json.\n"
    "\n" ON_ERROR_USAGE;

enum { OPT_LIST = OPT_COMMAND_BASE, OPT_LAYER, OPT_BATCH };

/* The row a computed row is written at: its row in the whole run, or with
 * --shard its place in the part (rows left out are then squeezed out). */
#define OUT_ROW(t) (sh.on ? (t) : (size_t)rows[t])

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

/* The part's files, with how the merge treats each, then the manifest
 * (skipped.txt and skipped_rows.npy are in it already). */
static int shard_write_manifest(struct shard_manifest *mf, const char *dir, int labelled)
{
    static const struct {
        const char *name, *dtype;
        enum shard_merge_kind kind;
        int labelled;
    } files[] = {
        {"embeddings.npy", "float32", SHARD_ROWS, 0}, {"probs.npy", "float32", SHARD_ROWS, 0},
        {"predictions.npy", "int32", SHARD_ROWS, 0},  {"files.txt", NULL, SHARD_ROWS, 0},
        {"labels.npy", "int32", SHARD_ROWS, 1},       {"classes.txt", NULL, SHARD_SAME, 1},
        {"rows.npy", "int64", SHARD_INDEX, 0}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if ((!files[i].labelled || labelled) &&
            shard_manifest_add_file(mf, dir, files[i].name, files[i].kind, files[i].dtype))
            return cli_fail();
    return cli_shard_finish(mf, dir);
}

int cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {{"list", required_argument, 0, OPT_LIST},
                                         {"layer", required_argument, 0, OPT_LAYER},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         ON_ERROR_LONG_OPTION,
                                         PREP_LONG_OPTIONS,
                                         SHARD_LONG_OPTIONS,
                                         COMMON_LONG_OPTIONS,
                                         {0}};
    /* --list: its content is hashed; --batch and --layer: recorded as they resolve */
    static const char *const not_settings[] = {"list", "batch", "layer", NULL};
    struct cli_common c = cli_common_default(USAGE);
    struct model_prep prep = model_prep_default();
    struct cli_shard sh = {0};
    struct dataset_skips skips = {.policy = DATASET_STOP};
    const char *list_path = NULL, *layer_name = NULL;
    int batch = 64, ch;
    char *settings = cli_shard_options(argc, argv, opts, not_settings);
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_LIST: list_path = optarg; break;
        case OPT_LAYER: layer_name = optarg; break;
        case OPT_BATCH: batch = (int)cli_parse_long("--batch", optarg, 1, 4096); break;
        default:
            if (!cli_prep_option(&prep, ch, optarg) &&
                !cli_on_error_option(&skips, ch, optarg) && !cli_shard_option(&sh, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || (nargs < 2 && !list_path) || (list_path && nargs != 1)) {
        free(settings);
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    if (sh.force && !sh.on) {
        free(settings);
        return cli_usage_error(NULL, "--force goes with --shard");
    }
    const char *model_path = argv[optind];
    struct dataset ds = {0};
    struct shard_manifest mf = {0};
    float *emb = NULL, *probs = NULL, *x = NULL, *pb = NULL;
    int32_t *pred = NULL, *lab = NULL;
    int64_t *rows = NULL;
    char **files = NULL;
    unsigned char *ok = NULL;
    int *slot = NULL;
    struct model_run *r = NULL;
    char *dir = NULL, *skipped_txt = NULL;
    int status = EXIT_OK;
    struct model *m = model_load(model_path);
    if (!m) {
        free(settings);
        return cli_fail();
    }

    /* the images, and labels when a folder holds class folders */
    const char *source = "arguments";
    if (list_path) {
        if (dataset_read_list(list_path, &ds)) goto fail;
        source = list_path;
    } else if (nargs == 2 && is_dir(argv[optind + 1])) {
        if (dataset_scan(argv[optind + 1], 0, &ds)) goto fail;
        source = argv[optind + 1];
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
    /* the rows this run computes, in the order it runs them (whole batches
     * of the class-interleaved order: dataset.h) */
    size_t N = 0;
    if (!(rows = dataset_shard(&ds, sh.on ? sh.k : 0, sh.on ? sh.n : 1, (size_t)batch, &N)))
        goto fail;
    size_t D = model_tensor_item(m, layer), item = model_tensor_item(m, model_input(m));
    int K = model_prob_classes(m);
    int run_batch = (size_t)batch > N ? (int)(N ? N : 1) : batch;
    /* the outputs hold the rows this run computes: all of them, or the part's */
    size_t nout = sh.on ? N : ds.n, embytes, pbytes;
    if (!mul3_ok(nout ? nout : 1, D, sizeof(float), &embytes) ||
        !mul3_ok(nout ? nout : 1, (size_t)K, sizeof(float), &pbytes)) {
        status = cli_usage_error(NULL, "too many images");
        goto done;
    }
    if (sh.on) {
        char *deflt = cli_shard_dir_default(&sh, "embed-out");
        dir = cli_out_dir(&c, deflt);
        free(deflt);
        if (!dir) {
            status = EXIT_USAGE;
            goto done;
        }
        char hex[SHA256_HEX_LEN + 1];
        shard_manifest_init(&mf, "embed", (struct shard){sh.k, sh.n}, ds.n, N, (size_t)batch);
        if (shard_manifest_add_input(&mf, "model", model_path)) goto fail;
        cli_shard_list_digest(ds.files, ds.n, hex);
        shard_manifest_add_input_digest(&mf, "images", source, hex);
        shard_manifest_add_param(&mf, "source", "%s", source);
        shard_manifest_add_param(&mf, "layer", "%s", model_tensor_name(m, layer));
        shard_manifest_add_param(&mf, "options", "%s", settings);
        shard_manifest_set_classes(&mf, ds.labels ? ds.classes : NULL, ds.nclasses);
        int st = cli_shard_begin(&c, &sh, dir, &mf, "embed");
        if (st) {
            status = st < 0 ? EXIT_OK : st;
            goto done;
        }
        if (!N)
            cli_note(
                &c, "shard %zu/%zu has no images: %zu images make fewer than %zu batches of %d",
                sh.k, sh.n, ds.n, sh.n, batch);
    } else if (!(dir = cli_out_dir(&c, "embed-out"))) {
        status = EXIT_USAGE;
        goto done;
    }
    if (!(r = model_run_new(m, run_batch, MODEL_RUN_FORWARD, &layer, 1)) ||
        !(x = big_alloc(sizeof(float) * item * (size_t)run_batch, NULL, "image batch")) ||
        !(emb = big_alloc(embytes, NULL, "embedding matrix")) ||
        !(probs = big_alloc(pbytes, NULL, "probabilities")) ||
        !(pb = big_alloc(sizeof(float) * (size_t)K * (size_t)run_batch, NULL,
                         "probabilities")) ||
        !(pred = big_alloc(sizeof(int32_t) * (nout ? nout : 1), NULL, "predictions")) ||
        !(ok = big_calloc(nout ? nout : 1, NULL, "row flags")))
        goto fail;
    slot = xmalloc(sizeof(int) * (size_t)run_batch);

    /* Whole batches of the dealt order, each image at its place: one that
     * cannot be read (--on-error skip) leaves its batch one short, and no
     * other image moves, so a shard runs exactly the batches of one
     * unsharded run whatever the other shards skip. The dense layers compute
     * a row alike in any batch (core/op_dense.c), so the rows are also those
     * of a run on the good images alone. */
    double t0 = now_seconds();
    for (size_t b0 = 0; b0 < N; b0 += (size_t)run_batch) {
        int cnt = N - b0 < (size_t)run_batch ? (int)(N - b0) : run_batch, n = 0;
        for (int i = 0; i < cnt; i++) {
            size_t row = (size_t)rows[b0 + (size_t)i];
            if (model_preprocess_file(m, ds.files[row], &prep, x + (size_t)n * item)) {
                if (dataset_skip(&skips, row, ds.files[row])) goto fail;
                continue;
            }
            slot[n++] = i;
        }
        if (n) {
            model_forward(r, x, n);
            const float *lat = model_run_tensor(r, layer);
            model_run_probs(r, pb);
            for (int i = 0; i < n; i++) {
                size_t o = OUT_ROW(b0 + (size_t)slot[i]);
                const float *p = pb + (size_t)i * K;
                memcpy(emb + o * D, lat + (size_t)i * D, sizeof(float) * D);
                memcpy(probs + o * (size_t)K, p, sizeof(float) * (size_t)K);
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (p[k] > p[best]) best = k;
                pred[o] = best;
                ok[o] = 1;
            }
        }
        progress_update(&c.progress, "embed", b0 + (size_t)cnt, N, NULL);
    }
    double secs = now_seconds() - t0;

    /* the rows computed, squeezed together in their order (the whole run's:
     * the sorted order; a part's: the order they ran), with their files and
     * labels */
    dataset_skips_sort(&skips);
    size_t kept = 0;
    for (size_t o = 0; o < nout; o++) {
        if (!ok[o]) continue;
        if (kept != o) {
            memmove(emb + kept * D, emb + o * D, sizeof(float) * D);
            memmove(probs + kept * (size_t)K, probs + o * (size_t)K, sizeof(float) * (size_t)K);
            pred[kept] = pred[o];
        }
        kept++;
    }
    char **out_files = ds.files;
    int32_t *out_labels = ds.labels;
    if (sh.on) {
        files = xmalloc(sizeof(char *) * (N ? N : 1));
        lab = ds.labels ? xmalloc(sizeof(int32_t) * (N ? N : 1)) : NULL;
        for (size_t t = 0, o = 0; t < N; t++) {
            if (!ok[t]) continue;
            files[o] = ds.files[rows[t]];
            if (lab) lab[o] = ds.labels[rows[t]];
            rows[o++] = rows[t]; /* rows.npy: the rows computed */
        }
        out_files = files, out_labels = lab;
        if ((status = cli_shard_skips_finish(&c, &skips, N, dir, &mf, &skipped_txt))) goto done;
        mf.count = kept;
    } else {
        dataset_drop_skipped(&ds, &skips);
        if ((status = cli_skips_finish(&c, &skips, N, dir,
                                       list_path    ? list_path
                                       : nargs == 2 ? argv[optind + 1]
                                                    : NULL,
                                       &skipped_txt)))
            goto done;
        out_files = ds.files, out_labels = ds.labels;
    }
    nout = kept;
    if (write_npy(dir, "embeddings.npy", DT_F32, 2, nout, D, emb) ||
        write_npy(dir, "probs.npy", DT_F32, 2, nout, (size_t)K, probs) ||
        write_npy(dir, "predictions.npy", DT_I32, 1, nout, 1, pred) ||
        write_lines(dir, "files.txt", out_files, nout) ||
        (ds.labels && (write_npy(dir, "labels.npy", DT_I32, 1, nout, 1, out_labels) ||
                       write_lines(dir, "classes.txt", ds.classes, ds.nclasses))) ||
        (sh.on && write_npy(dir, "rows.npy", DT_I64, 1, nout, 1, rows)))
        goto fail;
    if (sh.on && (status = shard_write_manifest(&mf, dir, ds.labels != NULL))) goto done;
    if (c.json) {
        struct json j;
        json_init(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "model");
        json_string(&j, model_path);
        json_key(&j, "layer");
        json_string(&j, model_tensor_name(m, layer));
        json_key(&j, "images");
        json_int(&j, (int64_t)nout);
        if (sh.on) {
            json_key(&j, "shard");
            json_int(&j, (int64_t)sh.k);
            json_key(&j, "shards");
            json_int(&j, (int64_t)sh.n);
            json_key(&j, "total_images");
            json_int(&j, (int64_t)ds.n);
        }
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
        json_double(&j, secs > 0 ? (double)N / secs : 0);
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
    free(settings);
    free(dir);
    free(skipped_txt);
    dataset_skips_release(&skips);
    free(ok);
    free(slot);
    free(x);
    free(emb);
    free(probs);
    free(pb);
    free(pred);
    free(rows);
    free(files);
    free(lab);
    shard_manifest_release(&mf);
    model_run_free(r);
    dataset_release(&ds);
    model_free(m);
    return cli_finish(status);
}
