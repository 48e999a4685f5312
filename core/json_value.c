/* json_value.c - a recursive-descent JSON parser into a tree kept in a few
 * large blocks. Children are collected on a work stack while their container
 * is open and copied into one array when it closes, so every array and
 * object is contiguous and nothing is reallocated once placed.
 * Grammar: RFC 8259 section 2-8, plus NaN/Infinity/-Infinity (Python).
 */
#include "json_value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

struct json_value {
    uint32_t type;
    uint32_t n; /* elements of an array or object */
    union {
        double num;
        int boolean;
        char *str;
        struct {
            struct json_value *items;
            char **keys; /* objects only */
        } c;
    } u;
};

/* A block of tree memory; blocks are never moved. */
struct chunk {
    struct chunk *next;
    size_t size;
};
#define CHUNK_HEAD ((sizeof(struct chunk) + 15) & ~(size_t)15)
#define CHUNK_MIN  1024
#define CHUNK_MAX  ((size_t)64 << 20)

/* The root value comes first, so the root's address is the document's. */
struct json_doc {
    struct json_value root;
    struct chunk *chunks;
};

/* Objects up to this size find repeated keys by comparing every pair;
 * larger ones sort their keys (n log n whatever the keys are). */
#define DEDUP_PAIRWISE 16

struct key_ref {
    const char *key;
    size_t index;
};

struct parser {
    const char *text, *p, *end;
    const char *name;
    int depth;
    /* the tree's blocks */
    struct chunk *chunks;
    char *cur;
    size_t left, next_size;
    /* memory held (blocks and work stacks) against limits_get()->max_bytes */
    uint64_t held, limit;
    /* work stacks: the children of the containers still open */
    struct json_value *vals;
    size_t nvals, cap_vals;
    char **keys;
    size_t nkeys, cap_keys;
    struct key_ref *refs;
    size_t cap_refs;
    /* the first error */
    const char *err_at;
    int err_code;
    char err[200];
};

/* ---- errors --------------------------------------------------------------- */

static int fail(struct parser *P, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct parser *P, const char *at, const char *fmt, ...)
{
    if (P->err_at) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->err, sizeof P->err, fmt, ap);
    va_end(ap);
    P->err_at = at;
    P->err_code = ERR_INPUT;
    return -1;
}

/* What is at `at`, for "expected X, found Y". */
static const char *found(const struct parser *P, const char *at, char *buf, size_t len)
{
    if (at >= P->end) return "the end of the input";
    unsigned char c = (unsigned char)*at;
    if (c > 0x20 && c < 0x7f)
        snprintf(buf, len, "'%c'", c);
    else
        snprintf(buf, len, "byte 0x%02x", c);
    return buf;
}

/* Records the error with its line and column (1-based; the column counts
 * UTF-8 characters, not bytes). */
static void report(const struct parser *P)
{
    size_t line = 1, col = 1;
    for (const char *q = P->text; q < P->err_at && q < P->end; q++) {
        if (*q == '\n')
            line++, col = 1;
        else if (((unsigned char)*q & 0xc0) != 0x80)
            col++;
    }
    error_set(P->err_code, P->name, "JSON: line %zu, column %zu: %s", line, col, P->err);
}

/* ---- memory --------------------------------------------------------------- */

static int hold(struct parser *P, size_t n)
{
    if (n > P->limit - P->held) {
        char need[32], have[32];
        limits_format_bytes(P->held + n, need, sizeof need);
        limits_format_bytes(P->limit, have, sizeof have);
        return fail(P, P->p,
                    "the document needs more than %s of memory, over the %s allowed for one "
                    "input (raise it with --max-memory)",
                    need, have);
    }
    P->held += n;
    return 0;
}

static int out_of_memory(struct parser *P, size_t n)
{
    fail(P, P->p, "out of memory allocating %zu bytes", n);
    P->err_code = ERR_FAIL;
    return -1;
}

/* n bytes of tree memory, 8-byte aligned; NULL after recording an error. */
static void *arena_alloc(struct parser *P, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (n > P->left) {
        size_t size = P->next_size;
        if (size < n) size = n;
        if (size > SIZE_MAX - CHUNK_HEAD || hold(P, size + CHUNK_HEAD) < 0) return NULL;
        struct chunk *c = malloc(CHUNK_HEAD + size);
        if (!c) {
            out_of_memory(P, CHUNK_HEAD + size);
            return NULL;
        }
        c->next = P->chunks;
        c->size = size;
        P->chunks = c;
        P->cur = (char *)c + CHUNK_HEAD;
        P->left = size;
        if (P->next_size < CHUNK_MAX) P->next_size *= 2;
    }
    void *r = P->cur;
    P->cur += n;
    P->left -= n;
    return r;
}

/* Makes room for one more item on a work stack of `size`-byte items. */
static int grow(struct parser *P, void **stack, size_t *cap, size_t used, size_t size)
{
    if (used < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    if (ncap > SIZE_MAX / size || hold(P, (ncap - *cap) * size) < 0) return -1;
    void *s = realloc(*stack, ncap * size);
    if (!s) return out_of_memory(P, ncap * size);
    *stack = s;
    *cap = ncap;
    return 0;
}

/* ---- scanning ------------------------------------------------------------- */

static void skip_ws(struct parser *P)
{
    const char *p = P->p;
    while (p < P->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    P->p = p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The four hex digits after "\u" at s (which points at the backslash), or
 * -1 after recording an error; q is the closing quote. */
static long read_u4(struct parser *P, const char *s, const char *q)
{
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = s + i < q ? hexval((unsigned char)s[i]) : -1;
        if (h < 0) return fail(P, s, "\\u must be followed by four hex digits");
        v = v << 4 | h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at s (before q), 0 when invalid
 * (RFC 3629 section 4: no overlongs, no surrogates, nothing past U+10FFFF). */
static int utf8_len(const unsigned char *s, const unsigned char *q)
{
    unsigned c = s[0];
    int n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (q - s < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

static char *put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* The string whose opening quote is at P->p, decoded into tree memory
 * (never longer than its source, so the source length is what is
 * allocated); P->p moves past the closing quote. */
static char *parse_string(struct parser *P)
{
    const char *open = P->p, *q = open + 1;
    /* first pass: the closing quote (an escape hides the character after it) */
    for (;;) {
        while (q < P->end && *q != '"' && *q != '\\')
            q++;
        if (q < P->end && *q == '"') break;
        if (q + 1 >= P->end) {
            fail(P, open, "the string that starts here is not closed");
            return NULL;
        }
        q += 2;
    }
    char *out = arena_alloc(P, (size_t)(q - open));
    if (!out) return NULL;
    char *o = out;
    const char *s = open + 1;
    while (s < q) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            *o++ = (char)c;
            s++;
        } else if (c < 0x20) {
            fail(P, s, "raw control character 0x%02x in a string (escape it as \\u%04x)", c, c);
            return NULL;
        } else if (c >= 0x80) {
            int n = utf8_len((const unsigned char *)s, (const unsigned char *)q);
            if (!n) {
                fail(P, s, "invalid UTF-8 (byte 0x%02x) in a string", c);
                return NULL;
            }
            memcpy(o, s, (size_t)n);
            o += n;
            s += n;
        } else {
            char e = s + 1 < q ? s[1] : 0;
            long cp;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u':
                if ((cp = read_u4(P, s, q)) < 0) return NULL;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    fail(P, s,
                         "lone surrogate \\u%04lx in a string (a low half with no high half)",
                         cp);
                    return NULL;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    long lo =
                        s + 7 < q && s[6] == '\\' && s[7] == 'u' ? read_u4(P, s + 6, q) : -2;
                    if (lo == -1) return NULL;
                    if (lo < 0xdc00 || lo > 0xdfff) {
                        fail(P, s,
                             "lone surrogate \\u%04lx in a string (a high half not followed by "
                             "a low half)",
                             cp);
                        return NULL;
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    s += 6;
                }
                if (cp == 0) {
                    fail(P, s, "\\u0000 in a string (strings here cannot hold NUL)");
                    return NULL;
                }
                o = put_utf8(o, (unsigned long)cp);
                s += 4;
                break;
            default:
                if (e > 0x20 && e < 0x7f)
                    fail(P, s, "invalid escape \\%c in a string", e);
                else
                    fail(P, s, "invalid escape in a string: byte 0x%02x after the backslash",
                         (unsigned char)e);
                return NULL;
            }
            s += 2;
        }
    }
    *o = 0;
    P->p = q + 1;
    return out;
}

/* ---- numbers -------------------------------------------------------------- */

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

static int literal(struct parser *P, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n)) return 0;
    P->p += n;
    return 1;
}

/* A number at P->p (RFC 8259 section 6, or NaN, Infinity, -Infinity).
 * Up to 19 significant digits are gathered into an integer; when that is
 * exact and below 2^53 and the power of ten is at most 22 the double is one
 * correctly rounded operation (Clinger's fast path), otherwise strtod reads
 * the digits without a decimal point ("12345e-3"), so the locale cannot
 * change it. Never inlined: its 4 KB buffer stays out of the recursive
 * frames (256 deep). */
static __attribute__((noinline)) int parse_number(struct parser *P, double *out)
{
    const char *s = P->p, *p = s, *end = P->end;
    int neg = p < end && *p == '-';
    p += neg;
    if (p < end && (*p == 'I' || *p == 'N')) {
        P->p = p;
        if (literal(P, "Infinity")) {
            *out = neg ? -INFINITY : INFINITY;
            return 0;
        }
        if (!neg && literal(P, "NaN")) {
            *out = NAN;
            return 0;
        }
        char b[16];
        return fail(P, s, "expected a value, found %s", found(P, s, b, sizeof b));
    }
    if (!is_digit(p, end)) {
        char b[16];
        return fail(P, p, "expected a digit after '-', found %s", found(P, p, b, sizeof b));
    }
    uint64_t m = 0;
    int nd = 0, dropped = 0, is_int = 1;
    long e10 = 0;
    const char *int_start = p;
    if (*p == '0') {
        p++;
        if (is_digit(p, end))
            return fail(P, s, "a number cannot start with 0 followed by a digit");
    } else {
        for (; is_digit(p, end); p++) {
            if (nd < 19)
                m = m * 10 + (uint64_t)(*p - '0'), nd += m != 0;
            else
                e10++, dropped |= *p != '0';
        }
    }
    const char *int_end = p, *frac = p;
    if (p < end && *p == '.') {
        is_int = 0;
        frac = ++p;
        if (!is_digit(p, end)) {
            char b[16];
            return fail(P, p, "expected a digit after '.', found %s", found(P, p, b, sizeof b));
        }
        for (; is_digit(p, end); p++) {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0'), nd += m != 0;
                e10--;
            } else
                dropped |= *p != '0';
        }
    }
    const char *frac_end = p;
    long ex = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        int eneg = p < end && *p == '-';
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, end)) {
            char b[16];
            return fail(P, p, "expected a digit in the exponent, found %s",
                        found(P, p, b, sizeof b));
        }
        for (; is_digit(p, end); p++)
            if (ex < 1000000) ex = ex * 10 + (*p - '0');
        if (eneg) ex = -ex;
    }
    if (p - s > JSON_MAX_NUMBER_LEN)
        return fail(P, s, "a number of %td characters, more than the %d allowed", p - s,
                    JSON_MAX_NUMBER_LEN);
    double v;
    long e = e10 + ex;
    if (!dropped && m <= (1ull << 53) && e >= -22 && e <= 22) {
        v = e < 0 ? (double)m / pow10_exact[-e] : (double)m * pow10_exact[e];
    } else {
        char buf[JSON_MAX_NUMBER_LEN + 32];
        size_t k = 0;
        memcpy(buf, int_start, (size_t)(int_end - int_start));
        k = (size_t)(int_end - int_start);
        if (frac_end > frac) {
            memcpy(buf + k, frac, (size_t)(frac_end - frac));
            k += (size_t)(frac_end - frac);
        }
        snprintf(buf + k, sizeof buf - k, "e%ld", ex - (long)(frac_end - frac));
        v = strtod(buf, NULL);
    }
    if (isinf(v))
        return fail(P, s, "the number %.*s%s is out of the range of a double",
                    (int)(p - s > 40 ? 40 : p - s), s, p - s > 40 ? "..." : "");
    /* An integer literal has no sign of zero (Python reads "-0" as the int 0). */
    *out = neg && !(is_int && v == 0) ? -v : v;
    P->p = p;
    return 0;
}

/* ---- values --------------------------------------------------------------- */

static int parse_value(struct parser *P, struct json_value *v);

static int cmp_key_ref(const void *a, const void *b)
{
    const struct key_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Removes repeated keys among keys[0..*n) / vals[0..*n): each key keeps its
 * first position and its last value (Python's dict does the same). */
static int dedup(struct parser *P, char **keys, struct json_value *vals, size_t *n)
{
    size_t kept = 0;
    if (*n <= DEDUP_PAIRWISE) {
        for (size_t i = 0; i < *n; i++) {
            size_t j = 0;
            while (j < kept && strcmp(keys[j], keys[i]))
                j++;
            if (j < kept) {
                vals[j] = vals[i];
            } else {
                keys[kept] = keys[i];
                vals[kept++] = vals[i];
            }
        }
        *n = kept;
        return 0;
    }
    if (*n > P->cap_refs) {
        if (hold(P, (*n - P->cap_refs) * sizeof *P->refs) < 0) return -1;
        struct key_ref *r = realloc(P->refs, *n * sizeof *r);
        if (!r) return out_of_memory(P, *n * sizeof *r);
        P->refs = r;
        P->cap_refs = *n;
    }
    struct key_ref *r = P->refs;
    for (size_t i = 0; i < *n; i++)
        r[i].key = keys[i], r[i].index = i;
    qsort(r, *n, sizeof *r, cmp_key_ref);
    int any = 0;
    for (size_t i = 0; i < *n;) {
        size_t j = i + 1;
        while (j < *n && !strcmp(r[j].key, r[i].key))
            j++;
        if (j - i > 1) {
            /* first position, last value; the others marked by a NULL key */
            vals[r[i].index] = vals[r[j - 1].index];
            for (size_t k = i + 1; k < j; k++)
                keys[r[k].index] = NULL;
            any = 1;
        }
        i = j;
    }
    if (!any) return 0;
    for (size_t i = 0; i < *n; i++)
        if (keys[i]) {
            keys[kept] = keys[i];
            vals[kept++] = vals[i];
        }
    *n = kept;
    return 0;
}

/* The container's children, from the work stacks at base (values) and kbase
 * (keys, objects only), moved into one block of tree memory. */
static int close_container(struct parser *P, struct json_value *v, size_t base, size_t kbase,
                           int object)
{
    size_t n = P->nvals - base;
    if (object && n > 1 && dedup(P, P->keys + kbase, P->vals + base, &n) < 0) return -1;
    if (n > UINT32_MAX) return fail(P, P->p, "more than 2^32 - 1 elements in one container");
    v->n = (uint32_t)n;
    v->u.c.items = NULL;
    v->u.c.keys = NULL;
    if (n) {
        v->u.c.items = arena_alloc(P, n * sizeof *v->u.c.items);
        if (!v->u.c.items) return -1;
        memcpy(v->u.c.items, P->vals + base, n * sizeof *v->u.c.items);
        if (object) {
            v->u.c.keys = arena_alloc(P, n * sizeof *v->u.c.keys);
            if (!v->u.c.keys) return -1;
            memcpy(v->u.c.keys, P->keys + kbase, n * sizeof *v->u.c.keys);
        }
    }
    P->nvals = base;
    P->nkeys = kbase;
    return 0;
}

static int push_value(struct parser *P, const struct json_value *v)
{
    if (grow(P, (void **)&P->vals, &P->cap_vals, P->nvals, sizeof *P->vals) < 0) return -1;
    P->vals[P->nvals++] = *v;
    return 0;
}

static int parse_array(struct parser *P, struct json_value *v)
{
    size_t base = P->nvals;
    v->type = JSON_ARRAY;
    P->p++; /* '[' */
    skip_ws(P);
    if (P->p < P->end && *P->p == ']') {
        P->p++;
        return close_container(P, v, base, P->nkeys, 0);
    }
    for (;;) {
        struct json_value item;
        if (parse_value(P, &item) < 0 || push_value(P, &item) < 0) return -1;
        skip_ws(P);
        if (P->p < P->end && *P->p == ',') {
            P->p++;
            skip_ws(P);
            if (P->p < P->end && *P->p == ']')
                return fail(P, P->p, "a trailing comma before ']'");
            continue;
        }
        if (P->p < P->end && *P->p == ']') break;
        char b[16];
        return fail(P, P->p, "expected ',' or ']' after an array element, found %s",
                    found(P, P->p, b, sizeof b));
    }
    P->p++;
    return close_container(P, v, base, P->nkeys, 0);
}

static int parse_object(struct parser *P, struct json_value *v)
{
    size_t base = P->nvals, kbase = P->nkeys;
    v->type = JSON_OBJECT;
    P->p++; /* '{' */
    skip_ws(P);
    if (P->p < P->end && *P->p == '}') {
        P->p++;
        return close_container(P, v, base, kbase, 1);
    }
    for (;;) {
        char b[16];
        if (P->p >= P->end || *P->p != '"') {
            if (P->p < P->end && *P->p == '}')
                return fail(P, P->p, "a trailing comma before '}'");
            return fail(P, P->p, "expected a key in double quotes, found %s",
                        found(P, P->p, b, sizeof b));
        }
        char *key = parse_string(P);
        if (!key) return -1;
        if (grow(P, (void **)&P->keys, &P->cap_keys, P->nkeys, sizeof *P->keys) < 0) return -1;
        P->keys[P->nkeys++] = key;
        skip_ws(P);
        if (P->p >= P->end || *P->p != ':')
            return fail(P, P->p, "expected ':' after the key, found %s",
                        found(P, P->p, b, sizeof b));
        P->p++;
        struct json_value item;
        if (parse_value(P, &item) < 0 || push_value(P, &item) < 0) return -1;
        skip_ws(P);
        if (P->p < P->end && *P->p == ',') {
            P->p++;
            skip_ws(P);
            continue;
        }
        if (P->p < P->end && *P->p == '}') break;
        return fail(P, P->p, "expected ',' or '}' after an object member, found %s",
                    found(P, P->p, b, sizeof b));
    }
    P->p++;
    return close_container(P, v, base, kbase, 1);
}

static int parse_value(struct parser *P, struct json_value *v)
{
    skip_ws(P);
    memset(v, 0, sizeof *v);
    char b[16];
    if (P->p >= P->end) return fail(P, P->p, "expected a value, found the end of the input");
    switch (*P->p) {
    case '{':
    case '[': {
        if (P->depth >= JSON_PARSE_MAX_DEPTH)
            return fail(P, P->p, "arrays and objects nested more than %d deep",
                        JSON_PARSE_MAX_DEPTH);
        P->depth++;
        int rc = *P->p == '{' ? parse_object(P, v) : parse_array(P, v);
        P->depth--;
        return rc;
    }
    case '"':
        v->type = JSON_STRING;
        v->u.str = parse_string(P);
        return v->u.str ? 0 : -1;
    case 't':
    case 'f':
    case 'n': {
        const char *at = P->p;
        v->type = *at == 'n' ? JSON_NULL : JSON_BOOL;
        v->u.boolean = *at == 't';
        if (literal(P, *at == 't' ? "true" : *at == 'f' ? "false" : "null")) return 0;
        return fail(P, at, "expected a value, found %s", found(P, at, b, sizeof b));
    }
    default:
        if (*P->p == '-' || *P->p == 'N' || *P->p == 'I' || (*P->p >= '0' && *P->p <= '9')) {
            v->type = JSON_NUMBER;
            return parse_number(P, &v->u.num);
        }
        return fail(P, P->p, "expected a value, found %s", found(P, P->p, b, sizeof b));
    }
}

static void free_chunks(struct chunk *c)
{
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
}

struct json_value *json_parse(const char *text, size_t len, const char *name)
{
    struct parser P = {0};
    P.text = P.p = text;
    P.end = text + len;
    P.name = name;
    P.limit = limits_get()->max_bytes;
    P.next_size = len < CHUNK_MIN ? CHUNK_MIN : len > CHUNK_MAX ? CHUNK_MAX : len;
    /* a UTF-8 byte order mark is ignored (RFC 8259 section 8.1 allows it) */
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) P.text = P.p = text + 3;
    struct json_value root;
    struct json_doc *doc = NULL;
    if (parse_value(&P, &root) == 0) {
        skip_ws(&P);
        if (P.p < P.end) {
            char b[16];
            fail(&P, P.p, "unexpected %s after the JSON value", found(&P, P.p, b, sizeof b));
        } else {
            doc = xmalloc(sizeof *doc);
            doc->root = root;
            doc->chunks = P.chunks;
        }
    }
    free(P.vals);
    free(P.keys);
    free(P.refs);
    if (!doc) {
        report(&P);
        free_chunks(P.chunks);
        return NULL;
    }
    return &doc->root;
}

void json_value_free(struct json_value *v)
{
    if (!v) return;
    struct json_doc *doc = (struct json_doc *)v;
    free_chunks(doc->chunks);
    free(doc);
}

/* ---- access --------------------------------------------------------------- */

enum json_type json_value_type(const struct json_value *v)
{
    return v ? (enum json_type)v->type : JSON_NULL;
}

const char *json_type_name(enum json_type t)
{
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t < 6 ? names[t] : "?";
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (uint32_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->u.c.keys[i], key)) return &obj->u.c.items[i];
    return NULL;
}

size_t json_len(const struct json_value *v)
{
    return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->n : 0;
}

const struct json_value *json_at(const struct json_value *v, size_t i)
{
    return i < json_len(v) ? &v->u.c.items[i] : NULL;
}

const char *json_key_at(const struct json_value *obj, size_t i)
{
    return obj && obj->type == JSON_OBJECT && i < obj->n ? obj->u.c.keys[i] : NULL;
}

const char *json_str(const struct json_value *v)
{
    return v && v->type == JSON_STRING ? v->u.str : NULL;
}

int json_num(const struct json_value *v, double *out)
{
    if (!v || v->type != JSON_NUMBER) return -1;
    *out = v->u.num;
    return 0;
}

int json_boolean(const struct json_value *v, int *out)
{
    if (!v || v->type != JSON_BOOL) return -1;
    *out = v->u.boolean;
    return 0;
}

int json_integer(const struct json_value *v, int64_t *out)
{
    double d;
    /* -2^63 is a double; 2^63 is the first one past the range */
    if (json_num(v, &d) < 0 || !(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
        d != floor(d))
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* "the string "3"", "1.5", "an array": what a member holds, for messages. */
static const char *holds(const struct json_value *v, char *buf, size_t len)
{
    switch (json_value_type(v)) {
    case JSON_NUMBER: snprintf(buf, len, "%.17g", v->u.num); break;
    case JSON_STRING: {
        /* at most 40 bytes of it, control characters shown as '?' */
        char s[41];
        size_t k = 0;
        for (const char *p = v->u.str; *p && k < 40; p++)
            s[k++] = (unsigned char)*p < 0x20 ? '?' : *p;
        s[k] = 0;
        snprintf(buf, len, "the string \"%s%s\"", s, strlen(v->u.str) > 40 ? "..." : "");
        break;
    }
    case JSON_BOOL: snprintf(buf, len, "%s", v->u.boolean ? "true" : "false"); break;
    case JSON_NULL: snprintf(buf, len, "null"); break;
    case JSON_ARRAY: snprintf(buf, len, "an array"); break;
    case JSON_OBJECT: snprintf(buf, len, "an object"); break;
    }
    return buf;
}

int json_get_num(const struct json_value *obj, const char *key, double *out)
{
    const struct json_value *v = json_get(obj, key);
    if (!v) return 1;
    if (json_num(v, out) == 0) return 0;
    char b[96];
    return error_set(ERR_INPUT, NULL, "'%s' is %s, not a number", key, holds(v, b, sizeof b));
}

int json_get_int(const struct json_value *obj, const char *key, int64_t min, int64_t max,
                 int64_t *out)
{
    const struct json_value *v = json_get(obj, key);
    if (!v) return 1;
    int64_t i;
    if (json_integer(v, &i) == 0 && i >= min && i <= max) {
        *out = i;
        return 0;
    }
    char b[96];
    return error_set(ERR_INPUT, NULL, "'%s' is %s, not an integer from %lld to %lld", key,
                     holds(v, b, sizeof b), (long long)min, (long long)max);
}

int json_get_bool(const struct json_value *obj, const char *key, int *out)
{
    const struct json_value *v = json_get(obj, key);
    if (!v) return 1;
    if (json_boolean(v, out) == 0) return 0;
    char b[96];
    return error_set(ERR_INPUT, NULL, "'%s' is %s, not true or false", key,
                     holds(v, b, sizeof b));
}

const char *json_get_str(const struct json_value *obj, const char *key, const char *def)
{
    const char *s = json_str(json_get(obj, key));
    return s ? s : def;
}
