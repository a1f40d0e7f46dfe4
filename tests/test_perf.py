"""The benchmark harness (``fastrnn bench``) runs end to end on its tiny
profile and writes well-formed results. No timing is asserted: only that
every figure is there, positive and consistent."""

import json
import subprocess
import sys

import pytest

from fastrnn.perf import report, run
from fastrnn.perf.cases import have

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
needs_peers = pytest.mark.skipif(
    not all(map(have, ("torch", "onnxruntime", "onnx", "matplotlib"))),
    reason="needs PyTorch, ONNX Runtime and matplotlib: pip install torch==2.13.0 "
           "onnxruntime onnx matplotlib")
# Runs `fastrnn bench` in a fresh interpreter in which some packages do not import.
WITHOUT = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ImportError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Hide())
from fastrnn.cli import main
sys.exit(main(["bench", *sys.argv[1:]]))
"""


@needs_peers
def test_tiny_profile_in_process(tmp_path, capsys):
    parser = __import__("argparse").ArgumentParser()
    run.add_arguments(parser)
    assert run.run(parser.parse_args(["--tiny", "--out", str(tmp_path)])) == 0
    printed = capsys.readouterr().out
    assert "single-thread float32 peak" in printed and "GFLOP/s" in printed

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["profile"] == "tiny" and results["threads"] == 1
    assert {"cpu", "cores", "isa", "versions"} <= set(results["machine"])
    assert results["machine"]["versions"]["fastrnn"]
    assert results["peak"]["gflops"] > 0
    groups = [case["group"] for case in results["cases"]]
    assert len(groups) == len(set(groups)) == 4
    kinds = {case["kind"] for case in results["cases"]}
    assert kinds == {"stream", "predict", "streams"}
    for case in results["cases"]:
        fastrnn_engine = case["engines"]["fastrnn"]
        assert fastrnn_engine["median_us"] > 0 and fastrnn_engine["calls"] >= 1
        assert fastrnn_engine["p99_us"] >= fastrnn_engine["median_us"]
        assert case["fastrnn_gflops"] > 0 and case["fraction_of_peak"] > 0
        assert all(engine["gflops"] > 0 for engine in case["engines"].values())
        for peer, ratio in case["ratios"].items():
            expected = case["engines"][peer]["median_us"] / fastrnn_engine["median_us"]
            assert ratio == pytest.approx(expected)
        assert set(case["engines"]) | set(case["skipped"]) >= {"fastrnn", "torch"}

    table = (tmp_path / "results.md").read_text().splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("| case |"))
    assert "PyTorch / fastrnn" in table[header] and "ONNX Runtime" in table[header]
    rows = [line for line in table[header + 2:] if line.startswith("| ")]
    assert [row.split(" | ")[0][2:] for row in rows] == groups
    for name in ("latency_vs_hidden.png", "throughput_vs_batch.png", "streams_vs_cost.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE


@needs_peers
def test_the_command_and_its_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fastrnn", "bench", "--tiny", "--no-plots",
                             "--engines", "torch", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert all("onnxruntime" not in case["engines"] for case in results["cases"])
    assert not list(tmp_path.glob("*.png"))
    bad = subprocess.run([sys.executable, "-m", "fastrnn", "bench", "--engines", "tensorflow",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "--engines: unknown ['tensorflow']" in bad.stderr


def test_without_peers_or_matplotlib_fastrnn_alone_and_no_plots(tmp_path):
    hidden = {"torch", "onnxruntime", "onnx", "matplotlib"}
    result = subprocess.run([sys.executable, "-c", WITHOUT.format(hidden=hidden), "--tiny",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "no plots: the plots need matplotlib" in result.stdout
    assert "torch skipped: PyTorch is not installed" in result.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    for case in results["cases"]:
        assert list(case["engines"]) == ["fastrnn"] and case["ratios"] == {}
        assert case["engines"]["fastrnn"]["median_us"] > 0
        assert case["skipped"]["torch"].startswith("PyTorch is not installed")
        assert case["skipped"]["onnxruntime"].startswith("ONNX Runtime is not installed")
    rows = [line for line in (tmp_path / "results.md").read_text().splitlines()
            if line.startswith(("| stream", "| predict"))]
    assert rows and all(" | skipped | skipped | - | - | " in row for row in rows)
    assert not list(tmp_path.glob("*.png"))


def test_markdown_marks_skipped_peers():
    results = {"machine": {"cpu": "cpu", "cores": 2, "isa": "generic", "versions": {"x": "1"}},
               "peak": {"gflops": 100.0}, "profile": "tiny",
               "cases": [{"group": "g", "kind": "predict", "params": {}, "unit": "frame",
                          "per": 10, "flops": 1e6,
                          "engines": {"fastrnn": {"median_us": 100.0, "p99_us": 120.0,
                                                  "calls": 5}},
                          "skipped": {"onnxruntime": "ONNX Runtime is not installed"}}]}
    report.add_rates(results)
    text = report.markdown(results)
    assert "| g | 10.00 us/frame | - | skipped | - | - | 10.0 (10%) |" in text
    assert "Skipped: ONNX Runtime: ONNX Runtime is not installed." in text
