"""The benchmark models, built once in PyTorch and copied into fastrnn (and
exported to ONNX), so that every engine runs the same weights."""

import io
import warnings

import numpy as np

import fastrnn

FEATURES, HIDDEN, CLASSES = 40, 128, 10


def torch_module(kind, input_size=FEATURES, hidden=HIDDEN, num_layers=2, head=CLASSES, seed=0):
    """nn.LSTM/nn.GRU (batch_first) + optional nn.Linear head, seeded, eval mode."""
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
    rnn = module.rnn
    cls = fastrnn.LSTM if isinstance(rnn, __import__("torch").nn.LSTM) else fastrnn.GRU
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
    (y, h'[, c']) for dynamic batch and time; else x -> y from a zero state."""
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
    options.inter_op_num_threads = threads
    return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def random_frames(count, batch=None, seed=1):
    rng = np.random.default_rng(seed)
    shape = (count, FEATURES) if batch is None else (count, batch, FEATURES)
    return rng.standard_normal(shape).astype(np.float32)
