/* dataset.c - the one walker of image folders: class folders in sorted
 * order, each class's images sorted by name, and what was passed over noted
 * for the caller (the library never prints).
 */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "error.h"
#include "namelist.h"
#include "outfile.h"
#include "util.h"

#define IMAGE_EXTS ".png/.jpg/.jpeg/.webp/.bmp/.gif"

int dataset_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
            !strcasecmp(dot, ".webp") || !strcasecmp(dot, ".bmp") || !strcasecmp(dot, ".gif"));
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct strs {
    char **s;
    size_t n, cap;
};

static void strs_push(struct strs *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->s = xrealloc(l->s, sizeof(char *) * l->cap);
    }
    l->s[l->n++] = s;
}

static void strs_release(struct strs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

void dataset_release(struct dataset *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++)
        free(ds->files[i]);
    free(ds->files);
    free(ds->labels);
    for (size_t i = 0; i < ds->nclasses; i++)
        free(ds->classes[i]);
    free(ds->classes);
    for (size_t i = 0; i < ds->nnotes; i++)
        free(ds->notes[i]);
    free(ds->notes);
    memset(ds, 0, sizeof *ds);
}

/* The sub-folders of root (names) and how many other entries it has. */
static int list_folders(const char *root, struct strs *folders, size_t *loose)
{
    DIR *d = opendir(root);
    if (!d) return error_set_errno(ERR_INPUT, root, "cannot open folder");
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *pth = path_join(root, e->d_name);
        if (is_dir(pth))
            strs_push(folders, xstrdup(e->d_name));
        else
            (*loose)++;
        free(pth);
    }
    closedir(d);
    if (folders->n) qsort(folders->s, folders->n, sizeof(char *), cmp_str);
    return 0;
}

/* Appends dir's images (full paths, sorted) to files; counts what is not an
 * image. *example receives the first non-image file (owned) when NULL. */
static int list_images(const char *dir, struct strs *files, size_t *skipped, size_t *subdirs,
                       char **example)
{
    DIR *d = opendir(dir);
    if (!d) return error_set_errno(ERR_INPUT, dir, "cannot open folder");
    size_t before = files->n;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *pth = path_join(dir, e->d_name);
        if (is_dir(pth)) {
            (*subdirs)++;
            free(pth);
        } else if (dataset_is_image_name(e->d_name)) {
            strs_push(files, pth);
        } else {
            if (!(*skipped)++ && !*example)
                *example = pth;
            else
                free(pth);
        }
    }
    closedir(d);
    if (files->n > before) qsort(files->s + before, files->n - before, sizeof(char *), cmp_str);
    return 0;
}

int dataset_scan(const char *root, unsigned flags, struct dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    if (!is_dir(root)) {
        struct stat st;
        if (stat(root, &st) != 0) return error_set_errno(ERR_INPUT, root, "cannot open");
        return error_set(ERR_INPUT, root,
                         (flags & DATASET_CLASSES)
                             ? "not a folder: expected a folder with one folder of images per "
                               "class"
                             : "not a folder");
    }
    struct strs folders = {0}, files = {0};
    char *example = NULL;
    size_t cap = 0;
    int rc = list_folders(root, &folders, &ds->loose);
    if (rc) goto fail;
    if (!folders.n && (flags & DATASET_CLASSES)) {
        rc = error_set(ERR_INPUT, root,
                       "no class folders: expected one folder of images per class "
                       "(Keras's layout, e.g. %s/cat/1.png)",
                       root);
        goto fail;
    }
    if (!folders.n) { /* a plain folder of images */
        size_t skipped = 0, subdirs = 0;
        if ((rc = list_images(root, &files, &skipped, &subdirs, &example))) goto fail;
        ds->skipped = skipped;
        if (!files.n) {
            rc = error_set(ERR_INPUT, root, "no .png, .jpg, .jpeg, .webp, .bmp or .gif images found");
            goto fail;
        }
        ds->files = files.s, ds->n = files.n;
        free(example);
        return 0;
    }
    if (ds->loose)
        strv_appendf(&ds->notes, &ds->nnotes, "%s: %zu file%s beside the class folders ignored",
                     root, ds->loose, ds->loose == 1 ? "" : "s");
    for (size_t k = 0; k < folders.n; k++) {
        char *sub = path_join(root, folders.s[k]);
        size_t before = files.n;
        rc = list_images(sub, &files, &ds->skipped, &ds->subdirs, &example);
        if (!rc && files.n == before) {
            ds->empty++;
            strv_appendf(&ds->notes, &ds->nnotes,
                         "%s: no " IMAGE_EXTS " images: class %zu has no members", sub, k);
        }
        free(sub);
        if (rc) goto fail;
        if (files.n > cap) {
            cap = files.cap;
            ds->labels = xrealloc(ds->labels, sizeof(int32_t) * cap);
        }
        for (size_t i = before; i < files.n; i++)
            ds->labels[i] = (int32_t)k;
    }
    if (ds->skipped)
        strv_appendf(&ds->notes, &ds->nnotes,
                     "skipped %zu file%s that %s not " IMAGE_EXTS " (e.g. %s)", ds->skipped,
                     ds->skipped == 1 ? "" : "s", ds->skipped == 1 ? "is" : "are", example);
    if (ds->subdirs)
        strv_appendf(
            &ds->notes, &ds->nnotes,
            "%zu folder%s inside class folders not read (one level of class folders only)",
            ds->subdirs, ds->subdirs == 1 ? "" : "s");
    free(example);
    example = NULL;
    if (!files.n) {
        if (flags & DATASET_CLASSES)
            rc = error_set(ERR_INPUT, root, "no " IMAGE_EXTS " images in its %zu class folders",
                           folders.n);
        else
            rc = error_set(ERR_INPUT, root, "no .png, .jpg, .jpeg, .webp, .bmp or .gif images found");
        goto fail;
    }
    ds->files = files.s, ds->n = files.n;
    ds->classes = folders.s, ds->nclasses = folders.n;
    return 0;
fail:
    free(example);
    strs_release(&folders);
    strs_release(&files);
    dataset_release(ds);
    return rc;
}

int dataset_read_list(const char *path, struct dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    FILE *fp = fopen(path, "r");
    if (!fp) return error_set_errno(ERR_INPUT, path, "cannot open");
    input_register(path);
    struct strs files = {0};
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = 0;
    else
        dir[0] = 0;
    char *line = NULL, *name = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        if (len == 0) continue;
        if (namelist_unquote(line, (size_t)len, &name)) {
            char *why = xstrdup(error_message());
            rc = error_set(ERR_INPUT, path, "line %zu: %s", lineno, why);
            free(why);
            break;
        }
        /* relative: from the current folder when it exists there, else from
         * the list's folder (a list written beside its images) */
        if (name[0] != '/' && dir[0] && access(name, F_OK) != 0) {
            strs_push(&files, xasprintf("%s%s", dir, name));
            free(name);
        } else {
            strs_push(&files, name);
        }
    }
    free(line);
    free(dir);
    int err = !rc && ferror(fp);
    fclose(fp);
    if (!rc && err) rc = error_set(ERR_FAIL, path, "read error");
    if (!rc && !files.n) rc = error_set(ERR_INPUT, path, "no image paths in the list");
    if (rc) {
        strs_release(&files);
        return rc;
    }
    ds->files = files.s, ds->n = files.n;
    return 0;
}

/* ---- --on-error ---------------------------------------------------------- */

int dataset_on_error_parse(const char *s, enum dataset_on_error *policy)
{
    if (!strcmp(s, "stop")) return *policy = DATASET_STOP, 0;
    if (!strcmp(s, "skip")) return *policy = DATASET_SKIP, 0;
    return error_set(ERR_INPUT, NULL, "--on-error: '%s' is not stop or skip", s);
}

/* Appends an entry; file and reason are s's now. */
static void skips_add(struct dataset_skips *s, size_t row, char *file, char *reason)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->files = xrealloc(s->files, sizeof(char *) * s->cap);
        s->reasons = xrealloc(s->reasons, sizeof(char *) * s->cap);
        s->rows = xrealloc(s->rows, sizeof(size_t) * s->cap);
    }
    s->files[s->n] = file, s->reasons[s->n] = reason, s->rows[s->n] = row;
    s->n++;
}

int dataset_skip(struct dataset_skips *s, size_t row, const char *file)
{
    if (s->policy != DATASET_SKIP) {
        error_set_path_if_missing(file);
        return error_code() ? error_code() : ERR_FAIL;
    }
    skips_add(s, row, xstrdup(file),
              xstrdup(*error_message() ? error_message() : "cannot be read"));
    error_clear();
    return 0;
}

void dataset_drop_skipped(struct dataset *ds, const struct dataset_skips *s)
{
    size_t k = 0, o = 0;
    for (size_t i = 0; i < ds->n; i++) {
        if (k < s->n && s->rows[k] == i) {
            free(ds->files[i]);
            k++;
            continue;
        }
        ds->files[o] = ds->files[i];
        if (ds->labels) ds->labels[o] = ds->labels[i];
        o++;
    }
    ds->n = o;
}

/* Entry order for dataset_skips_sort: by row, then as recorded. */
struct skip_key {
    size_t row, at;
};

static int skip_key_cmp(const void *a, const void *b)
{
    const struct skip_key *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

void dataset_skips_sort(struct dataset_skips *s)
{
    if (s->n < 2) return;
    struct skip_key *k = xmalloc(sizeof *k * s->n);
    char **f = xmalloc(sizeof(char *) * s->n), **r = xmalloc(sizeof(char *) * s->n);
    for (size_t i = 0; i < s->n; i++)
        k[i] = (struct skip_key){s->rows[i], i};
    qsort(k, s->n, sizeof *k, skip_key_cmp);
    for (size_t i = 0; i < s->n; i++)
        f[i] = s->files[k[i].at], r[i] = s->reasons[k[i].at], s->rows[i] = k[i].row;
    memcpy(s->files, f, sizeof(char *) * s->n);
    memcpy(s->reasons, r, sizeof(char *) * s->n);
    free(f);
    free(r);
    free(k);
}

int dataset_skips_read(const char *path, struct dataset_skips *s)
{
    struct filebuf fb = {0};
    int rc = filebuf_load(&fb, path);
    if (rc) return rc;
    input_register(path);
    const char *p = (const char *)fb.data, *end = p + fb.len;
    for (size_t line = 1; p < end && !rc; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        const char *tab = memchr(p, '\t', (size_t)(e - p));
        char *file = NULL, *reason = NULL;
        if (!tab || memchr(tab + 1, '\t', (size_t)(e - tab - 1)))
            rc = error_set(ERR_INPUT, path, "line %zu: not a file, a tab and a reason", line);
        else if (namelist_unquote(p, (size_t)(tab - p), &file) ||
                 namelist_unquote(tab + 1, (size_t)(e - tab - 1), &reason))
            rc = error_set(ERR_INPUT, path, "line %zu: %s", line, error_message());
        if (rc) {
            free(file);
            free(reason);
            break;
        }
        skips_add(s, SIZE_MAX, file, reason);
        p = nl ? nl + 1 : end;
    }
    filebuf_release(&fb);
    return rc;
}

int dataset_skips_write(const struct dataset_skips *s, const char *path)
{
    struct outfile of;
    int rc = outfile_open(&of, path);
    if (rc) return rc;
    for (size_t i = 0; i < s->n; i++) {
        namelist_put(of.fp, s->files[i]);
        fputc('\t', of.fp);
        namelist_put(of.fp, s->reasons[i]);
        fputc('\n', of.fp);
    }
    return outfile_commit(&of);
}

int dataset_skips_all(const struct dataset_skips *s, size_t total, const char *path)
{
    if (!total || s->n < total) return 0;
    if (total == 1)
        return error_set(ERR_INPUT, path, "the only image, %s, could not be read: %s",
                         s->files[0], s->reasons[0]);
    return error_set(ERR_INPUT, path,
                     "none of the %zu images could be read (the first, %s: %s)", total,
                     s->files[0], s->reasons[0]);
}

void dataset_skips_release(struct dataset_skips *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->files[i]);
        free(s->reasons[i]);
    }
    free(s->files);
    free(s->reasons);
    free(s->rows);
    enum dataset_on_error p = s->policy;
    memset(s, 0, sizeof *s);
    s->policy = p;
}

/* ---------------------------------------------------------------- shards */
int64_t *dataset_shard(const struct dataset *ds, size_t k, size_t n, size_t unit, size_t *count)
{
    *count = 0;
    if (n == 0 || k >= n || unit == 0) {
        error_set(ERR_INPUT, NULL, "shard %zu of %zu (unit %zu): not a shard", k, n, unit);
        return NULL;
    }
    size_t N = ds->n;
    int64_t *order = xmalloc(sizeof(int64_t) * (N ? N : 1));
    if (!ds->labels || ds->nclasses == 0) {
        for (size_t i = 0; i < N; i++)
            order[i] = (int64_t)i;
    } else {
        /* rank r of each row within its class, then a stable two-pass
         * counting sort: by (class - r) mod C, then by r, giving the order
         * (r, (class - r) mod C, row): round r goes round the classes from
         * class r mod C */
        size_t C = ds->nclasses, *seen = xcalloc(C + 1, sizeof(size_t));
        size_t *rank = xmalloc(sizeof(size_t) * (N ? N : 1)), maxrank = 0;
        int64_t *by_class = xmalloc(sizeof(int64_t) * (N ? N : 1));
        for (size_t i = 0; i < N; i++) {
            int32_t c = ds->labels[i];
            if (c < 0 || (size_t)c >= C) {
                free(seen), free(rank), free(by_class), free(order);
                error_set(ERR_INPUT, ds->files ? ds->files[i] : NULL,
                          "label %d outside the %zu classes", (int)c, C);
                return NULL;
            }
            rank[i] = seen[c]++;
            if (rank[i] + 1 > maxrank) maxrank = rank[i] + 1;
        }
        size_t *start = xcalloc(C + 1, sizeof(size_t));
#define TURN(i) (((size_t)ds->labels[i] + C - rank[i] % C) % C)
        for (size_t i = 0; i < N; i++)
            start[TURN(i) + 1]++;
        for (size_t c = 0; c < C; c++)
            start[c + 1] += start[c];
        for (size_t i = 0; i < N; i++)
            by_class[start[TURN(i)]++] = (int64_t)i;
#undef TURN
        size_t *rstart = xcalloc(maxrank + 1, sizeof(size_t));
        for (size_t i = 0; i < N; i++)
            rstart[rank[i] + 1]++;
        for (size_t r = 0; r < maxrank; r++)
            rstart[r + 1] += rstart[r];
        for (size_t t = 0; t < N; t++) {
            int64_t i = by_class[t];
            order[rstart[rank[i]]++] = i;
        }
        free(rstart);
        free(start);
        free(by_class);
        free(rank);
        free(seen);
    }
    /* units j = k, k + n, k + 2n, ... of the interleaved order, kept in place */
    size_t o = 0;
    for (size_t j0 = k * unit; j0 < N; j0 += n * unit) {
        size_t j1 = N - j0 < unit ? N : j0 + unit;
        for (size_t t = j0; t < j1; t++)
            order[o++] = order[t];
        if (N - j0 <= n * unit) break; /* j0 + n * unit would pass N (and may overflow) */
    }
    *count = o;
    return order;
}
