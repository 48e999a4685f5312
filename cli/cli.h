/* cli.h - what every cmd_<name>.c shares: the shared options, error exits,
 * output paths and the progress reporter.
 *
 * A command parses its own options with getopt_long, with COMMON_LONG_OPTIONS
 * at the end of its table and cli_common_option() in its default case:
 *
 *     static const struct option opts[] = {
 *         {"perplexity", required_argument, 0, 'p'},
 *         COMMON_LONG_OPTIONS, {0}};
 *     struct cli_common c = cli_common_default();
 *     while ((ch = getopt_long(argc, argv, "p:" COMMON_SHORT_OPTIONS, opts, 0)) != -1)
 *         switch (ch) {
 *         case 'p': ...; break;
 *         default: if (cli_common_option(&c, ch, optarg, argv, opts, USAGE)) break;
 *         }
 *
 * The library records errors; a command returns cli_fail() which prints
 * "interp: PATH: reason" and gives the exit status (2 for ERR_INPUT, 1 else).
 */
#ifndef INTERP_CLI_H
#define INTERP_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/dataset.h"
#include "../core/json.h"
#include "../core/progress.h"

enum { EXIT_OK = 0, EXIT_FAILURE_ = 1, EXIT_USAGE = 2 };

/* Values of the shared long options that have no short letter. */
enum {
    OPT_JSON = 1000,
    OPT_QUIET,
    OPT_THREADS,
    OPT_SEED,
    OPT_HELP,
    OPT_MAX_PIXELS,
    OPT_MAX_ELEMENTS,
    OPT_MAX_MEMORY,
    OPT_MAX_MODEL_SIZE,
    OPT_MAX_NODES,
    OPT_PREP_SCALE, /* --scale, --mean, --std of the model commands */
    OPT_PREP_MEAN,
    OPT_PREP_STD,
    OPT_EXIF_ORIENTATION,
    OPT_OUTPUTS,            /* the explanation commands' own (explain_option): --outputs, */
    OPT_EXPLAIN_CLASS,      /* --class, --colormap, --alpha, --classes */
    OPT_EXPLAIN_CMAP,
    OPT_EXPLAIN_ALPHA,
    OPT_EXPLAIN_CLASSES,
    OPT_ON_ERROR,           /* --on-error of the commands that read many images */
    OPT_LIST_OPTIONS,       /* hidden --x-list-options: the option table, for the completion
                               script (no option starts with x, so no prefix a user types
                               for a real option becomes ambiguous) */
    OPT_SHARD,              /* --shard K/N and --force of the commands that run in shards */
    OPT_FORCE,
    OPT_COMMAND_BASE = 1100 /* commands number their own long-only options from here */
};

/* A numeric macro as a string literal, for usage texts that quote the library's
 * thresholds (XSTR(TSNE_FFT_MIN_N) -> "5000"). */
#define STR_(x) #x
#define XSTR(x) STR_(x)

#define COMMON_SHORT_OPTIONS "o:h"
#define COMMON_LONG_OPTIONS                                                    \
    {"out", required_argument, 0, 'o'}, {"json", no_argument, 0, OPT_JSON},    \
        {"quiet", no_argument, 0, OPT_QUIET},                                  \
        {"threads", required_argument, 0, OPT_THREADS},                        \
        {"seed", required_argument, 0, OPT_SEED},                              \
        {"max-pixels", required_argument, 0, OPT_MAX_PIXELS},                  \
        {"max-elements", required_argument, 0, OPT_MAX_ELEMENTS},              \
        {"max-memory", required_argument, 0, OPT_MAX_MEMORY},                  \
        {"max-model-size", required_argument, 0, OPT_MAX_MODEL_SIZE},          \
        {"max-nodes", required_argument, 0, OPT_MAX_NODES},                    \
        {"exif-orientation", no_argument, 0, OPT_EXIF_ORIENTATION},            \
        {"help", no_argument, 0, 'h'},                                         \
        {"x-list-options", no_argument, 0, OPT_LIST_OPTIONS}

/* The preprocessing options of every command that runs a model. */
#define PREP_LONG_OPTIONS                                                      \
    {"scale", required_argument, 0, OPT_PREP_SCALE},                           \
        {"mean", required_argument, 0, OPT_PREP_MEAN},                         \
        {"std", required_argument, 0, OPT_PREP_STD}

/* --on-error stop|skip, of embed, report, gradcam, occlusion and saliency. */
#define ON_ERROR_LONG_OPTION {"on-error", required_argument, 0, OPT_ON_ERROR}
#define ON_ERROR_USAGE                                                                         \
    "  --on-error stop|skip\n"                                                                 \
    "                   an image that cannot be read or decoded: stop with exit 2\n"           \
    "                   (default), or leave it out, list it with the reason in\n"              \
    "                   skipped.txt and the JSON, and go on (exit 0 when at least\n"           \
    "                   one image was read, 2 when none was)\n"

/* --shard K/N and --force, for the commands that run in shards (shard.c). */
// clang-format off
#define SHARD_LONG_OPTIONS                                                     \
    {"shard", required_argument, 0, OPT_SHARD}, {"force", no_argument, 0, OPT_FORCE}

/* What every explanation command (gradcam, occlusion, saliency, attribution)
 * takes besides its own options; explain_option reads them. */
#define EXPLAIN_LONG_OPTIONS                                                   \
    {"class", required_argument, 0, OPT_EXPLAIN_CLASS},                        \
    {"colormap", required_argument, 0, OPT_EXPLAIN_CMAP},                      \
    {"alpha", required_argument, 0, OPT_EXPLAIN_ALPHA},                        \
    {"classes", required_argument, 0, OPT_EXPLAIN_CLASSES},                    \
    {"outputs", required_argument, 0, OPT_OUTPUTS},                            \
    ON_ERROR_LONG_OPTION, PREP_LONG_OPTIONS, SHARD_LONG_OPTIONS
// clang-format on

struct model_prep;
/* Handles --scale/--mean/--std into p; returns 1 when ch was one of them, 0
 * otherwise. A bad value prints the error and exits 2. */
int cli_prep_option(struct model_prep *p, int ch, const char *arg);

struct cli_common {
    const char *out;   /* -o/--out: a file or folder, per command; NULL = default */
    int json;          /* --json: one JSON object on stdout instead of paths */
    int quiet;         /* --quiet: no progress, no notes on stderr */
    int threads;       /* --threads N: 0 = all cores */
    uint64_t seed;     /* --seed N */
    int seed_set;
    const char *usage; /* the command's usage text */
    struct progress progress; /* the reporter, set up by cli_common_default */
};

struct cli_common cli_common_default(const char *usage);

/* Resource limits (core/util.h limits_get): --max-pixels N (per image),
 * --max-elements N (per array or tensor), --max-memory SIZE (per input-sized
 * allocation; for a model, its weights plus a forward pass's activations),
 * --max-model-size SIZE (an ONNX file) and --max-nodes N (an ONNX graph).
 * SIZE is bytes with an optional K/M/G/T suffix, powers of 1024; N takes the
 * same suffixes (powers of 1000) or a plain number such as 2.5e8.
 * --exif-orientation applies a JPEG's EXIF orientation to every image read
 * (core/image.h image_opts_get; off by default, as in Keras and Pillow).
 *
 * Handles a shared option (or getopt's '?' / ':' for an unknown or incomplete
 * one, with a "did you mean" hint from `opts`). Returns 1 when handled; for
 * --help it prints the usage and exits 0; for misuse it prints to stderr and
 * exits 2. Also sets the thread count (OpenMP and OpenBLAS) for --threads. */
int cli_common_option(struct cli_common *c, int ch, const char *arg,
                      char **argv, const struct option *opts);

/* Handles --on-error into s->policy; returns 1 when ch was it, 0 otherwise.
 * A bad value prints the error and exits 2. */
int cli_on_error_option(struct dataset_skips *s, int ch, const char *arg);
/* After the images of a command (total of them) were read, with --on-error
 * skip: writes dir/skipped.txt (recorded with cli_wrote, its path in *txt,
 * owned), warns on stderr with the count, and when none of the images could
 * be read prints that error (naming `from`, may be NULL). Returns 0, or the
 * exit status after printing (2: nothing read; 1 or 2: skipped.txt not
 * written). With --on-error stop: 0, *txt NULL, nothing written. */
int cli_skips_finish(const struct cli_common *c, const struct dataset_skips *s, size_t total,
                     const char *dir, const char *from, char **txt);
/* JSON members, with --on-error skip only: "skipped_images": [{"file",
 * "reason"}...] and "skipped_txt": its path. */
void cli_json_skips(struct json *j, const struct dataset_skips *s, const char *txt);

/* Prints the recorded library error as "interp: PATH: reason" (or
 * "interp: reason") and returns the exit status for it: 2 for ERR_INPUT, 1 otherwise. */
int cli_fail(void);
/* Prints "interp: PATH: reason" (path may be NULL) for a usage or input
 * problem found by the CLI itself; returns 2. */
int cli_usage_error(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A note for the user on stderr (suppressed by --quiet). */
void cli_note(const struct cli_common *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Number parsing for option values; on a bad value print and exit 2. */
long cli_parse_long(const char *opt, const char *arg, long min, long max);
double cli_parse_double(const char *opt, const char *arg, double min, double max);

/* The output folder: c->out when given (created if missing), else `deflt`
 * (created). Returns an owned string, or NULL after printing the error. */
char *cli_out_dir(const struct cli_common *c, const char *deflt);

/* Paths written: each command records them with cli_wrote(); cli_report()
 * prints them one per line (text mode) and the JSON writer lists them. */
void cli_wrote(const char *path);
size_t cli_wrote_count(void);
const char *cli_wrote_path(size_t i);
/* text mode: one path per line on stdout, quoted as core/namelist.h says
 * when a path holds a newline, a tab, ... (every usual path as it is) */
void cli_print_paths(void);
/* JSON mode: writes "paths": [...] into an open object. */
void cli_json_paths(struct json *j);

/* Flushes stdout and checks for write errors (EPIPE, full disk): returns the
 * exit status to use (status unchanged when fine, 1 on a write error). */
int cli_finish(int status);

/* Levenshtein distance, for "did you mean" hints. */
size_t cli_edit_distance(const char *a, const char *b);
/* For an option value that names none of names[0..n): prints
 * "interp: OPT: unknown WHAT 'TYPED'; did you mean 'NAME'? (known: ...)"
 * (the hint when one name is within a few edits) and returns 2. */
int cli_unknown_name(const char *opt, const char *what, const char *typed,
                     const char *const *names, int n);

/* Every subcommand: int cmd_NAME(int argc, char **argv), argv[0] = NAME. */
int cmd_convert(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_tsne(int argc, char **argv);
int cmd_pca(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_prototypes(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_embed(int argc, char **argv);

/* ---- explanations (gradcam, occlusion, saliency; what they share in explain.c) ---- */
int cmd_gradcam(int argc, char **argv);
int cmd_occlusion(int argc, char **argv);
int cmd_saliency(int argc, char **argv);
int cmd_attribution(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);

struct image;
struct cam_info;
struct colormap;
struct model;

/* --class: EXPLAIN_PRED, EXPLAIN_ALL, or a class index. */
enum { EXPLAIN_PRED = -1, EXPLAIN_ALL = -2 };

/* What the three commands share: output folder, colours, class names, the
 * stdout JSON (NULL in text mode). */
struct explain_out {
    const struct cli_common *c;
    const char *dir;
    const char *method;        /* "gradcam", "gradcam++", "occlusion", "saliency" */
    const struct colormap *cm;
    double alpha;
    char **names;              /* class names or NULL */
    size_t nnames;
    struct json *j;            /* --json: one record per map is added here */
    int unique_stems;          /* 0: prefix file names with the image index */
    int outputs;               /* EXPLAIN_OUT_* written (0: all) */
};
/* --outputs npy,heatmap,overlay,json: which files explain_write makes (all
 * by default; the --json record on stdout is printed either way). */
enum {
    EXPLAIN_OUT_NPY = 1,
    EXPLAIN_OUT_HEATMAP = 2,
    EXPLAIN_OUT_OVERLAY = 4,
    EXPLAIN_OUT_JSON = 8,
    EXPLAIN_OUT_ALL = 15
};
/* Parses --outputs (a comma list of those names) into *mask; prints the
 * error and returns 2 on an unknown name, else 0. */
int explain_outputs_parse(const char *arg, int *mask);

/* Parses --class (pred, all, an index or a class name) into *cls; prints the
 * error and returns 2 on a bad value, else 0. */
int explain_class_parse(const char *spec, int nclass, char **names, size_t nnames, int *cls);
/* The classes to explain for one image: n written to out (nclass ints room). */
int explain_class_list(int spec, int pred, int nclass, int *out);
/* Loads --classes (a file or a comma list) checked against nclass; 0 or 2. */
int explain_names_load(const char *arg, int nclass, char ***names, size_t *n);
/* Resolves --layer NAME (NULL: the model's default) to a tensor id, or
 * prints the error (naming candidates) and returns -1. */
int explain_layer(const struct model *m, const char *model_path, const char *name);
/* Parses --colormap; prints and returns NULL for an unknown name. */
const struct colormap *explain_colormap(const char *name);
/* 1 when no two image paths share a file stem. */
int explain_stems_unique(char **images, int n);
/* Writes the outputs of one map: <stem>.<class>.<method>.{layer.npy (when
 * lmap), input.npy, heatmap.png, overlay.png, json}, those o->outputs asks
 * for; `extra` adds method-specific JSON members. 0, or the exit status
 * after printing. */
int explain_write(struct explain_out *o, const char *img_path, int img_index,
                  const struct image *orig, int cls, int pred, const float *lmap, int lh,
                  int lw, const char *lname, const float *imap, int ih, int iw, double vmin,
                  double vmax, const struct cam_info *info, const char *score_what,
                  void (*extra)(struct json *j, void *ctx), void *ctx);
/* The path explain_write gives a map's file with this suffix ("attr.npy"):
 * DIR/<stem>.<class>.<method>.SUFFIX (owned). */
char *explain_path(const struct explain_out *o, const char *img_path, int img_index, int cls,
                   const char *suffix);

/* ---- report (cmd_report.c) ---- */
int cmd_report(int argc, char **argv);

/* ---- sharded runs: --shard K/N, --force and the part's manifest (shard.c) ---- */
int cmd_merge(int argc, char **argv);

struct shard_manifest;

/* A command's --shard and --force. */
struct cli_shard {
    int on;      /* --shard given */
    size_t k, n; /* shard k of n */
    int force;   /* --force: run again even when the part is done */
};
/* Handles --shard and --force into sh: 1 when ch was one of them, else 0. A
 * bad K/N prints the error and exits 2. */
int cli_shard_option(struct cli_shard *sh, int ch, const char *arg);
/* The settings of a command line that every shard must share: its options
 * (opts, as getopt_long reads them, abbreviations too) as "--name=value"
 * sorted, without -o/--out, --json, --quiet, --threads, --shard, --force,
 * --help, the --max-* limits and the long options named in skip (a
 * NULL-terminated list, may be NULL). Before or after getopt_long (which
 * moves the operands behind the options, keeping each option's value beside
 * it). Owned string. */
char *cli_shard_options(int argc, char **argv, const struct option *opts,
                        const char *const *skip);
/* The default output folder of a shard: "<deflt>/part-K-of-N" (owned). */
char *cli_shard_dir_default(const struct cli_shard *sh, const char *deflt);
/* Before a shard writes into dir, with want = the manifest it will write (its
 * inputs and settings filled, no files yet). When dir holds the finished
 * part of this very shard (manifest and files as listed), says so and
 * returns -1: the caller prints nothing more and exits 0 (--force: runs
 * again). When dir holds another run's part, prints the error and returns 2
 * (--force: replaces it). Otherwise removes a stale manifest.json and
 * returns 0: the shard runs. */
int cli_shard_begin(const struct cli_common *c, const struct cli_shard *sh, const char *dir,
                    const struct shard_manifest *want, const char *command);
/* Writes m (files added by the caller) as dir/manifest.json, last, and
 * records its path (cli_wrote). 0, or the exit status after printing. */
int cli_shard_finish(struct shard_manifest *m, const char *dir);
/* The SHA-256 of a list of paths (each followed by a newline), as a manifest
 * input: every shard must be given the same list. */
void cli_shard_list_digest(char *const *paths, size_t n, char hex[65]);
struct dataset_skips;
/* A part's --on-error skip record, for a shard dealt `dealt` rows: s (its
 * rows are rows of the whole run, sorted: dataset_skips_sort) written as
 * dir/skipped.txt and dir/skipped_rows.npy (int64), both added to m with
 * m->skipped set, *txt the skipped.txt path (owned), the warning noted.
 * Unlike an unsharded run, a shard whose rows all failed is no error (other
 * shards may have read theirs): `interp merge` fails when none did. Nothing
 * (0, *txt NULL) with --on-error stop. 0, or the exit status after printing. */
int cli_shard_skips_finish(const struct cli_common *c, const struct dataset_skips *s,
                           size_t dealt, const char *dir, struct shard_manifest *m, char **txt);

/* ---- output framing shared by the commands (common.c) ---- */
struct plot_result;
struct outfile;

/* cli_out_dir for a command whose exit status tells an I/O failure (1) from
 * bad input (2): 0 with *dir set (owned, free it), or that status after
 * printing the error. */
int cli_out_dir_make(const struct cli_common *c, const char *deflt, char **dir);
/* After writing path with result rc: records path (cli_wrote) when rc is 0,
 * frees path and returns rc:
 *     char *p = path_join(dir, "a.csv");
 *     if (cli_wrote_result(p, write_csv(p, ...)) < 0) goto fail; */
int cli_wrote_result(char *path, int rc);
/* Records a figure's files (cli_wrote) and, when gnuplot did not make the
 * PNG, tells the user how to make it. */
void cli_plot_wrote(const struct cli_common *c, const struct plot_result *r);
/* --json on stdout: cli_json_begin opens the object with "command": NAME;
 * the command adds its members; cli_json_end adds "paths" and closes it. */
void cli_json_begin(struct json *j, const char *command);
void cli_json_end(struct json *j);
/* A JSON file holding one object: opens path atomically (core/outfile.h) and
 * begins the object (0, or outfile_open's error); the caller writes the
 * members into j; commit ends the object and moves the file into place. */
int cli_json_file_open(struct outfile *of, struct json *j, const char *path);
int cli_json_file_commit(struct outfile *of, struct json *j);
/* names[i], or i as a decimal in buf when there are no names or i is past them. */
const char *cli_class_name(char *const *names, size_t nnames, size_t i, char *buf, size_t len);
/* Writes s as one CSV field, quoted when it holds a comma, quote or newline. */
void cli_csv_field(FILE *fp, const char *s);

/* ---- the set-up the explanation commands share (explain.c) ---- */
struct cam;

/* From the command line to the first map, for gradcam, occlusion, saliency
 * and attribution:
 *
 *     struct explain_setup s = explain_setup_default(&c, "saliency", "jet");
 *     ... opts holds EXPLAIN_LONG_OPTIONS; getopt_long's default case:
 *         explain_option(&s, &c, &prep, ch, optarg, argv, opts) ...
 *     s.settings = cli_shard_options(argc, argv, opts, NULL);
 *     struct model *m = explain_model_load(&s, argc - optind, argv + optind, &status);
 *     if (!m) return status;
 *     ... the method's engine, with K classes ...
 *     if ((status = explain_open(&s, "saliency", NULL, score_used, K))) goto done;
 *     for each image i = s.run[t], t < s.nrun (or explain_run_batches):
 *         im = explain_image_load(&s, i, m, &prep, x, cam, &status);
 *         if (!im) { if (status) break; continue; }   // skipped (--on-error skip)
 *         explain_write(&s.out, ...) for each class of explain_class_list(s.spec, ...)
 *     if (status == EXIT_OK) status = explain_finish(&s);
 *   done:
 *     explain_setup_release(&s);
 */
struct explain_setup {
    const struct cli_common *c; /* -o, --json, --quiet */
    const char *command;        /* "gradcam", ...: the JSON's command; folder COMMAND-out */
    const char *class_arg;      /* --class (default "pred") */
    const char *classes_arg;    /* --classes (default none) */
    const char *cmap;           /* --colormap */
    double alpha;               /* --alpha (default 0.5) */
    const char *outputs_arg;    /* --outputs (default all) */
    struct dataset_skips skips; /* --on-error (cli_on_error_option) and the images
                                   it left out; freed by explain_setup_release */
    /* set by explain_model_load */
    const char *model_path;    /* MODEL */
    char **images;             /* IMG... (borrowed from argv) */
    int nimg;                  /* how many */
    const struct colormap *cm; /* --colormap, checked */
    /* set by explain_open; dir and names owned, freed by explain_setup_release */
    int spec;               /* EXPLAIN_PRED, EXPLAIN_ALL or a class index */
    char *dir;              /* the output folder */
    char **names;           /* --classes, or NULL */
    size_t nnames;          /* how many */
    struct explain_out out; /* what explain_write takes (borrows dir, names, j) */
    struct json j;          /* --json: the object on stdout */
    /* sharded runs: set by the command before explain_model_load */
    struct cli_shard shard; /* --shard K/N, --force */
    char *settings;         /* cli_shard_options() of the command line (owned) */
    /* set by the command before explain_open */
    int unit; /* images per dealt unit: the batch explain_run_batches runs (0: 1) */
    /* set by explain_open: the images to explain, as indices into images */
    int *run;                  /* all of them, or shard K's (owned) */
    int nrun;                  /* how many */
    int done;                  /* the shard was done already: nothing to do or print */
    struct shard_manifest *mf; /* --shard: the part's manifest (owned) */
};

/* The defaults: class pred, no class names, colour map cmap, alpha 0.5. */
struct explain_setup explain_setup_default(const struct cli_common *c, const char *command,
                                           const char *cmap);
/* args = MODEL IMG... (nargs of them): prints the usage when an image is
 * missing, checks --colormap, loads MODEL. Returns the model (owned,
 * model_free) with *status EXIT_OK, or NULL with *status the exit status
 * after printing (and s released). */
/* The options every explanation command takes besides its own
 * (EXPLAIN_LONG_OPTIONS), in its getopt loop's default case, then the
 * common ones (cli_common_option). */
void explain_option(struct explain_setup *s, struct cli_common *c, struct model_prep *prep,
                    int ch, const char *arg, char **argv, const struct option *opts);
struct model *explain_model_load(struct explain_setup *s, int nargs, char **args, int *status);
/* Between the engine and the first map: --classes and --class against
 * nclass classes, the output folder, s->out for explain_write (method names
 * the files), the images to run (s->run: with --shard K/N the list cut into
 * units of s->unit images, the batches an unsharded run computes, unit j to
 * shard j mod N (dataset_shard without labels), so that every batch, and
 * every map's bytes, are the unsharded run's; a part that is done already
 * says so and leaves s->nrun 0 with s->done set), and with --json the stdout
 * object opened through
 * "maps": [ (with "layer" when layer is not NULL). Map files keep the names
 * an unsharded run gives them (stems, or the index in the whole list), so
 * the parts' files together are that run's. 0, or the exit status after
 * printing. */
int explain_open(struct explain_setup *s, const char *method, const char *layer,
                 const char *score_used, int nclass);
/* Loads image i of s->images, fills x (one model input item) from it and,
 * with cam (may be NULL), runs cam's forward pass on x. Returns the image
 * (owned, image_free) with *status EXIT_OK. When that fails: with
 * --on-error skip the image is listed in s->skips and NULL returned with
 * *status EXIT_OK (go on with the next image); with stop the error, naming
 * the image, is printed and NULL returned with *status the exit status. */
struct image *explain_image_load(struct explain_setup *s, int i, const struct model *m,
                                 const struct model_prep *prep, float *x, struct cam *cam,
                                 int *status);
/* Finishes a command's output: with --on-error skip, skipped.txt in the
 * folder and the warning (cli_skips_finish); with --shard the part's
 * rows.npy (the images explained), skipped.txt and skipped_rows.npy (with
 * --on-error skip: cli_shard_skips_finish) and manifest.json (every other
 * file written is the part's own); the JSON object's "skipped_images" and
 * paths, or the path list; nothing when the shard was done already.
 * Returns EXIT_OK, or the exit status after printing (2 when no image could
 * be read, except in a shard). */
int explain_finish(struct explain_setup *s);
/* Frees what explain_open acquired; safe on a setup it never reached. */
void explain_setup_release(struct explain_setup *s);

/* Images in batches (gradcam, saliency): a loader thread decodes and
 * preprocesses the next batch and a writer thread writes the last one's
 * files (explain_write, in image order, progress per image) while fn
 * computes the current one on the calling thread:
 *
 *     struct explain_batches eb = {.batch = 32, .nout = 1, .fn = compute, .ctx = cam};
 *     status = explain_run_batches(&s, m, &prep, &eb);
 *
 * The batches are s->run's images, eb->batch at a time (with --shard, the
 * part's units: explain_open). fn gets b->n images (those that loaded:
 * b->img[i] is image i's index in the setup's list) in b->x and fills b->pred[i] and, for each class slot
 * k < nout and image i at j = k * b->n + i: b->cls[j] (-1: nothing
 * written), the maps b->lmap + j * lh * lw (when lh > 0) and
 * b->imap + j * ih * iw, and b->info[j]; it returns 0 or an exit status
 * after printing. An image that fails to load is left out with --on-error
 * skip (s->skips), else stops the run after the images before it are
 * written, with its error. Returns the exit status. */
struct explain_batch {
    int n;                 /* images that loaded */
    int *img;              /* n: their indices in the setup's list */
    int nout;              /* class slots per image */
    float *x;              /* n model inputs */
    struct image **im;     /* n decoded originals (NULL unless an overlay is written) */
    int *pred, *cls;       /* n; nout x n */
    float *lmap, *imap;    /* nout x n maps (lmap NULL without a layer map) */
    struct cam_info *info; /* nout x n */
    int err;               /* a load error: code, path, message */
    char *err_path, *err_msg;
};
struct explain_batches {
    int batch;              /* images per batch */
    int nout;               /* class slots per image: 1, or the classes for --class all */
    int lh, lw, ih, iw;     /* the layer map's size (lh 0: none) and the input's */
    const char *lname;      /* the layer's name, or NULL */
    const char *score_what; /* cam_score's description */
    int (*fn)(void *ctx, struct explain_batch *b);
    void *ctx;
};
int explain_run_batches(struct explain_setup *s, const struct model *m,
                        const struct model_prep *prep, const struct explain_batches *eb);

/* For fn: each image's predicted class (cam_pred_item after cam's batch
 * forward) into b->pred and its class slots (explain_class_list of spec)
 * into b->cls. 0. */
int explain_batch_classes(struct explain_batch *b, const struct cam *cam, int spec);
/* cam_new_batch for at most nimg images at a time: 32 for Grad-CAM
 * (CAM_LAYER_ONLY above the input), 8 for saliency, fewer when the run
 * would pass --max-memory; the batch used in *batch. NULL with the error. */
struct cam *explain_cam_new(const struct model *m, int layer, int flags, int nimg, int *batch);

#endif
