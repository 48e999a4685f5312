/* fuzz_image.c - libFuzzer entry point over image_decode (PNG and JPEG).
 *
 * Build and run (clang; fixtures as the seed corpus):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ibuild/gen \
 *     fuzz/fuzz_image.c core/image.c core/png.c core/jpeg.c core/error.c \
 *     core/util.c core/outfile.c $(pkg-config --cflags --libs libpng libjpeg) \
 *     -lpthread -o build/fuzz_image
 *   mkdir -p /tmp/corpus && build/fuzz_image /tmp/corpus fixtures/images -max_total_time=60
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../core/image.h"
#include "../core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        /* keep decoded sizes small so the fuzzer explores parsing, not memset */
        limits_get()->max_pixels = 4000000;
        limits_get()->max_bytes = 256u << 20;
        init = 1;
    }
    struct image *im = image_decode(data, size, "fuzz-input");
    if (im) {
        /* touch the result so sanitizers see any bad size */
        volatile float sink = im->data[(size_t)im->c * im->h * im->w - 1];
        (void)sink;
    } else {
        /* every failure records a reason */
        if (error_code() == ERR_OK || !*error_message()) __builtin_trap();
    }
    image_free(im);
    error_clear();
    return 0;
}
