/* test_core.c - the error slot, checked sizes, atomic output files, the input
 * guard and the JSON writer.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/error.h"
#include "../core/json.h"
#include "../core/outfile.h"
#include "../core/util.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/interp-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

Test(error, records_code_path_and_one_line)
{
    error_clear();
    cr_assert_eq(error_code(), ERR_OK);
    cr_assert_null(error_path());
    int rc = error_set(ERR_INPUT, "a.npy", "bad %s\nsecond line", "header");
    cr_assert_eq(rc, ERR_INPUT);
    cr_assert_str_eq(error_path(), "a.npy");
    cr_assert_str_eq(error_message(), "bad header second line");
    error_set(ERR_FAIL, NULL, "other");
    cr_assert_null(error_path());
    error_set_path_if_missing("b.npy");
    cr_assert_str_eq(error_path(), "b.npy");
    error_set_path_if_missing("c.npy");
    cr_assert_str_eq(error_path(), "b.npy");
}

Test(util, multiplication_overflow_is_caught)
{
    size_t r = 0;
    cr_assert(mul_ok(1u << 20, 1u << 20, &r));
    cr_assert_eq(r, (size_t)1 << 40);
    cr_assert_not(mul_ok(SIZE_MAX / 2 + 1, 2, &r));
    cr_assert_not(mul3_ok(1ull << 32, 1ull << 32, 1, &r));
    cr_assert(mul3_ok(3, 5, 7, &r));
    cr_assert_eq(r, 105);
}

Test(util, big_alloc_refuses_over_the_limit)
{
    uint64_t saved = limits_get()->max_bytes;
    limits_get()->max_bytes = 1000;
    error_clear();
    cr_assert_null(big_alloc(1001, "x.npy", "test matrix"));
    cr_assert_eq(error_code(), ERR_INPUT);
    cr_assert(strstr(error_message(), "test matrix") != NULL, "%s", error_message());
    void *p = big_alloc(1000, "x.npy", "test matrix");
    cr_assert_not_null(p);
    free(p);
    limits_get()->max_bytes = saved;
}

Test(outfile, commit_renames_abort_leaves_nothing)
{
    make_tmpdir();
    char *path = path_join(tmpdir, "out.txt");
    struct outfile of;
    cr_assert_eq(outfile_open(&of, path), 0);
    fputs("hello", of.fp);
    cr_assert_eq(access(path, F_OK), -1, "target exists before commit");
    cr_assert_eq(count_entries(tmpdir), 1); /* the temporary */
    cr_assert_eq(outfile_commit(&of), 0);
    cr_assert_str_eq(slurp(path), "hello");
    cr_assert_eq(count_entries(tmpdir), 1);

    /* An aborted rewrite leaves the old content and no temporary. */
    cr_assert_eq(outfile_open(&of, path), 0);
    fputs("partial", of.fp);
    outfile_abort(&of);
    cr_assert_str_eq(slurp(path), "hello");
    cr_assert_eq(count_entries(tmpdir), 1);

    /* Files get the usual mode, not mkstemp's 0600. */
    struct stat st;
    mode_t mask = umask(022);
    cr_assert_eq(outfile_open(&of, path), 0);
    cr_assert_eq(outfile_commit(&of), 0);
    umask(mask);
    stat(path, &st);
    cr_assert_eq(st.st_mode & 0777, 0644, "mode %o", st.st_mode & 0777);
    free(path);
}

Test(outfile, cleanup_all_removes_open_temporaries)
{
    make_tmpdir();
    char *path = path_join(tmpdir, "x.bin");
    struct outfile of;
    cr_assert_eq(outfile_open(&of, path), 0);
    cr_assert_eq(count_entries(tmpdir), 1);
    outfile_cleanup_all();
    cr_assert_eq(count_entries(tmpdir), 0);
    outfile_abort(&of);
    free(path);
}

Test(outfile, refuses_inputs_folders_and_missing_dirs)
{
    make_tmpdir();
    char *in = path_join(tmpdir, "in.npy");
    FILE *fp = fopen(in, "w");
    fputs("data", fp);
    fclose(fp);
    input_register(in);
    struct outfile of;
    cr_assert_eq(outfile_open(&of, in), ERR_INPUT);
    cr_assert(strstr(error_message(), "overwrite an input") != NULL);
    cr_assert_str_eq(slurp(in), "data");

    cr_assert_eq(outfile_open(&of, tmpdir), ERR_INPUT);
    cr_assert(strstr(error_message(), "directory") != NULL);

    char *deep = path_join(tmpdir, "no/such/out.npy");
    cr_assert_eq(outfile_open(&of, deep), ERR_INPUT);
    cr_assert(strstr(error_message(), "does not exist") != NULL, "%s", error_message());
    free(in);
    free(deep);
}

Test(outfile, dir_ensure_makes_parents)
{
    make_tmpdir();
    char *deep = path_join(tmpdir, "a/b/c");
    cr_assert_eq(dir_ensure(deep), 0);
    struct stat st;
    cr_assert_eq(stat(deep, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(dir_ensure(deep), 0); /* idempotent */
    char *file = path_join(tmpdir, "f");
    fclose(fopen(file, "w"));
    cr_assert_eq(dir_ensure(file), ERR_INPUT);
    free(deep);
    free(file);
}

Test(json, writes_valid_escaped_output)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    struct json j;
    json_init(&j, fp);
    j.pretty = 0;
    json_object_begin(&j);
    json_key(&j, "name");
    json_string(&j, "a \"quoted\"\\ path\n\x01");
    json_key(&j, "n");
    json_int(&j, -42);
    json_key(&j, "x");
    json_double(&j, 0.1);
    json_key(&j, "nan");
    json_double(&j, 0.0 / 0.0);
    json_key(&j, "list");
    json_array_begin(&j);
    json_int(&j, 1);
    json_bool(&j, 1);
    json_null(&j);
    json_array_begin(&j);
    json_array_end(&j);
    json_array_end(&j);
    json_object_end(&j);
    json_finish(&j);
    fclose(fp);
    cr_assert_str_eq(buf, "{\"name\":\"a \\\"quoted\\\"\\\\ path\\n\\u0001\",\"n\":-42,"
                          "\"x\":0.1,\"nan\":null,\"list\":[1,true,null,[]]}\n");
    free(buf);
}
