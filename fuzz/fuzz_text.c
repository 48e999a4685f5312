/* fuzz_text.c - libFuzzer entry point for the text tables (CSV, TSV,
 * whitespace, header auto/forced) and the raw .bin float32 reader.
 * Build and run: make fuzz FUZZ_SECONDS=60 (see fuzz/README.md).
 * Seeds: fuzz/corpus/text/ (the .csv/.tsv/.txt/.bin fixtures, valid and not).
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/array.h"
#include "fuzz_common.h"

static void touch(const struct array *a)
{
    size_t n = a ? array_count(a) : 0;
    if (n) {
        volatile unsigned char sink = ((unsigned char *)a->data)[n * dtype_size(a->dtype) - 1];
        (void)sink;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum dtype wants[] = {DT_F32, DT_F64, DT_I32, DT_I64, DT_U8};
    static const enum array_format fmts[] = {FMT_CSV, FMT_TSV, FMT_TXT};
    fuzz_limits();
    enum dtype want = wants[size % 5];
    struct array_opts o = array_opts_default();
    for (int f = 0; f < 3; f++) {
        o.format = fmts[f];
        for (int hdr = -1; hdr <= 1; hdr++) {
            o.header = hdr;
            struct array *a = text_parse(data, size, "fuzz.csv", &o, want);
            touch(a);
            fuzz_check_failure(a);
            array_free(a);
        }
    }
    /* dim from the first byte, so every small divisor gets tried */
    size_t dim = size ? (size_t)data[0] % 17 : 0;
    struct array *a = bin_parse(data, size, "fuzz.bin", dim, want, (int)(size % 3));
    touch(a);
    fuzz_check_failure(a);
    array_free(a);
    return 0;
}
