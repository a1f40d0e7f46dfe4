/*
 * dispatch.c - which kernel table runs: the instruction sets built in, and
 * those this CPU (and its operating system) can execute.
 */
#include "kernels.h"

static const char *const isa_names[] = {"generic", "avx2", "avx512"};

const char *fr_isa_name(fr_isa isa)
{
    return (unsigned)isa < 3 ? isa_names[isa] : "unknown";
}

static int cpu_runs(fr_isa isa)
{
    switch (isa) {
    case FR_ISA_GENERIC: return 1;
#if defined(FR_HAVE_AVX2) || defined(FR_HAVE_AVX512)
    case FR_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               && __builtin_cpu_supports("f16c");
    case FR_ISA_AVX512:
        __builtin_cpu_init();
        return cpu_runs(FR_ISA_AVX2) && __builtin_cpu_supports("avx512f")
               && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")
               && __builtin_cpu_supports("avx512vl");
#endif
    default: return 0;
    }
}

const fr_kernels *fr_kernels_for(fr_isa isa, fr_precision precision)
{
    const fr_kernels *table = NULL;
    int half = precision == FR_PRECISION_FLOAT16;
    if (precision != FR_PRECISION_FLOAT32 && !half) return NULL;
    switch (isa) {
    case FR_ISA_GENERIC: table = half ? NULL : &fr_kernels_generic; break;
#if defined(FR_HAVE_AVX2)
    case FR_ISA_AVX2: table = half ? &fr_kernels_avx2_f16 : &fr_kernels_avx2; break;
#endif
#if defined(FR_HAVE_AVX512)
    case FR_ISA_AVX512: table = half ? &fr_kernels_avx512_f16 : &fr_kernels_avx512; break;
#endif
    default: break;
    }
    return table != NULL && cpu_runs(isa) ? table : NULL;
}

int fr_isa_supported(fr_isa isa) { return fr_kernels_for(isa, FR_PRECISION_FLOAT32) != NULL; }

int fr_precision_supported(fr_isa isa, fr_precision precision)
{
    return fr_kernels_for(isa, precision) != NULL;
}

fr_isa fr_isa_best(void)
{
    if (fr_isa_supported(FR_ISA_AVX512)) return FR_ISA_AVX512;
    if (fr_isa_supported(FR_ISA_AVX2)) return FR_ISA_AVX2;
    return FR_ISA_GENERIC;
}

fr_status fr_activate(fr_isa isa, fr_activation act, const float *x, float *y, size_t n)
{
    const fr_kernels *kernels = fr_kernels_for(isa, FR_PRECISION_FLOAT32);
    if (kernels == NULL) return FR_ERR_ISA;
    if (act < FR_ACT_LINEAR || act >= FR_ACT_SOFTMAX || (n > 0 && (x == NULL || y == NULL)))
        return FR_ERR_ARG;
    kernels->activate(act, x, y, n);
    return FR_OK;
}

fr_status fr_lstm_train_forward(fr_isa isa, int batch, int hidden, float *gates,
                                const float *c_prev, const float *h_prev, float *c,
                                float *tanh_c, float *h, float *out, const uint8_t *mask)
{
    const fr_kernels *kernels = fr_kernels_for(isa, FR_PRECISION_FLOAT32);
    if (kernels == NULL) return FR_ERR_ISA;
    if (batch < 1 || hidden < 1 || !gates || !c_prev || !h_prev || !c || !tanh_c || !h || !out)
        return FR_ERR_ARG;
    kernels->lstm_train_forward(batch, hidden, gates, c_prev, h_prev, c, tanh_c, h, out, mask);
    return FR_OK;
}

fr_status fr_lstm_train_backward(fr_isa isa, int batch, int hidden, const float *gates,
                                 const float *c_prev, const float *tanh_c, const float *dh,
                                 const float *d_out, float *dc, float *da, const uint8_t *mask)
{
    const fr_kernels *kernels = fr_kernels_for(isa, FR_PRECISION_FLOAT32);
    if (kernels == NULL) return FR_ERR_ISA;
    if (batch < 1 || hidden < 1 || !gates || !c_prev || !tanh_c || !dh || !dc || !da)
        return FR_ERR_ARG;
    kernels->lstm_train_backward(batch, hidden, gates, c_prev, tanh_c, dh, d_out, dc, da, mask);
    return FR_OK;
}

fr_status fr_gru_train_forward(fr_isa isa, int batch, int hidden, float *gates,
                               const float *hidden_proj, const float *h_prev, float *h,
                               float *out, const uint8_t *mask)
{
    const fr_kernels *kernels = fr_kernels_for(isa, FR_PRECISION_FLOAT32);
    if (kernels == NULL) return FR_ERR_ISA;
    if (batch < 1 || hidden < 1 || !gates || !hidden_proj || !h_prev || !h || !out)
        return FR_ERR_ARG;
    kernels->gru_train_forward(batch, hidden, gates, hidden_proj, h_prev, h, out, mask);
    return FR_OK;
}

fr_status fr_gru_train_backward(fr_isa isa, int batch, int hidden, const float *gates,
                                const float *hidden_proj, const float *h_prev, const float *dh,
                                const float *d_out, float *da, float *d_hidden,
                                float *dh_direct, const uint8_t *mask)
{
    const fr_kernels *kernels = fr_kernels_for(isa, FR_PRECISION_FLOAT32);
    if (kernels == NULL) return FR_ERR_ISA;
    if (batch < 1 || hidden < 1 || !gates || !hidden_proj || !h_prev || !dh || !da
        || !d_hidden || !dh_direct)
        return FR_ERR_ARG;
    kernels->gru_train_backward(batch, hidden, gates, hidden_proj, h_prev, dh, d_out, da,
                                d_hidden, dh_direct, mask);
    return FR_OK;
}

const char *fr_build_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

const char *fr_build_flags(void)
{
#ifdef FR_BUILD_FLAGS
    return FR_BUILD_FLAGS;
#else
    return "";
#endif
}

int fr_build_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
