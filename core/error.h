/* error.h - how the library reports failure to its caller.
 *
 * The library never prints and never exits. A function that fails records a
 * one-line reason (and the path it concerns, when there is one) in a
 * thread-local slot and returns a negative code (or NULL). Only cli/ prints it,
 * as "interp: PATH: reason".
 *
 *     struct array *a = array_load("emb.npy", NULL, DT_F32);
 *     if (!a) fprintf(stderr, "interp: %s: %s\n", error_path(), error_message());
 */
#ifndef INTERP_ERROR_H
#define INTERP_ERROR_H

enum error_code {
    ERR_OK = 0,
    ERR_FAIL = -1,  /* anything else: I/O failure, out of memory, a bug */
    ERR_INPUT = -2, /* bad input or bad usage: the CLI exits 2 for these */
};

/* Records code, path (may be NULL) and a printf-style reason; returns code so
 * that a caller can write `return error_set(ERR_INPUT, path, "...")`. A later
 * call replaces an earlier one. */
int error_set(int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like error_set, but appends ": strerror(errno)" for the current errno. */
int error_set_errno(int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the path of the recorded error when it has none (for callers that learn
 * the path only after a lower layer failed). */
void error_set_path_if_missing(const char *path);

int error_code(void);            /* ERR_OK when nothing has been recorded */
const char *error_message(void); /* never NULL; "" when nothing recorded */
const char *error_path(void);    /* NULL when the error concerns no file */
void error_clear(void);

#endif
