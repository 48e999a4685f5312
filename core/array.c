/* array.c - the array type, conversion from raw file elements to interp's
 * working dtypes, whole-file input buffers, and array_load's format dispatch
 * (the .npy magic first, then the requested format, then the extension).
 */
#include "array.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "outfile.h"
#include "util.h"

/* ---- dtypes and the array object ---------------------------------------- */

size_t dtype_size(enum dtype t)
{
    switch (t) {
    case DT_F32: return 4;
    case DT_F64: return 8;
    case DT_I32: return 4;
    case DT_I64: return 8;
    case DT_U8: return 1;
    }
    BUG_ON(1);
    return 0;
}

const char *dtype_name(enum dtype t)
{
    switch (t) {
    case DT_F32: return "float32";
    case DT_F64: return "float64";
    case DT_I32: return "int32";
    case DT_I64: return "int64";
    case DT_U8: return "uint8";
    }
    BUG_ON(1);
    return "";
}

char *array_shape_str(const size_t *shape, int ndim, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    at += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < ndim && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, i ? ", %zu" : "%zu", shape[i]);
    if (at < len) snprintf(buf + at, len - at, ndim == 1 ? ",)" : ")");
    return buf;
}

/* Element count of a shape, refused (ERR_INPUT) on overflow or over the limit. */
static int count_checked(int ndim, const size_t *shape, const char *name, size_t *count)
{
    char s[128];
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            n = 0;
            break;
        }
    }
    for (int i = 0; i < ndim && n; i++) {
        if (!mul_ok(n, shape[i], &n))
            return error_set(ERR_INPUT, name, "shape %s overflows 64 bits (element count)",
                             array_shape_str(shape, ndim, s, sizeof s));
    }
    if (n > limits_get()->max_elements)
        return error_set(ERR_INPUT, name,
                         "shape %s has %zu elements, over the limit of %llu "
                         "(raise it with --max-elements)",
                         array_shape_str(shape, ndim, s, sizeof s), n,
                         (unsigned long long)limits_get()->max_elements);
    *count = n;
    return 0;
}

struct array *array_new(enum dtype t, int ndim, const size_t *shape)
{
    size_t count, bytes;
    if (ndim < 1 || ndim > ARRAY_MAX_DIMS) {
        error_set(ERR_INPUT, NULL, "%d-D array: 1 to %d dimensions are supported", ndim,
                  ARRAY_MAX_DIMS);
        return NULL;
    }
    if (count_checked(ndim, shape, NULL, &count) < 0) return NULL;
    if (!mul_ok(count, dtype_size(t), &bytes)) {
        error_set(ERR_INPUT, NULL, "array of %zu elements overflows 64 bits", count);
        return NULL;
    }
    void *data = big_calloc(bytes, NULL, "array");
    if (!data) return NULL;
    struct array *a = xcalloc(1, sizeof *a);
    a->dtype = t;
    a->ndim = ndim;
    for (int i = 0; i < ARRAY_MAX_DIMS; i++)
        a->shape[i] = i < ndim ? shape[i] : 1;
    a->data = data;
    return a;
}

void array_free(struct array *a)
{
    if (!a) return;
    free(a->data);
    free(a);
}

size_t array_count(const struct array *a)
{
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++)
        n *= a->shape[i];
    return n;
}

size_t array_rows(const struct array *a)
{
    return a->shape[0];
}

size_t array_cols(const struct array *a)
{
    size_t n = 1;
    for (int i = 1; i < a->ndim; i++)
        n *= a->shape[i];
    return n;
}

struct array_opts array_opts_default(void)
{
    return (struct array_opts){.format = FMT_AUTO, .dim = 0, .header = -1, .want_ndim = 2};
}

const char *input_name(const char *path)
{
    return strcmp(path, "-") ? path : "<stdin>";
}

/* ---- raw elements -> working dtypes ------------------------------------- */

/* IEEE 754 binary16 -> binary32, exactly (every half is a float). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf, NaN (payload kept) */
    } else if (exp) {
        bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign; /* +-0 */
    } else {
        /* subnormal: mant * 2^-24; normalise so the leading 1 is implicit */
        int e = -14;
        while (!(mant & 0x400)) {
            mant <<= 1;
            e--;
        }
        bits = sign | ((uint32_t)(e + 127) << 23) | ((mant & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* The element's bits as an unsigned integer, whatever the host's byte order. */
static uint64_t load_bits(const unsigned char *p, size_t size, int big)
{
    uint64_t v = 0;
    if (big)
        for (size_t i = 0; i < size; i++)
            v = v << 8 | p[i];
    else
        for (size_t i = size; i-- > 0;)
            v = v << 8 | p[i];
    return v;
}

/* One element, decoded: exactly one of f (floats), i (ints, bool), u (uints). */
struct elem {
    enum raw_kind kind;
    double f;
    float f4; /* the float32 value when the source was f2/f4 */
    int64_t i;
    uint64_t u;
};

static struct elem elem_load(const struct raw_view *v, const unsigned char *p)
{
    struct elem e = {.kind = v->kind};
    uint64_t b = load_bits(p, v->itemsize, v->big_endian);
    switch (v->kind) {
    case RAW_FLOAT:
        if (v->itemsize == 2) {
            e.f4 = half_to_float((uint16_t)b);
            e.f = e.f4;
        } else if (v->itemsize == 4) {
            uint32_t b4 = (uint32_t)b;
            memcpy(&e.f4, &b4, 4);
            e.f = e.f4;
        } else {
            memcpy(&e.f, &b, 8);
            e.f4 = (float)e.f;
        }
        break;
    case RAW_INT:
        if (v->itemsize < 8 && (b >> (8 * v->itemsize - 1)) & 1)
            b |= ~(uint64_t)0 << (8 * v->itemsize); /* sign-extend */
        memcpy(&e.i, &b, 8);
        break;
    case RAW_UINT: e.u = b; break;
    case RAW_BOOL:
        e.kind = RAW_INT;
        e.i = b != 0;
        break;
    }
    return e;
}

/* "[3]" or "[1, 2]": the C-order position of flat index k in shape. */
static void index_str(size_t k, int ndim, const size_t *shape, char *buf, size_t len)
{
    size_t idx[ARRAY_MAX_DIMS] = {0}, at = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] ? k % shape[d] : 0;
        k = shape[d] ? k / shape[d] : 0;
    }
    at += (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, d ? ", %zu" : "%zu", idx[d]);
    if (at < len) snprintf(buf + at, len - at, "]");
}

static void elem_str(const struct elem *e, char *buf, size_t len)
{
    if (e->kind == RAW_FLOAT)
        snprintf(buf, len, "%.17g", e->f);
    else if (e->kind == RAW_INT)
        snprintf(buf, len, "%lld", (long long)e->i);
    else
        snprintf(buf, len, "%llu", (unsigned long long)e->u);
}

/* Stores e into out[k] as `want`; ERR_INPUT when an int target cannot hold it. */
static int elem_store(const struct elem *e, void *out, size_t k, enum dtype want,
                      const struct raw_view *v, const char *name)
{
    char vs[64], is[96];
    switch (want) {
    case DT_F32:
        /* ints convert directly: int64 -> double -> float would round twice */
        ((float *)out)[k] = e->kind == RAW_FLOAT ? e->f4
                            : e->kind == RAW_INT ? (float)e->i
                                                 : (float)e->u;
        return 0;
    case DT_F64:
        ((double *)out)[k] = e->kind == RAW_FLOAT ? e->f
                             : e->kind == RAW_INT ? (double)e->i
                                                  : (double)e->u;
        return 0;
    default: break;
    }
    int64_t lo = want == DT_I32 ? INT32_MIN : want == DT_I64 ? INT64_MIN : 0;
    int64_t hi = want == DT_I32 ? INT32_MAX : want == DT_I64 ? INT64_MAX : 255;
    int64_t x = 0;
    int ok = 1;
    if (e->kind == RAW_FLOAT) {
        if (!isfinite(e->f) || e->f != floor(e->f)) {
            elem_str(e, vs, sizeof vs);
            index_str(k, v->ndim, v->shape, is, sizeof is);
            return error_set(ERR_INPUT, name, "value %s at %s is not an integer", vs, is);
        }
        /* 2^63 as a double bounds int64; smaller targets compare exactly */
        ok = e->f >= (double)lo && e->f < 9223372036854775808.0 &&
             (want == DT_I64 || e->f <= (double)hi);
        if (ok) x = (int64_t)e->f;
    } else if (e->kind == RAW_INT) {
        ok = e->i >= lo && e->i <= hi;
        x = e->i;
    } else {
        ok = e->u <= (uint64_t)hi;
        x = (int64_t)e->u;
    }
    if (!ok) {
        elem_str(e, vs, sizeof vs);
        index_str(k, v->ndim, v->shape, is, sizeof is);
        return error_set(ERR_INPUT, name, "value %s at %s does not fit %s", vs, is,
                         dtype_name(want));
    }
    if (want == DT_I32)
        ((int32_t *)out)[k] = (int32_t)x;
    else if (want == DT_I64)
        ((int64_t *)out)[k] = x;
    else
        ((uint8_t *)out)[k] = (uint8_t)x;
    return 0;
}

static int host_is_big(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 0;
}

/* The shape of the result for want_ndim, or ERR_INPUT. */
static int result_shape(const struct raw_view *v, int want_ndim, const char *name, int *nd,
                        size_t *shape)
{
    char s[128];
    array_shape_str(v->shape, v->ndim, s, sizeof s);
    if (v->ndim == 0)
        return error_set(ERR_INPUT, name,
                         "0-D array (a single value, shape ()): "
                         "expected a %s",
                         want_ndim == 1 ? "1-D vector" : "2-D matrix");
    if (v->ndim > ARRAY_MAX_DIMS)
        return error_set(ERR_INPUT, name,
                         "%d-D array of shape %s: at most %d "
                         "dimensions are supported",
                         v->ndim, s, ARRAY_MAX_DIMS);
    *nd = v->ndim;
    for (int i = 0; i < v->ndim; i++)
        shape[i] = v->shape[i];
    if (want_ndim == 2 && v->ndim != 2)
        return error_set(ERR_INPUT, name, "expected a 2-D matrix, got shape %s", s);
    if (want_ndim == 1 && v->ndim != 1) {
        if (v->ndim == 2 && (v->shape[0] == 1 || v->shape[1] == 1)) {
            *nd = 1;
            shape[0] = v->shape[0] * v->shape[1];
        } else {
            return error_set(ERR_INPUT, name, "expected a 1-D vector, got shape %s", s);
        }
    }
    return 0;
}

struct array *array_from_raw(const struct raw_view *v, const char *name, enum dtype want,
                             int want_ndim)
{
    int nd;
    size_t shape[ARRAY_MAX_DIMS], count;
    if (result_shape(v, want_ndim, name, &nd, shape) < 0) return NULL;
    if (count_checked(v->ndim, v->shape, name, &count) < 0) return NULL;
    struct array *a = array_new(want, nd, shape);
    if (!a) {
        error_set_path_if_missing(name);
        return NULL;
    }
    int native = v->itemsize == 1 || v->big_endian == host_is_big();
    /* Fast path: the file already holds the working dtype in C order. */
    if (native && (!v->fortran || v->ndim < 2) && v->kind == RAW_FLOAT &&
        ((want == DT_F32 && v->itemsize == 4) || (want == DT_F64 && v->itemsize == 8))) {
        memcpy(a->data, v->data, count * v->itemsize);
        return a;
    }
    if (!v->fortran || v->ndim < 2) {
        for (size_t k = 0; k < count; k++) {
            struct elem e = elem_load(v, v->data + k * v->itemsize);
            if (elem_store(&e, a->data, k, want, v, name) < 0) goto fail;
        }
        return a;
    }
    /* Fortran order: walk the file in its order (first index fastest) and
     * place each element at its C-order offset. */
    size_t cstride[ARRAY_MAX_DIMS], idx[ARRAY_MAX_DIMS] = {0}, off = 0;
    cstride[v->ndim - 1] = 1;
    for (int d = v->ndim - 2; d >= 0; d--)
        cstride[d] = cstride[d + 1] * v->shape[d + 1];
    for (size_t f = 0; f < count; f++) {
        struct elem e = elem_load(v, v->data + f * v->itemsize);
        if (elem_store(&e, a->data, off, want, v, name) < 0) goto fail;
        for (int d = 0; d < v->ndim; d++) {
            off += cstride[d];
            if (++idx[d] < v->shape[d]) break;
            off -= cstride[d] * idx[d];
            idx[d] = 0;
        }
    }
    return a;
fail:
    array_free(a);
    return NULL;
}

/* ---- whole files in memory ---------------------------------------------- */

void filebuf_release(struct filebuf *fb)
{
    if (fb->map_) munmap(fb->map_, fb->len);
    free(fb->heap_);
    *fb = (struct filebuf){0};
}

/* Reads fd to the end into a growing heap buffer (pipes, stdin). */
static int read_all(struct filebuf *fb, int fd, const char *name)
{
    size_t cap = 1 << 16, len = 0, max = limits_get()->max_bytes;
    unsigned char *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap > max / 2) {
                free(buf);
                return error_set(ERR_INPUT, name,
                                 "input is larger than the %.1f MiB allowed "
                                 "(raise it with --max-memory)",
                                 max / 1048576.0);
            }
            cap *= 2;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return error_set(ERR_FAIL, name, "out of memory reading %zu bytes", cap);
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            free(buf);
            return error_set_errno(ERR_FAIL, name, "read failed");
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    fb->heap_ = buf;
    fb->data = buf;
    fb->len = len;
    return 0;
}

int filebuf_load(struct filebuf *fb, const char *path)
{
    *fb = (struct filebuf){0};
    const char *name = input_name(path);
    if (!strcmp(path, "-")) return read_all(fb, STDIN_FILENO, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(errno == EIO ? ERR_FAIL : ERR_INPUT, name, "cannot open");
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = error_set_errno(ERR_FAIL, name, "cannot stat");
    } else if (S_ISDIR(st.st_mode)) {
        rc = error_set(ERR_INPUT, name, "is a directory, not a file");
    } else if (S_ISREG(st.st_mode)) {
        fb->len = (size_t)st.st_size;
        if (fb->len > 0) {
            void *m = mmap(NULL, fb->len, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m == MAP_FAILED) {
                fb->len = 0;
                rc = read_all(fb, fd, name); /* e.g. a file system without mmap */
            } else {
                fb->map_ = m;
                fb->data = m;
            }
        }
    } else {
        rc = read_all(fb, fd, name);
    }
    close(fd);
    return rc;
}

/* ---- array_load ------------------------------------------------------------ */

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static enum array_format format_from_ext(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot) return FMT_AUTO;
    if (!strcasecmp(dot, ".npy")) return FMT_NPY;
    if (!strcasecmp(dot, ".bin")) return FMT_BIN;
    if (!strcasecmp(dot, ".csv")) return FMT_CSV;
    if (!strcasecmp(dot, ".tsv")) return FMT_TSV;
    if (!strcasecmp(dot, ".txt")) return FMT_TXT;
    return FMT_AUTO;
}

struct array *array_load(const char *path, const struct array_opts *opts, enum dtype want)
{
    struct array_opts o = opts ? *opts : array_opts_default();
    const char *name = input_name(path);
    struct filebuf fb;
    struct array *a = NULL;
    if (filebuf_load(&fb, path) < 0) return NULL;
    input_register(path);
    if (fb.len == 0) {
        error_set(ERR_INPUT, name, "empty file");
        goto done;
    }
    enum array_format fmt;
    if (fb.len >= 6 && !memcmp(fb.data, NPY_MAGIC, 6))
        fmt = FMT_NPY;
    else if (o.format != FMT_AUTO)
        fmt = o.format;
    else if (!strcmp(path, "-"))
        fmt = FMT_TXT;
    else
        fmt = format_from_ext(path);
    switch (fmt) {
    case FMT_NPY: a = npy_parse(fb.data, fb.len, name, want, o.want_ndim); break;
    case FMT_BIN: a = bin_parse(fb.data, fb.len, name, o.dim, want, o.want_ndim); break;
    case FMT_CSV:
    case FMT_TSV:
    case FMT_TXT: {
        struct array_opts t = o;
        t.format = fmt;
        a = text_parse(fb.data, fb.len, name, &t, want);
        if (!a) break;
        /* text is always rows x columns: apply want_ndim like the others */
        struct raw_view v = {.ndim = 2, .shape = {a->shape[0], a->shape[1]}};
        int nd;
        size_t shape[ARRAY_MAX_DIMS];
        if (result_shape(&v, o.want_ndim, name, &nd, shape) < 0) {
            array_free(a);
            a = NULL;
        } else if (nd == 1) {
            a->ndim = 1;
            a->shape[0] = shape[0];
            a->shape[1] = 1;
        }
        break;
    }
    case FMT_AUTO:
        error_set(ERR_INPUT, name,
                  "unknown format: not .npy content, and the "
                  "extension is not .npy, .bin, .csv, .tsv or .txt");
        break;
    }
done:
    filebuf_release(&fb);
    return a;
}
