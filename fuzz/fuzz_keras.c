/* fuzz_keras.c - libFuzzer entry point for Keras model loading: model_parse
 * of a .keras archive (zip, config.json, model.weights.h5) or a legacy .h5
 * (HDF5 with the config in an attribute): the readers, then the importer
 * (the config's layers, their connections, the weights' groups and shapes),
 * the builder's checks; a model that loads is described and run forward
 * once on zeros (fuzz_model.h). Fuzzing builds skip the zip CRC and the
 * HDF5 checksums, so mutations reach the JSON and the weights.
 * Build and run: make fuzz FUZZ_TARGETS=keras FUZZ_RUNS=N (see fuzz/README.md).
 * Seeds: fuzz/corpus/keras/ (every fixture model under 200 KB in both
 * formats, and the hostile files of fixtures/keras/bad/).
 */
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_model_one(data, size, "fuzz.keras");
}
