/* shard.h - one run split into N shards and merged back: the part folder's
 * manifest and the merge. Which rows a shard runs is dataset_shard()'s rule
 * (dataset.h); a shard writes its files into its own part folder, then
 * manifest.json last and atomically, so a folder without a manifest is a part
 * that did not finish. The merge takes parts of one run only and writes the
 * files one unsharded run writes.
 *
 *     struct shard sh;
 *     if (shard_parse("1/4", &sh) < 0) ...                   // shard 1 of 4
 *     size_t n;
 *     int64_t *rows = dataset_shard(&ds, sh.k, sh.n, 64, &n);
 *     ... run rows[0..n) in that order, write the part's files into dir ...
 *     struct shard_manifest m;
 *     shard_manifest_init(&m, "embed", sh, ds.n, n, 64);
 *     shard_manifest_add_input(&m, "model", "net.onnx");     // its SHA-256
 *     shard_manifest_add_param(&m, "options", "%s", "--layer=fc1");
 *     shard_manifest_add_file(&m, dir, "embeddings.npy", SHARD_ROWS, "float32");
 *     shard_manifest_add_file(&m, dir, "rows.npy", SHARD_INDEX, "int64");
 *     if (shard_manifest_write(dir, &m) < 0) ...              // the part is complete
 *     shard_manifest_release(&m);
 *
 *     struct shard_merged out;
 *     if (shard_merge(part_dirs, nparts, "merged", &out) < 0) ... error_path() names the part
 *     for (size_t i = 0; i < out.nfiles; i++) puts(out.files[i]);
 *     shard_merged_release(&out);
 */
#ifndef INTERP_SHARD_H
#define INTERP_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

#define SHARD_MANIFEST "manifest.json"
#define SHARD_FORMAT   "interp-part 1" /* the manifest's "format": its layout's version */
#define SHARD_MAX_N    1000000         /* shards in one run */

/* Shard k of n, 0 <= k < n. */
struct shard {
    size_t k, n;
};

/* Parses "K/N" (decimal, 0 <= K < N <= SHARD_MAX_N) into *s. ERR_INPUT
 * naming the spec otherwise. */
int shard_parse(const char *spec, struct shard *s);

/* How the merge treats a file of a part. */
enum shard_merge_kind {
    SHARD_ROWS,       /* one row per row of the part: a .npy (first axis), a .txt
                         (one line each) or a .csv (a header line, then one line
                         each); the merge places every row where rows.npy says */
    SHARD_INDEX,      /* rows.npy: int64, the row of the whole run each part row is */
    SHARD_SAME,       /* the same bytes in every part (classes.txt): written once */
    SHARD_SKIP_INDEX, /* skipped_rows.npy: int64, the rows of the whole run that the
                         part left out (--on-error skip: they could not be read) */
    SHARD_SKIP_ROWS,  /* skipped.txt: one line per left-out row, placed where
                         skipped_rows.npy says among the run's left-out rows */
    SHARD_COPY,       /* the part's own files (explanation maps): copied as they are,
                         their names unique across the parts */
    SHARD_COPY_PATHS, /* the same for a JSON file that names the part's files
                         by path: the part folder's path in its strings becomes
                         the merged folder's */
};

struct shard_input {
    char *role; /* "model", "embeddings", "map", "new", "images" */
    char *path; /* as given to the shard (for messages only) */
    char sha256[SHA256_HEX_LEN + 1];
};

struct shard_param {
    char *key, *value;
};

struct shard_file {
    char *name; /* inside the part folder, no '/' */
    enum shard_merge_kind kind;
    char *dtype; /* SHARD_ROWS/SHARD_INDEX .npy: "float32", "int32", "int64" */
    uint64_t bytes;
    char sha256[SHA256_HEX_LEN + 1];
};

struct shard_manifest {
    char *format;  /* SHARD_FORMAT */
    char *version; /* the interp that wrote it (INTERP_VERSION) */
    char *command; /* "embed", "gradcam", "occlusion", "saliency", "tsne-add" */
    char *dir;     /* the part folder as the shard named it, with a final '/'
                      (what its files' paths begin with; set by
                      shard_manifest_write) */
    struct shard shard;
    size_t total;               /* rows of the whole run */
    size_t count;               /* rows in this part (that it computed) */
    size_t skipped;             /* rows of this part left out (--on-error skip: they
                                   could not be read); count + skipped rows were dealt
                                   to it */
    size_t unit;                /* rows per dealt unit (embed: the batch) */
    struct shard_input *inputs; /* what must be the same file for every part */
    size_t ninputs;
    struct shard_param *params; /* settings that must agree, in order */
    size_t nparams;
    char **classes; /* the data set's class names, or NULL (none) */
    size_t nclasses;
    struct shard_file *files;
    size_t nfiles;
};

/* Starts a manifest (zeroes m, then sets format, version, command, shard,
 * total, count and unit; skipped 0). */
void shard_manifest_init(struct shard_manifest *m, const char *command, struct shard s,
                         size_t total, size_t count, size_t unit);
/* Adds an input by the SHA-256 of its content. ERR_INPUT/ERR_FAIL from
 * reading path. */
int shard_manifest_add_input(struct shard_manifest *m, const char *role, const char *path);
/* The same with a digest computed by the caller (a list of image paths). */
void shard_manifest_add_input_digest(struct shard_manifest *m, const char *role,
                                     const char *what, const char hex[SHA256_HEX_LEN + 1]);
/* Adds a setting that every part must share (printf-style value). */
void shard_manifest_add_param(struct shard_manifest *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copies the class names (n of them; names may be NULL for none). */
void shard_manifest_set_classes(struct shard_manifest *m, char *const *names, size_t n);
/* Adds the file dir/name with its size and SHA-256; dtype for .npy rows (may
 * be NULL otherwise). ERR_INPUT when name holds a '/' or the file cannot be
 * read. */
int shard_manifest_add_file(struct shard_manifest *m, const char *dir, const char *name,
                            enum shard_merge_kind kind, const char *dtype);
/* Writes dir/manifest.json atomically (core/outfile.h), recording dir as
 * the part folder's name: call it last. */
int shard_manifest_write(const char *dir, const struct shard_manifest *m);
/* Reads dir/manifest.json into *m (zeroed first; release it either way).
 * ERR_INPUT (path = dir) when it is missing ("not a finished part") or is
 * not a manifest this interp reads, naming the field. */
int shard_manifest_read(const char *dir, struct shard_manifest *m);
/* The same from the manifest's text (name for messages): the part the
 * fuzzer exercises. */
int shard_manifest_parse(const char *text, size_t len, const char *name,
                         struct shard_manifest *m);
/* Checks that every file the manifest lists is in dir with its size and
 * SHA-256. ERR_INPUT naming the file otherwise. */
int shard_manifest_verify(const char *dir, const struct shard_manifest *m);
/* Whether a and b are parts of the same run: format, version, command, N,
 * total, unit, inputs, params and classes equal. 1 when they are; 0 with
 * why (a sentence naming the first difference, "b" for b's side) filled. */
int shard_manifest_same_run(const struct shard_manifest *a, const struct shard_manifest *b,
                            char *why, size_t len);
/* Frees what m holds and zeroes it; a zeroed one is a no-op. */
void shard_manifest_release(struct shard_manifest *m);

/* What shard_merge wrote. */
struct shard_merged {
    char *command;  /* the parts' command */
    size_t total;   /* rows of the run */
    size_t skipped; /* of them left out (--on-error skip) */
    size_t nparts;
    char **files; /* paths written, in manifest order (owned) */
    size_t nfiles;
};
void shard_merged_release(struct shard_merged *r);

/* Merges the parts in dirs[0..n) into out_dir (created): checks that each
 * has a manifest, that they are parts of one run (shard_manifest_same_run)
 * and each shard 0..N-1 is there exactly once, that every file matches its
 * manifest and that the parts' rows (computed or left out) cover the run's
 * rows exactly once; then writes each SHARD_ROWS file with the computed rows
 * in the run's order (left-out rows taking no place, as in an unsharded
 * run), each SHARD_SKIP_ROWS file with the left-out rows in the run's order,
 * each SHARD_SAME file once and each SHARD_COPY file as it is (all
 * atomically). The index files and the manifests are not written: out_dir
 * holds what one unsharded run writes. ERR_INPUT with the path of the part
 * concerned (a missing shard names the set), and, writing nothing, when
 * every row of the run was left out (as the unsharded run fails); ERR_FAIL
 * for I/O. *r is zeroed on failure. */
int shard_merge(char *const *dirs, size_t n, const char *out_dir, struct shard_merged *r);

#endif
