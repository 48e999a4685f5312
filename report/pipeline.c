/* pipeline.c - `interp report`'s engine: embed and predict a folder of class
 * folders (embed.c), then metrics, PCA, t-SNE, prototypes, explanations
 * (explain.c) and the trust section (trust.c), written as figures beside one
 * static HTML page (no JavaScript) and report.json. Streams the images (only
 * the latent and probabilities stay in memory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/affinity.h"
#include "../core/error.h"
#include "../core/outfile.h"
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
    RUN(ST_EMBED, p->from_dir ? rep_stage_from(&R) : rep_stage_embed(&R));
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
