/* fuzz_manifest.c - libFuzzer entry point for the manifest of a sharded
 * run's part folder (shard_manifest_parse): a part comes from another
 * machine, so its manifest.json is input like any other. A manifest that
 * parses must be the same run as itself, name files inside its folder only,
 * and be released cleanly.
 * Build and run: make fuzz FUZZ_TARGETS=manifest FUZZ_RUNS=1000000 (see fuzz/README.md).
 * Seeds: fuzz/corpus/manifest/ (manifests of embed, gradcam and tsne --add
 * parts, and broken copies).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/shard.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limits();
    struct shard_manifest m;
    int rc = shard_manifest_parse((const char *)data, size, "manifest.json", &m);
    if (rc) {
        fuzz_check_failure(NULL);
        return 0;
    }
    char why[256];
    if (!shard_manifest_same_run(&m, &m, why, sizeof why)) __builtin_trap();
    if (m.shard.k >= m.shard.n || m.count > m.total) __builtin_trap();
    for (size_t i = 0; i < m.nfiles; i++)
        if (strchr(m.files[i].name, '/') || !strcmp(m.files[i].name, "..") ||
            strlen(m.files[i].sha256) != SHA256_HEX_LEN)
            __builtin_trap();
    shard_manifest_release(&m);
    error_clear();
    return 0;
}
