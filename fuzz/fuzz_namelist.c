/* fuzz_namelist.c - libFuzzer entry point for the quoting of list files
 * (core/namelist.h): every line of the input through namelist_unquote (a
 * name that decodes must quote and decode back to itself), and the input up
 * to its first NUL as a name (its line must hold no control byte, be valid
 * UTF-8 and decode back to the name).
 * Build and run: make fuzz FUZZ_TARGETS=namelist (see fuzz/README.md).
 * Seeds: fuzz/corpus/namelist/ (lines as interp writes them, and bad ones).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/namelist.h"
#include "fuzz_common.h"

/* quote(name) is one clean line that unquotes to name. */
static void round_trip(const char *name)
{
    char *q = namelist_quote(name), *back = NULL;
    for (const char *p = q; *p;) {
        unsigned char c = (unsigned char)*p;
        size_t n = utf8_char_len(p);
        if (c < 0x20 || c == 0x7f || !n) __builtin_trap();
        p += n;
    }
    if (!strcmp(q, name) == namelist_needs_quote(name)) __builtin_trap();
    if (namelist_unquote(q, strlen(q), &back) || strcmp(back, name)) __builtin_trap();
    free(back);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    for (size_t at = 0; at < size;) {
        const char *nl = memchr(s + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (s + at)) : size - at;
        char *name = NULL;
        int rc = namelist_unquote(s + at, len, &name);
        if (rc && (error_code() != ERR_INPUT || !*error_message() || name)) __builtin_trap();
        error_clear();
        if (!rc) {
            if (!name) __builtin_trap();
            round_trip(name);
        }
        free(name);
        at += len + 1;
    }
    char *name = malloc(size + 1);
    memcpy(name, data, size);
    name[size] = 0;
    round_trip(name);
    free(name);
    return 0;
}
