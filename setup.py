"""Build of fastrnn's one extension module, fastrnn._engine.

The kernel files of csrc/ are compiled once per instruction set (generic,
AVX2+FMA, AVX-512) into separate objects and linked together; dispatch.c picks
one at run time for the CPU it runs on, so no -march=native is baked in.
OpenMP is used when the compiler supports it; otherwise the build is serial,
with a warning (FASTRNN_REQUIRE_OPENMP=1 makes that an error, as in CI).
"""

import os
import platform
import shutil
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_SOURCES = ["csrc/gemm.c", "csrc/lstm.c", "csrc/gru.c", "csrc/rnn.c", "csrc/dense.c",
                  "csrc/pointwise.c", "csrc/conv.c", "csrc/kernels.c"]
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
        have = [("FR_HAVE_" + isa.upper(), "1") for isa in isas]
        flags = C_FLAGS + openmp

        # One set of kernel objects per instruction set, and per weight
        # precision where the set has F16C (float16 weights); the training
        # kernels once per instruction set.
        variants = [("generic", [])] + [(isa, []) for isa in isas]
        variants += [(isa + "_f16", [("FR_WEIGHTS_F16", "1")]) for isa in isas]
        objects = []
        for name, precision_macros in variants:
            isa = name.split("_")[0]
            isa_macros = [("FR_KERNELS_" + isa.upper(), "1")] if isa != "generic" else []
            sources = KERNEL_SOURCES + ([] if precision_macros else TRAIN_SOURCES + AUDIO_SOURCES)
            objects += compiler.compile(
                sources,
                output_dir=os.path.join(self.build_temp, name),
                macros=have + isa_macros + precision_macros,
                include_dirs=["csrc"],
                extra_postargs=flags + ISA_FLAGS.get(isa, []),
            )
        build_flags = " ".join(flags) + " | kernels: " + ", ".join(["generic"] + isas)
        objects += compiler.compile(
            COMMON_SOURCES,
            output_dir=os.path.join(self.build_temp, "common"),
            macros=have + [("FR_BUILD_FLAGS", '"%s"' % build_flags)],
            include_dirs=["csrc"],
            extra_postargs=flags,
        )
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
