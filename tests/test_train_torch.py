"""The NumPy trainer against PyTorch autograd and torch.optim, float64.

Same weights, same batch: loss and every gradient within 1e-6 relative to
the largest gradient entry (the issue's bar; float64 rounding differences
between the two orders of summation are ~1e-15). Masked batches are run on
the PyTorch side through pack_padded_sequence, PyTorch's own notion of
padding (state held past a sequence's end, zero outputs).
"""

import numpy as np
import pytest

from fastrnn.train import (GRU, LSTM, SGD, Adam, AdamW, Bidirectional, BinaryCrossentropy,
                           CategoricalCrossentropy, Dense, Sequential, SimpleRNN,
                           SparseCategoricalCrossentropy)

torch = pytest.importorskip("torch", reason="PyTorch is the reference: pip install torch==2.13.0")
nn = torch.nn
RELATIVE = 1e-6
BATCH, STEPS, FEATURES, CLASSES = 4, 7, 5, 3


def assert_grads_equal(ours, theirs):
    scale = max(1.0, max(float(np.abs(t).max()) for t in theirs))
    for index, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape, f"gradient {index}: shape {a.shape} vs {b.shape}"
        error = float(np.abs(a - b).max()) / scale
        assert error <= RELATIVE, f"gradient {index} {a.shape}: relative error {error:.2e}"


def assert_equals_torch(loss, grads, torch_loss, torch_params):
    """Our loss and gradients against torch's, after its backward pass."""
    torch_loss.backward()
    assert abs(loss - torch_loss.item()) <= 1e-12
    assert_grads_equal(grads, [p.grad.numpy() for p in torch_params])


def torch_recurrent(kind, input_size, hidden, bidirectional=False):
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}[kind]
    options = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    return cls(input_size, hidden, batch_first=True, bidirectional=bidirectional,
               dtype=torch.float64, **options)


def fastrnn_recurrent(kind, hidden, return_sequences):
    if kind == "lstm":
        return LSTM(hidden, return_sequences=return_sequences)
    if kind == "gru":
        return GRU(hidden, return_sequences=return_sequences)
    activation = "relu" if kind == "rnn_relu" else "tanh"
    return SimpleRNN(hidden, activation=activation, return_sequences=return_sequences)


def copy_recurrent(ours, module, suffix=""):
    """Our canonical weights into a torch RNN module; LSTM/SimpleRNN keep one
    bias (bias_hh = 0 in torch), GRU two."""
    params = ours.params
    with torch.no_grad():
        getattr(module, "weight_ih_l0" + suffix).copy_(torch.from_numpy(params["weight_ih"]))
        getattr(module, "weight_hh_l0" + suffix).copy_(torch.from_numpy(params["weight_hh"]))
        getattr(module, "bias_ih_l0" + suffix).copy_(torch.from_numpy(params["bias_ih"]))
        bias_hh = params.get("bias_hh", np.zeros_like(params["bias_ih"]))
        getattr(module, "bias_hh_l0" + suffix).copy_(torch.from_numpy(bias_hh))


def recurrent_grads(ours, module, suffix=""):
    """Torch's gradients in our parameter order."""
    grad = {name: getattr(module, name + "_l0" + suffix).grad.numpy()
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    return [grad[name] for name in ours.params]


def run_torch(module, x, lengths, return_sequences):
    """Outputs (B, T, H) zero past each length, or each sequence's last real output."""
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(lengths), batch_first=True,
                                               enforce_sorted=False)
    output, _ = module(packed)
    output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=STEPS)
    if return_sequences:
        return output
    hidden = module.hidden_size
    last = output[torch.arange(len(lengths)), torch.from_numpy(lengths) - 1, :hidden]
    if not module.bidirectional:
        return last
    return torch.cat([last, output[:, 0, hidden:]], dim=-1)


@pytest.fixture
def batch(rng):
    x = rng.standard_normal((BATCH, STEPS, FEATURES))
    lengths = np.array([STEPS, 3, 5, 1])
    labels = rng.integers(0, CLASSES, BATCH)
    return x, lengths, labels


def randomized(model, rng, input_size):
    model.build(input_size)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_two_layer_classifier(kind, masked, batch, rng):
    """Recurrent (sequences) -> recurrent (last step) -> Dense softmax, cross-entropy."""
    x, lengths, labels = batch
    if not masked:
        lengths = np.full(BATCH, STEPS)
    model = randomized(Sequential([fastrnn_recurrent(kind, 6, True),
                                   fastrnn_recurrent(kind, 4, False),
                                   Dense(CLASSES, activation="softmax")], dtype="float64"),
                       rng, FEATURES)
    model.compile(loss="sparse_categorical_crossentropy")
    loss, grads = model.gradients(x, labels, lengths=lengths if masked else None)

    first, second = torch_recurrent(kind, FEATURES, 6), torch_recurrent(kind, 6, 4)
    dense = nn.Linear(4, CLASSES, dtype=torch.float64)
    copy_recurrent(model.layers[0], first)
    copy_recurrent(model.layers[1], second)
    with torch.no_grad():
        dense.weight.copy_(torch.from_numpy(model.layers[2].params["weight"]))
        dense.bias.copy_(torch.from_numpy(model.layers[2].params["bias"]))
    hidden = run_torch(first, torch.from_numpy(x), lengths, True)
    logits = dense(run_torch(second, hidden, lengths, False))
    torch_loss = nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    torch_loss.backward()
    assert abs(loss - torch_loss.item()) <= 1e-12
    theirs = (recurrent_grads(model.layers[0], first) + recurrent_grads(model.layers[1], second)
              + [dense.weight.grad.numpy(), dense.bias.grad.numpy()])
    assert_grads_equal(grads, theirs)


@pytest.mark.parametrize("return_sequences", [False, True], ids=["last_step", "sequences"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_with_lengths(kind, return_sequences, batch, rng):
    """Bidirectional(concat) against torch's bidirectional=True on packed
    sequences (each direction within its own length), MSE on the outputs."""
    x, lengths, _ = batch
    model = randomized(Sequential([Bidirectional(fastrnn_recurrent(kind, 3, return_sequences))],
                                  dtype="float64"), rng, FEATURES)
    model.compile(loss="mse")
    shape = (BATCH, STEPS, 6) if return_sequences else (BATCH, 6)
    targets = rng.standard_normal(shape)
    loss, grads = model.gradients(x, targets, lengths=lengths)

    module = torch_recurrent(kind, FEATURES, 3, bidirectional=True)
    layer = model.layers[0]
    copy_recurrent(layer.forward_layer, module)
    copy_recurrent(layer.backward_layer, module, "_reverse")
    outputs = run_torch(module, torch.from_numpy(x), lengths, return_sequences)
    errors = (outputs - torch.from_numpy(targets)) ** 2
    if return_sequences:
        real = torch.from_numpy(np.arange(STEPS) < lengths[:, None])
        torch_loss = errors.mean(dim=-1)[real].mean()
    else:
        torch_loss = errors.mean()
    torch_loss.backward()
    assert abs(loss - torch_loss.item()) <= 1e-12
    theirs = (recurrent_grads(layer.forward_layer, module)
              + recurrent_grads(layer.backward_layer, module, "_reverse"))
    assert_grads_equal(grads, theirs)


def torch_gru_reset_before(x, weight_ih, weight_hh, bias_ih):
    """Keras' reset_after=False GRU, written out in torch ops (no torch module
    has it): n = tanh(W_in x + b_in + W_hn (r * h))."""
    hidden = weight_hh.shape[1]
    h = torch.zeros(x.shape[0], hidden, dtype=x.dtype)
    for t in range(x.shape[1]):
        xp = x[:, t] @ weight_ih.T + bias_ih
        rz = torch.sigmoid(xp[:, :2 * hidden] + h @ weight_hh[:2 * hidden].T)
        r, z = rz[:, :hidden], rz[:, hidden:]
        n = torch.tanh(xp[:, 2 * hidden:] + (r * h) @ weight_hh[2 * hidden:].T)
        h = (1 - z) * n + z * h
    return h


def test_gru_reset_before(batch, rng):
    x, _, labels = batch
    model = randomized(Sequential([GRU(5, reset_after=False, return_sequences=False),
                                   Dense(CLASSES)], dtype="float64"), rng, FEATURES)
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True))
    loss, grads = model.gradients(x, labels)
    params = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    h = torch_gru_reset_before(torch.from_numpy(x), *params[:3])
    torch_loss = nn.functional.cross_entropy(h @ params[3].T + params[4],
                                             torch.from_numpy(labels))
    assert_equals_torch(loss, grads, torch_loss, params)


OPTIMIZERS = {
    "sgd": (lambda: SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "momentum": (lambda: SGD(0.1, momentum=0.9),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "nesterov": (lambda: SGD(0.1, momentum=0.9, nesterov=True),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    "adam": (lambda: Adam(0.01, epsilon=1e-8), lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-8)),
    "adamw": (lambda: AdamW(0.01, weight_decay=0.1, epsilon=1e-8),
              lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, eps=1e-8)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_steps_equal_torch_optim(name, rng):
    """Three steps with changing gradients: parameters equal to float64 rounding."""
    ours, theirs = OPTIMIZERS[name]
    optimizer = ours()
    params = [rng.standard_normal((4, 3)), rng.standard_normal(5)]
    torch_params = [torch.tensor(p, requires_grad=True) for p in params]
    torch_optimizer = theirs(torch_params)
    for _ in range(3):
        grads = [rng.standard_normal(p.shape) for p in params]
        optimizer.apply(params, grads)
        for p, g in zip(torch_params, grads):
            p.grad = torch.from_numpy(g)
        torch_optimizer.step()
    for p, t in zip(params, torch_params):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=0, atol=1e-12)


def test_global_clipnorm_equals_clip_grad_norm(rng):
    """Same clipping as clip_grad_norm_, up to torch's epsilon: it scales by
    max_norm / (norm + 1e-6), Keras (and we) by max_norm / norm exactly, a
    relative difference of 1e-6 / norm (norm ~ 40 here) in a step of 0.1 * 1.5."""
    params = [rng.standard_normal((4, 3)), rng.standard_normal(5)]
    grads = [rng.standard_normal(p.shape) * 10 for p in params]
    torch_params = [torch.tensor(p, requires_grad=True) for p in params]
    for p, g in zip(torch_params, grads):
        p.grad = torch.from_numpy(g.copy())
    nn.utils.clip_grad_norm_(torch_params, max_norm=1.5)
    torch.optim.SGD(torch_params, lr=0.1).step()
    SGD(0.1, global_clipnorm=1.5).apply(params, grads)
    for p, t in zip(params, torch_params):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=0, atol=1e-8)


TORCH_ACTIVATIONS = {"linear": lambda z: z, "relu": torch.relu, "tanh": torch.tanh,
                     "sigmoid": torch.sigmoid, "elu": nn.functional.elu,
                     "softmax": lambda z: torch.softmax(z, dim=-1)}


@pytest.mark.parametrize("activation", TORCH_ACTIVATIONS)
def test_dense_activations_with_mse(activation, rng):
    x = rng.standard_normal((6, FEATURES))
    targets = rng.standard_normal((6, 2))
    model = randomized(Sequential([Dense(4, activation=activation), Dense(2)], dtype="float64"),
                       rng, FEATURES)
    model.compile(loss="mse")
    loss, grads = model.gradients(x, targets)
    params = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    hidden = TORCH_ACTIVATIONS[activation](torch.from_numpy(x) @ params[0].T + params[1])
    torch_loss = nn.functional.mse_loss(hidden @ params[2].T + params[3],
                                        torch.from_numpy(targets))
    assert_equals_torch(loss, grads, torch_loss, params)


LOSS_CASES = {
    # (output activation, our loss, torch loss of the outputs, target kind)
    "binary_fused": ("sigmoid", "binary_crossentropy",
                     lambda out, t: nn.functional.binary_cross_entropy(out, t), "binary"),
    "binary_logits": ("linear", "binary_logits",
                      lambda out, t: nn.functional.binary_cross_entropy_with_logits(out, t),
                      "binary"),
    "categorical_probabilities": ("sigmoid", "categorical_crossentropy",
                                  lambda out, t: -(t * torch.log(
                                      out / out.sum(-1, keepdim=True))).sum(-1).mean(),
                                  "one_hot"),
    "categorical_logits": ("linear", "categorical_logits",
                           lambda out, t: nn.functional.cross_entropy(out, t), "one_hot"),
}


@pytest.mark.parametrize("name", LOSS_CASES)
def test_losses_on_masked_sequences(name, batch, rng):
    """A GRU sequence model with each loss; padded steps excluded on both sides."""
    activation, loss_name, torch_loss_of, kind = LOSS_CASES[name]
    loss = {"binary_logits": BinaryCrossentropy(from_logits=True),
            "categorical_logits": CategoricalCrossentropy(from_logits=True)}.get(loss_name,
                                                                                 loss_name)
    x, lengths, _ = batch
    if kind == "binary":
        targets = (rng.random((BATCH, STEPS, CLASSES)) > 0.5).astype(float)
    else:
        targets = np.eye(CLASSES)[rng.integers(0, CLASSES, (BATCH, STEPS))]
    model = randomized(Sequential([GRU(4, return_sequences=True),
                                   Dense(CLASSES, activation=activation)], dtype="float64"),
                       rng, FEATURES)
    model.compile(loss=loss)
    value, grads = model.gradients(x, targets, lengths=lengths)

    module = torch_recurrent("gru", FEATURES, 4)
    copy_recurrent(model.layers[0], module)
    dense = [torch.tensor(w, requires_grad=True) for w in model.layers[1].params.values()]
    hidden = run_torch(module, torch.from_numpy(x), lengths, True)
    outputs = TORCH_ACTIVATIONS[activation](hidden @ dense[0].T + dense[1])
    real = torch.from_numpy(np.arange(STEPS) < lengths[:, None])
    torch_loss = torch_loss_of(outputs[real], torch.from_numpy(targets)[real])
    torch_loss.backward()
    assert abs(value - torch_loss.item()) <= 1e-12
    theirs = recurrent_grads(model.layers[0], module) + [p.grad.numpy() for p in dense]
    assert_grads_equal(grads, theirs)
