/* fuzz_labels.c - libFuzzer entry point for the label parser (text ints, text
 * names, .npy ints by the magic), without and with a class list.
 * Build and run: make fuzz FUZZ_SECONDS=60 (see fuzz/README.md).
 * Seeds: fuzz/corpus/labels/ (labels_* and bad_labels_* fixtures).
 */
#include <stddef.h>
#include <stdint.h>

#include "../core/array.h"
#include "fuzz_common.h"

static void check(const struct labels *l)
{
    if (!l) return;
    /* every id in range of the class count, every name present */
    for (size_t i = 0; i < l->n; i++)
        if (l->id[i] < 0 || (l->nclasses && (size_t)l->id[i] >= l->nclasses)) __builtin_trap();
    for (size_t k = 0; l->names && k < l->nclasses; k++)
        if (!l->names[k]) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *const classes[] = {"bird", "cat", "dog", "0", "1"};
    fuzz_limits();
    struct labels *l = labels_parse(data, size, "fuzz.txt", NULL, 0);
    check(l);
    fuzz_check_failure(l);
    labels_free(l);
    l = labels_parse(data, size, "fuzz.txt", classes, 5);
    check(l);
    fuzz_check_failure(l);
    labels_free(l);
    return 0;
}
