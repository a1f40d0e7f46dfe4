"""The benchmark models in every framework, and their FLOP counts.

Each model's weights are drawn once with NumPy (seeded, PyTorch's default
initialisation) and loaded into fastrnn, into PyTorch and, through PyTorch's
ONNX export, into ONNX Runtime, so that every engine runs the same weights
and fastrnn is measured even when no peer is installed.
"""

from __future__ import annotations

import dataclasses
import io
import warnings

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

    module = torch_module(spec)
    state = [torch.from_numpy(s) for s in zero_state(spec, batch)] if with_state else []
    names = STATE_NAMES[:len(state)]
    x = torch.zeros(batch, 1, spec.input_size)
    buffer = io.BytesIO()
    dynamic = {"x": {0: "batch", 1: "time"}, **{n: {1: "batch"} for n in names}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x, *state), buffer, input_names=["x", *names],
                          output_names=["y", *[n + "_out" for n in names]],
                          dynamic_axes=dynamic, dynamo=False)
    return buffer.getvalue()


def onnx_session(spec: ModelSpec, batch: int, threads: int, with_state: bool = True):
    """An ONNX Runtime session of onnx_graph(spec, batch, with_state): one
    session, intra-op threads = `threads`, inter-op 1."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_graph(spec, batch, with_state), options,
                                providers=["CPUExecutionProvider"])


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


def spec_flops(spec: ModelSpec) -> float:
    """step_flops of a whole ModelSpec."""
    head = len(spec.head[1]) if spec.head is not None else 0
    return step_flops(spec.kind, spec.input_size, spec.hidden, spec.num_layers, head)
