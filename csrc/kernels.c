/*
 * kernels.c - the kernel table of one instruction set (compiled once per set,
 * like the kernel files it points into).
 */
#include "simd.h"
#include "kernels.h"

#if defined(FR_KERNELS_AVX512)
#define FR_ISA_NAME "avx512"
#elif defined(FR_KERNELS_AVX2)
#define FR_ISA_NAME "avx2"
#else
#define FR_ISA_NAME "generic"
#endif

#ifdef FR_WEIGHTS_F16
#define FR_PRECISION FR_PRECISION_FLOAT16
#else
#define FR_PRECISION FR_PRECISION_FLOAT32
#endif

const fr_kernels FR_SUFFIX(fr_kernels) = {
    .name = FR_ISA_NAME,
    .precision = FR_PRECISION,
    .vlen = FR_VLEN,
    .rows = FR_MR,
    .gemm = FR_SUFFIX(fr_gemm),
    .lstm = FR_SUFFIX(fr_lstm),
    .gru = FR_SUFFIX(fr_gru),
    .rnn = FR_SUFFIX(fr_rnn),
    .dense_activation = FR_SUFFIX(fr_dense_activation),
    .activate = FR_SUFFIX(fr_activate),
    .unary = FR_SUFFIX(fr_unary_rows),
    .binary = FR_SUFFIX(fr_binary_rows),
    .affine = FR_SUFFIX(fr_affine_rows),
    .layer_norm = FR_SUFFIX(fr_layer_norm_rows),
    .reduce = FR_SUFFIX(fr_reduce_rows),
    .depthwise = FR_SUFFIX(fr_depthwise_rows),
    .pool = FR_SUFFIX(fr_pool_rows),
};
