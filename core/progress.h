/* progress.h - progress of long work, reported through a callback.
 *
 * The library never prints; long-running functions take a `struct progress *`
 * (NULL = nobody listens) and call progress_update(). The CLI supplies a
 * reporter that draws a bar on a terminal, sparse lines otherwise, nothing
 * with --quiet (cli/progress_term.c).
 */
#ifndef INTERP_PROGRESS_H
#define INTERP_PROGRESS_H

#include <stddef.h>

struct progress {
    /* stage: short name ("t-SNE", "embed"); done/total: units of work (total 0
     * = unknown); note: extra text such as "KL 1.234" (may be NULL). */
    void (*fn)(void *ctx, const char *stage, size_t done, size_t total,
               const char *note);
    void *ctx;
};

/* Calls p->fn when p and p->fn are set. */
void progress_update(const struct progress *p, const char *stage, size_t done,
                     size_t total, const char *note);

#endif
