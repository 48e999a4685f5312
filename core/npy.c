/* npy.c - numpy's .npy format: reading versions 1.0/2.0/3.0 from memory and
 * writing version 1.0 byte for byte as numpy 1.24 does.
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 * The header is a Python dict literal; it is parsed here, never evaluated.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "outfile.h"
#include "util.h"

#define NPY_MAX_DIMS 32 /* numpy's NPY_MAXDIMS */

/* ---- header parsing ------------------------------------------------------- */

struct hdr {
    const char *p, *end;
    const char *name;
    /* what the dict said */
    char descr[64];
    int have_descr, have_order, have_shape;
    int fortran;
    int ndim;
    size_t shape[NPY_MAX_DIMS];
};

static int bad(struct hdr *h, const char *what)
{
    return error_set(ERR_INPUT, h->name, "malformed .npy header: %s", what);
}

static void skip_ws(struct hdr *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

/* A quoted Python string ('...' or "...") into out; no escapes in any key or
 * dtype numpy writes, so a backslash is refused rather than interpreted. */
static int parse_str(struct hdr *h, char *out, size_t cap, const char *what)
{
    char q = h->p < h->end ? *h->p : 0;
    if (q != '\'' && q != '"') {
        char msg[96];
        snprintf(msg, sizeof msg, "expected a quoted string for %s", what);
        return bad(h, msg);
    }
    h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || n + 1 >= cap) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s string is too long or has escapes", what);
            return bad(h, msg);
        }
        out[n++] = *h->p++;
    }
    if (h->p >= h->end) return bad(h, "unterminated string");
    h->p++;
    out[n] = 0;
    return 0;
}

/* One dimension token of the shape tuple: digits, optionally a Python 2 'L'. */
static int parse_dim(struct hdr *h, const char *tok, size_t n)
{
    char t[48];
    size_t shown = n < sizeof t - 1 ? n : sizeof t - 1;
    memcpy(t, tok, shown);
    t[shown] = 0;
    if (n && tok[n - 1] == 'L') n--;
    int neg = n > 1 && tok[0] == '-';
    size_t i = neg, v = 0;
    if (i == n) return bad(h, "empty dimension in shape");
    for (; i < n; i++) {
        if (!isdigit((unsigned char)tok[i]))
            return error_set(ERR_INPUT, h->name, "non-integer dimension '%s' in the .npy shape",
                             t);
        size_t d = (size_t)(tok[i] - '0');
        if (v > (SIZE_MAX - d) / 10)
            return error_set(ERR_INPUT, h->name,
                             "dimension %s in the .npy shape overflows 64 bits", t);
        v = v * 10 + d;
    }
    if (neg) return error_set(ERR_INPUT, h->name, "negative dimension %s in the .npy shape", t);
    if (h->ndim == NPY_MAX_DIMS) return bad(h, "more than 32 dimensions");
    h->shape[h->ndim++] = v;
    return 0;
}

/* "(3,)", "()", "(2, 3)", "(2, 3,)"; a bare "(3)" is taken as (3,). */
static int parse_shape(struct hdr *h)
{
    if (h->p >= h->end || *h->p != '(') return bad(h, "'shape' is not a tuple");
    h->p++;
    h->ndim = 0;
    for (;;) {
        skip_ws(h);
        if (h->p >= h->end) return bad(h, "unterminated shape tuple");
        if (*h->p == ')') {
            h->p++;
            return 0;
        }
        const char *tok = h->p;
        while (h->p < h->end && *h->p != ',' && *h->p != ')' && *h->p != ' ' && *h->p != '\t' &&
               *h->p != '\n')
            h->p++;
        if (h->p >= h->end) return bad(h, "unterminated shape tuple");
        if (parse_dim(h, tok, (size_t)(h->p - tok)) < 0) return -1;
        skip_ws(h);
        if (h->p < h->end && *h->p == ',')
            h->p++;
        else if (h->p < h->end && *h->p != ')')
            return bad(h, "expected ',' or ')' in shape");
    }
}

static int parse_bool(struct hdr *h, int *out)
{
    size_t left = (size_t)(h->end - h->p);
    if (left >= 4 && !memcmp(h->p, "True", 4)) {
        *out = 1;
        h->p += 4;
    } else if (left >= 5 && !memcmp(h->p, "False", 5)) {
        *out = 0;
        h->p += 5;
    } else {
        return bad(h, "'fortran_order' is not True or False");
    }
    return 0;
}

static int parse_dict(struct hdr *h)
{
    skip_ws(h);
    if (h->p >= h->end || *h->p != '{') return bad(h, "it does not start with '{'");
    h->p++;
    for (;;) {
        char key[32];
        skip_ws(h);
        if (h->p >= h->end) return bad(h, "unterminated dict (no '}')");
        if (*h->p == '}') {
            h->p++;
            break;
        }
        if (parse_str(h, key, sizeof key, "a key") < 0) return -1;
        skip_ws(h);
        if (h->p >= h->end || *h->p != ':') return bad(h, "expected ':' after a key");
        h->p++;
        skip_ws(h);
        if (!strcmp(key, "descr")) {
            if (h->p < h->end && *h->p == '[')
                return error_set(ERR_INPUT, h->name,
                                 "unsupported dtype: structured "
                                 "arrays (a list of fields) cannot be read");
            if (parse_str(h, h->descr, sizeof h->descr, "'descr'") < 0) return -1;
            h->have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (parse_bool(h, &h->fortran) < 0) return -1;
            h->have_order = 1;
        } else if (!strcmp(key, "shape")) {
            if (parse_shape(h) < 0) return -1;
            h->have_shape = 1;
        } else {
            char msg[80];
            snprintf(msg, sizeof msg, "unexpected key '%s'", key);
            return bad(h, msg);
        }
        skip_ws(h);
        if (h->p < h->end && *h->p == ',')
            h->p++;
        else if (h->p < h->end && *h->p != '}')
            return bad(h, "expected ',' or '}'");
    }
    skip_ws(h);
    if (h->p != h->end) return bad(h, "text after the closing '}'");
    if (!h->have_descr) return bad(h, "no 'descr' key");
    if (!h->have_order) return bad(h, "no 'fortran_order' key");
    if (!h->have_shape) return bad(h, "no 'shape' key");
    return 0;
}

/* '<f4' and friends -> kind, size, byte order; refuses what interp cannot use. */
static int parse_descr(struct hdr *h, struct raw_view *v)
{
    const char *d = h->descr;
    char order = '|';
    if (*d && strchr("<>|=!", *d)) order = *d++;
    char kind = *d ? *d++ : 0;
    char *end;
    long size = *d ? strtol(d, &end, 10) : 0;
    int size_ok = *d ? (*end == 0 && end != d) : 1;
    const char *why = NULL;
    switch (kind) {
    case 'f':
        v->kind = RAW_FLOAT;
        if (size_ok && size == 16)
            why = "long double (float128)";
        else if (!size_ok || (size != 2 && size != 4 && size != 8))
            why = "unknown size";
        break;
    case 'i':
    case 'u':
        v->kind = kind == 'i' ? RAW_INT : RAW_UINT;
        if (!size_ok || (size != 1 && size != 2 && size != 4 && size != 8))
            why = "unknown size";
        break;
    case 'b':
    case '?':
        v->kind = RAW_BOOL;
        if (!*d)
            size = 1;
        else if (!size_ok || size != 1)
            why = "unknown size";
        break;
    case 'O': why = "object arrays (pickled Python objects) cannot be read"; break;
    case 'V': why = "raw void records cannot be read"; break;
    case 'U': why = "unicode strings cannot be read"; break;
    case 'S':
    case 'a': why = "byte strings cannot be read"; break;
    case 'c': why = "complex numbers cannot be read"; break;
    case 'M':
    case 'm': why = "dates and times cannot be read"; break;
    default: why = "not a numeric dtype"; break;
    }
    if (why) return error_set(ERR_INPUT, h->name, "unsupported dtype '%s': %s", h->descr, why);
    v->itemsize = (size_t)size;
    /* '|' (not applicable) and '=' (native) mean the writer's order; numpy
     * writes them only for 1-byte types, so the host order is as good as any. */
    const uint16_t one = 1;
    int host_big = *(const unsigned char *)&one == 0;
    v->big_endian = order == '>' || order == '!' ? 1 : order == '<' ? 0 : host_big;
    return 0;
}

/* ---- npy_parse ------------------------------------------------------------ */

struct array *npy_parse(const void *buf, size_t len, const char *name, enum dtype want,
                        int want_ndim)
{
    static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
    const unsigned char *b = buf;
    char s[160];
    if (len == 0) {
        error_set(ERR_INPUT, name, "empty file");
        return NULL;
    }
    if (memcmp(b, magic, len < 6 ? len : 6) != 0) {
        error_set(ERR_INPUT, name,
                  "not a .npy file (it does not start with "
                  "\\x93NUMPY)");
        return NULL;
    }
    if (len < 8) {
        error_set(ERR_INPUT, name,
                  "truncated .npy header: the file has only %zu "
                  "bytes",
                  len);
        return NULL;
    }
    int major = b[6], minor = b[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0) {
        error_set(ERR_INPUT, name,
                  "unsupported .npy format version %d.%d (1.0, 2.0 "
                  "and 3.0 are known)",
                  major, minor);
        return NULL;
    }
    size_t lenbytes = major == 1 ? 2 : 4, hoff = 8 + lenbytes;
    if (len < hoff) {
        error_set(ERR_INPUT, name,
                  "truncated .npy header: the file has only %zu "
                  "bytes",
                  len);
        return NULL;
    }
    size_t hlen = b[8] | (size_t)b[9] << 8;
    if (major > 1) hlen |= (size_t)b[10] << 16 | (size_t)b[11] << 24;
    if (hlen > len - hoff) {
        error_set(ERR_INPUT, name,
                  "header length %zu runs past the end of the "
                  "file (%zu bytes)",
                  hlen, len);
        return NULL;
    }
    struct hdr h = {
        .p = (const char *)b + hoff, .end = (const char *)b + hoff + hlen, .name = name};
    struct raw_view v = {0};
    if (parse_dict(&h) < 0 || parse_descr(&h, &v) < 0) return NULL;

    size_t count = 1, bytes;
    array_shape_str(h.shape, h.ndim, s, sizeof s);
    for (int i = 0; i < h.ndim; i++)
        if (h.shape[i] == 0) count = 0;
    for (int i = 0; i < h.ndim && count; i++) {
        if (!mul_ok(count, h.shape[i], &count)) {
            error_set(ERR_INPUT, name, "shape %s overflows 64 bits (element count)", s);
            return NULL;
        }
    }
    if (count > limits_get()->max_elements) {
        error_set(ERR_INPUT, name,
                  "shape %s has %zu elements, over the limit of %llu "
                  "(raise it with --max-elements)",
                  s,
                  count, (unsigned long long)limits_get()->max_elements);
        return NULL;
    }
    if (!mul_ok(count, v.itemsize, &bytes)) {
        error_set(ERR_INPUT, name, "shape %s of '%s' overflows 64 bits (bytes)", s, h.descr);
        return NULL;
    }
    size_t have = len - hoff - hlen;
    if (have < bytes) {
        error_set(ERR_INPUT, name,
                  "data ends early: shape %s of '%s' needs %zu "
                  "bytes of data, found %zu",
                  s, h.descr, bytes, have);
        return NULL;
    }
    if (h.ndim > ARRAY_MAX_DIMS) {
        error_set(ERR_INPUT, name,
                  "%d-D array of shape %s: at most %d dimensions "
                  "are supported",
                  h.ndim, s, ARRAY_MAX_DIMS);
        return NULL;
    }
    v.data = b + hoff + hlen;
    v.fortran = h.fortran;
    v.ndim = h.ndim;
    for (int i = 0; i < h.ndim; i++)
        v.shape[i] = h.shape[i];
    return array_from_raw(&v, name, want, want_ndim);
}

/* ---- npy_write -------------------------------------------------------------- */

static void put_le(unsigned char *out, const void *elem, size_t size)
{
    const uint16_t one = 1;
    if (*(const unsigned char *)&one) {
        memcpy(out, elem, size);
    } else {
        for (size_t i = 0; i < size; i++)
            out[i] = ((const unsigned char *)elem)[size - 1 - i];
    }
}

int npy_write(const char *path, const struct array *a)
{
    const char *descr;
    switch (a->dtype) {
    case DT_F32: descr = "<f4"; break;
    case DT_F64: descr = "<f8"; break;
    case DT_I32: descr = "<i4"; break;
    case DT_I64: descr = "<i8"; break;
    case DT_U8: descr = "|u1"; break;
    default: BUG_ON(1); return ERR_FAIL;
    }
    BUG_ON(a->ndim < 1 || a->ndim > ARRAY_MAX_DIMS);
    /* As numpy.lib.format._write_array_header: sorted keys, then room for the
     * first axis to grow to 21 digits, then spaces so the data starts at a
     * multiple of 64, then '\n'. */
    char shape[160], head[512];
    array_shape_str(a->shape, a->ndim, shape, sizeof shape);
    int n = snprintf(head, sizeof head,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    char first[32];
    int grow = 21 - snprintf(first, sizeof first, "%zu", a->shape[0]);
    for (int i = 0; i < grow; i++)
        head[n++] = ' ';
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    for (size_t i = 0; i < pad; i++)
        head[n++] = ' ';
    head[n++] = '\n';
    BUG_ON((10 + (size_t)n) % 64 != 0 || (size_t)n > 65535);

    struct outfile of;
    if (outfile_open(&of, path) < 0) return -1;
    unsigned char pre[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(n & 0xff),
                             (unsigned char)(n >> 8)};
    fwrite(pre, 1, sizeof pre, of.fp);
    fwrite(head, 1, (size_t)n, of.fp);
    size_t count = array_count(a), size = dtype_size(a->dtype);
    const unsigned char *src = a->data;
    unsigned char chunk[4096];
    size_t per = sizeof chunk / size;
    for (size_t k = 0; k < count; k += per) {
        size_t m = count - k < per ? count - k : per;
        for (size_t j = 0; j < m; j++)
            put_le(chunk + j * size, src + (k + j) * size, size);
        if (fwrite(chunk, size, m, of.fp) != m) break; /* commit reports it */
    }
    return outfile_commit(&of);
}
