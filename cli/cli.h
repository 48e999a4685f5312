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
        {"help", no_argument, 0, 'h'}

/* The preprocessing options of every command that runs a model. */
#define PREP_LONG_OPTIONS                                                      \
    {"scale", required_argument, 0, OPT_PREP_SCALE},                           \
        {"mean", required_argument, 0, OPT_PREP_MEAN},                         \
        {"std", required_argument, 0, OPT_PREP_STD}

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
void cli_print_paths(void); /* text mode: one path per line on stdout */
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
};

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
 * lmap), input.npy, heatmap.png, overlay.png, json}; `extra` adds
 * method-specific JSON members. 0, or the exit status after printing. */
int explain_write(struct explain_out *o, const char *img_path, int img_index,
                  const struct image *orig, int cls, int pred, const float *lmap, int lh,
                  int lw, const char *lname, const float *imap, int ih, int iw, double vmin,
                  double vmax, const struct cam_info *info, const char *score_what,
                  void (*extra)(struct json *j, void *ctx), void *ctx);
/* The path explain_write gives a map's file with this suffix ("attr.npy"):
 * DIR/<stem>.<class>.<method>.SUFFIX (owned). */
char *explain_path(const struct explain_out *o, const char *img_path, int img_index, int cls,
                   const char *suffix);
/* Finishes a command's output: the JSON object's paths (or the path list). */
void explain_finish(struct explain_out *o);

/* ---- report (cmd_report.c) ---- */
int cmd_report(int argc, char **argv);

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

/* From the command line to the first map, for gradcam, occlusion and saliency:
 *
 *     struct explain_setup s = explain_setup_default(&c, "saliency", "jet");
 *     ... getopt_long sets s.class_arg, s.classes_arg, s.cmap, s.alpha ...
 *     struct model *m = explain_model_load(&s, argc - optind, argv + optind, &status);
 *     if (!m) return status;
 *     ... the method's engine, with K classes ...
 *     if ((status = explain_open(&s, "saliency", NULL, score_used, K))) goto done;
 *     for each image i: im = explain_image_load(m, &prep, s.images[i], x, cam), then
 *         explain_write(&s.out, ...) for each class of explain_class_list(s.spec, ...)
 *     if (status == EXIT_OK) explain_finish(&s.out);
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
};

/* The defaults: class pred, no class names, colour map cmap, alpha 0.5. */
struct explain_setup explain_setup_default(const struct cli_common *c, const char *command,
                                           const char *cmap);
/* args = MODEL IMG... (nargs of them): prints the usage when an image is
 * missing, checks --colormap, loads MODEL. Returns the model (owned,
 * model_free) with *status EXIT_OK, or NULL with *status the exit status
 * after printing. */
struct model *explain_model_load(struct explain_setup *s, int nargs, char **args, int *status);
/* Between the engine and the first map: --classes and --class against
 * nclass classes, the output folder, s->out for explain_write (method names
 * the files), and with --json the stdout object opened through "maps": [
 * (with "layer" when layer is not NULL). 0, or the exit status after printing. */
int explain_open(struct explain_setup *s, const char *method, const char *layer,
                 const char *score_used, int nclass);
/* Loads the image at path, fills x (one model input item) from it and, with
 * cam (may be NULL), runs cam's forward pass on x. Returns the image (owned,
 * image_free) or NULL with the error recorded, naming path. */
struct image *explain_image_load(const struct model *m, const struct model_prep *prep,
                                 const char *path, float *x, struct cam *cam);
/* Frees what explain_open acquired; safe on a setup it never reached. */
void explain_setup_release(struct explain_setup *s);

#endif
