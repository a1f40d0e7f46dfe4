"""The machine a benchmark runs on: its description, its measured float32
peak, and the thread counts the engines are held to."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import time
from collections.abc import Iterator

import numpy as np

import fastrnn

from .peers import PEERS, have


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform says."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str | None]:
    """{package: version} of Python, fastrnn, NumPy and the peers (None: not installed)."""
    found = {"python": platform.python_version(), "fastrnn": fastrnn.__version__,
             "numpy": np.__version__}
    for name in PEERS:
        # the installed distribution's version: not every peer's module has __version__ (tract)
        found[name] = importlib.metadata.version(name) if have(name) else None
    return found


@contextlib.contextmanager
def blas_threads(count: int | None) -> Iterator[bool]:
    """Hold NumPy's BLAS to `count` threads while the block runs.

    Parameters
    ----------
    count : int or None
        Threads; None leaves the BLAS as it is.

    Yields
    ------
    bool
        Whether the BLAS is held: False for None, or when threadpoolctl
        (which does it) is not installed.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if count is None or threadpool_limits is None:
        yield False
        return
    with threadpool_limits(count):
        yield True


@contextlib.contextmanager
def engine_threads(count: int) -> Iterator[None]:
    """Run fastrnn and PyTorch (when installed) on `count` threads while the
    block runs; restore their counts after."""
    torch = __import__("torch") if have("torch") else None
    fastrnn_before = fastrnn.get_num_threads()
    torch_before = torch.get_num_threads() if torch else None
    fastrnn.set_num_threads(count)
    if torch:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        fastrnn.set_num_threads(fastrnn_before)
        if torch:
            torch.set_num_threads(torch_before)


def sgemm_peak_gflops(seconds: float = 1.0, size: int = 1536) -> dict[str, object]:
    """Single-thread float32 GEMM rate through NumPy (best of repeated
    size^3 products): the yardstick of the bench's "of NumPy sgemm" column,
    not the core's FMA peak (bench/machine_limits.c measures that; a well-tuned
    BLAS gets close to it, others do not). NumPy's BLAS is held to one thread
    with threadpoolctl when it is installed."""
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


def describe() -> dict[str, object]:
    """CPU, cores, fastrnn's instruction set and the kernels of each
    precision, OpenMP and compiler, and versions()."""
    info = fastrnn.info()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "isa": info["isa"],
            "kernels": info["kernels"], "openmp": info["openmp"],
            "compiler": info["compiler"], "versions": versions()}
