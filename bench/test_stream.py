"""Streaming: fastrnn beside PyTorch (per step, state carried) and ONNX
Runtime (a per-step graph taking and returning the state), same threads.

Model A = 2 x LSTM(128) on 40 features + Dense(10); model B = the same with GRU.

    python -m pytest bench/test_stream.py --benchmark-only
"""

import time

import numpy as np
import pytest
from models import (MODELS, StreamEngines, check_agree, onnx_session, random_frames,
                    to_fastrnn, torch_module, zero_state)

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
try:
    import onnxruntime  # noqa: F401
    HAVE_ORT = True
except ImportError:
    HAVE_ORT = False
needs_ort = pytest.mark.skipif(not HAVE_ORT, reason="onnxruntime is not installed")

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


ENGINES = ["fastrnn", "torch", pytest.param("onnxruntime", marks=needs_ort)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["A", "B"])
def test_step_latency(benchmark, threads, engine, name):
    threads(1)
    engines = StreamEngines(name, 1, 1, single=True, with_ort=HAVE_ORT).steppers()
    frames = random_frames(FRAMES_PER_ROUND)
    check_agree(StreamEngines(name, 1, 1, single=True, with_ort=HAVE_ORT).steppers(),
                frames[:50])
    step = engines[engine]
    benchmark.group = f"stream-step-model{name}-batch1-threads1"
    benchmark.extra_info.update(engine=engine, per=FRAMES_PER_ROUND, unit="frame",
                                p99_us=p99_us(step, random_frames(3000, seed=2)))
    benchmark.pedantic(run_rounds(step, frames), rounds=15, warmup_rounds=2)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["A", "B"])
def test_process_1000_frames(benchmark, threads, engine, name):
    threads(1)
    module = torch_module(MODELS[name])
    model = to_fastrnn(module)
    x = random_frames(1000)
    with torch.inference_mode():
        expected = module(torch.from_numpy(x)[None])[0][0].numpy()
    if engine == "fastrnn":
        stream = model.stream(num_threads=1)
        assert np.abs(stream.process(x) - expected).max() <= 1e-5
        call = lambda: stream.process(x)  # noqa: E731
    elif engine == "torch":
        batch = torch.from_numpy(x)[None]

        def call():
            with torch.inference_mode():
                return module(batch)
    else:
        session = onnx_session(module, 1, 1)
        state = {n: s.numpy() for n, s in zip(["h", "c"], zero_state(module, 1))}
        feed = {"x": x[None], **state}
        assert np.abs(session.run(None, feed)[0][0] - expected).max() <= 1e-5
        call = lambda: session.run(None, feed)  # noqa: E731
    benchmark.group = f"stream-process1000-model{name}-threads1"
    benchmark.extra_info.update(engine=engine, per=1000, unit="frame")
    benchmark.pedantic(call, rounds=15, warmup_rounds=2)


MANY = [("A", n, t) for n in (1, 16, 256, 1024) for t in (1, 2)] + [("B", 256, 1), ("B", 256, 2)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name, streams, count", MANY)
def test_many_streams(benchmark, threads, engine, name, streams, count):
    threads(count)
    engines = StreamEngines(name, streams, count, with_ort=HAVE_ORT).steppers()
    frames = random_frames(20, batch=streams)
    check_agree(StreamEngines(name, streams, count, with_ort=HAVE_ORT).steppers(), frames[:5])
    benchmark.group = f"stream-many-model{name}-streams{streams}-threads{count}"
    benchmark.extra_info.update(engine=engine, per=len(frames), unit="step")
    benchmark.pedantic(run_rounds(engines[engine], frames), rounds=7, warmup_rounds=1)
