"""Build of fastrnn's one extension module, fastrnn._engine.

The kernel files of csrc/ are compiled once per instruction set (generic,
AVX2+FMA, AVX-512) into separate objects, those that read packed weights once
more per weight variant (float16, bfloat16, int8; and on AVX-512 the
bfloat16 and int8 dot products of AVX512-BF16 and AVX512-VNNI), and linked
together; dispatch.c picks one at run time for the CPU it runs on, so no
-march=native is baked in.
OpenMP is used when the compiler supports it; otherwise the build is serial,
with a warning (FASTRNN_REQUIRE_OPENMP=1 makes that an error, as in CI).
"""

import concurrent.futures
import os
import platform
import shutil
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The kernels that read packed weights (compiled per weight variant), then the rest.
WEIGHT_SOURCES = ["csrc/gemm.c", "csrc/lstm.c", "csrc/gru.c", "csrc/rnn.c", "csrc/kernels.c",
                  "csrc/small.c"]
KERNEL_SOURCES = WEIGHT_SOURCES + ["csrc/dense.c", "csrc/pointwise.c", "csrc/conv.c"]
# Float32 only, once per instruction set: the trainer's kernels, the audio front end's.
TRAIN_SOURCES = ["csrc/train.c"]
AUDIO_SOURCES = ["csrc/fft.c", "csrc/frame.c"]
COMMON_SOURCES = ["csrc/pack.c", "csrc/model.c", "csrc/graph.c", "csrc/stream.c",
                  "csrc/dispatch.c", "csrc/train_dispatch.c", "csrc/fft_plan.c", "csrc/frontend.c"]
# -fno-math-errno: sqrtf and friends compile to instructions (nothing here reads errno).
C_FLAGS = ["-std=c99", "-O3", "-ffp-contract=fast", "-fno-strict-aliasing", "-fno-math-errno",
           "-Wno-psabi"]
ISA_FLAGS = {
    "avx2": ["-mavx2", "-mfma", "-mf16c"],
    "avx512": ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"],
}
ISA_PROBE = {
    "avx2": "#include <immintrin.h>\nint main(void){__m256 a=_mm256_set1_ps(1.f);"
    "a=_mm256_fmadd_ps(a,a,_mm256_cvtph_ps(_mm_setzero_si128()));"
    "return (int)_mm256_cvtss_f32(a)-1;}\n",
    "avx512": "#include <immintrin.h>\nint main(void){__m512 a=_mm512_set1_ps(1.f);"
    "a=_mm512_fmadd_ps(a,a,_mm512_cvtph_ps(_mm256_setzero_si256()));"
    "return (int)_mm512_reduce_add_ps(a)-16;}\n",
}
# The dot-product variants of the AVX-512 kernels: (weights, extra flags, probe).
DOT_VARIANTS = {
    "avx512_bf16": ("bf16dot", ["-mavx512bf16"],
                    "#include <immintrin.h>\nint main(void){__m512 a=_mm512_setzero_ps();"
                    "__m512bh b=_mm512_cvtne2ps_pbh(a,a);a=_mm512_dpbf16_ps(a,b,b);"
                    "return (int)_mm512_reduce_add_ps(a);}\n"),
    "avx512_vnni": ("int8dot", ["-mavx512vnni"],
                    "#include <immintrin.h>\nint main(void){__m512i a=_mm512_setzero_si512();"
                    "a=_mm512_dpbusd_epi32(a,a,a);return _mm512_reduce_add_epi32(a);}\n"),
}
WEIGHT_MACROS = {"f16": [("FR_WEIGHTS_F16", "1")], "bf16": [("FR_WEIGHTS_BF16", "1")],
                 "int8": [("FR_WEIGHTS_INT8", "1")],
                 "bf16dot": [("FR_WEIGHTS_BF16", "1"), ("FR_DOT_BF16", "1")],
                 "int8dot": [("FR_WEIGHTS_INT8", "1"), ("FR_DOT_INT8", "1")]}
OPENMP_PROBE = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"


def compiles(compiler, source, flags):
    """True if `source` compiles and links with `flags`."""
    tmp = tempfile.mkdtemp(prefix="fastrnn-probe-")
    try:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(source)
        objects = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
        compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=flags)
        return True
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        compiler = self.compiler
        openmp = ["-fopenmp"] if compiles(compiler, OPENMP_PROBE, ["-fopenmp"]) else []
        if not openmp:
            if os.environ.get("FASTRNN_REQUIRE_OPENMP") == "1":
                sys.exit("error: the C compiler has no OpenMP and FASTRNN_REQUIRE_OPENMP=1")
            print("warning: the C compiler has no OpenMP; fastrnn is built single-threaded")
        x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
        isas = [isa for isa in ISA_FLAGS
                if x86 and compiles(compiler, ISA_PROBE[isa], ISA_FLAGS[isa])]
        dots = [name for name, (_, extra, probe) in DOT_VARIANTS.items()
                if "avx512" in isas and compiles(compiler, probe, ISA_FLAGS["avx512"] + extra)]
        have = [("FR_HAVE_" + name.upper(), "1") for name in isas + dots]
        flags = C_FLAGS + openmp

        # (directory, instruction set, weights, extra flags): every kernel once
        # per instruction set (float32, with the training and audio kernels),
        # the weight kernels once per weight variant (float16 needs F16C).
        variants = [(isa, isa, None, []) for isa in ["generic"] + isas]
        variants += [(f"{isa}_{weights}", isa, weights, [])
                     for isa in ["generic"] + isas for weights in ("f16", "bf16", "int8")
                     if isa != "generic" or weights != "f16"]
        variants += [(f"avx512_{DOT_VARIANTS[dot][0]}", "avx512", DOT_VARIANTS[dot][0],
                      DOT_VARIANTS[dot][1]) for dot in dots]
        jobs = []       # (source, directory, macros, flags): one compiler call each
        for directory, isa, weights, extra in variants:
            isa_macros = [("FR_KERNELS_" + isa.upper(), "1")] if isa != "generic" else []
            sources = (WEIGHT_SOURCES if weights
                       else KERNEL_SOURCES + TRAIN_SOURCES + AUDIO_SOURCES)
            jobs += [(source, directory, have + isa_macros + WEIGHT_MACROS.get(weights, []),
                      flags + ISA_FLAGS.get(isa, []) + extra) for source in sources]
        build_flags = " ".join(flags) + " | kernels: " + ", ".join(["generic"] + isas + dots)
        jobs += [(source, "common", have + [("FR_BUILD_FLAGS", '"%s"' % build_flags)], flags)
                 for source in COMMON_SOURCES]

        def compile_one(job):
            source, directory, macros, extra_flags = job
            return compiler.compile([source], output_dir=os.path.join(self.build_temp, directory),
                                    macros=macros, include_dirs=["csrc"],
                                    extra_postargs=extra_flags)

        # The compiler runs one process per file: as many at once as there are cores.
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            objects = [obj for compiled in pool.map(compile_one, jobs) for obj in compiled]
        for ext in self.extensions:
            ext.extra_objects = objects + list(ext.extra_objects or [])
            ext.extra_compile_args = ["-O2"] + openmp
            ext.extra_link_args = openmp
        super().build_extensions()


extension = Extension("fastrnn._engine", ["fastrnn/_engine.pyx"],
                      include_dirs=["csrc", numpy.get_include()],
                      define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                      depends=[os.path.join("csrc", f) for f in os.listdir("csrc")])
setup(
    ext_modules=cythonize([extension], language_level=3),
    cmdclass={"build_ext": BuildExt},
)
