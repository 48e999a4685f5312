/* fuzz_json.c - libFuzzer entry point for the JSON parser (json_parse): a
 * text that parses is walked in full, checking that every key of an object
 * is found again by json_get (repeated keys were merged) and every string is
 * a NUL-free C string inside the tree.
 * Build and run: make fuzz FUZZ_TARGETS=json FUZZ_RUNS=1000000 (see fuzz/README.md).
 * Seeds: fuzz/corpus/json/ (fixtures/json/: every valid case, Keras
 * configs, every invalid case).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/json_value.h"
#include "fuzz_common.h"

static void walk(const struct json_value *v, int depth)
{
    if (depth > JSON_PARSE_MAX_DEPTH) __builtin_trap();
    double d;
    int b;
    switch (json_value_type(v)) {
    case JSON_NULL: break;
    case JSON_BOOL:
        if (json_boolean(v, &b) || (b != 0 && b != 1)) __builtin_trap();
        break;
    case JSON_NUMBER:
        if (json_num(v, &d)) __builtin_trap();
        if (isinf(d) && fabs(d) != INFINITY) __builtin_trap();
        break;
    case JSON_STRING: {
        volatile size_t n = strlen(json_str(v));
        (void)n;
        break;
    }
    case JSON_ARRAY:
        for (size_t i = 0; i < json_len(v); i++)
            walk(json_at(v, i), depth + 1);
        if (json_at(v, json_len(v))) __builtin_trap();
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < json_len(v); i++) {
            const char *k = json_key_at(v, i);
            if (!k || json_get(v, k) != json_at(v, i)) __builtin_trap();
            walk(json_at(v, i), depth + 1);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limits();
    struct json_value *v = json_parse((const char *)data, size, "fuzz.json");
    fuzz_check_failure(v);
    if (v) walk(v, 0);
    json_value_free(v);
    return 0;
}
