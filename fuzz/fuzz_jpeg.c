/* fuzz_jpeg.c - libFuzzer entry point for the JPEG decoder
 * (image_decode_jpeg directly, so every input reaches libjpeg's header
 * parser and interp's error and row-buffer handling).
 * Build and run: make fuzz FUZZ_SECONDS=60 (see fuzz/README.md).
 * Seeds: fuzz/corpus/jpeg/ (gray, RGB, CMYK, progressive, EXIF orientation
 * 6 little-endian and 8 big-endian; truncated, huge header). The EXIF
 * orientation option is on, so the APP1 parser and the transpose run too.
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/image.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limits();
    image_opts_get()->exif_orientation = 1;
    struct image *im = image_decode_jpeg(data, size, "fuzz.jpg");
    if (im) {
        if (im->c < 1 || im->c > 4 || im->h < 1 || im->w < 1) __builtin_trap();
        volatile float sink = im->data[(size_t)im->c * im->h * im->w - 1];
        (void)sink;
    }
    fuzz_check_failure(im);
    image_free(im);
    return 0;
}
