"""Layers built with from_torch reproduce PyTorch's own outputs (float32,
within TOLERANCE["float32"])."""

import numpy as np
import pytest
from conftest import assert_close

import fastrnn

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def layers_from(module, cls, **options):
    """One fastrnn layer per PyTorch layer: weight_*_l0, weight_*_l1, ...
    (bias_*_l<k> are absent with bias=False)."""
    return [cls.from_torch(*(getattr(module, f"{name}_l{k}", None) for name in NAMES), **options)
            for k in range(module.num_layers)]


def torch_output(module, x):
    with torch.inference_mode():
        return module(x)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_first"])
def test_recurrent_module_with_softmax_head(kind, num_layers, bias, batch_first):
    torch.manual_seed(10 * num_layers + 2 * bias + batch_first)
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    rnn = module(24, 48, num_layers=num_layers, bias=bias, batch_first=batch_first)
    head = torch.nn.Linear(48, 6)
    x = torch.randn(5, 33, 24) if batch_first else torch.randn(33, 5, 24)
    expected = torch_output(lambda v: torch.softmax(head(rnn(v)[0]), dim=-1), x).numpy()
    cls = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU}[kind]
    layers = layers_from(rnn, cls) + [fastrnn.Dense.from_torch(head.weight, head.bias, "softmax")]
    model = fastrnn.Sequential(layers)
    batch_major = x.numpy() if batch_first else x.numpy().transpose(1, 0, 2)   # a strided view
    y = model.predict(batch_major)
    assert_close(y if batch_first else y.transpose(1, 0, 2), expected, "float32")
    assert_close(model.predict(batch_major[2]), expected[2] if batch_first else expected[:, 2],
                 "float32", "one sequence")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_module_alone(kind):
    torch.manual_seed(4)
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](7, 300, batch_first=True)
    x = torch.randn(2, 60, 7)
    expected = torch_output(rnn, x)[0].numpy()
    cls = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU}[kind]
    assert_close(fastrnn.Sequential(layers_from(rnn, cls)).predict(x.numpy()), expected,
                 "float32")


@pytest.mark.parametrize("activation, module", [
    (None, torch.nn.Identity()), ("relu", torch.nn.ReLU()), ("tanh", torch.nn.Tanh()),
    ("sigmoid", torch.nn.Sigmoid()), ("elu", torch.nn.ELU()), ("softmax", torch.nn.Softmax(-1))],
    ids=["linear", "relu", "tanh", "sigmoid", "elu", "softmax"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_linear_with_activation(activation, module, bias):
    torch.manual_seed(1)
    linear = torch.nn.Linear(30, 12, bias=bias)
    x = torch.randn(4, 9, 30) * 3
    expected = torch_output(lambda v: module(linear(v)), x).numpy()
    layer = fastrnn.Dense.from_torch(linear.weight, linear.bias, activation)
    assert_close(fastrnn.Sequential([layer]).predict(x.numpy()), expected, "float32")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_return_sequences_false_is_the_final_hidden_state(kind):
    torch.manual_seed(2)
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](10, 20, num_layers=2,
                                                             batch_first=True)
    x = torch.randn(3, 15, 10)
    h_n = torch_output(rnn, x)[1]
    h_n = (h_n[0] if kind == "lstm" else h_n)[-1].numpy()     # last layer's final h
    cls = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU}[kind]
    first, second = layers_from(rnn, cls)
    second.return_sequences = False
    y = fastrnn.Sequential([first, second]).predict(x.numpy())
    assert y.shape == (3, 20)
    assert_close(y, h_n, "float32")


def test_parameters_that_require_grad_are_accepted():
    """nn.Parameter (requires_grad=True) straight into from_torch: no
    .detach().numpy() needed by the caller."""
    torch.manual_seed(3)
    lstm = torch.nn.LSTM(4, 5, batch_first=True)
    gru = torch.nn.GRU(5, 6, batch_first=True)
    linear = torch.nn.Linear(6, 3)
    assert all(p.requires_grad for p in [*lstm.parameters(), *gru.parameters(),
                                         *linear.parameters()])
    model = fastrnn.Sequential([
        fastrnn.LSTM.from_torch(lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                                lstm.bias_hh_l0),
        fastrnn.GRU.from_torch(gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0,
                               gru.bias_hh_l0),
        fastrnn.Dense.from_torch(linear.weight, linear.bias, "softmax"),
    ])
    x = torch.randn(2, 11, 4)
    expected = torch_output(lambda v: torch.softmax(linear(gru(lstm(v)[0])[0]), -1), x).numpy()
    assert_close(model.predict(x.numpy()), expected, "float32")
    np.testing.assert_array_equal(model.layers[0].weight_ih, lstm.weight_ih_l0.detach().numpy())


def test_double_precision_module():
    """A float64 module: weights rounded to float32 on the way in, output
    within the float32 bar of PyTorch's float64 answer."""
    torch.manual_seed(5)
    rnn = torch.nn.GRU(8, 16, batch_first=True).double()
    x = torch.randn(3, 20, 8, dtype=torch.float64)
    expected = torch_output(rnn, x)[0].numpy()
    y = fastrnn.Sequential(layers_from(rnn, fastrnn.GRU)).predict(x.numpy())
    assert y.dtype == np.float32
    assert_close(y, expected, "float32")
