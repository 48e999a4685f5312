/* page_json.c - report.json: every number of the page, the files it links,
 * the notes and the time of each stage, for notebooks.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/json.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "report_int.h"

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

int rep_write_json(struct rep *R, const char *path)
{
    const struct report_params *p = R->p;
    size_t K = (size_t)R->K;
    struct outfile of;
    if (outfile_open(&of, path)) return -1;
    struct json j;
    json_init(&j, of.fp);
    char date[64];
    rep_format_date(p, date, sizeof date);
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
    json_string(&j, rep_base_name(p->model_path));
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
    json_int(&j, (int64_t)R->ds.skipped);
    if (p->on_error == DATASET_SKIP) {
        /* images left out by --on-error skip: the rows above are the others */
        json_key(&j, "skipped_images");
        json_array_begin(&j);
        for (size_t i = 0; i < R->skips.n; i++) {
            json_object_begin(&j);
            json_key(&j, "file");
            json_string(&j, R->skips.files[i]);
            json_key(&j, "reason");
            json_string(&j, R->skips.reasons[i]);
            json_object_end(&j);
        }
        json_array_end(&j);
        json_key(&j, "skipped_txt");
        json_string(&j, "skipped.txt");
    }
    json_key(&j, "class_folders");
    json_array_begin(&j);
    for (size_t k = 0; k < R->ds.nclasses; k++)
        json_string(&j, R->ds.classes[k]);
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
        json_string(&j, rep_why_key[pk->why]);
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

    if (R->trust.nmeth) {
        const struct eval_result *E = &R->trust;
        json_key(&j, "trust");
        json_object_begin(&j);
        json_key(&j, "images");
        json_array_begin(&j);
        for (int i = 0; i < E->nimg; i++)
            json_string(&j, R->trust_img[i]);
        json_array_end(&j);
        json_key(&j, "steps");
        json_int(&j, E->steps);
        json_key(&j, "weight_layers");
        json_int(&j, E->nlayers);
        json_key(&j, "sanity_rule");
        json_string(&j, "fails when the Spearman correlation of |map| with the original, "
                        "averaged over the cascading randomization's steps and the images, "
                        "is at least fails_at_or_above");
        json_key(&j, "fails_at_or_above");
        json_double(&j, R->trust_fail_rho);
        json_key(&j, "seconds");
        json_double(&j, R->trust_seconds);
        json_key(&j, "methods");
        json_array_begin(&j);
        for (int m = 0; m < E->nmeth; m++) {
            const struct eval_summary_row *r = &R->trust_sum[m];
            json_object_begin(&j);
            json_key(&j, "method");
            json_string(&j, E->methods[m]);
            json_key(&j, "control");
            json_bool(&j, E->controls[m]);
            const struct eval_stat *st[] = {
                &r->del_auc,  &r->ins_auc,           &r->morf,         &r->lerf,
                &r->road_gap, &r->casc_mean_rho_abs, &r->casc_rho_abs, &r->casc_ssim};
            static const char *const key[] = {"deletion_auc",
                                              "insertion_auc",
                                              "road_morf",
                                              "road_lerf",
                                              "road_gap",
                                              "cascade_mean_spearman_abs",
                                              "randomized_spearman_abs",
                                              "randomized_ssim"};
            for (int k = 0; k < 8; k++) {
                json_key(&j, key[k]);
                json_object_begin(&j);
                json_key(&j, "mean");
                json_double(&j, st[k]->mean);
                json_key(&j, "sd");
                json_double(&j, st[k]->sd);
                json_object_end(&j);
            }
            json_key(&j, "sanity");
            json_string(&j, r->fails ? "fail" : "pass");
            json_key(&j, "summary");
            json_string(&j, R->trust_text[m]);
            json_object_end(&j);
        }
        json_array_end(&j);
        json_fig(&j, "montage", &R->f_montage);
        for (int k = 0; k < EVAL_FIGURES; k++)
            json_fig(&j, eval_figure_names[k], &R->f_trust[k]);
        json_object_end(&j);
    }

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
        json_key(&j, rep_stage_key[s]);
        json_double(&j, R->t[s]);
    }
    json_key(&j, "total");
    json_double(&j, now_seconds() - R->t0);
    json_object_end(&j);
    json_object_end(&j);
    json_finish(&j);
    return outfile_commit(&of);
}
