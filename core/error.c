/* error.c - the thread-local error slot behind error.h.
 *
 * One slot per thread: a code, a path and a one-line message. Messages are
 * cut at 511 bytes and newlines are folded so that the CLI prints one line.
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local int err_code;
static _Thread_local char err_msg[512];
static _Thread_local char err_path[1024];
static _Thread_local int err_has_path;

static void fold_newlines(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

static void set_path(const char *path)
{
    err_has_path = path != NULL;
    if (path) snprintf(err_path, sizeof err_path, "%s", path);
    else err_path[0] = 0;
}

int error_set(int code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    fold_newlines(err_msg);
    set_path(path);
    err_code = code;
    return code;
}

int error_set_errno(int code, const char *path, const char *fmt, ...)
{
    int saved = errno;
    char head[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    snprintf(err_msg, sizeof err_msg, "%s: %s", head, strerror(saved));
    fold_newlines(err_msg);
    set_path(path);
    err_code = code;
    return code;
}

void error_set_path_if_missing(const char *path)
{
    if (!err_has_path && path) set_path(path);
}

int error_code(void) { return err_code; }
const char *error_message(void) { return err_msg; }
const char *error_path(void) { return err_has_path ? err_path : NULL; }

void error_clear(void)
{
    err_code = ERR_OK;
    err_msg[0] = 0;
    set_path(NULL);
}
