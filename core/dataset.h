/* dataset.h - the images of a data set and their labels: a folder of class
 * folders (Keras's image_dataset_from_directory layout), a folder of images,
 * or a list file with one path per line. One walker for every command that
 * reads many images (embed, report, and the sharded runs).
 *
 *     struct dataset ds;
 *     if (dataset_scan("data/test", DATASET_CLASSES, &ds) < 0) ... error_message() ...
 *     for (size_t i = 0; i < ds.nnotes; i++) warn(ds.notes[i]);
 *     for (size_t i = 0; i < ds.n; i++) use(ds.files[i], ds.labels[i]);
 *     dataset_release(&ds);
 *
 * Class folders: class id = index of the folder name in sorted (byte) order;
 * a class's images are its files with an image extension, sorted by name
 * (sub-folders are not read); names starting with '.' are ignored. A class
 * folder without images keeps its id, so ids still match the model's.
 */
#ifndef INTERP_DATASET_H
#define INTERP_DATASET_H

#include <stddef.h>
#include <stdint.h>

struct dataset {
    char **files; /* n image paths, in row order (owned) */
    size_t n;
    int32_t *labels; /* n class ids; NULL when the images are not in class folders */
    char **classes;  /* class folder names, sorted (owned); NULL without class folders */
    size_t nclasses;
    /* What the scan passed over, for the caller to report: */
    size_t skipped; /* files in class folders without an image extension */
    size_t loose;   /* files beside the class folders */
    size_t subdirs; /* folders inside class folders */
    size_t empty;   /* class folders without images */
    char **notes;   /* one sentence per thing passed over, in scan order (owned) */
    size_t nnotes;
};

enum {
    /* The folder must hold class folders (an error otherwise); without this
     * flag a folder without sub-folders is read as a plain folder of images. */
    DATASET_CLASSES = 1,
};

/* Lists the images under root into *ds (zeroed first). With class folders
 * (required by DATASET_CLASSES, else taken when root has any sub-folder),
 * fills labels and classes; otherwise reads root's images, unlabelled.
 * ERR_INPUT (path = root) when root is missing or not a folder, a folder
 * cannot be opened, DATASET_CLASSES finds no class folder, or no image is
 * found. *ds is released on failure. */
int dataset_scan(const char *root, unsigned flags, struct dataset *ds);

/* Reads a list file: one image path per line (blank lines skipped, CR LF
 * accepted; a line starting with a double quote is a quoted name as interp
 * writes files.txt, core/namelist.h; ERR_INPUT naming the line when such a
 * line is malformed); no labels. A relative path that does not exist from the
 * current folder is taken from the list's folder (a files.txt written beside
 * its images). ERR_INPUT when the list cannot be opened or lists no path.
 * Registers the list as an input (outfile.h). */
int dataset_read_list(const char *path, struct dataset *ds);

/* ---- --on-error: the images that could not be read ---------------------
 *
 * A command that reads many images decides per image, with the policy the
 * user chose: stop at the first image that cannot be read or decoded (the
 * default), or leave it out, list it with its reason, and go on:
 *
 *     struct dataset_skips sk = {.policy = DATASET_SKIP};
 *     for (size_t i = 0; i < ds.n; i++)
 *         if (model_preprocess_file(m, ds.files[i], &prep, x) < 0) {
 *             if (dataset_skip(&sk, i, ds.files[i]) < 0) goto fail;  // STOP
 *             continue;                                                // SKIP
 *         } ... else the row is kept ...
 *     dataset_drop_skipped(&ds, &sk);          // rows of every output = kept rows
 *     dataset_skips_write(&sk, "out/skipped.txt");
 *     if (dataset_skips_all(&sk, n_input, root) < 0) ... nothing was read: exit 2 ...
 *     dataset_skips_release(&sk);
 */
enum dataset_on_error {
    DATASET_STOP = 0, /* the first unreadable image is the command's error */
    DATASET_SKIP,     /* left out, listed with its reason */
};

struct dataset_skips {
    enum dataset_on_error policy;
    char **files;   /* the images left out, in input order (owned) */
    char **reasons; /* why, one line each (owned) */
    size_t *rows;   /* their rows in the input (increasing; dataset_skips_sort
                       after recording them out of order) */
    size_t n, cap;
};

/* "stop" or "skip" into *policy; ERR_INPUT naming --on-error otherwise. */
int dataset_on_error_parse(const char *s, enum dataset_on_error *policy);

/* Called after reading or decoding image `file` (input row `row`; a caller
 * that visits the rows out of order, as embed's class-interleaved batches
 * do, calls dataset_skips_sort afterwards) failed with its error recorded.
 * DATASET_STOP:
 * returns that error's code, the error left as it is (naming file when it
 * named nothing). DATASET_SKIP: records file, row and the error's message,
 * clears the error and returns 0; the caller leaves the row out. */
int dataset_skip(struct dataset_skips *s, size_t row, const char *file);

/* Orders the entries by row (stable for equal rows). */
void dataset_skips_sort(struct dataset_skips *s);

/* Reads back a skipped.txt that dataset_skips_write wrote, appending each
 * line's file and reason to s with row SIZE_MAX (the caller places them);
 * registers path as an input (outfile.h). ERR_INPUT naming path and the
 * line for a line without exactly one tab or a field that does not unquote
 * (namelist.h); the error of reading the file otherwise. */
int dataset_skips_read(const char *path, struct dataset_skips *s);

/* Removes the skipped rows from ds->files and ds->labels, keeping the order
 * of the others (so every output row matches files.txt). Rows are indices
 * into ds as it was when they were recorded. */
void dataset_drop_skipped(struct dataset *ds, const struct dataset_skips *s);

/* Writes skipped.txt at path (atomically, outfile.h): one line per image
 * left out, in input order: its path, a tab, the reason, each field quoted
 * as core/namelist.h says (so a tab never occurs inside a field). An empty
 * file when nothing was skipped. 0 or the error of outfile_open/commit. */
int dataset_skips_write(const struct dataset_skips *s, const char *path);

/* ERR_INPUT (path = where the images came from, may be NULL) when all of
 * the `total` images were skipped, naming the count and the first reason;
 * 0 when at least one was read. */
int dataset_skips_all(const struct dataset_skips *s, size_t total, const char *path);

/* Frees what s holds and zeroes it, keeping the policy. */
void dataset_skips_release(struct dataset_skips *s);

/* The rows of shard k of n (0 <= k < n) of ds, in the order to run them:
 * an owned array (free()) of *count row indices into ds->files.
 *
 * The rule: the rows are first dealt by class into an interleaved order
 * (round r takes the r-th image of every class that has more than r images,
 * going round the classes from class r mod C, so that no class keeps the
 * same place in every round; without labels the list order is kept); that
 * order is cut into units of `unit` consecutive rows, and unit j goes to
 * shard j mod n, units in order. With n = 1 the result is the interleaved order itself,
 * which is the order `interp embed` runs its batches in (unit = --batch), so
 * a shard runs exactly the batches of one unsharded run: the dense layers
 * round a row differently in a batch of other rows or size, and only whole
 * batches make merged results byte-identical. Each class's images spread
 * over the shards: with at least C rows per unit every unit holds every
 * class while the classes last; shard sizes differ by at most one unit.
 * A shard may be empty (fewer units than shards): *count 0, a non-NULL
 * array. ERR_INPUT when n is 0, k >= n or unit is 0, or a label is outside
 * 0..nclasses-1. */
int64_t *dataset_shard(const struct dataset *ds, size_t k, size_t n, size_t unit,
                       size_t *count);

/* Frees what *ds holds and zeroes it; a zeroed dataset is a no-op. */
void dataset_release(struct dataset *ds);

/* Whether a file name has an image extension interp reads (.png, .jpg,
 * .jpeg, .webp, .bmp, .gif; case-insensitive; the format itself is then
 * told by the content). */
int dataset_is_image_name(const char *name);

#endif
