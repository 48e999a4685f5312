/* hdf5.c - the HDF5 reader's front: the superblock, object headers, path
 * resolution through groups (symbol tables, link messages, dense link
 * storage) and attributes. Heaps and B-trees are in hdf5_heap.c, datatypes
 * and dataset reads in hdf5_data.c. Format: HDF5 File Format Specification
 * version 3.0 (https://support.hdfgroup.org/documentation/hdf5/latest/_f_m_t3.html).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hdf5.h"
#include "hdf5_int.h"
#include "util.h"

/* ---- errors, bounds, budget, checksums ------------------------------------ */

int h5_err(struct h5file *f, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *obj = f->obj && *f->obj ? f->obj : "/";
    return error_set(ERR_INPUT, f->name, "HDF5: '%.160s': %s", obj, msg);
}

uint64_t h5_off(const struct h5file *f, uint64_t addr)
{
    return addr == H5_UNDEF ? addr : f->base + addr;
}

const uint8_t *h5_map(struct h5file *f, uint64_t addr, uint64_t n, const char *what)
{
    if (addr == H5_UNDEF) {
        h5_err(f, "%s has an undefined address", what);
        return NULL;
    }
    uint64_t room = f->len - f->base; /* base <= len, checked at open */
    if (addr > room || n > room - addr) {
        h5_err(f, "%s at 0x%llx (%llu bytes) is past the end of the file (%llu bytes)", what,
               (unsigned long long)h5_off(f, addr), (unsigned long long)n,
               (unsigned long long)f->len);
        return NULL;
    }
    return f->buf + f->base + addr;
}

int h5_spend(struct h5file *f, uint64_t n)
{
    if (n > f->work)
        return h5_err(f, "metadata visited exceeds 4 times the file per name on the path: a "
                         "loop in the file's structures, or structures too large for it");
    f->work -= n;
    return 0;
}

/* Bob Jenkins' lookup3 hashlittle (public domain), which HDF5 uses with
 * seed 0 for its metadata checksums; byte by byte, so alignment and host
 * byte order do not matter. */
#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
uint32_t h5_lookup3(const uint8_t *k, size_t n)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)n;
    while (n > 12) {
        a += k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
        b += k[4] | (uint32_t)k[5] << 8 | (uint32_t)k[6] << 16 | (uint32_t)k[7] << 24;
        c += k[8] | (uint32_t)k[9] << 8 | (uint32_t)k[10] << 16 | (uint32_t)k[11] << 24;
        a -= c, a ^= ROT(c, 4), c += b;
        b -= a, b ^= ROT(a, 6), a += c;
        c -= b, c ^= ROT(b, 8), b += a;
        a -= c, a ^= ROT(c, 16), c += b;
        b -= a, b ^= ROT(a, 19), a += c;
        c -= b, c ^= ROT(b, 4), b += a;
        n -= 12, k += 12;
    }
    switch (n) {                         /* the last 1-12 bytes; each case falls through */
    case 12: c += (uint32_t)k[11] << 24; /* fall through */
    case 11: c += (uint32_t)k[10] << 16; /* fall through */
    case 10: c += (uint32_t)k[9] << 8;   /* fall through */
    case 9: c += k[8];                   /* fall through */
    case 8: b += (uint32_t)k[7] << 24;   /* fall through */
    case 7: b += (uint32_t)k[6] << 16;   /* fall through */
    case 6: b += (uint32_t)k[5] << 8;    /* fall through */
    case 5: b += k[4];                   /* fall through */
    case 4: a += (uint32_t)k[3] << 24;   /* fall through */
    case 3: a += (uint32_t)k[2] << 16;   /* fall through */
    case 2: a += (uint32_t)k[1] << 8;    /* fall through */
    case 1: a += k[0]; break;
    case 0: return c;
    }
    c ^= b, c -= ROT(b, 14);
    a ^= c, a -= ROT(c, 11);
    b ^= a, b -= ROT(a, 25);
    c ^= b, c -= ROT(b, 16);
    a ^= c, a -= ROT(c, 4);
    b ^= a, b -= ROT(a, 14);
    c ^= b, c -= ROT(b, 24);
    return c;
}

int h5_checksum(struct h5file *f, const uint8_t *p, size_t n, uint64_t addr, const char *what)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* the fuzzer could not get past a checksum: let it reach the parsers */
    (void)f, (void)p, (void)n, (void)addr, (void)what;
    return 0;
#else
    uint32_t want = (uint32_t)le_u(p + n, 4), got = h5_lookup3(p, n);
    if (want != got)
        return h5_err(f, "%s at 0x%llx: checksum mismatch (stored 0x%08x, computed 0x%08x)",
                      what, (unsigned long long)h5_off(f, addr), want, got);
    return 0;
#endif
}

/* ---- object headers ----------------------------------------------------- */

#define OBJ_MAX_BLOCKS 4096 /* continuation blocks in one header */

struct blocks {
    uint64_t *addr, *len;
    size_t n, cap;
};

static void add_msg(struct h5obj *o, size_t *cap, unsigned type, unsigned flags, uint32_t crt,
                    const uint8_t *p, size_t n, uint64_t addr)
{
    if (o->n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        o->m = xrealloc(o->m, *cap * sizeof *o->m);
    }
    o->m[o->n++] = (struct h5msg){type, flags, crt, p, n, addr};
}

/* A continuation message: queue its block unless already seen (a loop). */
static int add_block(struct h5file *f, struct blocks *b, const uint8_t *p, size_t n,
                     uint64_t at)
{
    struct rd r = rd_make(p, n);
    uint64_t addr = rd_addr(&r, f), len = rd_len(&r, f);
    if (r.err)
        return h5_err(f, "truncated continuation message at 0x%llx",
                      (unsigned long long)h5_off(f, at));
    for (size_t i = 0; i < b->n; i++)
        if (b->addr[i] == addr)
            return h5_err(f, "object header continuation at 0x%llx loops back to 0x%llx",
                          (unsigned long long)h5_off(f, at),
                          (unsigned long long)h5_off(f, addr));
    if (b->n == OBJ_MAX_BLOCKS)
        return h5_err(f, "object header has over %d continuation blocks", OBJ_MAX_BLOCKS);
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 8;
        b->addr = xrealloc(b->addr, b->cap * sizeof *b->addr);
        b->len = xrealloc(b->len, b->cap * sizeof *b->len);
    }
    b->addr[b->n] = addr;
    b->len[b->n++] = len;
    return 0;
}

/* Version 1 messages fill a block: type(2) size(2) flags(1) reserved(3). */
static int obj_v1_block(struct h5file *f, struct h5obj *o, size_t *cap, struct blocks *b,
                        const uint8_t *p, uint64_t len, uint64_t addr)
{
    uint64_t i = 0;
    while (len - i >= 8) {
        unsigned type = (unsigned)le_u(p + i, 2), size = (unsigned)le_u(p + i + 2, 2);
        unsigned flags = p[i + 4];
        if (size > len - i - 8)
            return h5_err(f, "truncated object header message (type %u, %u bytes) at 0x%llx",
                          type, size, (unsigned long long)h5_off(f, addr + i));
        const uint8_t *body = p + i + 8;
        uint64_t at = addr + i + 8;
        if (type == H5M_CONTINUATION) {
            if (add_block(f, b, body, size, at)) return ERR_INPUT;
        } else if (type != 0) {
            add_msg(o, cap, type, flags, 0, body, size, at);
        }
        i += 8 + (uint64_t)size;
    }
    return 0;
}

/* Version 2 messages: type(1) size(2) flags(1) [creation order(2)]; a gap
 * shorter than a message prefix may end a block. */
static int obj_v2_block(struct h5file *f, struct h5obj *o, size_t *cap, struct blocks *b,
                        const uint8_t *p, uint64_t len, uint64_t addr)
{
    unsigned pre = (o->oflags & 0x04) ? 6 : 4;
    uint64_t i = 0;
    while (len - i >= pre) {
        unsigned type = p[i], size = (unsigned)le_u(p + i + 1, 2), flags = p[i + 3];
        uint32_t crt = pre == 6 ? (uint32_t)le_u(p + i + 4, 2) : 0;
        if (size > len - i - pre)
            return h5_err(f, "truncated object header message (type %u, %u bytes) at 0x%llx",
                          type, size, (unsigned long long)h5_off(f, addr + i));
        const uint8_t *body = p + i + pre;
        uint64_t at = addr + i + pre;
        if (type == H5M_CONTINUATION) {
            if (add_block(f, b, body, size, at)) return ERR_INPUT;
        } else if (type != 0) {
            add_msg(o, cap, type, flags, crt, body, size, at);
        }
        i += pre + (uint64_t)size;
    }
    return 0;
}

/* A version 2 header: "OHDR", version, flags, [times], [attribute phase
 * change values], size of chunk 0 (1-8 bytes), messages, checksum; its
 * continuation blocks are "OCHK", messages, checksum. */
static int obj_v2(struct h5file *f, struct h5obj *o, size_t *cap, struct blocks *b)
{
    uint64_t addr = o->addr;
    const uint8_t *p = h5_map(f, addr, 6, "object header");
    if (!p) return ERR_INPUT;
    if (p[4] != 2)
        return h5_err(f, "object header at 0x%llx has version %u (expected 2)",
                      (unsigned long long)h5_off(f, addr), p[4]);
    o->version = 2;
    o->oflags = p[5];
    size_t pre = 6 + ((o->oflags & 0x20) ? 16 : 0) + ((o->oflags & 0x10) ? 4 : 0);
    unsigned szb = 1u << (o->oflags & 3);
    if (!(p = h5_map(f, addr, pre + szb, "object header"))) return ERR_INPUT;
    uint64_t size0 = le_u(p + pre, szb);
    pre += szb;
    if (size0 > f->len || !(p = h5_map(f, addr, pre + size0 + 4, "object header")))
        return size0 > f->len
                   ? h5_err(f, "object header at 0x%llx claims %llu bytes",
                            (unsigned long long)h5_off(f, addr), (unsigned long long)size0)
                   : ERR_INPUT;
    if (h5_spend(f, pre + size0) || h5_checksum(f, p, pre + size0, addr, "object header") ||
        obj_v2_block(f, o, cap, b, p + pre, size0, addr + pre))
        return ERR_INPUT;
    for (size_t k = 0; k < b->n; k++) {
        uint64_t ca = b->addr[k], cl = b->len[k];
        if (cl < 8)
            return h5_err(f, "object header continuation block at 0x%llx of %llu bytes",
                          (unsigned long long)h5_off(f, ca), (unsigned long long)cl);
        if (!(p = h5_map(f, ca, cl, "object header continuation block"))) return ERR_INPUT;
        if (memcmp(p, "OCHK", 4))
            return h5_err(f, "object header continuation block at 0x%llx has no OCHK signature",
                          (unsigned long long)h5_off(f, ca));
        if (h5_spend(f, cl) ||
            h5_checksum(f, p, cl - 4, ca, "object header continuation block") ||
            obj_v2_block(f, o, cap, b, p + 4, cl - 8, ca + 4))
            return ERR_INPUT;
    }
    return 0;
}

/* A version 1 header: version 1, reserved, message count(2), reference
 * count(4), size(4), padding to 16; continuation blocks hold bare messages. */
static int obj_v1(struct h5file *f, struct h5obj *o, size_t *cap, struct blocks *b)
{
    uint64_t addr = o->addr;
    const uint8_t *p = h5_map(f, addr, 16, "object header");
    if (!p) return ERR_INPUT;
    if (p[0] != 1)
        return h5_err(f, "no object header at 0x%llx (version byte %u, no OHDR signature)",
                      (unsigned long long)h5_off(f, addr), p[0]);
    o->version = 1;
    uint64_t size0 = le_u(p + 8, 4);
    if (!(p = h5_map(f, addr + 16, size0, "object header")) || h5_spend(f, 16 + size0) ||
        obj_v1_block(f, o, cap, b, p, size0, addr + 16))
        return ERR_INPUT;
    for (size_t k = 0; k < b->n; k++) {
        uint64_t ca = b->addr[k], cl = b->len[k];
        if (!(p = h5_map(f, ca, cl, "object header continuation block")) || h5_spend(f, cl) ||
            obj_v1_block(f, o, cap, b, p, cl, ca))
            return ERR_INPUT;
    }
    return 0;
}

int h5_obj_read(struct h5file *f, uint64_t addr, struct h5obj *o)
{
    memset(o, 0, sizeof *o);
    o->addr = addr;
    size_t cap = 0;
    struct blocks b = {0};
    const uint8_t *p = h5_map(f, addr, 4, "object header");
    int rc = !p                      ? ERR_INPUT
             : !memcmp(p, "OHDR", 4) ? obj_v2(f, o, &cap, &b)
                                     : obj_v1(f, o, &cap, &b);
    free(b.addr);
    free(b.len);
    if (rc) h5_obj_release(o);
    return rc;
}

void h5_obj_release(struct h5obj *o)
{
    free(o->m);
    o->m = NULL;
    o->n = 0;
}

const struct h5msg *h5_obj_find(const struct h5obj *o, unsigned t)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->m[i].type == t) return &o->m[i];
    return NULL;
}

int h5_shared_resolve(struct h5file *f, const uint8_t *p, size_t n, unsigned t,
                      const uint8_t **body, size_t *body_n)
{
    struct rd r = rd_make(p, n);
    unsigned version = (unsigned)rd_u(&r, 1), type = (unsigned)rd_u(&r, 1);
    if (version == 1)
        rd_skip(&r, 6);
    else if (version == 3 && type == 1)
        return h5_err(f, "a message is stored in the shared-message heap (not supported)");
    else if (version != 2 && !(version == 3 && type == 2))
        return h5_err(f, "shared message of version %u, type %u (not supported)", version,
                      type);
    uint64_t addr = rd_addr(&r, f);
    if (r.err) return h5_err(f, "truncated shared message");
    struct h5obj o;
    if (h5_obj_read(f, addr, &o)) return ERR_INPUT;
    const struct h5msg *m = h5_obj_find(&o, t);
    int rc = 0;
    if (!m || (m->flags & H5_MSG_SHARED))
        rc = h5_err(f, "committed object at 0x%llx has no message of type %u",
                    (unsigned long long)h5_off(f, addr), t);
    else
        *body = m->p, *body_n = m->n;
    h5_obj_release(&o);
    return rc;
}

/* ---- links ------------------------------------------------------------- */

enum { LINK_HARD = 0, LINK_SOFT = 1, LINK_EXTERNAL = 64 };

struct link {
    char *name;
    uint64_t crt;
    int type;
    uint64_t addr; /* hard */
    char *value;   /* soft: the target path */
};

struct links {
    struct link *v;
    size_t n, cap;
    int by_crt;       /* the group tracks creation order */
    const char *want; /* a lookup: only the link called want[0..want_n) */
    size_t want_n;
    uint32_t want_hash; /* its hash in a dense group's name index */
};

static void links_free(struct links *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name), free(l->v[i].value);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static char *dup_n(const uint8_t *p, size_t n)
{
    char *s = xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* Adds a link; in a lookup, only the one wanted, and then returns 1 (stop). */
static int links_add(struct h5file *f, struct links *l, const uint8_t *name, size_t nlen,
                     int type, uint64_t addr, uint64_t crt, const uint8_t *val, size_t vlen)
{
    if (h5_spend(f, 32 + nlen + vlen)) return ERR_INPUT;
    if (l->want && (nlen != l->want_n || memcmp(name, l->want, nlen))) return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] =
        (struct link){dup_n(name, nlen), crt, type, addr, val ? dup_n(val, vlen) : NULL};
    return l->want != NULL;
}

/* A link message (type 6), in an object header or a fractal heap. */
static int link_decode(struct h5file *f, struct links *l, const uint8_t *p, size_t n,
                       uint64_t at)
{
    struct rd r = rd_make(p, n);
    unsigned version = (unsigned)rd_u(&r, 1), flags = (unsigned)rd_u(&r, 1);
    if (!r.err && version != 1)
        return h5_err(f, "link message at 0x%llx has version %u (expected 1)",
                      (unsigned long long)h5_off(f, at), version);
    int type = (flags & 0x08) ? (int)rd_u(&r, 1) : LINK_HARD;
    uint64_t crt = (flags & 0x04) ? rd_u(&r, 8) : 0;
    if (flags & 0x10) rd_skip(&r, 1); /* name character set */
    uint64_t nlen = rd_u(&r, 1u << (flags & 3));
    const uint8_t *name = r.err || nlen > rd_left(&r) ? NULL : rd_ptr(&r, nlen);
    if (!name || nlen == 0)
        return h5_err(f, "link message at 0x%llx: truncated or empty name",
                      (unsigned long long)h5_off(f, at));
    if (memchr(name, 0, nlen) || memchr(name, '/', nlen))
        return h5_err(f, "link message at 0x%llx: name holds a NUL or '/'",
                      (unsigned long long)h5_off(f, at));
    uint64_t addr = H5_UNDEF;
    const uint8_t *val = NULL;
    size_t vlen = 0;
    if (type == LINK_HARD)
        addr = rd_addr(&r, f);
    else if (type == LINK_SOFT || type == LINK_EXTERNAL) {
        vlen = (size_t)rd_u(&r, 2);
        val = rd_ptr(&r, vlen);
        if (val && type == LINK_SOFT && memchr(val, 0, vlen))
            return h5_err(f, "soft link at 0x%llx holds a NUL",
                          (unsigned long long)h5_off(f, at));
    }
    if (r.err)
        return h5_err(f, "truncated link message at 0x%llx", (unsigned long long)h5_off(f, at));
    return links_add(f, l, name, nlen, type, addr, crt, val, vlen);
}

/* Symbol table (old-style) groups: a v1 B-tree of symbol nodes, names in a
 * local heap. */
struct symctx {
    struct links *l;
    const uint8_t *heap;
    uint64_t heap_n;
};

static const uint8_t *heap_str(struct h5file *f, const uint8_t *heap, uint64_t heap_n,
                               uint64_t off, size_t *len)
{
    const uint8_t *end = off < heap_n ? memchr(heap + off, 0, heap_n - off) : NULL;
    if (!end) {
        h5_err(f, "name at offset %llu of the local heap is past its end or not terminated",
               (unsigned long long)off);
        return NULL;
    }
    *len = (size_t)(end - (heap + off));
    return heap + off;
}

static int sym_entry(struct h5file *f, const uint8_t *e, void *ctx)
{
    struct symctx *s = ctx;
    struct rd r = rd_make(e, 2 * f->so + 24);
    uint64_t name_off = rd_len(&r, f), addr = rd_addr(&r, f);
    uint32_t cache = (uint32_t)rd_u(&r, 4);
    rd_skip(&r, 4);
    uint64_t scratch = rd_u(&r, 4);
    size_t nlen, vlen;
    const uint8_t *name = heap_str(f, s->heap, s->heap_n, name_off, &nlen);
    if (!name) return ERR_INPUT;
    if (nlen == 0 || memchr(name, '/', nlen))
        return h5_err(f, "symbol table entry with an empty name or a '/' in it");
    if (cache == 2) { /* a soft link: its value in the heap, at the scratch-pad offset */
        const uint8_t *val = heap_str(f, s->heap, s->heap_n, scratch, &vlen);
        if (!val) return ERR_INPUT;
        return links_add(f, s->l, name, nlen, LINK_SOFT, H5_UNDEF, 0, val, vlen);
    }
    return links_add(f, s->l, name, nlen, LINK_HARD, addr, 0, NULL, 0);
}

/* Dense link storage: link messages in a fractal heap, found through the
 * name index (v2 B-tree type 5: hash(4), heap ID). */
struct densectx {
    struct links *l;
    struct h5fheap heap;
};

static int dense_link(struct h5file *f, const uint8_t *rec, size_t size, void *ctx)
{
    struct densectx *d = ctx;
    const uint8_t *p;
    uint64_t n;
    if (size < 5) return h5_err(f, "link name index record of %zu bytes", size);
    if (d->l->want && le_u(rec, 4) != d->l->want_hash) return 0;
    if (h5_fheap_get(f, &d->heap, rec + 4, size - 4, &p, &n)) return ERR_INPUT;
    return link_decode(f, d->l, p, (size_t)n, d->heap.addr);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct link *)a)->name, ((const struct link *)b)->name);
}

static int cmp_crt(const void *a, const void *b)
{
    uint64_t x = ((const struct link *)a)->crt, y = ((const struct link *)b)->crt;
    return x < y ? -1 : x > y;
}

/* Is this object header a group? */
static int obj_is_group(const struct h5obj *o)
{
    return h5_obj_find(o, H5M_SYMBOL_TABLE) || h5_obj_find(o, H5M_LINK_INFO) ||
           h5_obj_find(o, H5M_LINK);
}

/* Every link of the group whose header is o, sorted as h5py lists them; or,
 * when l->want is set, only the link of that name (l->n is 0 or 1). */
static int group_links(struct h5file *f, const struct h5obj *o, struct links *l)
{
    const char *want = l->want;
    size_t want_n = l->want_n;
    memset(l, 0, sizeof *l);
    l->want = want;
    l->want_n = want_n;
    l->want_hash = want ? h5_lookup3((const uint8_t *)want, want_n) : 0;
    const struct h5msg *st = h5_obj_find(o, H5M_SYMBOL_TABLE);
    const struct h5msg *li = h5_obj_find(o, H5M_LINK_INFO);
    int rc = 0;
    if (st) {
        struct rd r = rd_make(st->p, st->n);
        uint64_t btree = rd_addr(&r, f), heap = rd_addr(&r, f);
        if (r.err) return h5_err(f, "truncated symbol table message");
        struct symctx s = {l, NULL, 0};
        if (h5_lheap(f, heap, &s.heap, &s.heap_n)) return ERR_INPUT;
        rc = h5_bt1_group(f, btree, sym_entry, &s);
    } else {
        uint64_t fheap = H5_UNDEF, names = H5_UNDEF;
        if (li) {
            struct rd r = rd_make(li->p, li->n);
            unsigned version = (unsigned)rd_u(&r, 1), flags = (unsigned)rd_u(&r, 1);
            if (flags & 1) rd_skip(&r, 8);
            fheap = rd_addr(&r, f);
            names = rd_addr(&r, f);
            if (r.err || version != 0)
                return h5_err(f, "truncated link info message, or version %u (expected 0)",
                              version);
            l->by_crt = flags & 1;
        }
        for (size_t i = 0; i < o->n && !rc; i++)
            if (o->m[i].type == H5M_LINK)
                rc = link_decode(f, l, o->m[i].p, o->m[i].n, o->m[i].addr);
        if (!rc && fheap != H5_UNDEF) { /* (rc 1: found among the link messages) */
            struct densectx d = {l, {0}};
            rc = h5_fheap_open(f, fheap, &d.heap);
            if (!rc) rc = h5_bt2_walk(f, names, 5, dense_link, &d);
        }
    }
    if (rc < 0) {
        links_free(l);
        return rc;
    }
    if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, l->by_crt ? cmp_crt : cmp_name);
    return 0;
}

/* ---- paths --------------------------------------------------------------- */

#define SOFT_HOPS 16 /* soft links followed in one lookup */

static int resolve_from(struct h5file *f, uint64_t start, const char *path, int hops,
                        uint64_t *addr);

/* The link called name[0..nlen) in the group at gaddr: 0 with *addr, 1 when
 * absent (or gaddr is not a group), <0 on error. */
static int lookup(struct h5file *f, uint64_t gaddr, const char *name, size_t nlen, int hops,
                  uint64_t *addr)
{
    struct h5obj o;
    if (h5_obj_read(f, gaddr, &o)) return ERR_INPUT;
    if (!obj_is_group(&o)) {
        h5_obj_release(&o);
        return 1;
    }
    struct links l = {.want = name, .want_n = nlen};
    int rc = group_links(f, &o, &l);
    h5_obj_release(&o);
    if (rc) return rc;
    rc = 1;
    for (size_t i = 0; i < l.n; i++) {
        struct link *k = &l.v[i];
        if (k->type == LINK_HARD) {
            *addr = k->addr;
            rc = 0;
        } else if (k->type == LINK_SOFT) {
            if (hops >= SOFT_HOPS)
                rc = h5_err(f, "over %d soft links in a row (a soft link loop?)", SOFT_HOPS);
            else
                rc = resolve_from(f, k->value[0] == '/' ? f->root : gaddr, k->value, hops + 1,
                                  addr);
        } else if (k->type == LINK_EXTERNAL) {
            rc = h5_err(f, "'%.*s' is an external link (to another file; not followed)",
                        (int)(nlen > 80 ? 80 : nlen), name);
        } else {
            rc = h5_err(f, "'%.*s' is a user-defined link of type %d (not supported)",
                        (int)(nlen > 80 ? 80 : nlen), name, k->type);
        }
        break;
    }
    links_free(&l);
    return rc;
}

static int resolve_from(struct h5file *f, uint64_t start, const char *path, int hops,
                        uint64_t *addr)
{
    uint64_t cur = start;
    const char *p = path;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p) break;
        size_t nlen = strcspn(p, "/");
        if (nlen == 1 && p[0] == '.') {
            p += nlen;
            continue;
        }
        int rc = lookup(f, cur, p, nlen, hops, &cur);
        if (rc) return rc;
        p += nlen;
    }
    *addr = cur;
    return 0;
}

/* Starts a public call: the object named in messages, and the budget of
 * metadata bytes it may visit: four times the file for each name on the path
 * (a legitimate call reads each structure once or twice per name; a path may
 * pass through a hard-link cycle again and again). */
static void begin(struct h5file *f, const char *path)
{
    uint64_t names = 1;
    for (const char *p = path; *p; p++)
        names += *p == '/';
    f->work = (4 * f->len + 65536) * names;
    f->obj = path;
}

/* The object header at path: 0, 1 when absent, <0 on error. */
static int open_path(struct h5file *f, const char *path, struct h5obj *o)
{
    uint64_t addr;
    int rc = resolve_from(f, f->root, path, 0, &addr);
    if (rc) return rc;
    return h5_obj_read(f, addr, o);
}

/* As open_path, absent being an error. */
static int need_path(struct h5file *f, const char *path, struct h5obj *o)
{
    int rc = open_path(f, path, o);
    if (rc == 1) rc = h5_err(f, "no such object");
    return rc;
}

/* ---- attributes ------------------------------------------------------------ */

struct attr {
    char *name;
    uint32_t crt;
    const uint8_t *p; /* the attribute message, inside the file */
    size_t n;
    uint64_t addr;
};

struct attrs {
    struct attr *v;
    size_t n, cap;
    int by_crt;
    const char *want; /* a lookup: only the attribute of this name */
    uint32_t want_hash;
};

static void attrs_free(struct attrs *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i].name);
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* An attribute message's parts. */
struct attrmsg {
    const uint8_t *name;
    size_t name_n; /* without the NUL */
    struct h5type type;
    struct h5space space;
    const uint8_t *data;
    size_t data_n;
};

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Decodes an attribute message (versions 1-3); with full = 0 only its name. */
static int attr_decode(struct h5file *f, const uint8_t *p, size_t n, uint64_t at, int full,
                       struct attrmsg *a)
{
    struct rd r = rd_make(p, n);
    unsigned version = (unsigned)rd_u(&r, 1), flags = (unsigned)rd_u(&r, 1);
    size_t nn = (size_t)rd_u(&r, 2), tn = (size_t)rd_u(&r, 2), sn = (size_t)rd_u(&r, 2);
    if (r.err) goto trunc;
    if (version < 1 || version > 3)
        return h5_err(f, "attribute message at 0x%llx has version %u",
                      (unsigned long long)h5_off(f, at), version);
    if (version == 3) rd_skip(&r, 1); /* name encoding */
    int v1 = version == 1;
    a->name = rd_ptr(&r, nn);
    if (v1 && nn) rd_skip(&r, pad8(nn) - nn);
    const uint8_t *tp = rd_ptr(&r, tn);
    if (v1) rd_skip(&r, pad8(tn) - tn);
    const uint8_t *sp = rd_ptr(&r, sn);
    if (v1) rd_skip(&r, pad8(sn) - sn);
    if (r.err || nn == 0) goto trunc;
    /* the stored size counts a terminating NUL; stop at the first one */
    const uint8_t *z = memchr(a->name, 0, nn);
    a->name_n = z ? (size_t)(z - a->name) : nn;
    if (!full) return 0;
    if (v1) flags = 0;
    if (flags & 0x02) return h5_err(f, "attribute with a shared dataspace (not supported)");
    if (h5_type_parse(f, tp, tn, flags & 0x01, &a->type) ||
        h5_space_parse(f, sp, sn, &a->space))
        return ERR_INPUT;
    a->data = p + r.i;
    a->data_n = rd_left(&r);
    return 0;
trunc:
    return h5_err(f, "truncated attribute message at 0x%llx",
                  (unsigned long long)h5_off(f, at));
}

static int attrs_add(struct h5file *f, struct attrs *a, const uint8_t *p, size_t n, uint64_t at,
                     uint32_t crt)
{
    struct attrmsg m;
    if (attr_decode(f, p, n, at, 0, &m) || h5_spend(f, 32 + m.name_n)) return ERR_INPUT;
    if (a->want && (strlen(a->want) != m.name_n || memcmp(a->want, m.name, m.name_n))) return 0;
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 8;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = (struct attr){dup_n(m.name, m.name_n), crt, p, n, at};
    return a->want != NULL; /* found: stop */
}

/* Dense attributes: attribute messages in a fractal heap, through the name
 * index (v2 B-tree type 8: heap ID(8), flags(1), creation order(4), hash(4)). */
struct dattrctx {
    struct attrs *a;
    struct h5fheap heap;
};

static int dense_attr(struct h5file *f, const uint8_t *rec, size_t size, void *ctx)
{
    struct dattrctx *d = ctx;
    if (size != 17)
        return h5_err(f, "attribute name index record of %zu bytes (expected 17)", size);
    if (d->a->want && le_u(rec + 13, 4) != d->a->want_hash) return 0;
    if (rec[8] & H5_MSG_SHARED)
        return h5_err(f, "attribute stored in the shared-message heap (not supported)");
    const uint8_t *p;
    uint64_t n;
    if (h5_fheap_get(f, &d->heap, rec, 8, &p, &n)) return ERR_INPUT;
    return attrs_add(f, d->a, p, (size_t)n, d->heap.addr, (uint32_t)le_u(rec + 9, 4));
}

static int cmp_attr_name(const void *a, const void *b)
{
    return strcmp(((const struct attr *)a)->name, ((const struct attr *)b)->name);
}

static int cmp_attr_crt(const void *a, const void *b)
{
    uint32_t x = ((const struct attr *)a)->crt, y = ((const struct attr *)b)->crt;
    return x < y ? -1 : x > y;
}

/* The attributes of the object whose header is o, sorted as h5py lists them;
 * or, when a->want is set, only the one of that name. */
static int obj_attrs(struct h5file *f, const struct h5obj *o, struct attrs *a)
{
    const char *want = a->want;
    memset(a, 0, sizeof *a);
    a->want = want;
    a->want_hash = want ? h5_lookup3((const uint8_t *)want, strlen(want)) : 0;
    a->by_crt = o->version == 2 && (o->oflags & 0x04);
    int rc = 0;
    for (size_t i = 0; i < o->n && !rc; i++) {
        const struct h5msg *m = &o->m[i];
        if (m->type != H5M_ATTRIBUTE) continue;
        if (m->flags & H5_MSG_SHARED)
            rc = h5_err(f, "attribute stored in the shared-message heap (not supported)");
        else
            rc = attrs_add(f, a, m->p, m->n, m->addr, m->crt);
    }
    const struct h5msg *ai = h5_obj_find(o, H5M_ATTR_INFO);
    if (!rc && ai) {
        struct rd r = rd_make(ai->p, ai->n);
        unsigned version = (unsigned)rd_u(&r, 1), flags = (unsigned)rd_u(&r, 1);
        if (flags & 1) rd_skip(&r, 2);
        uint64_t fheap = rd_addr(&r, f), names = rd_addr(&r, f);
        if (r.err || version != 0)
            rc = h5_err(f, "truncated attribute info message, or version %u (expected 0)",
                        version);
        else if (fheap != H5_UNDEF) {
            struct dattrctx d = {a, {0}};
            rc = h5_fheap_open(f, fheap, &d.heap);
            if (!rc) rc = h5_bt2_walk(f, names, 8, dense_attr, &d);
        }
    }
    if (rc < 0) {
        attrs_free(a);
        return rc;
    }
    if (a->n > 1) qsort(a->v, a->n, sizeof *a->v, a->by_crt ? cmp_attr_crt : cmp_attr_name);
    return 0;
}

/* The attribute called name of the object at path, decoded. */
static int find_attr(struct h5file *f, const char *path, const char *name, struct attrmsg *m)
{
    struct h5obj o;
    int rc = need_path(f, path, &o);
    if (rc) return rc;
    struct attrs a = {.want = name};
    rc = obj_attrs(f, &o, &a);
    h5_obj_release(&o);
    if (rc) return rc;
    rc = h5_err(f, "no attribute '%.80s'", name);
    for (size_t i = 0; i < a.n; i++)
        if (!strcmp(a.v[i].name, name)) {
            rc = attr_decode(f, a.v[i].p, a.v[i].n, a.v[i].addr, 1, m);
            break;
        }
    attrs_free(&a);
    return rc;
}

/* One string element (fixed or variable length) into an owned C string;
 * *budget limits the bytes all strings of one call may take. */
static int string_elem(struct h5file *f, const struct h5type *t, const uint8_t *e,
                       uint64_t *budget, char **out)
{
    const uint8_t *s = e;
    uint64_t n = t->size;
    if (t->cls == H5C_VSTRING) {
        struct rd r = rd_make(e, t->size);
        uint64_t len = rd_u(&r, 4), coll = rd_addr(&r, f);
        uint32_t index = (uint32_t)rd_u(&r, 4);
        if (len == 0)
            n = 0;
        else {
            uint64_t size;
            if (h5_gheap_get(f, coll, index, &s, &size)) return ERR_INPUT;
            if (size < len)
                return h5_err(f,
                              "variable-length string of %llu bytes in a heap object of %llu",
                              (unsigned long long)len, (unsigned long long)size);
            n = len;
        }
        while (n && s[n - 1] == 0)
            n--;
    } else if (t->pad == 0) {
        const uint8_t *z = memchr(s, 0, n);
        if (z) n = (uint64_t)(z - s);
    } else {
        while (n && (s[n - 1] == 0 || (t->pad == 2 && s[n - 1] == ' ')))
            n--;
    }
    if (n + 1 > *budget)
        return h5_err(f, "strings larger than the file (%llu bytes): a loop?",
                      (unsigned long long)f->len);
    *budget -= n + 1;
    *out = dup_n(s, (size_t)n);
    return 0;
}

/* The strings of an attribute: every element, in C order. */
static int attr_strings(struct h5file *f, const char *path, const char *attr, char ***out,
                        size_t *count)
{
    struct attrmsg m;
    int rc = find_attr(f, path, attr, &m);
    if (rc) return rc;
    if (m.type.cls != H5C_STRING && m.type.cls != H5C_VSTRING)
        return h5_err(f, "attribute '%.80s' is %s, not a string", attr,
                      h5_class_name(m.type.raw));
    uint64_t n = m.space.count;
    if (n && m.type.count > UINT64_MAX / n)
        return h5_err(f, "attribute '%.80s' too large", attr);
    n *= m.type.count;
    if (n && (m.type.size == 0 || n > m.data_n / m.type.size))
        return h5_err(f,
                      "attribute '%.80s' holds %llu strings of %u bytes in %zu bytes of data",
                      attr, (unsigned long long)n, m.type.size, m.data_n);
    /* a pointer and a small allocation each: refused before they add up */
    if (n > limits_get()->max_elements || n > limits_get()->max_bytes / 48)
        return h5_err(f,
                      "attribute '%.80s' of %llu strings is over the limits "
                      "(--max-elements, --max-memory)",
                      attr, (unsigned long long)n);
    char **v = n ? xcalloc((size_t)n, sizeof *v) : NULL;
    uint64_t budget = 2 * f->len + 4096;
    for (uint64_t i = 0; i < n; i++)
        if (string_elem(f, &m.type, m.data + i * m.type.size, &budget, &v[i])) {
            for (uint64_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return ERR_INPUT;
        }
    *out = v;
    *count = (size_t)n;
    return 0;
}

/* ---- the public calls ----------------------------------------------------- */

struct h5file *h5_open(const void *buf, size_t len, const char *name)
{
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    struct h5file *f = xcalloc(1, sizeof *f);
    f->buf = buf;
    f->len = len;
    f->name = xstrdup(name ? name : "");
    begin(f, "/");
    uint64_t at = 0;
    while (at + 8 <= len && memcmp(f->buf + at, sig, 8))
        at = at ? 2 * at : 512;
    if (at + 8 > len) {
        h5_err(f, "no HDF5 signature (not an HDF5 file)");
        goto fail;
    }
    f->base = at;
    const uint8_t *p = f->buf + at;
    struct rd r = rd_make(p, len - at);
    rd_skip(&r, 8);
    unsigned version = (unsigned)rd_u(&r, 1);
    uint64_t eof;
    if (version <= 1) {
        rd_skip(&r, 4); /* free-space, root entry, reserved, shared header versions */
        f->so = (unsigned)rd_u(&r, 1);
        f->sl = (unsigned)rd_u(&r, 1);
        rd_skip(&r, 1 + 2 + 2 + 4 + (version == 1 ? 4 : 0));
        if (f->so != 2 && f->so != 4 && f->so != 8) goto bad_sizes;
        if (f->sl != 2 && f->sl != 4 && f->sl != 8) goto bad_sizes;
        rd_addr(&r, f); /* base: addresses are taken relative to the superblock */
        rd_addr(&r, f); /* free space */
        eof = rd_addr(&r, f);
        rd_addr(&r, f); /* driver info */
        rd_len(&r, f);  /* root entry: link name offset */
        f->root = rd_addr(&r, f);
        rd_skip(&r, 24);
        if (r.err) goto trunc;
    } else if (version <= 3) {
        f->so = (unsigned)rd_u(&r, 1);
        f->sl = (unsigned)rd_u(&r, 1);
        rd_skip(&r, 1);
        if (f->so != 2 && f->so != 4 && f->so != 8) goto bad_sizes;
        if (f->sl != 2 && f->sl != 4 && f->sl != 8) goto bad_sizes;
        rd_addr(&r, f); /* base */
        rd_addr(&r, f); /* superblock extension */
        eof = rd_addr(&r, f);
        f->root = rd_addr(&r, f);
        if (r.err || rd_left(&r) < 4) goto trunc;
        if (h5_checksum(f, p, r.i, 0, "superblock")) goto fail;
    } else {
        h5_err(f, "superblock version %u (this reader knows 0-3)", version);
        goto fail;
    }
    /* HDF5 1.10 stores the end of file counting the user block too */
    if (eof != H5_UNDEF && eof > len) {
        h5_err(f, "truncated file: the superblock says %llu bytes, the file has %llu",
               (unsigned long long)eof, (unsigned long long)len);
        goto fail;
    }
    struct h5obj o;
    if (h5_obj_read(f, f->root, &o)) goto fail;
    int group = obj_is_group(&o);
    h5_obj_release(&o);
    if (!group) {
        h5_err(f, "the root object is not a group");
        goto fail;
    }
    f->obj = NULL;
    return f;
bad_sizes:
    h5_err(f, "superblock gives sizes of offsets %u and lengths %u (2, 4 or 8 expected)", f->so,
           f->sl);
    goto fail;
trunc:
    h5_err(f, "truncated superblock at 0x%llx", (unsigned long long)at);
fail:
    h5_close(f);
    return NULL;
}

void h5_close(struct h5file *f)
{
    if (!f) return;
    h5_gheap_drop(f);
    free(f->name);
    free(f);
}

int h5_kind(struct h5file *f, const char *path)
{
    begin(f, path);
    struct h5obj o;
    int rc = open_path(f, path, &o);
    if (rc == 1) return H5_NONE;
    if (rc) return rc;
    int kind = obj_is_group(&o)                      ? H5_GROUP
               : h5_obj_find(&o, H5M_LAYOUT) != NULL ? H5_DATASET
                                                     : H5_OTHER;
    h5_obj_release(&o);
    return kind;
}

int h5_object_addr(struct h5file *f, const char *path, uint64_t *addr)
{
    begin(f, path);
    int rc = resolve_from(f, f->root, path, 0, addr);
    if (rc == 1) rc = h5_err(f, "no such object");
    return rc;
}

int h5_list(struct h5file *f, const char *path, char ***names, size_t *n)
{
    begin(f, path);
    *names = NULL;
    *n = 0;
    struct h5obj o;
    int rc = need_path(f, path, &o);
    if (rc) return rc;
    struct links l = {0};
    if (!obj_is_group(&o))
        rc = h5_err(f, "not a group");
    else
        rc = group_links(f, &o, &l);
    h5_obj_release(&o);
    if (rc) return rc;
    if (l.n) {
        *names = xmalloc(l.n * sizeof **names);
        for (size_t i = 0; i < l.n; i++) {
            (*names)[i] = l.v[i].name;
            l.v[i].name = NULL;
        }
    }
    *n = l.n;
    links_free(&l);
    return 0;
}

int h5_attr_names(struct h5file *f, const char *path, char ***names, size_t *n)
{
    begin(f, path);
    *names = NULL;
    *n = 0;
    struct h5obj o;
    int rc = need_path(f, path, &o);
    if (rc) return rc;
    struct attrs a = {0};
    rc = obj_attrs(f, &o, &a);
    h5_obj_release(&o);
    if (rc) return rc;
    if (a.n) {
        *names = xmalloc(a.n * sizeof **names);
        for (size_t i = 0; i < a.n; i++) {
            (*names)[i] = a.v[i].name;
            a.v[i].name = NULL;
        }
    }
    *n = a.n;
    attrs_free(&a);
    return 0;
}

int h5_attr_string(struct h5file *f, const char *path, const char *attr, char **out)
{
    begin(f, path);
    *out = NULL;
    char **v;
    size_t n;
    int rc = attr_strings(f, path, attr, &v, &n);
    if (rc) return rc;
    if (n != 1) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return h5_err(f, "attribute '%.80s' holds %zu strings, not one", attr, n);
    }
    *out = v[0];
    free(v);
    return 0;
}

int h5_attr_strings(struct h5file *f, const char *path, const char *attr, char ***out,
                    size_t *n)
{
    begin(f, path);
    *out = NULL;
    *n = 0;
    return attr_strings(f, path, attr, out, n);
}

int h5_dataset_shape(struct h5file *f, const char *path, int *ndim, uint64_t dims[H5_MAX_RANK])
{
    begin(f, path);
    struct h5obj o;
    int rc = need_path(f, path, &o);
    if (rc) return rc;
    const struct h5msg *m = h5_obj_find(&o, H5M_DATASPACE);
    struct h5space s;
    if (!h5_obj_find(&o, H5M_LAYOUT) || !m)
        rc = h5_err(f, "not a dataset");
    else if (!(rc = h5_space_parse(f, m->p, m->n, &s))) {
        if (s.null)
            rc = h5_err(f, "dataset has a null dataspace (no data)");
        else if (s.rank > H5_MAX_RANK)
            rc = h5_err(f, "dataset has %d dimensions (at most %d supported)", s.rank,
                        H5_MAX_RANK);
        else {
            *ndim = s.rank;
            for (int i = 0; i < s.rank; i++)
                dims[i] = s.dims[i];
        }
    }
    h5_obj_release(&o);
    return rc;
}

int h5_dataset_read_f32(struct h5file *f, const char *path, float *out, size_t count)
{
    begin(f, path);
    struct h5obj o;
    int rc = need_path(f, path, &o);
    if (rc) return rc;
    if (!h5_obj_find(&o, H5M_LAYOUT))
        rc = h5_err(f, "not a dataset");
    else
        rc = h5_dataset_read(f, &o, out, count);
    h5_obj_release(&o);
    return rc;
}
