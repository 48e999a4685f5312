/* report_int.h - what the files of the report share: its state while it
 * runs (struct rep), the figures it records, and the helpers every stage
 * uses. Internal to report/: pipeline.c runs the stages, embed.c the first
 * one, explain.c picks and explains images, trust.c the trust section,
 * page_json.c and page_html.c write report.json and the page.
 */
#ifndef INTERP_REPORT_INT_H
#define INTERP_REPORT_INT_H

#include <stdint.h>
#include <stdio.h>

#include "../analysis/cam.h"
#include "../analysis/evaluate.h"
#include "../analysis/metrics.h"
#include "../analysis/pca.h"
#include "../analysis/prototypes.h"
#include "../analysis/tsne.h"
#include "../core/array.h"
#include "../core/dataset.h"
#include "../plots/eval_figures.h"
#include "../plots/plot.h"
#include "report.h"

/* ---------------------------------------------------------------- state */
enum {
    ST_EMBED,
    ST_METRICS,
    ST_PCA,
    ST_TSNE,
    ST_PROTO,
    ST_GRADCAM,
    ST_OCCL,
    ST_TRUST,
    ST_PAGE,
    NSTAGES
};
extern const char *const rep_stage_name[NSTAGES];
extern const char *const rep_stage_key[NSTAGES];

/* A figure of the page: PNG and its gnuplot script, relative to out_dir. */
struct fig {
    char *png;    /* NULL when not rendered */
    char *script; /* the .gp (gnuplot figures) */
    int w, h;     /* PNG size, 0 when unknown */
};

enum pick_why { WHY_CORRECT, WHY_WRONG, WHY_RANDOM };
extern const char *const rep_why_text[3];
extern const char *const rep_why_key[3];

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
    /* data: the walk of image_dir (owns the paths and labels), and its rows */
    struct dataset ds;
    struct dataset_skips skips; /* images left out (p->on_error skip) */
    char *skipped_txt;          /* out/skipped.txt with on_error skip, else NULL */
    char **files;               /* ds.files: N paths */
    int32_t *labels;            /* ds.labels */
    size_t N;
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
    /* the trust section (trust.c); trust.nmeth is 0 when it did not run */
    struct eval_result trust;
    struct eval_summary_row *trust_sum;
    char **trust_text;  /* a sentence per method */
    size_t *trust_rows; /* the evaluated images' rows */
    char **trust_img;   /* their paths (borrowed from files) */
    double trust_seconds, trust_fail_rho;
    struct fig f_trust[EVAL_FIGURES], f_montage;
    double t[NSTAGES], t0;
    int gnuplot_noted;
    char stagebuf[96];
};

/* ---- common.c ---- */
/* Adds a note for the user (report_result.notes). */
void rep_note(struct rep *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress: stage st ("3/8 PCA"), done of total units. */
void rep_stage(struct rep *R, int st, size_t done, size_t total, const char *note_);
void rep_fig_release(struct fig *f);
/* Records the PNG out_dir/SUB/NAME as figure f (link "SUB/NAME", its size). */
void rep_fig_from_file(struct rep *R, struct fig *f, const char *sub, const char *name);
/* Records a gnuplot figure NAME: its PNG when rendered, else a note. Releases pr. */
void rep_fig_from_plot(struct rep *R, struct fig *f, const char *name, struct plot_result *pr);
/* data/NAME: a 1-D (ndim 1) or 2-D array, or one line per string. */
int rep_save_npy(struct rep *R, const char *name, enum dtype t, int ndim, size_t rows,
                 size_t cols, void *data);
int rep_save_lines(struct rep *R, const char *name, char *const *lines, size_t n);
/* "2026-12-07 04:05 UTC" of p->date (now when 0). */
void rep_format_date(const struct report_params *p, char *buf, size_t len);
/* The file name part of a path. */
const char *rep_base_name(const char *path);

/* ---- embed.c ---- */
/* Stage 1: the images through the model, or --from an embed run's folder. */
int rep_stage_embed(struct rep *R);
int rep_stage_from(struct rep *R);

/* ---- explain.c ---- */
/* Picks per_class images per class (report.h says how) into R->picks. */
void rep_choose_picks(struct rep *R);
/* Grad-CAM and occlusion overlays of the picks, into gallery/. */
int rep_stage_gradcam(struct rep *R);
int rep_stage_occlusion(struct rep *R);

/* ---- trust.c ---- */
/* The evaluation of the maps on p->trust_images of the explained images:
 * the table, its sentences, figures/ (curves, montage). A model or
 * parameters the evaluation refuses: a note, no section. */
int rep_stage_trust(struct rep *R);
void rep_trust_release(struct rep *R);

/* ---- page_json.c, page_html.c ---- */
int rep_write_json(struct rep *R, const char *path);
int rep_write_html(struct rep *R, const char *path);

#endif
