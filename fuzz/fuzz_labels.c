/* fuzz_labels.c - libFuzzer entry point for the label parser (text ints, text
 * names, .npy ints by the magic), without and with a class list.
 * Build: clang -fsanitize=fuzzer,address -D_GNU_SOURCE -Icore fuzz/fuzz_labels.c \
 *        core/array.c core/npy.c core/textarr.c core/labels.c core/error.c \
 *        core/util.c core/outfile.c -lm -lpthread
 * Seeds: fixtures/arrays/labels_* and bad_labels_*.
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/array.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *const classes[] = {"bird", "cat", "dog", "0", "1"};
    labels_free(labels_parse(data, size, "fuzz.txt", NULL, 0));
    labels_free(labels_parse(data, size, "fuzz.txt", classes, 5));
    return 0;
}
