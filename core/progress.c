/* progress.c - forwards progress to whoever listens (the CLI's reporter). */
#include "progress.h"

void progress_update(const struct progress *p, const char *stage, size_t done,
                     size_t total, const char *note)
{
    if (p && p->fn) p->fn(p->ctx, stage, done, total, note);
}
