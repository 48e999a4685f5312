/* fuzz_common.h - what every libFuzzer target shares: small limits, so the
 * fuzzer explores parsing rather than memset, and the rule that a failure
 * always records a reason.
 */
#ifndef INTERP_FUZZ_COMMON_H
#define INTERP_FUZZ_COMMON_H

#include "../core/error.h"
#include "../core/util.h"

/* Limits a fuzz run uses: big enough for every seed, small enough that a
 * header claiming gigabytes is refused quickly and the 2 GB RSS cap of
 * libFuzzer is never what stops a run. */
static inline void fuzz_limits(void)
{
    static int init;
    if (init) return;
    limits_get()->max_pixels = 4000000;
    limits_get()->max_elements = 16u << 20;
    limits_get()->max_bytes = 256u << 20;
    init = 1;
}

/* A NULL result must come with a recorded code and message. */
static inline void fuzz_check_failure(const void *result)
{
    if (!result && (error_code() == ERR_OK || !*error_message())) __builtin_trap();
    error_clear();
}

#endif
