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
    case FR_ISA_AVX512_VNNI:
        return cpu_runs(FR_ISA_AVX512) && __builtin_cpu_supports("avx512vnni");
    case FR_ISA_AVX512_BF16:
        return cpu_runs(FR_ISA_AVX512_VNNI) && __builtin_cpu_supports("avx512bf16");
#endif
    default: return 0;
    }
}

/* The table of a level for `precision`: its own, or the one below it runs. */
static const fr_kernels *table_of(fr_isa isa, fr_precision precision)
{
    switch (isa) {
    case FR_ISA_GENERIC:
        return precision == FR_PRECISION_FLOAT32    ? &fr_kernels_generic
               : precision == FR_PRECISION_BFLOAT16 ? &fr_kernels_generic_bf16
               : precision == FR_PRECISION_INT8     ? &fr_kernels_generic_int8
                                                    : NULL;
#if defined(FR_HAVE_AVX2)
    case FR_ISA_AVX2:
        return precision == FR_PRECISION_FLOAT32    ? &fr_kernels_avx2
               : precision == FR_PRECISION_FLOAT16  ? &fr_kernels_avx2_f16
               : precision == FR_PRECISION_BFLOAT16 ? &fr_kernels_avx2_bf16
                                                    : &fr_kernels_avx2_int8;
#endif
#if defined(FR_HAVE_AVX512)
    case FR_ISA_AVX512:
        return precision == FR_PRECISION_FLOAT32    ? &fr_kernels_avx512
               : precision == FR_PRECISION_FLOAT16  ? &fr_kernels_avx512_f16
               : precision == FR_PRECISION_BFLOAT16 ? &fr_kernels_avx512_bf16
                                                    : &fr_kernels_avx512_int8;
#endif
#if defined(FR_HAVE_AVX512_VNNI)
    case FR_ISA_AVX512_VNNI:
        return precision == FR_PRECISION_INT8 ? &fr_kernels_avx512_int8dot
                                              : table_of(FR_ISA_AVX512, precision);
#endif
#if defined(FR_HAVE_AVX512_BF16)
    case FR_ISA_AVX512_BF16:
        return precision == FR_PRECISION_BFLOAT16 ? &fr_kernels_avx512_bf16dot
                                                  : table_of(FR_ISA_AVX512_VNNI, precision);
#endif
    default: return NULL;
    }
}

const fr_kernels *fr_kernels_for(fr_isa isa, fr_precision precision)
{
    if (precision < FR_PRECISION_FLOAT32 || precision > FR_PRECISION_INT8) return NULL;
    const fr_kernels *table = table_of(isa, precision);
    return table != NULL && cpu_runs(isa) ? table : NULL;
}

int fr_isa_supported(fr_isa isa) { return fr_kernels_for(isa, FR_PRECISION_FLOAT32) != NULL; }

int fr_precision_supported(fr_isa isa, fr_precision precision)
{
    return fr_kernels_for(isa, precision) != NULL;
}

fr_isa fr_isa_best(void)
{
    for (fr_isa isa = FR_ISA_AVX512_BF16; isa > FR_ISA_GENERIC; isa--)
        if (fr_isa_supported(isa)) return isa;
    return FR_ISA_GENERIC;
}

const char *fr_kernels_name(fr_isa isa, fr_precision precision)
{
    const fr_kernels *kernels = fr_kernels_for(isa, precision);
    return kernels != NULL ? kernels->name : NULL;
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
