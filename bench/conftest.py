"""pytest-benchmark over fastrnn.perf's cases (the ones ``fastrnn bench``
times): the machine and versions in the header, `measure` to time one engine
of a case, and at the end a table per case of each engine's median and the
ratio peer median / fastrnn median (above 1: fastrnn is faster).

Every benchmark's group is its case's name; extra_info holds the engine, per
and unit (what one timed call processes), flops, and for streaming latency
the p99 of single calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pytest

from fastrnn.perf import machine, report
from fastrnn.perf.cases import Case
from fastrnn.perf.peers import ENGINES
from fastrnn.perf.timing import sample_calls, summary

P99_CALLS = 3000     # single calls whose p99 a streaming latency case reports


def pytest_report_header(config) -> list[str]:
    described = machine.describe()
    versions = ", ".join(f"{name} {version or 'not installed'}"
                         for name, version in described["versions"].items())
    return [f"machine: {described['cpu']}, {described['cores']} cores",
            f"versions: {versions}",
            f"fastrnn: isa {described['isa']}, openmp {described['openmp']}, "
            f"{described['compiler']}"]


def pytest_terminal_summary(terminalreporter, config) -> None:
    session = getattr(config, "_benchmarksession", None)
    groups = {}
    for bench in getattr(session, "benchmarks", None) or []:
        groups.setdefault(bench.group, {})[bench.extra_info["engine"]] = bench
    if not groups:
        return
    write = terminalreporter.write_line
    write("")
    write("fastrnn vs peers: median per unit, GFLOP/s; ratio = peer / fastrnn")
    for group, by_engine in sorted(groups.items()):
        ratios = report.ratios({name: bench.stats.median for name, bench in by_engine.items()})
        cells = []
        names = [name for name in ENGINES if name in by_engine]
        for name in names + [name for name in by_engine if name not in names]:  # e.g. "model"
            bench = by_engine[name]
            info, median = bench.extra_info, bench.stats.median
            shown = f"{median / info['per'] * 1e6:.2f} us/{info['unit']}"
            if "p99_us" in info:
                shown += f" (p99 {info['p99_us']:.2f} us)"
            shown += f", {info['flops'] / median / 1e9:.1f} GFLOP/s"
            if name in ratios:
                shown += f", x{ratios[name]:.2f}"
            cells.append(f"{name} {shown}")
        write(f"  {group}: " + " | ".join(cells))


@functools.lru_cache(maxsize=1)
def _case(factory: Callable[..., Case], args: tuple, threads: int) -> Case:
    """factory(*args, threads=threads), kept while the tests of its engines run
    (the engine parameter varies fastest, so they run one after another)."""
    return factory(*args, threads=threads)


def _repeated(call: Callable[[], object], count: int) -> Callable[[], None]:
    def calls() -> None:
        for _ in range(count):
            call()
    return calls


@pytest.fixture
def measure(benchmark) -> Callable[..., None]:
    """measure(factory, *args, engine, threads, rounds, warmup_rounds, calls_per_round=1).

    Build the case factory(*args, threads=threads) of fastrnn.perf.cases
    with fastrnn and PyTorch on `threads` threads, skip the test with the
    case's reason if `engine` is skipped in it, and time `calls_per_round`
    calls of that engine per round with benchmark.pedantic.
    """
    def run(factory: Callable[..., Case], *args, engine: str, threads: int, rounds: int,
            warmup_rounds: int, calls_per_round: int = 1) -> None:
        with machine.engine_threads(threads):
            case = _case(factory, args, threads)
            if engine in case.skipped:
                pytest.skip(case.skipped[engine])
            call = case.engines[engine]
            benchmark.group = case.group
            benchmark.extra_info.update(engine=engine, per=case.per * calls_per_round,
                                        unit=case.unit, flops=case.flops * calls_per_round)
            if case.kind == "stream":
                durations = sample_calls(call, 0, min_calls=P99_CALLS)
                benchmark.extra_info["p99_us"] = summary(np.array(durations))["p99_us"]
            with machine.blas_threads(case.blas_threads):
                benchmark.pedantic(_repeated(call, calls_per_round) if calls_per_round > 1
                                   else call, rounds=rounds, warmup_rounds=warmup_rounds)
    return run
