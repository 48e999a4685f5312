/* fuzz_zip.c - libFuzzer entry point for the zip reader: zip_open on the
 * input, then every entry looked up by name and read with a 1 MiB cap.
 * Build and run: make fuzz FUZZ_TARGETS=zip FUZZ_RUNS=1000000 (see fuzz/README.md).
 * Seeds: fuzz/corpus/zip/ (the small fixtures/zip/ archives: stored,
 * deflated, data descriptors, ZIP64, comment with a fake end record, .keras
 * layout; bombs, overlaps, traversal and duplicate names, truncations, bad
 * CRCs, mismatched local headers, encryption, bzip2/LZMA).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/zip.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limits();
    struct zip *z = zip_open(data, size, "fuzz.zip");
    fuzz_check_failure(z);
    if (!z) return 0;
    size_t n = zip_count(z);
    if (n > ZIP_MAX_ENTRIES) __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        const char *name = zip_name(z, i);
        /* names are unique, non-empty, and found again */
        if (!name || !*name || zip_find(z, name) != (long)i) __builtin_trap();
        void *buf = NULL;
        size_t len = 0;
        if (zip_read(z, i, 1u << 20, &buf, &len) == 0) {
            if (!buf || len != zip_size(z, i) || len > (1u << 20)) __builtin_trap();
            /* touch the last byte and the NUL after it */
            volatile unsigned char sink = ((unsigned char *)buf)[len];
            if (sink) __builtin_trap();
            if (len) sink = ((unsigned char *)buf)[len - 1];
            (void)sink;
        } else if (buf || len || error_code() == ERR_OK || !*error_message()) {
            __builtin_trap();
        }
        error_clear();
        free(buf);
    }
    zip_free(z);
    return 0;
}
