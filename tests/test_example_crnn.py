"""examples/crnn_streaming_from_pytorch.py runs as a user runs it (small sizes:
--small): it asserts, and here its report is read back, that predict matches
torch within 1e-5, that the stream lags by the convolutions' look-ahead (two
frames), that flush() gives those frames and the whole equals predict bit for
bit, and that the GRU states after flush are torch's."""

import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="the example imports a PyTorch module: pip install "
                                    "torch==2.13.0")

EXAMPLE = pathlib.Path(__file__).parent.parent / "examples" / "crnn_streaming_from_pytorch.py"
FRAMES = 40
TOLERANCE = 1e-5        # the example's bar against torch, float32 on both sides


def test_crnn_example_imports_checks_and_streams_with_its_delay():
    run = subprocess.run([sys.executable, str(EXAMPLE), "--small", "--frames", str(FRAMES)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = run.stdout
    differences = [float(value) for value in re.findall(r"max \|difference\| (\S+)", report)]
    assert len(differences) == 2 and max(differences) <= TOLERANCE, report
    assert (f"delay (2, 2) input frames, rate (1, 1) (per output); {FRAMES} steps gave "
            f"{FRAMES - 2} frames, flush() 2 more: equal to predict bit for bit") in report
    assert "outputs ['output0', 'output1']" in report
    assert "'gru1.h', 'gru2.h', 'gru3.h'" in report
    assert re.search(r"per frame: median \S+ us", report), report
