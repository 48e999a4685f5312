/* hdf5_data.c - the HDF5 reader's data side: datatypes, dataspaces, the
 * layout, filter pipeline and fill value messages, the chunk indexes (v1
 * B-tree, single chunk, implicit, fixed array, extensible array, v2 B-tree),
 * the deflate/shuffle/fletcher32 filters and the conversion of numbers to
 * float. Inflated output is capped at the chunk's declared size.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "hdf5_int.h"
#include "util.h"

/* ---- datatypes -------------------------------------------------------------- */

const char *h5_class_name(int raw)
{
    static const char *names[] = {
        "an integer",     "a float",    "a time",      "a string", "a bitfield",
        "an opaque type", "a compound", "a reference", "an enum",  "a variable-length sequence",
        "an array"};
    return raw >= 0 && raw <= 10 ? names[raw] : "an unknown class";
}

static int type_parse(struct h5file *f, const uint8_t *p, size_t n, struct h5type *t, int depth)
{
    if (depth > 4) return h5_err(f, "datatype nested over 4 deep");
    if (n < 8) return h5_err(f, "truncated datatype message (%zu bytes)", n);
    unsigned cls = p[0] & 0x0f, version = p[0] >> 4;
    uint32_t bf = (uint32_t)le_u(p + 1, 3), size = (uint32_t)le_u(p + 4, 4);
    const uint8_t *q = p + 8;
    size_t qn = n - 8;
    memset(t, 0, sizeof *t);
    t->raw = (int)cls;
    t->size = size;
    t->count = 1;
    t->cls = H5C_OTHER;
    if (version < 1 || version > 5) return h5_err(f, "datatype message of version %u", version);
    switch (cls) {
    case 0: /* fixed point: byte order bit 0, signed bit 3; offset(2) precision(2) */
        if (qn < 4) return h5_err(f, "truncated integer datatype");
        if (size != 1 && size != 2 && size != 4 && size != 8)
            return h5_err(f, "integer datatype of %u bytes (1, 2, 4 or 8 supported)", size);
        if (le_u(q, 2) != 0 || le_u(q + 2, 2) != 8 * size)
            return h5_err(
                f, "integer datatype with bit offset %u and precision %u (not supported)",
                (unsigned)le_u(q, 2), (unsigned)le_u(q + 2, 2));
        t->cls = H5C_INT, t->be = bf & 1, t->sign = (bf >> 3) & 1;
        return 0;
    case 1: { /* floating point: offset(2) precision(2) exponent location, size,
                 mantissa location, size (1 each), bias(4) */
        if (qn < 12) return h5_err(f, "truncated float datatype");
        if (bf & 0x40) return h5_err(f, "float datatype in VAX byte order (not supported)");
        unsigned esize = q[5], msize = q[7];
        uint32_t bias = (uint32_t)le_u(q + 8, 4);
        int ieee = (size == 2 && esize == 5 && msize == 10 && bias == 15) ||
                   (size == 4 && esize == 8 && msize == 23 && bias == 127) ||
                   (size == 8 && esize == 11 && msize == 52 && bias == 1023);
        if (!ieee || le_u(q, 2) != 0 || le_u(q + 2, 2) != 8 * size || q[6] != 0 ||
            q[4] != msize || ((bf >> 8) & 0xff) != 8 * size - 1)
            return h5_err(f,
                          "float datatype of %u bytes with %u exponent and %u mantissa bits "
                          "is not IEEE half, single or double",
                          size, esize, msize);
        t->cls = H5C_FLOAT, t->be = bf & 1, t->sign = 1;
        return 0;
    }
    case 3: /* string: padding in bits 0-3, character set in bits 4-7 */
        if (size == 0) return h5_err(f, "string datatype of 0 bytes");
        t->cls = H5C_STRING;
        t->pad = (bf & 0x0f) > 2 ? 1 : (int)(bf & 0x0f);
        return 0;
    case 8: { /* enum: the base integer type, then names and values */
        struct h5type base;
        if (type_parse(f, q, qn, &base, depth + 1)) return ERR_INPUT;
        if (base.cls != H5C_INT || base.size != size)
            return h5_err(f, "enum datatype over %s", h5_class_name(base.raw));
        *t = base;
        t->raw = 8;
        return 0;
    }
    case 9: /* variable length: bits 0-3 sequence (0) or string (1) */
        if ((bf & 0x0f) == 1) {
            t->cls = H5C_VSTRING;
            t->size = 4 + f->so + 4;
        }
        return 0;
    case 10: { /* array: rank(1), [reserved(3)], dims(4 each), [permutation(4 each)], base */
        struct rd r = rd_make(q, qn);
        unsigned rank = (unsigned)rd_u(&r, 1);
        if (version < 3) rd_skip(&r, 3);
        uint64_t count = 1;
        for (unsigned i = 0; i < rank; i++) {
            uint64_t d = rd_u(&r, 4);
            if (d && count > UINT32_MAX / d) return h5_err(f, "array datatype too large");
            count *= d;
        }
        if (version < 3) rd_skip(&r, 4 * (size_t)rank);
        if (r.err || rank == 0) return h5_err(f, "truncated or empty array datatype");
        struct h5type base;
        if (type_parse(f, q + r.i, qn - r.i, &base, depth + 1)) return ERR_INPUT;
        if (base.cls != H5C_VSTRING && (uint64_t)base.size * base.count * count != size)
            return h5_err(f, "array datatype of %u bytes over %llu elements of %u", size,
                          (unsigned long long)count, base.size);
        *t = base;
        t->count = base.count * count;
        return 0;
    }
    default: return 0; /* H5C_OTHER: refused by whoever needs the values */
    }
}

int h5_type_parse(struct h5file *f, const uint8_t *p, size_t n, int shared, struct h5type *t)
{
    if (shared && h5_shared_resolve(f, p, n, H5M_DATATYPE, &p, &n)) return ERR_INPUT;
    return type_parse(f, p, n, t, 0);
}

/* ---- dataspaces --------------------------------------------------------------- */

/* Version 1: version, rank, flags, reserved(5), dims(L each), [max dims];
 * version 2: version, rank, flags, type (0 scalar, 1 simple, 2 null), dims, [max dims]. */
int h5_space_parse(struct h5file *f, const uint8_t *p, size_t n, struct h5space *s)
{
    memset(s, 0, sizeof *s);
    struct rd r = rd_make(p, n);
    unsigned version = (unsigned)rd_u(&r, 1), rank = (unsigned)rd_u(&r, 1);
    unsigned flags = (unsigned)rd_u(&r, 1), type = 1;
    if (version == 1)
        rd_skip(&r, 5);
    else if (version == 2)
        type = (unsigned)rd_u(&r, 1);
    else if (!r.err)
        return h5_err(f, "dataspace message of version %u", version);
    if (r.err) return h5_err(f, "truncated dataspace message");
    if (rank > H5_MAX_DIMS) return h5_err(f, "dataspace of rank %u (at most 32)", rank);
    if (type > 2 || (type != 1 && rank))
        return h5_err(f, "dataspace of type %u with rank %u", type, rank);
    s->null = type == 2;
    s->rank = (int)rank;
    s->count = s->null ? 0 : 1;
    for (unsigned i = 0; i < rank; i++)
        s->dims[i] = rd_len(&r, f);
    for (unsigned i = 0; i < rank; i++)
        s->maxdims[i] = (flags & 1) ? rd_len(&r, f) : s->dims[i];
    if (r.err) return h5_err(f, "truncated dataspace message (rank %u)", rank);
    for (unsigned i = 0; i < rank; i++) {
        if (s->dims[i] && s->count > UINT64_MAX / s->dims[i])
            return h5_err(f, "dataspace dimensions overflow 64 bits");
        s->count *= s->dims[i];
        if (s->maxdims[i] < s->dims[i])
            return h5_err(f, "dataspace dimension %u of %llu is over its maximum %llu", i,
                          (unsigned long long)s->dims[i], (unsigned long long)s->maxdims[i]);
    }
    return 0;
}

/* ---- layout, filters, fill value ----------------------------------------------- */

enum { IDX_BT1, IDX_SINGLE, IDX_IMPLICIT, IDX_FARRAY, IDX_EARRAY, IDX_BT2 };

struct layout {
    int cls; /* 0 compact, 1 contiguous, 2 chunked */
    const uint8_t *data;
    uint64_t data_n; /* compact */
    uint64_t addr;   /* contiguous data; chunked: the index */
    uint64_t size;   /* contiguous: bytes (UINT64_MAX when not stored) */
    int nkey;        /* chunked: dimensions stored, rank + 1 (the element size) */
    uint64_t chunk[H5_MAX_DIMS + 1];
    int index;         /* IDX_* */
    unsigned flags;    /* version 4 chunked: bit 0 partial edge chunks unfiltered */
    uint64_t one_size; /* a filtered single chunk: its size and mask */
    uint32_t one_mask;
};

static int layout_parse(struct h5file *f, const struct h5msg *m, struct layout *L)
{
    memset(L, 0, sizeof *L);
    L->size = UINT64_MAX;
    struct rd r = rd_make(m->p, m->n);
    unsigned version = (unsigned)rd_u(&r, 1);
    if (version == 1 || version == 2) {
        unsigned nd = (unsigned)rd_u(&r, 1);
        L->cls = (int)rd_u(&r, 1);
        rd_skip(&r, 5);
        if (L->cls != 0) L->addr = rd_addr(&r, f);
        L->nkey = (int)nd;
        if (nd > H5_MAX_DIMS + 1) return h5_err(f, "layout message of %u dimensions", nd);
        for (unsigned i = 0; i < nd; i++)
            L->chunk[i] = rd_u(&r, 4);
        if (L->cls == 0) {
            L->data_n = rd_u(&r, 4);
            L->data = rd_ptr(&r, L->data_n);
        }
    } else if (version == 3 || version == 4) {
        L->cls = (int)rd_u(&r, 1);
        if (L->cls == 0) {
            L->data_n = rd_u(&r, 2);
            L->data = rd_ptr(&r, L->data_n);
        } else if (L->cls == 1) {
            L->addr = rd_addr(&r, f);
            L->size = rd_len(&r, f);
        } else if (L->cls == 2 && version == 3) {
            L->nkey = (int)rd_u(&r, 1);
            L->addr = rd_addr(&r, f);
            if (L->nkey > H5_MAX_DIMS + 1)
                return h5_err(f, "layout message of %d dimensions", L->nkey);
            for (int i = 0; i < L->nkey; i++)
                L->chunk[i] = rd_u(&r, 4);
        } else if (L->cls == 2) {
            L->flags = (unsigned)rd_u(&r, 1);
            L->nkey = (int)rd_u(&r, 1);
            unsigned enc = (unsigned)rd_u(&r, 1);
            if (L->nkey > H5_MAX_DIMS + 1 || enc < 1 || enc > 8)
                return h5_err(f, "layout message of %d dimensions, %u bytes each", L->nkey,
                              enc);
            for (int i = 0; i < L->nkey; i++)
                L->chunk[i] = rd_u(&r, enc);
            unsigned it = (unsigned)rd_u(&r, 1);
            if (it < 1 || it > 5) return h5_err(f, "chunk index of type %u", it);
            L->index = (int)it;
            if (it == IDX_SINGLE && (L->flags & 2)) {
                L->one_size = rd_len(&r, f);
                L->one_mask = (uint32_t)rd_u(&r, 4);
            } else if (it == IDX_FARRAY)
                rd_skip(&r, 1);
            else if (it == IDX_EARRAY)
                rd_skip(&r, 5);
            else if (it == IDX_BT2)
                rd_skip(&r, 6);
            L->addr = rd_addr(&r, f);
        } else if (L->cls == 3) {
            return h5_err(f, "virtual dataset (not supported)");
        }
    } else if (!r.err) {
        return h5_err(f, "layout message of version %u", version);
    }
    if (r.err)
        return h5_err(f, "truncated layout message at 0x%llx",
                      (unsigned long long)h5_off(f, m->addr));
    if (L->cls < 0 || L->cls > 2) return h5_err(f, "layout of class %d", L->cls);
    if (L->cls == 2 && L->nkey < 2)
        return h5_err(f, "chunked layout of %d dimensions", L->nkey);
    return 0;
}

struct filters {
    int n;
    uint16_t id[32];
    uint32_t cd0[32]; /* the first client value (shuffle: the element size) */
    int has_cd0[32];
    char name[32][24];
};

/* Version 1: version, count, reserved(6), then per filter id(2), name
 * length(2), flags(2), values(2), name padded to 8, values(4 each) padded to
 * 8; version 2 drops the padding, and the name length for ids below 256. */
static int filters_parse(struct h5file *f, const struct h5msg *m, struct filters *F)
{
    memset(F, 0, sizeof *F);
    struct rd r = rd_make(m->p, m->n);
    unsigned version = (unsigned)rd_u(&r, 1), n = (unsigned)rd_u(&r, 1);
    if (version == 1)
        rd_skip(&r, 6);
    else if (version != 2 && !r.err)
        return h5_err(f, "filter pipeline of version %u", version);
    if (n > 32) return h5_err(f, "filter pipeline of %u filters (at most 32)", n);
    for (unsigned i = 0; i < n && !r.err; i++) {
        unsigned id = (unsigned)rd_u(&r, 2);
        unsigned nl = version == 1 || id >= 256 ? (unsigned)rd_u(&r, 2) : 0;
        rd_u(&r, 2); /* flags */
        unsigned nv = (unsigned)rd_u(&r, 2);
        const uint8_t *name = rd_ptr(&r, nl);
        if (version == 1 && nl) rd_skip(&r, ((nl + 7) & ~7u) - nl);
        if (name && nl) {
            size_t k = 0;
            for (; k < nl && k < sizeof F->name[i] - 1 && name[k]; k++)
                F->name[i][k] = (name[k] >= 32 && name[k] < 127) ? (char)name[k] : '?';
            F->name[i][k] = 0;
        }
        if (nv) {
            F->cd0[i] = (uint32_t)le_u(r.p + r.i, rd_left(&r) >= 4 ? 4 : 0);
            F->has_cd0[i] = rd_left(&r) >= 4;
        }
        rd_skip(&r, 4 * (size_t)nv);
        if (version == 1 && (nv & 1)) rd_skip(&r, 4);
        F->id[i] = (uint16_t)id;
        F->n = (int)i + 1;
    }
    if (r.err) return h5_err(f, "truncated filter pipeline message");
    for (int i = 0; i < F->n; i++) {
        unsigned id = F->id[i];
        if (id == 1 || id == 2 || id == 3) continue;
        const char *known = id == 4         ? "szip"
                            : id == 5       ? "nbit"
                            : id == 6       ? "scaleoffset"
                            : id == 32000   ? "lzf"
                            : id == 32001   ? "blosc"
                            : id == 32004   ? "lz4"
                            : id == 32008   ? "bitshuffle"
                            : id == 32015   ? "zstd"
                            : F->name[i][0] ? F->name[i]
                                            : "unknown";
        return h5_err(f,
                      "filter %u (%s) is not supported (deflate, shuffle and fletcher32 are)",
                      id, known);
    }
    return 0;
}

/* The fill value as a float: from the fill value message (versions 1-3) or
 * the old one; 0 when the file defines none. */
static int fill_parse(struct h5file *f, const struct h5obj *o, const struct h5type *t,
                      float *fill);

/* ---- conversion ---------------------------------------------------------------- */

static float half_to_float(uint16_t h)
{
    unsigned e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0    ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : ldexpf((float)(m | 0x400), (int)e - 25);
    return (h & 0x8000) ? -v : v;
}

/* A double rounded to float as IEEE does (and numpy): out of range is inf. */
static float double_to_float(double d)
{
    const double top = FLT_MAX + ldexp(1.0, 103); /* FLT_MAX plus half an ulp */
    if (d >= top) return INFINITY;
    if (d <= -top) return -INFINITY;
    if (d > FLT_MAX) return FLT_MAX;
    if (d < -FLT_MAX) return -FLT_MAX;
    return (float)d;
}

static void convert(const struct h5type *t, const uint8_t *src, float *dst, size_t n)
{
    unsigned sz = t->size;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (t->cls == H5C_FLOAT && sz == 4 && !t->be) {
        memcpy(dst, src, n * 4);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++, src += sz) {
        uint64_t v = 0;
        if (t->be)
            for (unsigned j = 0; j < sz; j++)
                v = v << 8 | src[j];
        else
            for (unsigned j = 0; j < sz; j++)
                v |= (uint64_t)src[j] << (8 * j);
        float x;
        if (t->cls == H5C_FLOAT) {
            if (sz == 4) {
                uint32_t u = (uint32_t)v;
                memcpy(&x, &u, 4);
            } else if (sz == 8) {
                double d;
                memcpy(&d, &v, 8);
                x = double_to_float(d);
            } else {
                x = half_to_float((uint16_t)v);
            }
        } else if (t->sign) {
            unsigned sh = 64 - 8 * sz;
            int64_t s = (int64_t)(v << sh) >> sh; /* sign-extend */
            x = (float)s;
        } else {
            x = (float)v;
        }
        dst[i] = x;
    }
}

static int fill_parse(struct h5file *f, const struct h5obj *o, const struct h5type *t,
                      float *fill)
{
    *fill = 0;
    const struct h5msg *m = h5_obj_find(o, H5M_FILL);
    const uint8_t *v = NULL;
    uint64_t vn = 0;
    if (m) {
        struct rd r = rd_make(m->p, m->n);
        unsigned version = (unsigned)rd_u(&r, 1);
        int have;
        if (version == 1 || version == 2) {
            rd_skip(&r, 2);
            have = rd_u(&r, 1) != 0;
        } else if (version == 3) {
            unsigned flags = (unsigned)rd_u(&r, 1);
            have = (flags & 0x20) && !(flags & 0x10);
        } else {
            return r.err ? h5_err(f, "truncated fill value message")
                         : h5_err(f, "fill value message of version %u", version);
        }
        if (have) {
            vn = rd_u(&r, 4);
            v = rd_ptr(&r, vn);
        }
        if (r.err) return h5_err(f, "truncated fill value message");
    } else if ((m = h5_obj_find(o, H5M_FILL_OLD))) {
        struct rd r = rd_make(m->p, m->n);
        vn = rd_u(&r, 4);
        v = rd_ptr(&r, vn);
        if (r.err) return h5_err(f, "truncated fill value message");
    }
    if (!v || vn == 0) return 0;
    if (vn != t->size)
        return h5_err(f, "fill value of %llu bytes for elements of %u", (unsigned long long)vn,
                      t->size);
    convert(t, v, fill, 1);
    return 0;
}

/* ---- filters ------------------------------------------------------------------- */

/* HDF5's Fletcher-32: over big-endian 16-bit words, an odd last byte as the
 * high half of a word. */
static uint32_t fletcher32(const uint8_t *p, size_t n)
{
    uint32_t s1 = 0, s2 = 0;
    size_t words = n / 2;
    while (words) {
        size_t k = words > 360 ? 360 : words;
        words -= k;
        do {
            s1 += (uint32_t)p[0] << 8 | p[1];
            s2 += s1;
            p += 2;
        } while (--k);
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    if (n & 1) {
        s1 += (uint32_t)p[0] << 8;
        s2 += s1;
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
    return s2 << 16 | s1;
}

/* Inflates src into dst[0..cap): more output than cap is a bomb. */
static int inflate_capped(struct h5file *f, const uint8_t *src, uint64_t n, uint8_t *dst,
                          size_t cap, size_t *out, uint64_t at)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return h5_err(f, "zlib: cannot start inflating");
    int rc = 0, full = 0; /* full: dst is full, a spare byte catches any more output */
    uint8_t spare;
    uint64_t in_left = n;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    for (;;) {
        uInt step = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        z.next_in = (Bytef *)src + (n - in_left);
        z.avail_in = step;
        int zr = inflate(&z, Z_NO_FLUSH);
        in_left -= step - z.avail_in;
        if (zr == Z_STREAM_END && !(full && z.avail_out == 0)) break;
        if (zr == Z_STREAM_END || (z.avail_out == 0 && full)) {
            rc = h5_err(f, "deflated chunk at 0x%llx inflates past its %zu bytes",
                        (unsigned long long)at, cap);
            break;
        }
        if (zr == Z_OK && z.avail_out == 0) { /* only the end of the stream may follow */
            full = 1;
            z.next_out = &spare;
            z.avail_out = 1;
            continue;
        }
        if (zr == Z_OK && (z.avail_in || in_left)) continue;
        rc = h5_err(f, "deflated chunk at 0x%llx is corrupt or truncated (zlib: %s)",
                    (unsigned long long)at, z.msg ? z.msg : "incomplete stream");
        break;
    }
    *out = full ? cap : cap - z.avail_out;
    inflateEnd(&z);
    return rc;
}

/* ---- reading a dataset -------------------------------------------------------- */

struct dread {
    struct h5type t;
    struct h5space s;
    struct layout L;
    struct filters F;
    float *out;
    int rank;
    uint64_t cdim[H5_MAX_DIMS];  /* chunk dims */
    uint64_t ngrid[H5_MAX_DIMS]; /* chunks per dim over the current extent */
    uint64_t
        mgrid[H5_MAX_DIMS]; /* chunks per dim over the maximum extent (UINT64_MAX: unlimited) */
    uint64_t chunk_bytes;
    uint8_t *buf[2];
    size_t cap;
    uint8_t *seen;
    uint64_t nchunks;
};

/* The chunk's bytes after the filters, chunk_bytes of them. */
static const uint8_t *chunk_decode(struct h5file *f, struct dread *d, const uint8_t *raw,
                                   uint64_t n, uint32_t mask, int partial, uint64_t at)
{
    int filtered = d->F.n && !(partial && (d->L.flags & 1));
    const uint8_t *cur = raw;
    size_t cn = n;
    if (filtered) {
        if (!d->buf[0]) {
            int fletchers = 0; /* a Fletcher-32 before deflate adds 4 bytes */
            for (int i = 0; i < d->F.n; i++)
                fletchers += d->F.id[i] == 3;
            d->cap = (size_t)d->chunk_bytes + 4 * (size_t)fletchers;
            if (!(d->buf[0] = big_alloc(d->cap, f->name, "HDF5 chunk buffer")) ||
                !(d->buf[1] = big_alloc(d->cap, f->name, "HDF5 chunk buffer")))
                return NULL;
        }
        int which = 0;
        for (int i = d->F.n - 1; i >= 0; i--) {
            if (mask & (1u << i)) continue;
            uint8_t *dst = d->buf[which];
            if (d->F.id[i] == 1) {
                size_t got = 0;
                if (inflate_capped(f, cur, cn, dst, d->cap, &got, at)) return NULL;
                cur = dst, cn = got, which ^= 1;
            } else if (d->F.id[i] == 2) {
                size_t es = d->F.has_cd0[i] ? d->F.cd0[i] : d->t.size;
                if (cn > d->cap) {
                    h5_err(f, "chunk at 0x%llx of %zu bytes before unshuffling",
                           (unsigned long long)at, cn);
                    return NULL;
                }
                if (es > 1 && es <= cn) {
                    size_t ne = cn / es;
                    for (size_t b = 0; b < es; b++)
                        for (size_t e = 0; e < ne; e++)
                            dst[e * es + b] = cur[b * ne + e];
                    memcpy(dst + ne * es, cur + ne * es, cn - ne * es);
                } else {
                    memcpy(dst, cur, cn);
                }
                cur = dst, which ^= 1;
            } else if (d->F.id[i] == 3) {
                if (cn < 4) {
                    h5_err(f, "chunk at 0x%llx too short for its Fletcher-32 checksum",
                           (unsigned long long)at);
                    return NULL;
                }
                cn -= 4;
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
                uint32_t want = (uint32_t)le_u(cur + cn, 4), got = fletcher32(cur, cn);
                /* files from before HDF5 1.6.1 stored it byte-swapped */
                uint32_t swapped =
                    (got >> 24) | ((got >> 8) & 0xff00) | ((got << 8) & 0xff0000) | (got << 24);
                if (want != got && want != swapped) {
                    h5_err(f, "chunk at 0x%llx: Fletcher-32 checksum mismatch",
                           (unsigned long long)at);
                    return NULL;
                }
#endif
            }
        }
    }
    if (cn < d->chunk_bytes) {
        h5_err(f, "chunk at 0x%llx holds %zu bytes, %llu expected", (unsigned long long)at, cn,
               (unsigned long long)d->chunk_bytes);
        return NULL;
    }
    return cur;
}

/* Places the chunk at grid position scaled[] (its bytes at addr, n of them)
 * into the output; chunks outside the current extent are ignored, one seen
 * twice is an error. */
static int chunk_put(struct h5file *f, struct dread *d, const uint64_t *scaled, uint64_t addr,
                     uint64_t n, uint32_t mask)
{
    uint64_t lin = 0;
    int partial = 0;
    for (int i = 0; i < d->rank; i++) {
        if (scaled[i] >= d->ngrid[i]) return 0;
        lin = lin * d->ngrid[i] + scaled[i];
        if ((scaled[i] + 1) * d->cdim[i] > d->s.dims[i]) partial = 1;
    }
    if (d->seen[lin / 8] & (1u << (lin % 8)))
        return h5_err(f, "chunk %llu is listed twice in the chunk index",
                      (unsigned long long)lin);
    d->seen[lin / 8] |= (uint8_t)(1u << (lin % 8));
    if (addr == H5_UNDEF) return 0;
    if (h5_spend(f, 16)) return ERR_INPUT;
    const uint8_t *raw = h5_map(f, addr, n, "data chunk");
    if (!raw) return ERR_INPUT;
    const uint8_t *c = chunk_decode(f, d, raw, n, mask, partial, h5_off(f, addr));
    if (!c) return error_code() ? error_code() : ERR_INPUT; /* a failed big_alloc: ERR_FAIL */
    /* copy the part inside the dataset, one run along the last dim at a time */
    uint64_t ext[H5_MAX_DIMS], idx[H5_MAX_DIMS] = {0};
    for (int i = 0; i < d->rank; i++) {
        uint64_t start = scaled[i] * d->cdim[i];
        ext[i] = d->s.dims[i] - start < d->cdim[i] ? d->s.dims[i] - start : d->cdim[i];
    }
    int last = d->rank - 1;
    for (;;) {
        uint64_t src = 0, dst = 0;
        for (int i = 0; i < d->rank; i++) {
            uint64_t j = i == last ? 0 : idx[i];
            src = src * d->cdim[i] + j;
            dst = dst * d->s.dims[i] + scaled[i] * d->cdim[i] + j;
        }
        convert(&d->t, c + src * d->t.size, d->out + dst, (size_t)ext[last]);
        int i = last - 1;
        while (i >= 0 && ++idx[i] == ext[i])
            idx[i--] = 0;
        if (i < 0) break;
    }
    return 0;
}

/* The grid position of chunk number k of a linear index (fixed array,
 * implicit: row-major over the maximum grid; extensible array: the same with
 * the unlimited dimension moved first). 0, or 1 when outside the grid. */
static int chunk_unlinear(const struct dread *d, uint64_t k, int unlim, uint64_t *scaled)
{
    for (int i = d->rank - 1; i >= 0; i--) {
        if (i == unlim) continue;
        scaled[i] = k % d->mgrid[i];
        k /= d->mgrid[i];
    }
    if (unlim >= 0)
        scaled[unlim] = k;
    else if (k)
        return 1;
    return 0;
}

/* v1 B-tree: keys hold element offsets. */
static int bt1_chunk(struct h5file *f, uint32_t size, uint32_t mask, const uint64_t *off,
                     uint64_t addr, void *ctx)
{
    struct dread *d = ctx;
    uint64_t scaled[H5_MAX_DIMS];
    for (int i = 0; i < d->rank; i++) {
        if (off[i] % d->cdim[i])
            return h5_err(f, "chunk offset %llu is not a multiple of the chunk size %llu",
                          (unsigned long long)off[i], (unsigned long long)d->cdim[i]);
        scaled[i] = off[i] / d->cdim[i];
    }
    return chunk_put(f, d, scaled, addr, size, mask);
}

/* v2 B-tree records: type 10 address, scaled offsets; type 11 address,
 * size (1-8 bytes), filter mask(4), scaled offsets. */
static int bt2_chunk(struct h5file *f, const uint8_t *rec, size_t size, void *ctx)
{
    struct dread *d = ctx;
    size_t offs = 8 * (size_t)d->rank, head = d->F.n ? f->so + 4 : f->so;
    if (size < head + offs || (d->F.n && size - head - offs > 8) ||
        (!d->F.n && size != head + offs))
        return h5_err(f, "chunk B-tree record of %zu bytes for rank %d", size, d->rank);
    size_t sb = size - head - offs;
    uint64_t scaled[H5_MAX_DIMS], n = d->chunk_bytes;
    uint32_t mask = 0;
    struct rd r = rd_make(rec, size);
    uint64_t addr = rd_addr(&r, f);
    if (d->F.n) {
        n = rd_u(&r, (unsigned)sb);
        mask = (uint32_t)rd_u(&r, 4);
    }
    for (int i = 0; i < d->rank; i++)
        scaled[i] = rd_u(&r, 8);
    return chunk_put(f, d, scaled, addr, n, mask);
}

/* One chunk address entry of a fixed or extensible array: address, and for
 * filtered chunks size and filter mask. */
static int array_entry(struct h5file *f, struct dread *d, const uint8_t *e, unsigned esize,
                       int filtered, uint64_t k, int unlim)
{
    struct rd r = rd_make(e, esize);
    uint64_t addr = rd_addr(&r, f), n = d->chunk_bytes;
    uint32_t mask = 0;
    if (filtered) {
        n = rd_u(&r, esize - f->so - 4);
        mask = (uint32_t)rd_u(&r, 4);
    }
    uint64_t scaled[H5_MAX_DIMS];
    if (chunk_unlinear(d, k, unlim, scaled)) return 0;
    return chunk_put(f, d, scaled, addr, n, mask);
}

static int array_check_esize(struct h5file *f, unsigned esize, int filtered)
{
    if (filtered ? esize <= f->so + 4u || esize > f->so + 12u : esize != f->so)
        return h5_err(f, "chunk array entries of %u bytes", esize);
    return 0;
}

static int bit_get(const uint8_t *map, uint64_t i)
{
    return (map[i / 8] >> (7 - i % 8)) & 1;
}

/* Fixed array: header "FAHD" (version, client, entry size, page bits, entry
 * count(L), data block address), data block "FADB" (version, client, header
 * address, [page bitmap], entries or pages of entries, each page with its
 * checksum). */
static int farray_walk(struct h5file *f, struct dread *d)
{
    size_t hs = 8 + f->sl + f->so;
    const uint8_t *p = h5_map(f, d->L.addr, hs + 4, "fixed array header");
    if (!p || h5_spend(f, hs)) return ERR_INPUT;
    if (memcmp(p, "FAHD", 4) || p[4] != 0)
        return h5_err(f, "no fixed array header (FAHD) at 0x%llx",
                      (unsigned long long)h5_off(f, d->L.addr));
    if (h5_checksum(f, p, hs, d->L.addr, "fixed array header")) return ERR_INPUT;
    int filtered = p[5] == 1;
    unsigned esize = p[6], page_bits = p[7];
    struct rd r = rd_make(p + 8, f->sl + f->so);
    uint64_t n = rd_len(&r, f), daddr = rd_addr(&r, f);
    if (array_check_esize(f, esize, filtered)) return ERR_INPUT;
    if (page_bits > 32 || n > f->len / esize)
        return h5_err(f, "fixed array of %llu entries, %u page bits", (unsigned long long)n,
                      page_bits);
    if (daddr == H5_UNDEF) return 0;
    uint64_t page_n = UINT64_C(1) << page_bits,
             npages = n > page_n ? (n + page_n - 1) / page_n : 0;
    uint64_t dh = 6 + f->so, bm = (npages + 7) / 8, body = npages ? bm : n * esize;
    const uint8_t *b = h5_map(f, daddr, dh + body + 4, "fixed array data block");
    if (!b || h5_spend(f, dh + body)) return ERR_INPUT;
    if (memcmp(b, "FADB", 4) || b[4] != 0 || le_u(b + 6, f->so) != d->L.addr)
        return h5_err(f, "no fixed array data block (FADB) at 0x%llx",
                      (unsigned long long)h5_off(f, daddr));
    if (h5_checksum(f, b, dh + body, daddr, "fixed array data block")) return ERR_INPUT;
    if (!npages) {
        for (uint64_t k = 0; k < n; k++)
            if (array_entry(f, d, b + dh + k * esize, esize, filtered, k, -1)) return ERR_INPUT;
        return 0;
    }
    uint64_t at = daddr + dh + bm + 4;
    for (uint64_t pg = 0; pg < npages; pg++) {
        uint64_t cnt = pg + 1 < npages ? page_n : n - pg * page_n, ps = cnt * esize;
        if (bit_get(b + dh, pg)) {
            const uint8_t *q = h5_map(f, at, ps + 4, "fixed array page");
            if (!q || h5_spend(f, ps) || h5_checksum(f, q, ps, at, "fixed array page"))
                return ERR_INPUT;
            for (uint64_t k = 0; k < cnt; k++)
                if (array_entry(f, d, q + k * esize, esize, filtered, pg * page_n + k, -1))
                    return ERR_INPUT;
        }
        at += ps + 4;
    }
    return 0;
}

/* Extensible array ("EAHD" header, "EAIB" index block, "EASB" secondary
 * blocks, "EADB" data blocks): elements in the index block first, then data
 * blocks of doubling sizes, grouped in super blocks (HDF5's H5EA scheme). */
struct earray {
    unsigned esize, max_bits, iblk_n, dblk_min, sblk_min_ptrs, page_bits, off_bytes;
    int filtered, unlim;
    uint64_t hdr;
};

static int earray_dblock(struct h5file *f, struct dread *d, const struct earray *ea,
                         uint64_t addr, uint64_t nelem, uint64_t first,
                         const uint8_t *page_init)
{
    if (addr == H5_UNDEF) return 0;
    uint64_t dh = 6 + f->so + ea->off_bytes;
    uint64_t page_n = UINT64_C(1) << ea->page_bits;
    int paged = nelem > page_n;
    uint64_t body = paged ? 0 : nelem * ea->esize;
    const uint8_t *b = h5_map(f, addr, dh + body + 4, "extensible array data block");
    if (!b || h5_spend(f, dh + body)) return ERR_INPUT;
    if (memcmp(b, "EADB", 4) || b[4] != 0 || le_u(b + 6, f->so) != ea->hdr)
        return h5_err(f, "no extensible array data block (EADB) at 0x%llx",
                      (unsigned long long)h5_off(f, addr));
    if (h5_checksum(f, b, dh + body, addr, "extensible array data block")) return ERR_INPUT;
    if (!paged) {
        for (uint64_t k = 0; k < nelem; k++)
            if (array_entry(f, d, b + dh + k * ea->esize, ea->esize, ea->filtered, first + k,
                            ea->unlim))
                return ERR_INPUT;
        return 0;
    }
    uint64_t at = addr + dh + 4, ps = page_n * ea->esize;
    for (uint64_t pg = 0; pg < nelem / page_n; pg++, at += ps + 4) {
        if (page_init && !bit_get(page_init, pg)) continue;
        const uint8_t *q = h5_map(f, at, ps + 4, "extensible array page");
        if (!q || h5_spend(f, ps) || h5_checksum(f, q, ps, at, "extensible array page"))
            return ERR_INPUT;
        for (uint64_t k = 0; k < page_n; k++)
            if (array_entry(f, d, q + k * ea->esize, ea->esize, ea->filtered,
                            first + pg * page_n + k, ea->unlim))
                return ERR_INPUT;
    }
    return 0;
}

static int earray_walk(struct h5file *f, struct dread *d)
{
    size_t hs = 12 + 6 * (size_t)f->sl + f->so;
    const uint8_t *p = h5_map(f, d->L.addr, hs + 4, "extensible array header");
    if (!p || h5_spend(f, hs)) return ERR_INPUT;
    if (memcmp(p, "EAHD", 4) || p[4] != 0)
        return h5_err(f, "no extensible array header (EAHD) at 0x%llx",
                      (unsigned long long)h5_off(f, d->L.addr));
    if (h5_checksum(f, p, hs, d->L.addr, "extensible array header")) return ERR_INPUT;
    struct earray ea = {p[6], p[7], p[8], p[9], p[10], p[11], 0, p[5] == 1, -1, d->L.addr};
    for (int i = 0; i < d->rank; i++)
        if (d->s.maxdims[i] == UINT64_MAX) {
            if (ea.unlim >= 0) return h5_err(f, "extensible array index, 2 unlimited dims");
            ea.unlim = i;
        }
    if (ea.unlim < 0) return h5_err(f, "extensible array index without an unlimited dimension");
    uint64_t iaddr = le_u(p + 12 + 6 * (size_t)f->sl, f->so);
    if (f->so < 8 && iaddr == (UINT64_C(1) << (8 * f->so)) - 1) iaddr = H5_UNDEF;
    if (array_check_esize(f, ea.esize, ea.filtered)) return ERR_INPUT;
    unsigned min_bits = 0;
    while (min_bits < 32 && (1u << min_bits) < ea.dblk_min)
        min_bits++;
    unsigned ptr_bits = 0;
    while (ptr_bits < 32 && (1u << ptr_bits) < ea.sblk_min_ptrs)
        ptr_bits++;
    if (ea.max_bits == 0 || ea.max_bits > 64 || ea.dblk_min == 0 ||
        (1u << min_bits) != ea.dblk_min || ea.sblk_min_ptrs == 0 ||
        (1u << ptr_bits) != ea.sblk_min_ptrs || min_bits > ea.max_bits || ea.page_bits > 32)
        return h5_err(f, "extensible array with impossible parameters");
    ea.off_bytes = (ea.max_bits + 7) / 8;
    if (iaddr == H5_UNDEF) return 0;
    unsigned nsblks = 1 + ea.max_bits - min_bits, iblk_sblks = 2 * ptr_bits;
    if (iblk_sblks > nsblks) iblk_sblks = nsblks;
    uint64_t ndaddr = 2 * ((uint64_t)ea.sblk_min_ptrs - 1), nsaddr = nsblks - iblk_sblks;
    uint64_t is = 6 + f->so + ea.iblk_n * ea.esize + (ndaddr + nsaddr) * f->so;
    const uint8_t *b = h5_map(f, iaddr, is + 4, "extensible array index block");
    if (!b || h5_spend(f, is)) return ERR_INPUT;
    if (memcmp(b, "EAIB", 4) || b[4] != 0 || le_u(b + 6, f->so) != d->L.addr)
        return h5_err(f, "no extensible array index block (EAIB) at 0x%llx",
                      (unsigned long long)h5_off(f, iaddr));
    if (h5_checksum(f, b, is, iaddr, "extensible array index block")) return ERR_INPUT;
    const uint8_t *e = b + 6 + f->so;
    for (uint64_t k = 0; k < ea.iblk_n; k++)
        if (array_entry(f, d, e + k * ea.esize, ea.esize, ea.filtered, k, ea.unlim))
            return ERR_INPUT;
    const uint8_t *da = e + ea.iblk_n * ea.esize, *sa = da + ndaddr * f->so;
    uint64_t first = ea.iblk_n, dblk = 0;
    for (unsigned u = 0; u < nsblks; u++) {
        uint64_t nd = UINT64_C(1) << (u / 2), ne = ((uint64_t)1 << ((u + 1) / 2)) * ea.dblk_min;
        if (u < iblk_sblks) {
            for (uint64_t j = 0; j < nd; j++, dblk++, first += ne) {
                struct rd r = rd_make(da + dblk * f->so, f->so);
                if (dblk >= ndaddr) return h5_err(f, "extensible array index block overflow");
                if (earray_dblock(f, d, &ea, rd_addr(&r, f), ne, first, NULL)) return ERR_INPUT;
            }
            continue;
        }
        struct rd r = rd_make(sa + (u - iblk_sblks) * f->so, f->so);
        uint64_t saddr = rd_addr(&r, f);
        if (saddr == H5_UNDEF) break; /* super blocks are allocated in order */
        uint64_t page_n = UINT64_C(1) << ea.page_bits;
        uint64_t npages = ne > page_n ? ne / page_n : 0,
                 bm = npages ? (nd * npages + 7) / 8 : 0;
        uint64_t sh = 6 + f->so + ea.off_bytes, ss = sh + bm + nd * f->so;
        const uint8_t *s = h5_map(f, saddr, ss + 4, "extensible array secondary block");
        if (!s || h5_spend(f, ss)) return ERR_INPUT;
        if (memcmp(s, "EASB", 4) || s[4] != 0 || le_u(s + 6, f->so) != d->L.addr)
            return h5_err(f, "no extensible array secondary block (EASB) at 0x%llx",
                          (unsigned long long)h5_off(f, saddr));
        if (h5_checksum(f, s, ss, saddr, "extensible array secondary block")) return ERR_INPUT;
        for (uint64_t j = 0; j < nd; j++, first += ne) {
            struct rd q = rd_make(s + sh + bm + j * f->so, f->so);
            uint8_t init[64];
            const uint8_t *pi = NULL;
            if (npages) { /* this data block's page bits, realigned to bit 0 */
                if (npages > 8 * sizeof init)
                    return h5_err(f, "extensible array of many pages");
                memset(init, 0, sizeof init);
                for (uint64_t pg = 0; pg < npages; pg++)
                    if (bit_get(s + sh, j * npages + pg))
                        init[pg / 8] |= (uint8_t)(0x80 >> (pg % 8));
                pi = init;
            }
            if (earray_dblock(f, d, &ea, rd_addr(&q, f), ne, first, pi)) return ERR_INPUT;
        }
        if (first > d->nchunks * 2 + (UINT64_C(1) << 20)) break; /* past any chunk there is */
    }
    return 0;
}

static int read_chunked(struct h5file *f, struct dread *d)
{
    const struct layout *L = &d->L;
    d->rank = d->s.rank;
    if (d->rank == 0 || L->nkey != d->rank + 1)
        return h5_err(f, "chunked layout of %d dimensions for a dataspace of rank %d",
                      L->nkey - 1, d->rank);
    if (L->chunk[d->rank] != d->t.size)
        return h5_err(f, "chunked layout for elements of %llu bytes, the type has %u",
                      (unsigned long long)L->chunk[d->rank], d->t.size);
    uint64_t bytes = d->t.size, n = 1;
    for (int i = 0; i < d->rank; i++) {
        uint64_t c = L->chunk[i];
        if (c == 0) return h5_err(f, "chunk dimension %d is 0", i);
        if (bytes > UINT32_MAX / c) return h5_err(f, "chunks of over 4 GiB (HDF5's own limit)");
        bytes *= c;
        d->cdim[i] = c;
        d->ngrid[i] = d->s.dims[i] / c + (d->s.dims[i] % c != 0);
        d->mgrid[i] = d->s.maxdims[i] == UINT64_MAX
                          ? UINT64_MAX
                          : d->s.maxdims[i] / c + (d->s.maxdims[i] % c != 0);
        n *= d->ngrid[i]; /* <= elements: no overflow */
    }
    d->chunk_bytes = bytes;
    d->nchunks = n;
    if (bytes > limits_get()->max_bytes)
        return h5_err(f, "chunks of %llu bytes are over the memory limit (--max-memory)",
                      (unsigned long long)bytes);
    if (n == 0 || L->addr == H5_UNDEF) return 0; /* nothing written: all fill */
    d->seen = big_calloc((size_t)(n / 8 + 1), f->name, "HDF5 chunk map");
    if (!d->seen) return error_code(); /* big_calloc recorded why */
    switch (L->index) {
    case IDX_BT1: return h5_bt1_chunks(f, L->addr, L->nkey, bt1_chunk, d);
    case IDX_SINGLE: {
        uint64_t zero[H5_MAX_DIMS] = {0};
        if (n != 1)
            return h5_err(f, "single-chunk index for %llu chunks", (unsigned long long)n);
        return chunk_put(f, d, zero, L->addr, (L->flags & 2) ? L->one_size : bytes,
                         (L->flags & 2) ? L->one_mask : 0);
    }
    case IDX_IMPLICIT: {
        if (d->F.n) return h5_err(f, "implicit chunk index with filters");
        uint64_t scaled[H5_MAX_DIMS] = {0};
        for (uint64_t c = 0; c < n; c++) {
            uint64_t k = 0, rem = c;
            for (int i = d->rank - 1; i >= 0; i--) {
                scaled[i] = rem % d->ngrid[i];
                rem /= d->ngrid[i];
            }
            for (int i = 0; i < d->rank; i++) {
                if (d->mgrid[i] == UINT64_MAX)
                    return h5_err(f, "implicit index, unlimited dims");
                if (k > UINT64_MAX / d->mgrid[i]) return h5_err(f, "implicit index overflows");
                k = k * d->mgrid[i] + scaled[i];
            }
            if (k > (UINT64_MAX - L->addr) / bytes)
                return h5_err(f, "implicit index overflows");
            if (chunk_put(f, d, scaled, L->addr + k * bytes, bytes, 0)) return ERR_INPUT;
        }
        return 0;
    }
    case IDX_FARRAY:
        for (int i = 0; i < d->rank; i++)
            if (d->mgrid[i] == UINT64_MAX)
                return h5_err(f, "fixed array index, unlimited dims");
        return farray_walk(f, d);
    case IDX_EARRAY: return earray_walk(f, d);
    case IDX_BT2: return h5_bt2_walk(f, L->addr, d->F.n ? 11 : 10, bt2_chunk, d);
    }
    return h5_err(f, "chunk index of type %d", L->index);
}

int h5_dataset_read(struct h5file *f, const struct h5obj *o, float *out, size_t count)
{
    struct dread d;
    memset(&d, 0, sizeof d);
    d.out = out;
    const struct h5msg *ms = h5_obj_find(o, H5M_DATASPACE), *mt = h5_obj_find(o, H5M_DATATYPE);
    const struct h5msg *ml = h5_obj_find(o, H5M_LAYOUT), *mf = h5_obj_find(o, H5M_FILTERS);
    if (!ms || !mt || !ml) return h5_err(f, "dataset without a dataspace, datatype or layout");
    if (h5_obj_find(o, H5M_EXTERNAL))
        return h5_err(f, "data in external files (not supported)");
    if (h5_space_parse(f, ms->p, ms->n, &d.s) ||
        h5_type_parse(f, mt->p, mt->n, mt->flags & H5_MSG_SHARED, &d.t) ||
        layout_parse(f, ml, &d.L) || (mf && filters_parse(f, mf, &d.F)))
        return ERR_INPUT;
    if ((d.t.cls != H5C_INT && d.t.cls != H5C_FLOAT) || d.t.count != 1)
        return h5_err(f, "dataset of %s, not numbers",
                      d.t.count != 1 ? "an array type" : h5_class_name(d.t.raw));
    if (d.s.count != count)
        return h5_err(f, "dataset has %llu elements, %zu asked for",
                      (unsigned long long)d.s.count, count);
    if (d.s.count > limits_get()->max_elements)
        return h5_err(f, "dataset of %llu elements is over the limit of %llu (--max-elements)",
                      (unsigned long long)d.s.count,
                      (unsigned long long)limits_get()->max_elements);
    if (d.s.count > UINT64_MAX / d.t.size) return h5_err(f, "dataset too large");
    uint64_t need = d.s.count * d.t.size;
    float fill;
    if (fill_parse(f, o, &d.t, &fill)) return ERR_INPUT;
    if (d.L.cls == 0) {
        if (d.L.data_n < need)
            return h5_err(f, "compact data of %llu bytes, %llu needed",
                          (unsigned long long)d.L.data_n, (unsigned long long)need);
        convert(&d.t, d.L.data, out, count);
        return 0;
    }
    if (d.L.cls == 1) {
        if (d.L.addr == H5_UNDEF) {
            for (size_t i = 0; i < count; i++)
                out[i] = fill;
            return 0;
        }
        if (d.L.size != UINT64_MAX && d.L.size < need)
            return h5_err(f, "contiguous data of %llu bytes, %llu needed",
                          (unsigned long long)d.L.size, (unsigned long long)need);
        const uint8_t *p = h5_map(f, d.L.addr, need, "contiguous data");
        if (!p) return ERR_INPUT;
        convert(&d.t, p, out, count);
        return 0;
    }
    for (size_t i = 0; i < count; i++)
        out[i] = fill;
    int rc = read_chunked(f, &d);
    free(d.buf[0]);
    free(d.buf[1]);
    free(d.seen);
    return rc;
}
