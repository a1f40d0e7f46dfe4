"""The benchmark cases of ``fastrnn bench``: each builds the same model in
every available engine, checks that they agree, and times them side by side.

A case returns a dict: group, kind, params, unit, per (frames or streams
per call), flops (per call, matrix products), engines {name: summary},
skipped {name: reason}.
"""

import numpy as np

from . import cases
from .machine import blas_threads
from .timing import interleaved, summary


def available_peers(wanted: tuple) -> tuple:
    """(peers to run, {peer: why it is skipped}) among `wanted`."""
    problems = cases.peer_problems()
    skipped = {peer: problems[peer] for peer in wanted if peer in problems}
    return tuple(p for p in wanted if p not in skipped), skipped


def _result(group, kind, params, unit, per, flops, timings, skipped):
    return {"group": group, "kind": kind, "params": params, "unit": unit, "per": per,
            "flops": flops, "engines": {name: summary(t) for name, t in timings.items()},
            "skipped": skipped}


def stream_latency(name: str, peers: tuple, threads: int, seconds: float) -> dict:
    """One frame per call, batch 1, state carried: model A (LSTM) or B (GRU)."""
    peers, skipped = available_peers(peers)
    steppers = cases.StreamEngines(name, 1, threads, single=True, peers=peers).steppers()
    frames = cases.random_frames(4096)
    cases.check_agree(steppers, frames[:40])
    position = {"index": 0}

    def feeder(step):
        def call():
            position["index"] = (position["index"] + 1) % len(frames)
            step(frames[position["index"]])
        return call

    timings = interleaved({k: feeder(v) for k, v in steppers.items()}, seconds)
    flops = cases.step_flops(cases.MODELS[name], cases.FEATURES, cases.HIDDEN, 2, cases.CLASSES)
    return _result(f"stream-model{name}-batch1-threads{threads}", "stream",
                   {"model": name, "threads": threads}, "frame", 1, flops, timings, skipped)


def many_streams(count: int, peers: tuple, threads: int, seconds: float) -> dict:
    """`count` independent streams of model A, one frame each per call."""
    peers, skipped = available_peers(peers)
    steppers = cases.StreamEngines("A", count, threads, peers=peers).steppers()
    frames = cases.random_frames(16, batch=count)
    cases.check_agree(steppers, frames[:4])
    calls = {k: (lambda step=v: step(frames[0])) for k, v in steppers.items()}
    timings = interleaved(calls, seconds)
    flops = count * cases.step_flops("lstm", cases.FEATURES, cases.HIDDEN, 2, cases.CLASSES)
    return _result(f"streams-modelA-n{count}-threads{threads}", "streams",
                   {"model": "A", "streams": count, "threads": threads}, "stream", count, flops,
                   timings, skipped)


def predict(kind: str, hidden: int, batch: int, steps: int, peers: tuple, threads: int,
            seconds: float) -> dict:
    """Whole sequences, one layer, input size = hidden."""
    peers, skipped = available_peers(peers)
    spec = cases.model_spec(kind, input_size=hidden, hidden=hidden, num_layers=1, head=0)
    model = cases.to_fastrnn(spec)
    x = cases.random_frames(steps, batch=batch, features=hidden).transpose(1, 0, 2).copy()
    engines = {"fastrnn": lambda: model.predict(x)}
    if "torch" in peers:
        engines["torch"] = _torch_predict(spec, x)
    if "onnxruntime" in peers:
        session = cases.onnx_session(spec, batch, threads, with_state=False)
        engines["onnxruntime"] = lambda: session.run(None, {"x": x})[0]
    cases.check_agree({k: (lambda _, f=v: f()) for k, v in engines.items()}, [None],
                      tolerance=1e-4)
    timings = interleaved(engines, seconds, rounds=3)
    flops = batch * steps * cases.step_flops(kind, hidden, hidden)
    return _result(f"predict-{kind}-h{hidden}-b{batch}-t{steps}-threads{threads}", "predict",
                   {"cell": kind, "hidden": hidden, "batch": batch, "steps": steps,
                    "threads": threads},
                   "frame", batch * steps, flops, timings, skipped)


def _torch_predict(spec: cases.ModelSpec, x: np.ndarray):
    """PyTorch's predict of `spec` on `x` (B, T, I), under inference_mode."""
    import torch

    module, tensor = cases.torch_module(spec), torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return module(tensor)[0].numpy()
    return run


def train_step(peers: tuple, threads: int, seconds: float, batch: int = 32,
               steps: int = 100) -> dict:
    """One optimizer step of the reference model: LSTM(128, sequences) ->
    LSTM(64) -> Dense(10, softmax), categorical cross-entropy, Adam."""
    from ..train import LSTM, Dense, Sequential, to_categorical

    peers, skipped = available_peers(peers)
    if "onnxruntime" in peers or "onnxruntime" in skipped:
        skipped["onnxruntime"] = "ONNX Runtime does not train"
        peers = tuple(p for p in peers if p != "onnxruntime")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, cases.FEATURES)).astype(np.float32)
    labels = rng.integers(0, cases.CLASSES, batch)
    model = Sequential([LSTM(128, return_sequences=True), LSTM(64, return_sequences=False),
                        Dense(cases.CLASSES, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    targets = to_categorical(labels, cases.CLASSES)
    engines = {"fastrnn": lambda: model.train_on_batch(x, targets)}
    if "torch" in peers:
        engines["torch"] = _torch_train_step(x, labels)
    with blas_threads(threads):
        timings = interleaved(engines, seconds, rounds=3)
    forward = steps * batch * (cases.step_flops("lstm", cases.FEATURES, 128)
                               + cases.step_flops("lstm", 128, 64)) + 2 * batch * 64 * 10
    return _result(f"train-step-b{batch}-t{steps}-threads{threads}", "train",
                   {"batch": batch, "steps": steps, "threads": threads}, "step", 1,
                   3 * forward, timings, skipped)


def _torch_train_step(x: np.ndarray, labels: np.ndarray):
    import torch

    torch.manual_seed(0)
    first = torch.nn.LSTM(x.shape[2], 128, batch_first=True)
    second = torch.nn.LSTM(128, 64, batch_first=True)
    head = torch.nn.Linear(64, cases.CLASSES)
    parameters = [*first.parameters(), *second.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(labels)

    def step():
        optimizer.zero_grad()
        hidden = second(first(inputs)[0])[0]
        loss = torch.nn.functional.cross_entropy(head(hidden[:, -1]), targets)
        loss.backward()
        optimizer.step()
    return step
