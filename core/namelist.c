/* namelist.c - the quoting of names in interp's one-name-per-line files
 * (namelist.h has the format): a scan that says which bytes must be
 * escaped, the writer, and the strict reader of what the writer writes.
 */
#include "namelist.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

/* How the bytes at s are written: *n bytes from s, escaped (1) or as they
 * are (0). */
static int scan(const unsigned char *s, size_t *n)
{
    if (*s < 0x20 || *s == 0x7F) return *n = 1, 1;
    size_t k = utf8_char_len((const char *)s);
    if (!k) return *n = 1, 1; /* each byte of an invalid sequence alone */
    *n = k;
    /* U+0085, U+2028, U+2029: line ends to Python's str.splitlines() */
    return (k == 2 && s[0] == 0xC2 && s[1] == 0x85) ||
           (k == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9));
}

int namelist_needs_quote(const char *name)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t len = strlen(name), n;
    if (!len || s[0] == '"' || s[0] == ' ' || s[len - 1] == ' ') return 1;
    for (; *s; s += n)
        if (scan(s, &n)) return 1;
    return 0;
}

/* Writes name quoted into out (room for 4 * strlen + 3 bytes); returns the
 * length written. */
static size_t quote_into(const char *name, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)name;
    char *o = out;
    size_t n;
    *o++ = '"';
    while (*s) {
        int esc = scan(s, &n);
        for (size_t i = 0; i < n; i++, s++) {
            unsigned char c = *s;
            if (c == '\\' || c == '"')
                *o++ = '\\', *o++ = (char)c;
            else if (c == '\t')
                *o++ = '\\', *o++ = 't';
            else if (c == '\n')
                *o++ = '\\', *o++ = 'n';
            else if (c == '\r')
                *o++ = '\\', *o++ = 'r';
            else if (esc)
                *o++ = '\\', *o++ = 'x', *o++ = hex[c >> 4], *o++ = hex[c & 15];
            else
                *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = 0;
    return (size_t)(o - out);
}

char *namelist_quote(const char *name)
{
    if (!namelist_needs_quote(name)) return xstrdup(name);
    char *q = xmalloc(4 * strlen(name) + 3);
    quote_into(name, q);
    return q;
}

void namelist_put(FILE *fp, const char *name)
{
    if (!namelist_needs_quote(name)) {
        fputs(name, fp);
        return;
    }
    char *q = namelist_quote(name);
    fputs(q, fp);
    free(q);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int namelist_unquote(const char *line, size_t len, char **name)
{
    *name = NULL;
    if (memchr(line, 0, len)) return error_set(ERR_INPUT, NULL, "a NUL byte in the line");
    if (!len || line[0] != '"') {
        char *s = xmalloc(len + 1);
        memcpy(s, line, len);
        s[len] = 0;
        *name = s;
        return 0;
    }
    char *out = xmalloc(len), *o = out;
    size_t i = 1;
    for (; i < len && line[i] != '"'; i++) {
        if (line[i] != '\\') {
            *o++ = line[i];
            continue;
        }
        if (++i == len) break;
        switch (line[i]) {
        case '\\': *o++ = '\\'; break;
        case '"': *o++ = '"'; break;
        case 't': *o++ = '\t'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 'x': {
            int h = i + 2 < len ? hexval(line[i + 1]) : -1;
            int l = h >= 0 ? hexval(line[i + 2]) : -1;
            if (l < 0) {
                free(out);
                return error_set(ERR_INPUT, NULL,
                                 "\\x at column %zu is not followed by two hex digits", i);
            }
            if (h == 0 && l == 0) {
                free(out);
                return error_set(ERR_INPUT, NULL, "\\x00 at column %zu: a name cannot hold NUL",
                                 i);
            }
            *o++ = (char)(h << 4 | l);
            i += 2;
            break;
        }
        default: {
            unsigned char c = (unsigned char)line[i];
            free(out);
            if (c >= 0x20 && c < 0x7F)
                return error_set(ERR_INPUT, NULL,
                                 "unknown escape \\%c at column %zu (known: \\\\ \\\" \\t \\n "
                                 "\\r \\xHH)",
                                 c, i);
            return error_set(ERR_INPUT, NULL,
                             "unknown escape: a backslash and byte 0x%02x at column %zu", c, i);
        }
        }
    }
    if (i >= len) {
        free(out);
        return error_set(ERR_INPUT, NULL,
                         "starts with a double quote that is not closed: a quoted name "
                         "ends with an unescaped \" at the end of the line");
    }
    if (i + 1 != len) {
        free(out);
        return error_set(ERR_INPUT, NULL,
                         "text after the closing double quote at column %zu: inside a quoted "
                         "name a \" is written \\\"",
                         i + 2);
    }
    *o = 0;
    *name = out;
    return 0;
}
