"""The benchmark cases: what each measures and the engines that run it.

One factory per kind of case builds the case's model in fastrnn and in each
wanted peer that can run here, checks that the engines agree, and returns a
`Case` whose engines are zero-argument callables, one call being one unit of
work (a frame, a step of every stream, a whole predict, a training step).
``fastrnn bench`` (suites.py) and the pytest-benchmark suites in bench/ time
these same callables.

A factory's `threads` goes to what it builds (fastrnn streams, ONNX Runtime
sessions) and into the case's name; the process-wide counts (fastrnn's and
PyTorch's) are the caller's, set with machine.engine_threads.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

import fastrnn

from ..onnx import InferenceSession
from .models import (CLASSES, FEATURES, MODELS, STATE_NAMES, SUPPRESSOR_STATES, TINY,
                     VAD_CONTEXT, VAD_RATES, VAD_SAMPLES, ModelSpec, PeerCannotRun, SuppressorSpec,
                     bundled_data, model_spec, onnx_graph, onnx_session, openvino_request,
                     ort_session, random_frames, spec_flops, speech_signals, state_feed,
                     step_flops, suppressor_flops, suppressor_onnx_session, suppressor_spec,
                     suppressor_to_fastrnn, suppressor_torch, suppressor_zero_state, to_fastrnn,
                     to_fastrnn_graph, torch_module, tract_runner, vad_flops, vad_onnx_graph,
                     vad_zero_state, zero_state)
from .peers import (FASTRNN_IOBINDING, FASTRNN_PREDICT, FASTRNN_SEQUENTIAL, FASTRNN_STREAM,
                    ORT_IOBINDING, PEERS, available, have)

# Largest |difference| from fastrnn's outputs allowed before timing, per kind.
# Whole sequences accumulate float32 rounding over T steps (and H = 1024
# terms per dot product in bench/'s grid), hence the looser predict bound.
TOLERANCE = {"stream": 1e-5, "streams": 1e-5, "process": 1e-5, "predict": 1e-4}
# fastrnn's weight precisions against the peers' float32 (OpenVINO's bf16 for
# the 16- and 8-bit rows; ONNX Runtime and tract run float32 in every row):
# the README's Precision bounds, with room.
PRECISION_TOLERANCE = {"float16": 1e-2, "bfloat16": 5e-2, "int8": 1e-1}
# OpenVINO's INFERENCE_PRECISION_HINT beside each fastrnn precision: like with
# like (its int8 needs a calibration pass, NNCF; the int8 rows meet its bf16).
OPENVINO_HINT = {"float32": "f32", "float16": "bf16", "bfloat16": "bf16", "int8": "bf16"}
AGREEMENT_STEPS = {"stream": 40, "streams": 4}  # frames compared before a stream case is timed
ORT_CANNOT_TRAIN = "ONNX Runtime does not train"
CRNN_PEERS = ("torch", "onnxruntime")
CRNN_PEERS_ONLY = "the CRNN cases run PyTorch and ONNX Runtime only"
END_TO_END_ONLY = "end to end cases time fastrnn's pipeline beside its model alone"
PIPELINE_BLOCKS = 100           # 10 ms blocks per stream a pipeline case cycles through (1 s)
TRAIN_HIDDEN = (128, 64)        # train_case's LSTM sizes (the first returns sequences)
CRNN_HIDDEN = 384               # the CRNN cases' GRU size: the issue's noise suppressor
STREAM_FRAMES = 4096            # frames a stream case rotates over
VAD_CHUNKS = 256                # chunks the ONNX VAD case rotates over
ONNX_SESSION_PEERS_ONLY = "the ONNX session cases run fastrnn's session and ONNX Runtime only"
ONNX_NEEDS_EXPORT = ("the ONNX session cases export their graphs with PyTorch "
                     "(pip install torch==2.13.0 onnx)")


@dataclasses.dataclass
class Case:
    """One benchmark case and its engines, ready to time.

    Attributes
    ----------
    group : str
        The case's name, e.g. "predict-lstm-h64-b1-t200-threads1".
    kind : str
        "stream", "streams", "predict", "process", "train" or "pipeline".
    params : dict
        What the name encodes (cell, sizes, threads...), for reports.
    unit : str
        What `per` counts: "frame", "stream", "step" or "stream-frame".
    per : int
        Units per call.
    flops : float
        Floating-point operations of one call (matrix products only).
    engines : dict
        {engine name: zero-argument callable}, fastrnn first (a pipeline
        case: "fastrnn", audio in, and "model", the model alone).
    skipped : dict
        {peer: why it is not in `engines`}.
    blas_threads : int or None
        NumPy's BLAS threads the engines must be timed under (fastrnn.train's
        matrix products are NumPy's); None: any.
    """

    group: str
    kind: str
    params: dict
    unit: str
    per: int
    flops: float
    engines: dict[str, Callable[[], object]]
    skipped: dict[str, str]
    blas_threads: int | None = None


def check_agree(engines: dict[str, Callable[[], object]], calls: int = 1,
                tolerance: float = 1e-5) -> None:
    """Check that every engine gives fastrnn's outputs, before any is timed.

    Parameters
    ----------
    engines : dict
        {name: zero-argument callable returning an array}, "fastrnn" among them.
    calls : int
        Calls of each engine whose outputs are compared (a stream's calls
        carry state, so later outputs check the state too).
    tolerance : float
        Largest |difference| allowed.

    Raises
    ------
    AssertionError
        Naming the first engine whose outputs differ by more than `tolerance`.
    """
    outputs = {name: np.stack([np.array(call(), copy=True) for _ in range(calls)])
               for name, call in engines.items()}
    reference = outputs["fastrnn"]
    for name, y in outputs.items():
        error = float(np.abs(y - reference).max())
        if not error <= tolerance:
            raise AssertionError(f"{name} differs from fastrnn by {error:.2e} (> {tolerance})")


def _tolerance(kind: str, precision: str) -> float:
    return max(TOLERANCE[kind], PRECISION_TOLERANCE.get(precision, 0.0))


def _suffix(precision: str) -> str:
    """A case name's precision part: none for float32."""
    return "" if precision == "float32" else f"-{precision}"


def stream_case(model: str, threads: int, peers: tuple[str, ...] = PEERS,
                graph: bool = False, precision: str = "float32") -> Case:
    """Streaming latency: one stream of model `model` ("A" or "B"), one
    (F,) frame per call, state carried, frames rotating over STREAM_FRAMES;
    fastrnn's weights in `precision`.

    graph: fastrnn runs the model built as a graph (models.to_fastrnn_graph),
    and its Sequential (engine FASTRNN_SEQUENTIAL) runs beside it in the same
    rounds, so that their ratio is read off one case.
    """
    spec = model_spec(MODELS[model])
    running, skipped = available(peers)
    steppers = _stream_steppers(spec, None, threads, running, skipped, graph, precision)
    frames = random_frames(STREAM_FRAMES)
    check_agree(_feeders(steppers, frames[:AGREEMENT_STEPS["stream"]]),
                AGREEMENT_STEPS["stream"], _tolerance("stream", precision))
    built = "-graph" if graph else ""
    return Case(f"stream-model{model}{built}-batch1-threads{threads}{_suffix(precision)}",
                "stream", {"model": model, "graph": graph, "threads": threads,
                           "precision": precision}, "frame", 1,
                spec_flops(spec), _feeders(steppers, frames), skipped)


def crnn_stream_case(threads: int, peers: tuple[str, ...] = PEERS,
                     hidden: int = CRNN_HIDDEN, precision: str = "float32") -> Case:
    """Streaming latency of the noise-suppressor CRNN (models.SuppressorSpec:
    convolutions of hidden / 3 and `hidden` channels, 3 x GRU(hidden); 384
    is the issue's shape): one stream, one (F,) frame per call, state
    carried, frames rotating over STREAM_FRAMES; each call gives (gains
    (1, F), vad (1, 1)) of the frame `delay` (4) frames back.

    fastrnn's stream keeps each convolution's last kernel - 1 input frames
    and computes every layer once per frame. The peers run the whole-sequence
    network (models.suppressor_torch, and its ONNX export) on a window of
    the last delay + 1 = 5 frames, which the harness keeps, carrying the GRU
    states: one output frame per call. That computes the first convolution
    on 3 frames instead of 1 (+1.7% FLOPs at the issue's size), but the
    graph is the plain module with no state plumbing for the convolutions.
    Measured side by side (1 thread), a per-step graph that carried both
    convolutions' histories as inputs and outputs instead (each convolution
    once per frame, two concatenations and two slices more) was 3-5% slower
    in both peers, and an ONNX session with every shape fixed to the window
    was no faster than the dynamic one, which predict uses too.

    Every engine is primed with the same `delay` frames before the first
    call (fastrnn's stream takes them and gives nothing; they fill the
    peers' window), so that every call compared and timed gives one frame.
    Every engine allocates its outputs: fastrnn's step takes no `out` here,
    since for outputs that lag it must be shaped by the engine's bound on
    one step's frames, which the public API does not give.

    fastrnn's weights are in `precision` (the peers' float32): a frame
    reads every weight once, so bfloat16 and int8 read a half and a
    quarter of float32's bytes.
    """
    spec = _crnn_spec(hidden)
    running, skipped = _crnn_peers(peers)
    frames = random_frames(spec.delay + STREAM_FRAMES, features=spec.features)
    primer, frames = frames[:spec.delay], frames[spec.delay:]
    stream = suppressor_to_fastrnn(spec, precision=precision).stream(num_threads=threads)
    stream.process(primer)
    steppers = {"fastrnn": stream.step}
    if "torch" in running:
        steppers["torch"] = _window_stepper(_torch_suppressor(spec), primer,
                                            suppressor_zero_state(spec, 1))
    if "onnxruntime" in running:
        steppers["onnxruntime"] = _window_stepper(_ort_suppressor(spec, threads), primer,
                                                  suppressor_zero_state(spec, 1))
    check_agree(_joined(_feeders(steppers, frames[:AGREEMENT_STEPS["stream"]])),
                AGREEMENT_STEPS["stream"], _tolerance("stream", precision))
    return Case(f"stream-crnn-h{hidden}-batch1-threads{threads}{_suffix(precision)}", "stream",
                {"model": "crnn", "hidden": hidden, "threads": threads,
                 "precision": precision}, "frame", 1,
                suppressor_flops(spec), _feeders(steppers, frames), skipped)


def streams_case(model: str, count: int, threads: int,
                 peers: tuple[str, ...] = PEERS, precision: str = "float32") -> Case:
    """`count` independent streams of model `model` stepped together, one
    (count, F) frame per call."""
    spec = model_spec(MODELS[model])
    running, skipped = available(peers)
    steppers = _stream_steppers(spec, count, threads, running, skipped, precision=precision)
    frames = random_frames(AGREEMENT_STEPS["streams"], batch=count)
    check_agree(_feeders(steppers, frames), AGREEMENT_STEPS["streams"],
                _tolerance("streams", precision))
    return Case(f"streams-model{model}-n{count}-threads{threads}{_suffix(precision)}",
                "streams", {"model": model, "streams": count, "threads": threads,
                            "precision": precision}, "stream", count,
                count * spec_flops(spec), _feeders(steppers, frames[:1]), skipped)


def predict_case(kind: str, hidden: int, batch: int, steps: int, threads: int,
                 peers: tuple[str, ...] = PEERS, precision: str = "float32") -> Case:
    """Whole sequences: `batch` x `steps` frames through one `kind` layer,
    input size = hidden, from a zero state."""
    spec = model_spec(kind, input_size=hidden, hidden=hidden, num_layers=1, head=0)
    running, skipped = available(peers)
    x = random_frames(steps, batch=batch, features=hidden).transpose(1, 0, 2).copy()
    model = to_fastrnn(spec, precision=precision)
    engines = {"fastrnn": lambda: model.predict(x)}
    if "torch" in running:
        engines["torch"] = _torch_predict(spec, x)
    if "onnxruntime" in running:
        session = onnx_session(spec, batch, threads, with_state=False)
        engines["onnxruntime"] = lambda: session.run(None, {"x": x})[0]
    if "openvino" in running:
        request = openvino_request(spec, batch, threads, OPENVINO_HINT[precision],
                                   with_state=False, steps=steps)
        engines["openvino"] = lambda: next(iter(request.infer({"x": x}).values()))
    if "tract" in running:
        try:
            run = tract_runner(spec, batch, with_state=False, steps=steps)
            engines["tract"] = lambda: run({"x": x})[0]
        except PeerCannotRun as reason:
            skipped["tract"] = str(reason)
    check_agree(engines, tolerance=_tolerance("predict", precision))
    return Case(f"predict-{kind}-h{hidden}-b{batch}-t{steps}-threads{threads}"
                f"{_suffix(precision)}", "predict",
                {"cell": kind, "hidden": hidden, "batch": batch, "steps": steps,
                 "threads": threads, "precision": precision},
                "frame", batch * steps, batch * steps * spec_flops(spec), engines, skipped)


def crnn_predict_case(batch: int, steps: int, threads: int, peers: tuple[str, ...] = PEERS,
                      hidden: int = CRNN_HIDDEN, precision: str = "float32") -> Case:
    """Whole sequences through the noise-suppressor CRNN (see
    crnn_stream_case): `batch` x `steps` frames from a zero state, the
    outputs (gains, vad) of the steps - delay frames the valid convolutions
    leave; per frame = per input frame; fastrnn's weights in `precision`."""
    spec = _crnn_spec(hidden)
    running, skipped = _crnn_peers(peers)
    x = random_frames(steps, batch=batch, features=spec.features).transpose(1, 0, 2).copy()
    zero = suppressor_zero_state(spec, batch)
    model = suppressor_to_fastrnn(spec, precision=precision)
    engines = {"fastrnn": lambda: model.predict(x)}
    if "torch" in running:
        torch_run = _torch_suppressor(spec)
        engines["torch"] = lambda: torch_run(x, zero)[:2]
    if "onnxruntime" in running:
        ort_run = _ort_suppressor(spec, threads)
        engines["onnxruntime"] = lambda: ort_run(x, zero)[:2]
    check_agree(_joined(engines), tolerance=_tolerance("predict", precision))
    return Case(f"predict-crnn-h{hidden}-b{batch}-t{steps}-threads{threads}"
                f"{_suffix(precision)}", "predict",
                {"model": "crnn", "hidden": hidden, "batch": batch, "steps": steps,
                 "threads": threads, "precision": precision},
                "frame", batch * steps, batch * (steps - spec.delay) * suppressor_flops(spec),
                engines, skipped)


def process_case(model: str, frames: int, threads: int,
                 peers: tuple[str, ...] = PEERS) -> Case:
    """A chunk of `frames` frames through one stream of model `model`
    (fastrnn's Stream.process, state carried; the peers run the chunk as
    one sequence from a zero state)."""
    spec = model_spec(MODELS[model])
    running, skipped = available(peers)
    x = random_frames(frames)
    stream = to_fastrnn(spec).stream(num_threads=threads)
    engines = {"fastrnn": lambda: stream.process(x)}
    if "torch" in running:
        engines["torch"] = _torch_predict(spec, x[None], first=True)
    if "onnxruntime" in running:
        session = onnx_session(spec, 1, threads)
        feed = {"x": x[None], **state_feed(zero_state(spec, 1))}
        engines["onnxruntime"] = lambda: session.run(None, feed)[0][0]
    check_agree(engines, tolerance=TOLERANCE["process"])
    return Case(f"process-model{model}-t{frames}-threads{threads}", "process",
                {"model": model, "frames": frames, "threads": threads}, "frame", frames,
                frames * spec_flops(spec), engines, skipped)


def onnx_step_case(threads: int, peers: tuple[str, ...] = PEERS) -> Case:
    """The per-step ONNX graph of model A (models.onnx_graph: x (1, 1, F),
    h, c -> y, h_out, c_out), one frame per call, its state fed back:
    fastrnn.onnx.InferenceSession's run ("fastrnn") and ONNX Runtime's,
    each also through IOBinding (every array bound once, _bound_stepper),
    beside the model's own fastrnn Stream.step (FASTRNN_STREAM). The pairs
    reported: ONNX Runtime / session, both ways, and session / Stream.step
    (issue 13's bar: >= 3 and <= 1.3)."""
    spec = model_spec(MODELS["A"])
    running, skipped = _onnx_peers(peers)
    if not _can_export(skipped):
        return _unexported("onnx-step-modelA", threads, skipped)
    graph = onnx_graph(spec, 1)
    session = InferenceSession(graph)
    x_shape, y_shape = (1, 1, spec.input_size), (1, 1, CLASSES)
    steppers = {"fastrnn": _state_fed_back(zero_state(spec, 1),
                                           functools.partial(session.run, None)),
                FASTRNN_IOBINDING: _bound_stepper(session, _bind_fastrnn, x_shape, y_shape,
                                                  zero_state(spec, 1))}
    if "onnxruntime" in running:
        ort = ort_session(graph, threads)
        steppers["onnxruntime"] = _state_fed_back(zero_state(spec, 1),
                                                  functools.partial(ort.run, None))
        steppers[ORT_IOBINDING] = _bound_stepper(ort, _bind_ort, x_shape, y_shape,
                                                 zero_state(spec, 1))
    stream = {FASTRNN_STREAM: _fastrnn_stepper(to_fastrnn(spec), None, threads, (CLASSES,))}
    frames = random_frames(STREAM_FRAMES)
    graph_frames = frames.reshape(-1, *x_shape)     # each frame as the graph takes it
    agreement = AGREEMENT_STEPS["stream"]
    check_agree({**{name: (lambda call=call: call().reshape(CLASSES)) for name, call in
                    _feeders(steppers, graph_frames[:agreement]).items()},
                 **_feeders(stream, frames[:agreement])}, agreement, TOLERANCE["stream"])
    pairs = (("onnxruntime", "fastrnn"), (ORT_IOBINDING, FASTRNN_IOBINDING),
             ("fastrnn", FASTRNN_STREAM), (FASTRNN_IOBINDING, FASTRNN_STREAM))
    return Case(f"onnx-step-modelA-threads{threads}", "stream",
                {"model": "A", "threads": threads, "pairs": pairs}, "frame", 1,
                spec_flops(spec), {**_feeders(steppers, graph_frames), **_feeders(stream, frames)},
                skipped)


def onnx_sequence_case(batch: int, steps: int, threads: int,
                       peers: tuple[str, ...] = PEERS) -> Case:
    """The whole-sequence ONNX graph of model A (models.onnx_graph with no
    state inputs: x (batch, steps, F) -> y, from a zero state): the session
    ("fastrnn") and ONNX Runtime, beside the model's own Sequential.predict
    (FASTRNN_PREDICT); per frame = per input frame."""
    spec = model_spec(MODELS["A"])
    running, skipped = _onnx_peers(peers)
    name = f"onnx-sequence-modelA-b{batch}-t{steps}"
    if not _can_export(skipped):
        return _unexported(name, threads, skipped)
    graph = onnx_graph(spec, batch, with_state=False)
    x = random_frames(steps, batch=batch).transpose(1, 0, 2).copy()
    feed = {"x": x}
    session, model = InferenceSession(graph), to_fastrnn(spec)
    engines = {"fastrnn": lambda: session.run(None, feed)[0],
               FASTRNN_PREDICT: lambda: model.predict(x)}
    if "onnxruntime" in running:
        ort = ort_session(graph, threads)
        engines["onnxruntime"] = lambda: ort.run(None, feed)[0]
    check_agree(engines, tolerance=TOLERANCE["predict"])
    return Case(f"{name}-threads{threads}", "predict",
                {"model": "A", "batch": batch, "steps": steps, "threads": threads,
                 "pairs": (("onnxruntime", "fastrnn"), ("fastrnn", FASTRNN_PREDICT))},
                "frame", batch * steps, batch * steps * spec_flops(spec), engines, skipped)


def onnx_vad_case(threads: int, peers: tuple[str, ...] = PEERS) -> Case:
    """The VAD-shaped CRNN's ONNX graph (models.vad_torch: STFT-like conv,
    4 x conv + ReLU, LSTM(128), 1x1 conv, sigmoid, in an If on the sample
    rate), one chunk of 64 + 512 samples per call at 16 kHz, its LSTM state
    fed back: the session ("fastrnn") and ONNX Runtime, each also through
    IOBinding (_bound_stepper); chunks rotating over VAD_CHUNKS."""
    running, skipped = _onnx_peers(peers)
    if not _can_export(skipped):
        return _unexported("onnx-vad", threads, skipped)
    graph = vad_onnx_graph()
    session = InferenceSession(graph)
    rate = {"sr": np.array(VAD_RATES[0], np.int64)}
    x_shape, y_shape = (1, VAD_CONTEXT + VAD_SAMPLES), (1, 1)
    steppers = {"fastrnn": _state_fed_back(vad_zero_state(),
                                           functools.partial(session.run, None), rate),
                FASTRNN_IOBINDING: _bound_stepper(session, _bind_fastrnn, x_shape, y_shape,
                                                  vad_zero_state(), rate)}
    if "onnxruntime" in running:
        ort = ort_session(graph, threads)
        steppers["onnxruntime"] = _state_fed_back(vad_zero_state(),
                                                  functools.partial(ort.run, None), rate)
        steppers[ORT_IOBINDING] = _bound_stepper(ort, _bind_ort, x_shape, y_shape,
                                                 vad_zero_state(), rate)
    chunks = 0.1 * random_frames(VAD_CHUNKS, features=VAD_CONTEXT + VAD_SAMPLES)[:, None]
    check_agree(_feeders(steppers, chunks[:AGREEMENT_STEPS["stream"]]),
                AGREEMENT_STEPS["stream"], TOLERANCE["stream"])
    pairs = (("onnxruntime", "fastrnn"), (ORT_IOBINDING, FASTRNN_IOBINDING))
    return Case(f"onnx-vad-threads{threads}", "stream",
                {"model": "vad", "threads": threads, "pairs": pairs}, "chunk", 1,
                vad_flops(), _feeders(steppers, chunks), skipped)


def _onnx_peers(peers: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """available(peers) for the ONNX session cases, which run ONNX Runtime
    only (the other peers are skipped, saying so); ONNX Runtime's IOBinding
    engine shares its reason when it cannot run."""
    running, skipped = available(peers)
    skipped.update({peer: ONNX_SESSION_PEERS_ONLY for peer in running if peer != "onnxruntime"})
    if "onnxruntime" in skipped:
        skipped[ORT_IOBINDING] = skipped["onnxruntime"]
    return tuple(peer for peer in running if peer == "onnxruntime"), skipped


def _can_export(skipped: dict[str, str]) -> bool:
    """Whether the ONNX session cases' graphs can be exported here (PyTorch
    and onnx, which torch.onnx.export needs), adding the reason to
    `skipped` when not."""
    if have("torch") and have("onnx"):
        return True
    for name in ("fastrnn", FASTRNN_IOBINDING, FASTRNN_STREAM, FASTRNN_PREDICT):
        skipped[name] = ONNX_NEEDS_EXPORT
    return False


def _unexported(name: str, threads: int, skipped: dict[str, str]) -> Case:
    """An ONNX session case with no engine: its graph cannot be exported here."""
    return Case(f"{name}-threads{threads}", "stream", {"threads": threads}, "call", 1, 0.0,
                {}, skipped)


def pipeline_case(streams: int, threads: int, peers: tuple[str, ...] = PEERS) -> Case:
    """Audio in, prediction out: `streams` streams of the bundled digits
    model (2 x GRU(64) on 40 log-mel bands at 8 kHz + Dense(10)) through a
    StreamingPipeline (one stream: batch_size None), one 10 ms block (a
    hop: one frame) per stream per call; beside it, "model": the model's
    stream alone stepping the same frames' features.

    Before timing, the pipeline's outputs of the first blocks are checked
    to equal, bit for bit, the model stream's outputs of their features.
    """
    from .. import load
    from ..audio import StreamingPipeline

    model = load(bundled_data() / "digits.fastrnn")
    batch = None if streams == 1 else streams
    pipeline = StreamingPipeline(model, batch_size=batch, num_threads=threads)
    primer, blocks, frames = _end_to_end_inputs(pipeline.front_end, streams)
    steps = AGREEMENT_STEPS["stream"]
    expected = model.stream(batch).process(frames[:steps].swapaxes(0, 1) if batch
                                           else frames[:steps])
    pipeline.push(primer)
    got = [pipeline.push(block) for block in blocks[:steps]]
    got = np.concatenate([g[0] for g in got], axis=1) if batch else np.concatenate(got)
    if not np.array_equal(got, expected):
        raise AssertionError(f"the pipeline differs from its front end then model stream by "
                             f"{float(np.abs(got - expected).max()):.2e}")
    pipeline.reset()
    pipeline.push(primer)
    model_stream = model.stream(batch, num_threads=threads)
    out = np.empty(frames.shape[1:-1] + (model.output_size,), np.float32)
    engines = {**_feeders({"fastrnn": pipeline.push}, blocks),
               **_feeders({"model": lambda frame: model_stream.step(frame, out=out)}, frames)}
    front_end = pipeline.front_end
    step = 2.0 * sum(w.size for layer in model.layers for w in layer.weights())  # multiply-adds
    return Case(f"pipeline-digits-n{streams}-threads{threads}", "pipeline",
                {"model": "digits", "streams": streams, "threads": threads,
                 "frame_seconds": front_end.hop_length / front_end.sample_rate},
                "stream-frame", streams, streams * step, engines,
                {peer: END_TO_END_ONLY for peer in peers})


def _end_to_end_inputs(front_end, streams: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What pipeline_case feeds: (primer (N, n_fft - hop), the samples after
    which each block of a hop completes one frame; blocks (PIPELINE_BLOCKS,
    N, hop), C-contiguous per block; frames (PIPELINE_BLOCKS, N, F), the
    features of the frames the blocks complete), without the N axis for
    one stream."""
    hop, held = front_end.hop_length, front_end.n_fft - front_end.hop_length
    signals = speech_signals(streams, front_end.sample_rate)[:, :held + PIPELINE_BLOCKS * hop]
    blocks = signals[:, held:].reshape(streams, PIPELINE_BLOCKS, hop).transpose(1, 0, 2).copy()
    frames = np.stack([front_end.features(signal) for signal in signals], axis=1)
    if streams == 1:
        return signals[0, :held], blocks[:, 0], frames[:, 0]
    return signals[:, :held].copy(), blocks, frames


def sample_case(model: str, samples: int, threads: int, peers: tuple[str, ...] = PEERS,
                precision: str = "float32") -> Case:
    """A per-sample audio model (TINY: "C" LSTM(1 -> 32), "D" GRU(1 -> 64),
    each + Dense(1)) fed buffers of `samples` samples, state carried by every
    engine (fastrnn's Stream.process; the peers' state fed back), the same
    buffer each call."""
    kind, hidden = TINY[model]
    spec = model_spec(kind, input_size=1, hidden=hidden, num_layers=1, head=1)
    running, skipped = available(peers)
    x = random_frames(samples, features=1)
    stream = to_fastrnn(spec, precision=precision).stream(num_threads=threads)
    out = np.empty((samples, 1), np.float32)
    engines = {"fastrnn": lambda: stream.process(x, out=out)}
    steppers = _stateful_peers(spec, 1, threads, running, precision, skipped, samples)
    engines.update({name: (lambda step=step: step(x[None])[0]) for name, step in steppers.items()})
    check_agree(engines, AGREEMENT_STEPS["stream"] // 4, _tolerance("process", precision))
    return Case(f"sample-model{model}-t{samples}-threads{threads}{_suffix(precision)}",
                "process", {"model": model, "samples": samples, "threads": threads,
                            "precision": precision}, "sample", samples,
                samples * spec_flops(spec), engines, skipped)


def train_case(threads: int, peers: tuple[str, ...] = PEERS, batch: int = 32,
               steps: int = 100) -> Case:
    """One optimizer step of the reference model: LSTM(128, sequences) ->
    LSTM(64) (TRAIN_HIDDEN) -> Dense(10, softmax), categorical cross-entropy, Adam, on
    `batch` sequences of `steps` frames.

    The engines are not checked against each other: fastrnn.train and
    PyTorch start from their own initialisations (Keras' and PyTorch's).
    """
    from ..train import LSTM, Dense, Sequential, to_categorical

    running, skipped = available(peers)
    if "onnxruntime" in peers:
        skipped["onnxruntime"] = ORT_CANNOT_TRAIN
        running = tuple(peer for peer in running if peer != "onnxruntime")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, FEATURES)).astype(np.float32)
    labels = rng.integers(0, CLASSES, batch)
    first, second = TRAIN_HIDDEN
    model = Sequential([LSTM(first, return_sequences=True), LSTM(second, return_sequences=False),
                        Dense(CLASSES, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    targets = to_categorical(labels, CLASSES)
    engines = {"fastrnn": lambda: model.train_on_batch(x, targets)}
    if "torch" in running:
        engines["torch"] = _torch_train_step(x, labels)
    # per step: the forward's products, and twice as many in the backward pass
    forward = steps * batch * (step_flops("lstm", FEATURES, first)
                               + step_flops("lstm", first, second)) + 2 * batch * second * CLASSES
    return Case(f"train-step-b{batch}-t{steps}-threads{threads}", "train",
                {"batch": batch, "steps": steps, "threads": threads}, "step", 1,
                3 * forward, engines, skipped, blas_threads=threads)


def _stream_steppers(spec: ModelSpec, batch: int | None, threads: int,
                     running: tuple[str, ...], skipped: dict, graph: bool = False,
                     precision: str = "float32") -> dict[str, Callable]:
    """{engine: step(frame) -> output} of `spec`, state carried between
    calls: one stream fed (F,) frames (batch None), or `batch` streams fed
    (batch, F) frames; fastrnn's weights in `precision`. graph: fastrnn runs
    the model built as a graph, and the Sequential runs too, as
    FASTRNN_SEQUENTIAL."""
    model = (to_fastrnn_graph if graph else to_fastrnn)(spec, precision=precision)
    shape = (model.output_size,) if batch is None else (batch, model.output_size)
    steppers = {"fastrnn": _fastrnn_stepper(model, batch, threads, shape)}
    if graph:
        steppers[FASTRNN_SEQUENTIAL] = _fastrnn_stepper(to_fastrnn(spec, precision=precision),
                                                        batch, threads, shape)
    for name, step in _stateful_peers(spec, batch or 1, threads, running, precision,
                                      skipped).items():
        steppers[name] = (lambda frame, step=step: step(frame.reshape(batch or 1, 1, -1))
                          .reshape(shape))
    return steppers


def _fastrnn_stepper(model: fastrnn.Model, batch: int | None, threads: int,
                     shape: tuple) -> Callable:
    """fastrnn's step: a stream of `model`, writing each output into one buffer."""
    stream = model.stream(batch_size=batch, num_threads=threads)
    out = np.empty(shape, np.float32)
    return lambda frame: stream.step(frame, out=out)


def _stateful_peers(spec: ModelSpec, batch: int, threads: int, running: tuple[str, ...],
                    precision: str, skipped: dict, steps: int = 1) -> dict[str, Callable]:
    """{peer: step(x (batch, steps, F)) -> y (batch, steps, O)} of `spec`,
    each keeping its state between calls; a peer that cannot run the model
    goes into `skipped` with its reason."""
    steppers = {}
    if "torch" in running:
        steppers["torch"] = _torch_stepper(spec, batch)
    if "onnxruntime" in running:
        session = onnx_session(spec, batch, threads)
        steppers["onnxruntime"] = _state_fed_back(
            zero_state(spec, batch), functools.partial(session.run, None))
    if "openvino" in running:
        request = openvino_request(spec, batch, threads, OPENVINO_HINT[precision], steps=steps)
        steppers["openvino"] = _state_fed_back(
            zero_state(spec, batch), lambda feed: list(request.infer(feed).values()))
    if "tract" in running:
        try:
            steppers["tract"] = _state_fed_back(zero_state(spec, batch),
                                                tract_runner(spec, batch, steps=steps))
        except PeerCannotRun as reason:
            skipped["tract"] = str(reason)
    return steppers


def _torch_stepper(spec: ModelSpec, batch: int) -> Callable:
    """PyTorch's step of `spec` over (batch, T, F) chunks, its state kept."""
    import torch

    module = torch_module(spec)
    state = [torch.from_numpy(s) for s in zero_state(spec, batch)]

    def step(x: np.ndarray) -> np.ndarray:
        nonlocal state
        with torch.inference_mode():
            y, *state = module(torch.from_numpy(x), *state)
        return y.numpy()
    return step


def _state_fed_back(state: list[np.ndarray], run: Callable,
                    fixed: dict | None = None) -> Callable:
    """A per-step ONNX graph's step(x) (run(feed) -> [y, *state]), its state
    (models.STATE_NAMES, from `state`) fed back as a real-time loop feeds it:
    one feed dict, its "x" and state entries replaced at every call; `fixed`:
    inputs fed as they are on every call. An ONNX session's run(None, feed)
    is given as functools.partial(session.run, None), which adds no Python
    frame to the call (a lambda would time one more for every peer)."""
    feed = {**(fixed or {}), **state_feed(state)}
    slots = tuple(enumerate(STATE_NAMES[:len(state)], 1))     # (output index, input name)

    def step(x: np.ndarray) -> np.ndarray:
        feed["x"] = x
        outputs = run(feed)
        for index, name in slots:
            feed[name] = outputs[index]
        return outputs[0]
    return step


def _bound_stepper(session, bind: Callable, x_shape: tuple, y_shape: tuple,
                   state: list[np.ndarray], fixed: dict | None = None) -> Callable:
    """A per-step ONNX graph's step(x) -> y through IOBinding, as a real-time
    loop runs one: every array preallocated and bound once, in two bindings
    whose states swap (the state outputs of one call are the state inputs
    of the next), so that a call copies its frame into the bound "x" and
    runs; y is one buffer, overwritten by every call.

    bind(binding, name, array, is_input) binds a NumPy array (the session's
    own form: fastrnn's or ONNX Runtime's); the graph's inputs are "x",
    models.STATE_NAMES[:len(state)] and `fixed`'s, its outputs "y"-like
    first (named by the graph) then <state>_out.
    """
    x = np.zeros(x_shape, np.float32)
    y = np.empty(y_shape, np.float32)
    first = [np.array(s, copy=True) for s in state]
    states = (first, [np.empty_like(s) for s in first])
    outputs = [value.name for value in session.get_outputs()]
    bindings = []
    for turn in (0, 1):
        binding = session.io_binding()
        bind(binding, "x", x, True)
        for name, array in (fixed or {}).items():
            bind(binding, name, array, True)
        bind(binding, outputs[0], y, False)
        for name, now, after in zip(STATE_NAMES, states[turn], states[1 - turn],
                                    strict=False):
            bind(binding, name, now, True)
            bind(binding, name + "_out", after, False)
        bindings.append(binding)
    turn = 0

    def step(frame: np.ndarray) -> np.ndarray:     # frame: x_shape
        nonlocal turn
        x[...] = frame
        session.run_with_iobinding(bindings[turn])
        turn = 1 - turn
        return y
    return step


def _bind_fastrnn(binding, name: str, array: np.ndarray, is_input: bool) -> None:
    """_bound_stepper's bind for fastrnn's session (its bind_ortvalue_output
    takes the array itself)."""
    if is_input:
        binding.bind_cpu_input(name, array)
    else:
        binding.bind_ortvalue_output(name, array)


def _bind_ort(binding, name: str, array: np.ndarray, is_input: bool) -> None:
    """_bound_stepper's bind for ONNX Runtime: an OrtValue sharing the
    array's memory (CPU)."""
    import onnxruntime as ort

    value = ort.OrtValue.ortvalue_from_numpy(array)
    if is_input:
        binding.bind_ortvalue_input(name, value)
    else:
        binding.bind_ortvalue_output(name, value)


def _feeders(steppers: dict[str, Callable], frames: np.ndarray) -> dict[str, Callable]:
    """{engine: zero-argument call} stepping each engine through `frames`
    in turn (each engine from the first frame, wrapping around). The frames
    are split into row arrays once, so that a call times the engine, not
    NumPy making a view of the next row (~40 ns)."""
    rows = list(frames)

    def feeder(step: Callable) -> Callable:
        position = -1

        def call():
            nonlocal position
            position = (position + 1) % len(rows)
            return step(rows[position])
        return call
    return {name: feeder(step) for name, step in steppers.items()}


def _crnn_peers(peers: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """available(peers) for the CRNN cases, which PyTorch and ONNX Runtime
    run (the others are skipped, saying so)."""
    running, skipped = available(peers)
    skipped.update({peer: CRNN_PEERS_ONLY for peer in running if peer not in CRNN_PEERS})
    return tuple(peer for peer in running if peer in CRNN_PEERS), skipped


def _crnn_spec(hidden: int) -> SuppressorSpec:
    """The CRNN cases' model: convolutions of hidden / 3 and `hidden`
    channels, 3 x GRU(hidden), seeded weights."""
    return suppressor_spec(channels=(hidden // 3, hidden), hidden=hidden)


def _torch_suppressor(spec: SuppressorSpec) -> Callable:
    """PyTorch's run of the noise suppressor: run(x (B, T, F), [h1, h2, h3]
    (1, B, H) each) -> [gains, vad, h1', h2', h3'], NumPy arrays in and out
    (shared with the tensors, not copied), under inference_mode."""
    import torch

    module = suppressor_torch(spec)

    def run(x: np.ndarray, state: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            outputs = module(torch.from_numpy(x), *map(torch.from_numpy, state))
        return [y.numpy() for y in outputs]
    return run


def _ort_suppressor(spec: SuppressorSpec, threads: int) -> Callable:
    """ONNX Runtime's run of the noise suppressor, as _torch_suppressor's
    (one session, models.suppressor_onnx_session)."""
    session = suppressor_onnx_session(spec, threads)

    def run(x: np.ndarray, state: list[np.ndarray]) -> list[np.ndarray]:
        return session.run(None, {"x": x, **dict(zip(SUPPRESSOR_STATES, state, strict=True))})
    return run


def _window_stepper(run: Callable, primer: np.ndarray, state: list) -> Callable:
    """step(frame (F,)) -> (gains (1, F), vad (1, 1)) of a peer that runs the
    whole-sequence network on the last len(primer) + 1 frames.

    run(window (1, W, F), state) -> [gains, vad, *state'] gives one output
    frame; the window is one buffer, shifted by a frame per call and
    starting with `primer` (W - 1 frames), and `state` is carried.
    """
    window = np.zeros((1, len(primer) + 1, primer.shape[1]), np.float32)
    window[0, 1:] = primer

    def step(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nonlocal state
        window[0, :-1] = window[0, 1:]
        window[0, -1] = frame
        gains, vad, *state = run(window, state)
        return gains[0], vad[0]
    return step


def _joined(engines: dict[str, Callable]) -> dict[str, Callable]:
    """{engine: call} whose outputs (a tuple of arrays: a model with several
    outputs) come back as one flat array, for check_agree."""
    def joined(call: Callable) -> Callable:
        return lambda: np.concatenate([np.ravel(y) for y in call()])
    return {name: joined(call) for name, call in engines.items()}


def _torch_predict(spec: ModelSpec, x: np.ndarray, first: bool = False) -> Callable:
    """PyTorch's predict of `spec` on `x` (B, T, I) from a zero state, under
    inference_mode; first: the first sequence's output only."""
    import torch

    module, tensor = torch_module(spec), torch.from_numpy(x)

    def run() -> np.ndarray:
        with torch.inference_mode():
            y = module(tensor)[0]
        return (y[0] if first else y).numpy()
    return run


def _torch_train_step(x: np.ndarray, labels: np.ndarray) -> Callable:
    """PyTorch's training step of train_case's model (seeded initialisation)."""
    import torch

    torch.manual_seed(0)
    first_size, second_size = TRAIN_HIDDEN
    first = torch.nn.LSTM(x.shape[2], first_size, batch_first=True)
    second = torch.nn.LSTM(first_size, second_size, batch_first=True)
    head = torch.nn.Linear(second_size, CLASSES)
    parameters = [*first.parameters(), *second.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(labels)

    def step() -> None:
        optimizer.zero_grad()
        hidden = second(first(inputs)[0])[0]
        loss = torch.nn.functional.cross_entropy(head(hidden[:, -1]), targets)
        loss.backward()
        optimizer.step()
    return step
