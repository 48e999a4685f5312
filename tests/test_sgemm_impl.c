/* test_sgemm_impl.c - core/sgemm.c (the WebAssembly build's GEMM, compiled
 * only with INTERP_NO_BLAS) built natively under other names, for
 * tests/test_sgemm.c to compare with OpenBLAS. No tests of its own.
 */
#define INTERP_NO_BLAS
#define cblas_sgemm              lite_sgemm
#define cblas_sgemv              lite_sgemv
#define openblas_get_num_threads lite_get_num_threads
#define openblas_set_num_threads lite_set_num_threads
#include "../core/sgemm.c"
