/* fuzz_onnx.c - libFuzzer entry point for ONNX model loading: model_parse
 * decodes the protobuf, builds the graph, checks it (cycles, dangling inputs,
 * attributes), infers every shape and folds constants. A model that loads is
 * then described and run forward once on a zero batch of one, so a shape the
 * inference got wrong shows as an out-of-bounds access in a kernel.
 * Build and run: make fuzz FUZZ_SECONDS=60 (see fuzz/README.md).
 * Seeds: fuzz/corpus/onnx/ (tiny and ops models, every bad_*.onnx fixture).
 */
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_model_one(data, size, "fuzz.onnx");
}
