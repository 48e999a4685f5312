/* gnuplot.c - figures as a gnuplot script plus its data file, rendered to PNG
 * by running gnuplot (pngcairo) when it is installed. The scripts stand on
 * their own: `cd DIR && gnuplot NAME.gp` remakes NAME.png. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "colormap.h"
#include "plot.h"

extern char **environ;

/* ---- palettes --------------------------------------------------------------
 * Categorical colours: Tableau 20 (Tableau Software's "Tableau 20", as
 * matplotlib ships it in tab10/tab20), its ten saturated colours first (that
 * is Tableau 10 / matplotlib's tab10), then their ten light companions. Class
 * k gets colour k % 20 and marker shape k / 10, so every (colour, shape) pair
 * is unique up to 20 x 6 = 120 classes; 10 classes or fewer are all filled
 * circles in the Tableau 10 colours, as a reader expects. */
static const char *const tab20[20] = {"1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd",
                                      "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf",
                                      "aec7e8", "ffbb78", "98df8a", "ff9896", "c5b0d5",
                                      "c49c94", "f7b6d2", "c7c7c7", "dbdb8d", "9edae5"};
/* gnuplot pointtypes under pngcairo: filled circle, triangle up, square,
 * triangle down, diamond, pentagon. */
static const int point_types[6] = {7, 9, 5, 11, 13, 15};

/* Sequential palette for matrices: ColorBrewer "Blues", 9 classes (C. Brewer,
 * colorbrewer2.org, Apache-2.0): white for 0, dark blue for the maximum, so a
 * sparse confusion matrix reads as its diagonal and a few off-diagonal cells. */
static const char *const blues9[9] = {"f7fbff", "deebf7", "c6dbef", "9ecae1", "6baed6",
                                      "4292c6", "2171b5", "08519c", "08306b"};

/* ---- gnuplot discovery ------------------------------------------------------ */

static char *gnuplot_prog;      /* NULL = "gnuplot" from PATH, "" = disabled */
static int gnuplot_cached = -1; /* -1 unknown, 0 missing, 1 found */
static pthread_mutex_t gnuplot_lock = PTHREAD_MUTEX_INITIALIZER;

static int find_on_path(const char *prog)
{
    if (!*prog) return 0;
    if (strchr(prog, '/')) return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = xstrdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", *d ? d : ".", prog);
        struct stat st;
        found = stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

int plot_gnuplot_available(void)
{
    pthread_mutex_lock(&gnuplot_lock);
    if (gnuplot_cached < 0)
        gnuplot_cached = find_on_path(gnuplot_prog ? gnuplot_prog : "gnuplot");
    int r = gnuplot_cached;
    pthread_mutex_unlock(&gnuplot_lock);
    return r;
}

void plot_set_gnuplot(const char *prog)
{
    pthread_mutex_lock(&gnuplot_lock);
    free(gnuplot_prog);
    gnuplot_prog = prog ? xstrdup(prog) : NULL;
    gnuplot_cached = -1;
    pthread_mutex_unlock(&gnuplot_lock);
}

void plot_result_release(struct plot_result *r)
{
    if (!r) return;
    free(r->script);
    free(r->data);
    free(r->png);
    memset(r, 0, sizeof *r);
}

/* ---- strings for gnuplot ------------------------------------------------------
 * Every text goes into single quotes, where gnuplot processes no backslash
 * escapes and the only special character is the quote itself (doubled). The
 * terminal is `noenhanced`, so '_' and '^' are literal. Control characters
 * (a newline would end the command) become spaces. */
static void gp_quote(FILE *fp, const char *s)
{
    fputc('\'', fp);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '\'')
            fputs("''", fp);
        else if (*p < 32 || *p == 127)
            fputc(' ', fp);
        else
            fputc(*p, fp);
    }
    fputc('\'', fp);
}

/* A name in a data-file comment: one line, nothing more. */
static void comment_text(FILE *fp, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        fputc(*p < 32 || *p == 127 ? ' ' : *p, fp);
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        if (!(*p >= 0x80 && *p < 0xC0)) n++;
    return n;
}

static char *strndup_x(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---- the files of one figure ---------------------------------------------------- */

struct figure {
    char *script, *data, *png; /* full paths */
    char *folder;              /* where the script runs */
    char *data_base;           /* data file name relative to folder */
    char *png_base;
    struct outfile gp, dat;
};

static void figure_release(struct figure *f)
{
    outfile_abort(&f->gp);
    outfile_abort(&f->dat);
    free(f->script);
    free(f->data);
    free(f->png);
    free(f->folder);
    free(f->data_base);
    free(f->png_base);
    memset(f, 0, sizeof *f);
}

static int figure_open(struct figure *f, const char *dir, const char *name,
                       struct plot_result *r)
{
    memset(f, 0, sizeof *f);
    if (r) memset(r, 0, sizeof *r);
    if (!dir || !*dir) dir = ".";
    if (!name || !*name) return error_set(ERR_INPUT, dir, "a figure needs a name");
    if (dir_ensure(dir) < 0) return error_code();
    char *stem = path_join(dir, name);
    f->script = xasprintf("%s.gp", stem);
    f->data = xasprintf("%s.dat", stem);
    f->png = xasprintf("%s.png", stem);
    const char *slash = strrchr(stem, '/');
    f->folder = slash ? strndup_x(stem, (size_t)(slash - stem)) : xstrdup(".");
    if (!*f->folder) {
        free(f->folder);
        f->folder = xstrdup("/");
    }
    const char *base = slash ? slash + 1 : stem;
    f->data_base = xasprintf("%s.dat", base);
    f->png_base = xasprintf("%s.png", base);
    free(stem);
    if (outfile_open(&f->gp, f->script) < 0 || outfile_open(&f->dat, f->data) < 0) {
        int code = error_code();
        figure_release(f);
        return code ? code : ERR_FAIL;
    }
    return 0;
}

/* Script preamble shared by every figure: the output name can be overridden
 * with -e "outfile='x.png'" (interp renders to a temporary, then renames). */
static void script_begin(FILE *fp, const struct figure *f, int w, int h, int fontsize)
{
    fputs("# Written by interp. Remake the figure with: gnuplot ", fp);
    comment_text(fp, strrchr(f->script, '/') ? strrchr(f->script, '/') + 1 : f->script);
    fputs("\n", fp);
    fputs("if (!exists('outfile')) outfile = ", fp);
    gp_quote(fp, f->png_base);
    fputs("\n", fp);
    fputs("datafile = ", fp);
    gp_quote(fp, f->data_base);
    fputs("\n", fp);
    fprintf(fp, "set terminal pngcairo size %d,%d noenhanced font 'Sans,%d'\n", w, h, fontsize);
    fputs("set output outfile\nset encoding utf8\nset datafile missing 'NaN'\n", fp);
}

static void set_text(FILE *fp, const char *what, const char *text)
{
    if (!text || !*text) return;
    fprintf(fp, "set %s ", what);
    gp_quote(fp, text);
    fputs("\n", fp);
}

/* Runs gnuplot on the committed script, into a temporary PNG beside the
 * final one, renamed when gnuplot succeeded. Returns 1 rendered, 0 gnuplot
 * missing, negative on error (gnuplot failed: its first error line). */
static int figure_render(struct figure *f)
{
    if (!plot_gnuplot_available()) return 0;
    struct outfile png;
    if (outfile_open(&png, f->png) < 0) return error_code();
    const char *tmp_base = strrchr(png.tmp, '/') ? strrchr(png.tmp, '/') + 1 : png.tmp;

    /* -e "outfile='...'" : the temporary's name, quoted for gnuplot */
    char *assign = NULL;
    size_t alen = 0;
    FILE *mem = open_memstream(&assign, &alen);
    fputs("outfile=", mem);
    gp_quote(mem, tmp_base);
    fclose(mem);
    const char *script_base = strrchr(f->script, '/') ? strrchr(f->script, '/') + 1 : f->script;

    pthread_mutex_lock(&gnuplot_lock);
    char *prog = xstrdup(gnuplot_prog ? gnuplot_prog : "gnuplot");
    pthread_mutex_unlock(&gnuplot_lock);
    char *argv[] = {prog, "-d", "-e", assign, (char *)script_base, NULL};

    int rc = ERR_FAIL, pipefd[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (pipe(pipefd) != 0) {
        error_set_errno(ERR_FAIL, f->png, "cannot run gnuplot");
        goto out;
    }
    /* the library must not print: gnuplot's stdout goes nowhere, its stderr
     * into our pipe (read for the error message) */
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    posix_spawn_file_actions_addclose(&fa, pipefd[1]);
    posix_spawn_file_actions_addchdir_np(&fa, f->folder);
    pid_t pid;
    int err = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    close(pipefd[1]);
    pipefd[1] = -1;
    if (err) {
        errno = err;
        error_set_errno(ERR_FAIL, f->png, "cannot run %s", prog);
        goto out;
    }
    char buf[4096];
    size_t used = 0;
    for (;;) {
        char chunk[1024];
        ssize_t n = read(pipefd[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t take = (size_t)n < sizeof buf - 1 - used ? (size_t)n : sizeof buf - 1 - used;
        memcpy(buf + used, chunk, take); /* keep the start, drain the rest */
        used += take;
    }
    buf[used] = 0;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    struct stat st;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(png.tmp, &st) != 0 ||
        st.st_size == 0) {
        /* the line naming the script and line number, else the first one */
        char *line = NULL;
        for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n")) {
            if (!line && strspn(p, " \t^") < strlen(p)) line = p;
            if (strstr(p, "line ") && strchr(p, ':')) {
                line = p;
                break;
            }
        }
        if (WIFSIGNALED(status))
            error_set(ERR_FAIL, f->script, "gnuplot was killed by signal %d", WTERMSIG(status));
        else
            error_set(ERR_FAIL, f->script, "gnuplot failed: %s",
                      line ? line : "no PNG written");
        goto out;
    }
    rc = outfile_commit(&png) < 0 ? error_code() : 1;
out:
    if (rc != 1) outfile_abort(&png);
    if (pipefd[0] >= 0) close(pipefd[0]);
    if (pipefd[1] >= 0) close(pipefd[1]);
    posix_spawn_file_actions_destroy(&fa);
    free(assign);
    free(prog);
    return rc;
}

/* Commits the script and data, renders, fills r. */
static int figure_finish(struct figure *f, struct plot_result *r)
{
    int rc = outfile_commit(&f->dat);
    if (rc < 0) goto fail;
    rc = outfile_commit(&f->gp);
    if (rc < 0) goto fail;
    rc = figure_render(f);
    if (rc < 0) goto fail;
    if (r) {
        r->script = f->script;
        r->data = f->data;
        r->rendered = rc == 1;
        if (rc == 1)
            r->png = f->png;
        else
            free(f->png);
        f->script = f->data = f->png = NULL;
    }
    figure_release(f);
    return 0;
fail:
    rc = error_code() ? error_code() : ERR_FAIL;
    figure_release(f);
    return rc;
}

/* ---- scatter ---------------------------------------------------------------- */

int plot_scatter(const char *dir, const char *name, const struct scatter *s,
                 struct plot_result *r)
{
    if (!s || (!s->x && s->n) || (!s->y && s->n))
        return error_set(ERR_INPUT, name, "scatter plot without data");
    size_t nc = s->labels ? s->nclasses : 1;
    if (s->labels && nc == 0)
        return error_set(ERR_INPUT, name, "scatter plot with labels but no classes");
    if (nc > 100000) return error_set(ERR_INPUT, name, "too many classes (%zu)", nc);
    if (s->labels)
        for (size_t i = 0; i < s->n; i++)
            if (s->labels[i] < 0 || (size_t)s->labels[i] >= nc)
                return error_set(ERR_INPUT, name,
                                 "label %d of point %zu is outside the %zu classes",
                                 (int)s->labels[i], i, nc);

    /* points grouped by class: count, then offsets (counting sort) */
    size_t *count = xcalloc(nc + 1, sizeof *count);
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue; /* not drawable */
        count[s->labels ? (size_t)s->labels[i] : 0]++;
    }
    size_t used = 0, drawn = 0, maxname = 0;
    for (size_t c = 0; c < nc; c++) {
        if (!count[c]) continue;
        used++;
        drawn += count[c];
        size_t l = s->class_names && s->class_names[c]
                       ? utf8_len(s->class_names[c])
                       : (size_t)snprintf(NULL, 0, "class %zu", c);
        if (l > maxname) maxname = l;
    }
    if (maxname > 48) maxname = 48;

    /* legend in columns of at most 24 entries, outside on the right */
    int show_key = s->labels && used > 0;
    size_t ncols = show_key ? (used + 23) / 24 : 0;
    size_t maxrows = ncols ? (used + ncols - 1) / ncols : 0;
    int key_w = (int)(ncols * (maxname * 6.3 + 40));
    int W = s->width > 0 ? s->width : 820 + key_w;
    int H = s->height > 0 ? s->height : 700;
    /* small, semi-transparent points once there are many (overplotting);
     * gnuplot's #AARRGGBB: AA = transparency */
    double ps = drawn <= 2000 ? 0.8 : drawn <= 20000 ? 0.5 : 0.35;
    int transp = drawn <= 2000 ? 0x20 : drawn <= 20000 ? 0x60 : 0x90;

    struct figure f;
    if (figure_open(&f, dir, name, r) < 0) {
        free(count);
        return error_code();
    }
    FILE *dp = f.dat.fp, *gp = f.gp.fp;
    fprintf(dp, "# x y, one block per class (gnuplot 'index' = block number)\n");
    size_t block = 0;
    for (size_t c = 0; c < nc; c++) {
        if (!count[c]) continue;
        if (block++) fputs("\n\n", dp);
        fprintf(dp, "# class %zu: ", c);
        if (s->class_names && s->class_names[c])
            comment_text(dp, s->class_names[c]);
        else
            fprintf(dp, "class %zu", c);
        fprintf(dp, " (%zu points)\n", count[c]);
        /* one pass over all points per class would be O(n * classes); with
         * 47 classes and 10^5 points that is still only ~5e6 checks */
        for (size_t i = 0; i < s->n; i++) {
            if (s->labels && (size_t)s->labels[i] != c) continue;
            if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
            fprintf(dp, "%.7g %.7g\n", s->x[i], s->y[i]);
        }
    }

    script_begin(gp, &f, W, H, 11);
    set_text(gp, "title", s->title);
    set_text(gp, "xlabel", s->xlabel);
    set_text(gp, "ylabel", s->ylabel);
    fputs("set border lw 1\nset tics out nomirror\nset grid lc rgb '#e5e5e5' lw 1\n", gp);
    if (show_key)
        fprintf(gp,
                "set key outside right top vertical Left reverse noautotitle samplen 0.6 "
                "spacing 1.05 width 1 font ',10' maxrows %zu\n",
                maxrows);
    else
        fputs("unset key\n", gp);
    if (!used) {
        /* nothing drawable: still a valid figure with empty axes */
        fputs("set xrange [-1:1]\nset yrange [-1:1]\nplot NaN notitle\n", gp);
    } else {
        fputs("plot \\\n", gp);
        block = 0;
        size_t last = 0;
        for (size_t c = 0; c < nc; c++)
            if (count[c]) last = c;
        for (size_t c = 0; c < nc; c++) {
            if (!count[c]) continue; /* no points, no block, no key entry */
            const char *col = tab20[c % 20];
            int pt = nc <= 10 ? point_types[0] : point_types[(c / 10) % 6];
            fprintf(gp,
                    "  datafile index %zu using 1:2 with points pt %d ps %.2f lc rgb '#%02x%s'",
                    block++, pt, ps, transp, col);
            if (show_key) {
                /* the key gets its own opaque, larger sample */
                fprintf(gp, ", \\\n  keyentry with points pt %d ps 1.3 lc rgb '#%s' title ", pt,
                        col);
                if (s->class_names && s->class_names[c]) {
                    gp_quote(gp, s->class_names[c]);
                } else {
                    char tmp[40];
                    snprintf(tmp, sizeof tmp, "class %zu", c);
                    gp_quote(gp, tmp);
                }
            }
            fputs(c == last ? "\n" : ", \\\n", gp);
        }
    }
    free(count);
    return figure_finish(&f, r);
}

/* ---- lines (and bars) ------------------------------------------------------------ */

int plot_lines(const char *dir, const char *name, const struct line_plot *p,
               struct plot_result *r)
{
    if (!p || !p->nseries || !p->y || (p->n && !p->x))
        return error_set(ERR_INPUT, name, "line plot without data");
    for (size_t k = 0; k < p->nseries; k++)
        if (!p->y[k] && p->n)
            return error_set(ERR_INPUT, name, "line plot series %zu is NULL", k);
    int W = p->width > 0 ? p->width : 900, H = p->height > 0 ? p->height : 600;
    int nonneg = 1;
    for (size_t k = 0; k < p->nseries; k++)
        for (size_t i = 0; i < p->n; i++)
            if (p->y[k][i] < 0) nonneg = 0;

    struct figure f;
    if (figure_open(&f, dir, name, r) < 0) return error_code();
    FILE *dp = f.dat.fp, *gp = f.gp.fp;
    fputs("# x", dp);
    for (size_t k = 0; k < p->nseries; k++) {
        fputs(" | ", dp);
        if (p->series_names && p->series_names[k])
            comment_text(dp, p->series_names[k]);
        else
            fprintf(dp, "series %zu", k + 1);
    }
    fputs("\n", dp);
    for (size_t i = 0; i < p->n; i++) {
        fprintf(dp, "%.10g", p->x[i]);
        for (size_t k = 0; k < p->nseries; k++) {
            double v = p->y[k][i];
            /* non-positive values have no place on a log axis */
            if (!isfinite(v) || (p->logy && v <= 0))
                fputs(" NaN", dp);
            else
                fprintf(dp, " %.10g", v);
        }
        fputs("\n", dp);
    }

    script_begin(gp, &f, W, H, 11);
    set_text(gp, "title", p->title);
    set_text(gp, "xlabel", p->xlabel);
    set_text(gp, "ylabel", p->ylabel);
    fputs("set border lw 1\nset tics out nomirror\nset grid ytics lc rgb '#e5e5e5' lw 1\n", gp);
    int named = p->series_names != NULL;
    if (named)
        fputs("set key below horizontal Left reverse samplen 2 spacing 1.2\n", gp);
    else
        fputs("unset key\n", gp);
    if (p->logy) {
        fputs("set logscale y\nset format y '%g'\nset mytics 10\n", gp);
        /* under two decades gnuplot labels only the powers of ten (one or
         * two labels): label 1-2-5 steps instead */
        double lo = INFINITY, hi = -INFINITY;
        for (size_t k = 0; k < p->nseries; k++)
            for (size_t i = 0; i < p->n; i++) {
                double v = p->y[k][i];
                if (isfinite(v) && v > 0) {
                    if (v < lo) lo = v;
                    if (v > hi) hi = v;
                }
            }
        if (lo <= hi && hi / lo < 100) {
            double d = pow(10, floor(log10(lo)));
            const int steps[3] = {1, 2, 5};
            int first = 1;
            fputs("set ytics (", gp);
            for (int e = 0; e < 4; e++, d *= 10)
                for (int k = 0; k < 3; k++) {
                    double t = steps[k] * d;
                    if (t < lo / 1.5 || t > hi * 1.5) continue;
                    fprintf(gp, "%s%.6g", first ? "" : ", ", t);
                    first = 0;
                }
            fputs(")\n", gp);
        }
    } else if (nonneg)
        fputs("set yrange [0:*]\n", gp);
    if (p->with_bars) {
        /* integer x (components): bars centred on each, ticks on integers */
        fputs("set boxwidth 0.7 relative\nset style fill solid 0.75 border lc rgb '#1f4e79'\n",
              gp);
        double xlo = INFINITY, xhi = -INFINITY;
        for (size_t i = 0; i < p->n; i++)
            if (isfinite(p->x[i])) {
                if (p->x[i] < xlo) xlo = p->x[i];
                if (p->x[i] > xhi) xhi = p->x[i];
            }
        if (xlo <= xhi) fprintf(gp, "set xrange [%.10g:%.10g]\n", xlo - 0.6, xhi + 0.6);
        if (p->n && p->n <= 30) fputs("set xtics 1\n", gp);
    }
    fputs("plot \\\n", gp);
    for (size_t k = 0; k < p->nseries; k++) {
        const char *col = tab20[k % 10];
        if (k == 0 && p->with_bars)
            fprintf(gp, "  datafile using 1:%zu with boxes lc rgb '#%s'", k + 2, col);
        else
            fprintf(gp, "  datafile using 1:%zu with linespoints lw 2 pt 7 ps %s lc rgb '#%s'",
                    k + 2, p->n > 60 ? "0" : "0.7", col);
        fputs(" title ", gp);
        if (named && p->series_names[k])
            gp_quote(gp, p->series_names[k]);
        else if (named) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "series %zu", k + 1);
            gp_quote(gp, tmp);
        } else
            fputs("''", gp);
        fputs(k + 1 < p->nseries ? ", \\\n" : "\n", gp);
    }
    return figure_finish(&f, r);
}

/* ---- matrix heatmap ----------------------------------------------------------- */

int plot_matrix(const char *dir, const char *name, const struct matrix_plot *m,
                struct plot_result *r)
{
    if (!m || !m->values || !m->rows || !m->cols)
        return error_set(ERR_INPUT, name, "matrix plot without data");
    if (m->rows > 2000 || m->cols > 2000)
        return error_set(ERR_INPUT, name, "matrix of %zu x %zu is too large to draw", m->rows,
                         m->cols);
    size_t n = m->rows > m->cols ? m->rows : m->cols;
    double vmin = m->vmin, vmax = m->vmax;
    if (!(vmax > vmin)) { /* unset (or degenerate): the data's range */
        vmin = INFINITY;
        vmax = -INFINITY;
        for (size_t i = 0; i < m->rows * m->cols; i++)
            if (isfinite(m->values[i])) {
                if (m->values[i] < vmin) vmin = m->values[i];
                if (m->values[i] > vmax) vmax = m->values[i];
            }
        if (!isfinite(vmin)) vmin = 0, vmax = 1;
        if (!(vmax > vmin)) vmax = vmin + 1;
    }
    int64_t amax = 0;
    if (m->annot)
        for (size_t i = 0; i < m->rows * m->cols; i++)
            if (llabs((long long)m->annot[i]) > amax) amax = llabs((long long)m->annot[i]);
    int digits = 1;
    for (int64_t a = amax; a >= 10; a /= 10)
        digits++;

    /* Geometry in pixels: square cells, sized with the class count; counts in
     * a font that fits the cell (zeros left out beyond 25 classes, where they
     * would only hide the structure); names on both axes. */
    int cell = n <= 4 ? 80 : n <= 10 ? 56 : n <= 25 ? 36 : 26;
    int tick_pt = n <= 10 ? 11 : n <= 25 ? 10 : 8;
    double char_px = tick_pt * 0.62; /* average glyph width of DejaVu Sans */
    int annot_pt = n <= 4 ? 14 : n <= 10 ? 12 : n <= 25 ? 9 : 7;
    while (annot_pt > 5 && digits * annot_pt * 0.62 > cell - 4)
        annot_pt--;
    size_t lrow = 0, lcol = 0;
    for (size_t i = 0; i < m->rows; i++) {
        size_t l = m->row_names && m->row_names[i] ? utf8_len(m->row_names[i]) : 6;
        if (l > lrow) lrow = l;
    }
    for (size_t j = 0; j < m->cols; j++) {
        size_t l = m->col_names && m->col_names[j] ? utf8_len(m->col_names[j]) : 6;
        if (l > lcol) lcol = l;
    }
    if (lrow > 40) lrow = 40;
    if (lcol > 40) lcol = 40;
    int rot90 = m->cols > 10;
    int left = (int)(lrow * char_px) + 45, right = 120, top = 50;
    int bottom = (int)((rot90 ? lcol * char_px : lcol * char_px * 0.71 + 10)) + 45;
    int pw = (int)m->cols * cell, ph = (int)m->rows * cell;
    int W = m->width > 0 ? m->width : left + pw + right;
    int H = m->height > 0 ? m->height : bottom + ph + top;
    if (m->width > 0 || m->height > 0) { /* fit the cells into the given size */
        double sx = (double)(W - left - right) / pw, sy = (double)(H - top - bottom) / ph;
        double s = sx < sy ? sx : sy;
        if (s > 0.05) {
            pw = (int)(pw * s);
            ph = (int)(ph * s);
        }
    }

    struct figure f;
    if (figure_open(&f, dir, name, r) < 0) return error_code();
    FILE *dp = f.dat.fp, *gp = f.gp.fp;
    fprintf(dp, "# column row value%s (row 0 = first true class); rows are scan lines\n",
            m->annot ? " count" : "");
    for (size_t i = 0; i < m->rows; i++) {
        if (i) fputs("\n", dp);
        for (size_t j = 0; j < m->cols; j++) {
            double v = m->values[i * m->cols + j];
            fprintf(dp, "%zu %zu ", j, i);
            if (isfinite(v))
                fprintf(dp, "%.9g", v);
            else
                fputs("NaN", dp);
            if (m->annot) fprintf(dp, " %lld", (long long)m->annot[i * m->cols + j]);
            fputs("\n", dp);
        }
    }

    script_begin(gp, &f, W, H, 11);
    set_text(gp, "title", m->title);
    /* axis titles placed by hand: with fixed margins gnuplot measures the
     * tic labels in the default font and can push them off the canvas */
    if (m->xlabel && *m->xlabel) {
        fputs("set label ", gp);
        gp_quote(gp, m->xlabel);
        fprintf(gp, " at screen %.5f, screen %.5f center\n", (left + pw / 2.0) / W, 14.0 / H);
    }
    if (m->ylabel && *m->ylabel) {
        fputs("set label ", gp);
        gp_quote(gp, m->ylabel);
        fprintf(gp, " at screen %.5f, screen %.5f center rotate by 90\n", 16.0 / W,
                (bottom + ph / 2.0) / H);
    }
    fprintf(gp, "vmin = %.9g\nvmax = %.9g\n", vmin, vmax);
    fprintf(gp, "show_zeros = %d  # 1: print zero counts too\n", n <= 25);
    fprintf(gp, "set lmargin at screen %.5f\nset rmargin at screen %.5f\n", (double)left / W,
            (double)(left + pw) / W);
    fprintf(gp, "set bmargin at screen %.5f\nset tmargin at screen %.5f\n", (double)bottom / H,
            (double)(bottom + ph) / H);
    fprintf(gp, "set colorbox user origin screen %.5f, %.5f size screen %.5f, %.5f\n",
            (double)(left + pw + 15) / W, (double)bottom / H, 16.0 / W, (double)ph / H);
    fputs("set palette defined (", gp);
    for (int i = 0; i < 9; i++)
        fprintf(gp, "%s%d '#%s'", i ? ", " : "", i, blues9[i]);
    fputs(")\nset cbrange [vmin:vmax]\nset cbtics font ',9'\n", gp);
    fprintf(gp, "set xrange [-0.5:%zu.5]\nset yrange [%zu.5:-0.5]\n", m->cols - 1, m->rows - 1);
    fputs("set tics scale 0\nset border lw 1\nunset key\n", gp);
    fprintf(gp, "set xtics %s font ',%d' (",
            rot90 ? "rotate by 90 right" : "rotate by 45 right", tick_pt);
    for (size_t j = 0; j < m->cols; j++) {
        if (j) fputs(", ", gp);
        if (m->col_names && m->col_names[j])
            gp_quote(gp, m->col_names[j]);
        else
            fprintf(gp, "'%zu'", j);
        fprintf(gp, " %zu", j);
    }
    fprintf(gp, ")\nset ytics font ',%d' (", tick_pt);
    for (size_t i = 0; i < m->rows; i++) {
        if (i) fputs(", ", gp);
        if (m->row_names && m->row_names[i])
            gp_quote(gp, m->row_names[i]);
        else
            fprintf(gp, "'%zu'", i);
        fprintf(gp, " %zu", i);
    }
    fputs(")\n", gp);
    /* lines between cells help the eye along a row at 47 classes */
    if (n > 10) {
        fprintf(gp,
                "set for [i=0:%zu] arrow from i+0.5, graph 0 to i+0.5, graph 1 nohead "
                "lc rgb '#d9d9d9' lw 0.6 front\n",
                m->cols - 2 + (m->cols < 2));
        fprintf(gp,
                "set for [i=0:%zu] arrow from graph 0, first i+0.5 to graph 1, first i+0.5 "
                "nohead lc rgb '#d9d9d9' lw 0.6 front\n",
                m->rows - 2 + (m->rows < 2));
    }
    fputs("plot datafile using 1:2:3 with image pixels", gp);
    if (m->annot) {
        /* dark cells (over 55% of the range: Blues is dark there) get white text */
        fprintf(gp,
                ", \\\n  datafile using 1:2:((($3-vmin)/(vmax-vmin) <= 0.55 && ($4 != 0 || "
                "show_zeros)) ? sprintf('%%d', int($4)) : '') with labels font ',%d' tc rgb "
                "'#000000'",
                annot_pt);
        fprintf(gp,
                ", \\\n  datafile using 1:2:((($3-vmin)/(vmax-vmin) > 0.55 && ($4 != 0 || "
                "show_zeros)) ? sprintf('%%d', int($4)) : '') with labels font ',%d' tc rgb "
                "'#ffffff'",
                annot_pt);
    }
    fputs("\n", gp);
    return figure_finish(&f, r);
}
