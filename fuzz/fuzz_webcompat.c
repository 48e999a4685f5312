/* fuzz_webcompat.c - differential libFuzzer entry point for the browser
 * build's stand-ins (web/compat/, compiled under compat_* names by
 * tests/test_webcompat_impl.c): the input is inflated as raw deflate and as a
 * zlib stream by web/compat/inflate.c and by zlib, and unpacked as an ONNX
 * ModelProto by web/compat/protobuf_c.c and by protobuf-c. Each pair must
 * agree (completes or fails, and the same bytes; accepts or refuses), else
 * the fuzzer stops on a trap; ASan watches the stand-ins' memory accesses.
 * Build and run: make fuzz FUZZ_TARGETS=webcompat FUZZ_RUNS=N (fuzz/README.md).
 * Seeds: fuzz/corpus/webcompat/ (small ONNX models, deflate streams).
 */
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "onnx.pb-c.h"

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

enum { CAP = 1 << 18 };
static unsigned char out1[CAP], out2[CAP];

static void inflate_both(const uint8_t *data, size_t size, int wbits)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    inflateInit2(&z, wbits);
    z.next_in = (Bytef *)data, z.avail_in = (uInt)size, z.next_out = out1, z.avail_out = CAP;
    int e1 = inflate(&z, Z_NO_FLUSH) == Z_STREAM_END;
    size_t g1 = z.total_out;
    inflateEnd(&z);
    compat_stream c;
    memset(&c, 0, sizeof c);
    compat_inflateInit2(&c, wbits);
    c.next_in = data, c.avail_in = (uInt)size, c.next_out = out2, c.avail_out = CAP;
    int e2 = compat_inflate(&c, 0) == Z_STREAM_END;
    size_t g2 = c.total_out;
    compat_inflateEnd(&c);
    if (e1 != e2 || (e1 && (g1 != g2 || memcmp(out1, out2, g1)))) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    inflate_both(data, size, -15);
    inflate_both(data, size, 15);
    ProtobufCMessage *a =
        protobuf_c_message_unpack(&onnx__model_proto__descriptor, NULL, size, data);
    ProtobufCMessage *b = compat_pb_unpack(&onnx__model_proto__descriptor, NULL, size, data);
    if (!a != !b) __builtin_trap();
    if (a) protobuf_c_message_free_unpacked(a, NULL);
    if (b) compat_pb_free_unpacked(b, NULL);
    return 0;
}
