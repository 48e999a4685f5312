/* test_namelist.c - the quoting of one-name-per-line files (core/namelist.h),
 * the list reader that reads it back (dataset_read_list, class_names_load),
 * the --on-error skip list (core/dataset.h) and the JSON writer's
 * surrogateescape of bytes that are not UTF-8. The decoding by an independent
 * reader (the README's Python snippet) is in tests/cli_files.tests.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/array.h"
#include "../core/dataset.h"
#include "../core/error.h"
#include "../core/json.h"
#include "../core/namelist.h"
#include "../core/outfile.h"
#include "../core/util.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/interp-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

/* The whole file (owned), its length in *n. */
static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    char *buf = xmalloc(1 << 16);
    *n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[*n] = 0;
    fclose(fp);
    return buf;
}

/* ---- the format, case by case ---- */

static void check_quote(const char *name, const char *want)
{
    char *q = namelist_quote(name);
    cr_assert_str_eq(q, want, "quote(%s): got [%s], want [%s]", name, q, want);
    cr_assert_eq(namelist_needs_quote(name), strcmp(name, want) != 0);
    char *back = NULL;
    cr_assert_eq(namelist_unquote(q, strlen(q), &back), 0, "unquote [%s]: %s", q,
                 error_message());
    cr_assert_str_eq(back, name);
    free(back);
    free(q);
}

Test(namelist, ordinary_names_stay_byte_for_byte)
{
    check_quote("ds/a/001.png", "ds/a/001.png");
    check_quote("data/Human_Cubism/x y.jpg", "data/Human_Cubism/x y.jpg");
    check_quote("back\\slash", "back\\slash"); /* only a leading quote matters */
    check_quote("a\"b\".png", "a\"b\".png");   /* quotes inside */
    check_quote("caf\xc3\xa9/\xe5\x8c\x97\xe6\x96\x8e.png",
                "caf\xc3\xa9/\xe5\x8c\x97\xe6\x96\x8e.png");
    check_quote("\xf0\x9f\x8e\xa8.webp", "\xf0\x9f\x8e\xa8.webp"); /* U+1F3A8, 4 bytes */
    check_quote("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");           /* U+10FFFF */
    check_quote("x~", "x~");
}

Test(namelist, names_that_would_break_a_line_are_quoted)
{
    check_quote("ds/a/we ird\nname.png", "\"ds/a/we ird\\nname.png\"");
    check_quote("tab\there", "\"tab\\there\"");
    check_quote("cr\r", "\"cr\\r\"");
    check_quote(" lead", "\" lead\"");
    check_quote("trail ", "\"trail \"");
    check_quote("\"quoted\"", "\"\\\"quoted\\\"\"");
    check_quote("\"a\\b", "\"\\\"a\\\\b\""); /* once quoted, \ is escaped too */
    check_quote("", "\"\"");
    check_quote("bell\x07"
                "del\x7f"
                "esc\x1b",
                "\"bell\\x07del\\x7fesc\\x1b\"");
    check_quote("vt\x0b"
                "ff\x0c"
                "fs\x1c",
                "\"vt\\x0bff\\x0cfs\\x1c\"");
}

Test(namelist, invalid_utf8_is_escaped_byte_by_byte)
{
    check_quote("bad\xff\xfe.png", "\"bad\\xff\\xfe.png\"");
    check_quote("latin1 caf\xe9", "\"latin1 caf\\xe9\"");
    check_quote("\xc0\xaf", "\"\\xc0\\xaf\"");                   /* overlong '/' */
    check_quote("\xed\xa0\x80", "\"\\xed\\xa0\\x80\"");          /* a surrogate */
    check_quote("\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\""); /* past U+10FFFF */
    check_quote("\xe2\x82", "\"\\xe2\\x82\"");                   /* cut short */
    check_quote("\xe2\x82\xac\x80", "\"\xe2\x82\xac\\x80\"");    /* euro, stray byte */
}

Test(namelist, python_line_ends_are_escaped)
{
    /* str.splitlines() also breaks at U+0085, U+2028 and U+2029 */
    check_quote("a\xc2\x85"
                "b",
                "\"a\\xc2\\x85b\"");
    check_quote("a\xe2\x80\xa8"
                "b",
                "\"a\\xe2\\x80\\xa8b\"");
    check_quote("a\xe2\x80\xa9"
                "b",
                "\"a\\xe2\\x80\\xa9b\"");
    check_quote("a\xe2\x80\xaa"
                "b",
                "a\xe2\x80\xaa"
                "b"); /* U+202A is not a line end */
}

/* Every byte value 1..255 alone, in a name: the line has no control byte,
 * is valid UTF-8, and reads back. */
Test(namelist, every_byte_round_trips)
{
    for (int c = 1; c < 256; c++)
        for (int at = 0; at < 3; at++) {
            char name[8] = "ab";
            if (at == 0) name[0] = (char)c, name[1] = 'x', name[2] = 0;
            if (at == 1) name[1] = (char)c;
            if (at == 2) name[2] = (char)c, name[3] = 0;
            char *q = namelist_quote(name), *back = NULL;
            for (const char *p = q; *p; p++) {
                unsigned char b = (unsigned char)*p;
                cr_assert(b >= 0x20 && b != 0x7f, "byte 0x%02x in the line for 0x%02x", b, c);
            }
            for (const char *p = q; *p;) {
                size_t n = utf8_char_len(p);
                cr_assert(n > 0, "line for 0x%02x is not UTF-8", c);
                p += n;
            }
            cr_assert_eq(namelist_unquote(q, strlen(q), &back), 0);
            cr_assert_str_eq(back, name, "byte 0x%02x at %d", c, at);
            free(back);
            free(q);
        }
}

static void check_bad(const char *line, const char *want)
{
    char *name = (char *)1;
    error_clear();
    cr_assert_eq(namelist_unquote(line, strlen(line), &name), ERR_INPUT, "accepted [%s]", line);
    cr_assert_null(name);
    cr_assert(strstr(error_message(), want), "[%s]: %s", line, error_message());
}

Test(namelist, malformed_quoted_lines_are_refused)
{
    check_bad("\"open", "not closed");
    check_bad("\"", "not closed");
    check_bad("\"a\\\"", "not closed"); /* the closing quote is escaped */
    check_bad("\"a\" b", "text after the closing double quote at column 4");
    check_bad("\"a\\qb\"", "unknown escape \\q at column 3");
    check_bad("\"a\\x4\"", "\\x at column 3 is not followed by two hex digits");
    check_bad("\"a\\xg0\"", "two hex digits");
    check_bad("\"a\\x00\"", "cannot hold NUL");
    char nul[] = "a\0b";
    char *name = NULL;
    cr_assert_eq(namelist_unquote(nul, 3, &name), ERR_INPUT);
    cr_assert(strstr(error_message(), "NUL"));
}

Test(namelist, unquote_accepts_upper_case_hex)
{
    char *name = NULL;
    cr_assert_eq(namelist_unquote("\"\\xFF\\xfE\"", 10, &name), 0);
    cr_assert_str_eq(name, "\xff\xfe");
    free(name);
}

Test(namelist, a_line_not_starting_with_a_quote_is_the_name)
{
    char *name = NULL;
    cr_assert_eq(namelist_unquote("a\\nb\"", 5, &name), 0);
    cr_assert_str_eq(name, "a\\nb\"");
    free(name);
}

/* ---- written by outfile_write_lines, read by dataset_read_list ---- */

Test(namelist, files_txt_round_trips_through_the_list_reader)
{
    make_tmpdir();
    char *const names[] = {"/d/plain.png",  "/d/we ird\nname.png", "/d/tab\t.png",
                           "/d/trail.png ", "/d/bad\xff.png",      "/d/\"q\".png",
                           " /lead.png",    "\"/starts-quoted.png"};
    size_t n = sizeof names / sizeof names[0];
    char *path = path_join(tmpdir, "files.txt");
    cr_assert_eq(outfile_write_lines(path, names, n), 0);
    size_t len;
    char *text = slurp(path, &len);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    cr_assert_eq(lines, n, "%zu lines for %zu names:\n%s", lines, n, text);
    cr_assert(!strncmp(text, "/d/plain.png\n\"/d/we ird\\nname.png\"\n", 35), "%s", text);
    free(text);

    struct dataset ds;
    cr_assert_eq(dataset_read_list(path, &ds), 0, "%s", error_message());
    cr_assert_eq(ds.n, n);
    for (size_t i = 0; i < n; i++) {
        /* " /lead.png" is relative: not found from here, so taken from the
         * list's folder */
        if (names[i][0] == ' ') {
            char *want = xasprintf("%s/%s", tmpdir, names[i]);
            cr_assert_str_eq(ds.files[i], want);
            free(want);
        } else if (names[i][0] == '"') {
            cr_assert_str_eq(ds.files[i] + strlen(tmpdir) + 1, names[i]);
        } else {
            cr_assert_str_eq(ds.files[i], names[i]);
        }
    }
    dataset_release(&ds);
    unlink(path);
    free(path);
    rmdir(tmpdir);
}

Test(namelist, list_reader_names_the_bad_line)
{
    make_tmpdir();
    char *path = path_join(tmpdir, "list.txt");
    const char text[] = "/a.png\r\n\n\"/b\\tc.png\"\r\n\"/unclosed.png\n";
    write_file(path, text, sizeof text - 1);
    struct dataset ds;
    cr_assert_eq(dataset_read_list(path, &ds), ERR_INPUT);
    cr_assert_str_eq(error_path(), path);
    cr_assert(strstr(error_message(), "line 4: starts with a double quote that is not closed"),
              "%s", error_message());
    cr_assert_eq(ds.n, 0);
    /* CR LF and blank lines as before */
    const char good[] = "/a.png\r\n\n\"/b\\tc.png\"\r\n";
    write_file(path, good, sizeof good - 1);
    cr_assert_eq(dataset_read_list(path, &ds), 0);
    cr_assert_eq(ds.n, 2);
    cr_assert_str_eq(ds.files[0], "/a.png");
    cr_assert_str_eq(ds.files[1], "/b\tc.png");
    dataset_release(&ds);
    unlink(path);
    free(path);
    rmdir(tmpdir);
}

Test(namelist, class_names_read_back_quoted)
{
    make_tmpdir();
    char *const names[] = {"cat", " leading", "new\nline", "bad\xfe"};
    char *path = path_join(tmpdir, "classes.txt");
    cr_assert_eq(outfile_write_lines(path, names, 4), 0);
    size_t n = 0;
    char **got = class_names_load(path, &n);
    cr_assert_not_null(got, "%s", error_message());
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(got[i], names[i]);
    class_names_free(got, n);
    write_file(path, "a\n\"b\\z\"\n", 8);
    cr_assert_null(class_names_load(path, &n));
    cr_assert(strstr(error_message(), "line 2: unknown escape \\z"), "%s", error_message());
    unlink(path);
    free(path);
    rmdir(tmpdir);
}

/* ---- --on-error ---- */

Test(skips, stop_keeps_the_error_and_names_the_file)
{
    struct dataset_skips s = {.policy = DATASET_STOP};
    error_set(ERR_INPUT, NULL, "truncated PNG");
    cr_assert_eq(dataset_skip(&s, 3, "x.png"), ERR_INPUT);
    cr_assert_str_eq(error_path(), "x.png");
    cr_assert_str_eq(error_message(), "truncated PNG");
    cr_assert_eq(s.n, 0);
    dataset_skips_release(&s);
}

Test(skips, skip_lists_drops_and_writes)
{
    make_tmpdir();
    struct dataset ds = {0};
    ds.n = 5;
    ds.files = xmalloc(sizeof(char *) * 5);
    ds.labels = xmalloc(sizeof(int32_t) * 5);
    for (int i = 0; i < 5; i++) {
        ds.files[i] = xasprintf("f%d.png", i);
        ds.labels[i] = 10 + i;
    }
    struct dataset_skips s = {0};
    cr_assert_eq(dataset_on_error_parse("skip", &s.policy), 0);
    error_set(ERR_INPUT, "f1.png", "empty file, not an image");
    cr_assert_eq(dataset_skip(&s, 1, ds.files[1]), 0);
    cr_assert_eq(error_code(), ERR_OK);
    error_set(ERR_INPUT, "f4.png", "a\ttab in the reason");
    cr_assert_eq(dataset_skip(&s, 4, "we\nird.png"), 0);
    cr_assert_eq(dataset_skips_all(&s, 5, "ds"), 0);
    dataset_drop_skipped(&ds, &s);
    cr_assert_eq(ds.n, 3);
    const int keep[] = {0, 2, 3};
    for (int i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof want, "f%d.png", keep[i]);
        cr_assert_str_eq(ds.files[i], want);
        cr_assert_eq(ds.labels[i], 10 + keep[i]);
    }
    char *path = path_join(tmpdir, "skipped.txt");
    cr_assert_eq(dataset_skips_write(&s, path), 0);
    size_t len;
    char *text = slurp(path, &len);
    cr_assert_str_eq(text, "f1.png\tempty file, not an image\n"
                           "\"we\\nird.png\"\t\"a\\ttab in the reason\"\n");
    free(text);
    cr_assert_eq(dataset_on_error_parse("ignore", &s.policy), ERR_INPUT);
    cr_assert(strstr(error_message(), "--on-error: 'ignore' is not stop or skip"));
    dataset_skips_release(&s);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(s.policy, DATASET_SKIP);
    dataset_release(&ds);
    unlink(path);
    free(path);
    rmdir(tmpdir);
}

Test(skips, all_skipped_is_an_input_error)
{
    struct dataset_skips s = {.policy = DATASET_SKIP};
    error_set(ERR_INPUT, NULL, "not a PNG");
    dataset_skip(&s, 0, "a.png");
    error_set(ERR_INPUT, NULL, "empty file");
    dataset_skip(&s, 1, "b.jpg");
    cr_assert_eq(dataset_skips_all(&s, 3, "ds"), 0);
    cr_assert_eq(dataset_skips_all(&s, 2, "ds"), ERR_INPUT);
    cr_assert_str_eq(error_path(), "ds");
    cr_assert_str_eq(error_message(),
                     "none of the 2 images could be read (the first, a.png: not a PNG)");
    dataset_skips_release(&s);
}

Test(skips, sort_orders_by_row_and_read_gives_back_what_write_wrote)
{
    make_tmpdir();
    struct dataset_skips s = {.policy = DATASET_SKIP};
    /* recorded out of order, as embed's class-interleaved batches visit rows */
    const size_t rows[] = {7, 2, 9, 0, 5};
    const char *names[] = {"c1/b.png", "c0/a\tb.png", "c2/\xff.png", " lead.png",
                           "c1/\"q\".png"};
    for (int i = 0; i < 5; i++) {
        error_set(ERR_INPUT, NULL, "reason %d", (int)rows[i]);
        cr_assert_eq(dataset_skip(&s, rows[i], names[i]), 0);
    }
    dataset_skips_sort(&s);
    const size_t want[] = {0, 2, 5, 7, 9};
    for (int i = 0; i < 5; i++) {
        char r[32];
        snprintf(r, sizeof r, "reason %zu", want[i]);
        cr_assert_eq(s.rows[i], want[i]);
        cr_assert_str_eq(s.reasons[i], r, "entry %d moved without its reason", i);
    }
    cr_assert_str_eq(s.files[0], " lead.png");
    cr_assert_str_eq(s.files[4], "c2/\xff.png");
    char *path = path_join(tmpdir, "skipped.txt");
    cr_assert_eq(dataset_skips_write(&s, path), 0);
    struct dataset_skips back = {0};
    cr_assert_eq(dataset_skips_read(path, &back), 0, "%s", error_message());
    cr_assert_eq(back.n, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_str_eq(back.files[i], s.files[i]);
        cr_assert_str_eq(back.reasons[i], s.reasons[i]);
        cr_assert_eq(back.rows[i], SIZE_MAX);
    }
    dataset_skips_release(&back);
    /* a line without its tab, a field that does not unquote: named by line */
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs("a.png\tfine\nb.png without a reason\n", fp);
    fclose(fp);
    cr_assert_eq(dataset_skips_read(path, &back), ERR_INPUT);
    cr_assert_str_eq(error_message(), "line 2: not a file, a tab and a reason");
    cr_assert_str_eq(error_path(), path);
    dataset_skips_release(&back);
    fp = fopen(path, "w");
    fputs("\"a.png\tunclosed\n", fp);
    fclose(fp);
    cr_assert_eq(dataset_skips_read(path, &back), ERR_INPUT);
    cr_assert(strstr(error_message(), "line 1: "), "%s", error_message());
    dataset_skips_release(&back);
    dataset_skips_release(&s);
    unlink(path);
    free(path);
    rmdir(tmpdir);
}

/* ---- JSON: a name that is not UTF-8 ---- */

Test(namelist, json_writes_invalid_utf8_as_surrogate_escapes)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    struct json j;
    json_init(&j, fp);
    j.pretty = 0;
    json_array_begin(&j);
    json_string(&j, "caf\xc3\xa9 bad\xff\xfe end\xe2\x82");
    json_array_end(&j);
    fclose(fp);
    cr_assert_str_eq(buf, "[\"caf\xc3\xa9 bad\\udcff\\udcfe end\\udce2\\udc82\"]");
    free(buf);
}
