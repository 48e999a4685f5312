/* test_webcompat_impl.c - the browser build's stand-ins for zlib's inflate
 * and protobuf-c's unpacker (web/compat/), compiled natively under other
 * names so that tests/test_webcompat.c can run them beside the real
 * libraries in one binary. No tests of its own.
 */
#define protobuf_c_message_unpack          compat_pb_unpack
#define protobuf_c_message_free_unpacked   compat_pb_free_unpacked
#define protobuf_c_message_get_packed_size compat_pb_get_packed_size
#define protobuf_c_message_pack            compat_pb_pack
#define protobuf_c_message_pack_to_buffer  compat_pb_pack_to_buffer
#define inflateInit2                       compat_inflateInit2
#define inflate                            compat_inflate
#define inflateEnd                         compat_inflateEnd
#define crc32_z                            compat_crc32_z

#include "../web/compat/inflate.c"
#include "../web/compat/protobuf_c.c"
