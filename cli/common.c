/* common.c - what every subcommand shares: the shared options, the error
 * exits, the list of written paths, and the final check of stdout.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/image.h"
#include "../core/model.h"
#include "../core/namelist.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "../plots/plot.h"
#include "cli.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void openblas_set_num_threads(int num_threads); /* from OpenBLAS */

void cli_progress_init(struct progress *p, int quiet); /* progress_term.c */

struct cli_common cli_common_default(const char *usage)
{
    struct cli_common c = {0};
    c.usage = usage;
    c.seed = 42;
    opterr = 0; /* getopt's own messages replaced by bad_option's */
    cli_progress_init(&c.progress, 0);
    return c;
}

size_t cli_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = xcalloc(lb + 1, sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

int cli_unknown_name(const char *opt, const char *what, const char *typed,
                     const char *const *names, int n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    char list[512] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        size_t d = cli_edit_distance(typed, names[i]);
        if (d < best_d) best_d = d, best = names[i];
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
                                i ? ", " : "", names[i]);
    }
    size_t lim = strlen(typed) / 3 + 1;
    if (best && best_d <= (lim < 3 ? lim : 3))
        return cli_usage_error(NULL, "%s: unknown %s '%s'; did you mean '%s'? (known: %s)", opt,
                               what, typed, best, list);
    return cli_usage_error(NULL, "%s: unknown %s '%s' (known: %s)", opt, what, typed, list);
}

/* The option as the user typed it: "--perplx" from "--perplx=3". */
static char *typed_option(char **argv)
{
    const char *arg = argv[optind - 1];
    if (!arg) return xstrdup("?");
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    char *s = xmalloc(n + 1);
    memcpy(s, arg, n);
    s[n] = 0;
    return s;
}

static _Noreturn void bad_option(char **argv, const struct option *opts, int missing_arg)
{
    const char *cmd = argv[0];
    char *typed = typed_option(argv);
    /* getopt_long reports a long option missing its value as '?' too. */
    for (const struct option *o = opts; !missing_arg && o && o->name; o++)
        missing_arg = typed[0] == '-' && typed[1] == '-' && !strcmp(typed + 2, o->name) &&
                      o->has_arg == required_argument;
    if (missing_arg) {
        fprintf(stderr, "interp %s: option '%s' needs a value\n", cmd, typed);
    } else if (typed[0] == '-' && typed[1] == '-') {
        const char *best = NULL;
        size_t best_d = (size_t)-1;
        for (const struct option *o = opts; o && o->name; o++) {
            if (o->val == OPT_LIST_OPTIONS) continue; /* hidden */
            size_t d = cli_edit_distance(typed + 2, o->name);
            if (d < best_d) best_d = d, best = o->name;
        }
        if (best && best_d <= 3)
            fprintf(stderr, "interp %s: unknown option '%s'; did you mean '--%s'?\n", cmd,
                    typed, best);
        else
            fprintf(stderr, "interp %s: unknown option '%s'; see 'interp %s --help'\n", cmd,
                    typed, cmd);
    } else {
        fprintf(stderr, "interp %s: unknown option '-%c'; see 'interp %s --help'\n", cmd,
                optopt ? optopt : '?', cmd);
    }
    free(typed);
    exit(EXIT_USAGE);
}

/* A limit's value: a positive number with an optional K, M, G or T suffix
 * (powers of `unit`: 1024 for bytes, 1000 for counts), e.g. "512M", "2.5G",
 * "1e9". Prints and exits 2 on a bad value. */
static uint64_t parse_amount(const char *opt, const char *arg, double unit)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    int ok = !errno && end != arg && isfinite(v) && v > 0;
    const char *suffix = ok && *end ? strchr("KMGT", toupper((unsigned char)*end)) : NULL;
    if (suffix) {
        for (const char *q = "KMGT"; q <= suffix; q++)
            v *= unit;
        end++;
    }
    if (unit == 1024 && !strcmp(end, "iB")) end += 2;
    if (unit == 1024 && !strcmp(end, "B")) end += 1;
    if (!ok || *end) {
        fprintf(stderr, "interp: %s: '%s' is not a positive amount (e.g. %s)\n", opt, arg,
                unit == 1024 ? "512M, 8G" : "1e8, 250M");
        exit(EXIT_USAGE);
    }
    if (v < 1 || v > 1.8e19) {
        fprintf(stderr, "interp: %s: '%s' is outside 1..1.8e19\n", opt, arg);
        exit(EXIT_USAGE);
    }
    return (uint64_t)v;
}

static void set_threads(int n)
{
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#endif
    if (n > 0) openblas_set_num_threads(n);
}

int cli_common_option(struct cli_common *c, int ch, const char *arg, char **argv,
                      const struct option *opts)
{
    switch (ch) {
    case 'o': c->out = arg; return 1;
    case OPT_JSON: c->json = 1; return 1;
    case OPT_QUIET:
        c->quiet = 1;
        cli_progress_init(&c->progress, 1);
        return 1;
    case OPT_THREADS:
        c->threads = (int)cli_parse_long("--threads", arg, 1, 1024);
        set_threads(c->threads);
        return 1;
    case OPT_SEED: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(arg, &end, 10);
        if (errno || end == arg || *end || arg[0] == '-') {
            fprintf(stderr, "interp: --seed: '%s' is not a non-negative integer\n", arg);
            exit(EXIT_USAGE);
        }
        c->seed = v, c->seed_set = 1;
        return 1;
    }
    case OPT_MAX_PIXELS:
        limits_get()->max_pixels = parse_amount("--max-pixels", arg, 1000);
        return 1;
    case OPT_MAX_ELEMENTS:
        limits_get()->max_elements = parse_amount("--max-elements", arg, 1000);
        return 1;
    case OPT_MAX_MEMORY:
        limits_get()->max_bytes = parse_amount("--max-memory", arg, 1024);
        return 1;
    case OPT_MAX_MODEL_SIZE:
        limits_get()->max_model_bytes = parse_amount("--max-model-size", arg, 1024);
        return 1;
    case OPT_MAX_NODES:
        limits_get()->max_nodes = parse_amount("--max-nodes", arg, 1000);
        return 1;
    case OPT_EXIF_ORIENTATION: image_opts_get()->exif_orientation = 1; return 1;
    case OPT_LIST_OPTIONS:
        /* the command's option table, for scripts/completion.sh: one long
         * option per line, "=" after one that takes a value */
        for (const struct option *o = opts; o && o->name; o++)
            if (o->val != OPT_LIST_OPTIONS)
                printf("--%s%s\n", o->name, o->has_arg == required_argument ? "=" : "");
        exit(cli_finish(EXIT_OK));
    case 'h':
        fputs(c->usage, stdout);
        exit(cli_finish(EXIT_OK));
    case ':': bad_option(argv, opts, 1);
    case '?': bad_option(argv, opts, optopt && strchr(COMMON_SHORT_OPTIONS, optopt) != NULL);
    }
    fprintf(stderr, "interp %s: unhandled option\n", argv[0]);
    exit(EXIT_USAGE);
}

int cli_on_error_option(struct dataset_skips *s, int ch, const char *arg)
{
    if (ch != OPT_ON_ERROR) return 0;
    if (dataset_on_error_parse(arg, &s->policy)) exit(cli_fail());
    return 1;
}

int cli_skips_finish(const struct cli_common *c, const struct dataset_skips *s, size_t total,
                     const char *dir, const char *from, char **txt)
{
    *txt = NULL;
    if (s->policy != DATASET_SKIP) return EXIT_OK;
    char *p = path_join(dir, "skipped.txt");
    if (dataset_skips_write(s, p)) {
        free(p);
        return cli_fail();
    }
    cli_wrote(p);
    *txt = p;
    if (dataset_skips_all(s, total, from)) return cli_fail();
    if (s->n)
        cli_note(c,
                 "warning: skipped %zu of %zu images that could not be read (listed with the "
                 "reasons in %s)",
                 s->n, total, p);
    return EXIT_OK;
}

void cli_json_skips(struct json *j, const struct dataset_skips *s, const char *txt)
{
    if (s->policy != DATASET_SKIP) return;
    json_key(j, "skipped_images");
    json_array_begin(j);
    for (size_t i = 0; i < s->n; i++) {
        json_object_begin(j);
        json_key(j, "file");
        json_string(j, s->files[i]);
        json_key(j, "reason");
        json_string(j, s->reasons[i]);
        json_object_end(j);
    }
    json_array_end(j);
    json_key(j, "skipped_txt");
    json_string(j, txt);
}

int cli_prep_option(struct model_prep *p, int ch, const char *arg)
{
    switch (ch) {
    case OPT_PREP_SCALE: p->scale = cli_parse_double("--scale", arg, -1e9, 1e9); return 1;
    case OPT_PREP_MEAN:
        if (model_prep_parse_list(arg, p->mean, &p->nmean, "--mean")) exit(cli_fail());
        return 1;
    case OPT_PREP_STD:
        if (model_prep_parse_list(arg, p->std, &p->nstd, "--std")) exit(cli_fail());
        for (int i = 0; i < p->nstd; i++)
            if (p->std[i] == 0.0f) exit(cli_usage_error(NULL, "--std: 0 is not allowed"));
        return 1;
    }
    return 0;
}

int cli_fail(void)
{
    const char *path = error_path();
    const char *msg = *error_message() ? error_message() : "failed";
    if (path) fprintf(stderr, "interp: %s: %s\n", path, msg);
    else fprintf(stderr, "interp: %s\n", msg);
    return error_code() == ERR_INPUT ? EXIT_USAGE : EXIT_FAILURE_;
}

int cli_usage_error(const char *path, const char *fmt, ...)
{
    va_list ap;
    fputs("interp: ", stderr);
    if (path) fprintf(stderr, "%s: ", path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

void cli_note(const struct cli_common *c, const char *fmt, ...)
{
    if (c && c->quiet) return;
    va_list ap;
    fputs("interp: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

long cli_parse_long(const char *opt, const char *arg, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end) {
        fprintf(stderr, "interp: %s: '%s' is not an integer\n", opt, arg);
        exit(EXIT_USAGE);
    }
    if (v < min || v > max) {
        fprintf(stderr, "interp: %s: %ld is outside %ld..%ld\n", opt, v, min, max);
        exit(EXIT_USAGE);
    }
    return v;
}

double cli_parse_double(const char *opt, const char *arg, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(v)) {
        fprintf(stderr, "interp: %s: '%s' is not a number\n", opt, arg);
        exit(EXIT_USAGE);
    }
    if (v < min || v > max) {
        fprintf(stderr, "interp: %s: %g is outside %g..%g\n", opt, v, min, max);
        exit(EXIT_USAGE);
    }
    return v;
}

char *cli_out_dir(const struct cli_common *c, const char *deflt)
{
    const char *dir = c->out ? c->out : deflt;
    if (dir_ensure(dir) < 0) {
        cli_fail();
        return NULL;
    }
    return xstrdup(dir);
}

/* ---- the paths a command wrote ----------------------------------------- */

static char **wrote;
static size_t n_wrote, cap_wrote;

void cli_wrote(const char *path)
{
    if (n_wrote == cap_wrote) {
        cap_wrote = cap_wrote ? 2 * cap_wrote : 16;
        wrote = xrealloc(wrote, cap_wrote * sizeof *wrote);
    }
    wrote[n_wrote++] = xstrdup(path);
}

size_t cli_wrote_count(void) { return n_wrote; }
const char *cli_wrote_path(size_t i) { return i < n_wrote ? wrote[i] : NULL; }

void cli_print_paths(void)
{
    /* quoted as the list files are (core/namelist.h): one line per path */
    for (size_t i = 0; i < n_wrote; i++) {
        namelist_put(stdout, wrote[i]);
        putchar('\n');
    }
}

void cli_json_paths(struct json *j)
{
    json_key(j, "paths");
    json_array_begin(j);
    for (size_t i = 0; i < n_wrote; i++) json_string(j, wrote[i]);
    json_array_end(j);
}

int cli_finish(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE) fprintf(stderr, "interp: error writing to standard output: %s\n",
                                    strerror(errno));
        return status ? status : EXIT_FAILURE_;
    }
    return status;
}

/* ---- output framing ---------------------------------------------------- */

int cli_out_dir_make(const struct cli_common *c, const char *deflt, char **dir)
{
    if ((*dir = cli_out_dir(c, deflt))) return EXIT_OK;
    return error_code() == ERR_FAIL ? EXIT_FAILURE_ : EXIT_USAGE;
}

int cli_wrote_result(char *path, int rc)
{
    if (rc == 0) cli_wrote(path);
    free(path);
    return rc;
}

void cli_plot_wrote(const struct cli_common *c, const struct plot_result *r)
{
    if (r->script) cli_wrote(r->script);
    if (r->data) cli_wrote(r->data);
    if (r->png) cli_wrote(r->png);
    if (!r->rendered)
        cli_note(c, "gnuplot %s: wrote %s; run `gnuplot %s` to make the PNG",
                 plot_gnuplot_available() ? "failed" : "not found", r->script, r->script);
}

void cli_json_begin(struct json *j, const char *command)
{
    json_init(j, stdout);
    json_object_begin(j);
    json_key(j, "command");
    json_string(j, command);
}

void cli_json_end(struct json *j)
{
    cli_json_paths(j);
    json_object_end(j);
    json_finish(j);
}

int cli_json_file_open(struct outfile *of, struct json *j, const char *path)
{
    int rc = outfile_open(of, path);
    if (rc < 0) return rc;
    json_init(j, of->fp);
    json_object_begin(j);
    return 0;
}

int cli_json_file_commit(struct outfile *of, struct json *j)
{
    json_object_end(j);
    json_finish(j);
    return outfile_commit(of);
}

const char *cli_class_name(char *const *names, size_t nnames, size_t i, char *buf, size_t len)
{
    if (names && i < nnames) return names[i];
    snprintf(buf, len, "%zu", i);
    return buf;
}

void cli_csv_field(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}
