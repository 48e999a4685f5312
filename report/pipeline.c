/* pipeline.c - `interp report`'s engine: embed and predict a folder of class
 * folders, then metrics, PCA, t-SNE, prototypes and explanations, written as
 * figures beside one static HTML page (no JavaScript) and report.json.
 * Streams the images (only the latent and probabilities stay in memory).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../analysis/affinity.h"
#include "../core/error.h"
#include "../core/namelist.h"
#include "../core/outfile.h"
#include "../core/rng.h"
#include "../core/util.h"
#include "../plots/colormap.h"
#include "report_int.h"

struct report_params report_params_default(void)
{
    struct report_params p = {0};
    p.per_class = 3;
    p.tsne_max = 5000;
    p.seed = 42;
    p.batch = 64;
    p.proto_k = 5;
    p.trust_images = 3;
    p.trust_steps = 50;
    p.prep = model_prep_default();
    return p;
}

void report_result_release(struct report_result *r)
{
    if (!r) return;
    free(r->index_html);
    free(r->report_json);
    free(r->skipped_txt);
    for (size_t i = 0; i < r->nnotes; i++)
        free(r->notes[i]);
    free(r->notes);
    memset(r, 0, sizeof *r);
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

/* The class folders of image_dir and their images (core/dataset.h); what
 * the walk passed over becomes notes. */
static int scan_images(struct rep *R)
{
    if (dataset_scan(R->p->image_dir, DATASET_CLASSES, &R->ds)) return -1;
    for (size_t i = 0; i < R->ds.nnotes; i++)
        rep_note(R, "%s", R->ds.notes[i]);
    R->files = R->ds.files;
    R->labels = R->ds.labels;
    R->N = R->ds.n;
    return 0;
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
        rep_note(R, "%s: no dense layer: the embedding analysis uses the class scores",
                 p->model_path);
    }
    R->D = model_tensor_item(R->m, R->latent);
    if ((size_t)R->K < R->ds.nclasses)
        return error_set(ERR_INPUT, p->image_dir,
                         "%zu class folders, but the model has %d classes", R->ds.nclasses,
                         R->K);
    if ((size_t)R->K > R->ds.nclasses)
        rep_note(R,
                 "%s: %zu class folders for a model of %d classes (ids %zu..%d have no images)",
                 p->image_dir, R->ds.nclasses, R->K, R->ds.nclasses, R->K - 1);
    if (p->class_names && p->nclass_names != (size_t)R->K)
        return error_set(ERR_INPUT, NULL, "%zu class names for a model of %d classes",
                         p->nclass_names, R->K);
    R->names = xcalloc((size_t)R->K, sizeof(char *));
    for (int k = 0; k < R->K; k++)
        R->names[k] = p->class_names               ? xstrdup(p->class_names[k])
                      : (size_t)k < R->ds.nclasses ? xstrdup(R->ds.classes[k])
                                                   : xasprintf("class %d", k);
    return 0;
}

/* ---------------------------------------------------------------- 1 embed */
/* With on_error skip, once the images left out are known (R->skips, rows of
 * the walk): they leave the data set, so every later stage and data/ file
 * covers the others alone; skipped.txt is written and noted. ERR_INPUT when
 * none of the images could be read. */
static int embed_skips(struct rep *R)
{
    const struct report_params *p = R->p;
    if (p->on_error != DATASET_SKIP) return 0;
    size_t total = R->N;
    dataset_skips_sort(&R->skips);
    dataset_drop_skipped(&R->ds, &R->skips);
    R->files = R->ds.files, R->labels = R->ds.labels, R->N = R->ds.n;
    R->skipped_txt = path_join(R->out, "skipped.txt");
    if (dataset_skips_write(&R->skips, R->skipped_txt) ||
        dataset_skips_all(&R->skips, total, p->image_dir))
        return -1;
    if (R->skips.n)
        rep_note(R,
                 "skipped %zu of %zu images that could not be read (listed with the "
                 "reasons in %s)",
                 R->skips.n, total, R->skipped_txt);
    return 0;
}

/* After the embeddings and float probabilities are in: the double
 * probabilities, the predictions as `interp metrics --probs` takes them
 * (numpy's argmax), and the data/ files. */
static int embed_finish(struct rep *R)
{
    size_t N = R->N, D = R->D, K = (size_t)R->K;
    for (size_t i = 0; i < N * K; i++)
        R->probs_d[i] = R->probs[i];
    if (metrics_argmax(R->probs_d, N, K, R->pred)) return -1;
    if (rep_save_npy(R, "embeddings.npy", DT_F32, 2, N, D, R->emb) ||
        rep_save_npy(R, "probs.npy", DT_F32, 2, N, K, R->probs) ||
        rep_save_npy(R, "predictions.npy", DT_I32, 1, N, 1, R->pred) ||
        rep_save_npy(R, "labels.npy", DT_I32, 1, N, 1, R->labels) ||
        rep_save_lines(R, "files.txt", R->files, N) ||
        rep_save_lines(R, "classes.txt", R->names, K))
        return -1;
    return 0;
}

/* The buffers of the first stage: emb, probs (float and double), pred. */
static int embed_alloc(struct rep *R)
{
    size_t N = R->N, D = R->D, K = (size_t)R->K, b1, b2;
    if (!mul3_ok(N, D, sizeof(float), &b1) || !mul3_ok(N, K, sizeof(double), &b2))
        return error_set(ERR_INPUT, R->p->image_dir, "too many images (%zu)", N);
    if (!(R->emb = big_alloc(b1, NULL, "embedding matrix")) ||
        !(R->probs = big_alloc(b2 / 2, NULL, "probabilities")) ||
        !(R->probs_d = big_alloc(b2, NULL, "probabilities")) ||
        !(R->pred = big_alloc(sizeof(int32_t) * N, NULL, "predictions")))
        return -1;
    return 0;
}

static int stage_embed(struct rep *R)
{
    const struct report_params *p = R->p;
    size_t N = R->N, D = R->D, K = (size_t)R->K, b3, nrows;
    int batch = p->batch > 0 ? p->batch : 64;
    /* the batches `interp embed --batch` runs: whole batches of the
     * class-interleaved order, an image that cannot be read (on_error skip)
     * leaving its batch one short, so the rows are those embed writes, bit
     * for bit */
    int64_t *rows = dataset_shard(&R->ds, 0, 1, (size_t)batch, &nrows);
    if (!rows) return -1;
    if ((size_t)batch > N) batch = (int)(N ? N : 1);
    if (!mul3_ok((size_t)batch, R->item, sizeof(float), &b3)) {
        free(rows);
        return error_set(ERR_INPUT, p->image_dir, "too many images (%zu)", N);
    }
    struct model_run *run = model_run_new(R->m, batch, MODEL_RUN_FORWARD, &R->latent, 1);
    float *x = NULL, *pb = NULL;
    unsigned char *ok = NULL;
    int *slot = xmalloc(sizeof(int) * (size_t)batch), rc = -1;
    if (!run || embed_alloc(R) || !(x = big_alloc(b3, NULL, "image batch")) ||
        !(pb = big_alloc(sizeof(float) * K * (size_t)batch, NULL, "probabilities")) ||
        !(ok = big_calloc(N ? N : 1, NULL, "row flags")))
        goto done;
    rep_stage(R, ST_EMBED, 0, N, NULL);
    for (size_t b0 = 0; b0 < N; b0 += (size_t)batch) {
        int cnt = N - b0 < (size_t)batch ? (int)(N - b0) : batch, n = 0;
        for (int i = 0; i < cnt; i++) {
            size_t row = (size_t)rows[b0 + (size_t)i];
            if (model_preprocess_file(R->m, R->files[row], &p->prep, x + (size_t)n * R->item)) {
                if (dataset_skip(&R->skips, row, R->files[row])) goto done;
                continue;
            }
            slot[n++] = i;
        }
        if (n) {
            model_forward(run, x, n);
            const float *lat = model_run_tensor(run, R->latent);
            model_run_probs(run, pb);
            for (int i = 0; i < n; i++) {
                size_t o = (size_t)rows[b0 + (size_t)slot[i]];
                memcpy(R->emb + o * D, lat + (size_t)i * D, sizeof(float) * D);
                memcpy(R->probs + o * K, pb + (size_t)i * K, sizeof(float) * K);
                ok[o] = 1;
            }
        }
        rep_stage(R, ST_EMBED, b0 + (size_t)cnt, N, NULL);
    }
    /* the rows that were read, squeezed together in the walk's order */
    for (size_t o = 0, k = 0; o < N; o++)
        if (ok[o]) {
            if (k != o) {
                memmove(R->emb + k * D, R->emb + o * D, sizeof(float) * D);
                memmove(R->probs + k * K, R->probs + o * K, sizeof(float) * K);
            }
            k++;
        }
    if (!embed_skips(R)) rc = embed_finish(R);
done:
    free(x);
    free(pb);
    free(ok);
    free(slot);
    free(rows);
    model_run_free(run);
    return rc;
}

/* A text file of from_dir as lines, compared with want[0..n): ERR_INPUT
 * naming the file and the first line that differs. */
static int from_lines_check(struct rep *R, const char *name, char *const *want, size_t n,
                            const char *what)
{
    char *path = path_join(R->p->from_dir, name);
    struct filebuf fb = {0};
    int rc = filebuf_load(&fb, path);
    const char *s = (const char *)fb.data, *end = s + fb.len;
    for (size_t i = 0; !rc && i <= n; i++) {
        const char *nl = s < end ? memchr(s, '\n', (size_t)(end - s)) : NULL;
        if (i == n) {
            if (s < end)
                rc = error_set(ERR_INPUT, path, "more than the %zu lines of %s", n, what);
            break;
        }
        if (!nl) {
            rc = error_set(ERR_INPUT, path, "%zu lines, %s has %zu", i, what, n);
            break;
        }
        size_t len = (size_t)(nl - s);
        char *q = namelist_quote(want[i]); /* the line as interp writes it */
        if (len != strlen(q) || memcmp(s, q, len))
            rc = error_set(ERR_INPUT, path, "line %zu is '%.*s', %s has '%s'", i + 1,
                           (int)(len > 200 ? 200 : len), s, what, q);
        free(q);
        s = nl + 1;
    }
    filebuf_release(&fb);
    free(path);
    return rc;
}

/* An array of from_dir with the expected shape (cols 0: a vector). */
static struct array *from_array(struct rep *R, const char *name, enum dtype t, size_t cols,
                                const char *cols_what)
{
    char *path = path_join(R->p->from_dir, name);
    struct array_opts o = array_opts_default();
    o.want_ndim = cols ? 2 : 1;
    struct array *a = array_load(path, &o, t);
    if (a && (array_rows(a) != R->N || (cols && array_cols(a) != cols))) {
        error_set(ERR_INPUT, path, "%zu x %zu, expected %zu rows (the images of %s)%s%s%s",
                  array_rows(a), cols ? array_cols(a) : 1, R->N, R->p->image_dir,
                  cols ? " of " : "", cols ? cols_what : "", cols ? " values" : "");
        array_free(a);
        a = NULL;
    }
    free(path);
    return a;
}

/* The images that from_dir's skipped.txt (interp embed --on-error skip)
 * left out, placed in the walk as R->skips: they must be images of the walk,
 * in its order. A folder without skipped.txt left none out. With on_error
 * stop, a folder that left any out is refused: the report would not cover
 * every image. */
static int from_skips(struct rep *R)
{
    char *path = path_join(R->p->from_dir, "skipped.txt");
    int rc = 0;
    if (access(path, F_OK) != 0) goto out;
    struct dataset_skips sk = {.policy = DATASET_SKIP};
    if ((rc = dataset_skips_read(path, &sk))) goto out;
    if (sk.n && R->p->on_error != DATASET_SKIP) {
        rc = error_set(ERR_INPUT, path,
                       "%zu image%s of %s %s left out by `interp embed --on-error skip` "
                       "(the first, %s: %s); the report takes such a folder with --on-error "
                       "skip",
                       sk.n, sk.n == 1 ? "" : "s", R->p->image_dir, sk.n == 1 ? "was" : "were",
                       sk.files[0], sk.reasons[0]);
    } else {
        size_t k = 0;
        for (size_t i = 0; i < R->N && k < sk.n; i++)
            if (!strcmp(R->files[i], sk.files[k])) sk.rows[k++] = i;
        if (k < sk.n) {
            char *q = namelist_quote(sk.files[k]);
            rc = error_set(ERR_INPUT, path,
                           "line %zu names %s, which is not an image of the walk of %s (or "
                           "not in its order)",
                           k + 1, q, R->p->image_dir);
            free(q);
        }
    }
    if (!rc && sk.n) { /* R->skips holds nothing yet: the first stage */
        enum dataset_on_error policy = R->skips.policy;
        dataset_skips_release(&R->skips);
        R->skips = sk, R->skips.policy = policy;
        memset(&sk, 0, sizeof sk);
    }
    dataset_skips_release(&sk);
out:
    free(path);
    return rc;
}

/* The first stage from an `interp embed` (or merged) folder: checked against
 * the walk of image_dir (less the images its skipped.txt lists) and the
 * model, then used as stage_embed's results. */
static int stage_from(struct rep *R)
{
    const char *from = R->p->from_dir;
    rep_stage(R, ST_EMBED, 0, R->N, NULL);
    if (from_skips(R) || embed_skips(R)) return -1;
    size_t N = R->N, D = R->D, K = (size_t)R->K;
    char what[64], dim[160];
    snprintf(what, sizeof what, "the walk of %.40s", R->p->image_dir);
    snprintf(dim, sizeof dim, "the model's latent, %.100s,",
             model_tensor_name(R->m, R->latent));
    if (from_lines_check(R, "files.txt", R->files, N, what) ||
        from_lines_check(R, "classes.txt", R->ds.classes, R->ds.nclasses, what))
        return -1;
    struct array *e = NULL, *pr = NULL, *lab = NULL, *pred = NULL;
    int rc = -1;
    if (!(lab = from_array(R, "labels.npy", DT_I32, 0, NULL)) ||
        !(e = from_array(R, "embeddings.npy", DT_F32, D, dim)) ||
        !(pr = from_array(R, "probs.npy", DT_F32, K, "the model's classes")) ||
        !(pred = from_array(R, "predictions.npy", DT_I32, 0, NULL)) || embed_alloc(R))
        goto done;
    char *p;
    for (size_t i = 0; i < N; i++)
        if (((int32_t *)lab->data)[i] != R->labels[i]) {
            p = path_join(from, "labels.npy");
            error_set(ERR_INPUT, p, "row %zu is class %d, its folder says %d", i,
                      (int)((int32_t *)lab->data)[i], (int)R->labels[i]);
            free(p);
            goto done;
        }
    memcpy(R->emb, e->data, sizeof(float) * N * D);
    memcpy(R->probs, pr->data, sizeof(float) * N * K);
    if (embed_finish(R)) goto done;
    for (size_t i = 0; i < N; i++)
        if (((int32_t *)pred->data)[i] != R->pred[i]) {
            p = path_join(from, "predictions.npy");
            error_set(ERR_INPUT, p, "row %zu is class %d, the argmax of probs.npy is %d", i,
                      (int)((int32_t *)pred->data)[i], (int)R->pred[i]);
            free(p);
            goto done;
        }
    rep_note(R, "embeddings, probabilities and predictions read from %s (not computed)", from);
    rep_stage(R, ST_EMBED, N, N, NULL);
    rc = 0;
done:
    array_free(e);
    array_free(pr);
    array_free(lab);
    array_free(pred);
    return rc;
}

/* ---------------------------------------------------------------- 2 metrics */
static int stage_metrics(struct rep *R)
{
    size_t K = (size_t)R->K;
    rep_stage(R, ST_METRICS, 0, 2, NULL);
    if (!(R->met = metrics_compute(R->labels, R->N, R->pred, R->N, K))) return -1;
    R->topk_k = K < 5 ? K : 5;
    if (metrics_top_k(R->labels, R->N, R->probs_d, R->N, K, R->topk_k, &R->topk, NULL))
        return -1;
    rep_stage(R, ST_METRICS, 1, 2, NULL);
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
    rep_fig_from_plot(R, &R->f_conf, "confusion", &pr);
    rep_stage(R, ST_METRICS, 2, 2, NULL);
    return 0;
}

/* ---------------------------------------------------------------- 3 PCA */
static int stage_pca(struct rep *R)
{
    size_t N = R->N, D = R->D;
    if (N < 3) {
        rep_note(R, "PCA skipped: %zu image%s", N, N == 1 ? "" : "s");
        return 0;
    }
    rep_stage(R, ST_PCA, 0, 1, NULL);
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
    if (rep_save_npy(R, "pca.npy", DT_F32, 2, N, k, R->pca_scores)) return -1;
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
        rep_fig_from_plot(R, &R->f_pca, "pca", &pr);
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
    rep_fig_from_plot(R, &R->f_scree, "scree", &pr);
    rep_stage(R, ST_PCA, 1, 1, NULL);
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
            size_t j = t + (size_t)splitmix64_below(&s, nc - t), tmp = idx[t];
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
        rep_note(R, "t-SNE skipped: %zu images are too few", m);
        return 0;
    }
    tsne_sample(R, m);
    m = R->ts_n;
    if (m < N)
        rep_note(R, "t-SNE on %zu of the %zu images (--tsne-max), sampled per class", m, N);
    if (tp.perplexity > affinity_max_perplexity(m)) {
        tp.perplexity = floor(affinity_max_perplexity(m));
        rep_note(R, "t-SNE perplexity lowered to %g for %zu images", tp.perplexity, m);
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
    if (rep_save_npy(R, "tsne.npy", DT_F32, 2, m, 2, R->ts->y) ||
        rep_save_npy(R, "tsne_rows.npy", DT_I64, 1, m, 1, R->ts_rows))
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
    rep_fig_from_plot(R, &R->f_tsne, "tsne", &pr);
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
    if (!rc) rep_fig_from_file(R, f, "figures", name);
    for (size_t i = 0; i < rows * k; i++)
        image_free((struct image *)cells[i]);
    free(cells);
    free(labels);
    return rc;
}

static int stage_prototypes(struct rep *R)
{
    rep_stage(R, ST_PROTO, 0, 3, NULL);
    struct proto_params pp = proto_params_default();
    pp.k = R->p->proto_k > 0 ? (size_t)R->p->proto_k : 5;
    if (!(R->pr = prototypes_compute(R->emb, R->N, R->D, R->labels, R->N, (size_t)R->K, &pp)))
        return -1;
    rep_stage(R, ST_PROTO, 1, 3, NULL);
    if (write_montage(R, 0, &R->f_near)) return -1;
    rep_stage(R, ST_PROTO, 2, 3, NULL);
    if (write_montage(R, 1, &R->f_far)) return -1;
    rep_stage(R, ST_PROTO, 3, 3, NULL);
    return 0;
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
    dataset_release(&R->ds);
    dataset_skips_release(&R->skips);
    free(R->skipped_txt);
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
        rep_fig_release(&R->picks[i].orig);
        for (int e = 0; e < 2; e++) {
            rep_fig_release(&R->picks[i].ex[e].cam);
            rep_fig_release(&R->picks[i].ex[e].occ);
        }
    }
    free(R->picks);
    rep_fig_release(&R->f_conf);
    rep_fig_release(&R->f_pca);
    rep_fig_release(&R->f_scree);
    rep_fig_release(&R->f_tsne);
    rep_fig_release(&R->f_near);
    rep_fig_release(&R->f_far);
    rep_trust_release(R);
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
    R.skips.policy = p->on_error;
    R.t0 = now_seconds();
    R.out = xstrdup(p->out_dir);
    R.figdir = path_join(p->out_dir, "figures");
    R.galdir = path_join(p->out_dir, "gallery");
    R.datadir = path_join(p->out_dir, "data");
    char *json_path = path_join(p->out_dir, "report.json");
    char *html_path = path_join(p->out_dir, "index.html");

    RUN(ST_EMBED, out_check(&R));
    RUN(ST_EMBED, scan_images(&R));
    RUN(ST_EMBED, open_model(&R));
    if (dir_ensure(R.out) || dir_ensure(R.figdir) || dir_ensure(R.galdir) ||
        dir_ensure(R.datadir))
        goto fail;
    RUN(ST_EMBED, p->from_dir ? stage_from(&R) : stage_embed(&R));
    RUN(ST_METRICS, stage_metrics(&R));
    RUN(ST_PCA, stage_pca(&R));
    RUN(ST_TSNE, stage_tsne(&R));
    RUN(ST_PROTO, stage_prototypes(&R));
    rep_choose_picks(&R);
    RUN(ST_GRADCAM, rep_stage_gradcam(&R));
    RUN(ST_OCCL, rep_stage_occlusion(&R));
    RUN(ST_TRUST, rep_stage_trust(&R));
    rep_stage(&R, ST_PAGE, 0, 2, NULL);
    {
        /* report.json's "total" runs to the moment it is written; the page
         * itself takes milliseconds after that */
        if (rep_write_json(&R, json_path) || rep_write_html(&R, html_path)) goto fail;
    }
    rep_stage(&R, ST_PAGE, 2, 2, NULL);
    res->index_html = html_path;
    res->report_json = json_path;
    res->images = R.N;
    res->skipped = R.skips.n;
    if (R.skipped_txt) res->skipped_txt = xstrdup(R.skipped_txt);
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
