/* fuzz_webp.c - libFuzzer entry point for the WebP decoder (image_decode_webp
 * directly, so every input reaches its header checks).
 * Build and run: make fuzz FUZZ_TARGETS=webp FUZZ_RUNS=1000000 (see fuzz/README.md).
 * Seeds: fuzz/corpus/webp/ (lossy, lossless, lossy+alpha, lossless+alpha; animated, truncated,
 * corrupt, huge header).
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/image.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limits();
    /* 256 K pixels (the seeds have at most 10,800): a header claiming
     * millions is still refused or allocated, but each execution stays
     * cheap, so the fuzzer explores parsing rather than filling pixels */
    limits_get()->max_pixels = 1 << 18;
    struct image *im = image_decode_webp(data, size, "fuzz.webp");
    if (im) {
        if (im->c < 1 || im->c > 4 || im->h < 1 || im->w < 1) __builtin_trap();
        /* touch the last value so sanitizers see a wrong size */
        volatile float sink = im->data[(size_t)im->c * im->h * im->w - 1];
        (void)sink;
    }
    fuzz_check_failure(im);
    image_free(im);
    return 0;
}
