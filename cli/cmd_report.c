/* cmd_report.c - `interp report MODEL DIR`: the whole study of a model on a
 * folder of class folders (plots/report.h) as one web page; prints where the
 * page is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../analysis/evaluate.h"
#include "../core/array.h"
#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/namelist.h"
#include "../core/util.h"
#include "../report/report.h"
#include "cli.h"

static const char USAGE[] =
    "usage: interp report MODEL DIR [--classes NAMES] [--per-class N] [--tsne-max N]\n"
    "                     [--trust-images N] [--trust-steps N] [--trust-single]\n"
    "                     [--seed S] [--batch B] [--on-error stop|skip] [--scale S]\n"
    "                     [--mean M] [--std S] [--from EMBED_OUT] [-o OUTDIR] [--json]\n"
    "                     [--quiet]\n"
    "\n"
    "Everything about a classifier on a folder of labelled images, as one web page.\n"
    "DIR holds one folder per class (Keras's layout: class id = index of the sorted\n"
    "folder name) of .png/.jpg/.jpeg/.webp/.bmp/.gif images; other files are skipped\n"
    "with a warning, a class folder without images keeps its id (warned); an image\n"
    "that does not decode stops the run unless --on-error skip. The\n"
    "stages, with one progress display: embed and predict every image; metrics and\n"
    "the confusion matrix; PCA and t-SNE of the latent; prototypes (nearest and\n"
    "farthest from each class centroid); Grad-CAM and occlusion of N images per\n"
    "class (the most confident correct, the most confident wrong, a random one, in\n"
    "turns); \"Can these maps be trusted?\": `interp evaluate`'s deletion/insertion,\n"
    "ROAD and cascading randomization of Grad-CAM, Grad-CAM++, occlusion, Integrated\n"
    "Gradients and SmoothGrad (with a random and an edge map as controls) on a few\n"
    "of the explained images.\n"
    "Writes OUTDIR (default report-out/): index.html (no scripts, no network; every\n"
    "figure is a file beside it), report.json (every number, timings per stage),\n"
    "figures/, gallery/, data/ (embeddings, probs, predictions, labels, pca, tsne as\n"
    ".npy; files.txt, classes.txt), with --on-error skip skipped.txt (each image\n"
    "left out, a tab, the reason; the page says how many). Prints the path of\n"
    "index.html.\n"
    "\n"
    "  --classes NAMES  display names, one per model class: a file (one per line)\n"
    "                   or a comma list (default: the folder names)\n"
    "  --per-class N    images explained per class (default 3; 0 = none)\n"
    "  --tsne-max N     t-SNE on at most N images, sampled per class in proportion\n"
    "                   (default 5000; 0 = all)\n"
    "  --trust-images N the trust section on N explained images, spread over the\n"
    "                   classes (default 3; 0 = no section). It costs the same on\n"
    "                   10 or 10,000 images: about 2 s for a 28x28 model, a few\n"
    "                   seconds per image at 128x128\n"
    "  --trust-steps N  its deletion/insertion steps (default 50)\n"
    "  --trust-single   also randomize each layer alone (default: the cascade)\n"
    "  --seed S         t-SNE, the sample and the random picks (default 42)\n"
    "  --batch B        images per forward pass (default 64)\n"
    "  --from EMBED_OUT the first stage reads what `interp embed MODEL DIR` wrote\n"
    "                   there (or `interp merge` of its --shard parts) instead of\n"
    "                   embedding again; its files, labels and classes must be those\n"
    "                   of DIR's walk, its columns the model's latent and classes;\n"
    "                   images its skipped.txt lists are left out (--on-error skip\n"
    "                   only: stop refuses a folder that left any out)\n"
    "  --scale, --mean, --std  preprocessing, as for `interp predict`\n" ON_ERROR_USAGE;

enum {
    OPT_CLASSES = OPT_COMMAND_BASE,
    OPT_PER_CLASS,
    OPT_TSNE_MAX,
    OPT_BATCH,
    OPT_FROM,
    OPT_TRUST_IMAGES,
    OPT_TRUST_STEPS,
    OPT_TRUST_SINGLE
};

/* --classes: an existing file (one name per line) or a comma list. */
static char **load_names(const char *arg, size_t *n)
{
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) return class_names_load(arg, n);
    size_t cap = 1;
    for (const char *s = arg; *s; s++)
        cap += *s == ',';
    char **names = xcalloc(cap, sizeof(char *));
    *n = 0;
    const char *s = arg;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!len) {
            class_names_free(names, *n);
            error_set(ERR_INPUT, NULL, "--classes: an empty name in '%s'", arg);
            return NULL;
        }
        names[*n] = xmalloc(len + 1);
        memcpy(names[*n], s, len);
        names[(*n)++][len] = 0;
        if (!e) break;
        s = e + 1;
    }
    return names;
}

/* The command as typed, for the page header: arguments with characters the
 * shell would treat specially are single-quoted. */
static char *command_line(int argc, char **argv)
{
    size_t cap = 16;
    for (int i = 0; i < argc; i++)
        cap += 4 * strlen(argv[i]) + 3;
    char *s = xmalloc(cap), *o = s;
    o += sprintf(o, "interp");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int plain = *a != 0;
        for (const char *q = a; *q; q++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "-_./=:,+%@",
                        *q))
                plain = 0;
        *o++ = ' ';
        if (plain) {
            o += sprintf(o, "%s", a);
            continue;
        }
        *o++ = '\'';
        for (const char *q = a; *q; q++) {
            if (*q == '\'')
                o += sprintf(o, "'\\''");
            else
                *o++ = *q;
        }
        *o++ = '\'';
        *o = 0;
    }
    return s;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"classes", required_argument, 0, OPT_CLASSES},
        {"per-class", required_argument, 0, OPT_PER_CLASS},
        {"tsne-max", required_argument, 0, OPT_TSNE_MAX},
        {"batch", required_argument, 0, OPT_BATCH},
        {"trust-images", required_argument, 0, OPT_TRUST_IMAGES},
        {"trust-steps", required_argument, 0, OPT_TRUST_STEPS},
        {"trust-single", no_argument, 0, OPT_TRUST_SINGLE},
        ON_ERROR_LONG_OPTION,
        {"from", required_argument, 0, OPT_FROM},
        PREP_LONG_OPTIONS,
        COMMON_LONG_OPTIONS,
        {0}};
    struct cli_common c = cli_common_default(USAGE);
    struct report_params p = report_params_default();
    const char *classes_arg = NULL;
    int ch;
    /* before getopt_long permutes argv */
    char *cmd = command_line(argc, argv);
    while ((ch = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, opts, NULL)) != -1) {
        switch (ch) {
        case OPT_CLASSES: classes_arg = optarg; break;
        case OPT_PER_CLASS:
            p.per_class = (int)cli_parse_long("--per-class", optarg, 0, 1000);
            break;
        case OPT_TSNE_MAX:
            p.tsne_max = (size_t)cli_parse_long("--tsne-max", optarg, 0, 100000000);
            break;
        case OPT_BATCH: p.batch = (int)cli_parse_long("--batch", optarg, 1, 4096); break;
        case OPT_ON_ERROR:
            if (dataset_on_error_parse(optarg, &p.on_error)) {
                free(cmd);
                return cli_fail();
            }
            break;
        case OPT_FROM: p.from_dir = optarg; break;
        case OPT_TRUST_IMAGES:
            p.trust_images = (int)cli_parse_long("--trust-images", optarg, 0, 10000);
            break;
        case OPT_TRUST_STEPS:
            p.trust_steps = (int)cli_parse_long("--trust-steps", optarg, 1, EVAL_STEPS_MAX);
            break;
        case OPT_TRUST_SINGLE: p.trust_single = 1; break;
        default:
            if (!cli_prep_option(&p.prep, ch, optarg))
                cli_common_option(&c, ch, optarg, argv, opts);
        }
    }
    if (argc - optind != 2) {
        free(cmd);
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    p.model_path = argv[optind];
    p.image_dir = argv[optind + 1];
    p.seed = c.seed;
    p.threads = c.threads;
    p.progress = &c.progress;
    char **names = NULL;
    size_t nnames = 0;
    if (classes_arg) {
        if (!(names = load_names(classes_arg, &nnames))) {
            free(cmd);
            return cli_fail();
        }
        p.class_names = names;
        p.nclass_names = nnames;
    }
    /* created by report_run, after it has checked that it is not inside DIR */
    char *dir = xstrdup(c.out ? c.out : "report-out");
    p.out_dir = dir;
    p.command = cmd;
    struct report_result r;
    int status = EXIT_OK;
    if (report_run(&p, &r) < 0) {
        status = cli_fail();
    } else {
        for (size_t i = 0; i < r.nnotes; i++)
            cli_note(&c, "warning: %s", r.notes[i]);
        if (c.json) {
            struct json j;
            json_init(&j, stdout);
            json_object_begin(&j);
            json_key(&j, "command");
            json_string(&j, "report");
            json_key(&j, "index_html");
            json_string(&j, r.index_html);
            json_key(&j, "report_json");
            json_string(&j, r.report_json);
            json_key(&j, "images");
            json_int(&j, (int64_t)r.images);
            if (r.skipped_txt) {
                json_key(&j, "skipped");
                json_int(&j, (int64_t)r.skipped);
                json_key(&j, "skipped_txt");
                json_string(&j, r.skipped_txt);
            }
            json_key(&j, "classes");
            json_int(&j, (int64_t)r.nclasses);
            json_key(&j, "accuracy");
            json_double(&j, r.accuracy);
            json_key(&j, "seconds");
            json_double(&j, r.seconds);
            json_key(&j, "notes");
            json_array_begin(&j);
            for (size_t i = 0; i < r.nnotes; i++)
                json_string(&j, r.notes[i]);
            json_array_end(&j);
            json_object_end(&j);
            json_finish(&j);
        } else {
            namelist_put(stdout, r.index_html);
            putchar('\n');
        }
        report_result_release(&r);
    }
    free(cmd);
    free(dir);
    if (names) class_names_free(names, nnames);
    return cli_finish(status);
}
