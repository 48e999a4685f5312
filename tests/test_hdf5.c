/* test_hdf5.c - the HDF5 reader against h5py's reading of the same files.
 *
 * fixtures/make_hdf5.py writes the files with h5py 3.7 (HDF5 1.10.8) and
 * lists, in fixtures/hdf5/index.txt, every group's children, every
 * attribute name and string and every dataset's shape as h5py reads them
 * (values in NAME.values.npy); malformed.txt lists byte patches to those
 * files and the phrase each error must contain. The sweeps at the end
 * truncate and corrupt files everywhere and require a clean error or a
 * clean success, never a crash (run them under ASan: make check-asan).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/array.h"
#include "../core/error.h"
#include "../core/hdf5.h"
#include "../core/util.h"

#define FIX "fixtures/hdf5/"

/* ---- helpers ------------------------------------------------------------------- */

static uint8_t *slurp(const char *name, size_t *n)
{
    char p[256];
    snprintf(p, sizeof p, FIX "%s", name);
    FILE *fp = fopen(p, "rb");
    cr_assert_not_null(fp, "cannot open %s (run from the repo root)", p);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc(len + 1);
    cr_assert_eq(fread(b, 1, len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return b;
}

/* Percent-decoding in place ("%" alone is the empty string). */
static char *pdec(char *s)
{
    if (!strcmp(s, "%")) {
        s[0] = 0;
        return s;
    }
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && p[1] && p[2]) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return s;
}

/* Tab-separated fields of a line (modified in place), at most max. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    line[strcspn(line, "\n")] = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *t = strchr(p, '\t');
        if (!t) break;
        *t = 0;
        p = t + 1;
    }
    return n;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void expect_names(const char *what, const char *path, char **got, size_t n, char **want,
                         size_t m)
{
    cr_expect_eq(n, m, "%s of '%s': %zu names, h5py lists %zu", what, path, n, m);
    for (size_t i = 0; i < n && i < m; i++)
        cr_expect_str_eq(got[i], pdec(want[i]), "%s of '%s' #%zu: '%s', h5py has '%s'", what,
                         path, i, got[i], want[i]);
}

/* Bit-exact floats (any NaN matches any NaN); reports the worst difference. */
static void expect_values(const char *path, const float *got, const float *want, size_t n)
{
    size_t bad = 0, at = 0;
    double worst = -1;
    for (size_t i = 0; i < n; i++) {
        int same = (isnan(got[i]) && isnan(want[i])) || !memcmp(&got[i], &want[i], 4);
        if (same) continue;
        double d = fabs((double)got[i] - want[i]);
        if (worst < 0 || isnan(d) || d > worst) worst = isnan(d) ? INFINITY : d, at = i;
        bad++;
    }
    cr_expect_eq(bad, 0, "'%s': %zu of %zu values differ; worst at %zu: %.9g, h5py %.9g", path,
                 bad, n, at, bad ? got[at] : 0.0, bad ? want[at] : 0.0);
}

/* ---- every fact h5py read, per file ----------------------------------------------- */

static int check_file(const char *file)
{
    FILE *fp = fopen(FIX "index.txt", "r");
    cr_assert_not_null(fp);
    char *line = NULL;
    size_t cap = 0;
    int in = 0, facts = 0;
    size_t len = 0;
    uint8_t *buf = NULL;
    struct h5file *f = NULL;
    struct array *vals = NULL;
    char **fl = malloc(4096 * sizeof *fl);
    while (getline(&line, &cap, fp) > 0) {
        if (line[0] == '#') continue;
        int nf = split(line, fl, 4096);
        if (!strcmp(fl[0], "file")) {
            if (in) break;
            if (strcmp(fl[1], file)) continue;
            in = 1;
            buf = slurp(file, &len);
            f = h5_open(buf, len, file);
            cr_assert_not_null(f, "%s: %s", file, error_message());
            char vname[128];
            snprintf(vname, sizeof vname, FIX "%.*s.values.npy", (int)(strlen(file) - 3), file);
            struct array_opts o = array_opts_default();
            o.want_ndim = 0;
            vals = array_load(vname, &o, DT_F32);
            cr_assert_not_null(vals, "%s: %s", vname, error_message());
            continue;
        }
        if (!in) continue;
        facts++;
        char *path = pdec(fl[1]);
        if (!strcmp(fl[0], "group")) {
            cr_expect_eq(h5_kind(f, path), H5_GROUP, "%s: '%s' is not a group (%s)", file, path,
                         error_message());
            char **names;
            size_t n;
            int rc = h5_list(f, path, &names, &n);
            cr_expect_eq(rc, 0, "%s: list '%s': %s", file, path, error_message());
            if (!rc) {
                expect_names("children", path, names, n, fl + 3, (size_t)atoi(fl[2]));
                free_names(names, n);
            }
        } else if (!strcmp(fl[0], "attrs")) {
            char **names;
            size_t n;
            int rc = h5_attr_names(f, path, &names, &n);
            cr_expect_eq(rc, 0, "%s: attributes of '%s': %s", file, path, error_message());
            if (!rc) {
                expect_names("attributes", path, names, n, fl + 3, (size_t)atoi(fl[2]));
                free_names(names, n);
            }
        } else if (!strcmp(fl[0], "str")) {
            char *s, *attr = pdec(fl[2]), *want = pdec(fl[3]);
            int rc = h5_attr_string(f, path, attr, &s);
            cr_expect_eq(rc, 0, "%s: '%s' @%s: %s", file, path, attr, error_message());
            if (!rc) {
                cr_expect_str_eq(s, want, "%s: '%s' @%s", file, path, attr);
                free(s);
            }
        } else if (!strcmp(fl[0], "strs")) {
            char **v, *attr = pdec(fl[2]);
            size_t n;
            int rc = h5_attr_strings(f, path, attr, &v, &n);
            cr_expect_eq(rc, 0, "%s: '%s' @%s: %s", file, path, attr, error_message());
            if (!rc) {
                expect_names("strings", attr, v, n, fl + 4, (size_t)atoi(fl[3]));
                free_names(v, n);
            }
        } else if (!strcmp(fl[0], "dset")) {
            cr_expect_eq(h5_kind(f, path), H5_DATASET, "%s: '%s' is not a dataset", file, path);
            int ndim = atoi(fl[2]), got_ndim = -1;
            uint64_t dims[H5_MAX_RANK];
            int rc = h5_dataset_shape(f, path, &got_ndim, dims);
            if (ndim > H5_MAX_RANK) { /* refused by the shape call, read anyway */
                cr_expect_eq(rc, ERR_INPUT, "%s: '%s' of rank %d", file, path, ndim);
                cr_expect(strstr(error_message(), "dimensions (at most 8 supported)"), "%s",
                          error_message());
                rc = 0;
                got_ndim = ndim;
                for (int i = 0; i < H5_MAX_RANK; i++)
                    dims[i] = strtoull(fl[3 + i], NULL, 10);
            }
            cr_expect_eq(rc, 0, "%s: shape of '%s': %s", file, path, error_message());
            cr_expect_eq(got_ndim, ndim, "%s: '%s' has rank %d, h5py %d", file, path, got_ndim,
                         ndim);
            for (int i = 0; i < ndim && i < H5_MAX_RANK && !rc; i++)
                cr_expect_eq(dims[i], strtoull(fl[3 + i], NULL, 10), "%s: '%s' dim %d", file,
                             path, i);
            size_t off = strtoull(fl[3 + ndim], NULL, 10), n = strtoull(fl[4 + ndim], NULL, 10);
            cr_assert_leq(off + n, array_count(vals));
            float *got = malloc((n + 1) * sizeof *got);
            rc = h5_dataset_read_f32(f, path, got, n);
            cr_expect_eq(rc, 0, "%s: read '%s': %s", file, path, error_message());
            if (!rc) expect_values(path, got, (const float *)vals->data + off, n);
            free(got);
        } else if (!strcmp(fl[0], "null")) {
            int nd;
            uint64_t dims[H5_MAX_RANK];
            cr_expect_eq(h5_dataset_shape(f, path, &nd, dims), ERR_INPUT);
            cr_expect(strstr(error_message(), "null dataspace"), "%s", error_message());
        } else {
            cr_assert_fail("index.txt: unknown fact '%s' (%d fields)", fl[0], nf);
        }
    }
    free(fl);
    free(line);
    fclose(fp);
    cr_assert(in, "%s is not in index.txt", file);
    h5_close(f);
    array_free(vals);
    free(buf);
    return facts;
}

Test(hdf5, earliest_superblock0_symbol_tables)
{
    cr_expect_gt(check_file("earliest.h5"), 150);
}
Test(hdf5, latest_superblock3_dense_storage)
{
    cr_expect_gt(check_file("latest.h5"), 300);
}
Test(hdf5, v108_superblock2)
{
    cr_expect_gt(check_file("v108.h5"), 100);
}
Test(hdf5, userblock_1024)
{
    cr_expect_gt(check_file("userblock.h5"), 100);
}
Test(hdf5, userblock_512_latest)
{
    cr_expect_gt(check_file("userblock_latest.h5"), 100);
}
Test(hdf5, offsets_of_4_bytes)
{
    cr_expect_gt(check_file("sizes4.h5"), 100);
}
Test(hdf5, offsets_of_2_bytes_latest)
{
    cr_expect_gt(check_file("sizes2_latest.h5"), 100);
}
Test(hdf5, superblock1)
{
    cr_expect_gt(check_file("sb1.h5"), 20);
}
Test(hdf5, layout_messages_v1_v2)
{
    cr_expect_gt(check_file("layout_v2.h5"), 7);
}

/* ---- the API's contract --------------------------------------------------------- */

static struct h5file *open_fixture(const char *name, uint8_t **buf)
{
    size_t n;
    *buf = slurp(name, &n);
    struct h5file *f = h5_open(*buf, n, name);
    cr_assert_not_null(f, "%s: %s", name, error_message());
    return f;
}

Test(hdf5, paths_absent_and_odd_forms)
{
    uint8_t *b;
    struct h5file *f = open_fixture("earliest.h5", &b);
    error_clear();
    cr_expect_eq(h5_kind(f, "no/such/thing"), H5_NONE);
    cr_expect_eq(h5_kind(f, "types/i1/below_a_dataset"), H5_NONE);
    cr_expect_eq(error_code(), ERR_OK, "absent is not an error: %s", error_message());
    cr_expect_eq(h5_kind(f, ""), H5_GROUP);
    cr_expect_eq(h5_kind(f, "/"), H5_GROUP);
    cr_expect_eq(h5_kind(f, "//model_weights//dense/"), H5_GROUP);
    cr_expect_eq(h5_kind(f, "./model_weights/./dense/dense/kernel:0"), H5_DATASET);
    cr_expect_eq(h5_kind(f, "mytype"), H5_OTHER);
    /* a soft link, a hard-link cycle, a dangling soft link, an external link */
    cr_expect_eq(h5_kind(f, "soft/dense/bias:0"), H5_DATASET);
    cr_expect_eq(h5_kind(f, "cycle/up/cycle/up/model_weights"), H5_GROUP);
    uint64_t a, r;
    cr_assert_eq(h5_object_addr(f, "cycle/up", &a), 0);
    cr_assert_eq(h5_object_addr(f, "/", &r), 0);
    cr_expect_eq(a, r);
    cr_expect_eq(h5_kind(f, "dangling"), H5_NONE);
    cr_expect_eq(h5_kind(f, "model_weights/alias/kernel:0"), H5_DATASET);
    cr_expect_eq(h5_kind(f, "loop_a"), ERR_INPUT);
    cr_expect(strstr(error_message(), "soft link loop"), "%s", error_message());
    cr_expect_eq(h5_kind(f, "external"), ERR_INPUT);
    cr_expect(strstr(error_message(), "external link"), "%s", error_message());
    cr_expect_str_eq(error_path(), "earliest.h5");
    h5_close(f);
    h5_close(NULL);
    free(b);
}

/* rc must be ERR_INPUT and the message contain phrase */
#define EXPECT_REFUSED(call, phrase)                                                           \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        cr_expect_eq(rc_, ERR_INPUT, "%s: rc %d", #call, rc_);                                 \
        cr_expect(strstr(error_message(), "HDF5: ") == error_message() &&                      \
                      strstr(error_message(), phrase),                                         \
                  "%s: '%s' is not in '%s'", #call, phrase, error_message());                  \
    } while (0)

Test(hdf5, misuse_is_refused_with_a_reason)
{
    uint8_t *b;
    struct h5file *f = open_fixture("earliest.h5", &b);
    char **v, *s;
    size_t n;
    float x[8];
    int nd;
    uint64_t dims[H5_MAX_RANK];
    EXPECT_REFUSED(h5_list(f, "types/i1", &v, &n), "'types/i1': not a group");
    EXPECT_REFUSED(h5_list(f, "nothing", &v, &n), "'nothing': no such object");
    EXPECT_REFUSED(h5_attr_string(f, "/", "count", &s), "'count' is an integer, not a string");
    EXPECT_REFUSED(h5_attr_string(f, "/", "nope", &s), "no attribute 'nope'");
    EXPECT_REFUSED(h5_attr_string(f, "/", "layer_names", &s), "holds 4 strings, not one");
    EXPECT_REFUSED(h5_attr_strings(f, "/", "floats", &v, &n), "is a float, not a string");
    EXPECT_REFUSED(h5_attr_strings(f, "/", "empty_attr", &v, &n), "is a float, not a string");
    EXPECT_REFUSED(h5_dataset_read_f32(f, "types/i1", x, 7), "dataset has 8 elements, 7 asked");
    EXPECT_REFUSED(h5_dataset_read_f32(f, "model_weights", x, 1), "not a dataset");
    EXPECT_REFUSED(h5_dataset_shape(f, "model_weights", &nd, dims), "not a dataset");
    EXPECT_REFUSED(h5_dataset_shape(f, "null", &nd, dims), "null dataspace");
    EXPECT_REFUSED(h5_object_addr(f, "a/b", dims), "'a/b': no such object");
    cr_expect_str_eq(error_path(), "earliest.h5");
    h5_close(f);
    free(b);
}

Test(hdf5, limits_are_checked_before_allocating)
{
    struct limits saved = *limits_get();
    uint8_t *b;
    struct h5file *f = open_fixture("earliest.h5", &b);
    float x[2000];
    limits_get()->max_elements = 1000;
    cr_expect_eq(h5_dataset_read_f32(f, "chunked/deflate_shuffle", x, 2000), ERR_INPUT);
    cr_expect(strstr(error_message(), "dataset of 2000 elements is over the limit of 1000 "
                                      "(--max-elements)"),
              "%s", error_message());
    *limits_get() = saved;
    limits_get()->max_bytes = 256; /* a chunk is 8 x 16 floats = 512 bytes */
    cr_expect_eq(h5_dataset_read_f32(f, "chunked/deflate_shuffle", x, 2000), ERR_INPUT);
    cr_expect(strstr(error_message(), "chunks of 512 bytes are over the memory limit"), "%s",
              error_message());
    *limits_get() = saved;
    cr_expect_eq(h5_dataset_read_f32(f, "chunked/deflate_shuffle", x, 2000), 0);
    h5_close(f);
    free(b);
}

/* ---- malformed files ----------------------------------------------------------- */

/* BASE with PATCHES applied (see make_hdf5.py): an owned buffer. */
static uint8_t *patched(const char *base, char *patches, size_t *n)
{
    uint8_t *b = slurp(base, n);
    for (char *save, *p = strtok_r(patches, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
        if (!strcmp(p, "-")) continue;
        if (p[0] == 'T') {
            *n = strtoull(p + 2, NULL, 10);
            continue;
        }
        const char *hex;
        size_t at;
        if (p[0] == '+') {
            at = *n;
            hex = p + 1;
        } else {
            at = strtoull(p + 1, NULL, 10);
            hex = strchr(p, '=') + 1;
        }
        size_t k = strlen(hex) / 2;
        if (at + k > *n) {
            b = realloc(b, at + k);
            *n = at + k;
        }
        for (size_t i = 0; i < k; i++) {
            char h[3] = {hex[2 * i], hex[2 * i + 1], 0};
            b[at + i] = (uint8_t)strtol(h, NULL, 16);
        }
    }
    return b;
}

Test(hdf5, malformed_files_fail_with_the_right_reason)
{
    FILE *fp = fopen(FIX "malformed.txt", "r");
    cr_assert_not_null(fp);
    char *line = NULL, *fl[8];
    size_t cap = 0;
    int cases = 0;
    while (getline(&line, &cap, fp) > 0) {
        if (line[0] == '#') continue;
        cr_assert_eq(split(line, fl, 8), 6, "malformed.txt: bad line");
        const char *name = fl[0], *op = fl[3], *phrase = fl[5];
        char *path = pdec(fl[4]);
        size_t n;
        uint8_t *b = patched(fl[1], fl[2], &n);
        struct h5file *f = h5_open(b, n, name);
        int rc = ERR_INPUT;
        if (!strcmp(op, "open")) {
            cr_expect_null(f, "%s: opened", name);
        } else {
            cr_assert_not_null(f, "%s: %s", name, error_message());
            char **v, *s;
            size_t k;
            if (!strcmp(op, "list"))
                rc = h5_list(f, path, &v, &k);
            else if (!strcmp(op, "attrs"))
                rc = h5_attr_names(f, path, &v, &k);
            else if (!strcmp(op, "str")) {
                char *slash = strrchr(path, '/');
                *slash = 0;
                rc = h5_attr_string(f, path, slash + 1, &s);
            } else if (!strcmp(op, "read")) {
                int nd;
                uint64_t dims[H5_MAX_RANK];
                rc = h5_dataset_shape(f, path, &nd, dims);
                size_t count = 1;
                for (int i = 0; !rc && i < nd; i++)
                    count *= dims[i];
                float *x = rc || count > (1u << 20) ? NULL : malloc(count * 4 + 4);
                if (x)
                    rc = h5_dataset_read_f32(f, path, x, count);
                else if (!rc)
                    rc = h5_dataset_read_f32(f, path, NULL, count);
                free(x);
            } else
                cr_assert_fail("malformed.txt: op %s", op);
            cr_expect_eq(rc, ERR_INPUT, "%s: %s '%s' did not fail", name, op, path);
        }
        cr_expect(strstr(error_message(), phrase), "%s: '%s' is not in '%s'", name, phrase,
                  error_message());
        cr_expect_str_eq(error_path(), name);
        h5_close(f);
        free(b);
        cases++;
    }
    free(line);
    fclose(fp);
    cr_expect_geq(cases, 25);
}

/* ---- hostile sweeps: truncate and corrupt everywhere ----------------------------- */

struct walk {
    uint64_t seen[512];
    int nseen, calls;
};

/* Every call a reader makes, bounded (depth, objects); checks that each failure
 * is an ERR_INPUT with an "HDF5: " reason. */
static void check_rc(int rc)
{
    if (rc < 0) {
        cr_assert_eq(rc, ERR_INPUT, "rc %d: %s", rc, error_message());
        cr_assert(!strncmp(error_message(), "HDF5: ", 6), "'%s'", error_message());
    }
}

static void walk(struct h5file *f, const char *path, int depth, struct walk *w)
{
    uint64_t addr;
    if (depth > 6 || w->nseen == 512 || h5_object_addr(f, path, &addr)) return;
    for (int i = 0; i < w->nseen; i++)
        if (w->seen[i] == addr) return;
    w->seen[w->nseen++] = addr;
    int kind = h5_kind(f, path);
    check_rc(kind);
    char **names;
    size_t n;
    int rc = h5_attr_names(f, path, &names, &n);
    check_rc(rc);
    for (size_t i = 0; !rc && i < n; i++) {
        char *s, **v;
        size_t k;
        int r2 = h5_attr_string(f, path, names[i], &s);
        check_rc(r2);
        if (!r2) free(s);
        r2 = h5_attr_strings(f, path, names[i], &v, &k);
        check_rc(r2);
        if (!r2) free_names(v, k);
    }
    if (!rc) free_names(names, n);
    if (kind == H5_DATASET) {
        int nd;
        uint64_t dims[H5_MAX_RANK];
        rc = h5_dataset_shape(f, path, &nd, dims);
        check_rc(rc);
        size_t count = 1;
        for (int i = 0; !rc && i < nd; i++)
            count = dims[i] && count > (1u << 22) / dims[i] ? (1u << 22) + 1 : count * dims[i];
        if (!rc && count <= (1u << 22)) {
            float *x = malloc(count * sizeof *x + 4);
            check_rc(h5_dataset_read_f32(f, path, x, count));
            free(x);
        }
    } else if (kind == H5_GROUP) {
        rc = h5_list(f, path, &names, &n);
        check_rc(rc);
        for (size_t i = 0; !rc && i < n; i++) {
            char *p = xasprintf("%s/%s", path, names[i]);
            walk(f, p, depth + 1, w);
            free(p);
        }
        if (!rc) free_names(names, n);
    }
    w->calls++;
}

static void walk_buffer(const uint8_t *b, size_t n)
{
    struct h5file *f = h5_open(b, n, "sweep.h5");
    if (!f) {
        check_rc(ERR_INPUT);
        return;
    }
    struct walk w = {.nseen = 0};
    walk(f, "", 0, &w);
    h5_close(f);
}

Test(hdf5, every_truncation_fails_cleanly)
{
    const char *files[] = {"sb1.h5", "layout_v2.h5", "sizes2_latest.h5"};
    for (size_t k = 0; k < 3; k++) {
        size_t n;
        uint8_t *b = slurp(files[k], &n);
        for (size_t len = 0; len < n; len += (k == 2 ? 7 : 1)) {
            uint8_t *c = malloc(len + 1); /* exactly len bytes: ASan sees any overread */
            memcpy(c, b, len);
            walk_buffer(c, len);
            free(c);
        }
        free(b);
    }
}

Test(hdf5, every_corrupted_byte_fails_cleanly_or_reads)
{
    const char *files[] = {"sb1.h5", "layout_v2.h5", "sizes4.h5", "sizes2_latest.h5"};
    const uint8_t muts[] = {0xff, 0x00, 0x01, 0x80};
    for (size_t k = 0; k < 4; k++) {
        size_t n;
        uint8_t *b = slurp(files[k], &n);
        size_t step = k < 2 ? 1 : 29;
        for (size_t at = 0; at < n; at += step) {
            uint8_t keep = b[at];
            for (size_t m = 0; m < (k < 2 ? 2 : 1); m++) {
                uint8_t v = muts[(at / step + m) % 4];
                b[at] = v == keep ? (uint8_t)(keep ^ 0x55) : v;
                walk_buffer(b, n);
            }
            b[at] = keep;
        }
        free(b);
    }
}

Test(hdf5, walking_a_file_with_a_cycle_terminates)
{
    size_t n;
    uint8_t *b = slurp("earliest.h5", &n);
    struct h5file *f = h5_open(b, n, "earliest.h5");
    struct walk w = {.nseen = 0};
    walk(f, "", 0, &w);
    cr_expect_gt(w.calls, 50);
    h5_close(f);
    free(b);
}

Test(hdf5, fuzz_regressions_fail_cleanly)
{
    DIR *d = opendir("fuzz/regress/hdf5");
    cr_assert_not_null(d, "fuzz/regress/hdf5 is missing");
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char name[300];
        snprintf(name, sizeof name, "../../fuzz/regress/hdf5/%s", e->d_name);
        size_t len;
        uint8_t *b = slurp(name, &len);
        walk_buffer(b, len);
        free(b);
        n++;
    }
    closedir(d);
    cr_expect_geq(n, 1);
}
