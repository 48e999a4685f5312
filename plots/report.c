/* report.c - `interp report`'s engine: embed and predict a folder of class
 * folders, then metrics, PCA, t-SNE, prototypes and explanations, written as
 * figures beside one static HTML page (no JavaScript) and report.json.
 * Streams the images (only the latent and probabilities stay in memory).
 */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "../analysis/cam.h"
#include "../analysis/metrics.h"
#include "../analysis/occlusion.h"
#include "../analysis/pca.h"
#include "../analysis/prototypes.h"
#include "../analysis/tsne.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/json.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "colormap.h"
#include "plot.h"
#include "report.h"

struct report_params report_params_default(void)
{
    struct report_params p = {0};
    p.per_class = 3;
    p.tsne_max = 5000;
    p.seed = 42;
    p.batch = 64;
    p.proto_k = 5;
    p.prep = model_prep_default();
    return p;
}

void report_result_release(struct report_result *r)
{
    if (!r) return;
    free(r->index_html);
    free(r->report_json);
    for (size_t i = 0; i < r->nnotes; i++)
        free(r->notes[i]);
    free(r->notes);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- state */
enum { ST_EMBED, ST_METRICS, ST_PCA, ST_TSNE, ST_PROTO, ST_GRADCAM, ST_OCCL, ST_PAGE, NSTAGES };
static const char *const stage_name[NSTAGES] = {"embed",      "metrics",  "PCA",       "t-SNE",
                                                "prototypes", "Grad-CAM", "occlusion", "page"};
static const char *const stage_key[NSTAGES] = {"embed",      "metrics", "pca",       "tsne",
                                               "prototypes", "gradcam", "occlusion", "page"};

/* A figure of the page: PNG and its gnuplot script, relative to out_dir. */
struct fig {
    char *png;    /* NULL when not rendered */
    char *script; /* the .gp (gnuplot figures) */
    int w, h;     /* PNG size, 0 when unknown */
};

enum pick_why { WHY_CORRECT, WHY_WRONG, WHY_RANDOM };
static const char *const why_text[3] = {"most confident correct", "most confident wrong",
                                        "random"};
static const char *const why_key[3] = {"confident_correct", "confident_wrong", "random"};

struct expl {
    int cls;
    struct fig cam, occ;
    struct cam_info cam_info, occ_info;
    int have_cam, have_occ;
};

struct pick {
    size_t row;
    enum pick_why why;
    int rank; /* 1 = the most confident of its list */
    struct fig orig;
    int nexpl; /* 1, or 2 when wrong (predicted and true class) */
    struct expl ex[2];
};

struct rep {
    const struct report_params *p;
    struct report_result *res;
    char *out, *figdir, *galdir, *datadir;
    /* model */
    struct model *m;
    struct model_input_info in;
    int K, latent;
    size_t D, item;
    char **names; /* K display names (owned) */
    /* data */
    char **folders;
    size_t nfolders;
    char **files; /* N paths (owned) */
    int32_t *labels;
    size_t N, cap, skipped;
    /* results */
    float *emb, *probs; /* N x D, N x K */
    double *probs_d;    /* N x K */
    int32_t *pred;
    struct metrics *met;
    size_t topk_k;
    double topk;
    struct pca *pca;
    float *pca_scores; /* N x pca->k */
    struct tsne_result *ts;
    int64_t *ts_rows;
    size_t ts_n;
    double ts_perplexity;
    struct prototypes *pr;
    struct pick *picks;
    size_t npicks;
    const char *cam_layer; /* name, NULL when Grad-CAM was not possible */
    int occ_patch, occ_stride;
    struct fig f_conf, f_pca, f_scree, f_tsne, f_near, f_far;
    double t[NSTAGES], t0;
    int gnuplot_noted;
    char stagebuf[96];
};

static void note(struct rep *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct rep *R, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    if (!s) return;
    struct report_result *r = R->res;
    r->notes = xrealloc(r->notes, sizeof(char *) * (r->nnotes + 1));
    r->notes[r->nnotes++] = s;
}

static void stage(struct rep *R, int st, size_t done, size_t total, const char *note_)
{
    snprintf(R->stagebuf, sizeof R->stagebuf, "%d/%d %s", st + 1, NSTAGES, stage_name[st]);
    progress_update(R->p->progress, R->stagebuf, done, total, note_);
}

/* splitmix64 (Steele, Lea & Flood 2014): a small seeded generator for the
 * random picks and the t-SNE subsample. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static size_t rng_below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % n);
}

static void fig_release(struct fig *f)
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
static void fig_from_file(struct rep *R, struct fig *f, const char *sub, const char *name)
{
    f->png = xasprintf("%s/%s", sub, name);
    char *abs = path_join(R->out, f->png);
    png_size(abs, &f->w, &f->h);
    free(abs);
}

/* Records a gnuplot figure: its PNG when rendered, else a note. */
static void fig_from_plot(struct rep *R, struct fig *f, const char *name,
                          struct plot_result *pr)
{
    f->script = xasprintf("figures/%s.gp", name);
    if (pr->rendered) {
        char *png = xasprintf("%s.png", name);
        fig_from_file(R, f, "figures", png);
        free(png);
    } else {
        if (!R->gnuplot_noted++)
            note(R,
                 "gnuplot is not installed: figures not rendered (run `gnuplot NAME.gp` in %s)",
                 R->figdir);
    }
    plot_result_release(pr);
}

/* ---------------------------------------------------------------- inputs */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
            !strcasecmp(dot, ".webp") || !strcasecmp(dot, ".bmp") || !strcasecmp(dot, ".gif"));
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

struct names {
    char **s;
    size_t n, cap;
};
static void names_push(struct names *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->s = xrealloc(l->s, sizeof(char *) * l->cap);
    }
    l->s[l->n++] = s;
}

/* The class folders of image_dir and their images (Keras's layout). */
static int list_dataset(struct rep *R)
{
    const char *root = R->p->image_dir;
    if (!is_dir(root)) {
        struct stat st;
        if (stat(root, &st) != 0) return error_set_errno(ERR_INPUT, root, "cannot open");
        return error_set(ERR_INPUT, root,
                         "not a folder: expected a folder with one folder of images per class");
    }
    DIR *d = opendir(root);
    if (!d) return error_set_errno(ERR_INPUT, root, "cannot open folder");
    struct names folders = {0};
    size_t loose = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *pth = path_join(root, e->d_name);
        if (is_dir(pth))
            names_push(&folders, xstrdup(e->d_name));
        else
            loose++;
        free(pth);
    }
    closedir(d);
    R->folders = folders.s;
    R->nfolders = folders.n;
    if (!folders.n)
        return error_set(ERR_INPUT, root,
                         "no class folders: expected one folder of images per class "
                         "(Keras's layout, e.g. %s/cat/1.png)",
                         root);
    qsort(folders.s, folders.n, sizeof(char *), cmp_str);
    if (loose)
        note(R, "%s: %zu file%s beside the class folders ignored", root, loose,
             loose == 1 ? "" : "s");

    struct names files = {0};
    char *skipped_example = NULL;
    size_t subdirs = 0;
    int rc = 0;
    for (size_t k = 0; k < folders.n; k++) {
        char *sub = path_join(root, folders.s[k]);
        DIR *cd = opendir(sub);
        if (!cd) {
            rc = error_set_errno(ERR_INPUT, sub, "cannot open folder");
            free(sub);
            break;
        }
        size_t before = files.n;
        while ((e = readdir(cd))) {
            if (e->d_name[0] == '.') continue;
            char *pth = path_join(sub, e->d_name);
            if (is_dir(pth)) {
                subdirs++;
                free(pth);
            } else if (is_image_name(e->d_name)) {
                names_push(&files, pth);
            } else {
                if (!R->skipped++)
                    skipped_example = pth;
                else
                    free(pth);
            }
        }
        closedir(cd);
        if (files.n > before) /* files.s is still NULL when nothing was found */
            qsort(files.s + before, files.n - before, sizeof(char *), cmp_str);
        else
            note(R, "%s: no .png/.jpg/.jpeg/.webp/.bmp/.gif images: class %zu has no members", sub, k);
        free(sub);
        if (files.n > R->cap) {
            R->cap = files.cap;
            R->labels = xrealloc(R->labels, sizeof(int32_t) * R->cap);
        }
        for (size_t i = before; i < files.n; i++)
            R->labels[i] = (int32_t)k;
    }
    R->files = files.s;
    R->N = files.n;
    if (R->skipped)
        note(R, "skipped %zu file%s that %s not .png/.jpg/.jpeg/.webp/.bmp/.gif (e.g. %s)", R->skipped,
             R->skipped == 1 ? "" : "s", R->skipped == 1 ? "is" : "are", skipped_example);
    free(skipped_example);
    if (subdirs)
        note(R, "%zu folder%s inside class folders not read (one level of class folders only)",
             subdirs, subdirs == 1 ? "" : "s");
    if (!rc && !R->N)
        rc = error_set(ERR_INPUT, root, "no .png/.jpg/.jpeg/.webp/.bmp/.gif images in its %zu class folders",
                       folders.n);
    return rc;
}

/* Refuses an output folder equal to or inside the image folder: its figures/,
 * gallery/ and data/ would become class folders of the next run. The output
 * may not exist yet: its nearest existing ancestor is resolved instead. */
static int out_check(struct rep *R)
{
    char *img = realpath(R->p->image_dir, NULL), *probe = xstrdup(R->out), *out = NULL;
    while (img && !(out = realpath(probe, NULL))) {
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe) {
            out = realpath(slash ? "/" : ".", NULL);
            break;
        }
        *slash = 0;
    }
    int rc = 0;
    size_t n = img ? strlen(img) : 0;
    if (img && out && !strncmp(out, img, n) && (out[n] == 0 || out[n] == '/' || n == 1))
        rc = error_set(ERR_INPUT, R->out,
                       "the output folder is inside the image folder %s: choose another -o",
                       R->p->image_dir);
    free(img);
    free(out);
    free(probe);
    return rc;
}

/* ---------------------------------------------------------------- model */
static int open_model(struct rep *R)
{
    const struct report_params *p = R->p;
    if (!(R->m = model_load(p->model_path))) return -1;
    if (model_input_info(R->m, &R->in) < 0) {
        error_set_path_if_missing(p->model_path);
        return error_code();
    }
    R->K = model_prob_classes(R->m);
    R->item = model_tensor_item(R->m, model_input(R->m));
    R->latent = model_default_latent(R->m);
    if (R->latent < 0) {
        R->latent = model_logits(R->m);
        note(R, "%s: no dense layer: the embedding analysis uses the class scores",
             p->model_path);
    }
    R->D = model_tensor_item(R->m, R->latent);
    if ((size_t)R->K < R->nfolders)
        return error_set(ERR_INPUT, p->image_dir,
                         "%zu class folders, but the model has %d classes", R->nfolders, R->K);
    if ((size_t)R->K > R->nfolders)
        note(R, "%s: %zu class folders for a model of %d classes (ids %zu..%d have no images)",
             p->image_dir, R->nfolders, R->K, R->nfolders, R->K - 1);
    if (p->class_names && p->nclass_names != (size_t)R->K)
        return error_set(ERR_INPUT, NULL, "%zu class names for a model of %d classes",
                         p->nclass_names, R->K);
    R->names = xcalloc((size_t)R->K, sizeof(char *));
    for (int k = 0; k < R->K; k++)
        R->names[k] = p->class_names            ? xstrdup(p->class_names[k])
                      : (size_t)k < R->nfolders ? xstrdup(R->folders[k])
                                                : xasprintf("class %d", k);
    return 0;
}

/* ---------------------------------------------------------------- outputs */
static int save_npy(struct rep *R, const char *name, enum dtype t, int ndim, size_t rows,
                    size_t cols, void *data)
{
    struct array a = {.dtype = t, .ndim = ndim, .shape = {rows, cols, 1, 1}, .data = data};
    char *pth = path_join(R->datadir, name);
    int rc = npy_write(pth, &a);
    free(pth);
    return rc;
}

static int save_lines(struct rep *R, const char *name, char *const *lines, size_t n)
{
    char *pth = path_join(R->datadir, name);
    struct outfile of;
    int rc = outfile_open(&of, pth);
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            fprintf(of.fp, "%s\n", lines[i]);
        rc = outfile_commit(&of);
    }
    free(pth);
    return rc;
}

/* ---------------------------------------------------------------- 1 embed */
static int stage_embed(struct rep *R)
{
    const struct report_params *p = R->p;
    size_t N = R->N, D = R->D, K = (size_t)R->K, b1, b2, b3;
    int batch = p->batch > 0 ? p->batch : 64;
    if ((size_t)batch > N) batch = (int)N;
    if (!mul3_ok(N, D, sizeof(float), &b1) || !mul3_ok(N, K, sizeof(double), &b2) ||
        !mul3_ok((size_t)batch, R->item, sizeof(float), &b3))
        return error_set(ERR_INPUT, p->image_dir, "too many images (%zu)", N);
    struct model_run *run = model_run_new(R->m, batch, MODEL_RUN_FORWARD, &R->latent, 1);
    float *x = NULL;
    int rc = -1;
    if (!run || !(x = big_alloc(b3, NULL, "image batch")) ||
        !(R->emb = big_alloc(b1, NULL, "embedding matrix")) ||
        !(R->probs = big_alloc(b2 / 2, NULL, "probabilities")) ||
        !(R->probs_d = big_alloc(b2, NULL, "probabilities")) ||
        !(R->pred = big_alloc(sizeof(int32_t) * N, NULL, "predictions")))
        goto done;
    stage(R, ST_EMBED, 0, N, NULL);
    for (size_t b0 = 0; b0 < N; b0 += (size_t)batch) {
        int n = N - b0 < (size_t)batch ? (int)(N - b0) : batch;
        for (int i = 0; i < n; i++)
            if (model_preprocess_file(R->m, R->files[b0 + i], &p->prep,
                                      x + (size_t)i * R->item)) {
                error_set_path_if_missing(R->files[b0 + i]);
                goto done;
            }
        model_forward(run, x, n);
        memcpy(R->emb + b0 * D, model_run_tensor(run, R->latent),
               sizeof(float) * D * (size_t)n);
        model_run_probs(run, R->probs + b0 * K);
        stage(R, ST_EMBED, b0 + (size_t)n, N, NULL);
    }
    for (size_t i = 0; i < N * K; i++)
        R->probs_d[i] = R->probs[i];
    /* the prediction as `interp metrics --probs` takes it: numpy's argmax */
    if (metrics_argmax(R->probs_d, N, K, R->pred)) goto done;
    if (save_npy(R, "embeddings.npy", DT_F32, 2, N, D, R->emb) ||
        save_npy(R, "probs.npy", DT_F32, 2, N, K, R->probs) ||
        save_npy(R, "predictions.npy", DT_I32, 1, N, 1, R->pred) ||
        save_npy(R, "labels.npy", DT_I32, 1, N, 1, R->labels) ||
        save_lines(R, "files.txt", R->files, N) || save_lines(R, "classes.txt", R->names, K))
        goto done;
    rc = 0;
done:
    free(x);
    model_run_free(run);
    return rc;
}

/* ---------------------------------------------------------------- 2 metrics */
static int stage_metrics(struct rep *R)
{
    size_t K = (size_t)R->K;
    stage(R, ST_METRICS, 0, 2, NULL);
    if (!(R->met = metrics_compute(R->labels, R->N, R->pred, R->N, K))) return -1;
    R->topk_k = K < 5 ? K : 5;
    if (metrics_top_k(R->labels, R->N, R->probs_d, R->N, K, R->topk_k, &R->topk, NULL))
        return -1;
    stage(R, ST_METRICS, 1, 2, NULL);
    struct matrix_plot mp = {.values = R->met->confusion_norm,
                             .annot = R->met->confusion,
                             .rows = K,
                             .cols = K,
                             .row_names = R->names,
                             .col_names = R->names,
                             .title = "Confusion matrix (colour: row fraction, text: count)",
                             .xlabel = "predicted class",
                             .ylabel = "true class",
                             .vmin = 0,
                             .vmax = 1};
    struct plot_result pr;
    if (plot_matrix(R->figdir, "confusion", &mp, &pr)) return -1;
    fig_from_plot(R, &R->f_conf, "confusion", &pr);
    stage(R, ST_METRICS, 2, 2, NULL);
    return 0;
}

/* ---------------------------------------------------------------- 3 PCA */
static int stage_pca(struct rep *R)
{
    size_t N = R->N, D = R->D;
    if (N < 3) {
        note(R, "PCA skipped: %zu image%s", N, N == 1 ? "" : "s");
        return 0;
    }
    stage(R, ST_PCA, 0, 1, NULL);
    struct pca_params pp = pca_params_default();
    pp.k = D < 10 ? D : 10;
    if (pp.k > N - 1) pp.k = N - 1;
    pp.seed = R->p->seed;
    if (!(R->pca = pca_fit(R->emb, N, D, &pp))) return -1;
    size_t k = R->pca->k, bytes;
    if (!mul3_ok(N, k, sizeof(float), &bytes) ||
        !(R->pca_scores = big_alloc(bytes, NULL, "PCA scores")))
        return -1;
    pca_transform(R->pca, R->emb, N, R->pca_scores);
    if (save_npy(R, "pca.npy", DT_F32, 2, N, k, R->pca_scores)) return -1;
    struct plot_result pr;
    if (k >= 2) {
        float *x = xmalloc(sizeof(float) * N), *y = xmalloc(sizeof(float) * N);
        for (size_t i = 0; i < N; i++)
            x[i] = R->pca_scores[i * k], y[i] = R->pca_scores[i * k + 1];
        char xl[64], yl[64];
        snprintf(xl, sizeof xl, "PC 1 (%.1f%% of the variance)",
                 100 * R->pca->explained_ratio[0]);
        snprintf(yl, sizeof yl, "PC 2 (%.1f%%)", 100 * R->pca->explained_ratio[1]);
        struct scatter s = {.x = x,
                            .y = y,
                            .n = N,
                            .labels = R->labels,
                            .nclasses = (size_t)R->K,
                            .class_names = R->names,
                            .title = "PCA of the latent",
                            .xlabel = xl,
                            .ylabel = yl};
        int rc = plot_scatter(R->figdir, "pca", &s, &pr);
        free(x);
        free(y);
        if (rc) return -1;
        fig_from_plot(R, &R->f_pca, "pca", &pr);
    }
    double *xs = xmalloc(sizeof(double) * k), *cum = xmalloc(sizeof(double) * k);
    double acc = 0;
    for (size_t i = 0; i < k; i++) {
        xs[i] = (double)(i + 1);
        acc += R->pca->explained_ratio[i];
        cum[i] = acc;
    }
    const double *ys[2] = {R->pca->explained_ratio, cum};
    char *series[2] = {"per component", "cumulative"};
    struct line_plot lp = {.x = xs,
                           .n = k,
                           .y = ys,
                           .nseries = 2,
                           .series_names = series,
                           .title = "PCA: explained variance ratio",
                           .xlabel = "component",
                           .ylabel = "fraction of the variance",
                           .with_bars = 1,
                           .width = 640,
                           .height = 420};
    int rc = plot_lines(R->figdir, "scree", &lp, &pr);
    free(xs);
    free(cum);
    if (rc) return -1;
    fig_from_plot(R, &R->f_scree, "scree", &pr);
    stage(R, ST_PCA, 1, 1, NULL);
    return 0;
}

/* ---------------------------------------------------------------- 4 t-SNE */
struct sub_progress {
    struct rep *R;
};
static void tsne_progress(void *ctx, const char *st, size_t done, size_t total, const char *nt)
{
    struct rep *R = ((struct sub_progress *)ctx)->R;
    if (!strcmp(st, "t-SNE"))
        snprintf(R->stagebuf, sizeof R->stagebuf, "%d/%d t-SNE", ST_TSNE + 1, NSTAGES);
    else
        snprintf(R->stagebuf, sizeof R->stagebuf, "%d/%d t-SNE (%s)", ST_TSNE + 1, NSTAGES, st);
    progress_update(R->p->progress, R->stagebuf, done, total, nt);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Rows for t-SNE: all, or tsne_max drawn per class in proportion to its size
 * (largest remainder: each class gets floor(max * n_c / N), the leftover
 * rows go to the largest fractional parts, lower class first on ties), each
 * class's rows drawn uniformly without replacement (partial Fisher-Yates). */
static void tsne_sample(struct rep *R, size_t m)
{
    size_t N = R->N, K = (size_t)R->K;
    R->ts_rows = xmalloc(sizeof(int64_t) * (m ? m : 1));
    R->ts_n = m;
    if (m == N) {
        for (size_t i = 0; i < N; i++)
            R->ts_rows[i] = (int64_t)i;
        return;
    }
    size_t *count = xcalloc(K, sizeof(size_t)), *take = xcalloc(K, sizeof(size_t));
    double *frac = xcalloc(K, sizeof(double));
    for (size_t i = 0; i < N; i++)
        count[R->labels[i]]++;
    size_t given = 0;
    for (size_t c = 0; c < K; c++) {
        double share = (double)m * (double)count[c] / (double)N;
        take[c] = (size_t)share;
        frac[c] = share - (double)take[c];
        given += take[c];
    }
    while (given < m) {
        size_t best = K;
        for (size_t c = 0; c < K; c++)
            if (take[c] < count[c] && (best == K || frac[c] > frac[best])) best = c;
        if (best == K) break;
        take[best]++, frac[best] = -1, given++;
    }
    uint64_t s = R->p->seed ^ 0x7473656e65ULL; /* "tsne" */
    size_t *idx = xmalloc(sizeof(size_t) * N), o = 0;
    for (size_t c = 0; c < K; c++) {
        size_t nc = 0;
        for (size_t i = 0; i < N; i++)
            if ((size_t)R->labels[i] == c) idx[nc++] = i;
        for (size_t t = 0; t < take[c]; t++) {
            size_t j = t + rng_below(&s, nc - t), tmp = idx[t];
            idx[t] = idx[j], idx[j] = tmp;
            R->ts_rows[o++] = (int64_t)idx[t];
        }
    }
    R->ts_n = o;
    qsort(R->ts_rows, o, sizeof(int64_t), cmp_i64);
    free(idx);
    free(count);
    free(take);
    free(frac);
}

static int stage_tsne(struct rep *R)
{
    size_t N = R->N, D = R->D;
    size_t m = R->p->tsne_max && R->p->tsne_max < N ? R->p->tsne_max : N;
    struct tsne_params tp = tsne_params_default();
    double maxp = affinity_max_perplexity(m);
    if (m < 7 || maxp < 2) {
        note(R, "t-SNE skipped: %zu images are too few", m);
        return 0;
    }
    tsne_sample(R, m);
    m = R->ts_n;
    if (m < N) note(R, "t-SNE on %zu of the %zu images (--tsne-max), sampled per class", m, N);
    if (tp.perplexity > affinity_max_perplexity(m)) {
        tp.perplexity = floor(affinity_max_perplexity(m));
        note(R, "t-SNE perplexity lowered to %g for %zu images", tp.perplexity, m);
    }
    R->ts_perplexity = tp.perplexity;
    size_t bytes;
    if (!mul3_ok(m, D, sizeof(float), &bytes)) return error_set(ERR_INPUT, NULL, "too large");
    float *x = big_alloc(bytes, NULL, "t-SNE input");
    if (!x) return -1;
    for (size_t i = 0; i < m; i++)
        memcpy(x + i * D, R->emb + (size_t)R->ts_rows[i] * D, sizeof(float) * D);
    struct sub_progress sp = {R};
    struct progress prog = {tsne_progress, &sp};
    tp.seed = R->p->seed;
    tp.threads = R->p->threads;
    tp.method = TSNE_METHOD_AUTO;
    tp.progress = R->p->progress ? &prog : NULL;
    R->ts = tsne_run(x, m, D, &tp);
    free(x);
    if (!R->ts) return -1;
    if (save_npy(R, "tsne.npy", DT_F32, 2, m, 2, R->ts->y) ||
        save_npy(R, "tsne_rows.npy", DT_I64, 1, m, 1, R->ts_rows))
        return -1;
    float *xs = xmalloc(sizeof(float) * m), *ys = xmalloc(sizeof(float) * m);
    int32_t *lab = xmalloc(sizeof(int32_t) * m);
    for (size_t i = 0; i < m; i++) {
        xs[i] = R->ts->y[2 * i], ys[i] = R->ts->y[2 * i + 1];
        lab[i] = R->labels[R->ts_rows[i]];
    }
    char title[96];
    snprintf(title, sizeof title, "t-SNE of the latent (%zu images, perplexity %g)", m,
             tp.perplexity);
    struct scatter s = {.x = xs,
                        .y = ys,
                        .n = m,
                        .labels = lab,
                        .nclasses = (size_t)R->K,
                        .class_names = R->names,
                        .title = title,
                        .xlabel = "t-SNE 1",
                        .ylabel = "t-SNE 2"};
    struct plot_result pr;
    int rc = plot_scatter(R->figdir, "tsne", &s, &pr);
    free(xs);
    free(ys);
    free(lab);
    if (rc) return -1;
    fig_from_plot(R, &R->f_tsne, "tsne", &pr);
    return 0;
}

/* ---------------------------------------------------------------- 5 prototypes */
static int write_montage(struct rep *R, int far, struct fig *f)
{
    size_t K = (size_t)R->K, k = R->pr->k, rows = 0;
    for (size_t c = 0; c < K; c++)
        rows += R->pr->cls[c].count > 0;
    const struct image **cells = xcalloc(rows * k, sizeof(struct image *));
    char **labels = xcalloc(rows, sizeof(char *));
    int rc = 0;
    size_t r = 0;
    for (size_t c = 0; c < K && !rc; c++) {
        const struct proto_class *pc = &R->pr->cls[c];
        if (!pc->count) continue;
        labels[r] = R->names[c];
        size_t n = far ? pc->n_far : pc->n_near;
        for (size_t j = 0; j < n; j++) {
            const char *file = R->files[far ? pc->far[j] : pc->near[j]];
            if (!(cells[r * k + j] = image_load(file))) {
                error_set_path_if_missing(file);
                rc = -1;
                break;
            }
        }
        r++;
    }
    int big = R->in.h > 64 || R->in.w > 64;
    const char *name = far ? "prototypes_farthest.png" : "prototypes_nearest.png";
    if (!rc) {
        char *pth = path_join(R->figdir, name);
        rc = montage_write_png(pth, cells, (int)rows, (int)k, big ? 96 : 64, labels);
        free(pth);
    }
    if (!rc) fig_from_file(R, f, "figures", name);
    for (size_t i = 0; i < rows * k; i++)
        image_free((struct image *)cells[i]);
    free(cells);
    free(labels);
    return rc;
}

static int stage_prototypes(struct rep *R)
{
    stage(R, ST_PROTO, 0, 3, NULL);
    struct proto_params pp = proto_params_default();
    pp.k = R->p->proto_k > 0 ? (size_t)R->p->proto_k : 5;
    if (!(R->pr = prototypes_compute(R->emb, R->N, R->D, R->labels, R->N, (size_t)R->K, &pp)))
        return -1;
    stage(R, ST_PROTO, 1, 3, NULL);
    if (write_montage(R, 0, &R->f_near)) return -1;
    stage(R, ST_PROTO, 2, 3, NULL);
    if (write_montage(R, 1, &R->f_far)) return -1;
    stage(R, ST_PROTO, 3, 3, NULL);
    return 0;
}

/* ---------------------------------------------------------------- picks */
struct conf_row {
    size_t row;
    float p;
};
static int cmp_conf(const void *a, const void *b)
{
    const struct conf_row *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return (x->row > y->row) - (x->row < y->row);
}

static void choose_picks(struct rep *R)
{
    size_t N = R->N, K = (size_t)R->K, want = R->p->per_class > 0 ? (size_t)R->p->per_class : 0;
    R->picks = xcalloc(K * want + 1, sizeof(struct pick));
    struct conf_row *lists[3];
    for (int t = 0; t < 3; t++)
        lists[t] = xmalloc(sizeof(struct conf_row) * N);
    char *used = xcalloc(N, 1);
    for (size_t c = 0; c < K && want; c++) {
        size_t len[3] = {0, 0, 0}, pos[3] = {0, 0, 0};
        for (size_t i = 0; i < N; i++) {
            if ((size_t)R->labels[i] != c) continue;
            int32_t pr = R->pred[i];
            struct conf_row cr = {i, R->probs[i * K + (size_t)pr]};
            lists[pr == (int32_t)c ? WHY_CORRECT : WHY_WRONG][len[pr == (int32_t)c ? 0 : 1]++] =
                cr;
            lists[WHY_RANDOM][len[2]++] = cr;
        }
        qsort(lists[0], len[0], sizeof(struct conf_row), cmp_conf);
        qsort(lists[1], len[1], sizeof(struct conf_row), cmp_conf);
        uint64_t s = R->p->seed * 0x100000001b3ULL + c; /* one stream per class */
        for (size_t t = len[2]; t > 1; t--) {
            size_t j = rng_below(&s, t);
            struct conf_row tmp = lists[2][t - 1];
            lists[2][t - 1] = lists[2][j], lists[2][j] = tmp;
        }
        size_t got = 0;
        int rank[3] = {0, 0, 0};
        for (int turn = 0, idle = 0; got < want && idle < 3; turn = (turn + 1) % 3) {
            while (pos[turn] < len[turn] && used[lists[turn][pos[turn]].row])
                pos[turn]++;
            if (pos[turn] == len[turn]) {
                idle++;
                continue;
            }
            idle = 0;
            size_t row = lists[turn][pos[turn]++].row;
            used[row] = 1;
            struct pick *pk = &R->picks[R->npicks++];
            pk->row = row;
            pk->why = (enum pick_why)turn;
            pk->rank = ++rank[turn];
            pk->nexpl = R->pred[row] == R->labels[row] ? 1 : 2;
            pk->ex[0].cls = R->pred[row];
            pk->ex[1].cls = R->labels[row];
            got++;
        }
    }
    for (int t = 0; t < 3; t++)
        free(lists[t]);
    free(used);
}

/* The image as the gallery shows it: enlarged by pixel replication to at
 * least 112 pixels on its long side (small inputs such as 28x28 stay crisp
 * and the colour bar readable), or shrunk to 256 (keeps the page light). */
static struct image *display_image(const struct image *im)
{
    int side = im->h > im->w ? im->h : im->w, f = side >= 112 ? 1 : (112 + side - 1) / side;
    if (side > 256) {
        int h = (int)lround((double)im->h * 256 / side),
            w = (int)lround((double)im->w * 256 / side);
        return image_resize(im, h < 1 ? 1 : h, w < 1 ? 1 : w);
    }
    struct image *out = image_new(im->c, im->h * f, im->w * f);
    if (!out) return NULL;
    for (int c = 0; c < im->c; c++)
        for (int y = 0; y < out->h; y++)
            for (int x = 0; x < out->w; x++)
                out->data[((size_t)c * out->h + y) * out->w + x] =
                    im->data[((size_t)c * im->h + y / f) * im->w + x / f];
    return out;
}

/* Loads pick i, writes its enlarged original once, preprocesses into x. */
static struct image *load_pick(struct rep *R, struct pick *pk, float *x)
{
    const char *file = R->files[pk->row];
    struct image *im = image_load(file), *disp = NULL;
    if (!im || model_preprocess(R->m, im, &R->p->prep, x) || !(disp = display_image(im))) {
        error_set_path_if_missing(file);
        image_free(im);
        return NULL;
    }
    image_free(im);
    if (!pk->orig.png) {
        char *name = xasprintf("%06zu.png", pk->row);
        char *pth = path_join(R->galdir, name);
        int rc = image_write_png(pth, disp);
        free(pth);
        if (!rc) fig_from_file(R, &pk->orig, "gallery", name);
        free(name);
        if (rc) {
            image_free(disp);
            return NULL;
        }
    }
    return disp;
}

static int write_overlay(struct rep *R, struct fig *f, size_t row, int cls, const char *method,
                         const struct image *disp, const float *map, int h, int w,
                         const struct colormap *cm, double vmin, double vmax)
{
    char *name = xasprintf("%06zu.c%d.%s.png", row, cls, method);
    char *pth = path_join(R->galdir, name);
    int rc = overlay_write_png(pth, disp, map, h, w, cm, vmin, vmax, 0.5);
    if (!rc) fig_from_file(R, f, "gallery", name);
    free(pth);
    free(name);
    return rc;
}

/* ---------------------------------------------------------------- 6 Grad-CAM */
static int stage_gradcam(struct rep *R)
{
    struct cam *cam = cam_new(R->m, -1);
    if (!cam) {
        note(R, "Grad-CAM skipped: %s", error_message());
        error_clear();
        return 0;
    }
    R->cam_layer = model_tensor_name(R->m, cam->layer);
    float *x = xmalloc(sizeof(float) * R->item);
    float *lmap = xmalloc(sizeof(float) * (size_t)cam->lh * cam->lw);
    float *imap = xmalloc(sizeof(float) * (size_t)cam->ih * cam->iw);
    const struct colormap *jet = colormap_find("jet");
    int rc = 0;
    stage(R, ST_GRADCAM, 0, R->npicks, NULL);
    for (size_t i = 0; i < R->npicks && !rc; i++) {
        struct pick *pk = &R->picks[i];
        struct image *disp = load_pick(R, pk, x);
        if (!disp || cam_forward(cam, x)) {
            rc = -1;
            image_free(disp);
            break;
        }
        for (int e = 0; e < pk->nexpl && !rc; e++) {
            struct expl *ex = &pk->ex[e];
            if ((rc = cam_map(cam, ex->cls, CAM_GRADCAM, lmap, &ex->cam_info))) break;
            cam_upsample(lmap, cam->lh, cam->lw, imap, cam->ih, cam->iw);
            double vmax =
                isfinite(ex->cam_info.max) && ex->cam_info.max > 0 ? ex->cam_info.max : 0.0;
            rc = write_overlay(R, &ex->cam, pk->row, ex->cls, "gradcam", disp, imap, cam->ih,
                               cam->iw, jet, 0.0, vmax);
            ex->have_cam = !rc;
        }
        image_free(disp);
        stage(R, ST_GRADCAM, i + 1, R->npicks, NULL);
    }
    free(x);
    free(lmap);
    free(imap);
    cam_free(cam);
    return rc;
}

/* ---------------------------------------------------------------- 7 occlusion */
static int scaled(int v, int side)
{
    int s = (int)lround((double)v * side / 128.0);
    return s < 1 ? 1 : s;
}

static int stage_occlusion(struct rep *R)
{
    struct occlusion_params op = occlusion_params_default();
    int side = R->in.h < R->in.w ? R->in.h : R->in.w;
    op.patch = R->p->occ_patch > 0 ? R->p->occ_patch : scaled(op.patch, side);
    op.stride = R->p->occ_stride > 0 ? R->p->occ_stride : scaled(op.stride, side);
    if (op.patch < 3 && side >= 3 && !R->p->occ_patch) op.patch = 3;
    struct occlusion *o = occlusion_new(R->m, &op, &R->p->prep);
    if (!o) return -1;
    R->occ_patch = o->ph, R->occ_stride = op.stride;
    size_t hw = (size_t)o->h * o->w;
    float *x = xmalloc(sizeof(float) * R->item), *map = xmalloc(sizeof(float) * hw * 2);
    const struct colormap *cw = colormap_find("coolwarm");
    int rc = 0;
    stage(R, ST_OCCL, 0, R->npicks, NULL);
    for (size_t i = 0; i < R->npicks && !rc; i++) {
        struct pick *pk = &R->picks[i];
        struct image *disp = load_pick(R, pk, x);
        int cls[2] = {pk->ex[0].cls, pk->ex[1].cls};
        if (!disp || occlusion_run(o, x, cls, pk->nexpl, NULL, map, NULL)) {
            error_set_path_if_missing(R->files[pk->row]);
            image_free(disp);
            rc = -1;
            break;
        }
        for (int e = 0; e < pk->nexpl && !rc; e++) {
            struct expl *ex = &pk->ex[e];
            const float *mk = map + (size_t)e * hw;
            occlusion_map_check(o, mk, hw, ex->cls, &ex->occ_info);
            double a = fmax(fabs(ex->occ_info.min), fabs(ex->occ_info.max));
            if (!isfinite(a)) a = 0;
            rc = write_overlay(R, &ex->occ, pk->row, ex->cls, "occlusion", disp, mk, o->h, o->w,
                               cw, -a, a);
            ex->have_occ = !rc;
        }
        image_free(disp);
        stage(R, ST_OCCL, i + 1, R->npicks, NULL);
    }
    free(x);
    free(map);
    occlusion_free(o);
    return rc;
}

/* ---------------------------------------------------------------- report.json */
static void json_fig(struct json *j, const char *key, const struct fig *f)
{
    json_key(j, key);
    json_string(j, f->png);
}

static void json_doubles(struct json *j, const char *key, const double *v, size_t n)
{
    json_key(j, key);
    json_array_begin(j);
    for (size_t i = 0; i < n; i++)
        json_double(j, v[i]);
    json_array_end(j);
}

static void json_cam_info(struct json *j, const struct cam_info *ci)
{
    static const char *const flag[] = {"none", "all_zero", "constant", "nonfinite"};
    json_object_begin(j);
    json_key(j, "score");
    json_double(j, ci->score);
    json_key(j, "prob");
    json_double(j, ci->prob);
    json_key(j, "min");
    json_double(j, ci->min);
    json_key(j, "max");
    json_double(j, ci->max);
    json_key(j, "flag");
    json_string(j, flag[ci->flag]);
    json_object_end(j);
}

static void json_rows(struct json *j, struct rep *R, const char *key, const int64_t *rows,
                      const double *dist, size_t n)
{
    json_key(j, key);
    json_array_begin(j);
    for (size_t i = 0; i < n; i++) {
        json_object_begin(j);
        json_key(j, "row");
        json_int(j, rows[i]);
        json_key(j, "file");
        json_string(j, R->files[rows[i]]);
        json_key(j, "distance");
        json_double(j, dist[i]);
        json_object_end(j);
    }
    json_array_end(j);
}

static void format_date(const struct report_params *p, char *buf, size_t len)
{
    time_t t = p->date ? p->date : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

static int write_json(struct rep *R, const char *path)
{
    const struct report_params *p = R->p;
    size_t K = (size_t)R->K;
    struct outfile of;
    if (outfile_open(&of, path)) return -1;
    struct json j;
    json_init(&j, of.fp);
    char date[64];
    format_date(p, date, sizeof date);
    json_object_begin(&j);
    json_key(&j, "interp_version");
    json_string(&j, INTERP_VERSION);
    json_key(&j, "date");
    json_string(&j, date);
    json_key(&j, "command");
    json_string(&j, p->command);

    json_key(&j, "model");
    json_object_begin(&j);
    json_key(&j, "path");
    json_string(&j, p->model_path);
    json_key(&j, "name");
    json_string(&j, base_name(p->model_path));
    json_key(&j, "input");
    json_array_begin(&j);
    json_int(&j, R->in.c);
    json_int(&j, R->in.h);
    json_int(&j, R->in.w);
    json_array_end(&j);
    json_key(&j, "layout");
    json_string(&j, R->in.layout == MODEL_NHWC ? "NHWC" : "NCHW");
    json_key(&j, "classes");
    json_int(&j, R->K);
    json_key(&j, "parameters");
    json_int(&j, (int64_t)model_param_count(R->m));
    json_key(&j, "latent_layer");
    json_string(&j, model_tensor_name(R->m, R->latent));
    json_key(&j, "latent_dim");
    json_int(&j, (int64_t)R->D);
    json_key(&j, "gradcam_layer");
    json_string(&j, R->cam_layer);
    json_object_end(&j);

    json_key(&j, "data");
    json_object_begin(&j);
    json_key(&j, "dir");
    json_string(&j, p->image_dir);
    json_key(&j, "images");
    json_int(&j, (int64_t)R->N);
    json_key(&j, "skipped_files");
    json_int(&j, (int64_t)R->skipped);
    json_key(&j, "class_folders");
    json_array_begin(&j);
    for (size_t k = 0; k < R->nfolders; k++)
        json_string(&j, R->folders[k]);
    json_array_end(&j);
    json_key(&j, "class_names");
    json_array_begin(&j);
    for (size_t k = 0; k < K; k++)
        json_string(&j, R->names[k]);
    json_array_end(&j);
    json_object_end(&j);

    const struct metrics *m = R->met;
    json_key(&j, "metrics");
    json_object_begin(&j);
    json_key(&j, "n");
    json_int(&j, (int64_t)m->n);
    json_key(&j, "accuracy");
    json_double(&j, m->accuracy);
    json_key(&j, "top_k");
    json_int(&j, (int64_t)R->topk_k);
    json_key(&j, "top_k_accuracy");
    json_double(&j, R->topk);
    const char *avg[2] = {"macro", "weighted"};
    const double av[2][3] = {{m->macro_precision, m->macro_recall, m->macro_f1},
                             {m->weighted_precision, m->weighted_recall, m->weighted_f1}};
    for (int a = 0; a < 2; a++) {
        json_key(&j, avg[a]);
        json_object_begin(&j);
        json_key(&j, "precision");
        json_double(&j, av[a][0]);
        json_key(&j, "recall");
        json_double(&j, av[a][1]);
        json_key(&j, "f1");
        json_double(&j, av[a][2]);
        json_object_end(&j);
    }
    json_key(&j, "per_class");
    json_array_begin(&j);
    for (size_t k = 0; k < K; k++) {
        json_object_begin(&j);
        json_key(&j, "class");
        json_string(&j, R->names[k]);
        json_key(&j, "precision");
        json_double(&j, m->precision[k]);
        json_key(&j, "recall");
        json_double(&j, m->recall[k]);
        json_key(&j, "f1");
        json_double(&j, m->f1[k]);
        json_key(&j, "support");
        json_int(&j, m->support[k]);
        json_key(&j, "predicted");
        json_int(&j, m->predicted[k]);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_key(&j, "confusion");
    json_array_begin(&j);
    for (size_t r = 0; r < K; r++) {
        json_array_begin(&j);
        for (size_t c = 0; c < K; c++)
            json_int(&j, m->confusion[r * K + c]);
        json_array_end(&j);
    }
    json_array_end(&j);
    json_fig(&j, "figure", &R->f_conf);
    json_object_end(&j);

    json_key(&j, "pca");
    if (R->pca) {
        json_object_begin(&j);
        json_key(&j, "components");
        json_int(&j, (int64_t)R->pca->k);
        json_doubles(&j, "explained_variance", R->pca->explained_variance, R->pca->k);
        json_doubles(&j, "explained_variance_ratio", R->pca->explained_ratio, R->pca->k);
        json_fig(&j, "figure", &R->f_pca);
        json_fig(&j, "scree_figure", &R->f_scree);
        json_object_end(&j);
    } else {
        json_null(&j);
    }

    json_key(&j, "tsne");
    if (R->ts) {
        json_object_begin(&j);
        json_key(&j, "n");
        json_int(&j, (int64_t)R->ts_n);
        json_key(&j, "subsampled");
        json_bool(&j, R->ts_n < R->N);
        json_key(&j, "perplexity");
        json_double(&j, R->ts->perplexity);
        json_key(&j, "method");
        json_string(&j, tsne_method_name(R->ts->method));
        json_key(&j, "learning_rate");
        json_double(&j, R->ts->learning_rate);
        json_key(&j, "seed");
        json_int(&j, (int64_t)p->seed);
        json_key(&j, "kl_final");
        json_double(&j, R->ts->kl_final);
        json_key(&j, "kl_iter");
        json_array_begin(&j);
        for (size_t i = 0; i < R->ts->nkl; i++)
            json_int(&j, R->ts->kl_iter[i]);
        json_array_end(&j);
        json_doubles(&j, "kl", R->ts->kl, R->ts->nkl);
        json_fig(&j, "figure", &R->f_tsne);
        json_object_end(&j);
    } else {
        json_null(&j);
    }

    json_key(&j, "prototypes");
    json_object_begin(&j);
    json_key(&j, "k");
    json_int(&j, (int64_t)R->pr->k);
    json_key(&j, "metric");
    json_string(&j, proto_metric_name(R->pr->metric));
    json_fig(&j, "nearest_figure", &R->f_near);
    json_fig(&j, "farthest_figure", &R->f_far);
    json_key(&j, "classes");
    json_array_begin(&j);
    for (size_t k = 0; k < K; k++) {
        const struct proto_class *pc = &R->pr->cls[k];
        json_object_begin(&j);
        json_key(&j, "class");
        json_string(&j, R->names[k]);
        json_key(&j, "count");
        json_int(&j, (int64_t)pc->count);
        json_rows(&j, R, "nearest", pc->near, pc->near_dist, pc->n_near);
        json_rows(&j, R, "farthest", pc->far, pc->far_dist, pc->n_far);
        json_key(&j, "medoid");
        if (pc->medoid >= 0)
            json_string(&j, R->files[pc->medoid]);
        else
            json_null(&j);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);

    json_key(&j, "explanations");
    json_object_begin(&j);
    json_key(&j, "per_class");
    json_int(&j, p->per_class);
    json_key(&j, "gradcam_layer");
    json_string(&j, R->cam_layer);
    json_key(&j, "occlusion_patch");
    json_int(&j, R->occ_patch);
    json_key(&j, "occlusion_stride");
    json_int(&j, R->occ_stride);
    json_key(&j, "images");
    json_array_begin(&j);
    for (size_t i = 0; i < R->npicks; i++) {
        const struct pick *pk = &R->picks[i];
        json_object_begin(&j);
        json_key(&j, "file");
        json_string(&j, R->files[pk->row]);
        json_key(&j, "row");
        json_int(&j, (int64_t)pk->row);
        json_key(&j, "why");
        json_string(&j, why_key[pk->why]);
        json_key(&j, "rank");
        json_int(&j, pk->rank);
        json_key(&j, "true");
        json_int(&j, R->labels[pk->row]);
        json_key(&j, "predicted");
        json_int(&j, R->pred[pk->row]);
        json_key(&j, "prob");
        json_double(&j, R->probs[pk->row * K + (size_t)R->pred[pk->row]]);
        json_fig(&j, "image", &pk->orig);
        json_key(&j, "maps");
        json_array_begin(&j);
        for (int e = 0; e < pk->nexpl; e++) {
            const struct expl *ex = &pk->ex[e];
            json_object_begin(&j);
            json_key(&j, "class");
            json_int(&j, ex->cls);
            json_fig(&j, "gradcam", &ex->cam);
            if (ex->have_cam) {
                json_key(&j, "gradcam_info");
                json_cam_info(&j, &ex->cam_info);
            }
            json_fig(&j, "occlusion", &ex->occ);
            if (ex->have_occ) {
                json_key(&j, "occlusion_info");
                json_cam_info(&j, &ex->occ_info);
            }
            json_object_end(&j);
        }
        json_array_end(&j);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);

    json_key(&j, "data_files");
    json_array_begin(&j);
    static const char *const df[] = {"embeddings.npy", "probs.npy", "predictions.npy",
                                     "labels.npy",     "files.txt", "classes.txt",
                                     "pca.npy",        "tsne.npy",  "tsne_rows.npy"};
    for (size_t i = 0; i < sizeof df / sizeof df[0]; i++) {
        if ((i == 6 && !R->pca) || (i >= 7 && !R->ts)) continue;
        char *s = xasprintf("data/%s", df[i]);
        json_string(&j, s);
        free(s);
    }
    json_array_end(&j);

    json_key(&j, "notes");
    json_array_begin(&j);
    for (size_t i = 0; i < R->res->nnotes; i++)
        json_string(&j, R->res->notes[i]);
    json_array_end(&j);

    json_key(&j, "timings");
    json_object_begin(&j);
    for (int s = 0; s < ST_PAGE; s++) {
        json_key(&j, stage_key[s]);
        json_double(&j, R->t[s]);
    }
    json_key(&j, "total");
    json_double(&j, now_seconds() - R->t0);
    json_object_end(&j);
    json_object_end(&j);
    json_finish(&j);
    return outfile_commit(&of);
}

/* ---------------------------------------------------------------- index.html */
/* Text with &, <, >, " and ' escaped (valid in content and quoted attributes). */
static void h(FILE *fp, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&#39;", fp); break;
        default:
            /* control characters are not allowed in HTML text */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc(' ', fp);
            else
                fputc(*s, fp);
        }
    }
}

/* A path, escaped, with a line-break opportunity after each '/'. */
static void h_path(FILE *fp, const char *path)
{
    for (const char *s = path; s && *s;) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) + 1 : strlen(s);
        char *part = xmalloc(n + 1);
        memcpy(part, s, n);
        part[n] = 0;
        h(fp, part);
        free(part);
        if (slash) fputs("<wbr>", fp);
        s += n;
    }
}

/* <img> with size and alt text; the relative link is our own file name, so
 * only escaping is needed. */
static void img(FILE *fp, const struct fig *f, const char *alt, const char *cls)
{
    fputs("<img src=\"", fp);
    h(fp, f->png);
    fputs("\" alt=\"", fp);
    h(fp, alt);
    fputc('"', fp);
    if (f->w > 0 && f->h > 0) fprintf(fp, " width=\"%d\" height=\"%d\"", f->w, f->h);
    if (cls) fprintf(fp, " class=\"%s\"", cls);
    fputs(">", fp);
}

/* A figure, or a paragraph saying how to render it when gnuplot was missing. */
static void figure(FILE *fp, const struct fig *f, const char *alt, const char *caption)
{
    fputs("<figure>", fp);
    if (f->png) {
        fprintf(fp, "<a href=\"");
        h(fp, f->png);
        fputs("\">", fp);
        img(fp, f, alt, NULL);
        fputs("</a>", fp);
    } else if (f->script) {
        fputs(
            "<p class=\"missing\">Not rendered: gnuplot was not installed. Run <code>gnuplot ",
            fp);
        h(fp, base_name(f->script));
        fputs("</code> in <code>figures/</code>.</p>", fp);
    } else {
        fputs("<p class=\"missing\">Not computed (see the notes).</p>", fp);
    }
    if (caption) {
        fputs("<figcaption>", fp);
        h(fp, caption);
        fputs("</figcaption>", fp);
    }
    fputs("</figure>\n", fp);
}

static const char CSS[] =
    ":root{--fg:#1d232b;--muted:#5b6573;--line:#d8dde4;--bg:#fff;--soft:#f4f6f9;"
    "--accent:#1f5fa8;--good:#1b7a3d;--bad:#b3261e}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\","
    "sans-serif;color:var(--fg);background:var(--bg)}\n"
    "header{background:var(--soft);border-bottom:1px solid var(--line);padding:18px 0 10px}\n"
    ".wrap{max-width:1280px;margin:0 auto;padding:0 24px}\n"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 10px;padding-top:8px;"
    "border-top:1px solid var(--line)}h3{font-size:16px;margin:22px 0 8px}\n"
    ".meta{color:var(--muted);margin:0 0 8px}\n"
    "pre.cmd{background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px 10px;"
    "margin:6px 0;white-space:pre-wrap;word-break:break-all;font-size:13px}\n"
    "nav{margin-top:8px;font-size:14px}nav a{margin-right:14px;color:var(--accent);"
    "text-decoration:none}nav a:hover{text-decoration:underline}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}\n"
    ".stat{background:var(--soft);border:1px solid var(--line);border-radius:8px;"
    "padding:10px 16px;min-width:150px}\n"
    ".stat b{display:block;font-size:24px}.stat span{color:var(--muted);font-size:13px}\n"
    "table{border-collapse:collapse;font-size:14px;margin:8px 0}\n"
    "th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:right}\n"
    "th:first-child,td:first-child{text-align:left}thead th{background:var(--soft)}\n"
    "tbody tr:nth-child(even){background:#fafbfc}tr.avg td{font-weight:600}\n"
    "td.bar{text-align:left}td.bar meter{width:120px}\n"
    ".narrow{max-width:560px}\n"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:18px;"
    "align-items:start}\n"
    "figure{margin:8px 0}figure img{max-width:100%;height:auto;display:block;"
    "border:1px solid var(--line)}\n"
    "figcaption{color:var(--muted);font-size:13px;margin-top:4px}\n"
    ".scroll{overflow-x:auto}\n"
    "table.gallery td{vertical-align:top;text-align:left;padding:6px}\n"
    "table.gallery th{text-align:left;font-weight:600;font-size:13px}\n"
    "table.gallery img{image-rendering:pixelated;display:block;max-width:none}\n"
    "td.about{font-size:13px;min-width:220px;max-width:340px;overflow-wrap:anywhere}\n"
    ".ok{color:var(--good);font-weight:600}.no{color:var(--bad);font-weight:600}\n"
    ".missing{background:#fff7e6;border:1px solid #f0d39a;padding:8px;border-radius:6px}\n"
    "ul.notes li{margin:2px 0}\n"
    "code{font-size:13px}\n"
    "footer{color:var(--muted);font-size:13px;margin:40px 0 30px}\n";

static void td_num(FILE *fp, double v)
{
    fprintf(fp, "<td>%.3f</td>", v);
}

static void html_metrics(FILE *fp, struct rep *R)
{
    const struct metrics *m = R->met;
    size_t K = (size_t)R->K;
    fprintf(fp,
            "<section id=\"metrics\"><h2>Metrics</h2>\n<div class=\"cards\">"
            "<div class=\"stat\"><b>%.2f%%</b><span>top-1 accuracy (%zu of %zu)</span></div>"
            "<div class=\"stat\"><b>%.2f%%</b><span>top-%zu accuracy</span></div>"
            "<div class=\"stat\"><b>%.3f</b><span>macro F1</span></div>"
            "<div class=\"stat\"><b>%.3f</b><span>weighted F1</span></div></div>\n",
            100 * m->accuracy, m->correct, m->n, 100 * R->topk, R->topk_k, m->macro_f1,
            m->weighted_f1);
    fputs("<table><thead><tr><th scope=\"col\">class</th><th scope=\"col\">precision</th>"
          "<th scope=\"col\">recall</th><th scope=\"col\">F1</th><th scope=\"col\">"
          "support</th><th scope=\"col\">predicted</th><th scope=\"col\">F1 bar</th></tr>"
          "</thead>\n<tbody>\n",
          fp);
    for (size_t k = 0; k < K; k++) {
        fputs("<tr><td>", fp);
        h(fp, R->names[k]);
        fputs("</td>", fp);
        td_num(fp, m->precision[k]);
        td_num(fp, m->recall[k]);
        td_num(fp, m->f1[k]);
        fprintf(fp,
                "<td>%lld</td><td>%lld</td><td class=\"bar\"><meter min=\"0\" max=\"1\" "
                "value=\"%.4f\">%.3f</meter></td></tr>\n",
                (long long)m->support[k], (long long)m->predicted[k], m->f1[k], m->f1[k]);
    }
    fputs("</tbody><tbody>\n<tr class=\"avg\"><td>macro average</td>", fp);
    td_num(fp, m->macro_precision);
    td_num(fp, m->macro_recall);
    td_num(fp, m->macro_f1);
    fprintf(fp,
            "<td>%zu</td><td></td><td></td></tr>\n<tr class=\"avg\"><td>weighted average</td>",
            m->n);
    td_num(fp, m->weighted_precision);
    td_num(fp, m->weighted_recall);
    td_num(fp, m->weighted_f1);
    fprintf(fp, "<td>%zu</td><td></td><td></td></tr>\n</tbody></table>\n", m->n);
    fputs("<p class=\"meta\">Precision, recall and F1 as scikit-learn's classification_report "
          "(zero_division=0); the top-k accuracy as top_k_accuracy_score.</p></section>\n",
          fp);
}

struct pair {
    size_t t, p;
    int64_t n;
};
static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return (x->p > y->p) - (x->p < y->p);
}

static void html_confusion(FILE *fp, struct rep *R)
{
    size_t K = (size_t)R->K, np = 0;
    fputs("<section id=\"confusion\"><h2>Confusion matrix</h2>\n<div class=\"grid\"><div>", fp);
    figure(fp, &R->f_conf,
           "Confusion matrix: true classes down the side, predicted classes along the bottom; "
           "colour is the fraction of the row, the text the count",
           "Rows: true class; columns: predicted class. Colour: fraction of the row.");
    fputs("</div><div><h3>Most frequent confusions</h3>\n", fp);
    struct pair *pairs = xmalloc(sizeof(struct pair) * K * K);
    for (size_t t = 0; t < K; t++)
        for (size_t p = 0; p < K; p++)
            if (t != p && R->met->confusion[t * K + p] > 0)
                pairs[np++] = (struct pair){t, p, R->met->confusion[t * K + p]};
    qsort(pairs, np, sizeof *pairs, cmp_pair);
    if (!np) {
        fputs("<p>None: every image was classified correctly.</p>", fp);
    } else {
        fputs(
            "<table><thead><tr><th scope=\"col\">true class</th><th scope=\"col\">predicted as"
            "</th><th scope=\"col\">images</th><th scope=\"col\">of the class</th></tr></thead>"
            "<tbody>\n",
            fp);
        for (size_t i = 0; i < np && i < 10; i++) {
            fputs("<tr><td>", fp);
            h(fp, R->names[pairs[i].t]);
            fputs("</td><td>", fp);
            h(fp, R->names[pairs[i].p]);
            int64_t sup = R->met->support[pairs[i].t];
            fprintf(fp, "</td><td>%lld</td><td>%.1f%%</td></tr>\n", (long long)pairs[i].n,
                    sup ? 100.0 * (double)pairs[i].n / (double)sup : 0.0);
        }
        fputs("</tbody></table>\n", fp);
    }
    free(pairs);
    fputs("</div></div></section>\n", fp);
}

static void html_embedding(FILE *fp, struct rep *R)
{
    char cap[256];
    fputs("<section id=\"embedding\"><h2>The latent space: t-SNE and PCA</h2>\n", fp);
    fprintf(fp, "<p>Each point is an image, placed by its %zu-dimensional latent (<code>",
            R->D);
    h(fp, model_tensor_name(R->m, R->latent));
    fputs("</code>) and coloured by its true class.</p>\n<div class=\"grid\"><div>", fp);
    if (R->ts) {
        snprintf(cap, sizeof cap,
                 "t-SNE of %zu images%s; perplexity %g, %s gradient, seed %llu, final KL "
                 "divergence %.3f.",
                 R->ts_n, R->ts_n < R->N ? " (sampled per class)" : "", R->ts->perplexity,
                 tsne_method_name(R->ts->method), (unsigned long long)R->p->seed,
                 R->ts->kl_final);
        figure(fp, &R->f_tsne, "t-SNE map of the latent, one colour per class", cap);
    } else {
        figure(fp, &R->f_tsne, "t-SNE map", "t-SNE was skipped (see the notes).");
    }
    fputs("</div><div>", fp);
    if (R->pca && R->pca->k >= 2) {
        snprintf(cap, sizeof cap,
                 "The first two principal components of all %zu images: %.1f%% and %.1f%% of "
                 "the variance.",
                 R->N, 100 * R->pca->explained_ratio[0], 100 * R->pca->explained_ratio[1]);
        figure(fp, &R->f_pca, "PCA of the latent: first two components, one colour per class",
               cap);
    } else {
        figure(fp, &R->f_pca, "PCA scatter", "PCA was skipped (see the notes).");
    }
    fputs("</div></div>\n", fp);
    if (R->pca) {
        fputs("<div class=\"narrow\">", fp);
        figure(fp, &R->f_scree,
               "Scree plot: explained variance ratio per principal component and cumulative",
               "Explained variance ratio per component (bars) and cumulative (line).");
        fputs("</div>\n", fp);
    }
    fputs("</section>\n", fp);
}

static void html_prototypes(FILE *fp, struct rep *R)
{
    char cap[200];
    fprintf(fp,
            "<section id=\"prototypes\"><h2>Prototypes</h2>\n<p>Per class, the %zu images "
            "whose latent is nearest to the class centroid (typical examples) and the %zu "
            "farthest from it (atypical ones, often mislabelled or ambiguous); %s distance. "
            "One row per class.</p>\n<div class=\"grid\"><div>",
            R->pr->k, R->pr->k, proto_metric_name(R->pr->metric));
    snprintf(cap, sizeof cap, "Nearest to the centroid, nearest first.");
    figure(fp, &R->f_near, "Montage: per class, the images nearest to the class centroid", cap);
    fputs("</div><div>", fp);
    snprintf(cap, sizeof cap, "Farthest from the centroid, farthest first.");
    figure(fp, &R->f_far, "Montage: per class, the images farthest from the class centroid",
           cap);
    fputs("</div></div></section>\n", fp);
}

static void gallery_cell(FILE *fp, const struct fig *f, int have, const char *alt)
{
    fputs("<td>", fp);
    if (have) img(fp, f, alt, NULL);
    fputs("</td>", fp);
}

static void html_gallery(FILE *fp, struct rep *R)
{
    size_t K = (size_t)R->K;
    fputs("<section id=\"explanations\"><h2>Explanations</h2>\n<p>", fp);
    if (R->cam_layer) {
        fputs("<b>Grad-CAM</b> (layer <code>", fp);
        h(fp, R->cam_layer);
        fputs("</code>, jet colours, 0 to the map's maximum): where the evidence for the class "
              "lies. ",
              fp);
    }
    fprintf(
        fp,
        "<b>Occlusion</b> (a %dx%d gray patch, stride %d): how much the class probability "
        "drops when a region is hidden; red = the region supports the class, blue = hiding "
        "it raises the probability. Per class: the most confident correct, the most "
        "confident wrong and a random image, in turns. A wrong prediction is also explained "
        "for its true class.</p>\n",
        R->occ_patch, R->occ_patch, R->occ_stride);
    char alt[512];
    for (size_t c = 0; c < K; c++) {
        size_t first = R->npicks;
        for (size_t i = 0; i < R->npicks; i++)
            if ((size_t)R->labels[R->picks[i].row] == c) {
                first = i;
                break;
            }
        if (first == R->npicks) continue;
        fputs("<h3>", fp);
        h(fp, R->names[c]);
        fputs("</h3>\n<div class=\"scroll\"><table class=\"gallery\"><thead><tr>"
              "<th scope=\"col\">image</th><th scope=\"col\">Grad-CAM, predicted class</th>"
              "<th scope=\"col\">occlusion, predicted class</th><th scope=\"col\">Grad-CAM, "
              "true class</th><th scope=\"col\">occlusion, true class</th><th scope=\"col\">"
              "prediction</th></tr></thead><tbody>\n",
              fp);
        for (size_t i = first; i < R->npicks && (size_t)R->labels[R->picks[i].row] == c; i++) {
            const struct pick *pk = &R->picks[i];
            const char *file = base_name(R->files[pk->row]);
            int pred = R->pred[pk->row];
            double prob = R->probs[pk->row * K + (size_t)pred];
            fputs("<tr>", fp);
            snprintf(alt, sizeof alt, "image %s", file);
            gallery_cell(fp, &pk->orig, pk->orig.png != NULL, alt);
            for (int e = 0; e < 2; e++) {
                const struct expl *ex = &pk->ex[e];
                int on = e < pk->nexpl;
                snprintf(alt, sizeof alt, "Grad-CAM of class %s over image %s",
                         R->names[ex->cls], file);
                gallery_cell(fp, &ex->cam, on && ex->have_cam, alt);
                snprintf(alt, sizeof alt, "occlusion map of class %s over image %s",
                         R->names[ex->cls], file);
                gallery_cell(fp, &ex->occ, on && ex->have_occ, alt);
            }
            fputs("<td class=\"about\">", fp);
            fputs(pred == R->labels[pk->row] ? "<span class=\"ok\">correct</span>"
                                             : "<span class=\"no\">wrong</span>",
                  fp);
            fputs(": ", fp);
            h(fp, R->names[pred]);
            fprintf(fp, " (p = %.3f)<br>%s #%d<br><code>", prob, why_text[pk->why], pk->rank);
            h_path(fp, R->files[pk->row]);
            fputs("</code></td></tr>\n", fp);
        }
        fputs("</tbody></table></div>\n", fp);
    }
    if (!R->npicks) fputs("<p>No images were explained (--per-class 0).</p>\n", fp);
    fputs("</section>\n", fp);
}

static void html_details(FILE *fp, struct rep *R)
{
    fputs("<section id=\"details\"><h2>Details</h2>\n<h3>Model</h3><table><tbody>\n", fp);
    fputs("<tr><td>file</td><td><code>", fp);
    h(fp, R->p->model_path);
    fprintf(fp,
            "</code></td></tr>\n<tr><td>input</td><td>%d x %d x %d (%s)</td></tr>\n"
            "<tr><td>classes</td><td>%d</td></tr>\n<tr><td>parameters</td><td>%zu</td></tr>\n"
            "<tr><td>latent</td><td><code>",
            R->in.c, R->in.h, R->in.w, R->in.layout == MODEL_NHWC ? "NHWC" : "NCHW", R->K,
            model_param_count(R->m));
    h(fp, model_tensor_name(R->m, R->latent));
    fprintf(fp, "</code> (%zu values)</td></tr>\n<tr><td>Grad-CAM layer</td><td><code>", R->D);
    h(fp, R->cam_layer ? R->cam_layer : "none");
    fputs("</code></td></tr>\n</tbody></table>\n", fp);

    fputs("<h3>Time per stage</h3><table><thead><tr><th scope=\"col\">stage</th>"
          "<th scope=\"col\">seconds</th></tr></thead><tbody>\n",
          fp);
    for (int s = 0; s < NSTAGES - 1; s++)
        fprintf(fp, "<tr><td>%s</td><td>%.2f</td></tr>\n", stage_name[s], R->t[s]);
    fputs("</tbody></table>\n", fp);

    if (R->res->nnotes) {
        fputs("<h3>Notes</h3><ul class=\"notes\">\n", fp);
        for (size_t i = 0; i < R->res->nnotes; i++) {
            fputs("<li>", fp);
            h(fp, R->res->notes[i]);
            fputs("</li>\n", fp);
        }
        fputs("</ul>\n", fp);
    }
    fputs("<h3>Files</h3>\n<p><a href=\"report.json\">report.json</a> holds every number on "
          "this page. For notebooks, <code>data/</code> holds <code>embeddings.npy</code> "
          "(N x D latent), <code>probs.npy</code>, <code>predictions.npy</code>, "
          "<code>labels.npy</code>, <code>pca.npy</code>, <code>tsne.npy</code> with "
          "<code>tsne_rows.npy</code> (the rows it covers), <code>files.txt</code> (the image "
          "of each row) and <code>classes.txt</code>. Every figure is a file in "
          "<code>figures/</code> or <code>gallery/</code>; the gnuplot scripts beside the "
          "figures remake them.</p>\n</section>\n",
          fp);
}

static int write_html(struct rep *R, const char *path)
{
    const struct report_params *p = R->p;
    struct outfile of;
    if (outfile_open(&of, path)) return -1;
    FILE *fp = of.fp;
    char date[64];
    format_date(p, date, sizeof date);
    const char *model = base_name(p->model_path);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>interp report: ",
          fp);
    h(fp, model);
    fprintf(fp, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", CSS);
    fputs("<header><div class=\"wrap\">\n<h1>interp report: ", fp);
    h(fp, model);
    fprintf(fp, "</h1>\n<p class=\"meta\">%zu images in %d classes from <code>", R->N, R->K);
    h(fp, p->image_dir);
    fprintf(fp, "</code> &middot; %s &middot; interp %s</p>\n", date, INTERP_VERSION);
    if (p->command) {
        fputs("<pre class=\"cmd\"><code>", fp);
        h(fp, p->command);
        fputs("</code></pre>\n", fp);
    }
    fputs("<nav aria-label=\"sections\"><a href=\"#metrics\">Metrics</a>"
          "<a href=\"#confusion\">Confusion matrix</a><a href=\"#embedding\">t-SNE and PCA</a>"
          "<a href=\"#prototypes\">Prototypes</a><a href=\"#explanations\">Explanations</a>"
          "<a href=\"#details\">Details</a><a href=\"report.json\">report.json</a></nav>\n"
          "</div></header>\n<main class=\"wrap\">\n",
          fp);
    html_metrics(fp, R);
    html_confusion(fp, R);
    html_embedding(fp, R);
    html_prototypes(fp, R);
    html_gallery(fp, R);
    html_details(fp, R);
    fprintf(fp,
            "<footer>Made by interp %s. No scripts, no network: this folder is the whole "
            "report.</footer>\n</main>\n</body>\n</html>\n",
            INTERP_VERSION);
    return outfile_commit(&of);
}

/* ---------------------------------------------------------------- driver */
static void rep_release(struct rep *R)
{
    free(R->out);
    free(R->figdir);
    free(R->galdir);
    free(R->datadir);
    if (R->names)
        for (int k = 0; k < R->K; k++)
            free(R->names[k]);
    free(R->names);
    for (size_t k = 0; k < R->nfolders; k++)
        free(R->folders[k]);
    free(R->folders);
    for (size_t i = 0; i < R->N; i++)
        free(R->files[i]);
    free(R->files);
    free(R->labels);
    free(R->emb);
    free(R->probs);
    free(R->probs_d);
    free(R->pred);
    metrics_free(R->met);
    pca_free(R->pca);
    free(R->pca_scores);
    tsne_result_free(R->ts);
    free(R->ts_rows);
    prototypes_free(R->pr);
    for (size_t i = 0; i < R->npicks; i++) {
        fig_release(&R->picks[i].orig);
        for (int e = 0; e < 2; e++) {
            fig_release(&R->picks[i].ex[e].cam);
            fig_release(&R->picks[i].ex[e].occ);
        }
    }
    free(R->picks);
    fig_release(&R->f_conf);
    fig_release(&R->f_pca);
    fig_release(&R->f_scree);
    fig_release(&R->f_tsne);
    fig_release(&R->f_near);
    fig_release(&R->f_far);
    model_free(R->m);
}

/* Runs stage st, adding its wall time to R->t[st]. */
#define RUN(st, call)                                                                          \
    do {                                                                                       \
        double t_ = now_seconds();                                                             \
        int rc_ = (call);                                                                      \
        R.t[st] += now_seconds() - t_;                                                         \
        if (rc_) goto fail;                                                                    \
    } while (0)

int report_run(const struct report_params *p, struct report_result *res)
{
    memset(res, 0, sizeof *res);
    if (!p || !p->model_path || !p->image_dir || !p->out_dir)
        return error_set(ERR_INPUT, NULL,
                         "report: model, image folder and output folder needed");
    if (p->per_class < 0 || p->batch < 0 || p->proto_k < 0 || p->occ_patch < 0 ||
        p->occ_stride < 0)
        return error_set(ERR_INPUT, NULL, "report: negative parameter");
    struct rep R = {0};
    R.p = p;
    R.res = res;
    R.t0 = now_seconds();
    R.out = xstrdup(p->out_dir);
    R.figdir = path_join(p->out_dir, "figures");
    R.galdir = path_join(p->out_dir, "gallery");
    R.datadir = path_join(p->out_dir, "data");
    char *json_path = path_join(p->out_dir, "report.json");
    char *html_path = path_join(p->out_dir, "index.html");

    RUN(ST_EMBED, out_check(&R));
    RUN(ST_EMBED, list_dataset(&R));
    RUN(ST_EMBED, open_model(&R));
    if (dir_ensure(R.out) || dir_ensure(R.figdir) || dir_ensure(R.galdir) ||
        dir_ensure(R.datadir))
        goto fail;
    RUN(ST_EMBED, stage_embed(&R));
    RUN(ST_METRICS, stage_metrics(&R));
    RUN(ST_PCA, stage_pca(&R));
    RUN(ST_TSNE, stage_tsne(&R));
    RUN(ST_PROTO, stage_prototypes(&R));
    choose_picks(&R);
    RUN(ST_GRADCAM, stage_gradcam(&R));
    RUN(ST_OCCL, stage_occlusion(&R));
    stage(&R, ST_PAGE, 0, 2, NULL);
    {
        /* report.json's "total" runs to the moment it is written; the page
         * itself takes milliseconds after that */
        if (write_json(&R, json_path) || write_html(&R, html_path)) goto fail;
    }
    stage(&R, ST_PAGE, 2, 2, NULL);
    res->index_html = html_path;
    res->report_json = json_path;
    res->images = R.N;
    res->nclasses = (size_t)R.K;
    res->accuracy = R.met->accuracy;
    res->seconds = now_seconds() - R.t0;
    rep_release(&R);
    return 0;
fail:;
    int code = error_code() ? error_code() : ERR_FAIL;
    rep_release(&R);
    free(json_path);
    free(html_path);
    report_result_release(res);
    return code;
}
