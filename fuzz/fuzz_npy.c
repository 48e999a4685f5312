/* fuzz_npy.c - libFuzzer entry point for the .npy reader (npy_parse): every
 * working dtype and every want_ndim, so the conversion paths of
 * array_from_raw run too.
 * Build and run: make fuzz FUZZ_SECONDS=60 (see fuzz/README.md).
 * Seeds: fuzz/corpus/npy/ (every dtype, byte order, order, version; the
 * malformed .npy fixtures).
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/array.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum dtype wants[] = {DT_F32, DT_F64, DT_I32, DT_I64, DT_U8};
    fuzz_limits();
    for (int w = 0; w < 5; w++) {
        int nd = (int)((size + (size_t)w) % 3);
        struct array *a = npy_parse(data, size, "fuzz.npy", wants[w], nd);
        if (a) {
            /* touch the last element so a wrong size shows */
            size_t n = array_count(a);
            if (n) {
                volatile unsigned char sink =
                    ((unsigned char *)a->data)[n * dtype_size(a->dtype) - 1];
                (void)sink;
            }
        }
        fuzz_check_failure(a);
        array_free(a);
    }
    return 0;
}
