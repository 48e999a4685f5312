/* labels.c - class labels (one int per row) from .npy ints or text lines of
 * ints or class names, and class-name lists. Names map to ids through a small
 * open-addressing hash table, so a million labels over many classes stays linear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "namelist.h"
#include "outfile.h"
#include "util.h"

/* ---- name -> id table ---------------------------------------------------- */

struct nametab {
    size_t cap, n;    /* cap a power of two, n < cap / 2 */
    const char **key; /* borrowed strings */
    int32_t *id;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void nametab_free(struct nametab *t)
{
    free(t->key);
    free(t->id);
}

/* Slot of (s, n): its own, or the empty one where it would go. */
static size_t nametab_slot(const struct nametab *t, const char *s, size_t n)
{
    size_t i = (size_t)hash_bytes(s, n) & (t->cap - 1);
    while (t->key[i] && !(strlen(t->key[i]) == n && !memcmp(t->key[i], s, n)))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static void nametab_put(struct nametab *t, const char *key, int32_t id)
{
    if (2 * (t->n + 1) > t->cap) {
        struct nametab g = {.cap = t->cap ? 2 * t->cap : 64};
        g.key = xcalloc(g.cap, sizeof *g.key);
        g.id = xcalloc(g.cap, sizeof *g.id);
        for (size_t i = 0; i < t->cap; i++)
            if (t->key[i]) {
                size_t j = nametab_slot(&g, t->key[i], strlen(t->key[i]));
                g.key[j] = t->key[i];
                g.id[j] = t->id[i];
                g.n++;
            }
        nametab_free(t);
        *t = g;
    }
    size_t j = nametab_slot(t, key, strlen(key));
    if (!t->key[j]) t->n++;
    t->key[j] = key;
    t->id[j] = id;
}

/* id of (s, n), or -1. */
static int32_t nametab_get(const struct nametab *t, const char *s, size_t n)
{
    if (!t->cap) return -1;
    size_t j = nametab_slot(t, s, n);
    return t->key[j] ? t->id[j] : -1;
}

/* ---- lines ------------------------------------------------------------------ */

struct span {
    const char *p;
    size_t n;
    size_t lineno;
};

/* Trimmed lines of buf (blank ones kept as n == 0). Returns the count; *out
 * is big_alloc'ed (NULL + error when too many). */
static size_t split_lines(const char *b, size_t len, const char *name, struct span **out)
{
    size_t count = 1, bytes;
    for (const char *p = b; (p = memchr(p, '\n', len - (size_t)(p - b))); p++)
        count++;
    *out = NULL;
    if (!mul_ok(count, sizeof **out, &bytes)) return 0;
    struct span *sp = big_alloc(bytes, name, "label lines");
    if (!sp) return 0;
    size_t n = 0, at = 0, lineno = 0;
    while (at < len) {
        const char *s = b + at, *nl = memchr(s, '\n', len - at), *e = nl ? nl : b + len;
        at = (size_t)(e - b) + 1;
        lineno++;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        sp[n++] = (struct span){s, (size_t)(e - s), lineno};
    }
    *out = sp;
    return n;
}

/* A whole span as a decimal integer (optional sign). 1 when it is one. */
static int span_int(struct span s, long long *out)
{
    char t[32];
    if (s.n == 0 || s.n >= sizeof t) return 0;
    memcpy(t, s.p, s.n);
    t[s.n] = 0;
    char *e;
    size_t i = (t[0] == '-' || t[0] == '+');
    if (t[i] < '0' || t[i] > '9') return 0;
    *out = strtoll(t, &e, 10);
    return *e == 0;
}

static char *span_dup(struct span s)
{
    char *c = xmalloc(s.n + 1);
    memcpy(c, s.p, s.n);
    c[s.n] = 0;
    return c;
}

/* ---- class lists ------------------------------------------------------------ */

void class_names_free(char **names, size_t n)
{
    if (!names) return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

char **class_names_load(const char *path, size_t *n)
{
    const char *name = input_name(path);
    struct filebuf fb;
    struct span *sp = NULL;
    struct nametab t = {0};
    char **names = NULL;
    size_t *line_of = NULL, k = 0;
    *n = 0;
    if (filebuf_load(&fb, path) < 0) return NULL;
    input_register(path);
    size_t nl = fb.len ? split_lines((const char *)fb.data, fb.len, name, &sp) : 0;
    if (fb.len && !sp) goto fail;
    names = xcalloc(nl ? nl : 1, sizeof *names);
    line_of = xcalloc(nl ? nl : 1, sizeof *line_of);
    for (size_t i = 0; i < nl; i++) {
        if (!sp[i].n) continue;
        /* a quoted name (namelist.h), as interp writes classes.txt */
        char *s = NULL;
        if (namelist_unquote(sp[i].p, sp[i].n, &s)) {
            char *why = xstrdup(error_message());
            error_set(ERR_INPUT, name, "line %zu: %s", sp[i].lineno, why);
            free(why);
            goto fail;
        }
        int32_t prev = nametab_get(&t, s, strlen(s));
        if (prev >= 0) {
            error_set(ERR_INPUT, name, "class '%.60s' appears twice (lines %zu and %zu)", s,
                      line_of[prev], sp[i].lineno);
            free(s);
            goto fail;
        }
        if (k > INT32_MAX - 1) {
            error_set(ERR_INPUT, name, "more than %d class names", INT32_MAX);
            free(s);
            goto fail;
        }
        names[k] = s;
        line_of[k] = sp[i].lineno;
        nametab_put(&t, names[k], (int32_t)k);
        k++;
    }
    if (k == 0) {
        error_set(ERR_INPUT, name, "no class names (the file is empty or blank)");
        goto fail;
    }
    *n = k;
    goto done;
fail:
    class_names_free(names, k);
    names = NULL;
done:
    nametab_free(&t);
    free(line_of);
    free(sp);
    filebuf_release(&fb);
    return names;
}

/* ---- labels ------------------------------------------------------------------ */

void labels_free(struct labels *l)
{
    if (!l) return;
    free(l->id);
    class_names_free(l->names, l->nclasses);
    free(l);
}

static char **names_copy(char *const *classes, size_t n)
{
    char **c = xcalloc(n ? n : 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = xstrdup(classes[i]);
    return c;
}

/* .npy labels: any int dtype or integral floats, 1-D or n x 1. */
static struct labels *labels_from_npy(const void *buf, size_t len, const char *name,
                                      char *const *classes, size_t nclasses)
{
    char sh[64];
    struct array *a = npy_parse(buf, len, name, DT_I32, 1);
    if (!a) return NULL;
    size_t n = a->shape[0];
    const int32_t *v = a->data;
    int32_t max = -1;
    if (n == 0) {
        error_set(ERR_INPUT, name, "no labels (shape %s)",
                  array_shape_str(a->shape, 1, sh, sizeof sh));
        array_free(a);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0 || (classes && (size_t)v[i] >= nclasses)) {
            if (v[i] < 0)
                error_set(ERR_INPUT, name, "label %d at index %zu is negative", v[i], i);
            else
                error_set(ERR_INPUT, name,
                          "label %d at index %zu is out of range for "
                          "%zu classes",
                          v[i], i, nclasses);
            array_free(a);
            return NULL;
        }
        if (v[i] > max) max = v[i];
    }
    struct labels *l = xcalloc(1, sizeof *l);
    l->n = n;
    l->id = a->data; /* take the buffer: int32, n of them */
    a->data = NULL;
    array_free(a);
    l->nclasses = classes ? nclasses : (size_t)max + 1;
    l->names = classes ? names_copy(classes, nclasses) : NULL;
    return l;
}

struct labels *labels_parse(const void *buf, size_t len, const char *name, char *const *classes,
                            size_t nclasses)
{
    static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
    if (len == 0) {
        error_set(ERR_INPUT, name, "empty file");
        return NULL;
    }
    if (len >= 6 && !memcmp(buf, magic, 6))
        return labels_from_npy(buf, len, name, classes, nclasses);

    struct span *sp;
    size_t nl = split_lines(buf, len, name, &sp), n = 0;
    if (!sp) return NULL;
    struct labels *l = NULL;
    struct nametab t = {0};
    char **names = NULL;
    size_t nnames = 0, cap = 0;
    int32_t *id = NULL;

    /* Labels are lines 1..last non-blank; a blank one among them would shift
     * every later label onto the wrong row. */
    while (nl && sp[nl - 1].n == 0)
        nl--;
    int all_int = 1;
    for (size_t i = 0; i < nl; i++) {
        long long x;
        if (sp[i].n == 0) {
            error_set(ERR_INPUT, name,
                      "line %zu is blank (one label per line, "
                      "labels follow it)",
                      sp[i].lineno);
            goto done;
        }
        if (all_int && !span_int(sp[i], &x)) all_int = 0;
    }
    if (nl == 0) {
        error_set(ERR_INPUT, name, "no labels (only blank lines)");
        goto done;
    }
    id = big_alloc(nl * sizeof *id, name, "labels");
    if (!id) goto done;
    if (classes)
        for (size_t c = 0; c < nclasses; c++)
            nametab_put(&t, classes[c], (int32_t)c);
    int32_t max = -1;
    for (n = 0; n < nl; n++) {
        struct span s = sp[n];
        long long x;
        if (all_int) {
            span_int(s, &x);
            if (x < 0) {
                error_set(ERR_INPUT, name, "line %zu: label %lld is negative", s.lineno, x);
                goto done;
            }
            if (classes ? (unsigned long long)x >= nclasses : x > INT32_MAX - 1) {
                if (classes)
                    error_set(ERR_INPUT, name,
                              "line %zu: label %lld is out of range for "
                              "%zu classes",
                              s.lineno, x, nclasses);
                else
                    error_set(ERR_INPUT, name, "line %zu: label %lld is too large", s.lineno,
                              x);
                goto done;
            }
            id[n] = (int32_t)x;
        } else {
            int32_t k = nametab_get(&t, s.p, s.n);
            if (k < 0 && classes) {
                char *c = span_dup(s);
                error_set(ERR_INPUT, name,
                          "line %zu: class '%.60s' is not among the "
                          "%zu class names given",
                          s.lineno, c, nclasses);
                free(c);
                goto done;
            }
            if (k < 0) { /* a new name: the next id, in order of first appearance */
                if (nnames == cap) {
                    cap = cap ? 2 * cap : 16;
                    names = xrealloc(names, cap * sizeof *names);
                }
                names[nnames] = span_dup(s);
                k = (int32_t)nnames;
                nametab_put(&t, names[nnames++], k);
            }
            id[n] = k;
        }
        if (id[n] > max) max = id[n];
    }
    l = xcalloc(1, sizeof *l);
    l->n = nl;
    l->id = id;
    id = NULL;
    if (classes) {
        l->nclasses = nclasses;
        l->names = names_copy(classes, nclasses);
    } else if (!all_int) {
        l->nclasses = nnames;
        l->names = names;
        names = NULL;
    } else {
        l->nclasses = (size_t)max + 1;
    }
done:
    if (names) class_names_free(names, nnames);
    nametab_free(&t);
    free(id);
    free(sp);
    return l;
}

struct labels *labels_load(const char *path, const char *classes_path)
{
    char **classes = NULL;
    size_t nclasses = 0;
    struct filebuf fb;
    if (classes_path && !(classes = class_names_load(classes_path, &nclasses))) return NULL;
    struct labels *l = NULL;
    if (filebuf_load(&fb, path) == 0) {
        input_register(path);
        l = labels_parse(fb.data, fb.len, input_name(path), classes, nclasses);
        filebuf_release(&fb);
    }
    class_names_free(classes, nclasses);
    return l;
}

int labels_check_rows(const struct labels *l, size_t rows, const char *path)
{
    if (l->n == rows) return 0;
    return error_set(ERR_INPUT, path, "%zu labels for %zu rows", l->n, rows);
}
