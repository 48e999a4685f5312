/* json.h - a small streaming JSON writer (for --json output and report.json).
 *
 *     struct json j; json_init(&j, stdout);
 *     json_object_begin(&j);
 *       json_key(&j, "n"); json_int(&j, 42);
 *       json_key(&j, "paths"); json_array_begin(&j); json_string(&j, "a.npy"); json_array_end(&j);
 *     json_object_end(&j); json_finish(&j);   // newline
 *
 * Commas and escaping are handled; non-finite numbers are written as null;
 * a byte that is not part of valid UTF-8 (a file name in another encoding)
 * is written as \udcXX, the lone surrogate Python's os.fsdecode gives it.
 */
#ifndef INTERP_JSON_H
#define INTERP_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
    FILE *fp;
    int depth;
    int count[JSON_MAX_DEPTH]; /* items written at each depth */
    int after_key;
    int pretty; /* indent with two spaces (default 1) */
};

void json_init(struct json *j, FILE *fp);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s); /* NULL -> null */
void json_int(struct json *j, int64_t v);
void json_double(struct json *j, double v); /* %.17g trimmed; NaN/Inf -> null */
void json_bool(struct json *j, int v);
void json_null(struct json *j);
void json_finish(struct json *j); /* newline at the end */

#endif
