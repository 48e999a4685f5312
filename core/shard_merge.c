/* shard_merge.c - `interp merge`'s engine: the part folders of one sharded
 * run, checked against each other and against their manifests, become the
 * files one unsharded run writes (rows put back in the run's order by each
 * part's rows.npy; nothing else changes, so the bytes are the same).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "array.h"
#include "error.h"
#include "json.h"
#include "outfile.h"
#include "shard.h"
#include "util.h"

void shard_merged_release(struct shard_merged *r)
{
    if (!r) return;
    free(r->command);
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    memset(r, 0, sizeof *r);
}

static void merged_add(struct shard_merged *r, char *path)
{
    r->files = xrealloc(r->files, sizeof(char *) * (r->nfiles + 1));
    r->files[r->nfiles++] = path;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static enum dtype dtype_of(const char *name)
{
    if (!strcmp(name, "int32")) return DT_I32;
    if (!strcmp(name, "int64")) return DT_I64;
    return DT_F32;
}

/* The file named name in m, or NULL. */
static const struct shard_file *find_file(const struct shard_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->nfiles; i++)
        if (!strcmp(m->files[i].name, name)) return &m->files[i];
    return NULL;
}

/* Every part lists the same rows/index/same files as the first (name, kind,
 * dtype); their own (copy) files may differ. */
static int check_file_sets(char *const *dirs, const struct shard_manifest *m, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (int pass = 0; pass < 2; pass++) {
            const struct shard_manifest *a = pass ? &m[i] : &m[0], *b = pass ? &m[0] : &m[i];
            for (size_t t = 0; t < a->nfiles; t++) {
                const struct shard_file *f = &a->files[t], *g = find_file(b, f->name);
                if (f->kind >= SHARD_COPY) continue;
                if (!g || g->kind != f->kind || !f->dtype != !g->dtype ||
                    (f->dtype && strcmp(f->dtype, g->dtype)))
                    return error_set(ERR_INPUT, dirs[i],
                                     "its files differ from %s's: %s is %s in %s", dirs[0],
                                     f->name, g ? "of another kind" : "missing",
                                     pass ? dirs[0] : dirs[i]);
            }
        }
    return 0;
}

/* One part's row index (rows.npy or skipped_rows.npy): count int64 rows,
 * each a row of the run's total, marked in owner[] (the part that holds
 * it) and left[] (a left-out row). */
static int load_index(char *const *dirs, size_t i, const char *name, size_t count, size_t total,
                      int32_t *owner, unsigned char *left, int is_left, int64_t **out)
{
    char *p = path_join(dirs[i], name);
    struct array_opts o = array_opts_default();
    o.want_ndim = 1;
    struct array *a = array_load(p, &o, DT_I64);
    int rc = 0;
    if (!a) {
        rc = error_code();
    } else if (a->ndim != 1 || a->shape[0] != count) {
        rc = error_set(ERR_INPUT, p, "%zu rows, the manifest says %zu", a->shape[0], count);
    } else {
        const int64_t *v = a->data;
        for (size_t t = 0; t < count && !rc; t++) {
            if (v[t] < 0 || (uint64_t)v[t] >= total)
                rc = error_set(ERR_INPUT, p, "row %lld outside the run's %zu rows",
                               (long long)v[t], total);
            else if (owner[v[t]] >= 0)
                rc = error_set(ERR_INPUT, dirs[i], "row %lld of the run is also in %s",
                               (long long)v[t], dirs[owner[v[t]]]);
            else
                owner[v[t]] = (int32_t)i, left[v[t]] = (unsigned char)is_left;
        }
        if (!rc) {
            *out = a->data;
            a->data = NULL;
        }
    }
    array_free(a);
    free(p);
    return rc;
}

/* Loads each part's rows.npy into rows[i] and, when the parts left rows
 * out (--on-error skip), skipped_rows.npy into skrows[i]; checks that
 * together they hold every row of the run exactly once. Then each entry
 * becomes the row's place in the merged files: a computed row's among the
 * computed rows, a left-out row's among the left-out ones (so the merged
 * files are those of an unsharded run, which leaves such rows out).
 * *nkept and *nleft: how many of each. */
static int load_rows(char *const *dirs, const struct shard_manifest *m, size_t n,
                     const char *index_name, const char *skip_name, int64_t **rows,
                     int64_t **skrows, size_t *nkept, size_t *nleft)
{
    size_t total = m[0].total, sum = 0;
    int32_t *owner = big_alloc(sizeof(int32_t) * (total ? total : 1), NULL, "row owners");
    unsigned char *left = owner ? big_calloc(total ? total : 1, NULL, "left-out rows") : NULL;
    int64_t *place =
        left ? big_alloc(sizeof(int64_t) * (total ? total : 1), NULL, "row places") : NULL;
    if (!place) {
        free(owner);
        free(left);
        return error_code();
    }
    for (size_t r = 0; r < total; r++)
        owner[r] = -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (m[i].skipped && !skip_name)
            rc =
                error_set(ERR_INPUT, dirs[i], "%s says %zu rows were left out, but lists no %s",
                          SHARD_MANIFEST, m[i].skipped, "skip-index file");
        if (!rc)
            rc = load_index(dirs, i, index_name, m[i].count, total, owner, left, 0, &rows[i]);
        if (!rc && skip_name)
            rc =
                load_index(dirs, i, skip_name, m[i].skipped, total, owner, left, 1, &skrows[i]);
        sum += m[i].count + m[i].skipped;
    }
    if (!rc && sum != total)
        rc = error_set(ERR_INPUT, NULL, "the parts hold %zu of the run's %zu rows", sum, total);
    if (!rc) {
        size_t k = 0, l = 0;
        for (size_t r = 0; r < total; r++)
            place[r] = left[r] ? (int64_t)l++ : (int64_t)k++;
        for (size_t i = 0; i < n; i++) {
            for (size_t t = 0; t < m[i].count; t++)
                rows[i][t] = place[rows[i][t]];
            for (size_t t = 0; skrows[i] && t < m[i].skipped; t++)
                skrows[i][t] = place[skrows[i][t]];
        }
        *nkept = k, *nleft = l;
    }
    free(place);
    free(left);
    free(owner);
    return rc;
}

/* A .npy of rows: each part's rows placed at rows[i][t]. */
static int merge_npy(char *const *dirs, const size_t *count, size_t n, size_t total,
                     int64_t *const *rows, const struct shard_file *f, const char *out)
{
    enum dtype dt = dtype_of(f->dtype);
    struct array *res = NULL;
    size_t row_bytes = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char *p = path_join(dirs[i], f->name);
        struct array_opts o = array_opts_default();
        o.want_ndim = 0;
        struct array *a = array_load(p, &o, dt);
        if (!a) {
            rc = error_code();
        } else if (a->ndim < 1 || a->shape[0] != count[i]) {
            rc = error_set(ERR_INPUT, p, "%zu rows, the manifest says %zu",
                           a->ndim < 1 ? 0 : a->shape[0], count[i]);
        } else if (!res) {
            size_t shape[ARRAY_MAX_DIMS];
            memcpy(shape, a->shape, sizeof shape);
            shape[0] = total;
            if (!(res = array_new(dt, a->ndim, shape))) rc = error_code();
            row_bytes = dtype_size(dt);
            for (int d = 1; d < a->ndim; d++)
                row_bytes *= a->shape[d];
        } else if (a->ndim != res->ndim ||
                   memcmp(a->shape + 1, res->shape + 1,
                          sizeof(size_t) * (size_t)(ARRAY_MAX_DIMS - 1))) {
            char s1[160], s2[160];
            rc = error_set(ERR_INPUT, p, "shape %s, the first part's %s",
                           array_shape_str(a->shape, a->ndim, s1, sizeof s1),
                           array_shape_str(res->shape, res->ndim, s2, sizeof s2));
        }
        if (!rc)
            for (size_t t = 0; t < count[i]; t++)
                memcpy((char *)res->data + (size_t)rows[i][t] * row_bytes,
                       (const char *)a->data + t * row_bytes, row_bytes);
        array_free(a);
        free(p);
    }
    if (!rc) rc = npy_write(out, res);
    array_free(res);
    return rc;
}

/* Text of rows: `header` lines that every part shares, then one line per row. */
static int merge_text(char *const *dirs, const size_t *count, size_t n, size_t total,
                      int64_t *const *rows, const struct shard_file *f, int header,
                      const char *out)
{
    char **lines = big_calloc(sizeof(char *) * (total ? total : 1), NULL, "merged lines");
    if (!lines) return error_code();
    char *head = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char *p = path_join(dirs[i], f->name);
        struct filebuf fb = {0};
        if ((rc = filebuf_load(&fb, p))) {
            free(p);
            break;
        }
        input_register(p);
        const char *s = (const char *)fb.data, *end = s + fb.len;
        size_t got = 0;
        for (int h = 0; h < header && !rc; h++) {
            const char *nl = s < end ? memchr(s, '\n', (size_t)(end - s)) : NULL;
            if (!nl) {
                rc = error_set(ERR_INPUT, p, "no header line");
                break;
            }
            size_t len = (size_t)(nl - s);
            if (!head)
                head = xasprintf("%.*s", (int)len, s);
            else if (strlen(head) != len || memcmp(head, s, len))
                rc = error_set(ERR_INPUT, p, "its header differs from %s's", dirs[0]);
            s = nl + 1;
        }
        while (!rc && s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            if (!nl) {
                rc = error_set(ERR_INPUT, p, "the last line has no newline");
                break;
            }
            if (got == count[i]) {
                rc = error_set(ERR_INPUT, p, "more than the manifest's %zu rows", count[i]);
                break;
            }
            if ((size_t)(nl - s) > INT_MAX) {
                rc = error_set(ERR_INPUT, p, "line %zu too long", got + 1);
                break;
            }
            lines[rows[i][got++]] = xasprintf("%.*s", (int)(nl - s), s);
            s = nl + 1;
        }
        if (!rc && got != count[i])
            rc = error_set(ERR_INPUT, p, "%zu rows, the manifest says %zu", got, count[i]);
        filebuf_release(&fb);
        free(p);
    }
    if (!rc) {
        struct outfile of;
        if (!(rc = outfile_open(&of, out))) {
            if (head) fprintf(of.fp, "%s\n", head);
            for (size_t r = 0; r < total; r++)
                fprintf(of.fp, "%s\n", lines[r]);
            rc = outfile_commit(&of);
        }
    }
    for (size_t r = 0; r < total; r++)
        free(lines[r]);
    free(lines);
    free(head);
    return rc;
}

/* A path as it appears in JSON text: the opening quote and the escaped
 * characters, no closing quote (so it matches the start of a longer path). */
static char *json_quoted_prefix(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    BUG_ON(!fp);
    struct json j;
    json_init(&j, fp);
    json_string(&j, path);
    fclose(fp);
    BUG_ON(len < 2 || buf[len - 1] != '"');
    buf[len - 1] = 0;
    return buf;
}

/* Copies src to dst; with from/to (JSON-quoted prefixes) every occurrence of
 * from is written as to. */
static int copy_file(const char *src, const char *dst, const char *from, const char *to)
{
    struct filebuf fb = {0};
    int rc = filebuf_load(&fb, src);
    if (rc) return rc;
    input_register(src);
    struct outfile of;
    if (!(rc = outfile_open(&of, dst))) {
        const char *s = (const char *)fb.data, *end = s + fb.len;
        size_t nf = from ? strlen(from) : 0;
        while (s < end) {
            const char *hit = nf ? memmem(s, (size_t)(end - s), from, nf) : NULL;
            size_t keep = hit ? (size_t)(hit - s) : (size_t)(end - s);
            fwrite(s, 1, keep, of.fp);
            s += keep;
            if (hit) {
                fputs(to, of.fp);
                s += nf;
            }
        }
        rc = outfile_commit(&of);
    }
    filebuf_release(&fb);
    return rc;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const char *const *)a)[0], ((const char *const *)b)[0]);
}

/* The parts' own files: no name twice, none that a merged file has. */
static int check_copies(char *const *dirs, const struct shard_manifest *m, size_t n)
{
    size_t count = 0, o = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < m[i].nfiles; t++)
            count += m[i].files[t].kind >= SHARD_COPY;
    if (!count) return 0;
    /* pairs (name, part) sorted by name */
    const char **v = xmalloc(sizeof(char *) * 2 * count);
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < m[i].nfiles; t++)
            if (m[i].files[t].kind >= SHARD_COPY) {
                const struct shard_file *g = find_file(&m[0], m[i].files[t].name);
                if (g && g->kind < SHARD_COPY) {
                    free(v);
                    return error_set(ERR_INPUT, dirs[i],
                                     "its own file %s has the name of "
                                     "a merged file",
                                     m[i].files[t].name);
                }
                v[2 * o] = m[i].files[t].name, v[2 * o + 1] = dirs[i], o++;
            }
    qsort(v, count, 2 * sizeof(char *), cmp_name);
    int rc = 0;
    for (size_t t = 1; t < count && !rc; t++)
        if (!strcmp(v[2 * t], v[2 * t - 2]))
            rc = error_set(ERR_INPUT, v[2 * t + 1], "%s is also in %s: two parts wrote it",
                           v[2 * t], v[2 * t - 1]);
    free(v);
    return rc;
}

/* out_dir must not be one of the parts (its files would be replaced while
 * read, and its manifest would stay beside merged files). */
static int check_out(char *const *dirs, size_t n, const char *out_dir)
{
    char *o = realpath(out_dir, NULL);
    int rc = 0;
    for (size_t i = 0; o && i < n && !rc; i++) {
        char *d = realpath(dirs[i], NULL);
        if (d && !strcmp(d, o))
            rc =
                error_set(ERR_INPUT, out_dir, "is one of the parts: merge into another folder");
        free(d);
    }
    free(o);
    return rc;
}

int shard_merge(char *const *dirs, size_t n, const char *out_dir, struct shard_merged *r)
{
    memset(r, 0, sizeof *r);
    if (n == 0) return error_set(ERR_INPUT, NULL, "no parts to merge");
    struct shard_manifest *m = xcalloc(n, sizeof *m);
    int64_t **rows = xcalloc(n, sizeof *rows), **skrows = xcalloc(n, sizeof *skrows);
    size_t *who = NULL, N = 0, nkept = 0, nleft = 0;
    size_t *counts = xcalloc(n, sizeof *counts), *skcounts = xcalloc(n, sizeof *skcounts);
    int rc = 0;
    char why[512];
    for (size_t i = 0; i < n && !rc; i++)
        rc = shard_manifest_read(dirs[i], &m[i]);
    for (size_t i = 1; i < n && !rc; i++)
        if (!shard_manifest_same_run(&m[0], &m[i], why, sizeof why))
            rc = error_set(ERR_INPUT, dirs[i], "not a part of the same run as %s: %s", dirs[0],
                           why);
    if (rc) goto done;
    N = m[0].shard.n;
    who = xmalloc(sizeof(size_t) * N);
    for (size_t k = 0; k < N; k++)
        who[k] = SIZE_MAX;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t k = m[i].shard.k;
        if (who[k] != SIZE_MAX)
            rc = error_set(ERR_INPUT, dirs[i], "shard %zu/%zu is given twice: here and as %s",
                           k, N, dirs[who[k]]);
        else
            who[k] = i;
    }
    for (size_t k = 0; k < N && !rc; k++)
        if (who[k] == SIZE_MAX) {
            size_t missing = 0;
            for (size_t t = 0; t < N; t++)
                missing += who[t] == SIZE_MAX;
            rc = error_set(ERR_INPUT, NULL,
                           "shard %zu/%zu is missing (%zu of the %zu missing; %zu parts given, "
                           "the first %s)",
                           k, N, missing, N, n, dirs[0]);
        }
    if (rc || (rc = check_out(dirs, n, out_dir)) || (rc = check_file_sets(dirs, m, n)) ||
        (rc = check_copies(dirs, m, n)))
        goto done;
    for (size_t i = 0; i < n && !rc; i++)
        rc = shard_manifest_verify(dirs[i], &m[i]);
    if (rc) goto done;
    const char *index = NULL, *skip_index = NULL;
    int has_rows = 0, has_skip_rows = 0;
    for (size_t t = 0; t < m[0].nfiles; t++) {
        if (m[0].files[t].kind == SHARD_INDEX) index = m[0].files[t].name;
        if (m[0].files[t].kind == SHARD_SKIP_INDEX) skip_index = m[0].files[t].name;
        has_rows |= m[0].files[t].kind == SHARD_ROWS;
        has_skip_rows |= m[0].files[t].kind == SHARD_SKIP_ROWS;
    }
    if ((has_rows || skip_index) && !index) {
        rc = error_set(ERR_INPUT, dirs[0], "%s lists rows but no row index", SHARD_MANIFEST);
        goto done;
    }
    if (has_skip_rows && !skip_index) {
        rc = error_set(ERR_INPUT, dirs[0], "%s lists left-out rows but no index of them",
                       SHARD_MANIFEST);
        goto done;
    }
    if (index && (rc = load_rows(dirs, m, n, index, skip_index, rows, skrows, &nkept, &nleft)))
        goto done;
    if (!index) nkept = m[0].total; /* no rows: SHARD_SAME and SHARD_COPY files only */
    if (m[0].total && !nkept) {     /* the unsharded run fails the same way */
        rc = error_set(ERR_INPUT, dirs[0],
                       "none of the run's %zu rows could be read: all were left out "
                       "(each part's skipped.txt says why)",
                       m[0].total);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        counts[i] = m[i].count, skcounts[i] = m[i].skipped;
    if ((rc = dir_ensure(out_dir))) goto done;

    for (size_t t = 0; t < m[0].nfiles && !rc; t++) {
        const struct shard_file *f = &m[0].files[t];
        if (f->kind == SHARD_INDEX || f->kind == SHARD_SKIP_INDEX || f->kind >= SHARD_COPY)
            continue;
        char *out = path_join(out_dir, f->name);
        if (f->kind == SHARD_SAME) {
            for (size_t i = 1; i < n && !rc; i++)
                if (strcmp(find_file(&m[i], f->name)->sha256, f->sha256))
                    rc = error_set(ERR_INPUT, dirs[i], "its %s differs from %s's", f->name,
                                   dirs[0]);
            if (!rc) {
                char *src = path_join(dirs[0], f->name);
                rc = copy_file(src, out, NULL, NULL);
                free(src);
            }
        } else {
            int left = f->kind == SHARD_SKIP_ROWS;
            const size_t *cnt = left ? skcounts : counts;
            int64_t *const *at = left ? skrows : rows;
            size_t tot = left ? nleft : nkept;
            if (ends_with(f->name, ".npy"))
                rc = merge_npy(dirs, cnt, n, tot, at, f, out);
            else
                rc = merge_text(dirs, cnt, n, tot, at, f, ends_with(f->name, ".csv"), out);
        }
        if (rc)
            free(out);
        else
            merged_add(r, out);
    }
    char *out_prefix = path_join(out_dir, ""), *to = json_quoted_prefix(out_prefix);
    for (size_t i = 0; i < n && !rc; i++) {
        char *from = json_quoted_prefix(m[i].dir);
        for (size_t t = 0; t < m[i].nfiles && !rc; t++) {
            const struct shard_file *f = &m[i].files[t];
            if (f->kind != SHARD_COPY && f->kind != SHARD_COPY_PATHS) continue;
            char *src = path_join(dirs[i], f->name), *out = path_join(out_dir, f->name);
            int paths = f->kind == SHARD_COPY_PATHS;
            rc = copy_file(src, out, paths ? from : NULL, paths ? to : NULL);
            free(src);
            if (rc)
                free(out);
            else
                merged_add(r, out);
        }
        free(from);
    }
    free(out_prefix);
    free(to);
    if (!rc) {
        r->command = xstrdup(m[0].command);
        r->total = m[0].total;
        r->skipped = nleft;
        r->nparts = n;
    }
done:
    for (size_t i = 0; i < n; i++) {
        shard_manifest_release(&m[i]);
        free(rows[i]);
        free(skrows[i]);
    }
    free(m);
    free(rows);
    free(skrows);
    free(counts);
    free(skcounts);
    free(who);
    if (rc) shard_merged_release(r);
    return rc;
}
