/* outfile.h - atomic output files and the input guard.
 *
 * Every file interp writes goes through outfile: it is written to a temporary
 * name in the same folder and renamed over the target only when complete, so a
 * failed or interrupted run leaves no partial file and overwrites nothing.
 * Readers register the files they read (input_register); outfile_open refuses
 * a target that is one of them (same device and inode), so an output never
 * overwrites an input.
 *
 *     struct outfile of;
 *     if (outfile_open(&of, "out.npy") < 0) return -1;   // error recorded
 *     fwrite(buf, 1, n, of.fp);
 *     return outfile_commit(&of);                        // or outfile_abort(&of)
 */
#ifndef INTERP_OUTFILE_H
#define INTERP_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

struct outfile {
    FILE *fp;   /* write here */
    char *path; /* final name (owned) */
    char *tmp;  /* temporary name (owned) */
    char *buf;  /* fp's buffer (owned) */
};

/* Opens a temporary file beside `path`. Fails (ERR_INPUT) when path is a
 * directory, its folder does not exist or is not writable, or it is a
 * registered input. */
int outfile_open(struct outfile *of, const char *path);
/* Flushes, checks for write errors, closes and renames. Releases `of` either
 * way; on failure the temporary is removed and the error recorded. */
int outfile_commit(struct outfile *of);
/* Closes and removes the temporary; releases `of`. Safe on a released one. */
void outfile_abort(struct outfile *of);

/* Writes lines[0..n) to path, one per line (atomically, as above), each
 * quoted when it must be (namelist.h: a name with a newline, a tab, a
 * leading or trailing space or invalid UTF-8), every other one byte for
 * byte: the files that list one name per row (files.txt, classes.txt). */
int outfile_write_lines(const char *path, char *const *lines, size_t n);

/* Removes every temporary still open. Async-signal-safe: the CLI calls it from
 * its SIGINT/SIGTERM handler before exiting. */
void outfile_cleanup_all(void);

/* Remembers `path` (by device and inode) as an input of this run. Unknown or
 * unreadable paths are ignored; "-" is ignored. */
void input_register(const char *path);
/* 1 when path names the same file as a registered input. */
int input_is_registered(const char *path);

/* Creates directory `dir` (and parents) if missing; ERR_INPUT when impossible. */
int dir_ensure(const char *dir);

/* Joins dir and name with one '/' (owned result). */
char *path_join(const char *dir, const char *name);

#endif
