"""Process-wide settings: threads and the instruction set new models use."""

from __future__ import annotations

import os
from importlib import metadata

from ._engine import (available_isas, available_precisions, best_isa, build_info,
                      check_num_threads, cores, kernels_name, max_threads)

try:
    __version__ = metadata.version("fastrnn")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"


def _default_threads() -> int:
    """OMP_NUM_THREADS (at most max_threads()), else the cores."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return min(int(value), max_threads())
    return cores()


def _default_isa() -> str:
    forced = os.environ.get("FASTRNN_ISA", "").strip().lower()
    if not forced:
        return best_isa()
    if forced not in available_isas():
        raise RuntimeError(f"FASTRNN_ISA={forced!r} cannot be used here; expected one of "
                           f"{available_isas()} (built in and supported by this CPU)")
    return forced


_num_threads = _default_threads()
_isa = _default_isa()


def set_num_threads(num_threads: int) -> None:
    """Threads used by ``predict`` (OpenMP over the batch, or over hidden units
    for a large layer with a small batch) and by new streams: 1 to
    ``max_threads()``, the cores this process may run on (ValueError
    otherwise). Results are bit-for-bit identical for every thread count."""
    global _num_threads
    _num_threads = check_num_threads(num_threads)


def get_num_threads() -> int:
    return _num_threads


def default_isa() -> str:
    """The instruction set new models are packed for: FASTRNN_ISA if set, else
    the widest this CPU supports."""
    return _isa


def info() -> dict:
    """Version, instruction sets, threads and build of this fastrnn; "kernels":
    for each weight precision, the kernels new models of it run (e.g.
    "avx512_bf16 vdpbf16ps")."""
    build = build_info()
    return {
        "version": __version__,
        "isa": _isa,
        "available_isas": available_isas(),
        "kernels": {precision: kernels_name(_isa, precision)
                    for precision in available_precisions(_isa)},
        "num_threads": _num_threads,
        "openmp": build["openmp"],
        "compiler": build["compiler"],
        "compiler_flags": build["flags"],
    }
