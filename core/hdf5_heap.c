/* hdf5_heap.c - the HDF5 reader's heaps and B-trees: local heaps (group
 * names), the global heap (variable-length strings), fractal heaps (dense
 * links and attributes), version 1 B-trees (groups, chunks) and version 2
 * B-trees (dense name indexes, chunks). Each node visited is charged to the
 * call's work budget and checked to be the kind and level expected.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hdf5_int.h"
#include "util.h"

#define BT_MAX_LEVEL 32 /* B-tree depth; a real tree with this many levels would not fit */

static unsigned log2_floor(uint64_t x)
{
    unsigned r = 0;
    while (x >>= 1)
        r++;
    return r;
}

static int is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* Bytes that hold any value up to x (HDF5's H5VM_limit_enc_size). */
static unsigned enc_size(uint64_t x)
{
    unsigned n = log2_floor(x) / 8 + 1;
    return n > 8 ? 8 : n;
}

/* ---- the nodes a walk has visited ---------------------------------------------- */

/* A set of node addresses: a tree whose nodes are reached twice is a loop or a
 * DAG that would multiply the work, refused at the second visit. */
struct seen {
    uint64_t *v; /* open addressing; H5_UNDEF marks a free slot */
    size_t cap, n;
};

static void seen_release(struct seen *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static size_t seen_slot(const struct seen *s, uint64_t a)
{
    size_t i = (size_t)((a * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (s->cap - 1);
    while (s->v[i] != H5_UNDEF && s->v[i] != a)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static int seen_add(struct h5file *f, struct seen *s, uint64_t a, const char *what)
{
    if (2 * (s->n + 1) > s->cap) {
        struct seen t = {xmalloc((s->cap ? 2 * s->cap : 64) * sizeof *t.v),
                         s->cap ? 2 * s->cap : 64, 0};
        for (size_t i = 0; i < t.cap; i++)
            t.v[i] = H5_UNDEF;
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i] != H5_UNDEF) t.v[seen_slot(&t, s->v[i])] = s->v[i], t.n++;
        free(s->v);
        *s = t;
    }
    size_t i = seen_slot(s, a);
    if (s->v[i] == a)
        return h5_err(f, "%s at 0x%llx is reached twice (a loop in the file)", what,
                      (unsigned long long)h5_off(f, a));
    s->v[i] = a;
    s->n++;
    return 0;
}

/* ---- local heap ------------------------------------------------------------ */

/* "HEAP", version 0, reserved(3), data size(L), free list offset(L), data address(O). */
int h5_lheap(struct h5file *f, uint64_t addr, const uint8_t **data, uint64_t *size)
{
    const uint8_t *p = h5_map(f, addr, 8 + 2 * f->sl + f->so, "local heap");
    if (!p) return ERR_INPUT;
    if (memcmp(p, "HEAP", 4) || p[4] != 0)
        return h5_err(f, "no local heap (HEAP, version 0) at 0x%llx",
                      (unsigned long long)h5_off(f, addr));
    struct rd r = rd_make(p + 8, 2 * f->sl + f->so);
    uint64_t n = rd_len(&r, f);
    rd_len(&r, f);
    uint64_t daddr = rd_addr(&r, f);
    if (!(*data = h5_map(f, daddr, n, "local heap data")) || h5_spend(f, 64)) return ERR_INPUT;
    *size = n;
    return 0;
}

/* ---- global heap ------------------------------------------------------------ */

struct h5gobj {
    uint32_t index;
    uint64_t off, size;
};

void h5_gheap_drop(struct h5file *f)
{
    free(f->gc);
    f->gc = NULL;
    f->gc_n = 0;
    f->gc_addr = H5_UNDEF;
}

static int cmp_gobj(const void *a, const void *b)
{
    uint32_t x = ((const struct h5gobj *)a)->index, y = ((const struct h5gobj *)b)->index;
    return x < y ? -1 : x > y;
}

/* "GCOL", version 1, reserved(3), collection size(L), then objects: index(2),
 * reference count(2), reserved(4), size(L), data; the two headers and each
 * object's data are padded to 8 bytes; index 0 is the free space at the end.
 * Parsed once per collection and kept. */
static int gheap_parse(struct h5file *f, uint64_t coll)
{
    h5_gheap_drop(f);
    unsigned hl = (8 + f->sl + 7) & ~7u;
    const uint8_t *p = h5_map(f, coll, hl, "global heap collection");
    if (!p) return ERR_INPUT;
    if (memcmp(p, "GCOL", 4) || p[4] != 1)
        return h5_err(f, "no global heap collection (GCOL, version 1) at 0x%llx",
                      (unsigned long long)h5_off(f, coll));
    uint64_t size = le_u(p + 8, f->sl);
    if (size < hl || !(p = h5_map(f, coll, size, "global heap collection")) ||
        h5_spend(f, size))
        return size < hl ? h5_err(f, "global heap collection at 0x%llx of %llu bytes",
                                  (unsigned long long)h5_off(f, coll), (unsigned long long)size)
                         : ERR_INPUT;
    size_t cap = 0, n = 0;
    struct h5gobj *v = NULL;
    uint64_t i = hl;
    while (size - i >= hl) {
        uint32_t index = (uint32_t)le_u(p + i, 2);
        uint64_t osize = le_u(p + i + 8, f->sl);
        if (index == 0) break;
        if (osize > size - i - hl) {
            free(v);
            return h5_err(f, "global heap object %u at 0x%llx runs past its collection", index,
                          (unsigned long long)h5_off(f, coll + i));
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[n++] = (struct h5gobj){index, i + hl, osize};
        uint64_t step = hl + ((osize + 7) & ~(uint64_t)7);
        if (step > size - i) break;
        i += step;
    }
    if (n > 1) qsort(v, n, sizeof *v, cmp_gobj);
    f->gc = v;
    f->gc_n = n;
    f->gc_addr = coll;
    return 0;
}

int h5_gheap_get(struct h5file *f, uint64_t coll, uint32_t index, const uint8_t **p,
                 uint64_t *n)
{
    if ((f->gc_addr != coll || !f->gc) && gheap_parse(f, coll)) return ERR_INPUT;
    struct h5gobj key = {index, 0, 0};
    const struct h5gobj *o =
        f->gc_n ? bsearch(&key, f->gc, f->gc_n, sizeof key, cmp_gobj) : NULL;
    if (!o)
        return h5_err(f, "global heap collection at 0x%llx has no object %u",
                      (unsigned long long)h5_off(f, coll), index);
    *p = h5_map(f, coll + o->off, o->size, "global heap object");
    *n = o->size;
    return *p ? 0 : ERR_INPUT;
}

/* ---- fractal heap ----------------------------------------------------------- */

int h5_fheap_open(struct h5file *f, uint64_t addr, struct h5fheap *h)
{
    memset(h, 0, sizeof *h);
    h->addr = addr;
    size_t size = 4 + 1 + 2 + 2 + 1 + 4 + 12 * f->sl + 3 * f->so + 2 + 2 + 2 + 2 + 4;
    const uint8_t *p = h5_map(f, addr, size, "fractal heap header");
    if (!p || h5_spend(f, size)) return ERR_INPUT;
    if (memcmp(p, "FRHP", 4) || p[4] != 0)
        return h5_err(f, "no fractal heap (FRHP, version 0) at 0x%llx",
                      (unsigned long long)h5_off(f, addr));
    struct rd r = rd_make(p + 5, size - 5);
    h->id_len = (unsigned)rd_u(&r, 2);
    unsigned filter_len = (unsigned)rd_u(&r, 2);
    h->flags = (unsigned)rd_u(&r, 1);
    h->max_man = rd_u(&r, 4);
    rd_len(&r, f); /* next huge object ID */
    h->huge_bt = rd_addr(&r, f);
    /* free space(L) manager(O) managed space(L) allocated(L) iterator(L)
       managed objects(L) huge size(L) huge count(L) tiny size(L) tiny count(L) */
    rd_skip(&r, 9 * f->sl + f->so);
    h->width = (unsigned)rd_u(&r, 2);
    h->start_size = rd_len(&r, f);
    h->max_dsize = rd_len(&r, f);
    h->max_heap_bits = (unsigned)rd_u(&r, 2);
    rd_u(&r, 2); /* starting rows */
    h->root = rd_addr(&r, f);
    h->root_rows = (unsigned)rd_u(&r, 2);
    if (r.err) return h5_err(f, "truncated fractal heap header");
    if (filter_len) return h5_err(f, "fractal heap with I/O filters (not supported)");
    if (h5_checksum(f, p, r.i + 5, addr, "fractal heap header")) return ERR_INPUT;
    if (!is_pow2(h->width) || !is_pow2(h->start_size) || !is_pow2(h->max_dsize) ||
        h->max_dsize < h->start_size || h->start_size > (UINT64_C(1) << 40) ||
        h->max_heap_bits < 1 || h->max_heap_bits > 64 ||
        log2_floor(h->max_dsize) >= h->max_heap_bits)
        return h5_err(f,
                      "fractal heap at 0x%llx has an impossible doubling table "
                      "(width %u, blocks %llu..%llu, %u bits)",
                      (unsigned long long)h5_off(f, addr), h->width,
                      (unsigned long long)h->start_size, (unsigned long long)h->max_dsize,
                      h->max_heap_bits);
    h->start_bits = log2_floor(h->start_size);
    h->max_drows = log2_floor(h->max_dsize) - h->start_bits + 2;
    if (h->root_rows > h->max_heap_bits + 1)
        return h5_err(f, "fractal heap root indirect block of %u rows", h->root_rows);
    h->off_bytes = (h->max_heap_bits + 7) / 8;
    unsigned dlen = (log2_floor(h->max_dsize) + 7) / 8, mlen = enc_size(h->max_man);
    h->len_bytes = dlen < mlen ? dlen : mlen;
    return 0;
}

/* The managed object at heap offset off, len bytes: walks the doubling
 * table from the root (a direct block, or indirect blocks of fewer rows at
 * each step down). */
static int fheap_managed(struct h5file *f, const struct h5fheap *h, uint64_t off, uint64_t len,
                         const uint8_t **out)
{
    unsigned dhdr = 5 + f->so + h->off_bytes + ((h->flags & 2) ? 4 : 0);
    uint64_t baddr = h->root, bsize = h->start_size, in = off;
    unsigned nrows = h->root_rows;
    while (nrows) {
        unsigned ndirect = (nrows < h->max_drows ? nrows : h->max_drows) * h->width;
        unsigned nindirect = nrows > h->max_drows ? (nrows - h->max_drows) * h->width : 0;
        uint64_t size = 5 + f->so + h->off_bytes + (uint64_t)(ndirect + nindirect) * f->so;
        /* one entry is read per step: the checksum (over all entries) is not
           verified, which would hash the block once per object looked up */
        const uint8_t *p = h5_map(f, baddr, size + 4, "fractal heap indirect block");
        if (!p || h5_spend(f, 32)) return ERR_INPUT;
        if (memcmp(p, "FHIB", 4) || p[4] != 0 || le_u(p + 5, f->so) != h->addr)
            return h5_err(f, "no indirect block of the fractal heap at 0x%llx (FHIB)",
                          (unsigned long long)h5_off(f, baddr));
        uint64_t row0 = (uint64_t)h->width << h->start_bits, rstart;
        unsigned row;
        if (in < row0) {
            row = 0, rstart = 0, bsize = h->start_size;
        } else {
            unsigned r = log2_floor(in / row0) + 1;
            row = r, rstart = row0 << (r - 1), bsize = h->start_size << (r - 1);
        }
        if (row >= nrows)
            return h5_err(f, "heap offset %llu is past the fractal heap's block at 0x%llx",
                          (unsigned long long)off, (unsigned long long)h5_off(f, baddr));
        uint64_t col = (in - rstart) / bsize;
        in -= rstart + col * bsize;
        const uint8_t *e = p + 5 + f->so + h->off_bytes;
        if (row < h->max_drows) {
            struct rd r = rd_make(e + (row * h->width + col) * f->so, f->so);
            baddr = rd_addr(&r, f);
            nrows = 0;
        } else {
            struct rd r =
                rd_make(e + (ndirect + (row - h->max_drows) * h->width + col) * f->so, f->so);
            baddr = rd_addr(&r, f);
            unsigned child = log2_floor(bsize) - h->start_bits - log2_floor(h->width) + 1;
            if (child >= nrows)
                return h5_err(f, "fractal heap indirect block at 0x%llx does not shrink",
                              (unsigned long long)h5_off(f, baddr));
            nrows = child;
        }
        if (baddr == H5_UNDEF)
            return h5_err(f, "heap offset %llu is in an unallocated block of the fractal heap",
                          (unsigned long long)off);
    }
    if (in < dhdr || in > bsize || len > bsize - in)
        return h5_err(f, "heap object at offset %llu (%llu bytes) is outside its block",
                      (unsigned long long)off, (unsigned long long)len);
    const uint8_t *p = h5_map(f, baddr, bsize, "fractal heap direct block");
    if (!p || h5_spend(f, dhdr + len)) return ERR_INPUT;
    if (memcmp(p, "FHDB", 4) || p[4] != 0 || le_u(p + 5, f->so) != h->addr)
        return h5_err(f, "no direct block of the fractal heap at 0x%llx (FHDB)",
                      (unsigned long long)h5_off(f, baddr));
    *out = p + in;
    return 0;
}

/* Huge objects (too big for a block): the heap ID holds the address and
 * length, or a key into the huge-object B-tree (type 1: address, length, ID). */
struct hugectx {
    uint64_t id, addr, len;
    int found;
};

static int huge_rec(struct h5file *f, const uint8_t *rec, size_t size, void *ctx)
{
    struct hugectx *c = ctx;
    if (size != 2 * (size_t)f->sl + f->so)
        return h5_err(f, "huge object B-tree record of %zu bytes", size);
    if (le_u(rec + f->so + f->sl, f->sl) == c->id) {
        c->addr = le_u(rec, f->so);
        c->len = le_u(rec + f->so, f->sl);
        c->found = 1;
    }
    return 0;
}

int h5_fheap_get(struct h5file *f, const struct h5fheap *h, const uint8_t *id, size_t idlen,
                 const uint8_t **p, uint64_t *n)
{
    if (idlen != h->id_len || idlen < 1)
        return h5_err(f, "heap ID of %zu bytes for a fractal heap with %u-byte IDs", idlen,
                      h->id_len);
    unsigned version = id[0] >> 6, type = (id[0] >> 4) & 3;
    if (version != 0) return h5_err(f, "heap ID of version %u", version);
    if (type == 0) {
        if (idlen < 1u + h->off_bytes + h->len_bytes)
            return h5_err(f, "heap ID of %zu bytes is too short", idlen);
        uint64_t off = le_u(id + 1, h->off_bytes),
                 len = le_u(id + 1 + h->off_bytes, h->len_bytes);
        *n = len;
        return fheap_managed(f, h, off, len, p);
    }
    if (type == 2) { /* tiny: the object is in the ID */
        uint64_t len = idlen <= 18 ? (id[0] & 0x0fu) + 1u : ((id[0] & 0x0fu) << 8 | id[1]) + 1u;
        unsigned skip = idlen <= 18 ? 1 : 2;
        if (len > idlen - skip) return h5_err(f, "tiny heap object longer than its ID");
        *p = id + skip;
        *n = len;
        return 0;
    }
    if (type == 1) {
        uint64_t addr, len;
        if (idlen - 1 >= (size_t)f->so + f->sl) {
            addr = le_u(id + 1, f->so);
            len = le_u(id + 1 + f->so, f->sl);
        } else {
            struct hugectx c = {le_u(id + 1, idlen - 1 < 8 ? (unsigned)idlen - 1 : 8), 0, 0, 0};
            if (h->huge_bt == H5_UNDEF) return h5_err(f, "huge heap object without a B-tree");
            if (h5_bt2_walk(f, h->huge_bt, 1, huge_rec, &c)) return ERR_INPUT;
            if (!c.found)
                return h5_err(f, "huge heap object %llu is not in its B-tree",
                              (unsigned long long)c.id);
            addr = c.addr, len = c.len;
        }
        *p = h5_map(f, addr, len, "huge heap object");
        *n = len;
        return *p ? 0 : ERR_INPUT;
    }
    return h5_err(f, "heap ID of type %u", type);
}

/* ---- version 2 B-trees -------------------------------------------------------- */

struct bt2 {
    struct seen seen;
    unsigned type, rec_size, nrec_bytes;
    uint64_t node_size;
    uint64_t max_nrec[BT_MAX_LEVEL + 1];
    unsigned cum_bytes[BT_MAX_LEVEL + 1];
    h5_bt2_fn fn;
    void *ctx;
};

static int bt2_node(struct h5file *f, struct bt2 *t, uint64_t addr, unsigned depth,
                    uint64_t nrec)
{
    if (nrec > t->max_nrec[depth])
        return h5_err(f, "B-tree node at 0x%llx claims %llu records (at most %llu fit)",
                      (unsigned long long)h5_off(f, addr), (unsigned long long)nrec,
                      (unsigned long long)t->max_nrec[depth]);
    const uint8_t *p = h5_map(f, addr, t->node_size, "B-tree node");
    if (!p || h5_spend(f, t->node_size) || seen_add(f, &t->seen, addr, "B-tree node"))
        return ERR_INPUT;
    if (memcmp(p, depth ? "BTIN" : "BTLF", 4) || p[4] != 0 || p[5] != t->type)
        return h5_err(f, "no %s B-tree node of type %u at 0x%llx", depth ? "internal" : "leaf",
                      t->type, (unsigned long long)h5_off(f, addr));
    uint64_t used = 6 + nrec * t->rec_size;
    unsigned ptr = f->so + t->nrec_bytes + (depth > 1 ? t->cum_bytes[depth - 1] : 0);
    if (depth) used += (nrec + 1) * ptr;
    if (used + 4 > t->node_size)
        return h5_err(f, "B-tree node at 0x%llx overflows its %llu bytes",
                      (unsigned long long)h5_off(f, addr), (unsigned long long)t->node_size);
    if (h5_checksum(f, p, used, addr, "B-tree node")) return ERR_INPUT;
    const uint8_t *recs = p + 6, *ptrs = recs + nrec * t->rec_size;
    for (uint64_t i = 0; i <= nrec; i++) {
        if (depth) {
            const uint8_t *q = ptrs + i * ptr;
            struct rd r = rd_make(q, ptr);
            uint64_t child = rd_addr(&r, f), cn = rd_u(&r, t->nrec_bytes);
            int rc = bt2_node(f, t, child, depth - 1, cn);
            if (rc) return rc;
        }
        if (i < nrec) {
            int rc = t->fn(f, recs + i * t->rec_size, t->rec_size, t->ctx);
            if (rc) return rc;
        }
    }
    return 0;
}

/* Header "BTHD": version 0, type(1), node size(4), record size(2), depth(2),
 * split and merge percents, root address(O), records in the root(2), total
 * records(L), checksum. */
int h5_bt2_walk(struct h5file *f, uint64_t addr, unsigned type, h5_bt2_fn fn, void *ctx)
{
    size_t size = 16 + f->so + 2 + f->sl;
    const uint8_t *p = h5_map(f, addr, size + 4, "B-tree header");
    if (!p || h5_spend(f, size)) return ERR_INPUT;
    if (memcmp(p, "BTHD", 4) || p[4] != 0)
        return h5_err(f, "no B-tree header (BTHD, version 0) at 0x%llx",
                      (unsigned long long)h5_off(f, addr));
    if (h5_checksum(f, p, size, addr, "B-tree header")) return ERR_INPUT;
    if (p[5] != type)
        return h5_err(f, "B-tree at 0x%llx has type %u (expected %u)",
                      (unsigned long long)h5_off(f, addr), p[5], type);
    struct bt2 t = {.type = type, .fn = fn, .ctx = ctx};
    t.node_size = le_u(p + 6, 4);
    t.rec_size = (unsigned)le_u(p + 10, 2);
    unsigned depth = (unsigned)le_u(p + 12, 2);
    struct rd r = rd_make(p + 16, f->so + 2);
    uint64_t root = rd_addr(&r, f), root_nrec = rd_u(&r, 2);
    if (t.rec_size == 0 || t.node_size < 10 + (uint64_t)t.rec_size || t.node_size > f->len ||
        depth > BT_MAX_LEVEL)
        return h5_err(f, "B-tree at 0x%llx: node size %llu, record size %u, depth %u",
                      (unsigned long long)h5_off(f, addr), (unsigned long long)t.node_size,
                      t.rec_size, depth);
    /* what fits in a node at each depth sets the width of the child counts */
    t.max_nrec[0] = (t.node_size - 10) / t.rec_size;
    t.nrec_bytes = enc_size(t.max_nrec[0]);
    uint64_t cum = t.max_nrec[0];
    t.cum_bytes[0] = enc_size(cum);
    for (unsigned u = 1; u <= depth; u++) {
        uint64_t ptr = f->so + t.nrec_bytes + (u > 1 ? t.cum_bytes[u - 1] : 0);
        t.max_nrec[u] =
            t.node_size > 10 + ptr ? (t.node_size - 10 - ptr) / (t.rec_size + ptr) : 0;
        uint64_t m = t.max_nrec[u];
        cum = cum > (UINT64_MAX - m) / (m + 1) ? UINT64_MAX : (m + 1) * cum + m;
        t.cum_bytes[u] = enc_size(cum);
    }
    if (root == H5_UNDEF) return 0; /* empty */
    int rc = bt2_node(f, &t, root, depth, root_nrec);
    seen_release(&t.seen);
    return rc;
}

/* ---- version 1 B-trees ---------------------------------------------------------- */

/* Node: "TREE", type(1), level(1), entries(2), left and right siblings(O),
 * then keys and children interleaved, entries + 1 keys. */
static const uint8_t *bt1_node(struct h5file *f, uint64_t addr, unsigned type, int level,
                               size_t key_size, unsigned *entries, int *node_level)
{
    size_t hdr = 8 + 2 * (size_t)f->so;
    const uint8_t *p = h5_map(f, addr, hdr, "B-tree node");
    if (!p) return NULL;
    if (memcmp(p, "TREE", 4) || p[4] != type) {
        h5_err(f, "no B-tree node of type %u (TREE) at 0x%llx", type,
               (unsigned long long)h5_off(f, addr));
        return NULL;
    }
    *node_level = p[5];
    *entries = (unsigned)le_u(p + 6, 2);
    if ((level >= 0 && p[5] != level) || p[5] > BT_MAX_LEVEL) {
        h5_err(f, "B-tree node at 0x%llx has level %u (expected %d)",
               (unsigned long long)h5_off(f, addr), p[5], level);
        return NULL;
    }
    uint64_t size = hdr + (*entries + 1) * (uint64_t)key_size + *entries * (uint64_t)f->so;
    if (!(p = h5_map(f, addr, size, "B-tree node")) || h5_spend(f, size)) return NULL;
    return p + hdr;
}

struct grpwalk {
    h5_snod_fn fn;
    void *ctx;
    struct seen seen; /* B-tree and symbol table nodes */
};

/* "SNOD", version 1, reserved, symbol count(2), entries. */
static int snod(struct h5file *f, uint64_t addr, struct grpwalk *w)
{
    const uint8_t *p = h5_map(f, addr, 8, "symbol table node");
    if (!p || seen_add(f, &w->seen, addr, "symbol table node")) return ERR_INPUT;
    if (memcmp(p, "SNOD", 4) || p[4] != 1)
        return h5_err(f, "no symbol table node (SNOD, version 1) at 0x%llx",
                      (unsigned long long)h5_off(f, addr));
    unsigned n = (unsigned)le_u(p + 6, 2);
    size_t es = 2 * (size_t)f->so + 24;
    if (!(p = h5_map(f, addr, 8 + n * es, "symbol table node")) || h5_spend(f, 8 + n * es))
        return ERR_INPUT;
    for (unsigned i = 0; i < n; i++) {
        int rc = w->fn(f, p + 8 + i * es, w->ctx);
        if (rc) return rc;
    }
    return 0;
}

static int bt1_group_node(struct h5file *f, uint64_t addr, int level, struct grpwalk *w)
{
    unsigned n;
    int lv;
    const uint8_t *p = bt1_node(f, addr, 0, level, f->sl, &n, &lv);
    if (!p || seen_add(f, &w->seen, addr, "B-tree node")) return ERR_INPUT;
    for (unsigned i = 0; i < n; i++) {
        uint64_t child = le_u(p + f->sl + i * (size_t)(f->sl + f->so), f->so);
        if (f->so < 8 && child == (UINT64_C(1) << (8 * f->so)) - 1) child = H5_UNDEF;
        int rc = lv ? bt1_group_node(f, child, lv - 1, w) : snod(f, child, w);
        if (rc) return rc;
    }
    return 0;
}

int h5_bt1_group(struct h5file *f, uint64_t btree, h5_snod_fn fn, void *ctx)
{
    struct grpwalk w = {fn, ctx, {0}};
    int rc = bt1_group_node(f, btree, -1, &w);
    seen_release(&w.seen);
    return rc;
}

struct chunkwalk {
    struct seen seen;
    int nkey;
    h5_bt1_chunk_fn fn;
    void *ctx;
    uint64_t off[H5_MAX_DIMS + 1];
};

/* Chunk keys: chunk size(4), filter mask(4), nkey offsets(8 each). */
static int bt1_chunk_node(struct h5file *f, uint64_t addr, int level, struct chunkwalk *w)
{
    size_t ks = 8 + 8 * (size_t)w->nkey;
    unsigned n;
    int lv;
    const uint8_t *p = bt1_node(f, addr, 1, level, ks, &n, &lv);
    if (!p || seen_add(f, &w->seen, addr, "B-tree node")) return ERR_INPUT;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *key = p + i * (ks + f->so);
        uint64_t child = le_u(key + ks, f->so);
        if (f->so < 8 && child == (UINT64_C(1) << (8 * f->so)) - 1) child = H5_UNDEF;
        int rc;
        if (lv)
            rc = bt1_chunk_node(f, child, lv - 1, w);
        else {
            for (int d = 0; d < w->nkey; d++)
                w->off[d] = le_u(key + 8 + 8 * d, 8);
            rc = w->fn(f, (uint32_t)le_u(key, 4), (uint32_t)le_u(key + 4, 4), w->off, child,
                       w->ctx);
        }
        if (rc) return rc;
    }
    return 0;
}

int h5_bt1_chunks(struct h5file *f, uint64_t addr, int nkey, h5_bt1_chunk_fn fn, void *ctx)
{
    if (nkey < 1 || nkey > H5_MAX_DIMS + 1) return h5_err(f, "chunk B-tree of %d dims", nkey);
    struct chunkwalk w = {{0}, nkey, fn, ctx, {0}};
    int rc = bt1_chunk_node(f, addr, -1, &w);
    seen_release(&w.seen);
    return rc;
}
