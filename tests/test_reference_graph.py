"""The float64 twins of reference_graph.py against PyTorch and Keras 3 (torch
backend), layer by layer, and the CRNN family of crnn_models.py against its
twins.

Tolerance (``assert_twin``): a float64 twin against a float32 framework,
max abs error <= TOLERANCE["float32"] (1e-5, the issue's bar) x max(1,
max |expected|) x max(1, sqrt(fan_in / 1024)). The first factor makes the
bound relative for outputs larger than 1 (float32 rounds relative to
magnitude, see conftest); the second scales it with the square root of the
length of the longest dot product (a conv's C_in / groups * K) beyond 1024
terms, the length up to which conftest measured float32 dot products well
inside 1e-5. Measured here: at most 0.11 of the bound (1.1e-6, LayerNorm of
small-variance frames); convolutions at most 0.06 of it.

Grids are sampled, not exhaustive: hand-picked edge cases (length 1, kernel
longer than the input, 513 channels, depthwise, even kernels, strides longer
than the kernel) plus a seeded random sample of kernel, stride, dilation,
groups, channels (1..513) and length (1..300).
"""

import numpy as np
import pytest
import reference_graph as rg
from conftest import TOLERANCE

try:                                    # needs PyTorch; the twins' own tests run without it
    import crnn_models
except ModuleNotFoundError:
    crnn_models = None


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch",
                               reason="PyTorch is not installed (pip install fastrnn[torch])")


def assert_twin(got, expected, fan_in: int = 1, what: str = "") -> float:
    """max |got - expected| within the bound of the module docstring."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    limit = TOLERANCE["float32"] * scale * max(1.0, np.sqrt(fan_in / 1024))
    error = float(np.max(np.abs(got - expected), initial=0.0))
    assert error <= limit, f"{what}: max abs error {error:.3e} > {limit:.2e}"
    return error


def normal(shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def to_numpy(tensor) -> np.ndarray:
    return np.asarray(tensor.detach().numpy() if hasattr(tensor, "detach") else tensor)


def keras_call(keras, layer, *inputs) -> np.ndarray:
    """A Keras layer (or op) applied eagerly, inference mode, as NumPy."""
    output = layer(*inputs, training=False) if isinstance(layer, keras.layers.Layer) \
        else layer(*inputs)
    return np.asarray(keras.ops.convert_to_numpy(output))


def torch_btc(torch, module, x: np.ndarray) -> np.ndarray:
    """A (B, C, T) PyTorch module applied to a (B, T, C) array."""
    with torch.no_grad():
        return to_numpy(module(torch.from_numpy(x).transpose(1, 2)).transpose(1, 2))


# ---------------------------------------------------------------------------
# Padding rules, by hand: no framework needed.

@pytest.mark.parametrize("padding, kernel_size, dilation, expected", [
    (0, 3, 1, (0, 0)), (2, 3, 1, (2, 2)), ((1,), 5, 1, (1, 1)), ("valid", 4, 1, (0, 0)),
    ("same", 3, 1, (1, 1)), ("same", 4, 1, (1, 2)), ("same", 2, 1, (0, 1)),
    ("same", 3, 2, (2, 2)), ("same", 2, 3, (1, 2)), ("same", 1, 1, (0, 0)),
])
def test_torch_conv_padding(padding, kernel_size, dilation, expected):
    assert rg.torch_conv_padding(padding, kernel_size, dilation) == expected


def test_torch_conv_padding_refuses_what_torch_refuses_or_is_not_zeros():
    with pytest.raises(ValueError, match="strided"):
        rg.torch_conv_padding("same", 3, stride=2)
    with pytest.raises(ValueError, match="reflect"):
        rg.torch_conv_padding(1, 3, padding_mode="reflect")


@pytest.mark.parametrize("padding, kernel_size, num_frames, stride, dilation, expected", [
    ("valid", 3, 10, 1, 1, (0, 0)),
    ("causal", 3, 10, 1, 1, (2, 0)), ("causal", 3, 10, 2, 1, (2, 0)),
    ("causal", 3, 10, 1, 4, (8, 0)),
    ("same", 3, 10, 1, 1, (1, 1)), ("same", 4, 10, 1, 1, (1, 2)), ("same", 3, 10, 1, 2, (2, 2)),
    # stride > 1: total = max((ceil(T/s) - 1) * s + k - T, 0), depends on T
    ("same", 3, 7, 2, 1, (1, 1)), ("same", 3, 8, 2, 1, (0, 1)),
    ("same", 4, 7, 2, 1, (1, 2)), ("same", 4, 8, 2, 1, (1, 1)),
    ("same", 2, 10, 3, 1, (0, 1)), ("same", 2, 9, 3, 1, (0, 0)),
    ("same", 5, 1, 2, 1, (2, 2)), ("same", 1, 5, 2, 1, (0, 0)),
])
def test_keras_conv_padding(padding, kernel_size, num_frames, stride, dilation, expected):
    assert rg.keras_conv_padding(padding, kernel_size, num_frames, stride, dilation) == expected


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("stride", [1, 2, 3, 5])
def test_keras_same_gives_ceil_of_length_over_stride(kernel_size, stride):
    for num_frames in range(1, 40):
        padding = rg.keras_conv_padding("same", kernel_size, num_frames, stride)
        frames = rg.conv_output_frames(num_frames, kernel_size, stride, 1, padding)
        assert frames == -(-num_frames // stride), (num_frames, padding)


def test_conv_output_frames_is_zero_when_the_kernel_does_not_fit():
    assert rg.conv_output_frames(4, 5) == 0
    assert rg.conv_output_frames(4, 3, dilation=2) == 0
    assert rg.conv_output_frames(4, 3, dilation=2, padding=(1, 0)) == 1
    assert rg.conv1d(np.ones((2, 4, 3)), np.ones((5, 3, 5))).shape == (2, 0, 5)


# ---------------------------------------------------------------------------
# Conv1d: a grid of shapes.

def _conv_grid() -> list[tuple]:
    """(in_channels, out_channels, kernel_size, stride, dilation, groups,
    num_frames): edge cases, then a seeded sample."""
    grid = [
        (1, 1, 1, 1, 1, 1, 1), (1, 1, 3, 1, 1, 1, 1), (1, 4, 5, 1, 1, 1, 2),
        (3, 5, 3, 1, 1, 1, 17), (4, 6, 3, 2, 1, 2, 31), (8, 8, 3, 1, 2, 8, 40),
        (8, 16, 5, 2, 1, 8, 33), (6, 6, 1, 3, 1, 3, 10), (5, 7, 2, 1, 1, 1, 12),
        (5, 7, 4, 1, 3, 1, 50), (2, 3, 3, 5, 1, 1, 29), (1, 258, 256, 128, 1, 1, 1280),
        (513, 16, 3, 1, 1, 1, 20), (16, 513, 3, 2, 1, 1, 21), (513, 513, 7, 1, 1, 513, 300),
        (129, 32, 3, 2, 1, 1, 300), (32, 32, 9, 1, 4, 32, 64),
    ]
    rng = np.random.default_rng(12)
    while len(grid) < 40:
        groups_choice = rng.integers(3)
        in_channels = int(rng.choice([1, 2, 3, 7, 16, 40, 65, 128, 257, 513]))
        kernel_size = int(rng.choice([1, 2, 3, 5, 7, 11]))
        stride = int(rng.choice([1, 1, 2, 3, 4]))
        dilation = int(rng.choice([1, 1, 2, 3])) if stride == 1 else 1
        groups = [1, in_channels, 1][groups_choice]          # dense or depthwise
        if groups_choice == 2 and in_channels % 2 == 0:
            groups = 2
        out_channels = groups * int(rng.choice([1, 2, 3])) if groups > 1 else \
            int(rng.choice([1, 4, 16, 65, 129]))
        num_frames = int(rng.integers(1, 301))
        grid.append((in_channels, out_channels, kernel_size, stride, dilation, groups,
                     num_frames))
    return grid


CONV_GRID = _conv_grid()


def _conv_id(config) -> str:
    in_c, out_c, kernel, stride, dilation, groups, frames = config
    return f"c{in_c}-{out_c}_k{kernel}_s{stride}_d{dilation}_g{groups}_t{frames}"


def _conv_weights(config, seed: int = 1):
    in_channels, out_channels, kernel_size, _, _, groups, num_frames = config
    fan_in = in_channels // groups * kernel_size
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(fan_in)
    weight = rng.uniform(-bound, bound, (out_channels, in_channels // groups, kernel_size))
    bias = rng.uniform(-bound, bound, out_channels)
    x = normal((2, num_frames, in_channels), seed)
    return x, weight.astype(np.float32), bias.astype(np.float32), fan_in


def _torch_paddings(config) -> list:
    """torch padding arguments that give at least one output frame."""
    _, _, kernel_size, stride, dilation, _, num_frames = config
    paddings = ["valid", 0, 1, (kernel_size - 1) * dilation // 2]
    if stride == 1:
        paddings.append("same")
    fits = []
    for padding in paddings:
        explicit = rg.torch_conv_padding(padding, kernel_size, dilation, stride)
        if rg.conv_output_frames(num_frames, kernel_size, stride, dilation, explicit) > 0 \
                and padding not in fits:
            fits.append(padding)
    return fits


TORCH_CONV_CASES = [pytest.param(config, padding, id=f"{_conv_id(config)}_p{padding}")
                    for config in CONV_GRID for padding in _torch_paddings(config)]


EVEN_SAME_WARNING = "ignore:Using padding='same' with even kernel lengths:UserWarning"


@pytest.mark.filterwarnings(EVEN_SAME_WARNING)
@pytest.mark.parametrize("config, padding", TORCH_CONV_CASES)
def test_conv1d_against_torch(torch, config, padding):
    _, _, kernel_size, stride, dilation, groups, _ = config
    x, weight, bias, fan_in = _conv_weights(config)
    with torch.no_grad():
        got = torch.nn.functional.conv1d(torch.from_numpy(x).transpose(1, 2),
                                         torch.from_numpy(weight), torch.from_numpy(bias),
                                         stride=stride, padding=padding, dilation=dilation,
                                         groups=groups).transpose(1, 2)
    expected = rg.conv1d(x, weight, bias, stride, dilation, groups,
                         rg.torch_conv_padding(padding, kernel_size, dilation, stride))
    assert_twin(to_numpy(got), expected, fan_in, "conv1d")


@pytest.mark.filterwarnings(EVEN_SAME_WARNING)
def test_conv1d_module_same_even_kernel_pads_right(torch):
    """nn.Conv1d(padding='same') with kernel 4: one frame left, two right."""
    conv = torch.nn.Conv1d(1, 1, 4, padding="same", bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[1.0, 0.0, 0.0, 0.0]]]))   # y[t] = xp[t] = x[t - left]
    x = np.arange(1, 8, dtype=np.float32).reshape(1, 7, 1)
    got = torch_btc(torch, conv, x)
    np.testing.assert_array_equal(got[0, :, 0], [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(got, rg.conv1d(x, to_numpy(conv.weight), padding=(1, 2)))


def _keras_paddings(config) -> list[str]:
    """Keras paddings that give at least one output frame and that Keras
    accepts: no strides > 1 with dilation > 1, no "causal" for
    DepthwiseConv1D (Conv1D only)."""
    in_channels, _, kernel_size, stride, dilation, groups, num_frames = config
    if stride > 1 and dilation > 1:
        return []
    depthwise = groups == in_channels and groups > 1
    fits = []
    for padding in ("valid", "same") if depthwise else ("valid", "same", "causal"):
        explicit = rg.keras_conv_padding(padding, kernel_size, num_frames, stride, dilation)
        if rg.conv_output_frames(num_frames, kernel_size, stride, dilation, explicit) > 0:
            fits.append(padding)
    return fits


KERAS_CONV_CASES = [pytest.param(config, padding, id=f"{_conv_id(config)}_{padding}")
                    for config in CONV_GRID for padding in _keras_paddings(config)]


@pytest.mark.parametrize("config, padding", KERAS_CONV_CASES)
def test_conv1d_against_keras(keras, config, padding):
    """Conv1D(groups=...) for dense and grouped configs, DepthwiseConv1D
    (depth_multiplier = C_out / C_in) for depthwise ones."""
    from crnn_models import keras_conv_kernel, keras_depthwise_kernel
    in_channels, out_channels, kernel_size, stride, dilation, groups, num_frames = config
    x, weight, bias, fan_in = _conv_weights(config)
    options = {"strides": stride, "dilation_rate": dilation, "padding": padding}
    if groups == in_channels and groups > 1:
        layer = keras.layers.DepthwiseConv1D(kernel_size, depth_multiplier=out_channels // groups,
                                             **options)
        layer.build((None, None, in_channels))
        layer.set_weights([keras_depthwise_kernel(weight, out_channels // groups), bias])
    else:
        layer = keras.layers.Conv1D(out_channels, kernel_size, groups=groups, **options)
        layer.build((None, None, in_channels))
        layer.set_weights([keras_conv_kernel(weight), bias])
    expected = rg.conv1d(x, weight, bias, stride, dilation, groups,
                         rg.keras_conv_padding(padding, kernel_size, num_frames, stride, dilation))
    assert_twin(keras_call(keras, layer, x), expected, fan_in, f"Conv1D {padding}")


@pytest.mark.parametrize("num_frames", [1, 2, 7, 8, 29, 30])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_separable_conv1d_against_keras(keras, num_frames, padding):
    """SeparableConv1D = depthwise (no bias, depth_multiplier 2) then a 1x1
    conv with the bias."""
    from crnn_models import keras_conv_kernel, keras_depthwise_kernel
    channels, multiplier, filters, kernel_size, stride = 6, 2, 5, 3, 2
    if padding == "valid" and num_frames < kernel_size:
        num_frames = kernel_size
    rng = np.random.default_rng(num_frames)
    depthwise = rng.uniform(-0.5, 0.5, (channels * multiplier, 1, kernel_size)).astype(np.float32)
    pointwise = rng.uniform(-0.3, 0.3, (filters, channels * multiplier, 1)).astype(np.float32)
    bias = rng.uniform(-0.3, 0.3, filters).astype(np.float32)
    layer = keras.layers.SeparableConv1D(filters, kernel_size, strides=stride, padding=padding,
                                         depth_multiplier=multiplier)
    layer.build((None, None, channels))
    layer.set_weights([keras_depthwise_kernel(depthwise, multiplier),
                       keras_conv_kernel(pointwise), bias])
    x = normal((2, num_frames, channels), num_frames)
    explicit = rg.keras_conv_padding(padding, kernel_size, num_frames, stride)
    expected = rg.conv1d(rg.conv1d(x, depthwise, stride=stride, groups=channels, padding=explicit),
                         pointwise, bias)
    assert_twin(keras_call(keras, layer, x), expected, what="SeparableConv1D")


# ---------------------------------------------------------------------------
# Normalization.

@pytest.mark.parametrize("channels", [1, 7, 513])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("epsilon", [1e-5, 1e-2])
def test_batch_norm_against_torch(torch, channels, affine, epsilon):
    """Eval mode uses the running statistics; momentum changes nothing."""
    rng = np.random.default_rng(channels)
    stats = {"mean": rng.normal(0, 1, channels), "variance": rng.uniform(0.01, 3, channels),
             "weight": rng.uniform(0.5, 2, channels), "bias": rng.normal(0, 1, channels)}
    stats = {key: value.astype(np.float32) for key, value in stats.items()}
    x = normal((3, 11, channels), channels, scale=2.0)
    outputs = []
    for momentum in (0.1, 0.9):
        norm = torch.nn.BatchNorm1d(channels, eps=epsilon, momentum=momentum, affine=affine)
        with torch.no_grad():
            norm.running_mean.copy_(torch.from_numpy(stats["mean"]))
            norm.running_var.copy_(torch.from_numpy(stats["variance"]))
            if affine:
                norm.weight.copy_(torch.from_numpy(stats["weight"]))
                norm.bias.copy_(torch.from_numpy(stats["bias"]))
        outputs.append(torch_btc(torch, norm.eval(), x))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    expected = rg.batch_norm(x, stats["mean"], stats["variance"], epsilon,
                             stats["weight"] if affine else None, stats["bias"] if affine else None)
    assert_twin(outputs[0], expected, what="BatchNorm1d")


@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False),
                                           (False, False)])
@pytest.mark.parametrize("channels", [1, 16, 513])
def test_batch_norm_against_keras(keras, center, scale, channels):
    """Keras' default epsilon is 1e-3; weights are [gamma][beta] mean, var."""
    rng = np.random.default_rng(channels)
    mean, variance = rng.normal(0, 1, channels), rng.uniform(0.01, 3, channels)
    gamma, beta = rng.uniform(0.5, 2, channels), rng.normal(0, 1, channels)
    layer = keras.layers.BatchNormalization(center=center, scale=scale)
    layer.build((None, None, channels))
    layer.set_weights([a.astype(np.float32) for a in
                       [gamma] * scale + [beta] * center + [mean, variance]])
    x = normal((3, 9, channels), channels, scale=2.0)
    expected = rg.batch_norm(x, mean, variance, 1e-3, gamma if scale else None,
                             beta if center else None)
    assert_twin(keras_call(keras, layer, x), expected, what="BatchNormalization")


@pytest.mark.parametrize("groups", [1, 4])
def test_fold_batch_norm_into_conv(torch, groups):
    """conv1d then BN == the folded conv1d: in float64 to rounding, and
    against PyTorch's conv + BatchNorm1d."""
    rng = np.random.default_rng(groups)
    in_channels, out_channels, kernel_size = 8, 12, 3
    weight = rng.uniform(-0.4, 0.4, (out_channels, in_channels // groups, kernel_size))
    bias = rng.uniform(-0.4, 0.4, out_channels)
    mean, variance = rng.normal(0, 1, out_channels), rng.uniform(0.01, 3, out_channels)
    gamma, beta = rng.uniform(0.5, 2, out_channels), rng.normal(0, 1, out_channels)
    x = normal((2, 20, in_channels), groups)
    folded_weight, folded_bias = rg.fold_batch_norm(weight, bias, mean, variance, 1e-5, gamma, beta)
    unfolded = rg.batch_norm(rg.conv1d(x, weight, bias, groups=groups, padding=(1, 1)),
                             mean, variance, 1e-5, gamma, beta)
    folded = rg.conv1d(x, folded_weight, folded_bias, groups=groups, padding=(1, 1))
    np.testing.assert_allclose(folded, unfolded, rtol=0, atol=1e-12)

    conv = torch.nn.Conv1d(in_channels, out_channels, kernel_size, padding=1, groups=groups)
    norm = torch.nn.BatchNorm1d(out_channels)
    with torch.no_grad():
        for parameter, array in [(conv.weight, weight), (conv.bias, bias),
                                 (norm.running_mean, mean), (norm.running_var, variance),
                                 (norm.weight, gamma), (norm.bias, beta)]:
            parameter.copy_(torch.from_numpy(array.astype(np.float32)))
    got = torch_btc(torch, torch.nn.Sequential(conv, norm).eval(), x)
    assert_twin(got, rg.conv1d(x, folded_weight.astype(np.float32),
                               folded_bias.astype(np.float32), groups=groups, padding=(1, 1)),
                what="folded conv vs torch conv + BN")


def test_fold_batch_norm_into_dense():
    rng = np.random.default_rng(3)
    weight, bias = rng.normal(0, 0.3, (5, 7)), None
    mean, variance = rng.normal(0, 1, 5), rng.uniform(0.1, 2, 5)
    x = rng.normal(0, 1, (2, 4, 7))
    folded_weight, folded_bias = rg.fold_batch_norm(weight, bias, mean, variance, 1e-3)
    np.testing.assert_allclose(rg.dense(x, folded_weight, folded_bias),
                               rg.batch_norm(rg.dense(x, weight), mean, variance, 1e-3),
                               rtol=0, atol=1e-12)


def _small_variance_frames(channels: int, seed: int) -> np.ndarray:
    """Frames whose variance (~1e-4) is below the epsilons 1e-3 and 1e-2, so
    that epsilon's place (inside the square root) changes the result by 3x;
    their means are of the same size as their spread (a large mean would
    make float32's x - mean lose digits, a fault of neither framework)."""
    return normal((2, 13, channels), seed, scale=0.01) + normal((2, 13, 1), seed + 1, scale=0.01)


@pytest.mark.parametrize("channels", [1, 2, 65, 513])
@pytest.mark.parametrize("affine, bias", [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize("epsilon", [1e-5, 1e-2])
def test_layer_norm_against_torch(torch, channels, affine, bias, epsilon):
    rng = np.random.default_rng(channels)
    weight, shift = rng.uniform(0.5, 2, channels), rng.normal(0, 1, channels)
    norm = torch.nn.LayerNorm(channels, eps=epsilon, elementwise_affine=affine, bias=bias)
    if affine:
        with torch.no_grad():
            norm.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
            if bias:
                norm.bias.copy_(torch.from_numpy(shift.astype(np.float32)))
    for x in (normal((2, 13, channels), channels, scale=3.0),
              _small_variance_frames(channels, channels)):
        with torch.no_grad():
            got = to_numpy(norm(torch.from_numpy(x)))
        expected = rg.layer_norm(x, epsilon, weight.astype(np.float32) if affine else None,
                                 shift.astype(np.float32) if affine and bias else None)
        assert_twin(got, expected, what="LayerNorm")


@pytest.mark.parametrize("channels", [1, 2, 65, 513])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False),
                                           (False, False)])
@pytest.mark.parametrize("epsilon", [None, 1e-2])
def test_layer_norm_against_keras(keras, channels, center, scale, epsilon):
    """Default epsilon 1e-3, inside the square root; weights [gamma][beta]."""
    rng = np.random.default_rng(channels)
    gamma = rng.uniform(0.5, 2, channels).astype(np.float32)
    beta = rng.normal(0, 1, channels).astype(np.float32)
    options = {} if epsilon is None else {"epsilon": epsilon}
    layer = keras.layers.LayerNormalization(center=center, scale=scale, **options)
    layer.build((None, None, channels))
    layer.set_weights([gamma] * scale + [beta] * center)
    for x in (normal((2, 13, channels), channels, scale=3.0),
              _small_variance_frames(channels, channels)):
        expected = rg.layer_norm(x, 1e-3 if epsilon is None else epsilon,
                                 gamma if scale else None, beta if center else None)
        assert_twin(keras_call(keras, layer, x), expected, what="LayerNormalization")


@pytest.mark.parametrize("num_groups, channels, num_frames", [
    (1, 1, 5), (1, 8, 1), (1, 8, 64), (2, 8, 1), (2, 8, 5), (8, 8, 5), (8, 8, 64), (1, 129, 3),
    (3, 129, 64)])
def test_group_norm_against_torch(torch, num_groups, channels, num_frames):
    """Groups of one value (variance 0, e.g. GroupNorm(C, C) over one
    frame) are left out: their output is the bias, and torch's float32
    x * scale + shift form loses |x| / sqrt(epsilon) ulps there."""
    rng = np.random.default_rng(channels + num_frames)
    weight = rng.uniform(0.5, 2, channels).astype(np.float32)
    bias = rng.normal(0, 1, channels).astype(np.float32)
    norm = torch.nn.GroupNorm(num_groups, channels)
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(weight))
        norm.bias.copy_(torch.from_numpy(bias))
    x = normal((3, num_frames, channels), channels, scale=2.0) + normal((3, 1, 1), 1)
    assert_twin(torch_btc(torch, norm, x), rg.group_norm(x, num_groups, 1e-5, weight, bias),
                what="GroupNorm")


def test_group_norm_against_keras_group_normalization(keras):
    """Keras' GroupNormalization(groups=1) on (B, T, C) computes the same
    (over T and C jointly), with epsilon 1e-3."""
    rng = np.random.default_rng(4)
    gamma, beta = rng.uniform(0.5, 2, 8).astype(np.float32), rng.normal(0, 1, 8).astype(np.float32)
    layer = keras.layers.GroupNormalization(groups=1)
    layer.build((None, None, 8))
    layer.set_weights([gamma, beta])
    x = normal((2, 17, 8), 5, scale=2.0)
    assert_twin(keras_call(keras, layer, x), rg.group_norm(x, 1, 1e-3, gamma, beta),
                what="GroupNormalization")


def test_group_norm_of_one_group_is_not_causal_nor_layer_norm():
    """GroupNorm(1, C) over (C, T): frame 0's output changes when later
    frames change (a stream cannot compute it), and it is LayerNorm only
    for one frame."""
    x = normal((1, 10, 6), 7)
    later_changed = x.copy()
    later_changed[:, 5:] *= 3.0
    assert not np.allclose(rg.group_norm(x, 1, 1e-5)[:, 0],
                           rg.group_norm(later_changed, 1, 1e-5)[:, 0])
    assert not np.allclose(rg.group_norm(x, 1, 1e-5), rg.layer_norm(x, 1e-5))
    np.testing.assert_allclose(rg.group_norm(x[:, :1], 1, 1e-5), rg.layer_norm(x[:, :1], 1e-5),
                               rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------
# Activations.

def activation_inputs(channels: int = 8) -> np.ndarray:
    """(2, T, C): a sweep of [-20, 20] (the saturated ends, 0 and both
    kinks) plus normal values."""
    sweep = np.linspace(-20, 20, 2 * 41 * channels, dtype=np.float32).reshape(2, 41, channels)
    return np.concatenate([sweep, normal((2, 16, channels), 3, scale=3.0)], axis=1)


def torch_activations(torch) -> dict:
    """name -> (torch callable on (B, T, C), twin)."""
    nn = torch.nn
    return {
        "relu": (nn.ReLU(), rg.relu),
        "relu6": (nn.ReLU6(), lambda x: rg.keras_relu(x, max_value=6.0)),
        "leaky_relu_default": (nn.LeakyReLU(), lambda x: rg.leaky_relu(x, 0.01)),
        "leaky_relu_0.2": (nn.LeakyReLU(0.2), lambda x: rg.leaky_relu(x, 0.2)),
        "elu": (nn.ELU(), rg.elu),
        "elu_0.3": (nn.ELU(alpha=0.3), lambda x: rg.elu(x, 0.3)),
        "selu": (nn.SELU(), rg.selu),
        "gelu": (nn.GELU(), rg.gelu),
        "gelu_tanh": (nn.GELU(approximate="tanh"), rg.gelu_tanh),
        "silu": (nn.SiLU(), rg.silu),
        "tanh": (torch.tanh, rg.tanh),
        "sigmoid": (torch.sigmoid, rg.sigmoid),
        "hardsigmoid": (nn.Hardsigmoid(), rg.hard_sigmoid),
        "softplus": (nn.Softplus(), rg.softplus),
        "softplus_2_5": (nn.Softplus(beta=2.0, threshold=5.0),
                         lambda x: rg.softplus(x, beta=2.0, threshold=5.0)),
        "softmax": (nn.Softmax(dim=-1), rg.softmax),
        "log_softmax": (nn.LogSoftmax(dim=-1), rg.log_softmax),
    }


TORCH_ACTIVATION_NAMES = ["relu", "relu6", "leaky_relu_default", "leaky_relu_0.2", "elu", "elu_0.3",
                          "selu", "gelu", "gelu_tanh", "silu", "tanh", "sigmoid", "hardsigmoid",
                          "softplus", "softplus_2_5", "softmax", "log_softmax"]


@pytest.mark.parametrize("name", TORCH_ACTIVATION_NAMES)
def test_activation_against_torch(torch, name):
    function, twin = torch_activations(torch)[name]
    x = activation_inputs()
    with torch.no_grad():
        got = to_numpy(function(torch.from_numpy(x)))
    assert_twin(got, twin(x), what=name)


@pytest.mark.parametrize("num_parameters", [1, 8])
def test_prelu_against_torch(torch, num_parameters):
    """PReLU's channels are dimension 1: it runs on (B, C, T)."""
    alpha = np.linspace(-0.5, 0.7, num_parameters, dtype=np.float32)
    prelu = torch.nn.PReLU(num_parameters)
    with torch.no_grad():
        prelu.weight.copy_(torch.from_numpy(alpha))
    x = activation_inputs()
    assert_twin(torch_btc(torch, prelu, x), rg.prelu(x, alpha), what="PReLU")


def keras_activations(keras) -> dict:
    """name -> (Keras layer, twin). Activation(name) uses the activation
    functions' defaults (leaky_relu 0.2, gelu exact), layers their own
    (LeakyReLU 0.3)."""
    layers = keras.layers
    return {
        "relu": (layers.Activation("relu"), rg.relu),
        "ReLU": (layers.ReLU(), rg.relu),
        "ReLU_options": (layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
                         lambda x: rg.keras_relu(x, 6.0, 0.1, 0.5)),
        "relu6": (layers.Activation("relu6"), lambda x: rg.keras_relu(x, max_value=6.0)),
        "LeakyReLU": (layers.LeakyReLU(), lambda x: rg.leaky_relu(x, 0.3)),
        "leaky_relu": (layers.Activation("leaky_relu"), lambda x: rg.leaky_relu(x, 0.2)),
        "ELU": (layers.ELU(alpha=0.3), lambda x: rg.elu(x, 0.3)),
        "elu": (layers.Activation("elu"), rg.elu),
        "selu": (layers.Activation("selu"), rg.selu),
        "gelu": (layers.Activation("gelu"), rg.gelu),
        "ops.gelu": (keras.ops.gelu, rg.gelu_tanh),       # the op's default: approximate=True
        "silu": (layers.Activation("silu"), rg.silu),
        "swish": (layers.Activation("swish"), rg.silu),
        "tanh": (layers.Activation("tanh"), rg.tanh),
        "sigmoid": (layers.Activation("sigmoid"), rg.sigmoid),
        "hard_sigmoid": (layers.Activation("hard_sigmoid"), rg.hard_sigmoid),
        "softplus": (layers.Activation("softplus"), rg.softplus),
        "softmax": (layers.Activation("softmax"), rg.softmax),
        "Softmax": (layers.Softmax(), rg.softmax),
        "log_softmax": (layers.Activation("log_softmax"), rg.log_softmax),
    }


KERAS_ACTIVATION_NAMES = ["relu", "ReLU", "ReLU_options", "relu6", "LeakyReLU", "leaky_relu",
                          "ELU", "elu", "selu", "gelu", "ops.gelu", "silu", "swish", "tanh",
                          "sigmoid", "hard_sigmoid", "softplus", "softmax", "Softmax",
                          "log_softmax"]


@pytest.mark.parametrize("name", KERAS_ACTIVATION_NAMES)
def test_activation_against_keras(keras, name):
    layer, twin = keras_activations(keras)[name]
    x = activation_inputs()
    assert_twin(keras_call(keras, layer, x), twin(x), what=name)


def test_prelu_against_keras(keras):
    """PReLU(shared_axes=[1]): alpha (1, C), one per channel for any T."""
    alpha = np.linspace(-0.5, 0.7, 8, dtype=np.float32)
    layer = keras.layers.PReLU(shared_axes=[1])
    layer.build((None, None, 8))
    layer.set_weights([alpha[np.newaxis]])
    x = activation_inputs()
    assert_twin(keras_call(keras, layer, x), rg.prelu(x, alpha), what="PReLU")


def test_hard_sigmoid_against_onnx_runtime():
    """ONNX HardSigmoid: alpha 0.2, beta 0.5 by default (not torch's 1/6)."""
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install fastrnn[onnx])")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("HardSigmoid", ["x"], ["default"]),
         helper.make_node("HardSigmoid", ["x"], ["custom"], alpha=1 / 6, beta=0.5)], "hard",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
         for name in ("default", "custom")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = activation_inputs()
    default, custom = session.run(None, {"x": x})
    assert_twin(default, rg.hard_sigmoid(x, 0.2, 0.5), what="ONNX HardSigmoid")
    assert_twin(custom, rg.hard_sigmoid(x), what="ONNX HardSigmoid alpha 1/6")


# ---------------------------------------------------------------------------
# Elementwise, concatenation, split, slicing.

@pytest.mark.parametrize("operation", ["add", "subtract", "multiply"])
def test_elementwise_against_torch(torch, operation):
    """Two tensors, and a tensor with a per-feature vector (a Parameter)."""
    a, b, vector = normal((2, 9, 5), 1), normal((2, 9, 5), 2), normal((5,), 3)
    symbol = {"add": torch.add, "subtract": torch.sub, "multiply": torch.mul}[operation]
    twin = getattr(rg, operation)
    for right in (b, vector):
        got = to_numpy(symbol(torch.from_numpy(a), torch.from_numpy(right)))
        assert_twin(got, twin(a, right), what=operation)


@pytest.mark.parametrize("operation", ["Add", "Subtract", "Multiply"])
def test_elementwise_against_keras(keras, operation):
    a, b = normal((2, 9, 5), 1), normal((2, 9, 5), 2)
    twin = {"Add": rg.add, "Subtract": rg.subtract, "Multiply": rg.multiply}[operation]
    assert_twin(keras_call(keras, getattr(keras.layers, operation)(), [a, b]), twin(a, b),
                what=operation)


def test_concat_split_slice_against_torch(torch):
    parts = [normal((2, 7, size), size) for size in (1, 4, 65)]
    joined = to_numpy(torch.cat([torch.from_numpy(part) for part in parts], dim=-1))
    np.testing.assert_array_equal(joined, rg.concat(parts))
    for got, expected in zip(torch.split(torch.from_numpy(joined), [1, 4, 65], dim=-1),
                             rg.split(joined, [1, 4, 65])):
        np.testing.assert_array_equal(to_numpy(got), expected)
    for start, stop in [(0, 1), (3, 10), (-5, None), (60, 100), (2, -2)]:
        np.testing.assert_array_equal(to_numpy(torch.from_numpy(joined)[..., start:stop]),
                                      rg.feature_slice(joined, start, stop))


def test_concatenate_against_keras(keras):
    parts = [normal((2, 7, size), size) for size in (3, 1, 8)]
    got = keras_call(keras, keras.layers.Concatenate(), parts)
    np.testing.assert_array_equal(got, rg.concat(parts))


# ---------------------------------------------------------------------------
# Pooling over time.

def _pool_grid() -> list[tuple]:
    """(kernel_size, stride, padding, ceil_mode, num_frames), torch's rule
    padding <= kernel_size // 2."""
    grid = [(1, 1, 0, False, 1), (2, 2, 0, False, 7), (2, 2, 0, True, 7), (3, 2, 1, True, 7),
            (4, 3, 1, True, 7), (2, 3, 1, True, 7), (3, 1, 1, False, 1), (5, 5, 2, True, 12),
            (3, 2, 1, False, 300), (7, 3, 3, True, 101)]
    rng = np.random.default_rng(5)
    while len(grid) < 24:
        kernel_size = int(rng.integers(1, 8))
        stride = int(rng.integers(1, 6))
        padding = int(rng.integers(0, kernel_size // 2 + 1))
        num_frames = int(rng.integers(max(1, kernel_size - 2 * padding), 301))
        grid.append((kernel_size, stride, padding, bool(rng.integers(2)), num_frames))
    return grid


@pytest.mark.parametrize("kernel_size, stride, padding, ceil_mode, num_frames", _pool_grid())
def test_pooling_against_torch(torch, kernel_size, stride, padding, ceil_mode, num_frames):
    x = normal((2, num_frames, 6), num_frames)
    options = {"stride": stride, "padding": padding, "ceil_mode": ceil_mode}
    explicit = (padding, padding)
    assert_twin(torch_btc(torch, torch.nn.MaxPool1d(kernel_size, **options), x),
                rg.max_pool(x, kernel_size, stride, explicit, ceil_mode), what="MaxPool1d")
    for count_include_pad in (True, False):
        pool = torch.nn.AvgPool1d(kernel_size, count_include_pad=count_include_pad, **options)
        assert_twin(torch_btc(torch, pool, x),
                    rg.avg_pool(x, kernel_size, stride, explicit, count_include_pad, ceil_mode),
                    what=f"AvgPool1d count_include_pad={count_include_pad}")


def test_pooling_stride_defaults_to_kernel(torch):
    x = normal((1, 10, 2), 1)
    assert_twin(torch_btc(torch, torch.nn.MaxPool1d(3), x), rg.max_pool(x, 3), what="MaxPool1d")
    assert_twin(torch_btc(torch, torch.nn.AvgPool1d(3), x), rg.avg_pool(x, 3), what="AvgPool1d")


@pytest.mark.parametrize("pool_size, strides", [(1, 1), (2, None), (3, 1), (3, 2), (4, 1),
                                                (4, 3), (2, 3), (5, 2)])
@pytest.mark.parametrize("num_frames", [1, 6, 7, 31, 300])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_against_keras(keras, pool_size, strides, num_frames, padding):
    if padding == "valid" and num_frames < pool_size:
        num_frames = pool_size
    x = normal((2, num_frames, 5), num_frames)
    options = {"strides": strides, "padding": padding}
    step = pool_size if strides is None else strides
    explicit = rg.keras_pool_padding(padding, pool_size, num_frames, step)
    assert_twin(keras_call(keras, keras.layers.MaxPooling1D(pool_size, **options), x),
                rg.max_pool(x, pool_size, step, explicit), what="MaxPooling1D")
    assert_twin(keras_call(keras, keras.layers.AveragePooling1D(pool_size, **options), x),
                rg.keras_avg_pool(x, pool_size, strides, padding), what="AveragePooling1D")


def test_keras_torch_backend_avg_pool_same_counts_repeated_edges(keras):
    """Asymmetric "same": the torch backend repeats edge frames and counts
    them, where TensorFlow/JAX exclude the padding; symmetric: both exclude."""
    x = np.arange(1, 8, dtype=np.float32).reshape(1, 7, 1)
    asymmetric = keras_call(keras, keras.layers.AveragePooling1D(4, 1, padding="same"), x)
    np.testing.assert_allclose(asymmetric[0, :, 0], [1.75, 2.5, 3.5, 4.5, 5.5, 6.25, 6.75])
    excluded = rg.keras_avg_pool(x, 4, 1, "same", backend="tensorflow")
    np.testing.assert_allclose(excluded[0, :, 0], [2, 2.5, 3.5, 4.5, 5.5, 6, 6.5])
    symmetric = keras_call(keras, keras.layers.AveragePooling1D(3, 1, padding="same"), x)
    np.testing.assert_allclose(symmetric[0, :, 0], [1.5, 2, 3, 4, 5, 6, 6.5])


@pytest.mark.parametrize("num_frames", [1, 2, 50, 300])
def test_global_pooling_against_torch_and_keras(torch, keras, num_frames):
    x = normal((3, num_frames, 7), num_frames)
    tensor = torch.from_numpy(x)
    assert_twin(to_numpy(tensor.mean(dim=1)), rg.global_avg_pool(x), what="mean")
    assert_twin(to_numpy(tensor.amax(dim=1)), rg.global_max_pool(x), what="amax")
    assert_twin(keras_call(keras, keras.layers.GlobalAveragePooling1D(), x),
                rg.global_avg_pool(x), what="GlobalAveragePooling1D")
    assert_twin(keras_call(keras, keras.layers.GlobalMaxPooling1D(), x),
                rg.global_max_pool(x), what="GlobalMaxPooling1D")


# ---------------------------------------------------------------------------
# The CRNN family.

needs_crnn_models = pytest.mark.skipif(crnn_models is None,
                                       reason="PyTorch is not installed: no CRNN models")
CRNN_NAMES = list(crnn_models.CASES) if crnn_models else ["none"]


def crnn_inputs(case, num_frames: int) -> np.ndarray:
    """(2, T, C); raw samples (the VAD's) at a tenth of full scale."""
    scale = 0.1 if case.name == "vad" else 1.0
    return normal((2, num_frames, case.input_size), num_frames, scale)


def assert_outputs(got, expected, what: str) -> None:
    assert len(got) == len(expected), f"{what}: {len(got)} outputs, expected {len(expected)}"
    for k, (output, twin) in enumerate(zip(got, expected)):
        assert_twin(output, twin, what=f"{what} output {k}")


@needs_crnn_models
@pytest.mark.filterwarnings(EVEN_SAME_WARNING)            # same_gated's kernel 4
@pytest.mark.parametrize("name", CRNN_NAMES)
def test_crnn_torch_against_twin(name):
    case = crnn_models.CASES[name]()
    module = case.torch_module(case.weights)
    for num_frames in case.lengths:
        x = crnn_inputs(case, num_frames)
        assert_outputs(case.torch_outputs(module, x), case.reference(x, case.weights, "torch"),
                       f"{name} (torch, T={num_frames})")


@needs_crnn_models
@pytest.mark.parametrize("name", CRNN_NAMES)
def test_crnn_keras_against_twin(keras, name):
    case = crnn_models.CASES[name]()
    if case.keras_model is None:
        pytest.skip(f"{name}: no Keras model: {case.keras_missing}")
    model = case.keras_model(keras, case.weights)
    for num_frames in case.lengths:
        x = crnn_inputs(case, num_frames)
        assert_outputs(crnn_models.keras_outputs(model, x),
                       case.reference(x, case.weights, "keras"), f"{name} (keras, T={num_frames})")


@needs_crnn_models
@pytest.mark.parametrize("name, length_index", [("vad", 1), ("pooled", 0)])
def test_crnn_framework_rules_matter(name, length_index):
    """Where the frameworks' padding rules differ (VAD: strided "same" over
    an even number of STFT frames, its lengths[1]; pooled: count_include_pad
    vs repeated edges, at either length), the two
    twins differ by far more than the tolerance: the tests above tell them
    apart."""
    case = crnn_models.CASES[name]()
    x = crnn_inputs(case, case.lengths[length_index])
    torch_twin = case.reference(x, case.weights, "torch")[0]
    keras_twin = case.reference(x, case.weights, "keras")[0]
    assert np.max(np.abs(torch_twin - keras_twin)) > 100 * TOLERANCE["float32"]


@needs_crnn_models
def test_vad_with_a_given_state(torch):
    """forward(x, state): the state goes in as (1, B, H) and comes out
    updated, equal to the twin's from the same start."""
    case = crnn_models.vad_case()
    module = case.torch_module(case.weights)
    x = crnn_inputs(case, case.lengths[0])
    hidden_size = case.weights["lstm_weight_hh"].shape[1]
    h0, c0 = normal((2, hidden_size), 1, 0.5), normal((2, hidden_size), 2, 0.5)
    with torch.no_grad():
        prob, (h, c) = module(torch.from_numpy(x), (torch.from_numpy(h0[None]),
                                                    torch.from_numpy(c0[None])))
    paddings = ((1, 1), (1, 1))
    expected_prob, (expected_h, expected_c) = rg.vad_forward(
        x, case.weights, crnn_models.VAD_HOP, (1, 2), paddings, state=(h0, c0))
    assert_outputs((to_numpy(prob), to_numpy(h)[0], to_numpy(c)[0]),
                   (expected_prob, expected_h, expected_c), "vad with state")
