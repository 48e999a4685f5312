/* json.c - a streaming JSON writer: commas, indentation and escaping.
 *
 * Numbers that JSON cannot hold (NaN, infinities) are written as null so the
 * output always parses (Python's json.loads included).
 */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void json_init(struct json *j, FILE *fp)
{
    memset(j, 0, sizeof *j);
    j->fp = fp;
    j->pretty = 1;
}

static void indent(struct json *j)
{
    if (!j->pretty) return;
    fputc('\n', j->fp);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->fp);
}

/* Before any value or key: a comma after a sibling, a newline + indent. */
static void before_item(struct json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        if (j->count[j->depth]++) fputc(',', j->fp);
        indent(j);
    }
}

static void container_open(struct json *j, char c)
{
    before_item(j);
    fputc(c, j->fp);
    BUG_ON(j->depth + 1 >= JSON_MAX_DEPTH);
    j->count[++j->depth] = 0;
}

static void container_close(struct json *j, char c)
{
    BUG_ON(j->depth <= 0);
    int had = j->count[j->depth];
    j->depth--;
    if (had) indent(j);
    fputc(c, j->fp);
}

void json_object_begin(struct json *j) { container_open(j, '{'); }
void json_object_end(struct json *j) { container_close(j, '}'); }
void json_array_begin(struct json *j) { container_open(j, '['); }
void json_array_end(struct json *j) { container_close(j, ']'); }

static void write_escaped(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", fp); break;
        case '\\': fputs("\\\\", fp); break;
        case '\n': fputs("\\n", fp); break;
        case '\r': fputs("\\r", fp); break;
        case '\t': fputs("\\t", fp); break;
        default:
            if (*p < 0x20) {
                fprintf(fp, "\\u%04x", *p);
            } else if (*p >= 0x80) {
                /* valid UTF-8 as it is; each byte of an invalid sequence (a
                 * file name in another encoding) as the lone surrogate
                 * U+DC80..U+DCFF, Python's surrogateescape: os.fsencode
                 * gives the original bytes back */
                size_t n = utf8_char_len((const char *)p);
                if (!n)
                    fprintf(fp, "\\udc%02x", *p);
                else
                    fwrite(p, 1, n, fp), p += n - 1;
            } else {
                fputc(*p, fp);
            }
        }
    }
    fputc('"', fp);
}

void json_key(struct json *j, const char *key)
{
    before_item(j);
    write_escaped(j->fp, key);
    fputs(j->pretty ? ": " : ":", j->fp);
    j->after_key = 1;
}

void json_string(struct json *j, const char *s)
{
    before_item(j);
    if (s) write_escaped(j->fp, s);
    else fputs("null", j->fp);
}

void json_int(struct json *j, int64_t v)
{
    before_item(j);
    fprintf(j->fp, "%lld", (long long)v);
}

void json_double(struct json *j, double v)
{
    before_item(j);
    if (!isfinite(v)) {
        fputs("null", j->fp);
        return;
    }
    /* Shortest of %.6g..%.17g that reads back to the same double. */
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, j->fp);
}

void json_bool(struct json *j, int v)
{
    before_item(j);
    fputs(v ? "true" : "false", j->fp);
}

void json_null(struct json *j)
{
    before_item(j);
    fputs("null", j->fp);
}

void json_finish(struct json *j) { fputc('\n', j->fp); }
