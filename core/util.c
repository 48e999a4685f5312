/* util.c - allocation wrappers, the bug handler, checked sizes and limits.
 *
 * xmalloc & co. are for small allocations: running out there is not an input
 * problem, so they abort with a message. big_alloc is for input-sized ones.
 */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void interp_bug(const char *file, int line, const char *what)
{
    fprintf(stderr, "interp: BUG at %s:%d: %s\n", file, line, what);
    abort();
}

static void *oom(size_t n)
{
    fprintf(stderr, "interp: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom(n * size);
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ASSERT(n >= 0);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void strv_appendf(char ***v, size_t *n, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ASSERT(len >= 0);
    char *s = xmalloc((size_t)len + 1);
    vsnprintf(s, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    *v = xrealloc(*v, sizeof(char *) * (*n + 1));
    (*v)[(*n)++] = s;
}

size_t utf8_char_len(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0) lo = 0xA0; /* overlong 3-byte forms */
    if (c == 0xED) hi = 0x9F; /* surrogates */
    if (c == 0xF0) lo = 0x90; /* overlong 4-byte forms */
    if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++) /* a NUL ends the string: never 80..BF */
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

int mul_ok(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return 0;
    *out = r;
    return 1;
}

int mul3_ok(size_t a, size_t b, size_t c, size_t *out)
{
    size_t ab;
    return mul_ok(a, b, &ab) && mul_ok(ab, c, out);
}

uint64_t mem_total_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0) return 0;
    return (uint64_t)pages * (uint64_t)size;
}

struct limits *limits_get(void)
{
    static struct limits lim;
    static int init;
    if (!init) {
        uint64_t mem = mem_total_bytes();
        lim.max_pixels = 100000000ULL;
        lim.max_elements = 4000000000ULL;
        lim.max_bytes = mem ? mem / 4 * 3 : (uint64_t)16 << 30;
        lim.max_model_bytes = (uint64_t)2 << 30;
        lim.max_nodes = 100000;
        init = 1;
    }
    return &lim;
}

const char *limits_format_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(buf, len, "%llu bytes", (unsigned long long)n);
        return buf;
    }
    double v = (double)n / 1024;
    int u = 0;
    while (v >= 1024 && u < 5)
        v /= 1024, u++;
    snprintf(buf, len, "%.1f %s", v, unit[u]);
    return buf;
}

static void size_show(uint64_t n, char *buf, size_t len)
{
    limits_format_bytes(n, buf, len);
}

static void *alloc_checked(size_t n, int zero, const char *path, const char *what)
{
    struct limits *lim = limits_get();
    if (n > lim->max_bytes) {
        /* The figure, the limit and the flag: the user can see how far off
         * the input is and raise the limit when the machine really has room. */
        char need[32], have[32], ram[32];
        size_show(n, need, sizeof need);
        size_show(lim->max_bytes, have, sizeof have);
        size_show(mem_total_bytes(), ram, sizeof ram);
        error_set(ERR_INPUT, path,
                  "%s needs %s, more than the %s allowed for one input "
                  "(raise it with --max-memory; the default is 3/4 of the %s of RAM)",
                  what, need, have, ram);
        return NULL;
    }
    void *p = zero ? calloc(n ? n : 1, 1) : malloc(n ? n : 1);
    if (!p)
        error_set(ERR_FAIL, path, "out of memory allocating %.1f MiB for %s", n / 1048576.0,
                  what);
    return p;
}

void *big_alloc(size_t n, const char *path, const char *what)
{
    return alloc_checked(n, 0, path, what);
}

void *big_calloc(size_t n, const char *path, const char *what)
{
    return alloc_checked(n, 1, path, what);
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int util_threads(int requested)
{
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_max_threads();
#else
    (void)requested;
    return 1;
#endif
}
