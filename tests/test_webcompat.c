/* test_webcompat.c - the browser build's own inflate and protobuf unpacker
 * (web/compat/, compiled here under compat_* names by test_webcompat_impl.c)
 * against the real zlib and protobuf-c: every fixture ONNX model unpacks to the
 * same message tree, thousands of damaged copies are refused or accepted alike
 * (and alike decoded), and deflate streams of every kind zlib writes (stored,
 * fixed, dynamic; raw and zlib-wrapped) inflate to the same bytes, damaged ones
 * fail where zlib fails. Worst cases are printed with where they happened.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/rng.h"
#include "onnx.pb-c.h"

/* the stand-ins (test_webcompat_impl.c) */
ProtobufCMessage *compat_pb_unpack(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a,
                                   size_t len, const uint8_t *data);
void compat_pb_free_unpacked(ProtobufCMessage *m, ProtobufCAllocator *a);
typedef struct {
    const Bytef *next_in;
    uInt avail_in;
    uLong total_in;
    Bytef *next_out;
    uInt avail_out;
    uLong total_out;
    const char *msg;
    void *state;
} compat_stream;
int compat_inflateInit2(compat_stream *s, int wbits);
int compat_inflate(compat_stream *s, int flush);
int compat_inflateEnd(compat_stream *s);
uLong compat_crc32_z(uLong crc, const Bytef *buf, size_t len);

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(n ? (size_t)n : 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* ---------------------------------------------------------------- protobuf */
static size_t value_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    default: return 4;
    }
}

static int msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, char *where,
                     size_t wlen);

static int value_equal(const ProtobufCFieldDescriptor *f, const void *x, const void *y,
                       char *where, size_t wlen)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        return (!s && !t) || (s && t && !strcmp(s, t));
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *s = x, *t = y;
        return s->len == t->len && (!s->len || !memcmp(s->data, t->data, s->len));
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *s = *(ProtobufCMessage *const *)x,
                               *t = *(ProtobufCMessage *const *)y;
        if (!s || !t) return !s && !t;
        return msg_equal(s, t, where, wlen);
    }
    default: return !memcmp(x, y, value_size(f->type));
    }
}

/* Field by field over the descriptor; where names the first difference. */
static int msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, char *where,
                     size_t wlen)
{
    const ProtobufCMessageDescriptor *d = a->descriptor;
    if (b->descriptor != d) return snprintf(where, wlen, "descriptor"), 0;
    const char *pa = (const char *)a, *pb = (const char *)b;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        int eq = 1;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t na = *(const size_t *)(pa + f->quantifier_offset),
                   nb = *(const size_t *)(pb + f->quantifier_offset);
            eq = na == nb;
            const char *xa = *(char *const *)(pa + f->offset),
                       *xb = *(char *const *)(pb + f->offset);
            for (size_t k = 0; eq && k < na; k++)
                eq = value_equal(f, xa + k * value_size(f->type), xb + k * value_size(f->type),
                                 where, wlen);
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t ca = *(const uint32_t *)(pa + f->quantifier_offset),
                     cb = *(const uint32_t *)(pb + f->quantifier_offset);
            eq = ca == cb &&
                 (ca != f->id || value_equal(f, pa + f->offset, pb + f->offset, where, wlen));
        } else {
            if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                f->type != PROTOBUF_C_TYPE_MESSAGE)
                eq = *(const protobuf_c_boolean *)(pa + f->quantifier_offset) ==
                     *(const protobuf_c_boolean *)(pb + f->quantifier_offset);
            eq = eq && value_equal(f, pa + f->offset, pb + f->offset, where, wlen);
        }
        if (!eq) {
            if (!where[0]) snprintf(where, wlen, "%s.%s", d->short_name, f->name);
            return 0;
        }
    }
    return 1;
}

/* Both unpackers on buf: 0 when they agree, else 1 with the reason in why. */
static int pb_differ(const uint8_t *buf, size_t len, char *why, size_t wlen)
{
    const ProtobufCMessageDescriptor *d = &onnx__model_proto__descriptor;
    ProtobufCMessage *real = protobuf_c_message_unpack(d, NULL, len, buf);
    ProtobufCMessage *mine = compat_pb_unpack(d, NULL, len, buf);
    int differ = 0;
    why[0] = 0;
    if (!real != !mine) {
        snprintf(why, wlen, "protobuf-c %s, compat %s", real ? "accepts" : "refuses",
                 mine ? "accepts" : "refuses");
        differ = 1;
    } else if (real && !msg_equal(real, mine, why, wlen)) {
        differ = 1;
    }
    if (real) protobuf_c_message_free_unpacked(real, NULL);
    if (mine) compat_pb_free_unpacked(mine, NULL);
    return differ;
}

static const char *const MODELS[] = {
    "fixtures/models/fmnist.onnx", "fixtures/models/rgb.onnx",  "fixtures/models/nhwc.onnx",
    "fixtures/models/ops.onnx",    "fixtures/models/acts.onnx", "fixtures/keras/ref_arch.onnx"};

Test(webcompat, pb_every_fixture_model)
{
    DIR *dir = opendir("fixtures/models");
    cr_assert_not_null(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".onnx")) continue;
        char path[512], why[256];
        snprintf(path, sizeof path, "fixtures/models/%s", e->d_name);
        size_t len;
        unsigned char *buf = slurp(path, &len);
        cr_expect(!pb_differ(buf, len, why, sizeof why), "%s: %s", path, why);
        free(buf);
        n++;
    }
    closedir(dir);
    cr_assert_gt(n, 40, "only %d models found", n);
}

Test(webcompat, pb_damaged_copies, .timeout = 120)
{
    struct rng r;
    rng_seed(&r, 16);
    int accepted = 0, refused = 0;
    for (size_t m = 0; m < sizeof MODELS / sizeof *MODELS; m++) {
        size_t len;
        unsigned char *orig = slurp(MODELS[m], &len), *buf = malloc(len);
        for (int k = 0; k < 400; k++) {
            memcpy(buf, orig, len);
            size_t n = len;
            char why[256];
            int kind = k % 4;
            if (kind == 0) /* truncated */
                n = (size_t)(rng_next(&r) % len);
            else if (kind == 1) /* bytes flipped */
                for (int j = 0; j < 1 + (int)(rng_next(&r) % 4); j++)
                    buf[rng_next(&r) % len] ^= (unsigned char)(1u << (rng_next(&r) % 8));
            else if (kind == 2) /* a byte set anywhere in the first 256 (headers, tags) */
                buf[rng_next(&r) % (len < 256 ? len : 256)] = (unsigned char)rng_next(&r);
            else /* a run zeroed */
                memset(buf + rng_next(&r) % (len - 16), 0, 1 + rng_next(&r) % 16);
            int d = pb_differ(buf, n, why, sizeof why);
            cr_expect(!d, "%s, damaged copy %d (kind %d, %zu bytes): %s", MODELS[m], k, kind, n,
                      why);
            ProtobufCMessage *x =
                protobuf_c_message_unpack(&onnx__model_proto__descriptor, NULL, n, buf);
            if (x)
                accepted++, protobuf_c_message_free_unpacked(x, NULL);
            else
                refused++;
        }
        free(orig);
        free(buf);
    }
    /* both outcomes must have been exercised, or the comparison says little */
    cr_assert(accepted > 100 && refused > 100, "accepted %d, refused %d", accepted, refused);
}

/* ---------------------------------------------------------------- inflate */
/* deflate of src by zlib: wbits -15 raw, 15 zlib-wrapped; level 0 stored. */
static unsigned char *deflate_with(const unsigned char *src, size_t n, int level, int wbits,
                                   int strategy, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(deflateInit2(&z, level, Z_DEFLATED, wbits, 8, strategy), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 16;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)src, z.avail_in = (uInt)n;
    z.next_out = out, z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* One-shot inflate by zlib (real 1) or the stand-in: Z_STREAM_END or not,
 * the output in out (cap bytes), its length in *got. */
static int inflate_one(int real, const unsigned char *src, size_t n, int wbits,
                       unsigned char *out, size_t cap, size_t *got)
{
    int r;
    if (real) {
        z_stream z;
        memset(&z, 0, sizeof z);
        inflateInit2(&z, wbits);
        z.next_in = (Bytef *)src, z.avail_in = (uInt)n, z.next_out = out,
        z.avail_out = (uInt)cap;
        r = inflate(&z, Z_NO_FLUSH);
        *got = z.total_out;
        inflateEnd(&z);
    } else {
        compat_stream z;
        memset(&z, 0, sizeof z);
        compat_inflateInit2(&z, wbits);
        z.next_in = src, z.avail_in = (uInt)n, z.next_out = out, z.avail_out = (uInt)cap;
        r = compat_inflate(&z, 0);
        *got = z.total_out;
        compat_inflateEnd(&z);
    }
    return r == Z_STREAM_END;
}

/* Data with runs, text and noise, so that every block type and long matches occur. */
static unsigned char *sample(struct rng *r, size_t n)
{
    unsigned char *d = malloc(n);
    for (size_t i = 0; i < n;) {
        size_t run = 1 + rng_next(r) % 300;
        int kind = (int)(rng_next(r) % 3);
        for (size_t k = 0; k < run && i < n; k++, i++)
            d[i] = kind == 0   ? 'a' + (unsigned char)(i % 7)
                   : kind == 1 ? (unsigned char)rng_next(r)
                               : (i >= 1000 ? d[i - 1000] : 'x');
    }
    return d;
}

Test(webcompat, inflate_same_bytes)
{
    struct rng r;
    rng_seed(&r, 1);
    const size_t sizes[] = {0, 1, 100, 5000, 70000, 400000};
    const int levels[] = {0, 1, 6, 9},
              strategies[] = {Z_DEFAULT_STRATEGY, Z_FIXED, Z_HUFFMAN_ONLY, Z_RLE};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int wrap = 0; wrap < 2; wrap++)
            for (int l = 0; l < 4; l++)
                for (int st = 0; st < 4; st++) {
                    unsigned char *src = sample(&r, sizes[s] ? sizes[s] : 1);
                    size_t clen, got;
                    int wbits = wrap ? 15 : -15;
                    unsigned char *c =
                        deflate_with(src, sizes[s], levels[l], wbits, strategies[st], &clen);
                    unsigned char *out = malloc(sizes[s] + 1);
                    int end = inflate_one(0, c, clen, wbits, out, sizes[s] + 1, &got);
                    cr_expect(end && got == sizes[s] && !memcmp(out, src, sizes[s]),
                              "%zu bytes, wrap %d, level %d, strategy %d: end %d, %zu bytes",
                              sizes[s], wrap, levels[l], strategies[st], end, got);
                    cr_expect_eq(compat_crc32_z(0, src, sizes[s]), crc32_z(0, src, sizes[s]));
                    free(src), free(c), free(out);
                }
}

Test(webcompat, inflate_damaged_streams, .timeout = 120)
{
    struct rng r;
    rng_seed(&r, 2);
    int ok = 0, bad = 0;
    for (int k = 0; k < 3000; k++) {
        size_t n = 1 + rng_next(&r) % 20000, clen, g1, g2;
        int wbits = k % 2 ? 15 : -15;
        unsigned char *src = sample(&r, n);
        unsigned char *c = deflate_with(src, n, (int)(rng_next(&r) % 10), wbits,
                                        k % 3 ? Z_DEFAULT_STRATEGY : Z_FIXED, &clen);
        if (k % 5 == 0)
            clen = rng_next(&r) % clen; /* truncated */
        else
            for (int j = 0; j < 1 + (int)(rng_next(&r) % 3); j++)
                c[rng_next(&r) % clen] ^= (unsigned char)(1u << (rng_next(&r) % 8));
        size_t cap = n + 64;
        unsigned char *o1 = malloc(cap), *o2 = malloc(cap);
        int e1 = inflate_one(1, c, clen, wbits, o1, cap, &g1);
        int e2 = inflate_one(0, c, clen, wbits, o2, cap, &g2);
        cr_expect_eq(e1, e2, "stream %d (%zu -> %zu bytes, wbits %d): zlib %s, compat %s", k, n,
                     clen, wbits, e1 ? "completes" : "fails", e2 ? "completes" : "fails");
        if (e1 && e2)
            cr_expect(g1 == g2 && !memcmp(o1, o2, g1), "stream %d: different output", k);
        e1 ? ok++ : bad++;
        free(src), free(c), free(o1), free(o2);
    }
    cr_assert(ok > 50 && bad > 500, "completed %d, failed %d", ok, bad);
}

/* Every input the webcompat fuzzer found (fuzz/regress/webcompat/): both
 * unpackers and both inflates agree on it. */
Test(webcompat, fuzz_regressions)
{
    DIR *dir = opendir("fuzz/regress/webcompat");
    cr_assert_not_null(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        char path[512], why[256];
        snprintf(path, sizeof path, "fuzz/regress/webcompat/%s", e->d_name);
        size_t len, g1, g2;
        unsigned char *buf = slurp(path, &len);
        cr_expect(!pb_differ(buf, len, why, sizeof why), "%s: %s", path, why);
        unsigned char *o1 = malloc(1 << 16), *o2 = malloc(1 << 16);
        for (int wbits = -15; wbits <= 15; wbits += 30) {
            int e1 = inflate_one(1, buf, len, wbits, o1, 1 << 16, &g1);
            int e2 = inflate_one(0, buf, len, wbits, o2, 1 << 16, &g2);
            cr_expect(e1 == e2 && (!e1 || (g1 == g2 && !memcmp(o1, o2, g1))), "%s, wbits %d",
                      path, wbits);
        }
        free(o1), free(o2), free(buf);
        n++;
    }
    closedir(dir);
    cr_assert_geq(n, 3, "%d regression inputs", n);
}
