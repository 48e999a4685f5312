/* report.h - the whole study of a model on a folder of labelled images, as
 * one self-contained web page with its figures and numbers.
 *
 *     struct report_params p = report_params_default();
 *     p.model_path = "net.onnx";  p.image_dir = "data/test";  p.out_dir = "report";
 *     p.command = "interp report net.onnx data/test";        // shown in the header
 *     struct report_result r;
 *     if (report_run(&p, &r) < 0) ... error_message() ...
 *     for (size_t i = 0; i < r.nnotes; i++) warn(r.notes[i]);
 *     printf("%s\n", r.index_html);
 *     report_result_release(&r);
 *
 * image_dir holds one folder per class (Keras's image_dataset_from_directory
 * layout): class id = index of the folder name in sorted (byte) order, images
 * = the folder's .png/.jpg/.jpeg/.webp/.bmp/.gif files (case-insensitive
 * extension; other files are skipped with a note, sub-folders are not read;
 * a file's format is then told by its content). A class folder
 * without images keeps its id (so ids still match the model) and is noted.
 *
 * Stages, in order (progress stage names "1/9 embed" ... "9/9 page"):
 *   embed      every image preprocessed and run forward in batches (of the
 *              class-interleaved order, as `interp embed` runs them:
 *              dataset_shard), keeping the latent (model_default_latent) and
 *              the probabilities; or, with from_dir, what `interp embed` (or
 *              `interp merge` of its shards) wrote there, checked against the
 *              walk of image_dir and the model
 *   metrics    top-1/top-k accuracy, per-class P/R/F1, confusion matrix
 *   PCA        of the latent: scores, scree
 *   t-SNE      of the latent, on at most tsne_max images sampled per class in
 *              proportion to its size (largest remainder), seeded
 *   prototypes per class the k members nearest and farthest from the centroid
 *   Grad-CAM   and
 *   occlusion  of per_class images per class (see report_run)
 *   trust      deletion/insertion, ROAD and the cascading randomization test
 *              of Grad-CAM, Grad-CAM++, occlusion, Integrated Gradients and
 *              SmoothGrad (and a random and an edge map as controls) on
 *              trust_images of the explained images (analysis/evaluate.h)
 *   page       index.html and report.json
 *
 * Everything lands in out_dir (created): index.html, report.json, figures/
 * (gnuplot scripts, data and PNGs), gallery/ (overlays), data/ (.npy arrays
 * for notebooks: embeddings, probs, predictions, labels, pca, tsne with its
 * row index; files.txt, classes.txt). Links in the page are relative, so the
 * folder can be moved or zipped. Figures need gnuplot; without it the page
 * says which scripts to run (and a note says so).
 */
#ifndef INTERP_REPORT_H
#define INTERP_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../core/dataset.h"
#include "../core/model.h"
#include "../core/progress.h"

struct report_params {
    const char *model_path;   /* ONNX classifier (required) */
    const char *image_dir;    /* folder of class folders (required) */
    const char *out_dir;      /* created when missing (required) */
    const char *from_dir;     /* NULL, or the folder of an `interp embed` run of this model
                                 on image_dir (embeddings.npy, probs.npy, predictions.npy,
                                 labels.npy, files.txt, classes.txt; a merged sharded run
                                 too): the first stage reads them instead of embedding */
    char *const *class_names; /* display names, one per model class; NULL: the
                                 folder names ("class k" beyond them) */
    size_t nclass_names;
    int per_class;   /* explained images per class (default 3) */
    size_t tsne_max; /* t-SNE on at most this many images (default 5000) */
    uint64_t seed;   /* t-SNE, subsampling, the random picks (default 42) */
    int batch;       /* images per forward pass (default 64) */
    int proto_k;     /* prototypes: nearest and farthest per class (default 5) */
    /* "Can these maps be trusted?": evaluate.h's tests on this many of the
     * explained images (default 3; 0 = no section), deletion/insertion in
     * trust_steps steps (default 50), the single-layer randomization too
     * when trust_single (default: the cascade only) */
    int trust_images, trust_steps, trust_single;
    int occ_patch, occ_stride;       /* occlusion patch and stride in model-input
                                        pixels; 0 = DESIGN.md's 24 and 8 at 128 pixels,
                                        scaled to the input (28 pixels: 5 and 2) */
    struct model_prep prep;          /* preprocessing (default: [0,1]) */
    const char *command;             /* the exact command line for the header (may be NULL) */
    time_t date;                     /* shown in the header; 0 = now */
    int threads;                     /* t-SNE threads, 0 = default */
    const struct progress *progress; /* may be NULL */
    enum dataset_on_error on_error;  /* an image that cannot be read or decoded:
                                        DATASET_STOP (default) fails the run;
                                        DATASET_SKIP leaves it out (see report_run) */
};
struct report_params report_params_default(void);

struct report_result {
    char *index_html;  /* out_dir/index.html (owned) */
    char *report_json; /* out_dir/report.json (owned) */
    size_t images;     /* images analysed */
    size_t skipped;    /* images left out by on_error skip */
    char *skipped_txt; /* out_dir/skipped.txt with on_error skip, else NULL (owned) */
    size_t nclasses;   /* model classes */
    double accuracy;   /* top-1 */
    double seconds;    /* whole run */
    char **notes;      /* things the user should know (skipped files, empty
                          classes, gnuplot missing, a stage skipped); owned */
    size_t nnotes;
};
/* Frees what report_run put in r and zeroes it; a zeroed r is a no-op. */
void report_result_release(struct report_result *r);

/* Runs every stage and writes the page. Explained images, for each class c,
 * are picked in turns from three lists until per_class are chosen (a list
 * that runs out is passed over): members of c predicted as c by decreasing
 * probability ("most confident correct"), members of c predicted as another
 * class by decreasing probability of that class ("most confident wrong"), and
 * the remaining members in a seeded random order ("random"). Each gets the
 * Grad-CAM (default layer) and occlusion maps of its predicted class, and of
 * its true class when the prediction is wrong. A model without a 4-D layer
 * gets occlusion only (with a note).
 *
 * Returns 0 with *r filled (release with report_result_release), or a
 * negative code with the error recorded and *r zeroed: ERR_INPUT for a model
 * the engine refuses or whose input is not an image, an image_dir without
 * class folders or without images, more class folders than model classes,
 * class_names not one per model class, an image that does not decode (named;
 * with on_error DATASET_SKIP it is left out instead: listed with its reason
 * in out_dir/skipped.txt, report.json and a note, every stage and data/ file
 * then covers the other images as if they were alone; ERR_INPUT when none
 * could be read), bad parameters, a from_dir whose files do not match
 * image_dir's walk (the files, their order, labels and classes, less the
 * images its skipped.txt lists, which on_error DATASET_STOP refuses) or the
 * model (latent and class count) or each other (predictions not the argmax
 * of probs), naming the file and row; ERR_FAIL for I/O. Files written before an error stay
 * (each complete: outfile.h); index.html is written last. */
int report_run(const struct report_params *p, struct report_result *r);

#endif
