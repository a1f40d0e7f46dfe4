"""Streaming: fastrnn beside PyTorch (per step, state carried) and ONNX
Runtime (a per-step graph taking and returning the state), same threads
(fastrnn.perf.cases: stream_case, process_case, streams_case,
crnn_stream_case).

Model A = 2 x LSTM(128) on 40 features + Dense(10); model B = the same with
GRU; model A as a graph (fastrnn.Model of the same layers) beside its
Sequential (engine fastrnn-sequential); the noise-suppressor CRNN (conv 128
and 384, 3 x GRU(384), two heads), the peers running the network on a
window of the last 5 frames.

    python -m pytest bench/test_stream.py --benchmark-only
"""

import functools

import pytest

from fastrnn.perf import cases
from fastrnn.perf.peers import ENGINES, FASTRNN_SEQUENTIAL

FRAMES_PER_ROUND = 500
CRNN_FRAMES_PER_ROUND = 20       # a CRNN step reads 12 MB of weights: ~0.5-1.5 ms
GRAPH_STREAM_CASE = functools.partial(cases.stream_case, graph=True)   # one object: cached
MANY = [("A", n, t) for n in (1, 16, 256, 1024) for t in (1, 2)] + [("B", 256, 1), ("B", 256, 2)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("model", ["A", "B"])
def test_step_latency(measure, engine, model):
    measure(cases.stream_case, model, engine=engine, threads=1, rounds=15, warmup_rounds=2,
            calls_per_round=FRAMES_PER_ROUND)


@pytest.mark.parametrize("engine", [*ENGINES, FASTRNN_SEQUENTIAL])
def test_graph_step_latency(measure, engine):
    measure(GRAPH_STREAM_CASE, "A", engine=engine, threads=1, rounds=15, warmup_rounds=2,
            calls_per_round=FRAMES_PER_ROUND)


@pytest.mark.parametrize("engine", ENGINES)
def test_crnn_step_latency(measure, engine):
    measure(cases.crnn_stream_case, engine=engine, threads=1, rounds=15, warmup_rounds=2,
            calls_per_round=CRNN_FRAMES_PER_ROUND)


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
