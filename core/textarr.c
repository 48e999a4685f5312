/* textarr.c - CSV/TSV/whitespace text tables and raw .bin float32 matrices,
 * parsed from memory; CSV writing. Text goes through a float64 table, then
 * array_from_raw converts it like any file element.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "outfile.h"
#include "util.h"

/* ---- text tables ------------------------------------------------------------ */

struct line {
    const char *p, *end;
};

/* Next line of buf from *at (without '\n' and a trailing '\r'); 0 at the end. */
static int next_line(const char *buf, size_t len, size_t *at, struct line *l)
{
    if (*at >= len) return 0;
    const char *s = buf + *at, *nl = memchr(s, '\n', len - *at);
    const char *e = nl ? nl : buf + len;
    *at = (size_t)(e - buf) + (nl ? 1 : 0);
    if (e > s && e[-1] == '\r') e--;
    l->p = s;
    l->end = e;
    return 1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Blank lines and '#' comments (np.savetxt writes its header as one) are skipped. */
static int line_skipped(struct line l)
{
    while (l.p < l.end && is_blank(*l.p))
        l.p++;
    return l.p == l.end || *l.p == '#';
}

/* The next field of a line, trimmed and unquoted; delim ' ' = runs of
 * blanks. Returns 0 after the last field. *started is 0 before the first call
 * on a line (an empty line still has one, empty, field) and 2 after the last
 * field, when no delimiter follows it. */
static int next_field(struct line *l, char delim, int *started, struct line *f)
{
    if (delim == ' ') {
        while (l->p < l->end && is_blank(*l->p))
            l->p++;
        if (l->p == l->end) return 0;
        f->p = l->p;
        while (l->p < l->end && !is_blank(*l->p))
            l->p++;
        f->end = l->p;
        return 1;
    }
    if (*started == 2) return 0;
    *started = 1;
    const char *d = memchr(l->p, delim, (size_t)(l->end - l->p));
    f->p = l->p;
    f->end = d ? d : l->end;
    if (d)
        l->p = d + 1;
    else
        *started = 2;
    while (f->p < f->end && is_blank(*f->p))
        f->p++;
    while (f->end > f->p && is_blank(f->end[-1]))
        f->end--;
    if (f->end - f->p >= 2 && *f->p == '"' && f->end[-1] == '"') {
        f->p++;
        f->end--;
    }
    return 1;
}

/* Comma when the line has one; else tab when it has tabs and no spaces
 * inside it (a tsv); else runs of blanks (np.savetxt's default). */
static char detect_delim(struct line l)
{
    while (l.p < l.end && is_blank(*l.p))
        l.p++;
    while (l.end > l.p && is_blank(l.end[-1]))
        l.end--;
    size_t n = (size_t)(l.end - l.p);
    if (memchr(l.p, ',', n)) return ',';
    if (memchr(l.p, '\t', n) && !memchr(l.p, ' ', n)) return '\t';
    return ' ';
}

static size_t count_fields(struct line l, char delim)
{
    struct line f;
    size_t n = 0;
    int started = 0;
    while (next_field(&l, delim, &started, &f))
        n++;
    return n;
}

/* strtod on a field, whole field only. "nan", "inf", "-inf" are numbers. */
static int field_number(struct line f, double *out)
{
    char t[80];
    size_t n = (size_t)(f.end - f.p);
    if (n == 0 || n >= sizeof t) return 0;
    memcpy(t, f.p, n);
    t[n] = 0;
    char *e;
    *out = strtod(t, &e);
    return e == t + n;
}

static void field_show(struct line f, char *buf, size_t len)
{
    size_t n = (size_t)(f.end - f.p);
    if (n > 40) {
        snprintf(buf, len, "%.40s...", f.p);
    } else {
        snprintf(buf, len, "%.*s", (int)n, f.p);
    }
}

struct array *text_parse(const void *buf, size_t len, const char *name,
                         const struct array_opts *opts, enum dtype want)
{
    const char *b = buf;
    struct array_opts o = opts ? *opts : array_opts_default();
    struct line l, f;
    size_t at = 0, lineno = 0, first_lineno = 0, ncols = 0;
    char delim = o.format == FMT_CSV ? ',' : o.format == FMT_TSV ? '\t' : 0;
    double *vals = NULL;
    struct array *a = NULL;
    char shown[64];

    if (len == 0) {
        error_set(ERR_INPUT, name, "empty file");
        return NULL;
    }
    /* The first content line sets the delimiter, the width and the header. */
    int header = o.header;
    while (next_line(b, len, &at, &l)) {
        lineno++;
        if (line_skipped(l)) continue;
        if (!delim) delim = detect_delim(l);
        first_lineno = lineno;
        ncols = count_fields(l, delim);
        if (header < 0) {
            struct line r = l;
            int started = 0;
            double x;
            header = 0;
            while (next_field(&r, delim, &started, &f))
                if (f.p < f.end && !field_number(f, &x)) header = 1;
        }
        break;
    }
    if (!first_lineno) {
        error_set(ERR_INPUT, name, "no data: only blank or comment lines");
        return NULL;
    }
    if (!header) { /* read the first line again, as data */
        at = (size_t)(l.p - b);
        lineno--;
    }

    /* Size the table before reading it. Rows are at most the lines left, and
     * k valid rows take at least 2*k*ncols - 1 bytes (a character and a
     * separator per field), which keeps a wide first line over many short
     * lines from asking for a quadratic amount of memory. */
    size_t maxrows = 1, cells, bytes;
    for (const char *p = b + at; (p = memchr(p, '\n', len - (size_t)(p - b))); p++)
        maxrows++;
    BUG_ON(ncols == 0);
    if (maxrows > (len - at + 1) / (2 * ncols) + 1) maxrows = (len - at + 1) / (2 * ncols) + 1;
    if (!mul_ok(maxrows, ncols, &cells) || cells > limits_get()->max_elements) {
        error_set(ERR_INPUT, name,
                  "table of up to %zu rows x %zu columns is over "
                  "the limit of %llu elements (raise it with --max-elements)",
                  maxrows, ncols, (unsigned long long)limits_get()->max_elements);
        return NULL;
    }
    if (!mul_ok(cells, sizeof *vals, &bytes)) return NULL;
    vals = big_alloc(bytes, name, "text table");
    if (!vals) return NULL;

    size_t rows = 0;
    while (next_line(b, len, &at, &l)) {
        lineno++;
        if (line_skipped(l)) continue;
        size_t nf = count_fields(l, delim);
        if (nf != ncols) {
            error_set(ERR_INPUT, name,
                      "line %zu has %zu fields, expected %zu (as on "
                      "line %zu)",
                      lineno, nf, ncols, first_lineno);
            goto done;
        }
        int started = 0;
        for (size_t c = 0; next_field(&l, delim, &started, &f); c++) {
            double x;
            if (f.p == f.end) {
                error_set(ERR_INPUT, name, "line %zu, column %zu: empty field", lineno, c + 1);
                goto done;
            }
            if (!field_number(f, &x)) {
                field_show(f, shown, sizeof shown);
                error_set(ERR_INPUT, name,
                          "line %zu, column %zu: '%s' is not a "
                          "number",
                          lineno, c + 1, shown);
                goto done;
            }
            BUG_ON(rows >= maxrows);
            vals[rows * ncols + c] = x;
        }
        rows++;
    }
    if (rows == 0) {
        error_set(ERR_INPUT, name, "no data rows after the header line");
        goto done;
    }
    const uint16_t one = 1;
    struct raw_view v = {.data = (const unsigned char *)vals,
                         .kind = RAW_FLOAT,
                         .itemsize = 8,
                         .big_endian = *(const unsigned char *)&one == 0,
                         .ndim = 2,
                         .shape = {rows, ncols}};
    a = array_from_raw(&v, name, want, 0);
done:
    free(vals);
    return a;
}

/* ---- raw float32 ----------------------------------------------------------- */

struct array *bin_parse(const void *buf, size_t len, const char *name, size_t dim,
                        enum dtype want, int want_ndim)
{
    size_t rowbytes;
    if (len == 0) {
        error_set(ERR_INPUT, name, "empty file");
        return NULL;
    }
    if (dim == 0) {
        error_set(ERR_INPUT, name,
                  "a .bin file is raw float32 without a shape: "
                  "give its row length (--dim D)");
        return NULL;
    }
    if (!mul_ok(dim, 4, &rowbytes) || len % rowbytes) {
        error_set(ERR_INPUT, name,
                  "file size %zu bytes is not a multiple of 4*dim = "
                  "%zu (dim %zu, float32)",
                  len, dim * 4, dim);
        return NULL;
    }
    struct raw_view v = {.data = buf,
                         .kind = RAW_FLOAT,
                         .itemsize = 4,
                         .big_endian = 0,
                         .ndim = 2,
                         .shape = {len / rowbytes, dim}};
    return array_from_raw(&v, name, want, want_ndim);
}

/* ---- CSV writing ------------------------------------------------------------ */

static void put_value(FILE *fp, const struct array *a, size_t k)
{
    double x;
    switch (a->dtype) {
    case DT_F32:
        x = ((const float *)a->data)[k];
        if (isnan(x))
            fputs("nan", fp);
        else
            fprintf(fp, "%.9g", x);
        break;
    case DT_F64:
        x = ((const double *)a->data)[k];
        if (isnan(x))
            fputs("nan", fp);
        else
            fprintf(fp, "%.17g", x);
        break;
    case DT_I32: fprintf(fp, "%d", (int)((const int32_t *)a->data)[k]); break;
    case DT_I64: fprintf(fp, "%lld", (long long)((const int64_t *)a->data)[k]); break;
    case DT_U8: fprintf(fp, "%u", (unsigned)((const uint8_t *)a->data)[k]); break;
    }
}

int csv_write(const char *path, const struct array *a, const char *header)
{
    if (a->ndim > 2)
        return error_set(ERR_INPUT, path, "CSV holds 1-D or 2-D arrays, not %d-D", a->ndim);
    struct outfile of;
    if (outfile_open(&of, path) < 0) return -1;
    if (header) fprintf(of.fp, "%s\n", header);
    size_t rows = array_rows(a), cols = array_cols(a);
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            if (c) fputc(',', of.fp);
            put_value(of.fp, a, r * cols + c);
        }
        fputc('\n', of.fp);
    }
    return outfile_commit(&of);
}
