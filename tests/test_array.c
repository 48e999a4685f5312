/* test_array.c - the array readers and writers against numpy's own files.
 *
 * fixtures/make_arrays.py writes every .npy variant with numpy and lists the
 * values in fixtures/arrays/index.txt (Python repr precision); malformed.txt
 * lists bad files with the phrase each error must contain.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/array.h"
#include "../core/error.h"
#include "../core/util.h"

#define FIX "fixtures/arrays/"

/* ---- index.txt ----------------------------------------------------------- */

struct entry {
    char file[96];
    char descr[16]; /* "<f4", "text", ... */
    char order;
    int ndim;
    size_t shape[ARRAY_MAX_DIMS];
    size_t n;
    char **vals; /* n value strings, C order */
};

static struct entry *index_load(size_t *count)
{
    FILE *fp = fopen(FIX "index.txt", "r");
    cr_assert_not_null(fp, "cannot open " FIX "index.txt (run from the repo root)");
    struct entry *es = NULL;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        if (line[0] == '#') continue;
        es = realloc(es, (n + 1) * sizeof *es);
        struct entry *e = &es[n++];
        memset(e, 0, sizeof *e);
        char *save, *tok = strtok_r(line, " \n", &save);
        snprintf(e->file, sizeof e->file, "%s", tok);
        snprintf(e->descr, sizeof e->descr, "%s", strtok_r(NULL, " \n", &save));
        e->order = strtok_r(NULL, " \n", &save)[0];
        strtok_r(NULL, " \n", &save); /* version */
        char *shape = strtok_r(NULL, " \n", &save), *s2;
        for (char *d = strtok_r(shape, "x", &s2); d; d = strtok_r(NULL, "x", &s2))
            e->shape[e->ndim++] = strtoull(d, NULL, 10);
        e->n = 1;
        for (int i = 0; i < e->ndim; i++)
            e->n *= e->shape[i];
        e->vals = calloc(e->n, sizeof *e->vals);
        for (size_t i = 0; i < e->n; i++) {
            char *v = strtok_r(NULL, " \n", &save);
            cr_assert_not_null(v, "%s: index has too few values", e->file);
            e->vals[i] = strdup(v);
        }
    }
    free(line);
    fclose(fp);
    *count = n;
    return es;
}

static void index_free(struct entry *es, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < es[i].n; k++)
            free(es[i].vals[k]);
        free(es[i].vals);
    }
    free(es);
}

/* 'f' float (and text), 'i' signed, 'u' unsigned, 'b' bool */
static char entry_kind(const struct entry *e)
{
    return strcmp(e->descr, "text") ? e->descr[1] : 'f';
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static struct array *entry_load(const struct entry *e, enum dtype want)
{
    char path[160];
    snprintf(path, sizeof path, FIX "%s", e->file);
    struct array_opts o = array_opts_default();
    o.want_ndim = 0;
    if (ends_with(e->file, ".bin")) o.dim = e->shape[e->ndim - 1];
    return array_load(path, &o, want);
}

/* The expected float64 / float32 of a value string, as C converts from the
 * exact value: ints convert directly (int64 -> float rounds once). */
static double expect_f64(char kind, const char *v)
{
    if (kind == 'f') return strtod(v, NULL);
    if (kind == 'u') return (double)strtoull(v, NULL, 10);
    return (double)strtoll(v, NULL, 10);
}

static float expect_f32(char kind, const char *v)
{
    if (kind == 'f') return (float)strtod(v, NULL);
    if (kind == 'u') return (float)strtoull(v, NULL, 10);
    return (float)strtoll(v, NULL, 10);
}

static void check_shape(const struct entry *e, const struct array *a)
{
    cr_assert_eq(a->ndim, e->ndim, "%s: ndim %d, expected %d", e->file, a->ndim, e->ndim);
    for (int i = 0; i < e->ndim; i++)
        cr_assert_eq(a->shape[i], e->shape[i], "%s: shape[%d] %zu, expected %zu", e->file, i,
                     a->shape[i], e->shape[i]);
}

/* Bit-exact (NaN matches any NaN); reports the count, worst difference and where. */
#define CHECK_FLOATS(T, FN, e, a)                                                              \
    do {                                                                                       \
        const T *got = (a)->data;                                                              \
        size_t bad = 0, worst_at = 0;                                                          \
        double worst = -1;                                                                     \
        for (size_t k = 0; k < (e)->n; k++) {                                                  \
            T want = FN(entry_kind(e), (e)->vals[k]);                                          \
            int same = (isnan(want) && isnan(got[k])) ||                                       \
                       (!isnan(want) && !memcmp(&want, &got[k], sizeof want));                 \
            if (!same) {                                                                       \
                double d = fabs((double)got[k] - (double)want);                                \
                if (worst < 0 || isnan(d) || d > worst) {                                      \
                    worst = isnan(d) ? INFINITY : d;                                           \
                    worst_at = k;                                                              \
                }                                                                              \
                bad++;                                                                         \
            }                                                                                  \
        }                                                                                      \
        cr_expect_eq(bad, 0,                                                                   \
                     "%s as %s: %zu of %zu values differ, worst at flat "                      \
                     "index %zu: got %.17g, expected %s (diff %g)",                            \
                     (e)->file, #T, bad, (e)->n, worst_at, (double)got[worst_at],              \
                     (e)->vals[worst_at], worst);                                              \
    } while (0)

Test(array, every_valid_fixture_as_float32)
{
    size_t n;
    struct entry *es = index_load(&n);
    cr_assert_gt(n, 140, "index.txt lists only %zu files", n);
    for (size_t i = 0; i < n; i++) {
        struct array *a = entry_load(&es[i], DT_F32);
        cr_assert_not_null(a, "%s: %s", es[i].file, error_message());
        cr_assert_eq(a->dtype, DT_F32);
        check_shape(&es[i], a);
        CHECK_FLOATS(float, expect_f32, &es[i], a);
        array_free(a);
    }
    index_free(es, n);
}

Test(array, every_valid_fixture_as_float64)
{
    size_t n;
    struct entry *es = index_load(&n);
    for (size_t i = 0; i < n; i++) {
        struct array *a = entry_load(&es[i], DT_F64);
        cr_assert_not_null(a, "%s: %s", es[i].file, error_message());
        check_shape(&es[i], a);
        CHECK_FLOATS(double, expect_f64, &es[i], a);
        array_free(a);
    }
    index_free(es, n);
}

/* Whether value string v fits [lo, hi] as an integer; *x gets it. */
static int expect_int(char kind, const char *v, long long lo, long long hi, long long *x)
{
    if (kind == 'u') {
        unsigned long long u = strtoull(v, NULL, 10);
        *x = (long long)u;
        return u <= (unsigned long long)hi;
    }
    if (kind == 'f') {
        double d = strtod(v, NULL);
        if (!isfinite(d) || d != floor(d) || d < (double)lo || d >= 9223372036854775808.0 ||
            d > (double)hi)
            return 0;
        *x = (long long)d;
        return 1;
    }
    *x = strtoll(v, NULL, 10);
    return *x >= lo && *x <= hi;
}

static void check_ints(enum dtype want, long long lo, long long hi)
{
    size_t n;
    struct entry *es = index_load(&n);
    int fits_seen = 0, refused_seen = 0;
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &es[i];
        long long x;
        int fits = 1;
        for (size_t k = 0; k < e->n; k++)
            fits &= expect_int(entry_kind(e), e->vals[k], lo, hi, &x);
        struct array *a = entry_load(e, want);
        if (!fits) {
            refused_seen++;
            cr_expect_null(a, "%s as %s: accepted values that do not fit", e->file,
                           dtype_name(want));
            cr_expect_eq(error_code(), ERR_INPUT);
            cr_expect(strstr(error_message(), "does not fit") ||
                          strstr(error_message(), "is not an integer"),
                      "%s: %s", e->file, error_message());
            array_free(a);
            continue;
        }
        fits_seen++;
        cr_assert_not_null(a, "%s as %s: %s", e->file, dtype_name(want), error_message());
        check_shape(e, a);
        for (size_t k = 0; k < e->n; k++) {
            expect_int(entry_kind(e), e->vals[k], lo, hi, &x);
            long long got = want == DT_I32 ? ((int32_t *)a->data)[k] : ((int64_t *)a->data)[k];
            cr_expect_eq(got, x, "%s as %s [%zu]: got %lld, expected %s", e->file,
                         dtype_name(want), k, got, e->vals[k]);
        }
        array_free(a);
    }
    cr_expect_gt(fits_seen, 30);
    cr_expect_gt(refused_seen, 30);
    index_free(es, n);
}

Test(array, int_fixtures_as_int64)
{
    check_ints(DT_I64, INT64_MIN, INT64_MAX);
}
Test(array, int_fixtures_as_int32)
{
    check_ints(DT_I32, INT32_MIN, INT32_MAX);
}

/* ---- shapes -------------------------------------------------------------- */

static struct array *load_nd(const char *path, int want_ndim, enum dtype want)
{
    struct array_opts o = array_opts_default();
    o.want_ndim = want_ndim;
    return array_load(path, &o, want);
}

Test(array, want_ndim_rules)
{
    struct array *a = load_nd(FIX "f4_1d.npy", 1, DT_F32);
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(a->ndim, 1);
    cr_expect_eq(a->shape[0], 5);
    cr_expect_eq(array_rows(a), 5);
    cr_expect_eq(array_cols(a), 1);
    array_free(a);

    cr_expect_null(load_nd(FIX "f4_1d.npy", 2, DT_F32));
    cr_expect_str_eq(error_message(), "expected a 2-D matrix, got shape (5,)");

    a = load_nd(FIX "labels_u1_col.npy", 1, DT_I64); /* 6 x 1 is a vector */
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(a->ndim, 1);
    cr_expect_eq(a->shape[0], 6);
    array_free(a);

    cr_expect_null(load_nd(FIX "f4_le_C_v1.npy", 1, DT_F32));
    cr_expect_str_eq(error_message(), "expected a 1-D vector, got shape (3, 4)");
    cr_expect_str_eq(error_path(), FIX "f4_le_C_v1.npy");

    cr_expect_null(load_nd(FIX "f4_4d.npy", 2, DT_F32));
    cr_expect_str_eq(error_message(), "expected a 2-D matrix, got shape (2, 1, 3, 4)");
    a = load_nd(FIX "f4_4d.npy", 0, DT_F32);
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(a->ndim, 4);
    cr_expect_eq(array_rows(a), 2);
    cr_expect_eq(array_cols(a), 12);
    array_free(a);

    /* a one-column csv is a vector too */
    a = load_nd(FIX "table_noheader.csv", 1, DT_F64);
    cr_expect_null(a);
    cr_expect_str_eq(error_message(), "expected a 1-D vector, got shape (4, 3)");
}

Test(array, content_beats_extension)
{
    struct array *a = array_load(FIX "embeddings.bin", NULL, DT_F32); /* no --dim */
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(a->shape[0], 4);
    cr_expect_eq(a->shape[1], 3);
    cr_expect_eq(((float *)a->data)[5], -5.5f);
    array_free(a);
}

Test(array, element_limit_is_enforced)
{
    limits_get()->max_elements = 11;
    cr_expect_null(array_load(FIX "f4_le_C_v1.npy", NULL, DT_F32));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect_str_eq(error_message(), "shape (3, 4) has 12 elements, over the limit of 11 (raise it with --max-elements)");
    limits_get()->max_elements = 12;
    struct array *a = array_load(FIX "f4_le_C_v1.npy", NULL, DT_F32);
    cr_expect_not_null(a, "%s", error_message());
    array_free(a);
}

/* ---- malformed files ------------------------------------------------------- */

Test(array, every_malformed_fixture_is_refused)
{
    FILE *fp = fopen(FIX "malformed.txt", "r");
    cr_assert_not_null(fp);
    char line[512];
    int count = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = 0;
        char *file = strtok(line, "\t"), *kind = strtok(NULL, "\t"),
             *phrase = strtok(NULL, "\t");
        cr_assert_not_null(phrase);
        char path[160], cpath[160];
        snprintf(path, sizeof path, FIX "%s", file);
        error_clear();
        int failed;
        if (!strncmp(kind, "matrix", 6)) {
            struct array_opts o = array_opts_default();
            if (!strncmp(kind, "matrix:dim=", 11)) o.dim = strtoull(kind + 11, NULL, 10);
            struct array *a = array_load(path, &o, DT_F32);
            failed = !a;
            array_free(a);
        } else if (!strncmp(kind, "labels", 6)) {
            const char *cls = NULL;
            if (!strncmp(kind, "labels:classes=", 15)) {
                snprintf(cpath, sizeof cpath, FIX "%s", kind + 15);
                cls = cpath;
            }
            struct labels *l = labels_load(path, cls);
            failed = !l;
            labels_free(l);
        } else {
            size_t n;
            char **names = class_names_load(path, &n);
            failed = !names;
            class_names_free(names, n);
        }
        cr_expect(failed, "%s: accepted", file);
        if (!failed) continue;
        cr_expect_eq(error_code(), ERR_INPUT, "%s: code %d (%s)", file, error_code(),
                     error_message());
        cr_expect_not_null(strstr(error_message(), phrase), "%s: message '%s' lacks '%s'", file,
                           error_message(), phrase);
        cr_expect(error_path() && !strcmp(error_path(), path), "%s: error path %s", file,
                  error_path() ? error_path() : "(null)");
        cr_expect_null(strchr(error_message(), '\n'));
        count++;
    }
    fclose(fp);
    cr_expect_gt(count, 30);
}

Test(array, missing_file_and_directory)
{
    cr_expect_null(array_load(FIX "no-such-file.npy", NULL, DT_F32));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect_str_eq(error_path(), FIX "no-such-file.npy");
    cr_expect_null(array_load(FIX, NULL, DT_F32));
    cr_expect_eq(error_code(), ERR_INPUT);
    cr_expect_not_null(strstr(error_message(), "directory"));
    cr_expect_null(array_load(FIX "index.txt.unknown", NULL, DT_F32));
}

/* Every truncation of valid files fails cleanly (ASan/valgrind catch overreads). */
Test(array, every_truncation_is_refused)
{
    const char *files[] = {FIX "f8_be_F_v1.npy", FIX "i2_le_C_v3.npy", FIX "hdr_spaces.npy"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        FILE *fp = fopen(files[f], "rb");
        cr_assert_not_null(fp);
        unsigned char buf[1024];
        size_t len = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        for (size_t cut = 0; cut < len; cut++) {
            unsigned char *copy = malloc(cut ? cut : 1); /* exact size for ASan */
            memcpy(copy, buf, cut);
            struct array *a = npy_parse(copy, cut, "x.npy", DT_F64, 0);
            cr_expect_null(a, "%s cut at %zu accepted", files[f], cut);
            cr_expect_eq(error_code(), ERR_INPUT);
            array_free(a);
            free(copy);
        }
    }
}

/* ---- text and .bin ------------------------------------------------------------ */

Test(array, csv_header_forced_and_refused)
{
    struct array_opts o = array_opts_default();
    o.header = 1; /* the first row is dropped even though it is numbers */
    struct array *a = array_load(FIX "table_noheader.csv", &o, DT_F64);
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(a->shape[0], 3);
    cr_expect_eq(((double *)a->data)[0], 0.12345678901234568);
    array_free(a);
    o.header = 0;
    cr_expect_null(array_load(FIX "table_header.csv", &o, DT_F64));
    cr_expect_str_eq(error_message(), "line 1, column 1: 'alpha' is not a number");
    o.header = -1;
    o.format = FMT_TSV; /* a csv read as tsv: one field per line, not numbers */
    cr_expect_null(array_load(FIX "table_noheader.csv", &o, DT_F64));
}

Test(array, bin_needs_a_dim_that_divides)
{
    struct array_opts o = array_opts_default();
    o.dim = 7;
    cr_expect_null(array_load(FIX "emb_dim3.bin", &o, DT_F32));
    cr_expect_str_eq(error_message(),
                     "file size 60 bytes is not a multiple of 4*dim = 28 (dim 7, float32)");
    o.dim = 15; /* one row of 15 */
    struct array *a = array_load(FIX "emb_dim3.bin", &o, DT_F32);
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(a->shape[0], 1);
    cr_expect_eq(a->shape[1], 15);
    cr_expect_eq(((float *)a->data)[0], -2.5f);
    array_free(a);
}

Test(array, stdin_is_read_whole)
{
    cr_assert_not_null(freopen(FIX "f2_be_F_v2.npy", "rb", stdin));
    struct array *a = array_load("-", NULL, DT_F32);
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(((float *)a->data)[0], (float)0.3330078125);
    array_free(a);
    cr_assert_not_null(freopen(FIX "bad_ragged.csv", "rb", stdin));
    cr_expect_null(array_load("-", NULL, DT_F32));
    cr_expect_str_eq(error_path(), "<stdin>");
    cr_expect_not_null(strstr(error_message(), "line 3 has 2 fields"));
}

Test(array, text_parse_from_memory)
{
    const char *t = "# comment\n\n 1 2\t3 \n4 5 6\n";
    struct array *a = text_parse(t, strlen(t), "m", NULL, DT_F64);
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(a->shape[0], 2);
    cr_expect_eq(a->shape[1], 3);
    cr_expect_eq(((double *)a->data)[5], 6.0);
    array_free(a);
    const char *q = "\"a\",\"b\"\n\"1.5\",2\n";
    a = text_parse(q, strlen(q), "m", NULL, DT_F32);
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(((float *)a->data)[0], 1.5f);
    array_free(a);
    const char *tsv = "1\t2\n3\t4\n";
    a = text_parse(tsv, strlen(tsv), "m", NULL, DT_F64);
    cr_assert_not_null(a, "%s", error_message());
    cr_expect_eq(a->shape[1], 2);
    array_free(a);
    const char *trail = "1,2,\n";
    cr_expect_null(text_parse(trail, strlen(trail), "m", NULL, DT_F32));
    cr_expect_str_eq(error_message(), "line 1, column 3: empty field");
}

/* ---- writers ------------------------------------------------------------------ */

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/interp-array-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d) return;
    char p[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

static struct array *filled(enum dtype t, size_t r, size_t c)
{
    size_t shape[2] = {r, c};
    struct array *a = array_new(t, 2, shape);
    cr_assert_not_null(a);
    for (size_t k = 0; k < r * c; k++) {
        double v = ((double)k - 5.0) / 3.0;
        switch (t) {
        case DT_F32: ((float *)a->data)[k] = (float)v; break;
        case DT_F64: ((double *)a->data)[k] = v; break;
        case DT_I32: ((int32_t *)a->data)[k] = (int32_t)(k * 123457) - 1000000; break;
        case DT_I64: ((int64_t *)a->data)[k] = (int64_t)k * 1234567890123LL - 999; break;
        case DT_U8: ((uint8_t *)a->data)[k] = (uint8_t)(k * 37); break;
        }
    }
    if (t == DT_F32) {
        float *f = a->data;
        f[0] = NAN, f[1] = -0.0f, f[2] = INFINITY, f[3] = 1.4e-45f, f[4] = 3.4028235e38f;
    }
    if (t == DT_F64) {
        double *d = a->data;
        d[0] = NAN, d[1] = -0.0, d[2] = -INFINITY, d[3] = 4.9e-324,
        d[4] = 1.7976931348623157e308;
    }
    return a;
}

Test(array, npy_write_round_trips_exactly, .init = make_tmpdir, .fini = remove_tmpdir)
{
    enum dtype ts[] = {DT_F32, DT_F64, DT_I32, DT_I64, DT_U8};
    for (size_t i = 0; i < 5; i++) {
        struct array *a = filled(ts[i], 7, 5);
        char path[128];
        snprintf(path, sizeof path, "%s/rt_%s.npy", tmpdir, dtype_name(ts[i]));
        cr_assert_eq(npy_write(path, a), 0, "%s", error_message());
        struct array_opts o = array_opts_default();
        struct array *b = array_load(path, &o, ts[i]);
        cr_assert_not_null(b, "%s", error_message());
        cr_expect_eq(b->ndim, 2);
        cr_expect_eq(b->shape[0], 7);
        cr_expect_eq(b->shape[1], 5);
        size_t bytes = array_count(a) * dtype_size(ts[i]);
        cr_expect_eq(memcmp(a->data, b->data, bytes), 0, "%s differs after a round trip",
                     dtype_name(ts[i]));
        /* and its header is aligned as numpy aligns it */
        FILE *fp = fopen(path, "rb");
        unsigned char pre[10];
        cr_assert_eq(fread(pre, 1, 10, fp), 10);
        fclose(fp);
        size_t hlen = pre[8] | (size_t)pre[9] << 8;
        cr_expect_eq((10 + hlen) % 64, 0);
        cr_expect_eq(pre[6], 1);
        array_free(a);
        array_free(b);
    }
}

static long file_bytes(const char *path, unsigned char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "%s", path);
    long n = (long)fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

/* npy_write writes what numpy 1.24 wrote (the fixtures), byte for byte. */
Test(array, npy_write_matches_numpy_bytes, .init = make_tmpdir, .fini = remove_tmpdir)
{
    struct {
        const char *file;
        enum dtype t;
    } cases[] = {{"f4_le_C_v1.npy", DT_F32}, {"f8_le_C_v1.npy", DT_F64},
                 {"i4_le_C_v1.npy", DT_I32}, {"i8_le_C_v1.npy", DT_I64},
                 {"u1_le_C_v1.npy", DT_U8},  {"f4_1d.npy", DT_F32},
                 {"i8_1d.npy", DT_I64},      {"f4_4d.npy", DT_F32}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char in[160], out[160];
        snprintf(in, sizeof in, FIX "%s", cases[i].file);
        snprintf(out, sizeof out, "%s/%s", tmpdir, cases[i].file);
        struct array *a = load_nd(in, 0, cases[i].t);
        cr_assert_not_null(a, "%s", error_message());
        cr_assert_eq(npy_write(out, a), 0, "%s", error_message());
        array_free(a);
        unsigned char x[4096], y[4096];
        long nx = file_bytes(in, x, sizeof x), ny = file_bytes(out, y, sizeof y);
        cr_expect_eq(nx, ny, "%s: %ld bytes from numpy, %ld from npy_write", cases[i].file, nx,
                     ny);
        long at = 0;
        while (at < nx && at < ny && x[at] == y[at])
            at++;
        cr_expect_eq(at, nx, "%s: first difference at byte %ld", cases[i].file, at);
    }
}

static int have_numpy(void)
{
    return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* numpy loads npy_write's output with the values of numpy's own files. */
Test(array, numpy_loads_npy_write_output, .init = make_tmpdir, .fini = remove_tmpdir)
{
    if (!have_numpy()) cr_skip_test("no /usr/bin/python3 with numpy");
    const char *files[] = {"f4_be_F_v3.npy", "f8_be_F_5x3.npy", "i4_be_C_v2.npy",
                           "i8_le_F_v1.npy", "u1_le_F_v1.npy",  "f2_be_C_v1.npy"};
    enum dtype ts[] = {DT_F32, DT_F64, DT_I32, DT_I64, DT_U8, DT_F32};
    char cmd[4096];
    int at = snprintf(cmd, sizeof cmd, "/usr/bin/python3 fixtures/check_npy_roundtrip.py");
    for (size_t i = 0; i < 6; i++) {
        char in[160], out[160];
        snprintf(in, sizeof in, FIX "%s", files[i]);
        snprintf(out, sizeof out, "%s/out_%s", tmpdir, files[i]);
        struct array *a = load_nd(in, 0, ts[i]);
        cr_assert_not_null(a, "%s", error_message());
        cr_assert_eq(npy_write(out, a), 0, "%s", error_message());
        array_free(a);
        at += snprintf(cmd + at, sizeof cmd - (size_t)at, " %s %s", out, in);
    }
    /* a csv through the reader and the writer, against numpy's loadtxt */
    struct array *t = array_load(FIX "table_header.csv", NULL, DT_F64);
    cr_assert_not_null(t);
    char out[160];
    snprintf(out, sizeof out, "%s/table.npy", tmpdir);
    cr_assert_eq(npy_write(out, t), 0);
    array_free(t);
    snprintf(cmd + at, sizeof cmd - (size_t)at, " %s " FIX "table_header.csv", out);
    cr_expect_eq(system(cmd), 0, "numpy disagrees: %s", cmd);
}

Test(array, csv_write_round_trips_exactly, .init = make_tmpdir, .fini = remove_tmpdir)
{
    enum dtype ts[] = {DT_F32, DT_F64, DT_I32, DT_I64, DT_U8};
    for (size_t i = 0; i < 5; i++) {
        struct array *a = filled(ts[i], 4, 6);
        char path[128];
        snprintf(path, sizeof path, "%s/rt_%s.csv", tmpdir, dtype_name(ts[i]));
        cr_assert_eq(csv_write(path, a, "a,b,c,d,e,f"), 0, "%s", error_message());
        struct array *b = array_load(path, NULL,
                                     ts[i] == DT_F32  ? DT_F32
                                     : ts[i] == DT_U8 ? DT_I32
                                                      : ts[i]);
        cr_assert_not_null(b, "%s: %s", path, error_message());
        cr_expect_eq(b->shape[0], 4);
        cr_expect_eq(b->shape[1], 6);
        for (size_t k = 0; k < 24; k++) {
            int same;
            switch (ts[i]) {
            case DT_F32: {
                float x = ((float *)a->data)[k], y = ((float *)b->data)[k];
                same = (isnan(x) && isnan(y)) || !memcmp(&x, &y, 4);
                break;
            }
            case DT_F64: {
                double x = ((double *)a->data)[k], y = ((double *)b->data)[k];
                same = (isnan(x) && isnan(y)) || !memcmp(&x, &y, 8);
                break;
            }
            case DT_I32: same = ((int32_t *)a->data)[k] == ((int32_t *)b->data)[k]; break;
            case DT_I64: same = ((int64_t *)a->data)[k] == ((int64_t *)b->data)[k]; break;
            default: same = ((uint8_t *)a->data)[k] == ((int32_t *)b->data)[k]; break;
            }
            cr_expect(same, "%s value %zu differs after csv round trip", dtype_name(ts[i]), k);
        }
        array_free(a);
        array_free(b);
    }
}

/* ---- labels ------------------------------------------------------------------ */

Test(labels, every_labels_fixture)
{
    FILE *fp = fopen(FIX "labels_index.txt", "r");
    cr_assert_not_null(fp);
    char line[1024];
    int count = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = 0;
        char *file = strtok(line, "\t"), *cls = strtok(NULL, "\t"), *ids = strtok(NULL, "\t"),
             *ncl = strtok(NULL, "\t"), *names = strtok(NULL, "\t");
        char path[160], cpath[160];
        snprintf(path, sizeof path, FIX "%s", file);
        snprintf(cpath, sizeof cpath, FIX "%s", cls);
        struct labels *l = labels_load(path, strcmp(cls, "-") ? cpath : NULL);
        cr_assert_not_null(l, "%s: %s", file, error_message());
        size_t k = 0;
        for (char *s, *t = strtok_r(ids, ",", &s); t; t = strtok_r(NULL, ",", &s), k++) {
            cr_assert_lt(k, l->n, "%s: too many labels", file);
            cr_expect_eq(l->id[k], atoi(t), "%s with %s: label %zu is %d, expected %s", file,
                         cls, k, l->id[k], t);
        }
        cr_expect_eq(l->n, k, "%s: %zu labels, expected %zu", file, l->n, k);
        cr_expect_eq(l->nclasses, strtoull(ncl, NULL, 10), "%s: nclasses", file);
        if (!strcmp(names, "-")) {
            cr_expect_null(l->names, "%s: names where none expected", file);
        } else {
            cr_assert_not_null(l->names, "%s: no names", file);
            size_t j = 0;
            for (char *s, *t = strtok_r(names, ",", &s); t; t = strtok_r(NULL, ",", &s), j++)
                cr_expect_str_eq(l->names[j], t, "%s: name %zu", file, j);
            cr_expect_eq(j, l->nclasses);
        }
        labels_free(l);
        count++;
    }
    fclose(fp);
    cr_expect_gt(count, 10);
}

Test(labels, check_rows)
{
    struct labels *l = labels_load(FIX "labels_names.txt", NULL);
    cr_assert_not_null(l, "%s", error_message());
    cr_expect_eq(labels_check_rows(l, 6, "lab.txt"), 0);
    cr_expect_eq(labels_check_rows(l, 5, "lab.txt"), ERR_INPUT);
    cr_expect_str_eq(error_message(), "6 labels for 5 rows");
    cr_expect_str_eq(error_path(), "lab.txt");
    labels_free(l);
}

Test(labels, class_names_and_parse_from_memory)
{
    size_t n;
    char **c = class_names_load(FIX "classes.txt", &n);
    cr_assert_not_null(c, "%s", error_message());
    cr_expect_eq(n, 3);
    cr_expect_str_eq(c[2], "dog");
    const char *t = "dog\n  bird \r\n";
    struct labels *l = labels_parse(t, strlen(t), "m", c, n);
    cr_assert_not_null(l, "%s", error_message());
    cr_expect_eq(l->n, 2);
    cr_expect_eq(l->id[0], 2);
    cr_expect_eq(l->id[1], 0);
    labels_free(l);
    /* many distinct names: the table grows */
    char buf[20000];
    size_t at = 0;
    for (int i = 0; i < 1000; i++)
        at += (size_t)sprintf(buf + at, "c%d\n", i % 700);
    l = labels_parse(buf, at, "m", NULL, 0);
    cr_assert_not_null(l, "%s", error_message());
    cr_expect_eq(l->nclasses, 700);
    cr_expect_eq(l->id[999], 299);
    cr_expect_str_eq(l->names[699], "c699");
    labels_free(l);
    class_names_free(c, n);
}

Test(array, basics)
{
    size_t shape[2] = {3, 4};
    struct array *a = array_new(DT_I64, 2, shape);
    cr_assert_not_null(a);
    cr_expect_eq(array_count(a), 12);
    cr_expect_eq(a->shape[2], 1);
    cr_expect_eq(((int64_t *)a->data)[11], 0);
    array_free(a);
    array_free(NULL);
    cr_expect_str_eq(dtype_name(DT_F32), "float32");
    cr_expect_eq(dtype_size(DT_U8), 1);
    char s[64];
    cr_expect_str_eq(array_shape_str(shape, 1, s, sizeof s), "(3,)");
    cr_expect_str_eq(array_shape_str(shape, 0, s, sizeof s), "()");
    struct array_opts o = array_opts_default();
    cr_expect_eq(o.want_ndim, 2);
    cr_expect_eq(o.header, -1);
}
