"""Plain NumPy float64 reference of the layers, written from the equations.

Independent of the package: this module imports nothing from fastrnn, and
follows the equations as the frameworks document them, one step at a time,
with no packing, fusion or reordering. Weights are in fastrnn's canonical
(PyTorch) layout:

- LSTM: ``weight_ih (4H, I)``, ``weight_hh (4H, H)``, biases ``(4H,)``; gate
  blocks i, f, g, o.
- GRU: ``weight_ih (3H, I)``, ``weight_hh (3H, H)``, biases ``(3H,)``; gate
  blocks r, z, n.
- SimpleRNN: ``weight_ih (H, I)``, ``weight_hh (H, H)``, biases ``(H,)``.
- Dense: ``weight (O, I)``, ``bias (O,)``.

A missing bias is zero. ``x`` is ``(T, I)`` (one sequence) or ``(B, T, I)``;
the outputs have the same leading dimensions. Everything is computed in
float64, so that against a float32 engine the reference's own rounding
(~1e-16) is negligible.
"""

import numpy as np


def _f64(array):
    return None if array is None else np.asarray(array, dtype=np.float64)


def sigmoid(x):
    """1 / (1 + exp(-x)), without overflow for any x (exp of -|x| only)."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(x):
    return np.tanh(_f64(x))


def relu(x):
    return np.maximum(_f64(x), 0.0)  # np.maximum propagates NaN


def elu(x):
    """alpha = 1: x for x > 0, exp(x) - 1 otherwise."""
    x = _f64(x)
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def softmax(x):
    """Over the last axis (the features), shifted by the row maximum."""
    x = _f64(x)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def linear(x):
    return _f64(x)


ACTIVATIONS = {
    None: linear,
    "linear": linear,
    "relu": relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "elu": elu,
    "softmax": softmax,
}


def _as_batch(x):
    """(B, T, I) float64 and whether x was one (T, I) sequence."""
    x = _f64(x)
    if x.ndim == 2:
        return x[np.newaxis], True
    if x.ndim != 3:
        raise ValueError(f"reference: x must be (T, I) or (B, T, I), got {x.shape}")
    return x, False


def _bias(bias, size):
    return np.zeros(size) if bias is None else _f64(bias)


def _initial(state, batch, hidden):
    if state is None:
        return np.zeros((batch, hidden))
    return _f64(state).reshape(batch, hidden)


def _block(v, k, hidden):
    """Gate block k of the last axis."""
    return v[..., k * hidden:(k + 1) * hidden]


def lstm(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, h0=None, c0=None):
    """PyTorch's LSTM. Returns (h of every step, final h, final c).

    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     f, o likewise
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    c' = f * c + i * g
    h' = o * tanh(c')
    """
    x, single = _as_batch(x)
    w_ih, w_hh = _f64(weight_ih), _f64(weight_hh)
    hidden = w_hh.shape[1]
    b_ih, b_hh = _bias(bias_ih, 4 * hidden), _bias(bias_hh, 4 * hidden)
    batch, steps, _ = x.shape
    h, c = _initial(h0, batch, hidden), _initial(c0, batch, hidden)
    out = np.empty((batch, steps, hidden))
    for t in range(steps):
        a = x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i = sigmoid(_block(a, 0, hidden))
        f = sigmoid(_block(a, 1, hidden))
        g = np.tanh(_block(a, 2, hidden))
        o = sigmoid(_block(a, 3, hidden))
        c = f * c + i * g
        h = o * np.tanh(c)
        out[:, t] = h
    return (out[0], h[0], c[0]) if single else (out, h, c)


def gru(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, reset_after=True, h0=None):
    """GRU, gate order r, z, n. Returns (h of every step, final h).

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)     z likewise
    reset_after=True  (PyTorch, Keras default):
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    reset_after=False (Keras option, ONNX default):
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
    h' = (1 - z) * n + z * h
    """
    x, single = _as_batch(x)
    w_ih, w_hh = _f64(weight_ih), _f64(weight_hh)
    hidden = w_hh.shape[1]
    b_ih, b_hh = _bias(bias_ih, 3 * hidden), _bias(bias_hh, 3 * hidden)
    w_hr, w_hz, w_hn = (_block(w_hh.T, k, hidden) for k in range(3))   # (H, H) each
    b_hr, b_hz, b_hn = (_block(b_hh, k, hidden) for k in range(3))
    batch, steps, _ = x.shape
    h = _initial(h0, batch, hidden)
    out = np.empty((batch, steps, hidden))
    for t in range(steps):
        xi = x[:, t] @ w_ih.T + b_ih
        r = sigmoid(_block(xi, 0, hidden) + h @ w_hr + b_hr)
        z = sigmoid(_block(xi, 1, hidden) + h @ w_hz + b_hz)
        if reset_after:
            n = np.tanh(_block(xi, 2, hidden) + r * (h @ w_hn + b_hn))
        else:
            n = np.tanh(_block(xi, 2, hidden) + (r * h) @ w_hn + b_hn)
        h = (1.0 - z) * n + z * h
        out[:, t] = h
    return (out[0], h[0]) if single else (out, h)


def simple_rnn(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, activation="tanh", h0=None):
    """Elman RNN: h' = activation(W_ih x + b_ih + W_hh h + b_hh), activation
    "tanh" or "relu". Returns (h of every step, final h)."""
    x, single = _as_batch(x)
    w_ih, w_hh = _f64(weight_ih), _f64(weight_hh)
    hidden = w_hh.shape[1]
    b_ih, b_hh = _bias(bias_ih, hidden), _bias(bias_hh, hidden)
    act = {"tanh": tanh, "relu": relu}[activation]
    batch, steps, _ = x.shape
    h = _initial(h0, batch, hidden)
    out = np.empty((batch, steps, hidden))
    for t in range(steps):
        h = act(x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        out[:, t] = h
    return (out[0], h[0]) if single else (out, h)


def dense(x, weight, bias=None, activation=None):
    """activation(x W^T + b), on every step; softmax over the features."""
    y = _f64(x) @ _f64(weight).T
    if bias is not None:
        y = y + _f64(bias)
    return ACTIVATIONS[activation](y)


def stack(x, layers):
    """Run a list of layer specs in order, Keras semantics for return_sequences:

    ("lstm", w_ih, w_hh, b_ih, b_hh, return_sequences)
    ("gru", w_ih, w_hh, b_ih, b_hh, reset_after, return_sequences)
    ("rnn", w_ih, w_hh, b_ih, b_hh, activation, return_sequences)
    ("dense", w, b, activation)

    A recurrent layer with return_sequences=False passes on only its last
    step: (T, ...) -> (...), (B, T, ...) -> (B, ...); Dense layers after it
    apply to that one step.
    """
    y = _f64(x)
    for spec in layers:
        kind = spec[0]
        if kind == "dense":
            y = dense(y, *spec[1:])
            continue
        if kind == "lstm":
            sequence = lstm(y, *spec[1:5])[0]
        elif kind == "gru":
            sequence = gru(y, *spec[1:5], reset_after=spec[5])[0]
        elif kind == "rnn":
            sequence = simple_rnn(y, *spec[1:5], activation=spec[5])[0]
        else:
            raise ValueError(f"reference.stack: unknown layer kind {kind!r}")
        y = sequence if spec[-1] else sequence[..., -1, :]
    return y
