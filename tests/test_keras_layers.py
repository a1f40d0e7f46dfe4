"""fastrnn.from_keras layer by layer, against Keras 3 (torch backend): a
sampled grid of one-layer models (odd and even kernels, strides, dilations,
groups, every padding, channels 1..513, lengths 1..300), one Keras model per
parameter set, each run at two lengths; and the layers and options refused.

Bound: as test_keras_graph's, TOLERANCE["float32"] x max(1, max |expected|)
x max(1, sqrt(fan_in / 1024)), fan_in the layer's longest sum of products.
"""

import numpy as np
import pytest
from test_keras_graph import assert_keras_close

import fastrnn


def randomized(kmodel, seed: int):
    """Random weights everywhere (Keras initialises biases and batch
    statistics to constants, which would hide their handling); variances
    positive."""
    rng = np.random.default_rng(seed)
    for layer in kmodel.layers:
        arrays = []
        for variable in layer.weights:
            shape = tuple(variable.shape)
            arrays.append(rng.uniform(0.3, 2.0, shape) if "variance" in variable.path
                          else rng.uniform(-1.0, 1.0, shape) / np.sqrt(max(shape[:-1] or (1,))))
        layer.set_weights([a.astype(np.float32) for a in arrays])
    return kmodel


def check_against_keras(keras, features, build, lengths, fan_in=1, seed=0, inputs=1):
    """Build Input((None, features)) -> build(layers, x), import it, compare
    at each length; returns the fastrnn model."""
    L = keras.layers
    tensors = [keras.Input((None, features)) for _ in range(inputs)]
    kmodel = randomized(keras.Model(tensors if inputs > 1 else tensors[0], build(L, *tensors)),
                        seed)
    model = fastrnn.from_keras(kmodel)
    rng = np.random.default_rng(seed)
    for length in lengths:
        x = [(rng.standard_normal((2, length, features)) * 2).astype(np.float32)
             for _ in range(inputs)]
        expected = np.asarray(keras.ops.convert_to_numpy(kmodel(x if inputs > 1 else x[0])))
        assert_keras_close(model.predict(x if inputs > 1 else x[0]), expected, fan_in,
                           f"T={length}")
    return model


def left_padding_moves(kernel, stride, dilation):
    """Keras' strided "same" pads left by an amount that changes with the
    sequence's length (FRAMEWORK_NOTES.md): such a layer needs whole sequences."""
    span = (kernel - 1) * dilation + 1
    lefts = {max(span - (stride if phase == 0 else phase), 0) // 2 for phase in range(stride)}
    return stride > 1 and len(lefts) > 1


CONVS = [  # kernel, strides, dilation, groups, padding, channels, filters, lengths
    (1, 1, 1, 1, "valid", 1, 1, (1, 2)), (3, 1, 1, 1, "valid", 5, 7, (3, 20)),
    (3, 1, 1, 1, "same", 5, 7, (1, 20)), (4, 1, 1, 1, "same", 3, 4, (9, 10)),
    (2, 1, 1, 1, "same", 2, 3, (1, 6)), (3, 2, 1, 1, "same", 5, 6, (20, 21)),
    (4, 2, 1, 1, "same", 3, 5, (16, 17)), (5, 3, 1, 1, "same", 4, 4, (30, 31)),
    (2, 3, 1, 1, "same", 3, 2, (1, 17)), (3, 1, 2, 1, "causal", 4, 6, (1, 17)),
    (3, 2, 1, 1, "causal", 6, 6, (12, 13)), (5, 4, 1, 1, "causal", 3, 8, (2, 33)),
    (7, 1, 3, 1, "valid", 2, 3, (19, 40)), (5, 1, 2, 1, "same", 8, 8, (7, 64)),
    (3, 1, 1, 3, "same", 6, 9, (11, 12)), (5, 1, 1, 2, "causal", 4, 6, (5, 25)),
    (3, 2, 1, 4, "valid", 8, 4, (9, 10)), (3, 1, 1, 33, "causal", 33, 33, (61, 62)),
    (11, 1, 1, 1, "same", 129, 17, (300, 299)), (3, 1, 1, 1, "valid", 513, 8, (12, 13)),
    (2, 4, 1, 1, "valid", 1, 513, (9, 300)), (64, 32, 1, 1, "valid", 1, 20, (64, 290)),
]


@pytest.mark.parametrize("kernel, strides, dilation, groups, padding, channels, filters, lengths",
                         CONVS)
def test_conv1d(keras, kernel, strides, dilation, groups, padding, channels, filters, lengths):
    model = check_against_keras(
        keras, channels, lambda L, x: L.Conv1D(filters, kernel, strides=strides,
                                               dilation_rate=dilation, groups=groups,
                                               padding=padding)(x),
        lengths, kernel * channels // groups)
    moves = padding == "same" and left_padding_moves(kernel, strides, dilation)
    assert model.needs_sequences == moves
    if moves:
        with pytest.raises(ValueError, match="needs whole sequences"):
            model.stream()


@pytest.mark.parametrize("kernel, strides, padding, activation", [
    (3, 1, "same", "relu"), (4, 2, "valid", "tanh"), (5, 1, "causal", "gelu")])
def test_conv1d_channels_first_between_permutes(keras, kernel, strides, padding, activation):
    """A port of PyTorch code: (B, T, C) -> Permute -> channels_first convs -> Permute."""
    def build(L, x):
        y = L.Permute((2, 1))(x)
        y = L.Conv1D(6, kernel, strides=strides, padding=padding, activation=activation,
                     data_format="channels_first")(y)
        y = L.Conv1D(5, 1, data_format="channels_first")(y)
        return L.Permute((2, 1))(y)
    check_against_keras(keras, 4, build, (13, 14), 4 * kernel)


DEPTHWISE = [  # kernel, strides, dilation, padding, channels, depth_multiplier, lengths
    (3, 1, 1, "same", 5, 1, (1, 12)), (3, 2, 1, "same", 4, 2, (15, 16)),
    (5, 1, 2, "valid", 3, 3, (9, 30)), (1, 1, 1, "valid", 1, 4, (1, 5)),
    (4, 1, 1, "same", 513, 1, (7, 8)),
]


@pytest.mark.parametrize("kernel, strides, dilation, padding, channels, multiplier, lengths",
                         DEPTHWISE)
def test_depthwise_conv1d(keras, kernel, strides, dilation, padding, channels, multiplier,
                          lengths):
    check_against_keras(keras, channels, lambda L, x: L.DepthwiseConv1D(
        kernel, strides=strides, dilation_rate=dilation, padding=padding,
        depth_multiplier=multiplier, activation="relu")(x), lengths, kernel)


@pytest.mark.parametrize("kernel, strides, dilation, padding, channels, multiplier, filters", [
    (3, 1, 1, "same", 4, 2, 6), (3, 2, 1, "valid", 5, 1, 3), (4, 1, 2, "same", 3, 2, 5),
    (1, 1, 1, "valid", 1, 1, 1)])
def test_separable_conv1d(keras, kernel, strides, dilation, padding, channels, multiplier,
                          filters):
    check_against_keras(keras, channels, lambda L, x: L.SeparableConv1D(
        filters, kernel, strides=strides, dilation_rate=dilation, padding=padding,
        depth_multiplier=multiplier, activation="sigmoid")(x), (10, 23),
        channels * multiplier)


POOLS = [  # layer, pool_size, strides, padding, lengths
    ("MaxPooling1D", 2, None, "valid", (2, 21)), ("AveragePooling1D", 2, None, "valid", (2, 21)),
    ("MaxPooling1D", 3, 1, "same", (1, 10)), ("AveragePooling1D", 3, 1, "same", (1, 10)),
    ("AveragePooling1D", 4, 1, "same", (1, 9)), ("MaxPooling1D", 3, 2, "same", (16, 17)),
    ("AveragePooling1D", 2, 2, "same", (16, 17)), ("MaxPooling1D", 5, 3, "same", (1, 31)),
    ("AveragePooling1D", 3, 3, "valid", (3, 300)),
    # Keras' torch backend averages these "same" pools two ways by length
    # (even padding: the real frames; uneven: repeated edges over the kernel).
    ("AveragePooling1D", 4, 3, "same", (15, 16, 17)), ("AveragePooling1D", 3, 2, "same", (16, 17)),
    ("AveragePooling1D", 4, 2, "same", (16, 17)),
]


@pytest.mark.parametrize("layer, pool_size, strides, padding, lengths", POOLS)
def test_pooling1d(keras, layer, pool_size, strides, padding, lengths):
    """Averages follow Keras' torch backend: an even "same" padding is left
    out of the count, an uneven one repeats the edge frames (pool 4, stride 1;
    pool 2, stride 2 pads (0, 1) or nothing)."""
    check_against_keras(keras, 6, lambda L, x: getattr(L, layer)(
        pool_size, strides=strides, padding=padding)(L.Dense(6)(x)), lengths, 6)


@pytest.mark.parametrize("layer", ["GlobalAveragePooling1D", "GlobalMaxPooling1D"])
def test_global_pooling_then_softmax(keras, layer):
    check_against_keras(keras, 7, lambda L, x: L.Softmax()(L.Dense(3)(
        getattr(L, layer)()(L.Conv1D(5, 3, activation="relu")(x)))), (3, 40), 21)


@pytest.mark.parametrize("channels", [1, 7, 513])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False),
                                           (False, False)])
def test_normalizations(keras, channels, center, scale):
    """BatchNormalization after a conv (folded into it) and after an
    activation (an affine layer); LayerNormalization, eps 1e-3."""
    def build(L, x):
        y = L.BatchNormalization(center=center, scale=scale)(L.Conv1D(channels, 3)(x))
        y = L.BatchNormalization(center=center, scale=scale, epsilon=0.01)(L.ReLU()(y))
        return L.LayerNormalization(center=center, scale=scale)(y)
    check_against_keras(keras, 4, build, (3, 16), channels)


ACTIVATION_NAMES = ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu",
                    "swish", "tanh", "sigmoid", "hard_sigmoid", "softplus", "softmax",
                    "log_softmax", "exponential"]


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activations(keras, name):
    """As an Activation layer and as a Conv1D's activation (a Dense's when it
    has one fused)."""
    check_against_keras(keras, 5, lambda L, x: L.Activation(name)(
        L.Conv1D(6, 2, activation=name, padding="causal")(x)), (1, 30), 10)


@pytest.mark.parametrize("layer", [
    lambda L: L.ReLU(), lambda L: L.ReLU(max_value=6.0), lambda L: L.ReLU(max_value=0.7),
    lambda L: L.ReLU(negative_slope=0.1), lambda L: L.ReLU(negative_slope=0.2, max_value=2.0),
    lambda L: L.LeakyReLU(), lambda L: L.LeakyReLU(negative_slope=0.01),
    lambda L: L.ELU(alpha=0.5), lambda L: L.Softmax(), lambda L: L.Softmax(axis=2),
    lambda L: L.PReLU(shared_axes=[1]), lambda L: L.PReLU(shared_axes=[1, 2]),
], ids=["relu", "relu6", "relu_max", "relu_slope", "relu_slope_max", "leaky", "leaky_torch",
        "elu", "softmax", "softmax_axis2", "prelu", "prelu_one"])
def test_activation_layers(keras, layer):
    check_against_keras(keras, 6, lambda L, x: layer(L)(L.Dense(6)(x)), (1, 25), 6)


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Maximum", "Minimum",
                                   "Average", "Concatenate"])
def test_merges(keras, merge):
    """Of two or three branches of different delays (a valid conv and a
    causal one), and of two model inputs."""
    def build(L, x, z):
        branches = [L.Conv1D(4, 3, padding="causal")(x), L.Conv1D(4, 3, padding="same")(x),
                    L.Dense(4)(z)]
        return getattr(L, merge)()(branches[:2] if merge == "Subtract" else branches)
    model = check_against_keras(keras, 3, build, (1, 18), 9, inputs=2)
    assert len(model.input_names) == 2


def test_relabelling_permute_and_reshape(keras):
    check_against_keras(keras, 5, lambda L, x: L.Reshape((-1, 4))(L.Permute((2, 1))(
        L.Reshape((4, -1))(L.Permute((2, 1))(L.Dense(4)(x))))), (1, 12), 5)


def test_reshape_to_a_known_length(keras):
    """With a fixed-length Input, Reshape((T, C)) names the length it has."""
    L = keras.layers
    x = keras.Input((12, 5))
    kmodel = randomized(keras.Model(x, L.Dense(3)(L.Reshape((12, 5))(x))), 1)
    data = np.random.default_rng(2).standard_normal((2, 12, 5)).astype(np.float32)
    assert_keras_close(fastrnn.from_keras(kmodel).predict(data),
                       keras.ops.convert_to_numpy(kmodel(data)), 5, "Reshape((12, 5))")
    with pytest.raises(NotImplementedError, match="target_shape"):
        fastrnn.from_keras(keras.Model(x, L.Reshape((6, 10))(x)))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_states_inside_graphs(keras, kind):
    """return_state=True inside a graph: the states are the stream's state;
    a last-step h feeds the layers after it as the output it equals."""
    L = keras.layers
    x = keras.Input((None, 4))
    sequence, h, *_ = getattr(L, kind)(6, return_sequences=True, return_state=True,
                                       name="rnn")(L.Conv1D(5, 3, padding="causal")(x))
    last, last_h, *_ = getattr(L, kind)(3, return_state=True, name="summary")(sequence)
    kmodel = randomized(keras.Model(x, [L.Dense(2, name="head")(sequence), h,
                                        L.Add(name="sum")([last, last_h])]), 3)
    model = fastrnn.from_keras(kmodel)
    assert model.output_names == ["head", "sum"]
    data = np.random.default_rng(4).standard_normal((2, 15, 4)).astype(np.float32)
    head, rnn_h, total = (keras.ops.convert_to_numpy(t) for t in kmodel(data))
    (got_head, got_sum), state = model.predict(data, return_state=True)
    assert_keras_close(got_head, head, 6, "head")
    assert_keras_close(got_sum, total, 6, "sum")
    assert_keras_close(state["rnn.h"], rnn_h, 6, "rnn.h")


def test_bidirectional_in_a_graph(keras):
    check_against_keras(keras, 4, lambda L, x: L.Concatenate()([
        L.Bidirectional(L.GRU(5, return_sequences=True), merge_mode="ave")(x),
        L.Conv1D(3, 3, padding="same")(x)]), (1, 14), 12)


# --- refused ------------------------------------------------------------------

REFUSED = [  # build, message[, the input's length]
    (lambda L, x: L.ReLU(threshold=0.5)(x), "thresholded ReLU"),
    (lambda L, x: L.LayerNormalization(rms_scaling=True)(x), "rms_scaling"),
    # Keras builds these with a known length only (the channels after the Permute).
    (lambda L, x: L.Conv1D(3, 2)(L.Permute((2, 1))(x)), "channels_last.*channels, time", 10),
    (lambda L, x: L.Dense(3)(L.Permute((2, 1))(x)), "would mix frames", 10),
    (lambda L, x: L.Permute((2, 1))(L.Dense(3)(x)), "end the model with a Permute"),
    (lambda L, x: L.Softmax(axis=1)(x), "softmax over axis"),
    (lambda L, x: L.Reshape((-1, 2))(L.Dense(4)(x)), "target_shape"),
    (lambda L, x: L.Reshape((-1,))(L.Dense(4)(x)), r"target_shape \[-1\] moves"),
    (lambda L, x: L.GlobalAveragePooling1D(keepdims=True)(x), "keepdims"),
    (lambda L, x: L.Concatenate()(L.LSTM(3, return_state=True)(x)[1:]), "reads the state 'c'"),
    (lambda L, x: L.GRU(3)(x, initial_state=[L.Dense(3)(L.GlobalAveragePooling1D()(x))]),
     "initial states"),
    (lambda L, x: L.UpSampling1D(2)(x), "UpSampling1D .*not a layer fastrnn can run"),
    (lambda L, x: L.Dense(2, activation="softsign")(x), "activation 'softsign'"),
    (lambda L, x: L.Add()([L.Dense(4)(L.Masking()(x)), x]), "Masking in a model with branches"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[case[1] for case in REFUSED])
def test_refused(keras, case):
    build, message, *length = case
    kmodel = keras.Model(x := keras.Input((length[0] if length else None, 4)),
                         build(keras.layers, x))
    with pytest.raises(NotImplementedError, match=message):
        fastrnn.from_keras(kmodel)



def test_shared_layers(keras):
    """A layer called twice (Keras node index 1) runs twice with one set of weights."""
    def build(L, x):
        shared = L.Dense(4, name="shared")
        return L.Add()([shared(x), shared(L.Conv1D(3, 3, padding="causal")(x))])
    model = check_against_keras(keras, 3, build, (1, 11), 9)
    assert {"shared", "shared_1"} <= set(model.layer_names)
