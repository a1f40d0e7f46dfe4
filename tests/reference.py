"""Plain NumPy float64 reference of the layers, written from the equations.

Independent of the package: it imports nothing from fastrnn. Weights are in
the canonical (PyTorch) layout; x is (T, I) or (B, T, I).
"""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _batched(x):
    x = np.asarray(x, dtype=np.float64)
    return (x[None], True) if x.ndim == 2 else (x, False)


def lstm(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, h0=None, c0=None):
    """Returns (h for every step (B, T, H), final h, final c); gates i, f, g, o."""
    x, single = _batched(x)
    w_ih, w_hh = np.float64(weight_ih), np.float64(weight_hh)
    hidden = w_hh.shape[1]
    bias = np.zeros(4 * hidden)
    for b in (bias_ih, bias_hh):
        if b is not None:
            bias = bias + np.float64(b)
    batch, steps, _ = x.shape
    h = np.zeros((batch, hidden)) if h0 is None else np.float64(h0).reshape(batch, hidden)
    c = np.zeros((batch, hidden)) if c0 is None else np.float64(c0).reshape(batch, hidden)
    out = np.empty((batch, steps, hidden))
    for t in range(steps):
        a = x[:, t] @ w_ih.T + h @ w_hh.T + bias
        i, f, g, o = (a[:, k * hidden:(k + 1) * hidden] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out[:, t] = h
    return (out[0], h[0], c[0]) if single else (out, h, c)


def gru(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, reset_after=True, h0=None):
    """Returns (h for every step, final h); gates r, z, n."""
    x, single = _batched(x)
    w_ih, w_hh = np.float64(weight_ih), np.float64(weight_hh)
    hidden = w_hh.shape[1]
    b_ih = np.zeros(3 * hidden) if bias_ih is None else np.float64(bias_ih)
    b_hh = np.zeros(3 * hidden) if bias_hh is None else np.float64(bias_hh)
    batch, steps, _ = x.shape
    h = np.zeros((batch, hidden)) if h0 is None else np.float64(h0).reshape(batch, hidden)
    out = np.empty((batch, steps, hidden))
    part = lambda v, k: v[..., k * hidden:(k + 1) * hidden]  # noqa: E731
    for t in range(steps):
        xi = x[:, t] @ w_ih.T + b_ih
        r = sigmoid(part(xi, 0) + h @ part(w_hh.T, 0) + part(b_hh, 0))
        z = sigmoid(part(xi, 1) + h @ part(w_hh.T, 1) + part(b_hh, 1))
        if reset_after:
            n = np.tanh(part(xi, 2) + r * (h @ part(w_hh.T, 2) + part(b_hh, 2)))
        else:
            n = np.tanh(part(xi, 2) + (r * h) @ part(w_hh.T, 2) + part(b_hh, 2))
        h = (1 - z) * n + z * h
        out[:, t] = h
    return (out[0], h[0]) if single else (out, h)


def simple_rnn(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, activation="tanh", h0=None):
    """Returns (h for every step, final h)."""
    x, single = _batched(x)
    w_ih, w_hh = np.float64(weight_ih), np.float64(weight_hh)
    hidden = w_hh.shape[1]
    bias = sum(np.float64(b) for b in (bias_ih, bias_hh) if b is not None) + np.zeros(hidden)
    act = np.tanh if activation == "tanh" else (lambda v: np.maximum(v, 0))
    batch, steps, _ = x.shape
    h = np.zeros((batch, hidden)) if h0 is None else np.float64(h0).reshape(batch, hidden)
    out = np.empty((batch, steps, hidden))
    for t in range(steps):
        h = act(x[:, t] @ w_ih.T + h @ w_hh.T + bias)
        out[:, t] = h
    return (out[0], h[0]) if single else (out, h)


ACTIVATIONS = {
    None: lambda v: v,
    "linear": lambda v: v,
    "relu": lambda v: np.maximum(v, 0),
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "elu": lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0))),
    "softmax": lambda v: np.exp(v - v.max(-1, keepdims=True))
    / np.exp(v - v.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


def dense(x, weight, bias=None, activation=None):
    y = np.float64(x) @ np.float64(weight).T
    if bias is not None:
        y = y + np.float64(bias)
    return ACTIVATIONS[activation](y)


def stack(x, layers):
    """Run a list of layer specs: ("lstm", w_ih, w_hh, b_ih, b_hh, return_sequences),
    ("gru", w_ih, w_hh, b_ih, b_hh, reset_after, return_sequences),
    ("rnn", w_ih, w_hh, b_ih, b_hh, activation, return_sequences),
    ("dense", w, b, activation). Keras semantics for return_sequences=False."""
    y = np.float64(x)
    for spec in layers:
        kind = spec[0]
        if kind == "dense":
            y = dense(y, *spec[1:])
            continue
        if kind == "lstm":
            seq = lstm(y, *spec[1:5])[0]
            return_sequences = spec[5]
        elif kind == "rnn":
            seq = simple_rnn(y, *spec[1:5], activation=spec[5])[0]
            return_sequences = spec[6]
        else:
            seq = gru(y, *spec[1:5], reset_after=spec[5])[0]
            return_sequences = spec[6]
        y = seq if return_sequences else seq[..., -1, :]
    return y
