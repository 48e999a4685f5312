/* test_shard.c - sharded runs: SHA-256 against FIPS 180-2's examples and
 * Python's hashlib (fixtures/make_shard.py, every padding case), the shard
 * rule against an independent implementation of its description, K/N
 * parsing, the manifest written and read back, and the merge of small
 * parts: rows back in the run's order, rows left out (--on-error skip)
 * squeezed out and listed, and the sets it refuses.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/array.h"
#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/outfile.h"
#include "../core/sha256.h"
#include "../core/shard.h"
#include "../core/util.h"

#define DIR "fixtures/shard/"

static void hex_of(const void *data, size_t n, char hex[65])
{
    struct sha256 s;
    uint8_t d[32];
    sha256_init(&s);
    sha256_update(&s, data, n);
    sha256_final(&s, d);
    sha256_hex(d, hex);
}

/* ---------------------------------------------------------------- SHA-256 */
Test(shard, sha256_fips_examples)
{
    /* FIPS 180-2, appendix B (and the empty message) */
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmno"
         "p"
         "qrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hex_of(v[i].msg, strlen(v[i].msg), hex);
        cr_expect_str_eq(hex, v[i].hex, "message %zu", i);
    }
    /* one million 'a', fed in pieces of 997 bytes */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    struct sha256 s;
    uint8_t d[32];
    sha256_init(&s);
    for (size_t off = 0; off < 1000000; off += 997)
        sha256_update(&s, a + off, 1000000 - off < 997 ? 1000000 - off : 997);
    sha256_final(&s, d);
    sha256_hex(d, hex);
    cr_expect_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

Test(shard, sha256_every_length_against_hashlib)
{
    FILE *fp = fopen(DIR "blob.bin", "rb");
    cr_assert_not_null(fp);
    unsigned char blob[300];
    cr_assert_eq(fread(blob, 1, sizeof blob, fp), sizeof blob);
    fclose(fp);
    fp = fopen(DIR "sha256.txt", "r");
    cr_assert_not_null(fp);
    size_t len, lines = 0;
    char want[80], got[65];
    while (fscanf(fp, "%zu %70s", &len, want) == 2) {
        cr_assert_leq(len, sizeof blob);
        hex_of(blob, len, got);
        cr_expect_str_eq(got, want, "the first %zu bytes", len);
        /* the same bytes fed one at a time, then in two uneven pieces */
        struct sha256 s;
        uint8_t d[32];
        sha256_init(&s);
        for (size_t i = 0; i < len; i++)
            sha256_update(&s, blob + i, 1);
        sha256_final(&s, d);
        sha256_hex(d, got);
        cr_expect_str_eq(got, want, "the first %zu bytes, byte by byte", len);
        sha256_init(&s);
        sha256_update(&s, blob, len / 3);
        sha256_update(&s, blob + len / 3, len - len / 3);
        sha256_final(&s, d);
        sha256_hex(d, got);
        cr_expect_str_eq(got, want, "the first %zu bytes, in two pieces", len);
        lines++;
    }
    fclose(fp);
    cr_expect_eq(lines, 301);
    uint64_t bytes = 0;
    cr_assert_eq(sha256_file(DIR "blob.bin", got, &bytes), 0, "%s", error_message());
    cr_expect_eq(bytes, 300);
    hex_of(blob, 300, want);
    cr_expect_str_eq(got, want);
    cr_expect_eq(sha256_file(DIR "no-such-file", got, NULL), ERR_INPUT);
}

/* ---------------------------------------------------------------- the rule */
Test(shard, rule_matches_its_description)
{
    FILE *fp = fopen(DIR "rule.txt", "r");
    cr_assert_not_null(fp);
    char *line = NULL;
    size_t cap = 0, cases = 0;
    while (getline(&line, &cap, fp) > 0) {
        char sizes[1024];
        size_t unit, n, k;
        int off = 0;
        cr_assert_eq(sscanf(line, "%1023s %zu %zu %zu:%n", sizes, &unit, &n, &k, &off), 4);
        /* the data set: class-major rows, class c holding sizes[c] images */
        struct dataset ds = {0};
        int32_t lab[4096];
        if (sizes[0] == '-') {
            ds.n = (size_t)atoi(sizes + 1);
        } else {
            size_t c = 0;
            for (char *s = sizes; *s; c++) {
                long m = strtol(s, &s, 10);
                for (long i = 0; i < m; i++)
                    lab[ds.n++] = (int32_t)c;
                if (*s == ',') s++;
            }
            ds.labels = lab;
            ds.nclasses = c;
        }
        size_t cnt;
        int64_t *rows = dataset_shard(&ds, k, n, unit, &cnt);
        cr_assert_not_null(rows, "%s", error_message());
        size_t t = 0;
        for (char *s = line + off; t < cnt; t++) {
            char *e;
            long want = strtol(s, &e, 10);
            cr_assert_neq(e, s, "%s: fewer rows in the reference than the %zu computed", sizes,
                          cnt);
            cr_expect_eq(rows[t], want, "%s unit %zu shard %zu/%zu: row %zu is %lld, not %ld",
                         sizes, unit, k, n, t, (long long)rows[t], want);
            s = e;
        }
        free(rows);
        cases++;
    }
    free(line);
    fclose(fp);
    cr_expect_geq(cases, 20);
}

/* The shards together hold each row once; sizes within one unit; with a
 * unit of at least C rows every shard holds every class. */
Test(shard, rule_partitions_and_spreads_classes)
{
    enum { C = 7, PER = 40, N = C * PER, UNIT = 8, SHARDS = 5 };
    int32_t lab[N];
    for (int i = 0; i < N; i++)
        lab[i] = i / PER;
    struct dataset ds = {.n = N, .labels = lab, .nclasses = C};
    int seen[N] = {0};
    size_t lo = N, hi = 0;
    for (size_t k = 0; k < SHARDS; k++) {
        size_t cnt;
        int64_t *rows = dataset_shard(&ds, k, SHARDS, UNIT, &cnt);
        cr_assert_not_null(rows);
        int classes[C] = {0};
        for (size_t t = 0; t < cnt; t++) {
            seen[rows[t]]++;
            classes[lab[rows[t]]] = 1;
        }
        for (int c = 0; c < C; c++)
            cr_expect(classes[c], "shard %zu has no image of class %d", k, c);
        lo = cnt < lo ? cnt : lo;
        hi = cnt > hi ? cnt : hi;
        free(rows);
    }
    for (int i = 0; i < N; i++)
        cr_expect_eq(seen[i], 1, "row %d in %d shards", i, seen[i]);
    cr_expect_leq(hi - lo, UNIT);
    size_t cnt;
    cr_expect_null(dataset_shard(&ds, 5, 5, 1, &cnt));
    cr_expect_null(dataset_shard(&ds, 0, 0, 1, &cnt));
    cr_expect_null(dataset_shard(&ds, 0, 1, 0, &cnt));
    lab[3] = C; /* a label outside the classes */
    cr_expect_null(dataset_shard(&ds, 0, 1, 1, &cnt));
    cr_expect_eq(error_code(), ERR_INPUT);
}

Test(shard, parse)
{
    struct shard s;
    cr_expect_eq(shard_parse("0/1", &s), 0);
    cr_expect(s.k == 0 && s.n == 1);
    cr_expect_eq(shard_parse("3/4", &s), 0);
    cr_expect(s.k == 3 && s.n == 4);
    cr_expect_eq(shard_parse("999999/1000000", &s), 0);
    const char *bad[] = {"4/4",  "1/0",  "0/0",  "1",    "/4",        "1/",
                         "-1/4", "1/4x", " 1/4", "1/-4", "1/1000001", "99999999999999999999/4",
                         "a/b",  ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(shard_parse(bad[i], &s), ERR_INPUT, "'%s' accepted", bad[i]);
    shard_parse("4/4", &s);
    cr_expect(strstr(error_message(), "does not exist"), "%s", error_message());
}

/* ---------------------------------------------------------------- manifests and merges */
static char tmp[256];

static void tmp_setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/test_shard.XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void tmp_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    cr_expect_eq(system(cmd), 0);
}

static char *tpath(const char *a, const char *b)
{
    char *d = path_join(tmp, a);
    char *p = b ? path_join(d, b) : xstrdup(d);
    free(d);
    return p;
}

/* Writes part k of n of a run of `total` rows into tmp/name: x.npy (total x 3
 * float32, row r = r, r + 0.5, -r), names.txt (line r = "row r"), same.txt,
 * rows.npy, the manifest (model digest `model`). Rows i = k mod n. */
static void write_part(const char *name, size_t k, size_t n, size_t total, const char *model)
{
    char *dir = tpath(name, NULL);
    cr_assert_eq(dir_ensure(dir), 0);
    size_t cnt = 0;
    for (size_t r = k; r < total; r += n)
        cnt++;
    size_t shape[2] = {cnt, 3}, rshape[1] = {cnt};
    struct array *x = array_new(DT_F32, 2, shape), *rows = array_new(DT_I64, 1, rshape);
    char **lines = xcalloc(cnt + 1, sizeof(char *));
    size_t t = 0;
    for (size_t r = k; r < total; r += n, t++) {
        float *v = (float *)x->data + 3 * t;
        v[0] = (float)r, v[1] = (float)r + 0.5f, v[2] = -(float)r;
        ((int64_t *)rows->data)[t] = (int64_t)r;
        lines[t] = xasprintf("row %zu", r);
    }
    char *p = path_join(dir, "x.npy");
    cr_assert_eq(npy_write(p, x), 0);
    free(p);
    p = path_join(dir, "rows.npy");
    cr_assert_eq(npy_write(p, rows), 0);
    free(p);
    p = path_join(dir, "names.txt");
    cr_assert_eq(outfile_write_lines(p, lines, cnt), 0);
    free(p);
    char *same[] = {"a", "b"};
    p = path_join(dir, "same.txt");
    cr_assert_eq(outfile_write_lines(p, same, 2), 0);
    free(p);
    struct shard_manifest m;
    shard_manifest_init(&m, "test", (struct shard){k, n}, total, cnt, 1);
    char hex[65];
    hex_of(model, strlen(model), hex);
    shard_manifest_add_input_digest(&m, "model", model, hex);
    shard_manifest_add_param(&m, "options", "--x=%d", 1);
    shard_manifest_set_classes(&m, same, 2);
    cr_assert_eq(shard_manifest_add_file(&m, dir, "x.npy", SHARD_ROWS, "float32"), 0);
    cr_assert_eq(shard_manifest_add_file(&m, dir, "names.txt", SHARD_ROWS, NULL), 0);
    cr_assert_eq(shard_manifest_add_file(&m, dir, "same.txt", SHARD_SAME, NULL), 0);
    cr_assert_eq(shard_manifest_add_file(&m, dir, "rows.npy", SHARD_INDEX, "int64"), 0);
    cr_assert_eq(shard_manifest_write(dir, &m), 0, "%s", error_message());
    shard_manifest_release(&m);
    for (size_t i = 0; i < cnt; i++)
        free(lines[i]);
    free(lines);
    array_free(x);
    array_free(rows);
    free(dir);
}

static int merge(char **names, size_t n)
{
    char *dirs[8];
    for (size_t i = 0; i < n; i++)
        dirs[i] = tpath(names[i], NULL);
    char *out = tpath("merged", NULL);
    struct shard_merged r;
    int rc = shard_merge(dirs, n, out, &r);
    if (!rc) shard_merged_release(&r);
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(out);
    return rc;
}

Test(shard, manifest_round_trip, .init = tmp_setup, .fini = tmp_teardown)
{
    write_part("p0", 0, 3, 10, "model A");
    char *dir = tpath("p0", NULL);
    struct shard_manifest m;
    cr_assert_eq(shard_manifest_read(dir, &m), 0, "%s", error_message());
    cr_expect_str_eq(m.command, "test");
    cr_expect_str_eq(m.version, INTERP_VERSION);
    cr_expect(m.shard.k == 0 && m.shard.n == 3 && m.total == 10 && m.count == 4 && m.unit == 1);
    cr_expect_eq(m.ninputs, 1);
    cr_expect_str_eq(m.inputs[0].role, "model");
    cr_expect_eq(m.nparams, 1);
    cr_expect_str_eq(m.params[0].value, "--x=1");
    cr_expect_eq(m.nclasses, 2);
    cr_expect_eq(m.nfiles, 4);
    cr_expect_eq(m.files[0].kind, SHARD_ROWS);
    cr_expect_str_eq(m.files[0].dtype, "float32");
    cr_expect_eq(m.files[3].kind, SHARD_INDEX);
    char *want = path_join(dir, "");
    cr_expect_str_eq(m.dir, want);
    free(want);
    cr_expect_eq(shard_manifest_verify(dir, &m), 0, "%s", error_message());
    char why[256];
    cr_expect(shard_manifest_same_run(&m, &m, why, sizeof why));
    /* a file changed after the manifest */
    char *p = path_join(dir, "same.txt");
    char *other[] = {"a", "c"};
    cr_assert_eq(outfile_write_lines(p, other, 2), 0);
    cr_expect_eq(shard_manifest_verify(dir, &m), ERR_INPUT);
    cr_expect(strstr(error_message(), "changed since"), "%s", error_message());
    free(p);
    shard_manifest_release(&m);
    shard_manifest_release(&m); /* released twice: a no-op */
    free(dir);
}

Test(shard, merge_puts_rows_back, .init = tmp_setup, .fini = tmp_teardown)
{
    write_part("p0", 0, 3, 10, "model A");
    write_part("p1", 1, 3, 10, "model A");
    write_part("p2", 2, 3, 10, "model A");
    char *names[] = {"p2", "p0", "p1"}; /* any order */
    cr_assert_eq(merge(names, 3), 0, "%s: %s", error_path(), error_message());
    char *p = tpath("merged", "x.npy");
    struct array_opts o = array_opts_default();
    struct array *x = array_load(p, &o, DT_F32);
    cr_assert_not_null(x);
    cr_expect(x->shape[0] == 10 && x->shape[1] == 3);
    for (size_t r = 0; r < 10; r++) {
        const float *v = (const float *)x->data + 3 * r;
        cr_expect(v[0] == (float)r && v[1] == (float)r + 0.5f && v[2] == -(float)r, "row %zu",
                  r);
    }
    array_free(x);
    free(p);
    p = tpath("merged", "names.txt");
    FILE *fp = fopen(p, "r");
    cr_assert_not_null(fp);
    char line[64];
    for (int r = 0; r < 10; r++) {
        char want[64];
        snprintf(want, sizeof want, "row %d\n", r);
        cr_expect(fgets(line, sizeof line, fp) && !strcmp(line, want), "line %d: %s", r, line);
    }
    cr_expect_null(fgets(line, sizeof line, fp));
    fclose(fp);
    free(p);
    /* neither the index nor the manifest is a merged file */
    p = tpath("merged", "rows.npy");
    cr_expect_neq(access(p, F_OK), 0);
    free(p);
    p = tpath("merged", SHARD_MANIFEST);
    cr_expect_neq(access(p, F_OK), 0);
    free(p);
}

Test(shard, merge_refuses_bad_sets, .init = tmp_setup, .fini = tmp_teardown)
{
    write_part("p0", 0, 3, 10, "model A");
    write_part("p1", 1, 3, 10, "model A");
    write_part("p2", 2, 3, 10, "model A");
    write_part("q1", 1, 3, 10, "model B");
    write_part("n1", 1, 2, 10, "model A");
    char *missing[] = {"p0", "p2"}, *twice[] = {"p0", "p1", "p1", "p2"},
         *model[] = {"p0", "q1", "p2"}, *other_n[] = {"p0", "n1", "p2"};
    cr_expect_eq(merge(missing, 2), ERR_INPUT);
    cr_expect(strstr(error_message(), "shard 1/3 is missing"), "%s", error_message());
    cr_expect_eq(merge(twice, 4), ERR_INPUT);
    cr_expect(strstr(error_message(), "given twice"), "%s", error_message());
    cr_expect(strstr(error_path(), "p1"));
    cr_expect_eq(merge(model, 3), ERR_INPUT);
    cr_expect(strstr(error_message(), "another model"), "%s", error_message());
    cr_expect(strstr(error_path(), "q1"));
    cr_expect_eq(merge(other_n, 3), ERR_INPUT);
    cr_expect(strstr(error_message(), "split into 2 shards, not 3"), "%s", error_message());
    /* a part whose shard did not finish: no manifest */
    char *p = tpath("p1", SHARD_MANIFEST);
    cr_assert_eq(unlink(p), 0);
    free(p);
    char *all[] = {"p0", "p1", "p2"};
    cr_expect_eq(merge(all, 3), ERR_INPUT);
    cr_expect(strstr(error_message(), "no manifest.json"), "%s", error_message());
    cr_expect(strstr(error_path(), "p1"));
    /* a row file that lost a line since its manifest was written */
    write_part("p1", 1, 3, 10, "model A");
    p = tpath("p2", "names.txt");
    char *short_[] = {"row 2", "row 5"};
    cr_assert_eq(outfile_write_lines(p, short_, 2), 0);
    free(p);
    cr_expect_eq(merge(all, 3), ERR_INPUT);
    cr_expect(strstr(error_message(), "changed since"), "%s", error_message());
}

/* Part k of n of a run of `total` rows that left out the rows r % mod ==
 * mod - 1 (--on-error skip; mod 1: all of them): as write_part for the
 * others, plus skipped.txt (line "row r<TAB>bad r") and skipped_rows.npy.
 * lost: one left-out row the part does not list (the coverage check). */
static void write_skip_part(const char *name, size_t k, size_t n, size_t total, size_t mod,
                            int lost)
{
    char *dir = tpath(name, NULL);
    cr_assert_eq(dir_ensure(dir), 0);
    size_t cnt = 0, nsk = 0;
    for (size_t r = k; r < total; r += n)
        r % mod == mod - 1 ? nsk++ : cnt++;
    if (lost && nsk) nsk--;
    size_t shape[2] = {cnt, 3}, rshape[1] = {cnt}, sshape[1] = {nsk};
    struct array *x = array_new(DT_F32, 2, shape), *rows = array_new(DT_I64, 1, rshape),
                 *skr = array_new(DT_I64, 1, sshape);
    char **lines = xcalloc(cnt + 1, sizeof(char *));
    struct dataset_skips sk = {.policy = DATASET_SKIP};
    size_t t = 0, u = 0;
    for (size_t r = k; r < total; r += n) {
        if (r % mod == mod - 1) {
            if (u == nsk) continue;
            char *f = xasprintf("row %zu", r);
            error_set(ERR_INPUT, NULL, "bad %zu", r);
            cr_assert_eq(dataset_skip(&sk, r, f), 0);
            free(f);
            ((int64_t *)skr->data)[u++] = (int64_t)r;
            continue;
        }
        float *v = (float *)x->data + 3 * t;
        v[0] = (float)r, v[1] = (float)r + 0.5f, v[2] = -(float)r;
        ((int64_t *)rows->data)[t] = (int64_t)r;
        lines[t++] = xasprintf("row %zu", r);
    }
    char *p = path_join(dir, "x.npy");
    cr_assert_eq(npy_write(p, x), 0);
    free(p);
    p = path_join(dir, "rows.npy");
    cr_assert_eq(npy_write(p, rows), 0);
    free(p);
    p = path_join(dir, "skipped_rows.npy");
    cr_assert_eq(npy_write(p, skr), 0);
    free(p);
    p = path_join(dir, "names.txt");
    cr_assert_eq(outfile_write_lines(p, lines, cnt), 0);
    free(p);
    p = path_join(dir, "skipped.txt");
    cr_assert_eq(dataset_skips_write(&sk, p), 0);
    free(p);
    struct shard_manifest m;
    shard_manifest_init(&m, "test", (struct shard){k, n}, total, cnt, 1);
    m.skipped = nsk;
    char hex[65];
    hex_of("model A", 7, hex);
    shard_manifest_add_input_digest(&m, "model", "model A", hex);
    cr_assert_eq(shard_manifest_add_file(&m, dir, "x.npy", SHARD_ROWS, "float32"), 0);
    cr_assert_eq(shard_manifest_add_file(&m, dir, "names.txt", SHARD_ROWS, NULL), 0);
    cr_assert_eq(shard_manifest_add_file(&m, dir, "rows.npy", SHARD_INDEX, "int64"), 0);
    cr_assert_eq(shard_manifest_add_file(&m, dir, "skipped.txt", SHARD_SKIP_ROWS, NULL), 0);
    cr_assert_eq(
        shard_manifest_add_file(&m, dir, "skipped_rows.npy", SHARD_SKIP_INDEX, "int64"), 0);
    cr_assert_eq(shard_manifest_write(dir, &m), 0, "%s", error_message());
    shard_manifest_release(&m);
    for (size_t i = 0; i < cnt; i++)
        free(lines[i]);
    free(lines);
    dataset_skips_release(&sk);
    array_free(x);
    array_free(rows);
    array_free(skr);
    free(dir);
}

static char *slurp_text(const char *a, const char *b)
{
    char *p = tpath(a, b);
    struct filebuf fb = {0};
    cr_assert_eq(filebuf_load(&fb, p), 0, "%s", p);
    char *s = xasprintf("%.*s", (int)fb.len, (const char *)fb.data);
    filebuf_release(&fb);
    free(p);
    return s;
}

Test(shard, merge_squeezes_out_left_out_rows_and_joins_their_list, .init = tmp_setup,
     .fini = tmp_teardown)
{
    write_skip_part("p0", 0, 3, 14, 4, 0);
    write_skip_part("p1", 1, 3, 14, 4, 0);
    write_skip_part("p2", 2, 3, 14, 4, 0);
    char *dir = tpath("p1", NULL);
    struct shard_manifest m;
    cr_assert_eq(shard_manifest_read(dir, &m), 0, "%s", error_message());
    cr_expect(m.count == 4 && m.skipped == 1, "count %zu, skipped %zu", m.count, m.skipped);
    cr_expect_eq(m.files[3].kind, SHARD_SKIP_ROWS);
    cr_expect_eq(m.files[4].kind, SHARD_SKIP_INDEX);
    shard_manifest_release(&m);
    free(dir);
    char *names[] = {"p1", "p2", "p0"};
    cr_assert_eq(merge(names, 3), 0, "%s: %s", error_path(), error_message());
    /* x.npy: the 11 rows r % 4 != 3, in order, nothing in between */
    char *p = tpath("merged", "x.npy");
    struct array_opts o = array_opts_default();
    struct array *x = array_load(p, &o, DT_F32);
    cr_assert_not_null(x);
    cr_expect(x->shape[0] == 11 && x->shape[1] == 3, "%zu rows", x->shape[0]);
    size_t t = 0;
    for (size_t r = 0; r < 14; r++) {
        if (r % 4 == 3) continue;
        cr_expect(((const float *)x->data)[3 * t] == (float)r, "row %zu: %g", t,
                  ((const float *)x->data)[3 * t]);
        t++;
    }
    array_free(x);
    free(p);
    char *txt = slurp_text("merged", "names.txt");
    cr_expect_str_eq(txt, "row 0\nrow 1\nrow 2\nrow 4\nrow 5\nrow 6\nrow 8\nrow 9\nrow 10\n"
                          "row 12\nrow 13\n");
    free(txt);
    txt = slurp_text("merged", "skipped.txt");
    cr_expect_str_eq(txt, "row 3\tbad 3\nrow 7\tbad 7\nrow 11\tbad 11\n");
    free(txt);
    p = tpath("merged", "skipped_rows.npy");
    cr_expect_neq(access(p, F_OK), 0, "the index of left-out rows is not a merged file");
    free(p);
}

Test(shard, merge_refuses_left_out_rows_it_cannot_account_for, .init = tmp_setup,
     .fini = tmp_teardown)
{
    write_skip_part("p0", 0, 2, 12, 4, 0);
    write_skip_part("p1", 1, 2, 12, 4, 1); /* row 11 is in no part */
    char *names[] = {"p0", "p1"};
    cr_expect_eq(merge(names, 2), ERR_INPUT);
    cr_expect(strstr(error_message(), "the parts hold 11 of the run's 12 rows"), "%s",
              error_message());
    /* a part that says it left rows out but lists no index of them */
    write_part("w0", 0, 2, 12, "model A");
    write_part("w1", 1, 2, 12, "model A");
    char *dir = tpath("w0", NULL);
    struct shard_manifest m;
    cr_assert_eq(shard_manifest_read(dir, &m), 0);
    m.skipped = 1;
    cr_assert_eq(shard_manifest_write(dir, &m), 0);
    char *w[] = {"w0", "w1"};
    cr_expect_eq(merge(w, 2), ERR_INPUT);
    cr_expect(
        strstr(error_message(), "says 1 rows were left out, but lists no skip-index file"),
        "%s", error_message());
    /* more rows computed and left out than the run has */
    m.skipped = 7;
    cr_assert_eq(shard_manifest_write(dir, &m), 0);
    shard_manifest_release(&m);
    cr_expect_eq(shard_manifest_read(dir, &m), ERR_INPUT);
    cr_expect(strstr(error_message(), "with 6 (and 7 left out) of 12 rows"), "%s",
              error_message());
    shard_manifest_release(&m);
    free(dir);
}

Test(shard, merge_of_parts_that_read_nothing_fails, .init = tmp_setup, .fini = tmp_teardown)
{
    write_skip_part("p0", 0, 2, 5, 1, 0); /* mod 1: every row left out */
    write_skip_part("p1", 1, 2, 5, 1, 0);
    char *dir = tpath("p0", NULL);
    struct shard_manifest m;
    cr_assert_eq(shard_manifest_read(dir, &m), 0);
    cr_expect(m.count == 0 && m.skipped == 3, "count %zu, skipped %zu", m.count, m.skipped);
    shard_manifest_release(&m);
    free(dir);
    char *names[] = {"p0", "p1"};
    cr_expect_eq(merge(names, 2), ERR_INPUT);
    cr_expect(strstr(error_message(), "none of the run's 5 rows could be read"), "%s",
              error_message());
    char *out = tpath("merged", NULL);
    cr_expect_neq(access(out, F_OK), 0, "nothing written");
    free(out);
}
