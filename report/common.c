/* common.c - what every stage of the report uses: notes for the user,
 * progress, figures and the data/ files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/progress.h"
#include "../core/util.h"
#include "report_int.h"

const char *const rep_stage_name[NSTAGES] = {
    "embed", "metrics", "PCA", "t-SNE", "prototypes", "Grad-CAM", "occlusion", "trust", "page"};
const char *const rep_stage_key[NSTAGES] = {
    "embed", "metrics", "pca", "tsne", "prototypes", "gradcam", "occlusion", "trust", "page"};
const char *const rep_why_text[3] = {"most confident correct", "most confident wrong",
                                     "random"};
const char *const rep_why_key[3] = {"confident_correct", "confident_wrong", "random"};

void rep_note(struct rep *R, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    if (s) strv_appendf(&R->res->notes, &R->res->nnotes, "%s", s);
    free(s);
}

void rep_stage(struct rep *R, int st, size_t done, size_t total, const char *note_)
{
    snprintf(R->stagebuf, sizeof R->stagebuf, "%d/%d %s", st + 1, NSTAGES, rep_stage_name[st]);
    progress_update(R->p->progress, R->stagebuf, done, total, note_);
}

void rep_fig_release(struct fig *f)
{
    free(f->png);
    free(f->script);
    memset(f, 0, sizeof *f);
}

/* Width and height from a PNG's IHDR (bytes 16..23), for the img tags. */
static void png_size(const char *path, int *w, int *h)
{
    unsigned char b[24];
    *w = *h = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return;
    if (fread(b, 1, 24, fp) == 24 && !memcmp(b + 12, "IHDR", 4)) {
        *w =
            (int)((uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19]);
        *h =
            (int)((uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23]);
    }
    fclose(fp);
}

/* "DIR/NAME" relative to the output folder, for links. */
void rep_fig_from_file(struct rep *R, struct fig *f, const char *sub, const char *name)
{
    f->png = xasprintf("%s/%s", sub, name);
    char *abs = path_join(R->out, f->png);
    png_size(abs, &f->w, &f->h);
    free(abs);
}

/* Records a gnuplot figure: its PNG when rendered, else a note. */
void rep_fig_from_plot(struct rep *R, struct fig *f, const char *name, struct plot_result *pr)
{
    f->script = xasprintf("figures/%s.gp", name);
    if (pr->rendered) {
        char *png = xasprintf("%s.png", name);
        rep_fig_from_file(R, f, "figures", png);
        free(png);
    } else {
        if (!R->gnuplot_noted++)
            rep_note(
                R,
                "gnuplot is not installed: figures not rendered (run `gnuplot NAME.gp` in %s)",
                R->figdir);
    }
    plot_result_release(pr);
}

/* ---------------------------------------------------------------- data/ */
int rep_save_npy(struct rep *R, const char *name, enum dtype t, int ndim, size_t rows,
                 size_t cols, void *data)
{
    struct array a = {.dtype = t, .ndim = ndim, .shape = {rows, cols, 1, 1}, .data = data};
    char *pth = path_join(R->datadir, name);
    int rc = npy_write(pth, &a);
    free(pth);
    return rc;
}

int rep_save_lines(struct rep *R, const char *name, char *const *lines, size_t n)
{
    char *pth = path_join(R->datadir, name);
    int rc = outfile_write_lines(pth, lines, n);
    free(pth);
    return rc;
}

void rep_format_date(const struct report_params *p, char *buf, size_t len)
{
    time_t t = p->date ? p->date : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

const char *rep_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}
