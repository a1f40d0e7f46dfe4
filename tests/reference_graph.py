"""Plain NumPy float64 twins of the graph layers of issue 12.

The convolution, normalization, activation, elementwise, feature and pooling
layers of a CRNN, and the forward passes of the three CRNN shapes of the
issue, written from the equations for reading, not for speed. Like
``reference.py`` (whose recurrent layers the CRNN forwards reuse), this module
imports nothing from fastrnn.

Layout, everywhere:

- sequences are ``(B, T, C)``: batch first, channels (features) last;
- weights are in PyTorch's layout: Conv1d ``weight (out_channels,
  in_channels // groups, kernel_size)``, Dense ``weight (out, in)``;
- paddings are explicit ``(left, right)`` frame counts; the frameworks'
  padding names are turned into them by ``torch_conv_padding``,
  ``keras_conv_padding`` and ``keras_pool_padding``.

Every function computes in float64 whatever dtype it is given, so that
against a float32 engine or framework the twin's own rounding (~1e-16) is
negligible. The framework semantics these twins follow, with the source they
were read from, are in ``FRAMEWORK_NOTES.md``.
"""

import itertools
import math

import numpy as np
import reference

# SELU's constants, as torch.nn.SELU and keras.activations.selu define them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _f64(array):
    return None if array is None else np.asarray(array, dtype=np.float64)


def _check_sequence(x: np.ndarray, what: str) -> None:
    if x.ndim != 3:
        raise ValueError(f"{what}: x must be (B, T, C), got shape {x.shape}")


# ---------------------------------------------------------------------------
# Padding: the frameworks' names -> explicit (left, right) frame counts.

def torch_conv_padding(padding, kernel_size: int, dilation: int = 1, stride: int = 1,
                       padding_mode: str = "zeros") -> tuple[int, int]:
    """(left, right) zero padding of ``torch.nn.Conv1d(padding=...)``.

    Parameters
    ----------
    padding : int, (int,), "valid" or "same"
        An int p pads p zero frames on both sides; "valid" is 0; "same"
        pads ``total = dilation * (kernel_size - 1)`` frames, ``left = total
        // 2`` and ``right = total - left``: with an even kernel (odd total)
        the extra frame goes on the right. PyTorch allows "same" only with
        stride 1.
    padding_mode : str
        Only "zeros" is a zero padding; "reflect", "replicate" and
        "circular" are refused.
    """
    if padding_mode != "zeros":
        raise ValueError(f"torch padding_mode {padding_mode!r}: only 'zeros' is supported")
    if isinstance(padding, (tuple, list)):
        (padding,) = padding
    if padding == "valid":
        return 0, 0
    if padding == "same":
        if stride != 1:
            raise ValueError("torch: padding='same' is not supported for strided convolutions")
        total = dilation * (kernel_size - 1)
        return total // 2, total - total // 2
    return int(padding), int(padding)


def keras_conv_padding(padding: str, kernel_size: int, num_frames: int, stride: int = 1,
                       dilation: int = 1) -> tuple[int, int]:
    """(left, right) zero padding of a Keras 3 Conv1D over ``num_frames``
    input frames.

    - "valid": (0, 0).
    - "causal": ``((kernel_size - 1) * dilation, 0)``; the output frame t
      sees input frames t - (k-1)*d ... t (times the stride).
    - "same" (TensorFlow's rule, which Keras 3's torch backend follows):
      ``effective = (kernel_size - 1) * dilation + 1``,
      ``num_out = ceil(num_frames / stride)``,
      ``total = max((num_out - 1) * stride + effective - num_frames, 0)``,
      ``left = total // 2``, ``right = total - left`` (the extra frame on the
      right). With stride 1 this is ``total = effective - 1``, independent of
      the length; with stride > 1 the total, and so the LEFT padding, depends
      on ``num_frames`` (see FRAMEWORK_NOTES.md: a stream cannot know it).
    """
    effective = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return effective - 1, 0
    if padding != "same":
        raise ValueError(f"keras padding {padding!r}: expected 'valid', 'same' or 'causal'")
    num_out = -(-num_frames // stride)                         # ceil(num_frames / stride)
    total = max((num_out - 1) * stride + effective - num_frames, 0)
    return total // 2, total - total // 2


def keras_pool_padding(padding: str, pool_size: int, num_frames: int,
                       stride: int) -> tuple[int, int]:
    """(left, right) padding of Keras 3 MaxPooling1D / AveragePooling1D:
    "valid" is (0, 0), "same" the Conv1D rule with dilation 1. What the
    padded frames contain is the pooling's business (``max_pool``,
    ``keras_avg_pool``)."""
    if padding not in ("valid", "same"):
        raise ValueError(f"keras pooling padding {padding!r}: expected 'valid' or 'same'")
    return keras_conv_padding(padding, pool_size, num_frames, stride)


# ---------------------------------------------------------------------------
# Convolution over time.

def conv_output_frames(num_frames: int, kernel_size: int, stride: int = 1, dilation: int = 1,
                       padding: tuple[int, int] = (0, 0)) -> int:
    """floor((T + left + right - dilation * (kernel_size - 1) - 1) / stride) + 1,
    or 0 when the padded input is shorter than the dilated kernel (where the
    frameworks raise, a stream simply has no output yet)."""
    left, right = padding
    span = dilation * (kernel_size - 1) + 1
    padded = num_frames + left + right
    if padded < span:
        return 0
    return (padded - span) // stride + 1


def pad_time(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """(B, T, C) -> (B, left + T + right, C), the new frames set to ``value``."""
    x = _f64(x)
    left, right = padding
    batch, _, channels = x.shape
    return np.concatenate([np.full((batch, left, channels), value), x,
                           np.full((batch, right, channels), value)], axis=1)


def conv1d(x, weight, bias=None, stride: int = 1, dilation: int = 1, groups: int = 1,
           padding: tuple[int, int] = (0, 0)) -> np.ndarray:
    """torch.nn.Conv1d on channels-last sequences, with explicit padding.

    Parameters
    ----------
    x : (B, T, C_in)
    weight : (C_out, C_in // groups, K)
    bias : (C_out,) or None
    padding : (left, right) zero frames added before and after the input

    Returns
    -------
    (B, T_out, C_out), T_out = ``conv_output_frames(T, K, stride, dilation,
    padding)``.

    With ``xp`` the zero-padded input, ``G = C_out // groups`` and ``g = o //
    G`` the group of output channel o::

        y[b, t, o] = bias[o] + sum_{j < K} sum_{i < C_in/groups}
                     weight[o, i, j] * xp[b, t * stride + j * dilation, g * C_in/groups + i]

    groups = C_in = C_out is a depthwise convolution; C_out = m * C_in with
    groups = C_in gives m outputs per input channel (Keras' depth_multiplier).
    """
    x, weight = _f64(x), _f64(weight)
    _check_sequence(x, "conv1d")
    batch, num_frames, in_channels = x.shape
    out_channels, group_in, kernel_size = weight.shape
    if in_channels != group_in * groups or out_channels % groups:
        raise ValueError(f"conv1d: weight {weight.shape} and groups={groups} do not fit "
                         f"{in_channels} input channels")
    group_out = out_channels // groups
    num_out = conv_output_frames(num_frames, kernel_size, stride, dilation, padding)
    padded = pad_time(x, padding)
    y = np.zeros((batch, num_out, out_channels))
    if num_out == 0:
        return y
    last = stride * (num_out - 1) + 1            # span of the frames one tap reads
    for group in range(groups):
        inputs = slice(group * group_in, (group + 1) * group_in)
        outputs = slice(group * group_out, (group + 1) * group_out)
        for tap in range(kernel_size):
            start = tap * dilation
            frames = padded[:, start:start + last:stride, inputs]      # (B, T_out, C_in/groups)
            y[:, :, outputs] += frames @ weight[outputs, :, tap].T
    if bias is not None:
        y += _f64(bias)
    return y


def dense(x, weight, bias=None) -> np.ndarray:
    """(..., I) -> (..., O): x W^T + b, with ``weight (O, I)``, ``bias (O,)``;
    the same as a 1x1 conv1d with ``weight[:, :, None]``."""
    return reference.dense(x, weight, bias)


# ---------------------------------------------------------------------------
# Normalization.

def batch_norm_scale_shift(mean, variance, epsilon: float, weight=None,
                           bias=None) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNorm as a per-feature affine map y = x * scale + shift.

    scale = weight / sqrt(variance + epsilon)
    shift = bias - mean * scale

    All of shape (C,); a missing weight is 1 (Keras scale=False), a missing
    bias 0 (Keras center=False, torch affine=False).
    """
    mean, variance = _f64(mean), _f64(variance)
    weight = np.ones_like(mean) if weight is None else _f64(weight)
    bias = np.zeros_like(mean) if bias is None else _f64(bias)
    scale = weight / np.sqrt(variance + epsilon)
    return scale, bias - mean * scale


def batch_norm(x, mean, variance, epsilon: float, weight=None, bias=None) -> np.ndarray:
    """Inference BatchNorm over the last axis (torch BatchNorm1d in eval()
    on (B, C, T) data, Keras BatchNormalization(axis=-1) in predict).

    x (..., C); mean, variance, weight, bias (C,)::

        y = (x - mean) / sqrt(variance + epsilon) * weight + bias

    ``momentum`` only updates the running statistics in training: it plays
    no part here. Default epsilon: torch 1e-5, Keras 1e-3.
    """
    x = _f64(x)
    y = (x - _f64(mean)) / np.sqrt(_f64(variance) + epsilon)
    if weight is not None:
        y = y * _f64(weight)
    if bias is not None:
        y = y + _f64(bias)
    return y


def fold_batch_norm(weight, bias, mean, variance, epsilon: float, bn_weight=None,
                    bn_bias=None) -> tuple[np.ndarray, np.ndarray]:
    """A conv1d or Dense followed by inference BatchNorm, as one layer.

    Parameters
    ----------
    weight : (C_out, ...) conv1d (C_out, C_in/groups, K) or Dense (C_out, C_in)
    bias : (C_out,) or None (zero)
    mean, variance, bn_weight, bn_bias : (C_out,) the BatchNorm's

    Returns
    -------
    (weight', bias') of the same shapes, with (scale, shift) from
    ``batch_norm_scale_shift``::

        weight'[o, ...] = weight[o, ...] * scale[o]
        bias'[o] = bias[o] * scale[o] + shift[o]

    Exact in real arithmetic: BN(W x + b) = scale * (W x + b) + shift.
    """
    weight = _f64(weight)
    out_channels = weight.shape[0]
    bias = np.zeros(out_channels) if bias is None else _f64(bias)
    scale, shift = batch_norm_scale_shift(mean, variance, epsilon, bn_weight, bn_bias)
    folded = weight * scale.reshape((out_channels,) + (1,) * (weight.ndim - 1))
    return folded, bias * scale + shift


def layer_norm(x, epsilon: float, weight=None, bias=None) -> np.ndarray:
    """LayerNorm over the last axis (the features of one frame).

    x (..., C); weight, bias (C,) or None::

        mean = sum_c x[c] / C
        var = sum_c (x[c] - mean)^2 / C            (biased: divided by C)
        y = (x - mean) / sqrt(var + epsilon) * weight + bias

    torch.nn.LayerNorm(C): epsilon 1e-5, elementwise_affine (and bias=) for
    weight/bias. keras.layers.LayerNormalization(): epsilon 1e-3, scale
    (weight) and center (bias) independently.
    """
    x = _f64(x)
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(variance + epsilon)
    if weight is not None:
        y = y * _f64(weight)
    if bias is not None:
        y = y + _f64(bias)
    return y


def group_norm(x, num_groups: int, epsilon: float, weight=None, bias=None) -> np.ndarray:
    """torch.nn.GroupNorm(num_groups, C) of (B, C, T) data, in (B, T, C).

    x (B, T, C); weight, bias (C,) or None. For each sample b and group g of
    C / num_groups consecutive channels, mean and (biased) variance are taken
    over ALL T frames and the group's channels jointly::

        mean[b, g] = mean over t < T, c in g of x[b, t, c]
        var[b, g] = mean over t < T, c in g of (x[b, t, c] - mean[b, g])^2
        y[b, t, c] = (x[b, t, c] - mean[b, g]) / sqrt(var[b, g] + epsilon)
                     * weight[c] + bias[c]

    GroupNorm(1, C) is therefore NOT LayerNorm over features: every output
    frame depends on every input frame, future ones included, so a stream
    cannot compute it causally (only after the whole sequence, or with T = 1
    where it equals layer_norm). On (B, C) data (no time axis) GroupNorm(1,
    C) is layer_norm with the same weight and bias.
    """
    x = _f64(x)
    _check_sequence(x, "group_norm")
    batch, num_frames, channels = x.shape
    if channels % num_groups:
        raise ValueError(f"group_norm: {channels} channels do not split into {num_groups} groups")
    grouped = x.reshape(batch, num_frames, num_groups, channels // num_groups)
    mean = grouped.mean(axis=(1, 3), keepdims=True)
    variance = ((grouped - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    y = ((grouped - mean) / np.sqrt(variance + epsilon)).reshape(batch, num_frames, channels)
    if weight is not None:
        y = y * _f64(weight)
    if bias is not None:
        y = y + _f64(bias)
    return y


# ---------------------------------------------------------------------------
# Activations, elementwise, each as its framework defines it.

def relu(x) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(_f64(x), 0.0)


def keras_relu(x, max_value: float | None = None, negative_slope: float = 0.0,
               threshold: float = 0.0) -> np.ndarray:
    """keras.layers.ReLU(max_value, negative_slope, threshold), as Keras 3's
    ``ReLU.static_call`` computes it (keras/src/activations/activations.py)::

        positive = x if x > threshold else 0     (relu(x) when threshold == 0)
        positive = clip(positive, 0, max_value)  (when max_value is given)
        y = positive - negative_slope * max(threshold - x, 0)

    max_value=6 is ReLU6 (torch.nn.ReLU6); negative_slope alone is leaky_relu.
    """
    x = _f64(x)
    if threshold != 0.0:
        positive = np.where(x > threshold, x, 0.0)
    else:
        positive = np.maximum(x, 0.0)
    if max_value is not None:
        positive = np.clip(positive, 0.0, max_value)
    return positive - negative_slope * np.maximum(threshold - x, 0.0)


def leaky_relu(x, negative_slope: float) -> np.ndarray:
    """x if x >= 0 else negative_slope * x. Defaults differ: torch LeakyReLU
    0.01; keras.layers.LeakyReLU 0.3; keras.activations.leaky_relu (and
    Activation("leaky_relu")) 0.2."""
    x = _f64(x)
    return np.where(x >= 0.0, x, negative_slope * x)


def prelu(x, alpha) -> np.ndarray:
    """max(x, 0) + alpha * min(x, 0), alpha learned.

    x (..., C); alpha (C,) one per channel, or (1,) / a scalar shared by all
    (torch PReLU(num_parameters=1), its default). Keras PReLU computes
    ``relu(x) - alpha * relu(-x)``, the same; its alpha has the input's shape
    without the batch axis, (1, C) with shared_axes=[1] (needed when T is
    not fixed).
    """
    x = _f64(x)
    alpha = _f64(alpha).reshape(-1)
    return np.maximum(x, 0.0) + alpha * np.minimum(x, 0.0)


def elu(x, alpha: float = 1.0) -> np.ndarray:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    x = _f64(x)
    return np.where(x > 0.0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def selu(x) -> np.ndarray:
    """SELU_SCALE * elu(x, SELU_ALPHA) (torch.nn.SELU, keras "selu")."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x) -> np.ndarray:
    """Exact GELU: x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))
    (torch GELU(approximate="none"), keras "gelu" activation)."""
    x = _f64(x)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x) -> np.ndarray:
    """Tanh GELU: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))
    (torch GELU(approximate="tanh"), keras.ops.gelu(approximate=True))."""
    x = _f64(x)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def sigmoid(x) -> np.ndarray:
    """1 / (1 + exp(-x))."""
    return reference.sigmoid(x)


def tanh(x) -> np.ndarray:
    """tanh(x)."""
    return np.tanh(_f64(x))


def silu(x) -> np.ndarray:
    """x * sigmoid(x) (torch SiLU, keras "silu" / "swish")."""
    x = _f64(x)
    return x * sigmoid(x)


def hard_sigmoid(x, alpha: float = 1.0 / 6.0, beta: float = 0.5) -> np.ndarray:
    """clip(alpha * x + beta, 0, 1).

    alpha = 1/6, beta = 0.5: torch Hardsigmoid = relu6(x + 3) / 6, and Keras
    3's "hard_sigmoid" (which calls torch's on the torch backend, and
    relu6(x + 3) / 6 on TensorFlow). alpha = 0.2, beta = 0.5: ONNX
    HardSigmoid's defaults and Keras 2's (tf.keras) "hard_sigmoid".
    """
    return np.clip(alpha * _f64(x) + beta, 0.0, 1.0)


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold
    (torch Softplus(beta, threshold); Keras "softplus" is torch's with the
    defaults beta 1, threshold 20)."""
    x = _f64(x)
    return np.where(beta * x > threshold, x, np.logaddexp(0.0, beta * x) / beta)


def softmax(x) -> np.ndarray:
    """exp(x) / sum exp(x) over the last axis (the features)."""
    return reference.softmax(x)


def log_softmax(x) -> np.ndarray:
    """x - log(sum exp(x)) over the last axis, shifted by the row maximum."""
    x = _f64(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def add(a, b) -> np.ndarray:
    """a + b; b has a's shape, or is (C,), one value per feature."""
    return _f64(a) + _f64(b)


def subtract(a, b) -> np.ndarray:
    """a - b; b has a's shape, or is (C,), one value per feature."""
    return _f64(a) - _f64(b)


def multiply(a, b) -> np.ndarray:
    """a * b; b has a's shape, or is (C,), one value per feature."""
    return _f64(a) * _f64(b)


# ---------------------------------------------------------------------------
# Features: concatenation, split, slicing.

def concat(tensors) -> np.ndarray:
    """(..., C_1), (..., C_2), ... -> (..., C_1 + C_2 + ...), in order
    (torch.cat(dim=-1), keras Concatenate(axis=-1))."""
    return np.concatenate([_f64(tensor) for tensor in tensors], axis=-1)


def split(x, sizes) -> list[np.ndarray]:
    """(..., sum(sizes)) -> [(..., sizes[0]), (..., sizes[1]), ...]
    (torch.split(x, sizes, dim=-1))."""
    x = _f64(x)
    if sum(sizes) != x.shape[-1]:
        raise ValueError(f"split: sizes {sizes} do not add up to {x.shape[-1]} features")
    bounds = np.cumsum([0, *sizes])
    return [x[..., start:stop] for start, stop in itertools.pairwise(bounds)]


def feature_slice(x, start: int, stop: int) -> np.ndarray:
    """x[..., start:stop], Python's slice rules (negative and clipped
    bounds)."""
    return _f64(x)[..., start:stop]


# ---------------------------------------------------------------------------
# Pooling over time.

def pool_output_frames(num_frames: int, kernel_size: int, stride: int,
                       padding: tuple[int, int] = (0, 0), ceil_mode: bool = False) -> int:
    """Output frames of a pooling over T frames padded by (left, right).

    floor_or_ceil((T + left + right - kernel_size) / stride) + 1, and with
    ceil_mode (torch only) one window less when the last one would start in
    the right padding: ``(num_out - 1) * stride >= T + left``.
    """
    left, right = padding
    reach = num_frames + left + right - kernel_size
    if reach < 0:
        return 0
    if not ceil_mode:
        return reach // stride + 1
    num_out = -(-reach // stride) + 1
    if (num_out - 1) * stride >= num_frames + left:
        num_out -= 1
    return num_out


def _pool_windows(num_frames: int, kernel_size: int, stride: int, padding: tuple[int, int],
                  ceil_mode: bool):
    """For each output frame: (first, stop) real input frames of its window
    and the window's size counted in the padded input (torch's divisor with
    count_include_pad: a ceil_mode window hanging past the right padding is
    cut there)."""
    left, right = padding
    windows = []
    for t in range(pool_output_frames(num_frames, kernel_size, stride, padding, ceil_mode)):
        start = t * stride - left                     # in input frames, may be < 0
        stop = min(start + kernel_size, num_frames + right)
        windows.append((max(start, 0), min(stop, num_frames), stop - start))
    return windows


def max_pool(x, kernel_size: int, stride: int | None = None,
             padding: tuple[int, int] = (0, 0), ceil_mode: bool = False) -> np.ndarray:
    """Max over windows of time (torch MaxPool1d with dilation 1, Keras
    MaxPooling1D with ``keras_pool_padding``).

    x (B, T, C) -> (B, T_out, C), T_out = ``pool_output_frames``; stride
    defaults to kernel_size (both frameworks). Padded frames never win (they
    are -inf: torch's implicit padding; Keras' torch backend pads "same"
    asymmetrically by repeating the edge frame, which is in the window
    anyway)::

        y[b, t, c] = max over real frames i in [t*stride - left,
                     t*stride - left + kernel_size) of x[b, i, c]
    """
    x = _f64(x)
    _check_sequence(x, "max_pool")
    stride = kernel_size if stride is None else stride
    windows = _pool_windows(x.shape[1], kernel_size, stride, padding, ceil_mode)
    y = np.empty((x.shape[0], len(windows), x.shape[2]))
    for t, (first, stop, _) in enumerate(windows):
        y[:, t] = x[:, first:stop].max(axis=1)
    return y


def avg_pool(x, kernel_size: int, stride: int | None = None,
             padding: tuple[int, int] = (0, 0), count_include_pad: bool = True,
             ceil_mode: bool = False) -> np.ndarray:
    """Mean over windows of time, padded with zeros (torch AvgPool1d).

    x (B, T, C) -> (B, T_out, C), T_out = ``pool_output_frames``; stride
    defaults to kernel_size::

        y[b, t, c] = sum over real frames i in the window of x[b, i, c] / divisor

    divisor: with count_include_pad (torch's default) the window's size in
    the padded input (kernel_size, less only for a ceil_mode window cut at
    the end of the right padding); without it, the number of real frames in
    the window (Keras "same" on every backend but torch's, see
    ``keras_avg_pool``).
    """
    x = _f64(x)
    _check_sequence(x, "avg_pool")
    stride = kernel_size if stride is None else stride
    windows = _pool_windows(x.shape[1], kernel_size, stride, padding, ceil_mode)
    y = np.empty((x.shape[0], len(windows), x.shape[2]))
    for t, (first, stop, padded_size) in enumerate(windows):
        divisor = padded_size if count_include_pad else stop - first
        y[:, t] = x[:, first:stop].sum(axis=1) / divisor
    return y


def keras_avg_pool(x, pool_size: int, strides: int | None = None, padding: str = "valid",
                   backend: str = "torch") -> np.ndarray:
    """keras.layers.AveragePooling1D(pool_size, strides, padding).

    "valid": the plain mean of each window. "same", with (left, right) from
    ``keras_pool_padding``:

    - backend "tensorflow" / "jax" / "numpy": the mean of the real frames
      of each window (padding excluded from the count);
    - backend "torch" (keras/src/backend/torch/nn.py, average_pool and
      _apply_same_padding): if left == right, the same (torch avg_pool1d
      with count_include_pad=False); if not, the input is first padded by
      REPEATING ITS EDGE FRAMES ("replicate") and every window divides by
      pool_size, so the repeated edge frames count as data.
    """
    x = _f64(x)
    strides = pool_size if strides is None else strides
    left, right = keras_pool_padding(padding, pool_size, x.shape[1], strides)
    if backend == "torch" and left != right:
        edged = np.concatenate([np.repeat(x[:, :1], left, axis=1), x,
                                np.repeat(x[:, -1:], right, axis=1)], axis=1)
        return avg_pool(edged, pool_size, strides)
    return avg_pool(x, pool_size, strides, (left, right), count_include_pad=False)


def global_avg_pool(x) -> np.ndarray:
    """(B, T, C) -> (B, C), the mean over all T frames (Keras
    GlobalAveragePooling1D without a mask, torch ``x.mean(dim=1)``)."""
    x = _f64(x)
    _check_sequence(x, "global_avg_pool")
    return x.mean(axis=1)


def global_max_pool(x) -> np.ndarray:
    """(B, T, C) -> (B, C), the max over all T frames."""
    x = _f64(x)
    _check_sequence(x, "global_max_pool")
    return x.max(axis=1)


# ---------------------------------------------------------------------------
# The CRNN shapes of issue 12, composed from the twins above and the
# recurrent references of reference.py. Weights are dicts of canonical
# arrays (their keys listed in each docstring); structure that is not a
# weight (strides, paddings, epsilons) is passed explicitly, because it is
# where PyTorch and Keras versions of "the same" model differ.

def vad_forward(samples, weights, hop_length: int, conv_strides: tuple[int, int],
                conv_paddings: tuple[tuple[int, int], tuple[int, int]],
                state=None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Voice-activity detector over raw samples.

    samples (B, N, 1) -> (prob (B, T', 1), (h (B, H), c (B, H))).

    ::

        spec = conv1d(samples, stft, stride=hop_length)          (B, T, 2F), no bias
        power = spec[..., :F] * spec[..., :F] + spec[..., F:] * spec[..., F:]
        y = relu(conv1d(power, conv1_weight, conv1_bias, conv_strides[0], conv_paddings[0]))
        y = relu(conv1d(y, conv2_weight, conv2_bias, conv_strides[1], conv_paddings[1]))
        seq, (h, c) = lstm(y, lstm_*, state)                    (B, T', H)
        prob = sigmoid(conv1d(seq, head_weight, head_bias))     1x1 conv, (B, T', 1)

    weights: stft (2F, 1, n_fft); conv1_weight (C, F, 3), conv1_bias;
    conv2_weight (C, C, 3), conv2_bias; lstm_weight_ih (4H, C),
    lstm_weight_hh (4H, H), lstm_bias_ih, lstm_bias_hh; head_weight (1, H,
    1), head_bias (1,). state: None (zeros) or (h0, c0), each (B, H).
    """
    spec = conv1d(samples, weights["stft"], stride=hop_length)
    re, im = split(spec, [spec.shape[-1] // 2] * 2)
    power = add(multiply(re, re), multiply(im, im))
    y = relu(conv1d(power, weights["conv1_weight"], weights["conv1_bias"],
                    stride=conv_strides[0], padding=conv_paddings[0]))
    y = relu(conv1d(y, weights["conv2_weight"], weights["conv2_bias"],
                    stride=conv_strides[1], padding=conv_paddings[1]))
    h0, c0 = (None, None) if state is None else state
    sequence, h, c = reference.lstm(y, weights["lstm_weight_ih"], weights["lstm_weight_hh"],
                                    weights["lstm_bias_ih"], weights["lstm_bias_hh"], h0, c0)
    prob = sigmoid(conv1d(sequence, weights["head_weight"], weights["head_bias"]))
    return prob, (h, c)


def noise_suppressor_forward(features, weights, states=None):
    """RNNoise-like noise suppressor.

    features (B, T, F) -> (gains (B, T-4, F), vad (B, T-4, 1),
    (h1, h2, h3) each (B, H)).

    ::

        c = tanh(conv1d(features, conv1_*))         kernel 3, valid: (B, T-2, C1)
        c = tanh(conv1d(c, conv2_*))                kernel 3, valid: (B, T-4, C2)
        g1 = gru(c, gru1_*);  g2 = gru(g1, gru2_*);  g3 = gru(g2, gru3_*)   (B, T-4, H)
        joint = concat([c, g1, g2, g3])             (B, T-4, C2 + 3H)
        gains = sigmoid(dense(joint, gains_*));  vad = sigmoid(dense(joint, vad_*))

    weights: conv1_weight (C1, F, 3), conv1_bias; conv2_weight (C2, C1, 3),
    conv2_bias; for k in 1, 2, 3: gruk_weight_ih (3H, in), gruk_weight_hh (3H,
    H), gruk_bias_ih, gruk_bias_hh (gates r, z, n, reset_after=True);
    gains_weight (F, C2 + 3H), gains_bias; vad_weight (1, C2 + 3H), vad_bias.
    states: None (zeros) or (h1, h2, h3) each (B, H).
    """
    c = tanh(conv1d(features, weights["conv1_weight"], weights["conv1_bias"]))
    c = tanh(conv1d(c, weights["conv2_weight"], weights["conv2_bias"]))
    states = (None, None, None) if states is None else states
    sequences, finals = [c], []
    for k, h0 in zip((1, 2, 3), states):
        sequence, h = reference.gru(sequences[-1], weights[f"gru{k}_weight_ih"],
                                    weights[f"gru{k}_weight_hh"], weights[f"gru{k}_bias_ih"],
                                    weights[f"gru{k}_bias_hh"], reset_after=True, h0=h0)
        sequences.append(sequence)
        finals.append(h)
    joint = concat(sequences)
    gains = sigmoid(dense(joint, weights["gains_weight"], weights["gains_bias"]))
    vad = sigmoid(dense(joint, weights["vad_weight"], weights["vad_bias"]))
    return gains, vad, tuple(finals)


def keyword_spotter_forward(features, weights, conv_paddings, bn_epsilon: float,
                            depthwise_stride: int = 2) -> np.ndarray:
    """Keyword spotter over MFCC-like frames: conv, depthwise-separable
    blocks with BatchNorm, a GRU, global average pooling, softmax.

    features (B, T, F) -> class probabilities (B, K).

    ::

        y = relu(bn(conv1d(features, conv0_weight), bn0))                   kernel 3
        y = relu(bn(conv1d(y, dw1_weight, groups=C, stride=depthwise_stride), bn1))
        y = relu(bn(conv1d(y, pw1_weight), bn2))                            1x1
        y = conv1d(y, dw2_weight, groups=C, dilation=2)                     separable:
        y = relu(bn(conv1d(y, pw2_weight), bn3))                            depthwise, 1x1
        seq, _ = gru(y, gru_*)                                              (B, T', H)
        probs = softmax(dense(global_avg_pool(seq), out_*))

    weights: conv0_weight (C, F, 3); dw1_weight (C, 1, 3); pw1_weight (C, C,
    1); dw2_weight (C, 1, 3); pw2_weight (C, C, 1) (no conv biases: the
    BatchNorms have them); for k in 0..3: bnk_mean, bnk_variance, bnk_weight,
    bnk_bias (C,); gru_weight_ih (3H, C), gru_weight_hh, gru_bias_ih,
    gru_bias_hh; out_weight (K, H), out_bias (K,). conv_paddings: (left,
    right) of conv0, dw1 and dw2 (the framework's "same" at their length).
    """
    def bn(y, k):
        return batch_norm(y, weights[f"bn{k}_mean"], weights[f"bn{k}_variance"], bn_epsilon,
                          weights[f"bn{k}_weight"], weights[f"bn{k}_bias"])

    channels = weights["dw1_weight"].shape[0]
    y = relu(bn(conv1d(features, weights["conv0_weight"], padding=conv_paddings[0]), 0))
    y = relu(bn(conv1d(y, weights["dw1_weight"], groups=channels, stride=depthwise_stride,
                       padding=conv_paddings[1]), 1))
    y = relu(bn(conv1d(y, weights["pw1_weight"]), 2))
    y = conv1d(y, weights["dw2_weight"], groups=channels, dilation=2, padding=conv_paddings[2])
    y = relu(bn(conv1d(y, weights["pw2_weight"]), 3))
    sequence, _ = reference.gru(y, weights["gru_weight_ih"], weights["gru_weight_hh"],
                                weights["gru_bias_ih"], weights["gru_bias_hh"], reset_after=True)
    return softmax(dense(global_avg_pool(sequence), weights["out_weight"], weights["out_bias"]))
