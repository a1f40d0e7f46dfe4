"""Streaming: fastrnn beside PyTorch (per step, state carried) and ONNX
Runtime (a per-step graph taking and returning the state), same threads.

Model A = 2 x LSTM(128) on 40 features + Dense(10); model B = the same with GRU.

    python -m pytest bench/test_stream.py --benchmark-only
"""

import time

import numpy as np
import pytest
from models import (ENGINES, MODELS, StreamEngines, check_agree, model_spec, onnx_session,
                    random_frames, to_fastrnn, torch_module, zero_state)

FRAMES_PER_ROUND = 500


def p99_us(step, frames):
    """99th percentile of single-call latency over `frames`, in microseconds."""
    times = np.empty(len(frames))
    for i, frame in enumerate(frames):
        start = time.perf_counter_ns()
        step(frame)
        times[i] = time.perf_counter_ns() - start
    return float(np.percentile(times[100:], 99) / 1000)


def run_rounds(step, frames):
    def loop():
        for frame in frames:
            step(frame)
    return loop


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["A", "B"])
def test_step_latency(benchmark, threads, engine, name):
    threads(1)
    frames = random_frames(FRAMES_PER_ROUND)
    check_agree(StreamEngines(name, 1, 1, single=True).steppers(), frames[:50])
    step = StreamEngines(name, 1, 1, single=True, peers=(engine,)).steppers()[engine]
    benchmark.group = f"stream-step-model{name}-batch1-threads1"
    benchmark.extra_info.update(engine=engine, per=FRAMES_PER_ROUND, unit="frame",
                                p99_us=p99_us(step, random_frames(3000, seed=2)))
    benchmark.pedantic(run_rounds(step, frames), rounds=15, warmup_rounds=2)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["A", "B"])
def test_process_1000_frames(benchmark, threads, engine, name):
    threads(1)
    spec = model_spec(MODELS[name])
    model = to_fastrnn(spec)
    x = random_frames(1000)
    expected = model.predict(x)
    if engine == "fastrnn":
        stream = model.stream(num_threads=1)
        call = lambda: stream.process(x)  # noqa: E731
    elif engine == "torch":
        import torch

        module, batch = torch_module(spec), torch.from_numpy(x)[None]

        def call():
            with torch.inference_mode():
                return module(batch)[0][0].numpy()
    else:
        session = onnx_session(spec, 1, 1)
        feed = {"x": x[None], **dict(zip(["h", "c"], zero_state(spec, 1)))}
        call = lambda: session.run(None, feed)[0][0]  # noqa: E731
    assert np.abs(call() - expected).max() <= 1e-5
    benchmark.group = f"stream-process1000-model{name}-threads1"
    benchmark.extra_info.update(engine=engine, per=1000, unit="frame")
    benchmark.pedantic(call, rounds=15, warmup_rounds=2)


MANY = [("A", n, t) for n in (1, 16, 256, 1024) for t in (1, 2)] + [("B", 256, 1), ("B", 256, 2)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name, streams, count", MANY)
def test_many_streams(benchmark, threads, engine, name, streams, count):
    threads(count)
    frames = random_frames(20, batch=streams)
    check_agree(StreamEngines(name, streams, count).steppers(), frames[:5])
    step = StreamEngines(name, streams, count, peers=(engine,)).steppers()[engine]
    benchmark.group = f"stream-many-model{name}-streams{streams}-threads{count}"
    benchmark.extra_info.update(engine=engine, per=len(frames), unit="step")
    benchmark.pedantic(run_rounds(step, frames), rounds=7, warmup_rounds=1)
