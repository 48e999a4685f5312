/* namelist.h - one name per line, whatever the name: the quoting of the
 * list files interp writes (files.txt, classes.txt, skipped.txt) and of the
 * paths it prints one per line, and the reading of it back.
 *
 *     namelist_put(fp, "ds/a/we ird\nname.png");  // "ds/a/we ird\nname.png" (quoted)
 *     namelist_put(fp, "ds/a/001.png");           // ds/a/001.png (as it is)
 *     char *name;
 *     if (namelist_unquote(line, len, &name) < 0) ... error_message() ...
 *
 * The format (README, File formats): a name is written as it is, byte for
 * byte, unless it is empty, starts with a double quote, starts or ends with a
 * space, or holds a byte below 0x20, the byte 0x7F, bytes that are not valid
 * UTF-8, or U+0085, U+2028 or U+2029 (which Python's str.splitlines() takes
 * for line ends). Such a name is written between double quotes with \\ for a
 * backslash, \" for a double quote, \t, \n, \r, and \xHH (two lowercase hex
 * digits) for every other byte below 0x20, 0x7F, each byte of an invalid
 * UTF-8 sequence and each byte of U+0085, U+2028 and U+2029; all other bytes
 * as they are. So a list file is valid UTF-8 with exactly one line per name
 * for any line splitter, and a line that does not start with a double quote
 * is the name itself.
 */
#ifndef INTERP_NAMELIST_H
#define INTERP_NAMELIST_H

#include <stddef.h>
#include <stdio.h>

/* 1 when name is written quoted, 0 when as it is. */
int namelist_needs_quote(const char *name);

/* Writes name to fp as one line of a list, without the line end. Write
 * errors are left in ferror(fp) for the caller's final check. */
void namelist_put(FILE *fp, const char *name);

/* The line that namelist_put writes for name (owned, free it). */
char *namelist_quote(const char *name);

/* Decodes one line of a list (len bytes, without its line end) into *name
 * (owned, free it): a line starting with a double quote is unquoted, any
 * other is the name as it is. Returns 0, or ERR_INPUT with the reason
 * recorded and no path (the caller names the file and line) for: a NUL
 * byte, a quote not closed at the end of the line, text after the closing
 * quote, an escape other than those above, \x without two hex digits, a
 * decoded NUL. *name is NULL on failure. */
int namelist_unquote(const char *line, size_t len, char **name);

#endif
