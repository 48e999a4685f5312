/* progress_term.c - the CLI's progress reporter: a bar redrawn in place on a
 * terminal, a plain line every few seconds otherwise (logs, notebooks),
 * nothing with --quiet. Everything goes to stderr; stdout carries data.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/progress.h"
#include "../core/util.h"

struct term_state {
    int tty;
    double start, last;
    char stage[64];
    int bar_open; /* a bar line is drawn without its newline yet */
};

static struct term_state state;

static void end_bar(void)
{
    if (state.bar_open) fputc('\n', stderr);
    state.bar_open = 0;
}

static void report(void *ctx, const char *stage, size_t done, size_t total,
                   const char *note)
{
    struct term_state *s = ctx;
    double t = now_seconds();
    int new_stage = strncmp(s->stage, stage, sizeof s->stage - 1) != 0;
    int finished = total && done >= total;
    if (new_stage) {
        end_bar();
        snprintf(s->stage, sizeof s->stage, "%s", stage);
        s->start = t;
        s->last = 0;
    }
    if (s->tty) {
        /* Redraw at most 10 times a second, and always at the end. */
        if (!finished && !new_stage && t - s->last < 0.1) return;
        s->last = t;
        fprintf(stderr, "\r\033[K%-12s ", stage);
        if (total) {
            int width = 30, fill = (int)((double)done / total * width);
            fputc('[', stderr);
            for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
            fprintf(stderr, "] %zu/%zu", done, total);
        } else {
            fprintf(stderr, "%zu", done);
        }
        fprintf(stderr, " %.1fs", t - s->start);
        if (note) fprintf(stderr, "  %s", note);
        s->bar_open = 1;
        if (finished) end_bar();
    } else {
        /* Plain lines: the first, then one every 5 s, then the last. */
        if (!finished && !new_stage && t - s->last < 5.0) return;
        s->last = t;
        if (total)
            fprintf(stderr, "interp: %s %zu/%zu (%.0f%%) %.1fs%s%s\n", stage, done, total,
                    100.0 * done / total, t - s->start, note ? "  " : "", note ? note : "");
        else
            fprintf(stderr, "interp: %s %zu %.1fs%s%s\n", stage, done, t - s->start,
                    note ? "  " : "", note ? note : "");
    }
    fflush(stderr);
}

void cli_progress_init(struct progress *p, int quiet)
{
    if (quiet) {
        p->fn = NULL;
        p->ctx = NULL;
        return;
    }
    state.tty = isatty(STDERR_FILENO);
    p->fn = report;
    p->ctx = &state;
}
