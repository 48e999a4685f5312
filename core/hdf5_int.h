/* hdf5_int.h - what the HDF5 reader's three files share (hdf5.c: files,
 * object headers, groups, attributes; hdf5_heap.c: heaps and B-trees;
 * hdf5_data.c: types, dataspaces, layouts and dataset reads). Not public.
 *
 * Every address read from the file goes through h5_map, which bounds-checks
 * it; every structure visited is charged to a per-call work budget, so a
 * loop in the file ends in an error instead of running forever.
 */
#ifndef INTERP_HDF5_INT_H
#define INTERP_HDF5_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hdf5.h"

#define H5_UNDEF    UINT64_MAX /* the undefined address (all bits set) */
#define H5_MAX_DIMS 32         /* HDF5's own rank limit */

struct h5gobj;

struct h5file {
    const uint8_t *buf;
    uint64_t len;
    char *name;       /* for messages */
    uint64_t base;    /* file offset of address 0: the superblock's */
    unsigned so, sl;  /* sizes of offsets and of lengths */
    uint64_t root;    /* root group object header */
    const char *obj;  /* the object the current call concerns */
    uint64_t work;    /* metadata bytes the current call may still visit */
    uint64_t gc_addr; /* the global heap collection parsed last */
    struct h5gobj *gc;
    size_t gc_n;
};

/* ---- errors, bounds and the work budget (hdf5.c) ---- */

/* Records ERR_INPUT "HDF5: 'OBJ': REASON" with the file name as the path;
 * returns ERR_INPUT. */
int h5_err(struct h5file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* file[base + addr ..] for n bytes, or NULL with "WHAT at 0x.. is past the
 * end of the file" (or "has an undefined address"). */
const uint8_t *h5_map(struct h5file *f, uint64_t addr, uint64_t n, const char *what);

/* The absolute file offset of addr, for messages. */
uint64_t h5_off(const struct h5file *f, uint64_t addr);

/* Charges n bytes of metadata to the call's budget; ERR_INPUT once spent. */
int h5_spend(struct h5file *f, uint64_t n);

/* Verifies the lookup3 checksum stored little-endian right after p[0..n)
 * (skipped in fuzzing builds). 0 or ERR_INPUT naming what and where. */
int h5_checksum(struct h5file *f, const uint8_t *p, size_t n, uint64_t addr, const char *what);

uint32_t h5_lookup3(const uint8_t *p, size_t n);

/* ---- a bounds-checked little-endian cursor ---- */

struct rd {
    const uint8_t *p;
    size_t n, i;
    int err; /* set by any read past n; reads then return 0 */
};

static inline struct rd rd_make(const uint8_t *p, size_t n)
{
    struct rd r = {p, n, 0, 0};
    return r;
}

static inline uint64_t rd_u(struct rd *r, unsigned k)
{
    if (r->err || k > r->n - r->i) {
        r->err = 1;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned j = 0; j < k; j++)
        v |= (uint64_t)r->p[r->i + j] << (8 * j);
    r->i += k;
    return v;
}

static inline const uint8_t *rd_ptr(struct rd *r, size_t k)
{
    if (r->err || k > r->n - r->i) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->i;
    r->i += k;
    return p;
}

static inline void rd_skip(struct rd *r, size_t k)
{
    (void)rd_ptr(r, k);
}
static inline size_t rd_left(const struct rd *r)
{
    return r->err ? 0 : r->n - r->i;
}

/* An address of f->so bytes; all bits set reads as H5_UNDEF. */
static inline uint64_t rd_addr(struct rd *r, const struct h5file *f)
{
    uint64_t v = rd_u(r, f->so);
    if (f->so < 8 && v == (UINT64_C(1) << (8 * f->so)) - 1) return H5_UNDEF;
    return v;
}

static inline uint64_t rd_len(struct rd *r, const struct h5file *f)
{
    uint64_t v = rd_u(r, f->sl);
    if (f->sl < 8 && v == (UINT64_C(1) << (8 * f->sl)) - 1) return UINT64_MAX;
    return v;
}

static inline uint64_t le_u(const uint8_t *p, unsigned k)
{
    uint64_t v = 0;
    for (unsigned j = 0; j < k; j++)
        v |= (uint64_t)p[j] << (8 * j);
    return v;
}

/* ---- object headers (hdf5.c) ---- */

enum {
    H5M_DATASPACE = 0x01,
    H5M_LINK_INFO = 0x02,
    H5M_DATATYPE = 0x03,
    H5M_FILL_OLD = 0x04,
    H5M_FILL = 0x05,
    H5M_LINK = 0x06,
    H5M_EXTERNAL = 0x07,
    H5M_LAYOUT = 0x08,
    H5M_FILTERS = 0x0B,
    H5M_ATTRIBUTE = 0x0C,
    H5M_CONTINUATION = 0x10,
    H5M_SYMBOL_TABLE = 0x11,
    H5M_ATTR_INFO = 0x15,
};
#define H5_MSG_SHARED 0x02 /* message flag: the body refers to a shared message */

struct h5msg {
    unsigned type, flags;
    uint32_t crt;     /* creation order (v2 headers that track it) */
    const uint8_t *p; /* body, inside the file buffer */
    size_t n;
    uint64_t addr; /* address of the body, for messages */
};

struct h5obj {
    uint64_t addr;
    int version;     /* 1 or 2 */
    unsigned oflags; /* v2 header flags */
    struct h5msg *m;
    size_t n;
};

/* Reads the object header at addr with its continuation blocks. 0 or
 * ERR_INPUT; release with h5_obj_release. */
int h5_obj_read(struct h5file *f, uint64_t addr, struct h5obj *o);
void h5_obj_release(struct h5obj *o);
/* The first message of type t, or NULL. */
const struct h5msg *h5_obj_find(const struct h5obj *o, unsigned t);

/* The body of the message a shared message (version 1-3, committed in an
 * object header) refers to, looked up by type t in that header: *p and *n
 * point into the file. 0 or ERR_INPUT (the shared-message heap is refused). */
int h5_shared_resolve(struct h5file *f, const uint8_t *p, size_t n, unsigned t,
                      const uint8_t **body, size_t *body_n);

/* ---- heaps and B-trees (hdf5_heap.c) ---- */

/* A local heap ("HEAP"): its data segment. */
int h5_lheap(struct h5file *f, uint64_t addr, const uint8_t **data, uint64_t *size);

/* Object `index` of the global heap collection at coll ("GCOL"). */
int h5_gheap_get(struct h5file *f, uint64_t coll, uint32_t index, const uint8_t **p,
                 uint64_t *n);
void h5_gheap_drop(struct h5file *f);

struct h5fheap {
    uint64_t addr;
    unsigned id_len, flags, width, max_heap_bits, root_rows, max_drows;
    unsigned off_bytes, len_bytes, start_bits;
    uint64_t max_man, start_size, max_dsize, root, huge_bt;
};
/* Opens the fractal heap header ("FRHP") at addr. 0 or ERR_INPUT. */
int h5_fheap_open(struct h5file *f, uint64_t addr, struct h5fheap *h);
/* The object whose heap ID is id[0..idlen): a pointer into the file. */
int h5_fheap_get(struct h5file *f, const struct h5fheap *h, const uint8_t *id, size_t idlen,
                 const uint8_t **p, uint64_t *n);

/* Calls fn on every record of the version 2 B-tree at addr (whose type
 * must be `type`), in key order; fn returns 0 to go on, <0 to stop with
 * that error. 0 or the error. */
typedef int (*h5_bt2_fn)(struct h5file *f, const uint8_t *rec, size_t size, void *ctx);
int h5_bt2_walk(struct h5file *f, uint64_t addr, unsigned type, h5_bt2_fn fn, void *ctx);

/* Calls fn on every chunk of the version 1 B-tree (type 1, chunked raw data)
 * at addr: its key (stored size, filter mask, nkey element offsets: the
 * dataset's rank + 1) and address. */
typedef int (*h5_bt1_chunk_fn)(struct h5file *f, uint32_t size, uint32_t mask,
                               const uint64_t *off, uint64_t addr, void *ctx);
int h5_bt1_chunks(struct h5file *f, uint64_t addr, int nkey, h5_bt1_chunk_fn fn, void *ctx);

/* Calls fn on every symbol table entry of the group whose v1 B-tree (type 0)
 * is at btree: the entry's bytes (2 * so + 24 of them). */
typedef int (*h5_snod_fn)(struct h5file *f, const uint8_t *entry, void *ctx);
int h5_bt1_group(struct h5file *f, uint64_t btree, h5_snod_fn fn, void *ctx);

/* ---- datatypes, dataspaces, datasets (hdf5_data.c) ---- */

enum { H5C_INT, H5C_FLOAT, H5C_STRING, H5C_VSTRING, H5C_OTHER };

struct h5type {
    int cls;        /* H5C_* */
    int raw;        /* the HDF5 class number, for messages */
    uint32_t size;  /* bytes of one element in the file (vlen: 4 + so + 4) */
    int be, sign;   /* numbers: big-endian, signed */
    int pad;        /* fixed strings: 0 null-terminated, 1 null-padded, 2 space-padded */
    uint64_t count; /* elements per value (array class), else 1 */
};
/* Decodes a datatype message body; a shared (committed) type when shared is
 * set. 0 or ERR_INPUT. */
int h5_type_parse(struct h5file *f, const uint8_t *p, size_t n, int shared, struct h5type *t);
const char *h5_class_name(int raw);

struct h5space {
    int null; /* a null dataspace: no elements */
    int rank;
    uint64_t dims[H5_MAX_DIMS], maxdims[H5_MAX_DIMS]; /* maxdims: UINT64_MAX unlimited */
    uint64_t count;                                   /* elements (0 for null) */
};
int h5_space_parse(struct h5file *f, const uint8_t *p, size_t n, struct h5space *s);

/* Reads the dataset whose object header is o into out[0..count) as floats
 * (hdf5_data.c). */
int h5_dataset_read(struct h5file *f, const struct h5obj *o, float *out, size_t count);

#endif
