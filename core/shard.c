/* shard.c - the manifest of a part folder: what a shard ran (command, shard
 * K/N, rows, the inputs by SHA-256, the settings) and the files it wrote,
 * as manifest.json, written last; read back and compared by the merge.
 */
#include "shard.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "error.h"
#include "json.h"
#include "json_value.h"
#include "outfile.h"
#include "util.h"

int shard_parse(const char *spec, struct shard *s)
{
    const char *p = spec;
    unsigned long long v[2];
    for (int i = 0; i < 2; i++) {
        if (*p < '0' || *p > '9') goto bad;
        v[i] = 0;
        while (*p >= '0' && *p <= '9') {
            if (v[i] > SHARD_MAX_N) goto bad;
            v[i] = v[i] * 10 + (unsigned)(*p++ - '0');
        }
        if (i == 0 && *p++ != '/') goto bad;
    }
    if (*p || v[1] < 1 || v[1] > SHARD_MAX_N) goto bad;
    if (v[0] >= v[1])
        return error_set(ERR_INPUT, NULL,
                         "--shard %s: shard %llu of %llu does not exist (K counts from 0 to "
                         "N-1, as $SLURM_ARRAY_TASK_ID and `seq 0 N-1` do)",
                         spec, v[0], v[1]);
    s->k = (size_t)v[0], s->n = (size_t)v[1];
    return 0;
bad:
    return error_set(ERR_INPUT, NULL,
                     "--shard %s: expected K/N, shard K of N counted from 0 (0/4 .. 3/4), "
                     "N at most %d",
                     spec, SHARD_MAX_N);
}

/* ---------------------------------------------------------------- building */
void shard_manifest_init(struct shard_manifest *m, const char *command, struct shard s,
                         size_t total, size_t count, size_t unit)
{
    memset(m, 0, sizeof *m);
    m->format = xstrdup(SHARD_FORMAT);
    m->version = xstrdup(INTERP_VERSION);
    m->command = xstrdup(command);
    m->shard = s;
    m->total = total;
    m->count = count;
    m->unit = unit;
}

void shard_manifest_add_input_digest(struct shard_manifest *m, const char *role,
                                     const char *what, const char hex[SHA256_HEX_LEN + 1])
{
    m->inputs = xrealloc(m->inputs, sizeof *m->inputs * (m->ninputs + 1));
    struct shard_input *in = &m->inputs[m->ninputs++];
    in->role = xstrdup(role);
    in->path = xstrdup(what);
    memcpy(in->sha256, hex, SHA256_HEX_LEN + 1);
}

int shard_manifest_add_input(struct shard_manifest *m, const char *role, const char *path)
{
    char hex[SHA256_HEX_LEN + 1];
    int rc = sha256_file(path, hex, NULL);
    if (rc) return rc;
    shard_manifest_add_input_digest(m, role, path, hex);
    return 0;
}

void shard_manifest_add_param(struct shard_manifest *m, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v = NULL;
    int n = vasprintf(&v, fmt, ap);
    va_end(ap);
    BUG_ON(n < 0);
    m->params = xrealloc(m->params, sizeof *m->params * (m->nparams + 1));
    m->params[m->nparams].key = xstrdup(key);
    m->params[m->nparams++].value = v;
}

void shard_manifest_set_classes(struct shard_manifest *m, char *const *names, size_t n)
{
    for (size_t i = 0; i < m->nclasses; i++)
        free(m->classes[i]);
    free(m->classes);
    m->classes = NULL, m->nclasses = 0;
    if (!names) return;
    m->classes = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        m->classes[i] = xstrdup(names[i]);
    m->nclasses = n;
}

int shard_manifest_add_file(struct shard_manifest *m, const char *dir, const char *name,
                            enum shard_merge_kind kind, const char *dtype)
{
    if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return error_set(ERR_INPUT, name, "not a file name inside the part folder");
    char *p = path_join(dir, name);
    struct shard_file f = {0};
    int rc = sha256_file(p, f.sha256, &f.bytes);
    free(p);
    if (rc) return rc;
    f.name = xstrdup(name);
    f.kind = kind;
    f.dtype = dtype ? xstrdup(dtype) : NULL;
    m->files = xrealloc(m->files, sizeof *m->files * (m->nfiles + 1));
    m->files[m->nfiles++] = f;
    return 0;
}

void shard_manifest_release(struct shard_manifest *m)
{
    if (!m) return;
    free(m->format);
    free(m->version);
    free(m->command);
    free(m->dir);
    for (size_t i = 0; i < m->ninputs; i++)
        free(m->inputs[i].role), free(m->inputs[i].path);
    free(m->inputs);
    for (size_t i = 0; i < m->nparams; i++)
        free(m->params[i].key), free(m->params[i].value);
    free(m->params);
    shard_manifest_set_classes(m, NULL, 0);
    for (size_t i = 0; i < m->nfiles; i++)
        free(m->files[i].name), free(m->files[i].dtype);
    free(m->files);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- writing */
/* in the order of enum shard_merge_kind */
static const char *const KIND_NAMES[] = {"rows",      "index", "same",      "skip-index",
                                         "skip-rows", "copy",  "copy-paths"};
#define NKINDS 7

int shard_manifest_write(const char *dir, const struct shard_manifest *m)
{
    char *path = path_join(dir, SHARD_MANIFEST);
    struct outfile of;
    int rc = outfile_open(&of, path);
    free(path);
    if (rc) return rc;
    struct json j;
    json_init(&j, of.fp);
    json_object_begin(&j);
    json_key(&j, "format");
    json_string(&j, m->format);
    json_key(&j, "interp_version");
    json_string(&j, m->version);
    json_key(&j, "command");
    json_string(&j, m->command);
    char *prefix = path_join(dir, "");
    json_key(&j, "dir");
    json_string(&j, prefix);
    free(prefix);
    json_key(&j, "shard");
    json_int(&j, (int64_t)m->shard.k);
    json_key(&j, "shards");
    json_int(&j, (int64_t)m->shard.n);
    /* for a reader: the rule dataset_shard() applied (not read back) */
    char rule[400];
    snprintf(rule, sizeof rule,
             "%s, cut into units of %zu; unit j goes to shard j mod %zu; a row that cannot "
             "be read (--on-error skip) keeps its place in its unit, which runs one row "
             "short, and is listed in skipped_rows.npy instead of rows.npy",
             m->classes ? "rows dealt by class into an interleaved order"
                        : "rows in list order",
             m->unit, m->shard.n);
    json_key(&j, "rule");
    json_string(&j, rule);
    json_key(&j, "unit");
    json_int(&j, (int64_t)m->unit);
    json_key(&j, "total");
    json_int(&j, (int64_t)m->total);
    json_key(&j, "count");
    json_int(&j, (int64_t)m->count);
    json_key(&j, "skipped");
    json_int(&j, (int64_t)m->skipped);
    json_key(&j, "inputs");
    json_array_begin(&j);
    for (size_t i = 0; i < m->ninputs; i++) {
        json_object_begin(&j);
        json_key(&j, "role");
        json_string(&j, m->inputs[i].role);
        json_key(&j, "path");
        json_string(&j, m->inputs[i].path);
        json_key(&j, "sha256");
        json_string(&j, m->inputs[i].sha256);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_key(&j, "params");
    json_object_begin(&j);
    for (size_t i = 0; i < m->nparams; i++) {
        json_key(&j, m->params[i].key);
        json_string(&j, m->params[i].value);
    }
    json_object_end(&j);
    json_key(&j, "classes");
    if (m->classes) {
        json_array_begin(&j);
        for (size_t i = 0; i < m->nclasses; i++)
            json_string(&j, m->classes[i]);
        json_array_end(&j);
    } else {
        json_null(&j);
    }
    json_key(&j, "files");
    json_array_begin(&j);
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct shard_file *f = &m->files[i];
        json_object_begin(&j);
        json_key(&j, "name");
        json_string(&j, f->name);
        json_key(&j, "merge");
        json_string(&j, KIND_NAMES[f->kind]);
        if (f->dtype) {
            json_key(&j, "dtype");
            json_string(&j, f->dtype);
        }
        json_key(&j, "bytes");
        json_int(&j, (int64_t)f->bytes);
        json_key(&j, "sha256");
        json_string(&j, f->sha256);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);
    json_finish(&j);
    return outfile_commit(&of);
}

/* ---------------------------------------------------------------- reading */
/* A string member, owned copy into *out; ERR_INPUT naming key. */
static int get_string(const struct json_value *o, const char *key, char **out)
{
    const char *s = json_str(json_get(o, key));
    if (!s)
        return error_set(ERR_INPUT, NULL, "%s: '%s' missing or not a string", SHARD_MANIFEST,
                         key);
    *out = xstrdup(s);
    return 0;
}

static int get_size(const struct json_value *o, const char *key, int64_t min, size_t *out)
{
    int64_t v;
    int rc = json_get_int(o, key, min, INT64_MAX / 2, &v);
    if (rc == 1) return error_set(ERR_INPUT, NULL, "%s: '%s' missing", SHARD_MANIFEST, key);
    if (rc < 0) return rc;
    *out = (size_t)v;
    return 0;
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != SHA256_HEX_LEN) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static int read_tree(const struct json_value *v, struct shard_manifest *m)
{
    int rc;
    if (json_value_type(v) != JSON_OBJECT)
        return error_set(ERR_INPUT, NULL, "%s: not a JSON object", SHARD_MANIFEST);
    if ((rc = get_string(v, "format", &m->format))) return rc;
    if (strcmp(m->format, SHARD_FORMAT))
        return error_set(ERR_INPUT, NULL, "%s: format '%s', this interp reads '%s'",
                         SHARD_MANIFEST, m->format, SHARD_FORMAT);
    if ((rc = get_string(v, "interp_version", &m->version)) ||
        (rc = get_string(v, "command", &m->command)) || (rc = get_string(v, "dir", &m->dir)) ||
        (rc = get_size(v, "shard", 0, &m->shard.k)) ||
        (rc = get_size(v, "shards", 1, &m->shard.n)) ||
        (rc = get_size(v, "unit", 1, &m->unit)) || (rc = get_size(v, "total", 0, &m->total)) ||
        (rc = get_size(v, "count", 0, &m->count)))
        return rc;
    if (json_get(v, "skipped") && (rc = get_size(v, "skipped", 0, &m->skipped))) return rc;
    if (m->shard.k >= m->shard.n || m->count > m->total || m->skipped > m->total - m->count)
        return error_set(
            ERR_INPUT, NULL, "%s: shard %zu of %zu with %zu (and %zu left out) of %zu rows",
            SHARD_MANIFEST, m->shard.k, m->shard.n, m->count, m->skipped, m->total);
    const struct json_value *ins = json_get(v, "inputs"), *ps = json_get(v, "params"),
                            *cs = json_get(v, "classes"), *fs = json_get(v, "files");
    if (json_value_type(ins) != JSON_ARRAY || json_value_type(ps) != JSON_OBJECT ||
        json_value_type(fs) != JSON_ARRAY ||
        (json_value_type(cs) != JSON_ARRAY && json_value_type(cs) != JSON_NULL))
        return error_set(ERR_INPUT, NULL,
                         "%s: 'inputs', 'params', 'classes' or 'files' missing or of the "
                         "wrong type",
                         SHARD_MANIFEST);
    for (size_t i = 0; i < json_len(ins); i++) {
        const struct json_value *e = json_at(ins, i);
        const char *role = json_get_str(e, "role", NULL), *path = json_get_str(e, "path", NULL),
                   *hex = json_get_str(e, "sha256", NULL);
        if (!role || !path || !is_hex64(hex))
            return error_set(ERR_INPUT, NULL,
                             "%s: input %zu: needs 'role', 'path' and a 64-digit 'sha256'",
                             SHARD_MANIFEST, i);
        shard_manifest_add_input_digest(m, role, path, hex);
    }
    for (size_t i = 0; i < json_len(ps); i++) {
        const char *val = json_str(json_at(ps, i));
        if (!val)
            return error_set(ERR_INPUT, NULL, "%s: params: '%s' is not a string",
                             SHARD_MANIFEST, json_key_at(ps, i));
        shard_manifest_add_param(m, json_key_at(ps, i), "%s", val);
    }
    if (json_value_type(cs) == JSON_ARRAY) {
        m->classes = xcalloc(json_len(cs) + 1, sizeof(char *));
        for (size_t i = 0; i < json_len(cs); i++) {
            const char *s = json_str(json_at(cs, i));
            if (!s)
                return error_set(ERR_INPUT, NULL, "%s: class %zu is not a string",
                                 SHARD_MANIFEST, i);
            m->classes[m->nclasses++] = xstrdup(s);
        }
    }
    for (size_t i = 0; i < json_len(fs); i++) {
        const struct json_value *e = json_at(fs, i);
        const char *name = json_get_str(e, "name", NULL),
                   *kind = json_get_str(e, "merge", NULL),
                   *hex = json_get_str(e, "sha256", NULL),
                   *dtype = json_get_str(e, "dtype", NULL);
        int64_t bytes;
        int k = -1;
        for (int t = 0; t < NKINDS && kind; t++)
            if (!strcmp(kind, KIND_NAMES[t])) k = t;
        if (!name || !*name || strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, ".") ||
            !strcmp(name, SHARD_MANIFEST) || k < 0 || !is_hex64(hex) ||
            json_get_int(e, "bytes", 0, INT64_MAX, &bytes) != 0)
            return error_set(ERR_INPUT, NULL,
                             "%s: file %zu: needs a 'name' inside the folder, 'merge' (rows, "
                             "index, same, skip-index, skip-rows, copy or copy-paths), "
                             "'bytes' and a 64-digit 'sha256'",
                             SHARD_MANIFEST, i);
        if ((k == SHARD_INDEX || k == SHARD_SKIP_INDEX) && (!dtype || strcmp(dtype, "int64")))
            return error_set(ERR_INPUT, NULL, "%s: %s: the row index must be int64",
                             SHARD_MANIFEST, name);
        if (k != SHARD_SAME && k < SHARD_COPY && strstr(name, ".npy") &&
            (!dtype ||
             (strcmp(dtype, "float32") && strcmp(dtype, "int32") && strcmp(dtype, "int64"))))
            return error_set(ERR_INPUT, NULL, "%s: %s: 'dtype' must be float32, int32 or int64",
                             SHARD_MANIFEST, name);
        struct shard_file f = {.name = xstrdup(name),
                               .kind = (enum shard_merge_kind)k,
                               .dtype = dtype ? xstrdup(dtype) : NULL,
                               .bytes = (uint64_t)bytes};
        memcpy(f.sha256, hex, SHA256_HEX_LEN + 1);
        m->files = xrealloc(m->files, sizeof *m->files * (m->nfiles + 1));
        m->files[m->nfiles++] = f;
    }
    return 0;
}

int shard_manifest_parse(const char *text, size_t len, const char *name,
                         struct shard_manifest *m)
{
    memset(m, 0, sizeof *m);
    struct json_value *v = json_parse(text, len, name);
    int rc = v ? read_tree(v, m) : error_code();
    json_value_free(v);
    if (rc) {
        error_set_path_if_missing(name);
        shard_manifest_release(m);
    }
    return rc;
}

int shard_manifest_read(const char *dir, struct shard_manifest *m)
{
    memset(m, 0, sizeof *m);
    char *path = path_join(dir, SHARD_MANIFEST);
    if (access(path, F_OK) != 0) {
        free(path);
        return error_set(ERR_INPUT, dir,
                         "no %s: not a finished part (its shard did not finish, or this is "
                         "not a part folder); run that shard again",
                         SHARD_MANIFEST);
    }
    struct filebuf fb = {0};
    int rc = filebuf_load(&fb, path);
    if (!rc) rc = shard_manifest_parse((const char *)fb.data, fb.len, path, m);
    filebuf_release(&fb);
    free(path);
    return rc;
}

int shard_manifest_verify(const char *dir, const struct shard_manifest *m)
{
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct shard_file *f = &m->files[i];
        char *p = path_join(dir, f->name), hex[SHA256_HEX_LEN + 1];
        uint64_t bytes;
        int rc = sha256_file(p, hex, &bytes);
        if (rc) {
            error_set(ERR_INPUT, p, "listed in %s but cannot be read: the part is incomplete",
                      SHARD_MANIFEST);
        } else if (bytes != f->bytes || strcmp(hex, f->sha256)) {
            rc = error_set(ERR_INPUT, p,
                           "changed since %s was written (%llu bytes, sha256 %.12s..., the "
                           "manifest says %llu bytes, %.12s...)",
                           SHARD_MANIFEST, (unsigned long long)bytes, hex,
                           (unsigned long long)f->bytes, f->sha256);
        }
        free(p);
        if (rc) return rc;
    }
    return 0;
}

int shard_manifest_same_run(const struct shard_manifest *a, const struct shard_manifest *b,
                            char *why, size_t len)
{
#define DIFF(...) return snprintf(why, len, __VA_ARGS__), 0
    if (strcmp(a->format, b->format))
        DIFF("manifest format '%s', not '%s'", b->format, a->format);
    if (strcmp(a->version, b->version))
        DIFF("written by interp %s, not %s", b->version, a->version);
    if (strcmp(a->command, b->command))
        DIFF("a part of `interp %s`, not `interp %s`", b->command, a->command);
    if (a->shard.n != b->shard.n)
        DIFF("shard %zu/%zu: the run was split into %zu shards, not %zu", b->shard.k,
             b->shard.n, b->shard.n, a->shard.n);
    if (a->ninputs != b->ninputs) DIFF("%zu inputs, not %zu", b->ninputs, a->ninputs);
    for (size_t i = 0; i < a->ninputs; i++) {
        const struct shard_input *x = &a->inputs[i], *y = &b->inputs[i];
        if (strcmp(x->role, y->role))
            DIFF("input %zu is the %s, not the %s", i, y->role, x->role);
        if (strcmp(x->sha256, y->sha256))
            DIFF("made with another %s (%s, sha256 %.16s..., not %.16s...)", y->role, y->path,
                 y->sha256, x->sha256);
    }
    if (a->total != b->total) DIFF("a run of %zu rows, not %zu", b->total, a->total);
    if (a->unit != b->unit) DIFF("rows dealt in units of %zu, not %zu", b->unit, a->unit);
    if (a->nparams != b->nparams) DIFF("%zu settings, not %zu", b->nparams, a->nparams);
    for (size_t i = 0; i < a->nparams; i++) {
        const struct shard_param *x = &a->params[i], *y = &b->params[i];
        if (strcmp(x->key, y->key)) DIFF("setting %zu is '%s', not '%s'", i, y->key, x->key);
        if (strcmp(x->value, y->value)) DIFF("%s '%s', not '%s'", y->key, y->value, x->value);
    }
    if (!a->classes != !b->classes) DIFF("%s class folders", b->classes ? "with" : "without");
    if (a->nclasses != b->nclasses) DIFF("%zu classes, not %zu", b->nclasses, a->nclasses);
    for (size_t i = 0; i < a->nclasses; i++)
        if (strcmp(a->classes[i], b->classes[i]))
            DIFF("class %zu is '%s', not '%s'", i, b->classes[i], a->classes[i]);
#undef DIFF
    return 1;
}
