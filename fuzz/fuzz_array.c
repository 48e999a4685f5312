/* fuzz_array.c - libFuzzer entry point for the array parsers: the same bytes
 * go to npy_parse, the CSV/TSV/whitespace text parser and the .bin reader.
 * Build: clang -fsanitize=fuzzer,address -D_GNU_SOURCE -Icore fuzz/fuzz_array.c \
 *        core/array.c core/npy.c core/textarr.c core/labels.c core/error.c \
 *        core/util.c core/outfile.c -lm -lpthread
 * Seeds: fixtures/arrays/ (valid and malformed files).
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/array.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum dtype wants[] = {DT_F32, DT_F64, DT_I32, DT_I64, DT_U8};
    enum dtype want = wants[size % 5];

    for (int nd = 0; nd <= 2; nd++)
        array_free(npy_parse(data, size, "fuzz.npy", want, nd));

    struct array_opts o = array_opts_default();
    static const enum array_format fmts[] = {FMT_CSV, FMT_TSV, FMT_TXT};
    for (int f = 0; f < 3; f++) {
        o.format = fmts[f];
        o.header = -1;
        array_free(text_parse(data, size, "fuzz.csv", &o, want));
        o.header = 1;
        array_free(text_parse(data, size, "fuzz.csv", &o, want));
    }
    /* dim from the first byte, so every divisor gets tried */
    size_t dim = size ? (size_t)data[0] % 17 : 0;
    array_free(bin_parse(data, size, "fuzz.bin", dim, want, 0));
    return 0;
}
