"""The machine a benchmark ran on, and its measured float32 peak."""

import contextlib
import os
import platform
import time

import numpy as np

import fastrnn


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    found = {"python": platform.python_version(), "fastrnn": fastrnn.__version__,
             "numpy": np.__version__}
    for name in ("torch", "onnxruntime"):
        try:
            found[name] = __import__(name).__version__
        except ImportError:
            found[name] = None
    return found


@contextlib.contextmanager
def blas_threads(count: int):
    """NumPy's BLAS held to `count` threads (yields False when threadpoolctl,
    which does it, is not installed: the BLAS keeps its own setting)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield False
        return
    with threadpool_limits(count):
        yield True


def sgemm_peak_gflops(seconds: float = 1.0, size: int = 1536) -> dict:
    """Single-thread float32 GEMM rate through NumPy (best of repeated
    size^3 products): the practical ceiling of one core. NumPy's BLAS is held
    to one thread with threadpoolctl when it is installed."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    b = a.T.copy()
    flops = 2.0 * size ** 3
    with blas_threads(1) as single:
        best = np.inf
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or best == np.inf:
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return {"gflops": flops / best / 1e9, "matrix": size, "single_thread": single}


def describe() -> dict:
    info = fastrnn.info()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "isa": info["isa"],
            "openmp": info["openmp"], "compiler": info["compiler"], "versions": versions()}
