/* util.h - allocation wrappers, the bug assert, checked arithmetic.
 *
 * Small allocations go through xmalloc & co., which abort with a message when
 * memory runs out (that is a bug-level event for a few bytes). Input-sized
 * allocations go through big_alloc, which checks the size against a limit and
 * returns NULL with a recorded ERR_INPUT/ERR_FAIL reason instead.
 */
#ifndef INTERP_UTIL_H
#define INTERP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define INTERP_VERSION "0.1.0"

/* A hot loop compiled twice, for AVX2 + FMA and for the baseline, the
 * version chosen once at load time by the CPU: a given machine always runs
 * the same code, so results stay repeatable on it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define UTIL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define UTIL_CLONES
#endif

/* Broken internal invariant = bug: print file:line and abort. */
#define BUG_ON(cond)                                                                           \
    do {                                                                                       \
        if (cond) interp_bug(__FILE__, __LINE__, #cond);                                       \
    } while (0)
#define ASSERT(cond) BUG_ON(!(cond))
_Noreturn void interp_bug(const char *file, int line, const char *what);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Appends a formatted string (owned by the array) to the array *v of *n
 * strings, growing it by one: lists of notes and warnings. */
void strv_appendf(char ***v, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The length (1-4) of the well-formed UTF-8 sequence that starts at the
 * NUL-terminated s (Unicode's table 3-7: no overlong forms, no surrogates,
 * nothing past U+10FFFF; ASCII, NUL included, is 1), or 0 when the bytes
 * there are not one. */
size_t utf8_char_len(const char *s);

/* Threads an OpenMP region uses: `requested` when > 0, else the OpenMP
 * default (OMP_NUM_THREADS or the cores); 1 in a build without OpenMP. */
int util_threads(int requested);

/* a*b (and a*b*c) without overflow; return 0 on overflow, 1 when *out is set. */
int mul_ok(size_t a, size_t b, size_t *out);
int mul3_ok(size_t a, size_t b, size_t c, size_t *out);

/* Limits every reader consults before allocating from a header's numbers.
 * The CLI sets them from --max-pixels, --max-elements, --max-memory,
 * --max-model-size and --max-nodes; every message refusing an input for a
 * limit names the figure and the flag. */
struct limits {
    uint64_t max_pixels;      /* per decoded image, default 100e6 */
    uint64_t max_elements;    /* per array/tensor, default 4e9 */
    uint64_t max_bytes;       /* per single allocation from input, default: 3/4 of RAM;
                                 for a model: weights + activations of a forward pass */
    uint64_t max_model_bytes; /* ONNX file size, default 2 GiB (protobuf's own ceiling) */
    uint64_t max_nodes;       /* ONNX graph nodes, default 100,000 */
};
struct limits *limits_get(void); /* process-wide, mutable */

/* "512 bytes", "3.2 MiB", "17.0 GiB": a size as a person reads it, for the
 * messages that refuse an input over a limit. Returns buf. */
const char *limits_format_bytes(uint64_t n, char *buf, size_t len);

/* Input-sized allocation of n bytes: refused (NULL, ERR_INPUT naming what,
 * the figure, the limit and --max-memory) when over limits_get()->max_bytes,
 * ERR_FAIL when malloc fails.
 * `what` names the thing for the message ("embedding matrix"). Free with free(). */
void *big_alloc(size_t n, const char *path, const char *what);
void *big_calloc(size_t n, const char *path, const char *what);

/* Physical memory of the machine in bytes (0 if unknown). */
uint64_t mem_total_bytes(void);

/* Monotonic seconds, for timings reported in JSON. */
double now_seconds(void);

#endif
