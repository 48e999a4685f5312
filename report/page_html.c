/* page_html.c - index.html: a static page with no script and no network,
 * every figure a PNG beside it under a relative link.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/outfile.h"
#include "../core/util.h"
#include "report_int.h"

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
        h(fp, rep_base_name(f->script));
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
            const char *file = rep_base_name(R->files[pk->row]);
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
            fprintf(fp, " (p = %.3f)<br>%s #%d<br><code>", prob, rep_why_text[pk->why],
                    pk->rank);
            h_path(fp, R->files[pk->row]);
            fputs("</code></td></tr>\n", fp);
        }
        fputs("</tbody></table></div>\n", fp);
    }
    if (!R->npicks) fputs("<p>No images were explained (--per-class 0).</p>\n", fp);
    fputs("</section>\n", fp);
}

/* "0.123 &plusmn; 0.045" (the spread only over several images) */
static void stat_cell(FILE *fp, struct eval_stat s, int n)
{
    if (isnan(s.mean)) {
        fputs("<td>&ndash;</td>", fp);
        return;
    }
    fprintf(fp, "<td>%.3f", s.mean);
    if (n > 1) fprintf(fp, " <small>&plusmn; %.3f</small>", s.sd);
    fputs("</td>", fp);
}

static void html_trust(FILE *fp, struct rep *R)
{
    const struct eval_result *E = &R->trust;
    fputs("<section id=\"trust\"><h2>Can these maps be trusted?</h2>\n", fp);
    if (E->nmeth == 0) {
        fputs("<p>Not evaluated (--trust-images 0, or see the notes).</p></section>\n", fp);
        return;
    }
    fprintf(fp,
            "<p>A map is a claim about the model. On %d of the explained images, each "
            "method's map of the predicted class was put to three published tests. "
            "<b>Deletion and insertion</b> (Petsiuk et al. 2018): the pixels are replaced "
            "by %s in the map's order (most relevant first), or put back into %s, in %d "
            "steps; the area under the class probability is small for deletion and large "
            "for insertion when the map found what the model uses. <b>ROAD</b> (Rong et al. "
            "2022): the most (MoRF) or least (LeRF) relevant 10&ndash;90%% of the pixels "
            "are filled in by noisy linear imputation, which hides less of the removal's "
            "shape than a constant; the gap LeRF &minus; MoRF is larger for a faithful map. "
            "<b>Randomization</b> (Adebayo et al. 2018): the model's %d weight layers are "
            "re-initialised from the logits down, one more at a time, and each map is "
            "recomputed: a map that explains the model must change. A method <b>fails</b> "
            "this sanity check when the Spearman rank correlation of |map| with the "
            "original, averaged over the steps, is %.2f or more. Two controls ignore the "
            "model: a random map and an edge detector (Sobel), the baselines a useful map "
            "must beat. This section took %.1f s (it costs the same whatever the number of "
            "images in the folder: --trust-images sets how many are tested).</p>\n",
            E->nimg, eval_substrate_name(EVAL_SUB_GRAY) /* the report's defaults */,
            "a blurred copy", E->steps, E->nlayers, R->trust_fail_rho, R->trust_seconds);
    fputs("<p>Images: ", fp);
    for (int i = 0; i < E->nimg; i++) {
        fputs(i ? ", <code>" : "<code>", fp);
        h(fp, rep_base_name(R->trust_img[i]));
        fprintf(fp, "</code> (%s, p = %.3f)", R->names[E->pred[i]], E->prob[i]);
    }
    fputs(".</p>\n<div class=\"scroll\"><table><thead><tr><th scope=\"col\">method</th>"
          "<th scope=\"col\">deletion AUC &darr;</th><th scope=\"col\">insertion AUC "
          "&uarr;</th><th scope=\"col\">ROAD MoRF &darr;</th><th scope=\"col\">ROAD LeRF "
          "&uarr;</th><th scope=\"col\">ROAD gap &uarr;</th><th scope=\"col\">randomization: "
          "mean Spearman |map|</th><th scope=\"col\">all layers random: Spearman |map|, "
          "SSIM</th><th scope=\"col\">sanity check</th></tr></thead><tbody>\n",
          fp);
    for (int j = 0; j < E->nmeth; j++) {
        const struct eval_summary_row *r = &R->trust_sum[j];
        fputs("<tr><th scope=\"row\">", fp);
        h(fp, E->methods[j]);
        if (E->controls[j]) fputs(" <small>(control)</small>", fp);
        fputs("</th>", fp);
        stat_cell(fp, r->del_auc, E->nimg);
        stat_cell(fp, r->ins_auc, E->nimg);
        stat_cell(fp, r->morf, E->nimg);
        stat_cell(fp, r->lerf, E->nimg);
        stat_cell(fp, r->road_gap, E->nimg);
        stat_cell(fp, r->casc_mean_rho_abs, E->nimg);
        fprintf(fp, "<td>%.2f, %.2f</td>", r->casc_rho_abs.mean, r->casc_ssim.mean);
        fprintf(fp, "<td>%s</td></tr>\n",
                r->fails ? "<span class=\"no\">fails</span>"
                         : "<span class=\"ok\">passes</span>");
    }
    fputs("</tbody></table></div>\n<ul>\n", fp);
    for (int j = 0; j < E->nmeth; j++) {
        fputs("<li>", fp);
        h(fp, R->trust_text[j]);
        fputs("</li>\n", fp);
    }
    fputs("</ul>\n<div class=\"grid\"><div>", fp);
    figure(fp, &R->f_trust[0],
           "Deletion curves: class probability against the fraction deleted",
           "Deletion: the mean class probability as the most relevant pixels go first.");
    fputs("</div><div>", fp);
    figure(
        fp, &R->f_trust[1], "Insertion curves: class probability against the fraction inserted",
        "Insertion: the mean class probability as the most relevant pixels come back first.");
    fputs("</div></div>\n<div class=\"grid\"><div>", fp);
    figure(fp, &R->f_trust[2], "ROAD, most relevant first",
           "ROAD, most relevant first: lower is more faithful.");
    fputs("</div><div>", fp);
    figure(fp, &R->f_trust[4], "Cascading randomization curves",
           "Rank correlation of each map with the trained model's as layers are re-initialised "
           "from the logits down.");
    fputs("</div></div>\n", fp);
    fputs("<figure>", fp);
    if (R->f_montage.png)
        img(fp, &R->f_montage, "Montage of the cascading randomization", NULL);
    fputs("<figcaption>Cascading randomization of <code>", fp);
    h(fp, rep_base_name(R->trust_img[0]));
    fputs("</code>: a row per method, the trained model's map then the maps with the top "
          "layers re-initialised (each scaled to its own maximum |value|).</figcaption>"
          "</figure>\n</section>\n",
          fp);
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
        fprintf(fp, "<tr><td>%s</td><td>%.2f</td></tr>\n", rep_stage_name[s], R->t[s]);
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

int rep_write_html(struct rep *R, const char *path)
{
    const struct report_params *p = R->p;
    struct outfile of;
    if (outfile_open(&of, path)) return -1;
    FILE *fp = of.fp;
    char date[64];
    rep_format_date(p, date, sizeof date);
    const char *model = rep_base_name(p->model_path);
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
    fputs("</code>", fp);
    if (p->on_error == DATASET_SKIP)
        fprintf(fp,
                " &middot; %zu file%s skipped that could not be read "
                "(<a href=\"skipped.txt\">the list, with the reasons</a>)",
                R->skips.n, R->skips.n == 1 ? "" : "s");
    fprintf(fp, " &middot; %s &middot; interp %s</p>\n", date, INTERP_VERSION);
    if (p->command) {
        fputs("<pre class=\"cmd\"><code>", fp);
        h(fp, p->command);
        fputs("</code></pre>\n", fp);
    }
    fputs("<nav aria-label=\"sections\"><a href=\"#metrics\">Metrics</a>"
          "<a href=\"#confusion\">Confusion matrix</a><a href=\"#embedding\">t-SNE and PCA</a>"
          "<a href=\"#prototypes\">Prototypes</a><a href=\"#explanations\">Explanations</a>"
          "<a href=\"#trust\">Trust</a>"
          "<a href=\"#details\">Details</a><a href=\"report.json\">report.json</a></nav>\n"
          "</div></header>\n<main class=\"wrap\">\n",
          fp);
    html_metrics(fp, R);
    html_confusion(fp, R);
    html_embedding(fp, R);
    html_prototypes(fp, R);
    html_gallery(fp, R);
    html_trust(fp, R);
    html_details(fp, R);
    fprintf(fp,
            "<footer>Made by interp %s. No scripts, no network: this folder is the whole "
            "report.</footer>\n</main>\n</body>\n</html>\n",
            INTERP_VERSION);
    return outfile_commit(&of);
}
