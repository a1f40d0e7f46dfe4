/*
 * kernels.c - the kernel table of one instruction set and weight variant
 * (compiled once per pair, like the weight kernels it points into).
 */
#include "simd.h"
#include "kernels.h"
#include "small.h"

#if defined(FR_DOT_BF16)
#define FR_ISA_NAME "avx512_bf16"
#elif defined(FR_DOT_INT8)
#define FR_ISA_NAME "avx512_vnni"
#elif defined(FR_KERNELS_AVX512)
#define FR_ISA_NAME "avx512"
#elif defined(FR_KERNELS_AVX2)
#define FR_ISA_NAME "avx2"
#else
#define FR_ISA_NAME "generic"
#endif

/* The precision, and how the products are computed. */
#if defined(FR_WEIGHTS_F16)
#define FR_PRECISION FR_PRECISION_FLOAT16
#define FR_PRODUCTS " float16 (widened)"
#elif defined(FR_DOT_BF16)
#define FR_PRECISION FR_PRECISION_BFLOAT16
#define FR_PRODUCTS " vdpbf16ps"
#elif defined(FR_WEIGHTS_BF16)
#define FR_PRECISION FR_PRECISION_BFLOAT16
#define FR_PRODUCTS " bfloat16 (widened)"
#elif defined(FR_DOT_INT8)
#define FR_PRECISION FR_PRECISION_INT8
#define FR_PRODUCTS " vpdpbusd"
#elif defined(FR_WEIGHTS_INT8)
#define FR_PRECISION FR_PRECISION_INT8
#define FR_PRODUCTS " int8 (widened)"
#else
#define FR_PRECISION FR_PRECISION_FLOAT32
#define FR_PRODUCTS " float32"
#endif

const fr_kernels FR_SUFFIX(fr_kernels) = {
    .name = FR_ISA_NAME FR_PRODUCTS,
    .precision = FR_PRECISION,
    .vlen = FR_VLEN,
    .rows = FR_MR,
    .kgroup = FR_KGROUP,
    .gemm = FR_SUFFIX(fr_gemm),
    .lstm = FR_SUFFIX(fr_lstm),
    .gru = FR_SUFFIX(fr_gru),
#if defined(FR_SMALL_PATH)
    .lstm_one_input = FR_SUFFIX(fr_lstm_one_input),
    .gru_one_input = FR_SUFFIX(fr_gru_one_input),
#endif
#if defined(FR_STEP_INPUT)
    .lstm_step_input = FR_SUFFIX(fr_lstm_step_input),
    .gru_step_input = FR_SUFFIX(fr_gru_step_input),
#endif
    .rnn = FR_SUFFIX(fr_rnn),
    .dense_unit = FR_ISA_SUFFIX(fr_dense_unit),
    .dense_activation = FR_ISA_SUFFIX(fr_dense_activation),
    .activate = FR_ISA_SUFFIX(fr_activate),
    .unary = FR_ISA_SUFFIX(fr_unary_rows),
    .binary = FR_ISA_SUFFIX(fr_binary_rows),
    .affine = FR_ISA_SUFFIX(fr_affine_rows),
    .layer_norm = FR_ISA_SUFFIX(fr_layer_norm_rows),
    .reduce = FR_ISA_SUFFIX(fr_reduce_rows),
    .depthwise = FR_ISA_SUFFIX(fr_depthwise_rows),
    .pool = FR_ISA_SUFFIX(fr_pool_rows),
};
