/* fuzz_hdf5.c - libFuzzer entry point for the HDF5 reader (core/hdf5*.c):
 * opens the input, walks every group from the root (each object once, at
 * most 8 deep and 256 objects), lists every object's attributes, reads each
 * as a string and as an array of strings, and reads every dataset as floats.
 * Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, so the metadata
 * checksums are not verified and mutations reach the parsers behind them.
 * Build and run: make fuzz FUZZ_TARGETS=hdf5 (see fuzz/README.md).
 * Seeds: fuzz/corpus/hdf5/ (the small fixtures of fixtures/hdf5/).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/hdf5.h"
#include "fuzz_common.h"

#define MAX_OBJECTS 256

struct walk {
    uint64_t seen[MAX_OBJECTS];
    int n;
};

/* A failing call must leave ERR_INPUT and an "HDF5: " reason. */
static void check(int rc)
{
    if (rc >= 0) return;
    if (rc != ERR_INPUT || strncmp(error_message(), "HDF5: ", 6)) __builtin_trap();
    error_clear();
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void walk(struct h5file *f, const char *path, int depth, struct walk *w)
{
    uint64_t addr;
    if (depth > 8 || w->n == MAX_OBJECTS) return;
    int rc = h5_object_addr(f, path, &addr);
    check(rc);
    if (rc) return;
    for (int i = 0; i < w->n; i++)
        if (w->seen[i] == addr) return;
    w->seen[w->n++] = addr;
    int kind = h5_kind(f, path);
    check(kind);
    char **names;
    size_t n;
    rc = h5_attr_names(f, path, &names, &n);
    check(rc);
    for (size_t i = 0; !rc && i < n; i++) {
        char *s, **v;
        size_t k;
        int r = h5_attr_string(f, path, names[i], &s);
        check(r);
        if (!r) {
            volatile size_t len = strlen(s);
            (void)len;
            free(s);
        }
        r = h5_attr_strings(f, path, names[i], &v, &k);
        check(r);
        if (!r) free_names(v, k);
    }
    if (!rc) free_names(names, n);
    if (kind == H5_DATASET) {
        int nd;
        uint64_t dims[H5_MAX_RANK];
        rc = h5_dataset_shape(f, path, &nd, dims);
        check(rc);
        if (rc) return;
        uint64_t count = 1;
        for (int i = 0; i < nd; i++)
            count = dims[i] && count > (UINT64_C(1) << 22) / dims[i] ? (UINT64_C(1) << 22) + 1
                                                                     : count * dims[i];
        if (count > limits_get()->max_elements) { /* must be refused before writing */
            check(h5_dataset_read_f32(f, path, NULL, (size_t)count));
            return;
        }
        if (count > (UINT64_C(1) << 22)) return;
        float *x = malloc((size_t)count * sizeof *x + 1);
        rc = h5_dataset_read_f32(f, path, x, (size_t)count);
        check(rc);
        if (!rc && count) {
            volatile float sink = x[count - 1];
            (void)sink;
        }
        free(x);
    } else if (kind == H5_GROUP) {
        rc = h5_list(f, path, &names, &n);
        check(rc);
        for (size_t i = 0; !rc && i < n; i++) {
            size_t len = strlen(path) + strlen(names[i]) + 2;
            char *p = malloc(len);
            snprintf(p, len, "%s/%s", path, names[i]);
            walk(f, p, depth + 1, w);
            free(p);
        }
        if (!rc) free_names(names, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limits();
    /* smaller than the shared limits: a mutated dimension should be refused
       quickly, not fill hundreds of megabytes at every input */
    limits_get()->max_elements = 1u << 20;
    limits_get()->max_bytes = 16u << 20;
    struct h5file *f = h5_open(data, size, "fuzz.h5");
    fuzz_check_failure(f);
    if (!f) return 0;
    struct walk w = {.n = 0};
    walk(f, "", 0, &w);
    h5_close(f);
    return 0;
}
