/* fuzz_bmp.c - libFuzzer entry point for the BMP decoder (image_decode_bmp
 * directly, so every input reaches its header checks).
 * Build and run: make fuzz FUZZ_TARGETS=bmp FUZZ_RUNS=1000000 (see fuzz/README.md).
 * Seeds: fuzz/corpus/bmp/ (1/4/8-bit palette, gray, OS/2 core, 16-bit 5-5-5 and 5-6-5, 24, 32
 * BI_RGB and bit fields, V4/V5 with alpha, top-down, RLE4/RLE8 with deltas; truncated, huge
 * header, bad index, bad RLE, bad masks, bad header).
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
    struct image *im = image_decode_bmp(data, size, "fuzz.bmp");
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
