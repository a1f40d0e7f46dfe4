"""The benchmark models in every framework, and their FLOP counts.

Each model's weights are drawn once with NumPy (seeded, PyTorch's default
initialisation) and loaded into fastrnn, into PyTorch and, through PyTorch's
ONNX export, into ONNX Runtime, so that every engine runs the same weights
and fastrnn is measured even when no peer is installed.

Two families: the recurrent stacks of ModelSpec (models A and B, the predict
grid), in fastrnn as a Sequential or as the same layers built as a graph;
and the noise-suppressor CRNN of issue 12 (SuppressorSpec), a fastrnn.Model
graph.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
import tempfile
import warnings
from collections.abc import Callable
from importlib import resources

import numpy as np

import fastrnn

FEATURES, HIDDEN, CLASSES = 40, 128, 10
MODELS = {"A": "lstm", "B": "gru"}      # 2 x LSTM(128) / 2 x GRU(128) on 40 features + Dense(10)
# Per-sample audio models (one sample in, one out): LSTM(1 -> 32) / GRU(1 -> 64) + Dense(1).
TINY = {"C": ("lstm", 32), "D": ("gru", 64)}
CELLS = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU}
TORCH_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")   # per layer, as in ModelSpec
STATE_NAMES = ("h", "c")        # the ONNX graphs' state inputs (an LSTM's h and c; a GRU's h)


@dataclasses.dataclass
class ModelSpec:
    """A stack of `kind` ("lstm" or "gru") layers, optionally a Dense head,
    as canonical (PyTorch-layout) float32 arrays.

    layers: per layer (weight_ih (G*H, I), weight_hh (G*H, H), bias_ih (G*H,),
    bias_hh (G*H,)) (TORCH_WEIGHTS), G the number of gates; head: (weight (O, H), bias (O,))
    or None.
    """

    kind: str
    input_size: int
    hidden: int
    layers: list
    head: tuple | None

    @property
    def num_layers(self) -> int:
        return len(self.layers)


def model_spec(kind: str, input_size: int = FEATURES, hidden: int = HIDDEN,
               num_layers: int = 2, head: int = CLASSES, seed: int = 0) -> ModelSpec:
    """Seeded weights drawn as PyTorch initialises nn.LSTM/nn.GRU and nn.Linear.

    Parameters
    ----------
    kind : {"lstm", "gru"}
        The recurrent cell.
    input_size, hidden, num_layers : int
        The stack's shape.
    head : int
        Outputs of the Dense head; 0 for none.
    seed : int
        Seed of the NumPy generator the weights are drawn from.

    Returns
    -------
    ModelSpec
        Weights uniform in +-1/sqrt(fan), fan the hidden size (recurrent
        layers and the head, as PyTorch's nn.Linear on H inputs).
    """
    rng = np.random.default_rng(seed)

    def uniform(fan: int, *shape: int) -> np.ndarray:
        bound = 1.0 / np.sqrt(fan)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    rows = CELLS[kind].gates * hidden
    layers = [(uniform(hidden, rows, input_size if index == 0 else hidden),
               uniform(hidden, rows, hidden), uniform(hidden, rows), uniform(hidden, rows))
              for index in range(num_layers)]
    dense = (uniform(hidden, head, hidden), uniform(hidden, head)) if head else None
    return ModelSpec(kind, input_size, hidden, layers, dense)


def to_fastrnn(spec: ModelSpec, **options) -> fastrnn.Sequential:
    """The model in fastrnn (`options` go to fastrnn.Sequential)."""
    layers = [CELLS[spec.kind](*weights) for weights in spec.layers]
    if spec.head is not None:
        layers.append(fastrnn.Dense(*spec.head))
    return fastrnn.Sequential(layers, **options)


def to_fastrnn_graph(spec: ModelSpec, **options) -> fastrnn.Model:
    """The model as a fastrnn.Model graph, built the functional way
    (fastrnn.Input, then each layer called on the previous one's output):
    the layers and weights of to_fastrnn (`options` go to fastrnn.Model)."""
    features = fastrnn.Input(spec.input_size, name="features")
    y = features
    for weights in spec.layers:
        y = CELLS[spec.kind](*weights)(y)
    if spec.head is not None:
        y = fastrnn.Dense(*spec.head)(y)
    return fastrnn.Model(features, y, **options)


def torch_module(spec: ModelSpec):
    """The model in PyTorch: nn.LSTM/nn.GRU (batch_first) + optional
    nn.Linear, eval mode; forward(x, *state) -> (y, *state), the state
    (h, c) for an LSTM and (h,) for a GRU."""
    import torch

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            rnn = torch.nn.LSTM if spec.kind == "lstm" else torch.nn.GRU
            self.rnn = rnn(spec.input_size, spec.hidden, num_layers=spec.num_layers,
                           batch_first=True)
            self.head = torch.nn.Linear(spec.hidden, len(spec.head[1])) if spec.head else None

        def forward(self, x, *state):
            if spec.kind == "lstm" and state:
                y, state = self.rnn(x, (state[0], state[1]))
                state = tuple(state)
            else:
                y, state = self.rnn(x, *state)
                state = (state,)
            return (self.head(y) if self.head is not None else y, *state)

    module = Model().eval()
    with torch.no_grad():
        for index, weights in enumerate(spec.layers):
            for name, array in zip(TORCH_WEIGHTS, weights, strict=True):
                getattr(module.rnn, f"{name}_l{index}").copy_(torch.from_numpy(array))
        if spec.head is not None:
            module.head.weight.copy_(torch.from_numpy(spec.head[0]))
            module.head.bias.copy_(torch.from_numpy(spec.head[1]))
    return module


def zero_state(spec: ModelSpec, batch: int) -> list[np.ndarray]:
    """The zero state of `batch` sequences: [h] or [h, c], each (layers, batch, H)."""
    h = np.zeros((spec.num_layers, batch, spec.hidden), np.float32)
    return [h, h.copy()] if spec.kind == "lstm" else [h]


def onnx_graph(spec: ModelSpec, batch: int, with_state: bool = True) -> bytes:
    """PyTorch's ONNX export of the model.

    with_state: a graph (x, h[, c]) -> (y, h'[, c']) for dynamic batch and
    time (one step per call when streaming); else x -> y from a zero state.
    """
    import torch

    state = [torch.from_numpy(s) for s in zero_state(spec, batch)] if with_state else []
    names = STATE_NAMES[:len(state)]
    x = torch.zeros(batch, 1, spec.input_size)
    dynamic = {"x": {0: "batch", 1: "time"}, **{n: {1: "batch"} for n in names}}
    return exported_graph(torch_module(spec), (x, *state), ["x", *names],
                          ["y", *[n + "_out" for n in names]], dynamic)


def onnx_session(spec: ModelSpec, batch: int, threads: int, with_state: bool = True):
    """An ONNX Runtime session of onnx_graph(spec, batch, with_state): one
    session, intra-op threads = `threads`, inter-op 1."""
    return ort_session(onnx_graph(spec, batch, with_state), threads)


def exported_graph(module, example: tuple, input_names: list[str], output_names: list[str],
                   dynamic_axes: dict | None) -> bytes:
    """The ONNX graph of a PyTorch module, exported with torch.onnx.export
    (TorchScript exporter, dynamo=False).

    Parameters
    ----------
    module : torch.nn.Module
        In eval mode.
    example : tuple of torch.Tensor
        The forward's arguments the export traces.
    input_names, output_names : list of str
        The graph's names of the forward's arguments and results.
    dynamic_axes : dict or None
        {name: {axis: label}} of the axes whose size may vary; None: every
        shape fixed to the example's.
    """
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, buffer, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes, dynamo=False)
    return buffer.getvalue()


def ort_session(graph: bytes, threads: int):
    """An ONNX Runtime CPU session of `graph`: intra-op threads = `threads`,
    inter-op 1."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def openvino_request(spec: ModelSpec, batch: int, threads: int, precision: str,
                     with_state: bool = True, steps: int = 1):
    """An OpenVINO CPU infer request of onnx_graph(spec, batch, with_state),
    made static for x (batch, steps, F) (OpenVINO compiles for the shape),
    INFERENCE_PRECISION_HINT `precision` ("f32" or "bf16"), `threads`
    inference threads; request.infer(feed) returns {output: array}."""
    import openvino as ov

    core = ov.Core()
    graph = core.read_model(onnx_graph(spec, batch, with_state), b"")
    shapes = {"x": [batch, steps, spec.input_size]}
    if with_state:
        shapes.update({name: list(state.shape) for name, state
                       in state_feed(zero_state(spec, batch)).items()})
    graph.reshape(shapes)
    compiled = core.compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                 "INFERENCE_NUM_THREADS": threads,
                                                 "PERFORMANCE_HINT": "LATENCY"})
    return compiled.create_infer_request()


class PeerCannotRun(Exception):
    """A peer loaded a case's model but fails to run it (the reason: str(error))."""


def tract_runner(spec: ModelSpec, batch: int, with_state: bool = True,
                 steps: int = 1) -> Callable[[dict], list[np.ndarray]]:
    """tract's run of onnx_graph(spec, batch, with_state), made static for x
    (batch, steps, F) and the state's shapes (tract optimizes for concrete
    shapes) and run on one state object: run(feed {input: array}) -> [outputs],
    in the graph's order. tract runs on one thread and in float32. Raises
    PeerCannotRun when tract fails on a trial run (tract 0.23's GRU over
    several steps of a 1-feature input: "xw not contiguous")."""
    import tract

    shapes = {"x": (batch, steps, spec.input_size)}
    if with_state:
        shapes.update({name: state.shape for name, state
                       in state_feed(zero_state(spec, batch)).items()})
    with tempfile.TemporaryDirectory() as folder:      # tract loads ONNX from a file
        path = pathlib.Path(folder) / "model.onnx"
        path.write_bytes(onnx_graph(spec, batch, with_state))
        model = tract.onnx().load(path)
    names = [model.input_name(index) for index in range(model.input_count())]
    for index, name in enumerate(names):
        model.set_input_fact(index, ",".join(map(str, shapes[name])) + ",f32")
    runnable = model.into_model().into_runnable()

    # runnable.run spawns a state per call: tract 0.23's LSTM carries its own state between
    # runs of one state object over several steps (wrong outputs after the first run)
    def run(feed: dict) -> list[np.ndarray]:
        return [tensor.to_numpy() for tensor in runnable.run([feed[name] for name in names])]
    try:        # a graph tract loads but cannot run fails here, before a case counts on it
        run({name: np.zeros(shape, np.float32) for name, shape in shapes.items()})
    except tract.TractError as error:
        message = str(error).split("Stack backtrace")[0]     # its cause, not the Rust frames
        raise PeerCannotRun(f"tract {tract.version()} cannot run this graph: "
                            + " ".join(message.split())) from error
    return run


def state_feed(state: list[np.ndarray]) -> dict[str, np.ndarray]:
    """{input name: array} of a state (zero_state's layout) for onnx_session's graph."""
    return dict(zip(STATE_NAMES, state, strict=False))


def random_frames(count: int, batch: int | None = None, seed: int = 1,
                  features: int = FEATURES) -> np.ndarray:
    """Standard normal float32 frames, (count, features) or (count, batch, features)."""
    rng = np.random.default_rng(seed)
    shape = (count, features) if batch is None else (count, batch, features)
    return rng.standard_normal(shape).astype(np.float32)


def step_flops(kind: str, input_size: int, hidden: int, num_layers: int = 1,
               head: int = 0) -> float:
    """Multiply-adds x 2 of one step of one sequence (matrix products only)."""
    gates = CELLS[kind].gates
    flops = 2 * gates * hidden * (input_size + hidden)
    flops += (num_layers - 1) * 2 * gates * hidden * 2 * hidden
    return float(flops + 2 * hidden * head)


def bundled_data() -> pathlib.Path:
    """The folder of the bundled digits model and recordings (package data)."""
    return pathlib.Path(str(resources.files("fastrnn") / "data"))


def speech_signals(count: int, sample_rate: int) -> np.ndarray:
    """(count, n) float32: the bundled recordings one after the other, each
    row rotated by a different number of samples (streams saying different
    things at each moment)."""
    from ..audio import load

    speech = np.concatenate([load(path, sr=sample_rate)[0]
                             for path in sorted(bundled_data().glob("*.wav"))])
    return np.stack([np.roll(speech, 997 * row) for row in range(count)])


def spec_flops(spec: ModelSpec) -> float:
    """step_flops of a whole ModelSpec."""
    head = len(spec.head[1]) if spec.head is not None else 0
    return step_flops(spec.kind, spec.input_size, spec.hidden, spec.num_layers, head)


# The noise-suppressor CRNN of issue 12 ------------------------------------------------------

SUPPRESSOR_GRUS = ("gru1", "gru2", "gru3")
GRU_WEIGHTS = tuple(f"{name}_l0" for name in TORCH_WEIGHTS)     # nn.GRU's names of one layer
SUPPRESSOR_STATES = tuple(f"h{index + 1}" for index in range(len(SUPPRESSOR_GRUS)))  # ONNX names
SUPPRESSOR_OUTPUTS = ("gains", "vad")


@dataclasses.dataclass
class SuppressorSpec:
    """The noise suppressor as canonical (PyTorch-layout) float32 arrays:
    two kernel-`kernel` tanh convolutions (padding "valid"), three GRUs, the
    concatenation of the second convolution's output and the three GRU
    outputs ("joint"), and two sigmoid Dense heads on it, gains (`features`)
    and a voice-activity probability (1).

    weights: {name in the PyTorch module's state_dict: array}: conv1.weight
    (C1, F, K), conv1.bias (C1,), conv2.weight (C2, C1, K), conv2.bias (C2,);
    per GRU of SUPPRESSOR_GRUS, <gru>.weight_ih_l0 (3H, C2 or H),
    <gru>.weight_hh_l0 (3H, H), <gru>.bias_ih_l0, <gru>.bias_hh_l0 (3H,)
    (GRU_WEIGHTS); gains.weight (F, C2 + 3H), gains.bias (F,), vad.weight
    (1, C2 + 3H), vad.bias (1,).
    """

    features: int
    channels: tuple[int, int]
    hidden: int
    kernel: int
    weights: dict[str, np.ndarray]

    @property
    def joint(self) -> int:
        """Features of the concatenation the heads read."""
        return self.channels[1] + len(SUPPRESSOR_GRUS) * self.hidden

    @property
    def delay(self) -> int:
        """Input frames the outputs lag: the two valid convolutions' (kernel - 1) each."""
        return 2 * (self.kernel - 1)


def suppressor_spec(features: int = 65, channels: tuple[int, int] = (128, 384),
                    hidden: int = 384, kernel: int = 3, seed: int = 0) -> SuppressorSpec:
    """Seeded weights of the noise suppressor, drawn as PyTorch initialises
    nn.Conv1d, nn.GRU and nn.Linear: uniform in +-1/sqrt(fan), fan the
    input channels x kernel (convolutions), the hidden size (GRUs), the input
    features (heads).

    Parameters
    ----------
    features : int
        Input features per frame, and gains per frame.
    channels : (int, int)
        Output channels of the two convolutions.
    hidden : int
        Size of each GRU.
    kernel : int
        Kernel of both convolutions.
    seed : int
        Seed of the NumPy generator the weights are drawn from.

    Returns
    -------
    SuppressorSpec
        The defaults are the issue's bench shape: 65 features, conv 128 and
        384, 3 x GRU(384).
    """
    rng = np.random.default_rng(seed)

    def uniform(fan: int, *shape: int) -> np.ndarray:
        bound = 1.0 / np.sqrt(fan)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    first, second = channels
    weights = {"conv1.weight": uniform(features * kernel, first, features, kernel),
               "conv1.bias": uniform(features * kernel, first),
               "conv2.weight": uniform(first * kernel, second, first, kernel),
               "conv2.bias": uniform(first * kernel, second)}
    for index, gru in enumerate(SUPPRESSOR_GRUS):
        shapes = ((3 * hidden, second if index == 0 else hidden), (3 * hidden, hidden),
                  (3 * hidden,), (3 * hidden,))
        weights.update({f"{gru}.{name}": uniform(hidden, *shape)
                        for name, shape in zip(GRU_WEIGHTS, shapes, strict=True)})
    joint = second + len(SUPPRESSOR_GRUS) * hidden
    for head, size in zip(SUPPRESSOR_OUTPUTS, (features, 1), strict=True):
        weights[f"{head}.weight"] = uniform(joint, size, joint)
        weights[f"{head}.bias"] = uniform(joint, size)
    return SuppressorSpec(features, (first, second), hidden, kernel, weights)


def suppressor_to_fastrnn(spec: SuppressorSpec, **options) -> fastrnn.Model:
    """The noise suppressor as a fastrnn.Model graph; outputs (gains, vad),
    each lagging the input by spec.delay frames (`options`, e.g. precision,
    go to fastrnn.Model)."""
    weights = spec.weights
    features = fastrnn.Input(spec.features, name="features")
    c = features
    for conv in ("conv1", "conv2"):
        c = fastrnn.Conv1d(weights[f"{conv}.weight"], weights[f"{conv}.bias"])(c)
        c = fastrnn.Activation("tanh")(c)
    grus, h = [], c
    for gru in SUPPRESSOR_GRUS:
        h = fastrnn.GRU(*(weights[f"{gru}.{name}"] for name in GRU_WEIGHTS))(h)
        grus.append(h)
    joint = fastrnn.Concatenate()(c, *grus)
    heads = [fastrnn.Dense(weights[f"{head}.weight"], weights[f"{head}.bias"],
                           activation="sigmoid")(joint) for head in SUPPRESSOR_OUTPUTS]
    return fastrnn.Model(features, heads, output_names=list(SUPPRESSOR_OUTPUTS),
                         layer_names=["conv1", "tanh1", "conv2", "tanh2", *SUPPRESSOR_GRUS,
                                      "joint", *SUPPRESSOR_OUTPUTS], **options)


def suppressor_torch(spec: SuppressorSpec):
    """The noise suppressor in PyTorch, eval mode: forward(x (B, T, F), h1,
    h2, h3 (1, B, H)) -> (gains (B, T - delay, F), vad (B, T - delay, 1),
    h1', h2', h3'), the GRU states given and returned explicitly so that
    the ONNX export takes and returns them."""
    import torch
    from torch import nn

    first, second = spec.channels

    class NoiseSuppressor(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(spec.features, first, spec.kernel)
            self.conv2 = nn.Conv1d(first, second, spec.kernel)
            self.gru1 = nn.GRU(second, spec.hidden, batch_first=True)
            self.gru2 = nn.GRU(spec.hidden, spec.hidden, batch_first=True)
            self.gru3 = nn.GRU(spec.hidden, spec.hidden, batch_first=True)
            self.gains = nn.Linear(spec.joint, spec.features)
            self.vad = nn.Linear(spec.joint, 1)

        def forward(self, x, h1, h2, h3):
            c = torch.tanh(self.conv1(x.transpose(1, 2)))
            c = torch.tanh(self.conv2(c)).transpose(1, 2)
            g1, h1 = self.gru1(c, h1)
            g2, h2 = self.gru2(g1, h2)
            g3, h3 = self.gru3(g2, h3)
            joint = torch.cat([c, g1, g2, g3], dim=-1)
            return torch.sigmoid(self.gains(joint)), torch.sigmoid(self.vad(joint)), h1, h2, h3

    module = NoiseSuppressor().eval()
    module.load_state_dict({name: torch.from_numpy(array)
                            for name, array in spec.weights.items()})
    return module


def suppressor_zero_state(spec: SuppressorSpec, batch: int) -> list[np.ndarray]:
    """The GRUs' zero states of `batch` sequences: [h1, h2, h3], each (1, batch, H)."""
    return [np.zeros((1, batch, spec.hidden), np.float32) for _ in SUPPRESSOR_GRUS]


def suppressor_onnx_session(spec: SuppressorSpec, threads: int):
    """An ONNX Runtime session of suppressor_torch's graph, (x (B, T, F), h1,
    h2, h3 (1, B, H)) -> (gains, vad, h1_out, h2_out, h3_out), batch and time
    dynamic: whole sequences, or a stream's window of delay + 1 frames."""
    import torch

    example = (torch.zeros(1, spec.delay + 1, spec.features),
               *(torch.from_numpy(h) for h in suppressor_zero_state(spec, 1)))
    dynamic = {"x": {0: "batch", 1: "time"}, **{n: {1: "batch"} for n in SUPPRESSOR_STATES},
               **{n: {0: "batch", 1: "time"} for n in SUPPRESSOR_OUTPUTS}}
    graph = exported_graph(suppressor_torch(spec), example, ["x", *SUPPRESSOR_STATES],
                           [*SUPPRESSOR_OUTPUTS, *(n + "_out" for n in SUPPRESSOR_STATES)],
                           dynamic)
    return ort_session(graph, threads)


def suppressor_flops(spec: SuppressorSpec) -> float:
    """Multiply-adds x 2 of one output frame of one sequence (matrix products
    only): each convolution once, the three GRUs, the two heads."""
    first, second = spec.channels
    convs = 2 * spec.kernel * (first * spec.features + second * first)
    grus = step_flops("gru", second, spec.hidden, len(SUPPRESSOR_GRUS))
    return float(convs + grus + 2 * spec.joint * (spec.features + 1))


# The VAD-shaped CRNN of issue 13 (an ONNX graph with an If on the sample rate) -------------

VAD_SAMPLES, VAD_CONTEXT = 512, 64      # a chunk's new samples and the previous ones kept
VAD_RATES = (16000, 8000)               # the If's branches: then (16 kHz), else
VAD_HIDDEN = 128
VAD_BINS = 129                          # frequency bins of the 256-sample STFT-like convolution
VAD_INPUTS = ("x", "sr", "h", "c")
VAD_OUTPUTS = ("prob", "h_out", "c_out")


def vad_torch(seed: int = 0):
    """A VAD-shaped CRNN in PyTorch, eval mode, scripted (torch.jit.script)
    so that its branch on the sample rate is exported as an ONNX If, as
    real VAD exports (Silero VAD's) are.

    forward(x (B, 576) samples, sr () int64, h, c (1, B, 128)) ->
    (prob (B, 1), h', c'). Per branch (16 kHz, else: the same layers, their
    own weights): an STFT-like front end Conv1d(1, 258, kernel 256, stride
    128) whose halves are the real and imaginary parts, their magnitude
    sqrt(re^2 + im^2) (129 bins, 3 frames), 4 x (Conv1d kernel 3, padding
    1, + ReLU) of 128, 64, 64, 128 channels, LSTM(128) from (h, c), ReLU,
    a 1x1 Conv1d to one channel, sigmoid, the mean over the frames.
    Weights: PyTorch's initialisation after torch.manual_seed(seed).
    """
    import torch
    from torch import nn

    bins = VAD_BINS

    class Branch(nn.Module):
        __constants__ = ["bins"]

        def __init__(self):
            super().__init__()
            self.bins = bins
            self.stft = nn.Conv1d(1, 2 * bins, 256, stride=128, bias=False)
            self.convs = nn.ModuleList([nn.Conv1d(a, b, 3, padding=1) for a, b in
                                        ((bins, 128), (128, 64), (64, 64), (64, VAD_HIDDEN))])
            self.lstm = nn.LSTM(VAD_HIDDEN, VAD_HIDDEN, batch_first=True)
            self.head = nn.Conv1d(VAD_HIDDEN, 1, 1)

        def forward(self, x, h, c):
            spectrum = self.stft(x.unsqueeze(1))
            real, imag = spectrum[:, :self.bins], spectrum[:, self.bins:]
            y = torch.sqrt(real * real + imag * imag)
            for conv in self.convs:
                y = torch.relu(conv(y))
            y, (h, c) = self.lstm(y.transpose(1, 2), (h, c))
            prob = torch.sigmoid(self.head(torch.relu(y).transpose(1, 2)))
            return prob.mean(dim=2), h, c

    class Vad(nn.Module):
        def __init__(self):
            super().__init__()
            self.at16k, self.other = Branch(), Branch()

        def forward(self, x, sr, h, c):
            if bool(sr == 16000):
                return self.at16k(x, h, c)
            return self.other(x, h, c)

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)    # torch.jit.script's notice
        return torch.jit.script(Vad().eval())


def vad_onnx_graph() -> bytes:
    """vad_torch's ONNX export (TorchScript exporter, every shape fixed to
    one chunk of one stream): inputs VAD_INPUTS, outputs VAD_OUTPUTS."""
    import torch

    example = (torch.zeros(1, VAD_CONTEXT + VAD_SAMPLES), torch.tensor(VAD_RATES[0]),
               *(torch.from_numpy(s) for s in vad_zero_state()))
    return exported_graph(vad_torch(), example, list(VAD_INPUTS), list(VAD_OUTPUTS), None)


def vad_zero_state() -> list[np.ndarray]:
    """The VAD's zero state of one stream: [h, c], each (1, 1, VAD_HIDDEN)."""
    return [np.zeros((1, 1, VAD_HIDDEN), np.float32) for _ in range(2)]


def vad_flops() -> float:
    """Multiply-adds x 2 of one chunk through one branch (matrix products
    only): the STFT convolution's and the four convolutions' 3 frames, the
    LSTM's 3 steps, the 1x1 head."""
    frames = (VAD_CONTEXT + VAD_SAMPLES - 256) // 128 + 1
    convs = (2 * VAD_BINS * 256 + 3 * (VAD_BINS * 128 + 128 * 64 + 64 * 64 + 64 * VAD_HIDDEN)
             + VAD_HIDDEN)
    return float(2 * frames * convs + frames * step_flops("lstm", VAD_HIDDEN, VAD_HIDDEN))
