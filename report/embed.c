/* embed.c - the report's first stage: the folder's images through the model
 * in `interp embed`'s batches (latent, probabilities, predictions and the
 * data/ files), the images --on-error skip left out taken out of the data
 * set; or, with --from, what `interp embed` (or `interp merge`) wrote,
 * checked against the folder and the model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/namelist.h"
#include "../core/outfile.h"
#include "../core/util.h"
#include "report_int.h"

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

int rep_stage_embed(struct rep *R)
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

/* Each row of from_dir's vector `name` (a) against want: ERR_INPUT naming
 * the first row that differs, "row I is class A, <says> B". */
static int from_rows_check(struct rep *R, const char *name, const struct array *a,
                           const int32_t *want, const char *says)
{
    const int32_t *v = (const int32_t *)a->data;
    for (size_t i = 0; i < R->N; i++)
        if (v[i] != want[i]) {
            char *p = path_join(R->p->from_dir, name);
            error_set(ERR_INPUT, p, "row %zu is class %d, %s %d", i, (int)v[i], says,
                      (int)want[i]);
            free(p);
            return ERR_INPUT;
        }
    return 0;
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
 * model, then used as rep_stage_embed's results. */
int rep_stage_from(struct rep *R)
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
    if (from_rows_check(R, "labels.npy", lab, R->labels, "its folder says")) goto done;
    memcpy(R->emb, e->data, sizeof(float) * N * D);
    memcpy(R->probs, pr->data, sizeof(float) * N * K);
    if (embed_finish(R) ||
        from_rows_check(R, "predictions.npy", pred, R->pred, "the argmax of probs.npy is"))
        goto done;
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
