"""Models built with from_torch reproduce PyTorch's own outputs."""

import numpy as np
import pytest
from conftest import TOLERANCE, max_abs

import fastrnn

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")


def layers_from(module, cls, **kwargs):
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    return [cls.from_torch(*(getattr(module, f"{n}_l{layer}", None) for n in names), **kwargs)
            for layer in range(module.num_layers)]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers, bias", [(1, True), (2, True), (3, False)])
@pytest.mark.parametrize("batch, steps", [(1, 50), (8, 20)])
def test_recurrent_stack_with_head(kind, num_layers, bias, batch, steps):
    torch.manual_seed(num_layers * 10 + batch)
    rnn = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(
        24, 48, num_layers=num_layers, bias=bias, batch_first=True)
    head = torch.nn.Linear(48, 6)
    x = torch.randn(batch, steps, 24)
    with torch.inference_mode():
        expected = torch.softmax(head(rnn(x)[0]), dim=-1).numpy()
    cls = fastrnn.LSTM if kind == "lstm" else fastrnn.GRU
    model = fastrnn.Sequential(layers_from(rnn, cls)
                               + [fastrnn.Dense.from_torch(head.weight, head.bias, "softmax")])
    assert max_abs(model.predict(x.numpy()), expected) <= TOLERANCE["float32"]


@pytest.mark.parametrize("module, activation", [
    (torch.nn.Identity(), None), (torch.nn.ReLU(), "relu"), (torch.nn.Tanh(), "tanh"),
    (torch.nn.Sigmoid(), "sigmoid"), (torch.nn.ELU(), "elu"), (torch.nn.Softmax(-1), "softmax")])
def test_linear_activations(module, activation):
    torch.manual_seed(1)
    linear = torch.nn.Linear(30, 12)
    x = torch.randn(5, 30) * 3
    with torch.inference_mode():
        expected = module(linear(x)).numpy()
    model = fastrnn.Sequential([fastrnn.Dense.from_torch(linear.weight, linear.bias, activation)])
    assert max_abs(model.predict(x.numpy()), expected) <= TOLERANCE["float32"]


def test_return_sequences_false_is_last_step():
    torch.manual_seed(2)
    rnn = torch.nn.GRU(10, 20, batch_first=True)
    x = torch.randn(3, 15, 10)
    with torch.inference_mode():
        expected = rnn(x)[1][0].numpy()   # h_n
    model = fastrnn.Sequential(layers_from(rnn, fastrnn.GRU, return_sequences=False))
    assert max_abs(model.predict(x.numpy()), expected) <= TOLERANCE["float32"]


def test_parameters_requiring_grad_are_accepted():
    rnn = torch.nn.LSTM(4, 5)
    assert rnn.weight_ih_l0.requires_grad
    layer = fastrnn.LSTM.from_torch(rnn.weight_ih_l0, rnn.weight_hh_l0)
    np.testing.assert_array_equal(layer.weight_ih, rnn.weight_ih_l0.detach().numpy())
