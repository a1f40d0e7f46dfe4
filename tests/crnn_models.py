"""The CRNN test family of issue 12: the same seeded weights as a PyTorch
module, a Keras 3 Functional model and a float64 twin.

Each case is a ``CrnnCase``: canonical (PyTorch-layout) float32 weights drawn
from a seeded generator, a factory for the ``torch.nn.Module`` that holds
them, a factory for the Keras model that holds them (None where Keras cannot
express the model, with the reason), and the twin, which returns the
framework model's outputs in its order. ``CASES`` lists them by name:

- ``vad``: a strided Conv1d STFT over raw samples, power spectrum (slices,
  products, a sum), conv+ReLU blocks (one strided), LSTM(64), a 1x1 conv
  head with sigmoid; forward(x, state=None) -> (prob, (h, c)).
- ``noise_suppressor`` (GRU 48, fast) and ``noise_suppressor_full`` (conv
  128 and 384, 3 x GRU(384), the issue's bench shape): two valid kernel-3
  tanh convs, three GRUs, a concatenation of the conv output and the three
  GRU outputs, two sigmoid Dense heads; forward(x, states=None) ->
  (gains, vad, (h1, h2, h3)).
- ``keyword_spotter``: conv, depthwise-separable blocks with BatchNorm and
  ReLU (one strided, one dilated), GRU, global average pooling, softmax.
- ``causal_residual``: strided and dilated causal convs, a residual Add,
  LayerNorm, LSTM, Dense.
- ``same_gated``: "same" convs (odd and even kernels), tanh * sigmoid
  gating, a Subtract skip, (B, C, T) <-> (B, T, C) permutes, GRU returning
  its state.
- ``pooled``: max pooling, strided "same" average pooling (whose padding
  rules differ between the frameworks), GRU, global max pooling,
  log_softmax.
- ``activations``: PReLU, LeakyReLU, ELU, SELU, GELU, SiLU, hard sigmoid,
  softplus between Dense layers.
- ``group_norm``: GroupNorm(1, C) over (C, T) (PyTorch only).

Layout conversions canonical -> Keras are the ``keras_*`` functions below,
written out independently of fastrnn.io. Keras factories take the ``keras``
module (Keras 3, imported with KERAS_BACKEND set, e.g. by conftest's fixture).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import reference
import reference_graph as rg

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
nn, F = torch.nn, torch.nn.functional

TORCH_LAYER_NORM_EPSILON = 1e-5      # torch.nn.LayerNorm, GroupNorm
TORCH_BATCH_NORM_EPSILON = 1e-5      # torch.nn.BatchNorm1d
KERAS_LAYER_NORM_EPSILON = 1e-3      # keras.layers.LayerNormalization
KERAS_BATCH_NORM_EPSILON = 1e-3      # keras.layers.BatchNormalization
TORCH_LEAKY_RELU_SLOPE = 0.01        # torch.nn.LeakyReLU
KERAS_LEAKY_RELU_SLOPE = 0.3         # keras.layers.LeakyReLU


@dataclass(frozen=True)
class CrnnCase:
    """One model of the family with its weights.

    ``lengths`` are two test lengths T of the (B, T, input_size) input, of
    the two kinds the model's padding rules tell apart (e.g. an odd and an
    even length into a strided "same" layer). ``torch_module(weights)``
    builds the module (eval mode);
    ``torch_outputs(module, x)`` runs it on a (B, T, C) float32 array and
    returns its outputs as a flat tuple of arrays, recurrent states as (B,
    H). ``keras_model(keras, weights)`` builds the Functional model, whose
    outputs are in the same order (None, with ``keras_missing`` saying why,
    when Keras cannot express the model). ``reference(x, weights,
    framework)`` is the float64 twin of the framework's model ("torch" or
    "keras": their paddings, epsilons and defaults differ).
    """

    name: str
    weights: dict[str, np.ndarray]
    input_size: int
    lengths: tuple[int, int]
    torch_module: Callable[[dict], nn.Module]
    torch_outputs: Callable[[nn.Module, np.ndarray], tuple[np.ndarray, ...]]
    reference: Callable[[np.ndarray, dict, str], tuple[np.ndarray, ...]]
    keras_model: Callable[[Any, dict], Any] | None = None
    keras_missing: str = ""


# ---------------------------------------------------------------------------
# Seeded weights in PyTorch's layout and initialisation scale.

def _uniform(rng: np.random.Generator, shape, fan_in: int) -> np.ndarray:
    """uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default bound."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _conv(rng, name: str, out_channels: int, in_per_group: int, kernel_size: int,
          bias: bool = True) -> dict[str, np.ndarray]:
    """{name_weight (O, I/groups, K), name_bias (O,)}."""
    fan_in = in_per_group * kernel_size
    weights = {f"{name}_weight": _uniform(rng, (out_channels, in_per_group, kernel_size), fan_in)}
    if bias:
        weights[f"{name}_bias"] = _uniform(rng, (out_channels,), fan_in)
    return weights


def _dense(rng, name: str, out_features: int, in_features: int) -> dict[str, np.ndarray]:
    """{name_weight (O, I), name_bias (O,)}."""
    return {f"{name}_weight": _uniform(rng, (out_features, in_features), in_features),
            f"{name}_bias": _uniform(rng, (out_features,), in_features)}


def _recurrent(rng, name: str, gates: int, input_size: int,
               hidden_size: int) -> dict[str, np.ndarray]:
    """{name_weight_ih (G*H, I), name_weight_hh (G*H, H), name_bias_ih,
    name_bias_hh (G*H,)}, all uniform(+-1/sqrt(H))."""
    return {f"{name}_weight_ih": _uniform(rng, (gates * hidden_size, input_size), hidden_size),
            f"{name}_weight_hh": _uniform(rng, (gates * hidden_size, hidden_size), hidden_size),
            f"{name}_bias_ih": _uniform(rng, (gates * hidden_size,), hidden_size),
            f"{name}_bias_hh": _uniform(rng, (gates * hidden_size,), hidden_size)}


def _batch_norm(rng, name: str, channels: int) -> dict[str, np.ndarray]:
    """Trained-looking BatchNorm statistics and affine parameters (C,)."""
    return {f"{name}_mean": rng.normal(0.0, 0.3, channels).astype(np.float32),
            f"{name}_variance": rng.uniform(0.3, 2.0, channels).astype(np.float32),
            f"{name}_weight": rng.uniform(0.5, 1.5, channels).astype(np.float32),
            f"{name}_bias": rng.normal(0.0, 0.2, channels).astype(np.float32)}


def stft_weight(n_fft: int) -> np.ndarray:
    """(2F, 1, n_fft), F = n_fft // 2 + 1: a periodic-Hann windowed DFT as
    a Conv1d kernel, real parts (cos) then imaginary parts (-sin)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    phase = 2 * np.pi * np.outer(np.arange(n_fft // 2 + 1), np.arange(n_fft)) / n_fft
    basis = np.concatenate([window * np.cos(phase), -window * np.sin(phase)])
    return basis[:, np.newaxis, :].astype(np.float32)


# ---------------------------------------------------------------------------
# Canonical -> Keras layouts.

def keras_conv_kernel(weight: np.ndarray) -> np.ndarray:
    """Conv1d weight (O, I/groups, K) -> Keras Conv1D kernel (K, I/groups, O)."""
    return np.ascontiguousarray(weight.transpose(2, 1, 0))


def keras_depthwise_kernel(weight: np.ndarray, depth_multiplier: int = 1) -> np.ndarray:
    """Depthwise Conv1d weight (C*M, 1, K), groups = C -> Keras
    DepthwiseConv1D kernel (K, C, M): output channel c*M + m is input
    channel c's m-th filter in both."""
    out_channels, _, kernel_size = weight.shape
    per_channel = weight[:, 0, :].reshape(out_channels // depth_multiplier, depth_multiplier,
                                          kernel_size)
    return np.ascontiguousarray(per_channel.transpose(2, 0, 1))


def keras_dense_kernel(weight: np.ndarray) -> np.ndarray:
    """Dense weight (O, I) -> Keras kernel (I, O)."""
    return np.ascontiguousarray(weight.T)


def keras_lstm_weights(weights: dict, name: str) -> list[np.ndarray]:
    """Keras LSTM [kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,)]:
    the same gate order (i, f, c, o), one bias = bias_ih + bias_hh."""
    return [keras_dense_kernel(weights[f"{name}_weight_ih"]),
            keras_dense_kernel(weights[f"{name}_weight_hh"]),
            weights[f"{name}_bias_ih"] + weights[f"{name}_bias_hh"]]


def _keras_gru_gates(blocks: np.ndarray) -> np.ndarray:
    """Gate blocks (r, z, n) along axis 0 -> Keras' (z, r, h)."""
    r, z, n = np.split(blocks, 3, axis=0)
    return np.concatenate([z, r, n])


def keras_gru_weights(weights: dict, name: str) -> list[np.ndarray]:
    """Keras GRU(reset_after=True) [kernel (I, 3H), recurrent_kernel (H,
    3H), bias (2, 3H)]: gate blocks z, r, h; bias rows input, recurrent."""
    return [keras_dense_kernel(_keras_gru_gates(weights[f"{name}_weight_ih"])),
            keras_dense_kernel(_keras_gru_gates(weights[f"{name}_weight_hh"])),
            np.stack([_keras_gru_gates(weights[f"{name}_bias_ih"]),
                      _keras_gru_gates(weights[f"{name}_bias_hh"])])]


def keras_batch_norm_weights(weights: dict, name: str) -> list[np.ndarray]:
    """Keras BatchNormalization [gamma, beta, moving_mean, moving_variance]."""
    return [weights[f"{name}_weight"], weights[f"{name}_bias"], weights[f"{name}_mean"],
            weights[f"{name}_variance"]]


def _set_keras(model, layer_name: str, arrays: list[np.ndarray]) -> None:
    model.get_layer(layer_name).set_weights(arrays)


def _set_keras_conv(model, weights: dict, name: str) -> None:
    arrays = [keras_conv_kernel(weights[f"{name}_weight"])]
    if f"{name}_bias" in weights:
        arrays.append(weights[f"{name}_bias"])
    _set_keras(model, name, arrays)


def _set_keras_dense(model, weights: dict, name: str) -> None:
    _set_keras(model, name, [keras_dense_kernel(weights[f"{name}_weight"]),
                             weights[f"{name}_bias"]])


def keras_outputs(model, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """The model's outputs on x, inference mode, as a tuple of arrays."""
    import keras
    outputs = model(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return tuple(np.asarray(keras.ops.convert_to_numpy(output)) for output in outputs)


# ---------------------------------------------------------------------------
# Canonical -> PyTorch.

def _copy(parameter: torch.Tensor, array: np.ndarray) -> None:
    if tuple(parameter.shape) != array.shape:
        raise ValueError(f"torch parameter {tuple(parameter.shape)} != array {array.shape}")
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def _load_conv(conv: nn.Conv1d | nn.Linear, weights: dict, name: str) -> None:
    _copy(conv.weight, weights[f"{name}_weight"])
    if conv.bias is not None:
        _copy(conv.bias, weights[f"{name}_bias"])


def _load_recurrent(layer: nn.LSTM | nn.GRU, weights: dict, name: str) -> None:
    for tensor in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        _copy(getattr(layer, f"{tensor}_l0"), weights[f"{name}_{tensor}"])


def _load_batch_norm(norm: nn.BatchNorm1d, weights: dict, name: str) -> None:
    _copy(norm.running_mean, weights[f"{name}_mean"])
    _copy(norm.running_var, weights[f"{name}_variance"])
    _copy(norm.weight, weights[f"{name}_weight"])
    _copy(norm.bias, weights[f"{name}_bias"])


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


def _state(tensor: torch.Tensor) -> np.ndarray:
    """A recurrent state (1, B, H) -> (B, H)."""
    return _numpy(tensor)[0]


def _run(module: nn.Module, x: np.ndarray):
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))


# ---------------------------------------------------------------------------
# a. Voice-activity detector over raw samples.

VAD_N_FFT = 256
VAD_HOP = 128


class VoiceActivityDetector(nn.Module):
    """(B, N, 1) samples -> (prob (B, T', 1), (h, c) each (1, B, H))."""

    def __init__(self, n_fft: int, hop_length: int, channels: int, hidden_size: int):
        super().__init__()
        self.bins = n_fft // 2 + 1
        self.hidden_size = hidden_size
        self.stft = nn.Conv1d(1, 2 * self.bins, n_fft, stride=hop_length, bias=False)
        self.conv1 = nn.Conv1d(self.bins, channels, 3, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.lstm = nn.LSTM(channels, hidden_size, batch_first=True)
        self.head = nn.Conv1d(hidden_size, 1, 1)

    def forward(self, x, state=None):
        if state is None:
            zeros = torch.zeros((1, x.size(0), self.hidden_size))
            state = (zeros, zeros)
        spec = self.stft(x.transpose(1, 2)).transpose(1, 2)            # (B, T, 2F)
        re, im = spec[..., :self.bins], spec[..., self.bins:]
        power = re * re + im * im
        y = F.relu(self.conv1(power.transpose(1, 2)))
        y = F.relu(self.conv2(y))
        y, state = self.lstm(y.transpose(1, 2), state)
        prob = torch.sigmoid(self.head(y.transpose(1, 2))).transpose(1, 2)
        return prob, state


def vad_weights(seed: int, channels: int = 32, hidden_size: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    bins = VAD_N_FFT // 2 + 1
    return {"stft": stft_weight(VAD_N_FFT),
            **_conv(rng, "conv1", channels, bins, 3),
            **_conv(rng, "conv2", channels, channels, 3),
            **_recurrent(rng, "lstm", 4, channels, hidden_size),
            **_conv(rng, "head", 1, hidden_size, 1)}


def vad_torch(weights: dict) -> nn.Module:
    channels, hidden_size = weights["conv1_weight"].shape[0], weights["lstm_weight_hh"].shape[1]
    module = VoiceActivityDetector(VAD_N_FFT, VAD_HOP, channels, hidden_size)
    _copy(module.stft.weight, weights["stft"])
    for name in ("conv1", "conv2", "head"):
        _load_conv(getattr(module, name), weights, name)
    _load_recurrent(module.lstm, weights, "lstm")
    return module.eval()


def vad_torch_outputs(module: nn.Module, samples: np.ndarray) -> tuple[np.ndarray, ...]:
    prob, (h, c) = _run(module, samples)
    return _numpy(prob), _state(h), _state(c)


def vad_keras(keras, weights: dict):
    """The STFT as two Conv1D (real, imaginary halves of the kernel): Keras
    has no feature-slice layer in issue 12's list."""
    layers = keras.layers
    bins = VAD_N_FFT // 2 + 1
    channels, hidden_size = weights["conv1_weight"].shape[0], weights["lstm_weight_hh"].shape[1]
    samples = keras.Input((None, 1))
    re = layers.Conv1D(bins, VAD_N_FFT, strides=VAD_HOP, use_bias=False, name="stft_real")(samples)
    im = layers.Conv1D(bins, VAD_N_FFT, strides=VAD_HOP, use_bias=False, name="stft_imag")(samples)
    power = layers.Add()([layers.Multiply()([re, re]), layers.Multiply()([im, im])])
    y = layers.Conv1D(channels, 3, padding="same", activation="relu", name="conv1")(power)
    y = layers.Conv1D(channels, 3, strides=2, padding="same", activation="relu", name="conv2")(y)
    sequence, h, c = layers.LSTM(hidden_size, return_sequences=True, return_state=True,
                                 name="lstm")(y)
    prob = layers.Conv1D(1, 1, activation="sigmoid", name="head")(sequence)
    model = keras.Model(samples, [prob, h, c])
    real, imag = np.split(weights["stft"], 2, axis=0)
    _set_keras(model, "stft_real", [keras_conv_kernel(real)])
    _set_keras(model, "stft_imag", [keras_conv_kernel(imag)])
    for name in ("conv1", "conv2", "head"):
        _set_keras_conv(model, weights, name)
    _set_keras(model, "lstm", keras_lstm_weights(weights, "lstm"))
    return model


def vad_reference(samples: np.ndarray, weights: dict, framework: str) -> tuple[np.ndarray, ...]:
    """torch: conv paddings (1, 1) and (1, 1); keras: "same" at each
    conv's input length (stride 2: (0, 1) for an even length)."""
    num_frames = rg.conv_output_frames(samples.shape[1], VAD_N_FFT, VAD_HOP)
    if framework == "torch":
        paddings = (rg.torch_conv_padding(1, 3), rg.torch_conv_padding(1, 3))
    else:
        paddings = (rg.keras_conv_padding("same", 3, num_frames),
                    rg.keras_conv_padding("same", 3, num_frames, stride=2))
    prob, (h, c) = rg.vad_forward(samples, weights, VAD_HOP, (1, 2), paddings)
    return prob, h, c


def vad_case(seed: int = 1) -> CrnnCase:
    # 41 STFT frames (odd: torch's and Keras' strided padding agree) and 40 (they do not).
    return CrnnCase("vad", vad_weights(seed), 1,
                    (VAD_HOP * 40 + VAD_N_FFT, VAD_HOP * 39 + VAD_N_FFT), vad_torch,
                    vad_torch_outputs, vad_reference, vad_keras)


# ---------------------------------------------------------------------------
# b. Noise suppressor: two valid tanh convs, 3 GRUs, concat, two heads.

NOISE_FEATURES = 65


class NoiseSuppressor(nn.Module):
    """(B, T, 65) -> (gains (B, T-4, 65), vad (B, T-4, 1), (h1, h2, h3))."""

    def __init__(self, features: int, conv1_channels: int, conv2_channels: int,
                 hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.conv1 = nn.Conv1d(features, conv1_channels, 3)
        self.conv2 = nn.Conv1d(conv1_channels, conv2_channels, 3)
        self.gru1 = nn.GRU(conv2_channels, hidden_size, batch_first=True)
        self.gru2 = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.gru3 = nn.GRU(hidden_size, hidden_size, batch_first=True)
        joint = conv2_channels + 3 * hidden_size
        self.gains = nn.Linear(joint, features)
        self.vad = nn.Linear(joint, 1)

    def forward(self, x, states=None):
        if states is None:
            zeros = torch.zeros((1, x.size(0), self.hidden_size))
            states = (zeros, zeros, zeros)
        c = torch.tanh(self.conv1(x.permute(0, 2, 1)))
        c = torch.tanh(self.conv2(c)).permute(0, 2, 1)
        g1, h1 = self.gru1(c, states[0])
        g2, h2 = self.gru2(g1, states[1])
        g3, h3 = self.gru3(g2, states[2])
        joint = torch.cat([c, g1, g2, g3], dim=-1)
        return torch.sigmoid(self.gains(joint)), torch.sigmoid(self.vad(joint)), (h1, h2, h3)


def noise_suppressor_weights(seed: int, conv1_channels: int, conv2_channels: int,
                             hidden_size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    joint = conv2_channels + 3 * hidden_size
    return {**_conv(rng, "conv1", conv1_channels, NOISE_FEATURES, 3),
            **_conv(rng, "conv2", conv2_channels, conv1_channels, 3),
            **_recurrent(rng, "gru1", 3, conv2_channels, hidden_size),
            **_recurrent(rng, "gru2", 3, hidden_size, hidden_size),
            **_recurrent(rng, "gru3", 3, hidden_size, hidden_size),
            **_dense(rng, "gains", NOISE_FEATURES, joint),
            **_dense(rng, "vad", 1, joint)}


def noise_suppressor_torch(weights: dict) -> nn.Module:
    module = NoiseSuppressor(NOISE_FEATURES, weights["conv1_weight"].shape[0],
                             weights["conv2_weight"].shape[0], weights["gru1_weight_hh"].shape[1])
    for name in ("conv1", "conv2", "gains", "vad"):
        _load_conv(getattr(module, name), weights, name)
    for name in ("gru1", "gru2", "gru3"):
        _load_recurrent(getattr(module, name), weights, name)
    return module.eval()


def noise_suppressor_torch_outputs(module: nn.Module, x: np.ndarray) -> tuple[np.ndarray, ...]:
    gains, vad, states = _run(module, x)
    return (_numpy(gains), _numpy(vad), *(_state(h) for h in states))


def noise_suppressor_keras(keras, weights: dict):
    layers = keras.layers
    hidden_size = weights["gru1_weight_hh"].shape[1]
    features = keras.Input((None, NOISE_FEATURES))
    c = layers.Conv1D(weights["conv1_weight"].shape[0], 3, activation="tanh",
                      name="conv1")(features)
    c = layers.Conv1D(weights["conv2_weight"].shape[0], 3, activation="tanh", name="conv2")(c)
    g1, h1 = layers.GRU(hidden_size, return_sequences=True, return_state=True, name="gru1")(c)
    g2, h2 = layers.GRU(hidden_size, return_sequences=True, return_state=True, name="gru2")(g1)
    g3, h3 = layers.GRU(hidden_size, return_sequences=True, return_state=True, name="gru3")(g2)
    joint = layers.Concatenate()([c, g1, g2, g3])
    gains = layers.Dense(NOISE_FEATURES, activation="sigmoid", name="gains")(joint)
    vad = layers.Dense(1, activation="sigmoid", name="vad")(joint)
    model = keras.Model(features, [gains, vad, h1, h2, h3])
    for name in ("conv1", "conv2"):
        _set_keras_conv(model, weights, name)
    for name in ("gru1", "gru2", "gru3"):
        _set_keras(model, name, keras_gru_weights(weights, name))
    for name in ("gains", "vad"):
        _set_keras_dense(model, weights, name)
    return model


def noise_suppressor_reference(x: np.ndarray, weights: dict,
                               framework: str) -> tuple[np.ndarray, ...]:
    """The same model in both frameworks."""
    gains, vad, states = rg.noise_suppressor_forward(x, weights)
    return (gains, vad, *states)


def noise_suppressor_case(seed: int = 2) -> CrnnCase:
    return CrnnCase("noise_suppressor", noise_suppressor_weights(seed, 16, 24, 48),
                    NOISE_FEATURES, (30, 31), noise_suppressor_torch,
                    noise_suppressor_torch_outputs, noise_suppressor_reference,
                    noise_suppressor_keras)


def noise_suppressor_full_case(seed: int = 3) -> CrnnCase:
    """The issue's bench shape: conv 128 and 384, 3 x GRU(384)."""
    return CrnnCase("noise_suppressor_full", noise_suppressor_weights(seed, 128, 384, 384),
                    NOISE_FEATURES, (24, 25), noise_suppressor_torch,
                    noise_suppressor_torch_outputs, noise_suppressor_reference,
                    noise_suppressor_keras)


# ---------------------------------------------------------------------------
# c. Keyword spotter: depthwise-separable conv blocks with BatchNorm, GRU,
# global average pooling, softmax.

class KeywordSpotter(nn.Module):
    """(B, T, 40) MFCC-like frames -> class probabilities (B, K)."""

    def __init__(self, features: int, channels: int, hidden_size: int, num_classes: int):
        super().__init__()
        self.conv0 = nn.Conv1d(features, channels, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm1d(channels)
        self.dw1 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, groups=channels,
                             bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.pw1 = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)
        self.dw2 = nn.Conv1d(channels, channels, 3, padding=2, dilation=2, groups=channels,
                             bias=False)
        self.pw2 = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm1d(channels)
        self.gru = nn.GRU(channels, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        y = F.relu(self.bn0(self.conv0(x.permute(0, 2, 1))))
        y = F.relu(self.bn1(self.dw1(y)))
        y = F.relu(self.bn2(self.pw1(y)))
        y = F.relu(self.bn3(self.pw2(self.dw2(y))))
        sequence, _ = self.gru(y.permute(0, 2, 1))
        return torch.softmax(self.out(sequence.mean(dim=1)), dim=-1)


KWS_FEATURES = 40


def keyword_spotter_weights(seed: int, channels: int = 32, hidden_size: int = 32,
                            num_classes: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = {**_conv(rng, "conv0", channels, KWS_FEATURES, 3, bias=False),
               **_conv(rng, "dw1", channels, 1, 3, bias=False),
               **_conv(rng, "pw1", channels, channels, 1, bias=False),
               **_conv(rng, "dw2", channels, 1, 3, bias=False),
               **_conv(rng, "pw2", channels, channels, 1, bias=False),
               **_recurrent(rng, "gru", 3, channels, hidden_size),
               **_dense(rng, "out", num_classes, hidden_size)}
    for k in range(4):
        weights.update(_batch_norm(rng, f"bn{k}", channels))
    return weights


def keyword_spotter_torch(weights: dict) -> nn.Module:
    channels, features = weights["conv0_weight"].shape[:2]
    module = KeywordSpotter(features, channels, weights["gru_weight_hh"].shape[1],
                            weights["out_weight"].shape[0])
    for name in ("conv0", "dw1", "pw1", "dw2", "pw2", "out"):
        _load_conv(getattr(module, name), weights, name)
    for k in range(4):
        _load_batch_norm(getattr(module, f"bn{k}"), weights, f"bn{k}")
    _load_recurrent(module.gru, weights, "gru")
    return module.eval()


def keyword_spotter_torch_outputs(module: nn.Module, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (_numpy(_run(module, x)),)


def keyword_spotter_keras(keras, weights: dict):
    """dw1 + BN + ReLU + pw1 as DepthwiseConv1D and a 1x1 Conv1D; dw2 + pw2
    as one SeparableConv1D (no BatchNorm between its two halves)."""
    layers = keras.layers
    channels = weights["conv0_weight"].shape[0]
    features = keras.Input((None, KWS_FEATURES))
    y = layers.Conv1D(channels, 3, padding="same", use_bias=False, name="conv0")(features)
    y = layers.ReLU()(layers.BatchNormalization(name="bn0")(y))
    y = layers.DepthwiseConv1D(3, strides=2, padding="same", use_bias=False, name="dw1")(y)
    y = layers.ReLU()(layers.BatchNormalization(name="bn1")(y))
    y = layers.Conv1D(channels, 1, use_bias=False, name="pw1")(y)
    y = layers.ReLU()(layers.BatchNormalization(name="bn2")(y))
    y = layers.SeparableConv1D(channels, 3, padding="same", dilation_rate=2, use_bias=False,
                               name="separable")(y)
    y = layers.ReLU()(layers.BatchNormalization(name="bn3")(y))
    sequence = layers.GRU(weights["gru_weight_hh"].shape[1], return_sequences=True, name="gru")(y)
    pooled = layers.GlobalAveragePooling1D()(sequence)
    probs = layers.Dense(weights["out_weight"].shape[0], activation="softmax", name="out")(pooled)
    model = keras.Model(features, probs)
    _set_keras_conv(model, weights, "conv0")
    _set_keras(model, "dw1", [keras_depthwise_kernel(weights["dw1_weight"])])
    _set_keras_conv(model, weights, "pw1")
    _set_keras(model, "separable", [keras_depthwise_kernel(weights["dw2_weight"]),
                                    keras_conv_kernel(weights["pw2_weight"])])
    for k in range(4):
        _set_keras(model, f"bn{k}", keras_batch_norm_weights(weights, f"bn{k}"))
    _set_keras(model, "gru", keras_gru_weights(weights, "gru"))
    _set_keras_dense(model, weights, "out")
    return model


def keyword_spotter_reference(x: np.ndarray, weights: dict,
                              framework: str) -> tuple[np.ndarray, ...]:
    """torch: paddings 1, 1, 2 and BatchNorm epsilon 1e-5; keras: "same" at
    each length and epsilon 1e-3."""
    num_frames = x.shape[1]
    if framework == "torch":
        paddings = ((1, 1), (1, 1), (2, 2))
        epsilon = TORCH_BATCH_NORM_EPSILON
    else:
        strided = rg.conv_output_frames(num_frames, 3, 2, 1, rg.keras_conv_padding(
            "same", 3, num_frames, stride=2))
        paddings = (rg.keras_conv_padding("same", 3, num_frames),
                    rg.keras_conv_padding("same", 3, num_frames, stride=2),
                    rg.keras_conv_padding("same", 3, strided, dilation=2))
        epsilon = KERAS_BATCH_NORM_EPSILON
    return (rg.keyword_spotter_forward(x, weights, paddings, epsilon),)


def keyword_spotter_case(seed: int = 4) -> CrnnCase:
    return CrnnCase("keyword_spotter", keyword_spotter_weights(seed), KWS_FEATURES, (49, 48),
                    keyword_spotter_torch, keyword_spotter_torch_outputs,
                    keyword_spotter_reference, keyword_spotter_keras)


# ---------------------------------------------------------------------------
# Smaller variants.

class CausalResidual(nn.Module):
    """(B, T, 8) -> (B, ceil(T/2), 4): causal conv (stride 2) + ReLU, causal
    dilated conv, residual add, LayerNorm, LSTM, Dense. Causal padding is
    F.pad on the left, as PyTorch code writes it."""

    def __init__(self, features: int, channels: int, hidden_size: int, outputs: int):
        super().__init__()
        self.conv1 = nn.Conv1d(features, channels, 3, stride=2)
        self.conv2 = nn.Conv1d(channels, channels, 3, dilation=2)
        self.norm = nn.LayerNorm(channels)
        self.lstm = nn.LSTM(channels, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, outputs)

    def forward(self, x):
        a = F.relu(self.conv1(F.pad(x.transpose(1, 2), (2, 0))))
        b = self.conv2(F.pad(a, (4, 0)))
        y = self.norm((a + b).transpose(1, 2))
        sequence, _ = self.lstm(y)
        return self.out(sequence)


def causal_residual_weights(seed: int, features: int = 8, channels: int = 16,
                            hidden_size: int = 12, outputs: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {**_conv(rng, "conv1", channels, features, 3),
            **_conv(rng, "conv2", channels, channels, 3),
            "norm_weight": rng.uniform(0.5, 1.5, channels).astype(np.float32),
            "norm_bias": rng.normal(0.0, 0.2, channels).astype(np.float32),
            **_recurrent(rng, "lstm", 4, channels, hidden_size),
            **_dense(rng, "out", outputs, hidden_size)}


def causal_residual_torch(weights: dict) -> nn.Module:
    channels, features = weights["conv1_weight"].shape[:2]
    module = CausalResidual(features, channels, weights["lstm_weight_hh"].shape[1],
                            weights["out_weight"].shape[0])
    for name in ("conv1", "conv2", "out"):
        _load_conv(getattr(module, name), weights, name)
    _copy(module.norm.weight, weights["norm_weight"])
    _copy(module.norm.bias, weights["norm_bias"])
    _load_recurrent(module.lstm, weights, "lstm")
    return module.eval()


def causal_residual_keras(keras, weights: dict):
    layers = keras.layers
    channels, features = weights["conv1_weight"].shape[:2]
    x = keras.Input((None, features))
    a = layers.Conv1D(channels, 3, strides=2, padding="causal", activation="relu",
                      name="conv1")(x)
    b = layers.Conv1D(channels, 3, padding="causal", dilation_rate=2, name="conv2")(a)
    y = layers.LayerNormalization(name="norm")(layers.Add()([a, b]))
    sequence = layers.LSTM(weights["lstm_weight_hh"].shape[1], return_sequences=True,
                           name="lstm")(y)
    model = keras.Model(x, layers.Dense(weights["out_weight"].shape[0], name="out")(sequence))
    for name in ("conv1", "conv2"):
        _set_keras_conv(model, weights, name)
    _set_keras(model, "norm", [weights["norm_weight"], weights["norm_bias"]])
    _set_keras(model, "lstm", keras_lstm_weights(weights, "lstm"))
    _set_keras_dense(model, weights, "out")
    return model


def causal_residual_reference(x: np.ndarray, weights: dict,
                              framework: str) -> tuple[np.ndarray, ...]:
    epsilon = TORCH_LAYER_NORM_EPSILON if framework == "torch" else KERAS_LAYER_NORM_EPSILON
    a = rg.relu(rg.conv1d(x, weights["conv1_weight"], weights["conv1_bias"], stride=2,
                          padding=rg.keras_conv_padding("causal", 3, x.shape[1], stride=2)))
    b = rg.conv1d(a, weights["conv2_weight"], weights["conv2_bias"], dilation=2,
                  padding=rg.keras_conv_padding("causal", 3, a.shape[1], dilation=2))
    y = rg.layer_norm(rg.add(a, b), epsilon, weights["norm_weight"], weights["norm_bias"])
    sequence, _, _ = reference.lstm(y, weights["lstm_weight_ih"], weights["lstm_weight_hh"],
                                    weights["lstm_bias_ih"], weights["lstm_bias_hh"])
    return (rg.dense(sequence, weights["out_weight"], weights["out_bias"]),)


def _single_output(module: nn.Module, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (_numpy(_run(module, x)),)


def causal_residual_case(seed: int = 5) -> CrnnCase:
    return CrnnCase("causal_residual", causal_residual_weights(seed), 8, (33, 34),
                    causal_residual_torch, _single_output, causal_residual_reference,
                    causal_residual_keras)


class SameGated(nn.Module):
    """(B, T, 6) -> (probs (B, T, 3), h (1, B, H)): 'same' convs (kernel 5
    and the even kernel 4), tanh * sigmoid gating, a 1x1 skip subtracted,
    GRU, sigmoid Dense."""

    def __init__(self, features: int, channels: int, hidden_size: int, outputs: int):
        super().__init__()
        self.filter = nn.Conv1d(features, channels, 5, padding="same")
        self.gate = nn.Conv1d(features, channels, 5, padding="same")
        self.mix = nn.Conv1d(channels, channels, 4, padding="same")
        self.skip = nn.Conv1d(features, channels, 1)
        self.gru = nn.GRU(channels, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, outputs)

    def forward(self, x):
        y = x.permute(0, 2, 1)
        gated = torch.tanh(self.filter(y)) * torch.sigmoid(self.gate(y))
        z = (self.mix(gated) - self.skip(y)).permute(0, 2, 1)
        sequence, h = self.gru(z)
        return torch.sigmoid(self.out(sequence)), h


def same_gated_weights(seed: int, features: int = 6, channels: int = 12, hidden_size: int = 10,
                       outputs: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {**_conv(rng, "filter", channels, features, 5),
            **_conv(rng, "gate", channels, features, 5),
            **_conv(rng, "mix", channels, channels, 4),
            **_conv(rng, "skip", channels, features, 1),
            **_recurrent(rng, "gru", 3, channels, hidden_size),
            **_dense(rng, "out", outputs, hidden_size)}


def same_gated_torch(weights: dict) -> nn.Module:
    channels, features = weights["filter_weight"].shape[:2]
    module = SameGated(features, channels, weights["gru_weight_hh"].shape[1],
                       weights["out_weight"].shape[0])
    for name in ("filter", "gate", "mix", "skip", "out"):
        _load_conv(getattr(module, name), weights, name)
    _load_recurrent(module.gru, weights, "gru")
    return module.eval()


def same_gated_torch_outputs(module: nn.Module, x: np.ndarray) -> tuple[np.ndarray, ...]:
    probs, h = _run(module, x)
    return _numpy(probs), _state(h)


def same_gated_keras(keras, weights: dict):
    """Written as a port of the PyTorch module: Permute to (B, C, T),
    channels_first convolutions, Permute back."""
    layers = keras.layers
    channels, features = weights["filter_weight"].shape[:2]
    x = keras.Input((None, features))
    y = layers.Permute((2, 1))(x)
    conv = {"data_format": "channels_first", "padding": "same"}
    gated = layers.Multiply()([
        layers.Conv1D(channels, 5, activation="tanh", name="filter", **conv)(y),
        layers.Conv1D(channels, 5, activation="sigmoid", name="gate", **conv)(y)])
    z = layers.Subtract()([layers.Conv1D(channels, 4, name="mix", **conv)(gated),
                           layers.Conv1D(channels, 1, name="skip", **conv)(y)])
    sequence, h = layers.GRU(weights["gru_weight_hh"].shape[1], return_sequences=True,
                             return_state=True, name="gru")(layers.Permute((2, 1))(z))
    probs = layers.Dense(weights["out_weight"].shape[0], activation="sigmoid", name="out")(sequence)
    model = keras.Model(x, [probs, h])
    for name in ("filter", "gate", "mix", "skip"):
        _set_keras_conv(model, weights, name)
    _set_keras(model, "gru", keras_gru_weights(weights, "gru"))
    _set_keras_dense(model, weights, "out")
    return model


def same_gated_reference(x: np.ndarray, weights: dict, framework: str) -> tuple[np.ndarray, ...]:
    """Stride 1: torch's and Keras' "same" agree ((2, 2) and, for the even
    kernel 4, (1, 2))."""
    def conv(y, name, kernel_size):
        return rg.conv1d(y, weights[f"{name}_weight"], weights[f"{name}_bias"],
                         padding=rg.torch_conv_padding("same", kernel_size))

    gated = rg.multiply(rg.tanh(conv(x, "filter", 5)), rg.sigmoid(conv(x, "gate", 5)))
    z = rg.subtract(conv(gated, "mix", 4), conv(x, "skip", 1))
    sequence, h = reference.gru(z, weights["gru_weight_ih"], weights["gru_weight_hh"],
                                weights["gru_bias_ih"], weights["gru_bias_hh"])
    return rg.sigmoid(rg.dense(sequence, weights["out_weight"], weights["out_bias"])), h


def same_gated_case(seed: int = 6) -> CrnnCase:
    return CrnnCase("same_gated", same_gated_weights(seed), 6, (27, 28), same_gated_torch,
                    same_gated_torch_outputs, same_gated_reference, same_gated_keras)


class Pooled(nn.Module):
    """(B, T, 5) -> (B, 2) log-probabilities: valid conv + ReLU, max pool 2,
    conv, average pool 3 stride 2 padding 1 (count_include_pad), GRU,
    max over time, Dense, log_softmax."""

    def __init__(self, features: int, channels: int, hidden_size: int, outputs: int):
        super().__init__()
        self.conv1 = nn.Conv1d(features, channels, 3)
        self.max_pool = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)
        self.avg_pool = nn.AvgPool1d(3, stride=2, padding=1)
        self.gru = nn.GRU(channels, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, outputs)

    def forward(self, x):
        y = self.max_pool(F.relu(self.conv1(x.transpose(1, 2))))
        y = self.avg_pool(self.conv2(y))
        sequence, _ = self.gru(y.transpose(1, 2))
        return F.log_softmax(self.out(sequence.amax(dim=1)), dim=-1)


def pooled_weights(seed: int, features: int = 5, channels: int = 8, hidden_size: int = 8,
                   outputs: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {**_conv(rng, "conv1", channels, features, 3),
            **_conv(rng, "conv2", channels, channels, 3),
            **_recurrent(rng, "gru", 3, channels, hidden_size),
            **_dense(rng, "out", outputs, hidden_size)}


def pooled_torch(weights: dict) -> nn.Module:
    channels, features = weights["conv1_weight"].shape[:2]
    module = Pooled(features, channels, weights["gru_weight_hh"].shape[1],
                    weights["out_weight"].shape[0])
    for name in ("conv1", "conv2", "out"):
        _load_conv(getattr(module, name), weights, name)
    _load_recurrent(module.gru, weights, "gru")
    return module.eval()


def pooled_keras(keras, weights: dict):
    layers = keras.layers
    channels, features = weights["conv1_weight"].shape[:2]
    x = keras.Input((None, features))
    y = layers.MaxPooling1D(2)(layers.Conv1D(channels, 3, activation="relu", name="conv1")(x))
    y = layers.Conv1D(channels, 3, padding="same", name="conv2")(y)
    y = layers.AveragePooling1D(3, strides=2, padding="same")(y)
    sequence = layers.GRU(weights["gru_weight_hh"].shape[1], return_sequences=True, name="gru")(y)
    logits = layers.Dense(weights["out_weight"].shape[0], name="out")(
        layers.GlobalMaxPooling1D()(sequence))
    model = keras.Model(x, layers.Activation("log_softmax")(logits))
    for name in ("conv1", "conv2"):
        _set_keras_conv(model, weights, name)
    _set_keras(model, "gru", keras_gru_weights(weights, "gru"))
    _set_keras_dense(model, weights, "out")
    return model


def pooled_reference(x: np.ndarray, weights: dict, framework: str) -> tuple[np.ndarray, ...]:
    """torch: average pool padding (1, 1) counting the padding; keras:
    "same" (its torch backend: edge frames repeated when asymmetric)."""
    y = rg.max_pool(rg.relu(rg.conv1d(x, weights["conv1_weight"], weights["conv1_bias"])), 2)
    y = rg.conv1d(y, weights["conv2_weight"], weights["conv2_bias"], padding=(1, 1))
    if framework == "torch":
        y = rg.avg_pool(y, 3, 2, padding=(1, 1), count_include_pad=True)
    else:
        y = rg.keras_avg_pool(y, 3, 2, padding="same", backend="torch")
    sequence, _ = reference.gru(y, weights["gru_weight_ih"], weights["gru_weight_hh"],
                                weights["gru_bias_ih"], weights["gru_bias_hh"])
    logits = rg.dense(rg.global_max_pool(sequence), weights["out_weight"], weights["out_bias"])
    return (rg.log_softmax(logits),)


def pooled_case(seed: int = 7) -> CrnnCase:
    # 27 frames -> 25 -> 12: Keras' "same" average pool pads (0, 1), asymmetric;
    # 29 -> 27 -> 13: (1, 1).
    return CrnnCase("pooled", pooled_weights(seed), 5, (27, 29), pooled_torch, _single_output,
                    pooled_reference, pooled_keras)


ACTIVATION_LAYERS = ("prelu", "leaky_relu", "elu", "selu", "gelu", "silu", "hard_sigmoid",
                     "softplus")


class Activations(nn.Module):
    """(B, T, 7) -> (B, T, 5): a Dense and an activation per entry of
    ACTIVATION_LAYERS, then Dense and log_softmax. PReLU(C) runs on (B, C,
    T): PyTorch's PReLU takes its channels from dimension 1."""

    def __init__(self, features: int, width: int, outputs: int):
        super().__init__()
        sizes = [features] + [width] * len(ACTIVATION_LAYERS)
        self.dense = nn.ModuleList([nn.Linear(sizes[k], sizes[k + 1])
                                    for k in range(len(ACTIVATION_LAYERS))])
        self.prelu = nn.PReLU(width)
        self.activations = nn.ModuleList([nn.LeakyReLU(), nn.ELU(alpha=0.5), nn.SELU(), nn.GELU(),
                                          nn.SiLU(), nn.Hardsigmoid(), nn.Softplus()])
        self.out = nn.Linear(width, outputs)

    def forward(self, x):
        y = self.prelu(self.dense[0](x).transpose(1, 2)).transpose(1, 2)
        for dense, activation in zip(self.dense[1:], self.activations):
            y = activation(dense(y))
        return torch.log_softmax(self.out(y), dim=-1)


def activations_weights(seed: int, features: int = 7, width: int = 10,
                        outputs: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = {"prelu_alpha": rng.uniform(-0.5, 0.5, width).astype(np.float32),
               **_dense(rng, "out", outputs, width)}
    sizes = [features] + [width] * len(ACTIVATION_LAYERS)
    for k in range(len(ACTIVATION_LAYERS)):
        # Twice PyTorch's bound, so that the activations' nonlinear parts are reached.
        weights[f"dense{k}_weight"] = 2 * _uniform(rng, (sizes[k + 1], sizes[k]), sizes[k])
        weights[f"dense{k}_bias"] = _uniform(rng, (sizes[k + 1],), 1)
    return weights


def activations_torch(weights: dict) -> nn.Module:
    width, features = weights["dense0_weight"].shape
    module = Activations(features, width, weights["out_weight"].shape[0])
    for k, dense in enumerate(module.dense):
        _load_conv(dense, weights, f"dense{k}")
    _copy(module.prelu.weight, weights["prelu_alpha"])
    _load_conv(module.out, weights, "out")
    return module.eval()


def activations_keras(keras, weights: dict):
    """Activation layers where Keras has one (PReLU with shared_axes=[1] for
    a variable length, LeakyReLU, ELU), activation= strings otherwise."""
    layers = keras.layers
    width, features = weights["dense0_weight"].shape
    x = keras.Input((None, features))
    y = layers.PReLU(shared_axes=[1], name="prelu")(layers.Dense(width, name="dense0")(x))
    y = layers.LeakyReLU(negative_slope=TORCH_LEAKY_RELU_SLOPE)(
        layers.Dense(width, name="dense1")(y))
    y = layers.ELU(alpha=0.5)(layers.Dense(width, name="dense2")(y))
    for k, activation in enumerate(ACTIVATION_LAYERS[3:], start=3):
        y = layers.Dense(width, activation=activation, name=f"dense{k}")(y)
    logits = layers.Dense(weights["out_weight"].shape[0], name="out")(y)
    model = keras.Model(x, layers.Activation("log_softmax")(logits))
    for k in range(len(ACTIVATION_LAYERS)):
        _set_keras_dense(model, weights, f"dense{k}")
    _set_keras(model, "prelu", [weights["prelu_alpha"][np.newaxis]])
    _set_keras_dense(model, weights, "out")
    return model


def activations_reference(x: np.ndarray, weights: dict, framework: str) -> tuple[np.ndarray, ...]:
    """The same model in both frameworks (the Keras LeakyReLU is given
    torch's slope; Keras' "gelu" string is the exact GELU, like torch's
    default)."""
    functions = [lambda y: rg.prelu(y, weights["prelu_alpha"]),
                 lambda y: rg.leaky_relu(y, TORCH_LEAKY_RELU_SLOPE),
                 lambda y: rg.elu(y, 0.5), rg.selu, rg.gelu, rg.silu, rg.hard_sigmoid,
                 rg.softplus]
    y = x
    for k, function in enumerate(functions):
        y = function(rg.dense(y, weights[f"dense{k}_weight"], weights[f"dense{k}_bias"]))
    return (rg.log_softmax(rg.dense(y, weights["out_weight"], weights["out_bias"])),)


def activations_case(seed: int = 8) -> CrnnCase:
    return CrnnCase("activations", activations_weights(seed), 7, (19, 20), activations_torch,
                    _single_output, activations_reference, activations_keras)


class GroupNormModel(nn.Module):
    """(B, T, 6) -> (B, T, 3): conv, GroupNorm(1, C) on (B, C, T) (a
    normalization over all channels AND frames), tanh, LSTM, Dense."""

    def __init__(self, features: int, channels: int, hidden_size: int, outputs: int):
        super().__init__()
        self.conv = nn.Conv1d(features, channels, 3, padding=1)
        self.norm = nn.GroupNorm(1, channels)
        self.lstm = nn.LSTM(channels, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, outputs)

    def forward(self, x):
        y = torch.tanh(self.norm(self.conv(x.transpose(1, 2))))
        sequence, _ = self.lstm(y.transpose(1, 2))
        return self.out(sequence)


def group_norm_weights(seed: int, features: int = 6, channels: int = 8, hidden_size: int = 8,
                       outputs: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {**_conv(rng, "conv", channels, features, 3),
            "norm_weight": rng.uniform(0.5, 1.5, channels).astype(np.float32),
            "norm_bias": rng.normal(0.0, 0.2, channels).astype(np.float32),
            **_recurrent(rng, "lstm", 4, channels, hidden_size),
            **_dense(rng, "out", outputs, hidden_size)}


def group_norm_torch(weights: dict) -> nn.Module:
    channels, features = weights["conv_weight"].shape[:2]
    module = GroupNormModel(features, channels, weights["lstm_weight_hh"].shape[1],
                            weights["out_weight"].shape[0])
    _load_conv(module.conv, weights, "conv")
    _copy(module.norm.weight, weights["norm_weight"])
    _copy(module.norm.bias, weights["norm_bias"])
    _load_recurrent(module.lstm, weights, "lstm")
    _load_conv(module.out, weights, "out")
    return module.eval()


def group_norm_reference(x: np.ndarray, weights: dict, framework: str) -> tuple[np.ndarray, ...]:
    y = rg.conv1d(x, weights["conv_weight"], weights["conv_bias"], padding=(1, 1))
    y = rg.tanh(rg.group_norm(y, 1, TORCH_LAYER_NORM_EPSILON, weights["norm_weight"],
                              weights["norm_bias"]))
    sequence, _, _ = reference.lstm(y, weights["lstm_weight_ih"], weights["lstm_weight_hh"],
                                    weights["lstm_bias_ih"], weights["lstm_bias_hh"])
    return (rg.dense(sequence, weights["out_weight"], weights["out_bias"]),)


def group_norm_case(seed: int = 9) -> CrnnCase:
    return CrnnCase("group_norm", group_norm_weights(seed), 6, (21, 22), group_norm_torch,
                    _single_output, group_norm_reference,
                    keras_missing="GroupNorm(1) normalizes over channels and frames: no layer "
                                  "of issue 12's Keras list computes it")


CASES: dict[str, Callable[[], CrnnCase]] = {
    "vad": vad_case,
    "noise_suppressor": noise_suppressor_case,
    "noise_suppressor_full": noise_suppressor_full_case,
    "keyword_spotter": keyword_spotter_case,
    "causal_residual": causal_residual_case,
    "same_gated": same_gated_case,
    "pooled": pooled_case,
    "activations": activations_case,
    "group_norm": group_norm_case,
}
