"""The benchmark models and the engines that run them: each model is built
once in PyTorch (seeded) and copied into fastrnn and exported to ONNX, so
that every engine runs the same weights. Shared by ``fastrnn bench`` and the
pytest-benchmark suites in bench/."""

import io
import warnings

import numpy as np

import fastrnn

FEATURES, HIDDEN, CLASSES = 40, 128, 10
MODELS = {"A": "lstm", "B": "gru"}      # 2 x LSTM(128) / 2 x GRU(128) on 40 features + Dense(10)
GATES = {"lstm": 4, "gru": 3}


def torch_module(kind, input_size=FEATURES, hidden=HIDDEN, num_layers=2, head=CLASSES, seed=0):
    """nn.LSTM/nn.GRU (batch_first) + optional nn.Linear head, seeded, eval
    mode; forward(x, *state) -> (y, *state)."""
    import torch

    torch.manual_seed(seed)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            rnn = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
            self.rnn = rnn(input_size, hidden, num_layers=num_layers, batch_first=True)
            self.head = torch.nn.Linear(hidden, head) if head else None

        def forward(self, x, *state):
            if kind == "lstm" and state:
                y, state = self.rnn(x, (state[0], state[1]))
                state = tuple(state)
            else:
                y, state = self.rnn(x, *state)
                state = (state,)
            return (self.head(y) if self.head is not None else y, *state)

    return Model().eval()


def to_fastrnn(module, **options):
    """The same model in fastrnn."""
    import torch

    rnn = module.rnn
    cls = fastrnn.LSTM if isinstance(rnn, torch.nn.LSTM) else fastrnn.GRU
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    layers = [cls.from_torch(*(getattr(rnn, f"{n}_l{i}") for n in names))
              for i in range(rnn.num_layers)]
    if module.head is not None:
        layers.append(fastrnn.Dense.from_torch(module.head.weight, module.head.bias))
    return fastrnn.Sequential(layers, **options)


def zero_state(module, batch):
    import torch

    rnn = module.rnn
    h = torch.zeros(rnn.num_layers, batch, rnn.hidden_size)
    return (h, h.clone()) if isinstance(rnn, torch.nn.LSTM) else (h,)


def onnx_session(module, batch, threads, with_state=True):
    """An ONNX Runtime session of `module`: with_state, a graph (x, h[, c]) ->
    (y, h'[, c']) for dynamic batch and time (one step per call when
    streaming); else x -> y from a zero state."""
    import onnxruntime as ort
    import torch

    state = zero_state(module, batch) if with_state else ()
    names = ["h", "c"][:len(state)]
    x = torch.zeros(batch, 1, module.rnn.input_size)
    buffer = io.BytesIO()
    dynamic = {"x": {0: "batch", 1: "time"}, **{n: {1: "batch"} for n in names}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x, *state), buffer, input_names=["x", *names],
                          output_names=["y", *[n + "_out" for n in names]],
                          dynamic_axes=dynamic, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def random_frames(count, batch=None, seed=1, features=FEATURES):
    rng = np.random.default_rng(seed)
    shape = (count, features) if batch is None else (count, batch, features)
    return rng.standard_normal(shape).astype(np.float32)


def have(module_name: str) -> bool:
    try:
        __import__(module_name)
        return True
    except ImportError:
        return False


class StreamEngines:
    """fastrnn, PyTorch and ONNX Runtime steppers of model A or B for `batch`
    independent streams, one frame per call, state carried; single: one
    stream fed (F,) frames, else (batch, F). ort is None without onnxruntime."""

    def __init__(self, name: str, batch: int, threads: int, single: bool = False,
                 with_ort: bool = True):
        import torch

        self.torch = torch
        self.module = torch_module(MODELS[name])
        self.model = to_fastrnn(self.module)
        self.stream = self.model.stream(batch_size=None if single else batch,
                                        num_threads=threads)
        outputs = self.model.output_size
        self.out = np.empty((outputs,) if single else (batch, outputs), np.float32)
        self.torch_state = zero_state(self.module, batch)
        self.batch = batch
        self.session = onnx_session(self.module, batch, threads) if with_ort else None
        self.ort_state = [s.numpy() for s in zero_state(self.module, batch)]

    def step_fastrnn(self, frame):
        return self.stream.step(frame, out=self.out)

    def step_torch(self, frame):
        with self.torch.inference_mode():
            y, *self.torch_state = self.module(
                self.torch.from_numpy(frame).reshape(self.batch, 1, -1), *self.torch_state)
        return y.numpy().reshape(self.out.shape)

    def step_ort(self, frame):
        feed = {"x": frame.reshape(self.batch, 1, -1), "h": self.ort_state[0]}
        if len(self.ort_state) == 2:
            feed["c"] = self.ort_state[1]
        y, *self.ort_state = self.session.run(None, feed)
        return y.reshape(self.out.shape)

    def steppers(self) -> dict:
        engines = {"fastrnn": self.step_fastrnn, "torch": self.step_torch}
        if self.session is not None:
            engines["onnxruntime"] = self.step_ort
        return engines


def check_agree(engines: dict, inputs, tolerance: float = 1e-5) -> None:
    """Every engine gives the same outputs (within `tolerance`) before any is timed."""
    outputs = {name: np.stack([np.array(run(x), copy=True) for x in inputs])
               for name, run in engines.items()}
    reference = outputs["fastrnn"]
    for name, y in outputs.items():
        error = float(np.abs(y - reference).max())
        if not error <= tolerance:
            raise AssertionError(f"{name} differs from fastrnn by {error:.2e} (> {tolerance})")


def step_flops(kind: str, input_size: int, hidden: int, num_layers: int = 1,
               head: int = 0) -> float:
    """Multiply-adds x 2 of one step of one sequence (matrix products only)."""
    gates = GATES[kind]
    flops = 2 * gates * hidden * (input_size + hidden)
    flops += (num_layers - 1) * 2 * gates * hidden * 2 * hidden
    return float(flops + 2 * hidden * head)
