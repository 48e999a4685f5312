/* fuzz_gif.c - libFuzzer entry point for the GIF decoder (image_decode_gif
 * directly, so every input reaches its header checks).
 * Build and run: make fuzz FUZZ_TARGETS=gif FUZZ_RUNS=1000000 (see fuzz/README.md).
 * Seeds: fuzz/corpus/gif/ (palette, interlaced, transparent, gray, no palette, multi-frame,
 * offset and growing frames, 4096-code noise; truncated, huge screen, LZW garbage, short data,
 * bad index, no image, bad code size).
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
    struct image *im = image_decode_gif(data, size, "fuzz.gif");
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
