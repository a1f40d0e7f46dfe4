"""Benchmark session: the machine and versions, and a table of ratios per group.

Every benchmark sets its group ("<case>") and extra_info["engine"] (fastrnn,
torch, ort); the summary prints, for each group, each engine's median and
peer median / fastrnn median (> 1: fastrnn is faster).
"""

import platform

import pytest

import fastrnn


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version()}
    for name in ("numpy", "torch", "onnxruntime"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "not installed"
    return cpu, versions


def pytest_report_header(config):
    cpu, versions = machine()
    info = fastrnn.info()
    return [f"machine: {cpu}, {__import__('os').cpu_count()} cores",
            "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
            f"fastrnn {info['version']}: isa {info['isa']}, openmp {info['openmp']}, "
            f"{info['compiler']}"]


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    benchmarks = getattr(session, "benchmarks", None) or []
    groups = {}
    for bench in benchmarks:
        groups.setdefault(bench.group, {})[bench.extra_info.get("engine", bench.name)] = bench
    if not groups:
        return
    write = terminalreporter.write_line
    write("")
    write("fastrnn vs peers: median per call (and per frame where stated); ratio = peer / fastrnn")
    for group, by_engine in sorted(groups.items()):
        base = by_engine.get("fastrnn")
        cells = []
        for name, bench in sorted(by_engine.items()):
            median = bench.stats.median
            per = bench.extra_info.get("per")
            shown = f"{median / per * 1e6:.2f} us/{bench.extra_info.get('unit', 'item')}" \
                if per else f"{median * 1e3:.2f} ms"
            if "p99_us" in bench.extra_info:
                shown += f" (p99 {bench.extra_info['p99_us']:.2f} us)"
            ratio = ""
            if base is not None and bench is not base:
                ratio = f", x{median / base.stats.median:.2f}"
            cells.append(f"{name} {shown}{ratio}")
        write(f"  {group}: " + " | ".join(cells))


@pytest.fixture
def threads():
    """Set fastrnn's and torch's thread counts for one benchmark; restore after."""
    before = fastrnn.get_num_threads()

    def set_threads(count):
        fastrnn.set_num_threads(count)
        try:
            import torch

            torch.set_num_threads(count)
        except ImportError:
            pass

    yield set_threads
    fastrnn.set_num_threads(before)
