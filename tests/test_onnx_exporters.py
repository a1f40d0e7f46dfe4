"""What today's PyTorch exporters write, run by fastrnn's session against
ONNX Runtime on the same file, and read by ``from_onnx``.

The matrix: ``torch.onnx.export`` with ``dynamo=False`` (the legacy
TorchScript exporter) and ``dynamo=True``, opsets 17 and 20, static and
dynamic axes, as exported and after ``onnxscript.optimizer.optimize``; for
nn.LSTM / nn.GRU / nn.RNN in every configuration fastrnn imports from
PyTorch (``RECURRENT_CONFIGS``) and for the CRNN family of
tests/crnn_models.py (all but the bench-sized noise_suppressor_full). A
dynamic-axes export runs on a batch and a length other than the exported
ones.

Exporting is slow with dynamo (2-10 s per module on this machine), so
dynamo exports bundle many modules into one graph (``Bundle``: one input
and outputs per member), and every export is made once per test session
(``exported``). Opset 17 with dynamo is exported at 18 and converted down
by the exporter (ONNX's version converter). Dynamic axes with dynamo use
``Dim.AUTO`` (a named ``Dim`` for the time axis is specialized away by the
exporter for recurrent modules).

Tolerance: ``assert_close(..., "float32")`` (max abs 1e-5, times the
output's scale for unbounded outputs such as a Relu RNN's or a Linear
head's), the issue's bar against ONNX Runtime.
"""

import functools
import io
import logging
import os
import warnings

import numpy as np
import pytest
from conftest import assert_close

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")
torch = pytest.importorskip("torch", reason="PyTorch is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

import crnn_models  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.onnx import InferenceSession  # noqa: E402

FEATURES = 5
HIDDEN = 7

# name -> (kind, num_layers, bidirectional, batch_first, bias, Linear head)
RECURRENT_CONFIGS = {
    "lstm": ("lstm", 1, False, False, True, False),
    "lstm_2_bidirectional_head": ("lstm", 2, True, True, True, True),
    "lstm_2_no_bias": ("lstm", 2, False, True, False, False),
    "gru_head": ("gru", 1, False, True, True, True),
    "gru_2_bidirectional": ("gru", 2, True, False, True, False),
    "gru_bidirectional_no_bias_head": ("gru", 1, True, True, False, True),
    "rnn_bidirectional": ("rnn_tanh", 1, True, False, True, False),
    "rnn_relu_2_head": ("rnn_relu", 2, False, True, True, True),
    "rnn_relu_bidirectional_no_bias": ("rnn_relu", 2, True, True, False, False),
}
CRNN_CASES = [name for name in crnn_models.CASES if name != "noise_suppressor_full"]


class Recurrent(torch.nn.Module):
    """An nn.LSTM/GRU/RNN (and a Linear head) returning (outputs, states...)."""

    def __init__(self, kind, num_layers, bidirectional, batch_first, bias, head):
        super().__init__()
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(kind, torch.nn.RNN)
        options = {"nonlinearity": kind[4:]} if cls is torch.nn.RNN else {}
        self.rnn = cls(FEATURES, HIDDEN, num_layers=num_layers, bidirectional=bidirectional,
                       batch_first=batch_first, bias=bias, **options)
        self.head = torch.nn.Linear(HIDDEN * (1 + bidirectional), 3) if head else None
        self.batch_first = batch_first

    def forward(self, x):
        y, state = self.rnn(x)
        states = state if isinstance(state, tuple) else (state,)
        return (self.head(y) if self.head is not None else y, *states)


def recurrent_module(name: str) -> Recurrent:
    torch.manual_seed(sorted(RECURRENT_CONFIGS).index(name))
    return Recurrent(*RECURRENT_CONFIGS[name]).eval()


def crnn_module(name: str):
    case = crnn_models.CASES[name]()
    return case.torch_module(case.weights), case


def example_input(name: str, batch: int = 2, steps: int | None = None) -> np.ndarray:
    """A seeded input for member `name`, in its own layout."""
    rng = np.random.default_rng(len(name))
    if name in RECURRENT_CONFIGS:
        steps = steps or 9
        shape = (batch, steps, FEATURES)
        x = rng.standard_normal(shape).astype(np.float32)
        return x if RECURRENT_CONFIGS[name][3] else np.ascontiguousarray(x.transpose(1, 0, 2))
    case = crnn_models.CASES[name]()
    steps = steps or case.lengths[0]
    return rng.standard_normal((batch, steps, case.input_size)).astype(np.float32)


def other_input(name: str) -> np.ndarray:
    """A batch and length other than the exported ones (for dynamic axes)."""
    if name in RECURRENT_CONFIGS:
        return example_input(name, batch=3, steps=6)
    return example_input(name, batch=3, steps=crnn_models.CASES[name]().lengths[1])


class Bundle(torch.nn.Module):
    """Several members in one graph: input i feeds member i."""

    def __init__(self, names):
        super().__init__()
        self.members = torch.nn.ModuleList(
            recurrent_module(n) if n in RECURRENT_CONFIGS else crnn_module(n)[0] for n in names)

    def forward(self, *inputs):
        outputs = []
        for member, x in zip(self.members, inputs):
            result = member(x)
            outputs.extend(_flatten(result))
        return tuple(outputs)


def _flatten(result):
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _flatten(item)]
    return [result]


def _batch_and_time_axes(name: str) -> dict:
    """{axis: name} of a member's batch and time axes."""
    sequence_first = name in RECURRENT_CONFIGS and not RECURRENT_CONFIGS[name][3]
    return {0: "time", 1: "batch"} if sequence_first else {0: "batch", 1: "time"}


def _export(names, exporter: str, opset: int, dynamic: bool) -> bytes:
    if exporter == "dynamo":
        pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs "
                                                 "onnxscript (pip install onnxscript)")
    module = Bundle(names).eval()
    inputs = tuple(torch.from_numpy(example_input(n)) for n in names)
    input_names = [f"x_{n}" for n in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "legacy":
            buffer = io.BytesIO()
            axes = ({name: _batch_and_time_axes(n) for name, n in zip(input_names, names)}
                    if dynamic else None)
            torch.onnx.export(module, inputs, buffer, input_names=input_names,
                              opset_version=opset, dynamo=False, dynamic_axes=axes)
            return buffer.getvalue()
        logging.disable(logging.WARNING)
        try:
            auto = torch.export.Dim.AUTO
            shapes = (tuple({0: auto, 1: auto} for _ in names),) if dynamic else None
            program = torch.onnx.export(module, inputs, None, input_names=input_names,
                                        opset_version=opset, dynamo=True, optimize=False,
                                        verbose=False, dynamic_shapes=shapes)
        finally:
            logging.disable(logging.NOTSET)
        return program.model_proto.SerializeToString()


_EXPORTS: dict = {}


@pytest.fixture(scope="session")
def exported():
    """export(names, exporter, opset, dynamic, optimized) -> model bytes,
    each made once per session."""
    def export(names, exporter, opset, dynamic, optimized=False):
        key = (tuple(names), exporter, opset, dynamic)
        if key not in _EXPORTS:
            _EXPORTS[key] = _export(names, exporter, opset, dynamic)
        if not optimized:
            return _EXPORTS[key]
        if key + ("optimized",) not in _EXPORTS:
            import onnxscript
            model = onnx.load_from_string(_EXPORTS[key])
            _EXPORTS[key + ("optimized",)] = onnxscript.optimizer.optimize(
                model).SerializeToString()
        return _EXPORTS[key + ("optimized",)]
    return export


def run_both(data: bytes, feeds: dict) -> tuple[list, list, list]:
    """(output names, fastrnn's outputs, ONNX Runtime's outputs) on `feeds`."""
    reference = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    ours = InferenceSession(data)
    names = [o.name for o in reference.get_outputs()]
    assert [o.name for o in ours.get_outputs()] == names
    assert [i.name for i in ours.get_inputs()] == [i.name for i in reference.get_inputs()]
    return names, ours.run(names, feeds), reference.run(names, feeds)


def compare(names: list, got: list, expected: list, what: str) -> None:
    assert got, f"{what}: no outputs"
    for name, ours, theirs in zip(names, got, expected):
        assert ours.dtype == theirs.dtype, f"{what} {name}"
        assert_close(ours, theirs, "float32", f"{what} {name}")


ALL = list(RECURRENT_CONFIGS) + CRNN_CASES
LEGACY = [(n, opset, dynamic) for n in ALL for opset in (17, 20) for dynamic in (False, True)]


@pytest.mark.parametrize("name, opset, dynamic", LEGACY,
                         ids=[f"{n}-opset{o}-{'dynamic' if d else 'static'}" for n, o, d in LEGACY])
def test_legacy_export(exported, name, opset, dynamic):
    data = exported([name], "legacy", opset, dynamic)
    x = other_input(name) if dynamic else example_input(name)
    compare(*run_both(data, {f"x_{name}": x}), name)


# Dynamo exports: (bundle, opset, dynamic axes); each member of a bundle is
# compared as exported and optimized. By default a covering subset (dynamo
# costs 1-3 s per module on this machine, 8 s for a dynamic one): every
# recurrent kind, stacks, bidirectional, batch-first both ways, no bias,
# heads, Relu RNN, and the three CRNNs at opset 20; pooling and GELU
# (Erf) among others at opset 17. FASTRNN_EXPORT_MATRIX=full exports every
# member at both opsets and every LSTM/GRU configuration with dynamic axes
# (several minutes). Not nn.RNN with dynamic axes: dynamo unrolls it over
# time with SplitToSequence, a sequence type outside the scope
# (the session refuses it, naming the node and the op).
DYNAMIC_MODULE = "lstm_2_bidirectional_head"
if os.environ.get("FASTRNN_EXPORT_MATRIX") == "full":
    DYNAMO_BUNDLES = [(ALL, 20, False), (ALL, 17, False),
                      ([n for n, config in RECURRENT_CONFIGS.items()
                        if config[0] in ("lstm", "gru")], 20, True)]
else:
    DYNAMO_BUNDLES = [
        ([DYNAMIC_MODULE, "gru_2_bidirectional", "rnn_relu_2_head", "vad", "noise_suppressor",
          "keyword_spotter"], 20, False),
        (["gru_bidirectional_no_bias_head", "lstm_2_no_bias", "pooled", "activations"], 17,
         False),
        ([DYNAMIC_MODULE], 20, True)]
DYNAMO = [(n, names, opset, dynamic, optimized) for names, opset, dynamic in DYNAMO_BUNDLES
          for n in names for optimized in (False, True)]


@pytest.mark.parametrize("name, names, opset, dynamic, optimized", DYNAMO,
                         ids=[f"{n}-opset{o}-{'dynamic' if d else 'static'}"
                              f"{'-optimized' if p else ''}" for n, _, o, d, p in DYNAMO])
def test_dynamo_export(exported, name, names, opset, dynamic, optimized):
    """Each bundle runs once in each runtime (cached); a member's test
    compares its outputs (the exporter names them in member order)."""
    key = (tuple(names), opset, dynamic, optimized)
    if key not in _RESULTS:
        data = exported(names, "dynamo", opset, dynamic, optimized)
        feeds = {f"x_{n}": other_input(n) if dynamic else example_input(n) for n in names}
        _RESULTS[key] = run_both(data, feeds)
    outputs, got, expected = _RESULTS[key]
    first = sum(_output_count(n) for n in names[:names.index(name)])
    count = _output_count(name)
    compare(outputs[first:first + count], got[first:first + count],
            expected[first:first + count], name)


_RESULTS: dict = {}


@functools.cache
def _output_count(name: str) -> int:
    """How many graph outputs a bundle member contributes."""
    if name in RECURRENT_CONFIGS:
        return 3 if RECURRENT_CONFIGS[name][0] == "lstm" else 2
    module, case = crnn_module(name)
    with torch.no_grad():
        return len(_flatten(module(torch.from_numpy(example_input(name)))))


# ---------------------------------------------------------------------------
# from_onnx: chains of recurrent layers and a Linear head.

class Chain(torch.nn.Module):
    """(B, T, F) -> the recurrent stack's sequence, a Linear head, softmax."""

    def __init__(self, kind, bidirectional, batch_first, num_layers=2):
        super().__init__()
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
        self.rnn = cls(FEATURES, 9, num_layers=num_layers, bidirectional=bidirectional,
                       batch_first=batch_first)
        self.fc = torch.nn.Linear(18 if bidirectional else 9, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return torch.softmax(self.fc(y), dim=-1)


CHAINS = ([(kind, bidirectional, batch_first, False)
           for kind in ("lstm", "gru", "rnn")
           for bidirectional, batch_first in ((False, True), (True, True), (True, False))]
          + [("lstm", True, False, True), ("gru", False, True, True)])


@pytest.mark.parametrize("kind, bidirectional, batch_first, dynamic", CHAINS)
def test_from_onnx_matches_torch(kind, bidirectional, batch_first, dynamic):
    """Legacy exports; with dynamic axes, the zero initial state of each
    layer is ConstantOfShape -> Slice."""
    torch.manual_seed(8)
    module = Chain(kind, bidirectional, batch_first).eval()
    x = torch.randn(3, 11, FEATURES)                               # batch first
    source = x if batch_first else x.transpose(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        buffer = io.BytesIO()
        layout = {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}
        torch.onnx.export(module, (source,), buffer, input_names=["x"], dynamo=False,
                          dynamic_axes={"x": layout} if dynamic else None)
    data = buffer.getvalue()
    with torch.inference_mode():
        expected = module(source)
    expected = (expected if batch_first else expected.transpose(0, 1)).numpy()
    model = fastrnn.from_onnx(data)
    assert_close(model.predict(x.numpy()), expected, "float32", "from_onnx")


@pytest.mark.parametrize("optimized", [False, True])
def test_from_onnx_reads_dynamo_exports(exported, optimized):
    """The dynamo export (dynamic axes) of a 2-layer bidirectional LSTM and
    a Linear head: W, R, B are Slice/Concat of initializers, folded at load
    (read-only arrays once optimized); the model computes the first output."""
    data = exported([DYNAMIC_MODULE], "dynamo", 20, True, optimized)
    module = recurrent_module(DYNAMIC_MODULE)
    x = other_input(DYNAMIC_MODULE)                     # batch first
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    assert_close(fastrnn.from_onnx(data).predict(x), expected, "float32", "from_onnx")


def test_from_onnx_refuses_what_it_cannot_express():
    class Last(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(5, 6, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Last(), (torch.randn(2, 4, 5),), buffer, dynamo=False)
    with pytest.raises(NotImplementedError, match=r"'/Gather' \(Gather\) run outside the engine "
                       r"\(in NumPy\).*fastrnn\.onnx\.InferenceSession"):
        fastrnn.from_onnx(buffer.getvalue())


# ---------------------------------------------------------------------------
# from_onnx streams: the recurrent states a graph reads from inputs and
# writes to outputs are the model's own state.

class StatefulRecurrent(torch.nn.Module):
    """(x (B, T, F) or (B, C, T) with a conv front end, h0[, c0]) ->
    (head sequence, h_n[, c_n]): a 2-layer nn.LSTM / nn.GRU (batch first)
    and a Linear head, after an optional Conv1d + ReLU front end."""

    def __init__(self, kind: str, conv: dict | None = None):
        super().__init__()
        self.kind = kind
        self.conv = torch.nn.Conv1d(FEATURES, 6, **conv) if conv else None
        cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
        self.rnn = cls(6 if conv else FEATURES, HIDDEN, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, 3)

    def forward(self, x, h, *c):
        if self.conv is not None:
            x = torch.relu(self.conv(x)).transpose(1, 2)
        y, state = self.rnn(x, (h, c[0]) if self.kind == "lstm" else h)
        return (self.head(y),) + (tuple(state) if self.kind == "lstm" else (state,))


STATE_BATCH = 2
# (name, kind, conv front end, exporter, input frames per graph call)
STATEFUL = [("lstm", "lstm", None, "legacy", 1), ("gru", "gru", None, "legacy", 1),
            ("lstm", "lstm", None, "dynamo", 1), ("gru", "gru", None, "dynamo", 1),
            # kernel = stride: chunks of 2 frames are independent windows
            ("crnn", "lstm", {"kernel_size": 2, "stride": 2}, "legacy", 2),
            ("crnn", "lstm", {"kernel_size": 2, "stride": 2}, "dynamo", 2)]


def _stateful_export(kind: str, conv: dict | None, exporter: str, frames: int):
    """(module, graph bytes, state input names, state output names) of an
    export called with `frames` input frames (static axes)."""
    torch.manual_seed(5)
    module = StatefulRecurrent(kind, conv).eval()
    x = torch.randn(STATE_BATCH, FEATURES, frames) if conv else torch.randn(
        STATE_BATCH, frames, FEATURES)
    states = ("h", "c") if kind == "lstm" else ("h",)
    args = (x,) + tuple(torch.zeros(2, STATE_BATCH, HIDDEN) for _ in states)
    outputs = ["y"] + [f"{name}n" for name in states]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "legacy":
            buffer = io.BytesIO()
            torch.onnx.export(module, args, buffer, input_names=["x", *states],
                              output_names=outputs, dynamo=False)
            return module, buffer.getvalue(), states, outputs[1:]
        pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs "
                                                 "onnxscript (pip install onnxscript)")
        logging.disable(logging.WARNING)
        try:
            program = torch.onnx.export(module, args, None, input_names=["x", *states],
                                        output_names=outputs, dynamo=True, verbose=False)
        finally:
            logging.disable(logging.NOTSET)
        return module, program.model_proto.SerializeToString(), states, outputs[1:]


def _as_model_state(model, feeds: dict) -> dict:
    """ONNX state values (L, B, H) as the model's initial_state (the other
    parts, a convolution's window, zero)."""
    inputs = model.metadata["onnx"]["state_inputs"]
    state = {name: np.zeros((STATE_BATCH,) + shape, np.float32)
             for name, shape in model.state_shapes().items()}
    state.update({part: feeds[name][k] for name, parts in inputs.items()
                  for k, part in enumerate(parts)})
    return state


def _as_onnx_state(model, state: dict, name: str) -> np.ndarray:
    """The model's final state as ONNX output `name` (L, B, H)."""
    return np.stack([state[part] for part in model.metadata["onnx"]["state_outputs"][name]])


@pytest.mark.parametrize("name, kind, conv, exporter, frames", STATEFUL,
                         ids=[f"{n}-{e}" for n, _, _, e, _ in STATEFUL])
def test_from_onnx_stream_carries_the_graph_state(name, kind, conv, exporter, frames):
    """model.stream().step(frame), frame after frame, equals ONNX Runtime
    running the graph call after call (`frames` input frames each) with its
    state outputs fed back as its state inputs, from zeros; the stream's
    state is then the graph's last state outputs."""
    module, data, state_inputs, state_outputs = _stateful_export(kind, conv, exporter, frames)
    model = fastrnn.from_onnx(data)
    assert model.input_names == ["x"] and model.output_names == ["y"]
    assert set(model.metadata["onnx"]["state_inputs"]) == set(state_inputs)
    reference = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    calls = 5
    x = rng.standard_normal((STATE_BATCH, calls * frames, FEATURES)).astype(np.float32)
    state = {name: np.zeros((2, STATE_BATCH, HIDDEN), np.float32) for name in state_inputs}
    expected = []
    for k in range(calls):
        chunk = x[:, k * frames:(k + 1) * frames]
        y, *finals = reference.run(None, {"x": chunk.transpose(0, 2, 1) if conv else chunk,
                                          **state})
        expected.append(y)
        state = dict(zip(state_inputs, finals))
    stream = model.stream(STATE_BATCH)
    got = [stream.step(x[:, t]) for t in range(x.shape[1])]
    if conv:                    # (N, frames completed, O): one per `frames` steps
        got = np.concatenate(got, axis=1)
        assert_close(got, np.concatenate(expected, axis=1), "float32", f"{name} stream")
    else:
        assert_close(np.stack(got, axis=1), np.concatenate(expected, axis=1), "float32",
                     f"{name} stream")
    final = stream.get_state()
    for input_name, output_name in zip(state_inputs, state_outputs):
        assert_close(_as_onnx_state(model, final, output_name), state[input_name], "float32",
                     f"{name} {output_name}")


@pytest.mark.parametrize("name, kind, conv, exporter, frames", STATEFUL[:2] + STATEFUL[4:5],
                         ids=["lstm", "gru", "crnn"])
def test_from_onnx_predict_from_the_graph_state(name, kind, conv, exporter, frames):
    """predict(initial_state=the graph's state inputs, return_state=True)
    equals one ONNX Runtime call from those states: outputs and final
    states, mapped by model.metadata["onnx"]; the graph exported with 1 or
    2 frames, run on 8 (the export's static axes re-declared dynamic)."""
    module, data, state_inputs, state_outputs = _stateful_export(kind, conv, exporter, frames)
    model = fastrnn.from_onnx(data)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((STATE_BATCH, 8, FEATURES)).astype(np.float32)
    feeds = {name: rng.standard_normal((2, STATE_BATCH, HIDDEN)).astype(np.float32)
             for name in state_inputs}
    with torch.no_grad():
        expected = module(torch.from_numpy(x.transpose(0, 2, 1) if conv else x),
                          *(torch.from_numpy(feeds[n]) for n in state_inputs))
    y, final = model.predict(x, initial_state=_as_model_state(model, feeds), return_state=True)
    assert_close(y, expected[0].numpy(), "float32", f"{name} y")
    for output_name, value in zip(state_outputs, expected[1:]):
        assert_close(_as_onnx_state(model, final, output_name), value.numpy(), "float32",
                     f"{name} {output_name}")


def test_from_onnx_makes_a_conv_front_end_model():
    """A conv front end (kernel 3, padding 1), 2-layer LSTM and Linear head,
    no state inputs: the Model of the whole graph, batch first (B, T, C)
    whatever the graph's (B, C, T); its stream, flushed, equals ONNX
    Runtime on the whole sequence. The session compiles the graph to the
    same one segment (the zero initial states, made from the conv output's
    Shape, are zeros the engine starts from) and agrees."""
    torch.manual_seed(6)

    class Crnn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(FEATURES, 6, 3, padding=1)
            self.rnn = torch.nn.LSTM(6, HIDDEN, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(HIDDEN, 3)

        def forward(self, x):
            return self.head(self.rnn(torch.relu(self.conv(x)).transpose(1, 2))[0])

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Crnn().eval(), (torch.randn(2, FEATURES, 10),), buffer,
                          input_names=["audio"], output_names=["logits"], dynamo=False,
                          dynamic_axes={"audio": {0: "batch", 2: "time"}})
    data = buffer.getvalue()
    model = fastrnn.from_onnx(data)
    assert isinstance(model, fastrnn.Model) and model.output_names == ["logits"]
    assert model.metadata["onnx"] == {"state_inputs": {}, "state_outputs": {}}
    x = np.random.default_rng(5).standard_normal((3, 13, FEATURES)).astype(np.float32)
    reference = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (expected,) = reference.run(None, {"audio": x.transpose(0, 2, 1)})
    assert_close(model.predict(x), expected, "float32", "predict")
    session = InferenceSession(data)      # one segment: the zero states' shape arithmetic
    assert [type(step).__name__ for step, _ in session._plan] == ["CompiledGraph"]
    assert_close(session.run(None, {"audio": x.transpose(0, 2, 1)})[0], expected, "float32",
                 "session")
    stream = model.stream(3)
    got = np.concatenate([stream.step(x[:, t]) for t in range(13)] + [stream.flush()], axis=1)
    assert_close(got, expected, "float32", "stream")


def test_from_onnx_names_why_a_graph_is_not_one_model(vad_if_graph):
    """The VAD graph runs everything inside If on a sample-rate input."""
    with pytest.raises(NotImplementedError,
                       match=r"'prob' \(If\) run outside the engine.*InferenceSession"):
        fastrnn.from_onnx(vad_if_graph)


def test_from_onnx_names_what_keeps_a_recurrent_node_out_of_the_engine():
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((1, 4 * 3, size)).astype(np.float32),
                                       name) for name, size in (("W", 2), ("R", 3))]
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="lstm", hidden_size=3,
                            clip=1.0)
    graph = helper.make_graph(
        [node], "clipped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1, 1, 3])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(NotImplementedError, match=r"no node runs in the engine; ONNX nodes "
                       r"'lstm' \(LSTM: attribute clip\) run outside the engine"):
        fastrnn.from_onnx(model)


# ---------------------------------------------------------------------------
# The real VAD's shape: everything inside If on a sample-rate input, the
# LSTM state a graph input and output, weights as Constant nodes.

class StatefulVad(torch.nn.Module):
    """crnn_models' VAD with its state as inputs: (x, h, c) -> (prob, h', c')."""

    def __init__(self, seed: int):
        super().__init__()
        case = crnn_models.vad_case(seed)
        self.vad = case.torch_module(case.weights)

    def forward(self, x, h, c):
        prob, (h, c) = self.vad(x, (h, c))
        return prob, h, c


VAD_HIDDEN = 64
VAD_CHUNK = 512 + 64             # samples per call: 4 STFT frames of kernel 256, hop 128


def _stateful_vad_export(seed: int):
    x = torch.randn(1, VAD_CHUNK, 1)
    state = torch.zeros(1, 1, VAD_HIDDEN)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(StatefulVad(seed).eval(), (x, state, state), buffer,
                          input_names=["input", "h", "c"], output_names=["prob", "hn", "cn"],
                          opset_version=17, dynamo=False,
                          dynamic_axes={"input": {0: "batch", 1: "samples"}, "h": {1: "batch"},
                                        "c": {1: "batch"}})
    return onnx.load_from_string(buffer.getvalue())


def _as_branch(model, prefix: str):
    """The exported graph as an If branch reading the outer input, h, c:
    initializers become Constant nodes, the LSTM's W and R two Constant
    halves joined by Concat (as exporters write them); every other name
    gets `prefix` (names are unique across an ONNX graph and its branches)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    outer = {"input", "h", "c"}

    def rename(name):
        return name if not name or name in outer else prefix + name

    lstm = next(node for node in graph.node if node.op_type == "LSTM")
    split = set(lstm.input[1:3])
    nodes = []
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor)
        if tensor.name in split:
            halves = np.split(array, 2, axis=1)
            parts = [rename(f"{tensor.name}_part{k}") for k in range(2)]
            nodes += [helper.make_node("Constant", [], [part], value=numpy_helper.from_array(
                half, part)) for part, half in zip(parts, halves)]
            nodes.append(helper.make_node("Concat", parts, [rename(tensor.name)], axis=1))
        else:
            nodes.append(helper.make_node("Constant", [], [rename(tensor.name)],
                                          value=numpy_helper.from_array(array)))
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = prefix + node.name
        copy.input[:] = [rename(name) for name in node.input]
        copy.output[:] = [rename(name) for name in node.output]
        nodes.append(copy)
    outputs = [helper.make_tensor_value_info(rename(o.name), o.type.tensor_type.elem_type,
                                             [d.dim_param or d.dim_value
                                              for d in o.type.tensor_type.shape.dim])
               for o in graph.output]
    return helper.make_graph(nodes, prefix + "branch", [], outputs)


@pytest.fixture(scope="module")
def vad_if_graph() -> bytes:
    """input (B, samples, 1), sr (int64 scalar), h, c (1, B, 64) -> prob,
    hn, cn: If(sr == 16000) runs one VAD, else another (other weights)."""
    from onnx import TensorProto, helper

    model_16k, model_8k = _stateful_vad_export(1), _stateful_vad_export(2)
    state = ["one", "batch", VAD_HIDDEN]
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["rate_16k"],
                          value=helper.make_tensor("rate_16k", TensorProto.INT64, [], [16000])),
         helper.make_node("Equal", ["sr", "rate_16k"], ["is_16k"]),
         helper.make_node("If", ["is_16k"], ["prob", "hn", "cn"],
                          then_branch=_as_branch(model_16k, "k16_"),
                          else_branch=_as_branch(model_8k, "k8_"))],
        "vad",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "samples", 1]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, []),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, state)],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["batch", "frames", 1]),
         helper.make_tensor_value_info("hn", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("cn", TensorProto.FLOAT, state)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("rate", [16000, 8000])
def test_vad_graph_with_if_on_the_sample_rate(vad_if_graph, rate):
    """Three chunks streamed through both runtimes, the state carried from
    outputs to inputs; fastrnn writes its outputs into bound arrays."""
    reference = ort.InferenceSession(vad_if_graph, providers=["CPUExecutionProvider"])
    ours = InferenceSession(vad_if_graph)
    rng = np.random.default_rng(rate)
    batch = 2
    zeros = np.zeros((1, batch, VAD_HIDDEN), np.float32)
    expected_state, state = (zeros, zeros), (zeros.copy(), zeros.copy())
    binding = ours.io_binding()
    probs = np.empty((batch, 2, 1), np.float32)      # 4 STFT frames, conv2 stride 2
    h_out, c_out = np.empty_like(zeros), np.empty_like(zeros)
    for name, array in (("prob", probs), ("hn", h_out), ("cn", c_out)):
        binding.bind_ortvalue_output(name, array)
    sample_rate = np.array(rate, np.int64)
    for _ in range(3):
        chunk = rng.standard_normal((batch, VAD_CHUNK, 1)).astype(np.float32)
        prob, *expected_state = reference.run(None, {"input": chunk, "sr": sample_rate,
                                                     "h": expected_state[0],
                                                     "c": expected_state[1]})
        for name, array in (("input", chunk), ("sr", sample_rate), ("h", state[0]),
                            ("c", state[1])):
            binding.bind_cpu_input(name, array)
        ours.run_with_iobinding(binding)
        assert binding.get_outputs()[0] is probs
        assert_close(probs, prob, "float32", "prob")
        assert_close(h_out, expected_state[0], "float32", "hn")
        assert_close(c_out, expected_state[1], "float32", "cn")
        state = (h_out.copy(), c_out.copy())
    assert ours.graph.nodes[-1].op == "If"
    assert {n.op for n in ours.graph.nodes[-1].branches["then_branch"].nodes} >= {"Conv", "LSTM"}
    assert "Concat" not in {n.op for n in ours.graph.nodes[-1].branches["then_branch"].nodes}
