/* fuzz_png.c - libFuzzer entry point for the PNG decoder (image_decode_png,
 * and image_decode's dispatch by signature).
 * Build and run: make fuzz FUZZ_SECONDS=60 (see fuzz/README.md).
 * Seeds: fuzz/corpus/png/ (gray 1/2/8/16-bit, gray+alpha, palette with and
 * without tRNS, RGB 8/16, RGBA, interlaced; truncated, bad CRC, corrupt IDAT,
 * huge header, empty, not an image).
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/image.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limits();
    struct image *im = image_decode(data, size, "fuzz.png");
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
