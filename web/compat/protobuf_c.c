/* protobuf_c.c - the part of protobuf-c's runtime that the browser build
 * needs: protobuf_c_message_unpack and protobuf_c_message_free_unpacked,
 * driven by the descriptors protoc-c generates (build/gen/onnx.pb-c.c) and
 * declared by Debian's <protobuf-c/protobuf-c.h>. Written for interp from the
 * protobuf wire format (varints, fixed 32/64-bit, length-delimited; packed
 * or unpacked repeated scalars); protobuf-c itself is not compiled for wasm.
 * tests/test_webcompat.c compares it with the real library on every fixture model
 * and on thousands of damaged copies.
 */
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/util.h"

/* Deeper nesting than any ONNX file has (a subgraph costs 3 levels): refused
 * rather than recursed into, so that a hostile file cannot exhaust the stack. */
#define PBC_MAX_DEPTH 100

static void *pbc_alloc(ProtobufCAllocator *a, size_t n)
{
    if (!a) return malloc(n ? n : 1);
    return a->alloc(a->allocator_data, n ? n : 1);
}

static void pbc_free(ProtobufCAllocator *a, void *p)
{
    if (!p) return;
    if (!a)
        free(p);
    else
        a->free(a->allocator_data, p);
}

/* ---------------------------------------------------------------- wire */
struct wire_field {
    uint32_t id;
    int wt;              /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
    uint64_t v;          /* the varint or the fixed value */
    const uint8_t *data; /* wt 2: the payload */
    size_t len;
};

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int i = 0; i < 10; i++) {
        if (*p >= end) return 0;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 1;
        }
    }
    return 0; /* more than 10 bytes */
}

/* The next field of [*p, end): 1, or 0 for malformed or unsupported data
 * (groups, wire types 6 and 7, a bad tag, a payload past the end). */
static int next_field(const uint8_t **p, const uint8_t *end, struct wire_field *f)
{
    uint64_t tag;
    const uint8_t *start = *p;
    /* a tag of at most 5 bytes whose first byte has field bits, its field
     * number kept to 32 bits, as protobuf-c reads it (so 0x80 0x00, field 0,
     * and numbers past 2^29 are unknown fields, while 0x05 is an error) */
    if (*p >= end || !(**p & 0xf8)) return 0;
    if (!read_varint(p, end, &tag) || *p - start > 5) return 0;
    f->wt = (int)(tag & 7);
    f->id = (uint32_t)(tag >> 3);
    switch (f->wt) {
    case 0: return read_varint(p, end, &f->v);
    case 1:
    case 5: {
        size_t n = f->wt == 1 ? 8 : 4;
        if ((size_t)(end - *p) < n) return 0;
        f->v = 0;
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)(*p)[i] << (8 * i);
        *p += n;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (!read_varint(p, end, &n) || n > (uint64_t)(end - *p)) return 0;
        f->data = *p, f->len = (size_t)n;
        *p += n;
        return 1;
    }
    default: return 0;
    }
}

/* ---------------------------------------------------------------- types */
/* Bytes one value of the type takes in the message struct. */
static size_t type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    default: return 4; /* 32-bit integers, enums, float */
    }
}

/* The wire type a scalar of type t is written with (2 for the rest). */
static int type_wire(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT: return 5;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 1;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE: return 2;
    default: return 0;
    }
}

/* A scalar from its wire value into dst (type_size(t) bytes). */
static void scalar_store(ProtobufCType t, uint64_t v, void *dst)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_FLOAT: {
        uint32_t u = (uint32_t)v; /* the low 32 bits, as protobuf-c keeps them */
        memcpy(dst, &u, 4);
        break;
    }
    case PROTOBUF_C_TYPE_SINT32: {
        uint32_t u = (uint32_t)v;
        int32_t s = (int32_t)((u >> 1) ^ (uint32_t) - (int32_t)(u & 1));
        memcpy(dst, &s, 4);
        break;
    }
    case PROTOBUF_C_TYPE_SINT64: {
        int64_t s = (int64_t)((v >> 1) ^ (uint64_t) - (int64_t)(v & 1));
        memcpy(dst, &s, 8);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean b = v != 0;
        memcpy(dst, &b, sizeof b);
        break;
    }
    default: memcpy(dst, &v, 8); break; /* 64-bit integers and double */
    }
}

/* Values in a packed payload of type t: (size_t)-1 when it is malformed. */
static size_t packed_count(ProtobufCType t, const uint8_t *p, size_t len)
{
    int wt = type_wire(t);
    if (wt == 5) return len % 4 ? (size_t)-1 : len / 4;
    if (wt == 1) return len % 8 ? (size_t)-1 : len / 8;
    size_t n = 0;
    const uint8_t *end = p + len;
    uint64_t v;
    while (p < end) {
        if (!read_varint(&p, end, &v)) return (size_t)-1;
        n++;
    }
    return n;
}

static const ProtobufCFieldDescriptor *field_by_id(const ProtobufCMessageDescriptor *d,
                                                   uint32_t id)
{
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].id == id) return &d->fields[i];
    return NULL;
}

/* ---------------------------------------------------------------- freeing */
static void field_value_free(const ProtobufCFieldDescriptor *f, void *slot,
                             ProtobufCAllocator *a)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char *s = *(char **)slot;
        if (s && s != (const char *)f->default_value) pbc_free(a, s);
        *(char **)slot = NULL;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = slot;
        const ProtobufCBinaryData *def = f->default_value;
        if (b->data && (!def || b->data != def->data)) pbc_free(a, b->data);
        b->data = NULL, b->len = 0;
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *m = *(ProtobufCMessage **)slot;
        if (m && m != f->default_value) protobuf_c_message_free_unpacked(m, a);
        *(ProtobufCMessage **)slot = NULL;
        break;
    }
    default: break;
    }
}

void protobuf_c_message_free_unpacked(ProtobufCMessage *m, ProtobufCAllocator *a)
{
    if (!m) return;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *base = (char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t *n = (size_t *)(base + f->quantifier_offset);
            char *arr = *(char **)(base + f->offset);
            if (arr && type_wire(f->type) == 2)
                for (size_t k = 0; k < *n; k++)
                    field_value_free(f, arr + k * type_size(f->type), a);
            pbc_free(a, arr);
            *(char **)(base + f->offset) = NULL, *n = 0;
        } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                   *(uint32_t *)(base + f->quantifier_offset) != f->id) {
            continue; /* another member of the oneof holds the storage */
        } else {
            field_value_free(f, base + f->offset, a);
        }
    }
    pbc_free(a, m);
}

/* ---------------------------------------------------------------- unpacking */
static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a,
                                const uint8_t *buf, size_t len, int depth);

/* One occurrence of a length-delimited value (string, bytes, message) into slot. */
static int delimited_store(const ProtobufCFieldDescriptor *f, const struct wire_field *w,
                           void *slot, ProtobufCAllocator *a, int depth)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *s = pbc_alloc(a, w->len + 1);
        if (!s) return 0;
        memcpy(s, w->data, w->len);
        s[w->len] = 0;
        *(char **)slot = s;
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        ProtobufCBinaryData *b = slot;
        b->len = w->len;
        b->data = NULL;
        if (w->len) {
            if (!(b->data = pbc_alloc(a, w->len))) return 0;
            memcpy(b->data, w->data, w->len);
        }
    } else {
        ProtobufCMessage *sub = unpack(f->descriptor, a, w->data, w->len, depth + 1);
        if (!sub) return 0;
        *(ProtobufCMessage **)slot = sub;
    }
    return 1;
}

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a,
                                const uint8_t *buf, size_t len, int depth)
{
    if (depth > PBC_MAX_DEPTH || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) return NULL;
    const uint8_t *end = buf + len, *p;
    struct wire_field w;
    /* pass 1: check the wire format and count the values of repeated fields */
    size_t *count = calloc(d->n_fields ? d->n_fields : 1, sizeof(size_t));
    char *seen = calloc(d->n_fields ? d->n_fields : 1, 1);
    ProtobufCMessage *m = NULL;
    if (!count || !seen) goto fail;
    for (p = buf; p < end;) {
        if (!next_field(&p, end, &w)) goto fail;
        const ProtobufCFieldDescriptor *f = field_by_id(d, w.id);
        if (!f) continue; /* unknown fields are skipped */
        size_t i = (size_t)(f - d->fields);
        int want = type_wire(f->type);
        seen[i] = 1;
        if (f->label == PROTOBUF_C_LABEL_REPEATED && w.wt == 2 && want != 2) {
            size_t n = packed_count(f->type, w.data, w.len);
            if (n == (size_t)-1 || n > SIZE_MAX / 16 - count[i]) goto fail;
            count[i] += n;
        } else if (w.wt != want) {
            goto fail;
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            count[i]++;
        }
    }
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !seen[i]) goto fail;

    /* the message with its defaults, and the repeated fields' arrays */
    if (!(m = pbc_alloc(a, d->sizeof_message))) goto fail;
    memset(m, 0, d->sizeof_message);
    if (d->message_init)
        d->message_init(m);
    else
        m->descriptor = d;
    char *base = (char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label != PROTOBUF_C_LABEL_REPEATED || !count[i]) continue;
        size_t bytes;
        if (!mul_ok(count[i], type_size(f->type), &bytes)) goto fail;
        void *arr = pbc_alloc(a, bytes);
        if (!arr) goto fail;
        memset(arr, 0, bytes);
        *(void **)(base + f->offset) = arr;
    }

    /* pass 2: the values (the last occurrence of a single field wins) */
    for (p = buf; p < end;) {
        next_field(&p, end, &w); /* checked by pass 1 */
        const ProtobufCFieldDescriptor *f = field_by_id(d, w.id);
        if (!f) continue;
        void *slot = base + f->offset;
        size_t sz = type_size(f->type);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t *n = (size_t *)(base + f->quantifier_offset);
            char *arr = *(char **)slot;
            if (w.wt == 2 && type_wire(f->type) != 2) { /* packed */
                const uint8_t *q = w.data, *qe = w.data + w.len;
                int fw = type_wire(f->type);
                while (q < qe) {
                    uint64_t v = 0;
                    if (fw == 0)
                        read_varint(&q, qe, &v);
                    else
                        for (int k = 0, nb = fw == 1 ? 8 : 4; k < nb; k++)
                            v |= (uint64_t)*q++ << (8 * k);
                    scalar_store(f->type, v, arr + (*n)++ * sz);
                }
            } else if (w.wt == 2) {
                if (!delimited_store(f, &w, arr + *n * sz, a, depth)) goto fail;
                (*n)++;
            } else {
                scalar_store(f->type, w.v, arr + (*n)++ * sz);
            }
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
            if (*which && *which != f->id) { /* a new member replaces the old one */
                const ProtobufCFieldDescriptor *old = field_by_id(d, *which);
                if (old) {
                    field_value_free(old, base + old->offset, a);
                    memset(base + old->offset, 0, type_size(old->type));
                }
            }
            *which = f->id;
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                   f->type != PROTOBUF_C_TYPE_MESSAGE) {
            *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
        }
        if (w.wt == 2) {
            field_value_free(f, slot, a);
            if (!delimited_store(f, &w, slot, a, depth)) goto fail;
        } else {
            scalar_store(f->type, w.v, slot);
        }
    }
    free(count);
    free(seen);
    return m;
fail:
    free(count);
    free(seen);
    protobuf_c_message_free_unpacked(m, a);
    return NULL;
}

ProtobufCMessage *protobuf_c_message_unpack(const ProtobufCMessageDescriptor *d,
                                            ProtobufCAllocator *a, size_t len,
                                            const uint8_t *data)
{
    return unpack(d, a, data, len, 0);
}

/* Packing is not part of the browser build: nothing in interp writes ONNX. */
size_t protobuf_c_message_get_packed_size(const ProtobufCMessage *m)
{
    (void)m;
    interp_bug(__FILE__, __LINE__, "protobuf packing is not in the browser build");
}

size_t protobuf_c_message_pack(const ProtobufCMessage *m, uint8_t *out)
{
    (void)m, (void)out;
    interp_bug(__FILE__, __LINE__, "protobuf packing is not in the browser build");
}

size_t protobuf_c_message_pack_to_buffer(const ProtobufCMessage *m, ProtobufCBuffer *b)
{
    (void)m, (void)b;
    interp_bug(__FILE__, __LINE__, "protobuf packing is not in the browser build");
}
