/* json_value.h - parsing JSON text into a tree (Keras' config.json and
 * metadata.json). core/json.h is the writer; this is the reader.
 *
 *     struct json_value *cfg = json_parse(text, len, "config.json");
 *     if (!cfg) return -1;                          // error recorded
 *     const struct json_value *layers = json_get(json_get(cfg, "config"), "layers");
 *     for (size_t i = 0; i < json_len(layers); i++) {
 *         const struct json_value *l = json_at(layers, i);
 *         const char *cls = json_get_str(l, "class_name", "?");
 *         int64_t units;
 *         if (json_get_int(json_get(l, "config"), "units", 1, INT32_MAX, &units) < 0) ...
 *     }
 *     json_value_free(cfg);
 *
 * What is accepted: RFC 8259, plus NaN, Infinity and -Infinity (what
 * Python's json.dumps writes by default) and a leading UTF-8 byte order mark
 * (ignored, as json.loads does on bytes). What is refused, with the line and
 * column: anything else, including trailing commas, comments and data after
 * the value; raw control characters and invalid UTF-8 in strings; lone
 * surrogates (\ud800 without its low half: refused, not replaced) and
 * \u0000 (strings are C strings); numbers out of a double's range (1e400:
 * refused, not made infinite; underflow to 0 is accepted) or longer than
 * 4096 characters; nesting deeper than JSON_PARSE_MAX_DEPTH. A key given
 * twice keeps its last value at its first position, as Python's json does.
 * Python accepts lone surrogates, \u0000, 1e400 and any depth.
 */
#ifndef INTERP_JSON_VALUE_H
#define INTERP_JSON_VALUE_H

#include <stddef.h>
#include <stdint.h>

#define JSON_PARSE_MAX_DEPTH 256 /* arrays and objects open at once */
#define JSON_MAX_NUMBER_LEN  4096

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value;

/* Parses text[0..len) (need not be NUL-terminated) into a tree whose nodes
 * and strings live in a few large blocks, freed together by json_value_free.
 * Numbers are doubles, correctly rounded (an integer literal has no negative
 * zero: "-0" is 0, "-0.0" is -0.0, as in Python); objects keep their keys in
 * file order. The tree and the parser's work space are held to
 * limits_get()->max_bytes. Returns NULL with ERR_INPUT and "JSON: line L,
 * column C: what is wrong" (path = name; the column counts characters) for
 * anything refused (see the top of this file), over the memory limit too;
 * ERR_FAIL when memory runs out. */
struct json_value *json_parse(const char *text, size_t len, const char *name);
/* Frees a tree json_parse returned (only its root; NULL is a no-op). */
void json_value_free(struct json_value *v);

/* The value's type; JSON_NULL for a NULL pointer, so lookups can chain. */
enum json_type json_value_type(const struct json_value *v);
/* "null", "boolean", "number", "string", "array", "object": for messages. */
const char *json_type_name(enum json_type t);

/* The value of `key` in an object, NULL when v is not an object (or NULL)
 * or has no such key. A linear scan: iterate with json_key_at/json_at over
 * large objects. */
const struct json_value *json_get(const struct json_value *obj, const char *key);
/* Elements of an array or members of an object; 0 for anything else. */
size_t json_len(const struct json_value *v);
/* Element i of an array, or the value of member i of an object; NULL when
 * i >= json_len(v). */
const struct json_value *json_at(const struct json_value *v, size_t i);
/* The key of member i of an object; NULL when v is not an object or
 * i >= json_len(v). Owned by the tree. */
const char *json_key_at(const struct json_value *obj, size_t i);

/* The string (UTF-8, no NUL inside, owned by the tree), NULL if v is not a
 * string. */
const char *json_str(const struct json_value *v);
/* 0 and *out = the number, -1 (*out untouched) if v is not a number.
 * NaN and +-Infinity are numbers. */
int json_num(const struct json_value *v, double *out);
/* 0 and *out = 0 or 1, -1 if v is not true/false. (Not json_bool: that is
 * the writer's, in json.h.) */
int json_boolean(const struct json_value *v, int *out);
/* 0 and *out when v is a number with an integral value in int64_t's range;
 * -1 otherwise (1.5, NaN, 1e19, a string). */
int json_integer(const struct json_value *v, int64_t *out);

/* Members of an object by key, for reading configurations. Each returns 1
 * and leaves *out untouched when obj is not an object or lacks the key (the
 * caller's default applies), 0 when *out is set, and ERR_INPUT when the key
 * holds something else, with a message naming the key, what it holds and
 * what was wanted ("'units' is the string "3", not an integer from 1 to
 * 2147483647"); the caller adds the file (error_set_path_if_missing). */
int json_get_num(const struct json_value *obj, const char *key, double *out);
int json_get_int(const struct json_value *obj, const char *key, int64_t min, int64_t max,
                 int64_t *out);
int json_get_bool(const struct json_value *obj, const char *key, int *out);
/* The string value of `key`, or def when obj lacks it or it is not a string. */
const char *json_get_str(const struct json_value *obj, const char *key, const char *def);

#endif
