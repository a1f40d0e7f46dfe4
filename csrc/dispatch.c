/*
 * dispatch.c - which kernel table runs: the instruction sets built in, and
 * those this CPU (and its operating system) can execute.
 */
#include "kernels.h"

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
