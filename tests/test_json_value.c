/* test_json_value.c - the JSON parser against Python's json module
 * (fixtures/make_zipjson.py): every valid case dumped item by item and
 * compared with what json.loads read (numbers to the bit), every invalid
 * case refused with its line, column and reason, the accessors, the memory
 * limit, truncations, and a 10 MB configuration parsed in well under a
 * second. Texts are parsed from buffers of their exact size, never
 * NUL-terminated, so a read past the end shows under AddressSanitizer.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/json_value.h"
#include "../core/util.h"

#define JDIR "fixtures/json/"

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc(n ? (size_t)n : 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* Parses a C string from an exact-size copy (no NUL after it). */
static struct json_value *parse_str(const char *s)
{
    size_t n = strlen(s);
    char *c = malloc(n ? n : 1);
    memcpy(c, s, n);
    struct json_value *v = json_parse(c, n, "t.json");
    free(c);
    return v;
}

#define expect_msg_has(needle)                                                                 \
    cr_expect(strstr(error_message(), needle) != NULL, "message lacks \"%s\": %s", needle,     \
              error_message())

/* ---- the dump make_zipjson.py writes ---------------------------------------- */

static void dump_str(FILE *fp, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x20 && *p < 0x7f && *p != '\\')
            fputc(*p, fp);
        else
            fprintf(fp, "\\x%02x", *p);
}

static void dump(FILE *fp, const struct json_value *v)
{
    double d;
    int b;
    switch (json_value_type(v)) {
    case JSON_NULL: fputs("z\n", fp); break;
    case JSON_BOOL:
        cr_assert_eq(json_boolean(v, &b), 0);
        fputs(b ? "t\n" : "f\n", fp);
        break;
    case JSON_NUMBER: {
        cr_assert_eq(json_num(v, &d), 0);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        fprintf(fp, "n %016llx\n", (unsigned long long)bits);
        break;
    }
    case JSON_STRING:
        fputs("s ", fp);
        dump_str(fp, json_str(v));
        fputc('\n', fp);
        break;
    case JSON_ARRAY:
        fprintf(fp, "[%zu\n", json_len(v));
        for (size_t i = 0; i < json_len(v); i++)
            dump(fp, json_at(v, i));
        fputs("]\n", fp);
        break;
    case JSON_OBJECT:
        fprintf(fp, "{%zu\n", json_len(v));
        for (size_t i = 0; i < json_len(v); i++) {
            fputs("k ", fp);
            dump_str(fp, json_key_at(v, i));
            fputc('\n', fp);
            dump(fp, json_at(v, i));
        }
        fputs("}\n", fp);
        break;
    }
}

static size_t cases(const char *sub, char names[][64], size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, JDIR "%s", sub);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "cannot open %s", path);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".json")) {
            cr_assert_lt(n, cap);
            snprintf(names[n++], 64, "%.*s", (int)(l - 5), e->d_name);
        }
    }
    closedir(d);
    return n;
}

Test(json_value, valid_cases_match_python)
{
    static char names[128][64];
    size_t n = cases("valid", names, 128);
    cr_assert_geq(n, 23, "only %zu valid cases", n);
    for (size_t c = 0; c < n; c++) {
        char path[256];
        size_t len, elen;
        snprintf(path, sizeof path, JDIR "valid/%s.json", names[c]);
        char *text = slurp(path, &len);
        snprintf(path, sizeof path, JDIR "valid/%s.expect", names[c]);
        char *want = slurp(path, &elen);
        struct json_value *v = json_parse(text, len, names[c]);
        cr_assert_not_null(v, "%s: %s", names[c], error_message());
        char *got = NULL;
        size_t glen = 0;
        FILE *fp = open_memstream(&got, &glen);
        dump(fp, v);
        fclose(fp);
        size_t k = 0, line = 1;
        while (k < glen && k < elen && got[k] == want[k])
            line += got[k++] == '\n';
        cr_expect(k == glen && k == elen, "%s: differs from Python's json at dump line %zu",
                  names[c], line);
        json_value_free(v);
        free(got);
        free(text);
        free(want);
    }
}

/* ---- refused texts ------------------------------------------------------------ */

struct refusal {
    const char *file;
    const char *where; /* "line L, column C" */
    const char *why;
};

static const struct refusal refusals[] = {
    {"empty", "line 1, column 1", "expected a value, found the end of the input"},
    {"whitespace_only", "line 2, column 3", "expected a value, found the end of the input"},
    {"bom_only", "line 1, column 1", "expected a value"},
    {"trailing_comma_array", "line 1, column 7", "a trailing comma before ']'"},
    {"trailing_comma_object", "line 1, column 9", "a trailing comma before '}'"},
    {"missing_colon", "line 1, column 6", "expected ':' after the key, found '1'"},
    {"missing_comma", "line 1, column 4",
     "expected ',' or ']' after an array element, found '2'"},
    {"unquoted_key", "line 1, column 2", "expected a key in double quotes, found 'a'"},
    {"single_quotes", "line 1, column 2", "expected a value, found '''"},
    {"trailing_garbage", "line 1, column 10", "unexpected 'x' after the JSON value"},
    {"two_values", "line 1, column 3", "unexpected '2' after the JSON value"},
    {"unterminated_string", "line 1, column 1", "the string that starts here is not closed"},
    {"unterminated_array", "line 1, column 6", "found the end of the input"},
    {"unterminated_object", "line 1, column 8", "found the end of the input"},
    {"unterminated_key", "line 1, column 2", "not closed"},
    {"bad_escape", "line 1, column 3", "invalid escape \\q in a string"},
    {"bad_unicode_escape", "line 1, column 2", "\\u must be followed by four hex digits"},
    {"short_unicode_escape", "line 1, column 2", "\\u must be followed by four hex digits"},
    {"lone_high_surrogate", "line 1, column 2", "lone surrogate \\ud800"},
    {"lone_low_surrogate", "line 1, column 2", "lone surrogate \\udc00"},
    {"high_then_not_low", "line 1, column 2", "a high half not followed by a low half"},
    {"high_then_high", "line 1, column 2", "lone surrogate \\ud800"},
    {"nul_escape", "line 1, column 3", "\\u0000 in a string"},
    {"nul_escape_in_key", "line 1, column 4", "\\u0000 in a string"},
    {"raw_tab", "line 1, column 3", "raw control character 0x09 in a string"},
    {"raw_newline", "line 1, column 4", "raw control character 0x0a"},
    {"raw_nul", "line 1, column 3", "raw control character 0x00"},
    {"utf8_invalid_byte", "line 1, column 2", "invalid UTF-8 (byte 0xff)"},
    {"utf8_overlong", "line 1, column 2", "invalid UTF-8 (byte 0xc0)"},
    {"utf8_surrogate", "line 1, column 2", "invalid UTF-8 (byte 0xed)"},
    {"utf8_truncated", "line 1, column 2", "invalid UTF-8 (byte 0xe4)"},
    {"utf8_too_big", "line 1, column 2", "invalid UTF-8 (byte 0xf4)"},
    {"utf8_lone_continuation", "line 1, column 2", "invalid UTF-8 (byte 0x80)"},
    {"utf8_overlong3", "line 1, column 2", "invalid UTF-8 (byte 0xe0)"},
    {"utf8_overlong4", "line 1, column 2", "invalid UTF-8 (byte 0xf0)"},
    {"utf8_bad_continuation", "line 1, column 2", "invalid UTF-8 (byte 0xe4)"},
    {"utf8_f5", "line 1, column 2", "invalid UTF-8 (byte 0xf5)"},
    {"leading_zero", "line 1, column 1", "a number cannot start with 0 followed by a digit"},
    {"dot_no_fraction", "line 1, column 3", "expected a digit after '.'"},
    {"fraction_no_int", "line 1, column 1", "expected a value, found '.'"},
    {"minus_alone", "line 1, column 2", "expected a digit after '-'"},
    {"plus_sign", "line 1, column 1", "expected a value, found '+'"},
    {"exponent_no_digits", "line 1, column 3", "expected a digit in the exponent"},
    {"exponent_sign_no_digits", "line 1, column 5", "expected a digit in the exponent"},
    {"hex_number", "line 1, column 2", "unexpected 'x' after the JSON value"},
    {"minus_space", "line 1, column 2", "expected a digit after '-', found byte 0x20"},
    {"overflow", "line 1, column 1", "the number 1e400 is out of the range of a double"},
    {"overflow_negative", "line 1, column 2", "the number -1e400 is out of the range"},
    {"overflow_integer", "line 1, column 1", "is out of the range of a double"},
    {"number_too_long", "line 1, column 1", "a number of 5000 characters, more than the 4096"},
    {"nan_lower", "line 1, column 1", "expected a value, found 'n'"},
    {"minus_nan", "line 1, column 1", "expected a value, found '-'"},
    {"plus_infinity", "line 1, column 1", "expected a value, found '+'"},
    {"infinity_lower", "line 1, column 1", "expected a value, found 'i'"},
    {"infinity_suffix", "line 1, column 10", "expected ',' or ']' after an array element"},
    {"true_typo", "line 1, column 1", "expected a value, found 't'"},
    {"true_capital", "line 1, column 1", "expected a value, found 'T'"},
    {"null_suffix", "line 1, column 5", "unexpected 'l' after the JSON value"},
    {"close_bracket", "line 1, column 1", "expected a value, found ']'"},
    {"close_brace", "line 1, column 1", "expected a value, found '}'"},
    {"colon", "line 1, column 1", "expected a value, found ':'"},
    {"comment_line", "line 1, column 1", "expected a value, found '/'"},
    {"comment_block", "line 1, column 1", "expected a value, found '/'"},
    {"control_outside", "line 1, column 1", "expected a value, found byte 0x01"},
    {"depth_257", "line 1, column 257", "arrays and objects nested more than 256 deep"},
    {"depth_object_257", "line 1, column 1281", "nested more than 256 deep"},
    {"multiline_error", "line 4, column 11", "expected ',' or ']' after an array element"},
    {"nonascii_outside", "line 1, column 5", "expected a value, found byte 0xc3"},
    {"bom_in_middle", "line 1, column 5", "expected a value, found byte 0xef"},
    {"number_key", "line 1, column 2", "expected a key in double quotes, found '1'"},
};

Test(json_value, invalid_cases_are_refused_with_line_column_and_reason)
{
    static char names[128][64];
    size_t n = cases("invalid", names, 128);
    size_t nref = sizeof refusals / sizeof *refusals;
    cr_expect_eq(n, nref, "%zu invalid cases, %zu with an expected message", n, nref);
    for (size_t c = 0; c < nref; c++) {
        const struct refusal *r = &refusals[c];
        char path[256], want[256];
        size_t len;
        snprintf(path, sizeof path, JDIR "invalid/%s.json", r->file);
        char *text = slurp(path, &len);
        error_clear();
        struct json_value *v = json_parse(text, len, r->file);
        cr_expect_null(v, "%s: accepted", r->file);
        json_value_free(v);
        cr_expect_eq(error_code(), ERR_INPUT, "%s", r->file);
        cr_expect_str_eq(error_path() ? error_path() : "(null)", r->file);
        snprintf(want, sizeof want, "JSON: %s: ", r->where);
        cr_expect(!strncmp(error_message(), want, strlen(want)), "%s: \"%s\" is not at %s",
                  r->file, error_message(), r->where);
        cr_expect(strstr(error_message(), r->why) != NULL, "%s: \"%s\" lacks \"%s\"", r->file,
                  error_message(), r->why);
        free(text);
    }
}

/* ---- the accessors -------------------------------------------------------------- */

Test(json_value, accessors)
{
    struct json_value *v = parse_str(
        "{\"s\": \"text\", \"n\": 3, \"f\": 2.5, \"b\": true, \"z\": null, \"a\": [1, \"x\"],"
        " \"o\": {\"k\": false}, \"big\": 1e19, \"neg\": -9223372036854775808, \"nan\": NaN}");
    cr_assert_not_null(v, "%s", error_message());
    cr_expect_eq(json_value_type(v), JSON_OBJECT);
    cr_expect_eq(json_len(v), 10);
    cr_expect_str_eq(json_key_at(v, 0), "s");
    cr_expect_str_eq(json_key_at(v, 9), "nan");
    cr_expect_null(json_key_at(v, 10));
    cr_expect_null(json_at(v, 10));
    cr_expect_str_eq(json_str(json_at(v, 0)), "text");
    cr_expect_str_eq(json_str(json_get(v, "s")), "text");
    cr_expect_null(json_get(v, "missing"));
    cr_expect_null(json_get(json_get(v, "a"), "s"), "json_get on an array");
    cr_expect_null(json_get(NULL, "s"));
    cr_expect_eq(json_value_type(NULL), JSON_NULL);
    cr_expect_eq(json_value_type(json_get(v, "z")), JSON_NULL);
    cr_expect_eq(json_len(json_get(v, "s")), 0);
    cr_expect_eq(json_len(NULL), 0);
    cr_expect_null(json_at(json_get(v, "s"), 0));
    const struct json_value *a = json_get(v, "a");
    cr_expect_eq(json_len(a), 2);
    cr_expect_null(json_key_at(a, 0), "json_key_at on an array");
    cr_expect_str_eq(json_str(json_at(a, 1)), "x");

    double d = -1;
    int b = -1;
    int64_t i = -1;
    cr_expect_eq(json_num(json_get(v, "s"), &d), -1);
    cr_expect_eq(d, -1, "untouched on failure");
    cr_expect_eq(json_num(json_get(v, "f"), &d), 0);
    cr_expect_eq(d, 2.5);
    cr_expect_null(json_str(json_get(v, "n")));
    cr_expect_eq(json_boolean(json_get(v, "n"), &b), -1);
    cr_expect_eq(json_boolean(json_get(json_get(v, "o"), "k"), &b), 0);
    cr_expect_eq(b, 0);
    cr_expect_eq(json_boolean(json_get(v, "b"), &b), 0);
    cr_expect_eq(b, 1);
    cr_expect_eq(json_integer(json_get(v, "n"), &i), 0);
    cr_expect_eq(i, 3);
    cr_expect_eq(json_integer(json_get(v, "f"), &i), -1, "2.5 is not an integer");
    cr_expect_eq(json_integer(json_get(v, "big"), &i), -1, "1e19 is past int64");
    cr_expect_eq(json_integer(json_get(v, "nan"), &i), -1);
    cr_expect_eq(json_integer(json_get(v, "neg"), &i), 0);
    cr_expect_eq(i, INT64_MIN);

    /* the conveniences: 1 absent, 0 set, ERR_INPUT wrong */
    i = 7;
    cr_expect_eq(json_get_int(v, "missing", 0, 10, &i), 1);
    cr_expect_eq(i, 7);
    cr_expect_eq(json_get_int(v, "n", 0, 10, &i), 0);
    cr_expect_eq(i, 3);
    cr_expect_eq(json_get_int(v, "n", 4, 10, &i), ERR_INPUT);
    expect_msg_has("'n' is 3, not an integer from 4 to 10");
    cr_expect_eq(json_get_int(v, "s", 0, 10, &i), ERR_INPUT);
    expect_msg_has("'s' is the string \"text\", not an integer from 0 to 10");
    cr_expect_eq(json_get_int(v, "f", 0, 10, &i), ERR_INPUT);
    expect_msg_has("'f' is 2.5, not an integer");
    cr_expect_eq(json_get_int(NULL, "n", 0, 10, &i), 1);
    cr_expect_eq(json_get_num(v, "f", &d), 0);
    cr_expect_eq(d, 2.5);
    cr_expect_eq(json_get_num(v, "a", &d), ERR_INPUT);
    expect_msg_has("'a' is an array, not a number");
    cr_expect_eq(json_get_num(v, "missing", &d), 1);
    cr_expect_eq(json_get_bool(v, "b", &b), 0);
    cr_expect_eq(b, 1);
    cr_expect_eq(json_get_bool(v, "z", &b), ERR_INPUT);
    expect_msg_has("'z' is null, not true or false");
    cr_expect_str_eq(json_get_str(v, "s", "def"), "text");
    cr_expect_str_eq(json_get_str(v, "n", "def"), "def");
    cr_expect_str_eq(json_get_str(v, "missing", "def"), "def");
    cr_expect_null(json_get_str(NULL, "s", NULL));
    cr_expect_str_eq(json_type_name(JSON_OBJECT), "object");
    json_value_free(v);
    json_value_free(NULL);
}

Test(json_value, scalars_at_the_top_and_the_sign_of_zero)
{
    double d;
    struct json_value *v = parse_str("-0");
    cr_assert_not_null(v);
    cr_expect_eq(json_num(v, &d), 0);
    cr_expect(d == 0 && !signbit(d), "-0 is the integer 0, as in Python");
    json_value_free(v);
    v = parse_str(" -0.0 ");
    cr_assert_not_null(v);
    json_num(v, &d);
    cr_expect(d == 0 && signbit(d), "-0.0 keeps its sign");
    json_value_free(v);
    v = parse_str("-Infinity");
    cr_assert_not_null(v);
    json_num(v, &d);
    cr_expect(isinf(d) && d < 0);
    json_value_free(v);
    v = parse_str("\"\"");
    cr_assert_not_null(v);
    cr_expect_str_eq(json_str(v), "");
    json_value_free(v);
}

/* ---- limits and damage ---------------------------------------------------------- */

Test(json_value, memory_limit_names_the_flag)
{
    struct limits saved = *limits_get();
    limits_get()->max_bytes = 1 << 20;
    /* 200,000 elements: 4.6 MB of tree from 400 KB of text */
    size_t n = 200000;
    char *text = malloc(2 * n + 1);
    text[0] = '[';
    for (size_t i = 0; i < n; i++)
        text[1 + 2 * i] = '0', text[2 + 2 * i] = ',';
    text[2 * n] = ']';
    error_clear();
    struct json_value *v = json_parse(text, 2 * n + 1, "big.json");
    cr_expect_null(v);
    cr_expect_eq(error_code(), ERR_INPUT);
    expect_msg_has("allowed for one input (raise it with --max-memory)");
    json_value_free(v);
    *limits_get() = saved;
    v = json_parse(text, 2 * n + 1, "big.json");
    cr_assert_not_null(v, "%s", error_message());
    cr_expect_eq(json_len(v), n);
    json_value_free(v);
    free(text);
}

Test(json_value, every_truncation_is_refused)
{
    size_t len;
    char *text = slurp(JDIR "valid/keras_config_indent.json", &len);
    for (size_t n = 0; n < len; n++) {
        char *c = malloc(n ? n : 1);
        memcpy(c, text, n);
        error_clear();
        struct json_value *v = json_parse(c, n, "cut.json");
        cr_expect_null(v, "cut to %zu bytes: accepted", n);
        cr_expect(error_code() == ERR_INPUT && !strncmp(error_message(), "JSON: line ", 11),
                  "cut to %zu: %s", n, error_message());
        json_value_free(v);
        free(c);
    }
    free(text);
}

Test(json_value, every_flipped_byte_is_read_or_refused)
{
    size_t len;
    char *text = slurp(JDIR "valid/keras_config.json", &len);
    int read = 0;
    for (size_t i = 0; i < len; i++) {
        char *c = malloc(len);
        memcpy(c, text, len);
        c[i] ^= (char)0x80;
        error_clear();
        struct json_value *v = json_parse(c, len, "flip.json");
        if (v)
            read++;
        else
            cr_expect(error_code() == ERR_INPUT && *error_message());
        json_value_free(v);
        free(c);
    }
    /* a flipped byte inside a string ("cnn \u00e9": its bytes) can stay valid */
    cr_expect_lt(read, (int)len / 2);
    free(text);
}

/* Keras configs of tens of megabytes exist (large functional models): one
 * of 10 MB parses in well under a second (about 0.1 s at -O2). */
Test(json_value, ten_megabyte_config_is_fast)
{
    size_t cap = 11u << 20, n = 0;
    char *text = malloc(cap);
    n += (size_t)sprintf(text, "{\"class_name\": \"Functional\", \"config\": {\"layers\": [");
    size_t layers = 0;
    while (n < (10u << 20)) {
        n += (size_t)sprintf(
            text + n,
            "%s{\"class_name\": \"Conv2D\", \"name\": \"conv2d_%zu\", \"config\": "
            "{\"filters\": %zu, \"kernel_size\": [3, 3], \"strides\": [1, 1], "
            "\"padding\": \"same\", \"activation\": \"relu\", \"use_bias\": "
            "true, \"dilation_rate\": [1, 1], \"momentum\": 0.99, "
            "\"epsilon\": 0.001, \"kernel_initializer\": {\"class_name\": "
            "\"GlorotUniform\", \"config\": {\"seed\": null}}}, "
            "\"inbound_nodes\": [[[\"conv2d_%zu\", 0, 0, {}]]]}",
            layers ? ", " : "", layers, 8 + layers % 504, layers ? layers - 1 : 0);
        layers++;
    }
    n += (size_t)sprintf(text + n, "]}}");
    double t0 = now_seconds();
    struct json_value *v = json_parse(text, n, "big_config.json");
    double dt = now_seconds() - t0;
    cr_assert_not_null(v, "%s", error_message());
    const struct json_value *l = json_get(json_get(v, "config"), "layers");
    cr_assert_eq(json_len(l), layers);
    int64_t filters;
    cr_expect_eq(
        json_get_int(json_get(json_at(l, layers - 1), "config"), "filters", 1, 1024, &filters),
        0);
    cr_expect_eq(filters, (int64_t)(8 + (layers - 1) % 504));
    cr_log_info("json_value: %.1f MB, %zu layers parsed in %.3f s (%.0f MB/s)", n / 1e6, layers,
                dt, n / 1e6 / dt);
    /* generous: a loaded shared machine, or a sanitizer build */
    cr_expect_lt(dt, 5.0, "%.1f MB took %.2f s", n / 1e6, dt);
    json_value_free(v);
    free(text);
}
