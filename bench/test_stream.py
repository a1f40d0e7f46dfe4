"""Streaming: fastrnn beside PyTorch (per step, state carried) and ONNX
Runtime (a per-step graph taking and returning the state), same threads
(fastrnn.perf.cases: stream_case, process_case, streams_case).

Model A = 2 x LSTM(128) on 40 features + Dense(10); model B = the same with GRU.

    python -m pytest bench/test_stream.py --benchmark-only
"""

import pytest

from fastrnn.perf import cases
from fastrnn.perf.peers import ENGINES

FRAMES_PER_ROUND = 500
MANY = [("A", n, t) for n in (1, 16, 256, 1024) for t in (1, 2)] + [("B", 256, 1), ("B", 256, 2)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("model", ["A", "B"])
def test_step_latency(measure, engine, model):
    measure(cases.stream_case, model, engine=engine, threads=1, rounds=15, warmup_rounds=2,
            calls_per_round=FRAMES_PER_ROUND)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("model", ["A", "B"])
def test_process_1000_frames(measure, engine, model):
    measure(cases.process_case, model, 1000, engine=engine, threads=1, rounds=15,
            warmup_rounds=2)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("model, streams, threads", MANY)
def test_many_streams(measure, engine, model, streams, threads):
    measure(cases.streams_case, model, streams, engine=engine, threads=threads, rounds=7,
            warmup_rounds=1, calls_per_round=20)
