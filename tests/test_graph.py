"""Graph models (fastrnn.Model): every layer of issue 12 against its float64
twin in reference_graph.py, and streams against predict.

Bound (``close``): the float32 engine against a float64 twin, max abs error
<= 1e-5 * max(1, max |expected|) * max(1, sqrt(fan_in / 1024)): float32
rounding of O(1) values is ~6e-8 per operation, a sum of fan_in products
grows like sqrt(fan_in), and the activations are within 2e-7 of float64.
Streams are compared with predict bit for bit (np.array_equal): each frame's
arithmetic is the same whatever the chunking.
"""

import numpy as np
import pytest
import reference_graph as rg
from conftest import ISAS, recurrent_weights
from reference import gru as reference_gru

import fastrnn


def close(got, expected, fan_in: int = 1) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    bound = 1e-5 * max(1.0, float(np.abs(expected).max(initial=0.0))) \
        * max(1.0, np.sqrt(fan_in / 1024))
    error = float(np.abs(got - expected).max(initial=0.0))
    assert error <= bound, f"max abs error {error:.3g} > {bound:.3g}"


def frames(rng, batch, steps, features, scale=1.0):
    return (rng.standard_normal((batch, steps, features)) * scale).astype(np.float32)


def streamed(model, x, chunk, batch_size=None):
    """The outputs of streaming x (T, F) [or (N, T, F)] in chunks, then flush."""
    stream = model.stream(batch_size)
    steps = x.shape[0 if batch_size is None else 1]
    parts = [stream.process(x[t:t + chunk] if batch_size is None else x[:, t:t + chunk])
             for t in range(0, steps, chunk)] + [stream.flush()]
    axis = 0 if batch_size is None else 1
    if model.stream().num_outputs == 1:
        return np.concatenate(parts, axis=axis)
    return tuple(np.concatenate([p[o] for p in parts], axis=axis)
                 for o in range(len(parts[0])))


CONVS = [  # kernel, stride, dilation, groups, padding, in, out, steps
    (1, 1, 1, 1, "valid", 1, 1, 1), (3, 1, 1, 1, "valid", 5, 7, 20),
    (3, 1, 1, 1, "same", 5, 7, 20), (4, 1, 1, 1, "same", 3, 4, 9),
    (4, 2, 1, 1, (1, 2), 5, 6, 21), (3, 1, 2, 5, "causal", 5, 5, 17),
    (5, 3, 1, 1, (2, 2), 3, 4, 30), (3, 1, 1, 5, (1, 1), 5, 10, 9),
    (2, 1, 1, 2, "valid", 4, 6, 8), (7, 1, 3, 1, (0, 9), 2, 3, 40),
    (3, 2, 1, 33, "causal", 33, 33, 61), (11, 1, 1, 1, "same", 129, 17, 300),
    (256, 128, 1, 1, "valid", 1, 20, 1200), (3, 1, 1, 1, (0, 0), 513, 8, 12),
]


@pytest.mark.parametrize("kernel, stride, dilation, groups, padding, inputs, outputs, steps",
                         CONVS)
def test_conv1d(kernel, stride, dilation, groups, padding, inputs, outputs, steps, rng):
    weight = rng.standard_normal((outputs, inputs // groups, kernel)).astype(np.float32)
    bias = rng.standard_normal(outputs).astype(np.float32)
    layer = fastrnn.Conv1d(weight, bias, stride=stride, dilation=dilation, groups=groups,
                           padding=padding)
    model = fastrnn.Sequential([layer])
    x = frames(rng, 2, steps, inputs)
    expected = rg.conv1d(x, weight, bias, stride=stride, dilation=dilation, groups=groups,
                         padding=layer.padding)
    close(model.predict(x), expected, kernel * inputs // groups)
    assert np.array_equal(streamed(model, x[1], 3), model.predict(x[1]))
    left = layer.padding[0]
    assert model.timing == [(stride, (kernel - 1) * dilation - left)]


@pytest.mark.parametrize("isa", ISAS)
def test_conv1d_on_every_isa(isa, rng):
    weight = rng.standard_normal((19, 6, 3)).astype(np.float32)
    x = frames(rng, 3, 31, 6)
    expected = rg.conv1d(x, weight, None, padding=(1, 1))
    close(fastrnn.Sequential([fastrnn.Conv1d(weight, padding="same")], isa=isa).predict(x),
          expected, 18)


POOLS = [  # pool, kernel, stride, padding, count_padding
    ("max", 3, 2, (1, 1), True), ("avg", 3, 2, (1, 1), True), ("avg", 3, 2, (1, 1), False),
    ("max", 2, 2, 0, True), ("avg", 4, 1, (2, 1), True), ("avg", 4, 1, (2, 1), False),
    ("max", 5, 3, (2, 2), True), ("avg", 1, 1, 0, True),
]


@pytest.mark.parametrize("pool, kernel, stride, padding, count_padding", POOLS)
def test_pool1d(pool, kernel, stride, padding, count_padding, rng):
    layer = fastrnn.Pool1d(pool, kernel, stride, padding, count_padding=count_padding)
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(6, dtype=np.float32)), layer])
    x = frames(rng, 2, 23, 6, 2.0)
    if pool == "max":
        expected = rg.max_pool(x, kernel, stride, padding=layer.padding)
    else:
        expected = rg.avg_pool(x, kernel, stride, padding=layer.padding,
                               count_include_pad=count_padding)
    close(model.predict(x), expected)
    assert np.array_equal(streamed(model, x[0], 2), model.predict(x[0]))


def test_pool_replicating_edges(rng):
    """Keras' torch backend for an uneven "same" average: edge frames repeated and counted."""
    layer = fastrnn.Pool1d("avg", 4, 1, (1, 2), replicate_edges=True)
    x = np.arange(1, 8, dtype=np.float32).reshape(1, 7, 1)
    y = fastrnn.Sequential([fastrnn.Dense(np.ones((1, 1), np.float32)), layer]).predict(x)
    assert np.allclose(y[0, :, 0], [1.75, 2.5, 3.5, 4.5, 5.5, 6.25, 6.75])


ACTIVATIONS = [
    ("relu", {}, rg.relu), ("leaky_relu", {"negative_slope": 0.3}, lambda x: rg.leaky_relu(x, 0.3)),
    ("elu", {"alpha": 0.7}, lambda x: rg.elu(x, 0.7)), ("selu", {}, rg.selu),
    ("gelu", {}, rg.gelu), ("gelu_tanh", {}, rg.gelu_tanh), ("silu", {}, rg.silu),
    ("tanh", {}, rg.tanh), ("sigmoid", {}, rg.sigmoid), ("hard_sigmoid", {}, rg.hard_sigmoid),
    ("hard_sigmoid", {"alpha": 0.2, "beta": 0.5}, lambda x: rg.hard_sigmoid(x, 0.2, 0.5)),
    ("softplus", {}, rg.softplus),
    ("softplus", {"beta": 2.0, "threshold": 3.0}, lambda x: rg.softplus(x, 2.0, 3.0)),
    ("softmax", {}, rg.softmax), ("log_softmax", {}, rg.log_softmax),
    ("exp", {}, np.exp), ("abs", {}, np.abs), ("neg", {}, np.negative),
    ("clip", {"min": -0.5, "max": 1.0}, lambda x: np.clip(x, -0.5, 1.0)),
    ("pow", {"exponent": 2.0}, np.square), ("identity", {}, lambda x: x),
]


@pytest.mark.parametrize("name, parameters, reference", ACTIVATIONS,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(ACTIVATIONS)])
@pytest.mark.parametrize("features", [1, 7, 33])
def test_activation(name, parameters, reference, features, rng):
    x = frames(rng, 2, 11, features, 3.0)
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(features, dtype=np.float32)),
                                fastrnn.Activation(name, **parameters)])
    close(model.predict(x), reference(x.astype(np.float64)))


@pytest.mark.parametrize("name, reference", [("sqrt", np.sqrt), ("log", np.log),
                                             ("reciprocal", np.reciprocal)])
def test_functions_of_positive_values(name, reference, rng):
    x = np.abs(frames(rng, 2, 9, 5)) + 0.1
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(5, dtype=np.float32)),
                                fastrnn.Activation(name)])
    close(model.predict(x), reference(x.astype(np.float64)))


@pytest.mark.parametrize("slopes", [1, 6])
def test_prelu(slopes, rng):
    alpha = rng.standard_normal(slopes).astype(np.float32)
    x = frames(rng, 2, 10, 6)
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(6, dtype=np.float32)),
                                fastrnn.Activation("prelu", slopes=alpha)])
    close(model.predict(x), rg.prelu(x, alpha))


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("features, eps", [(1, 1e-5), (8, 1e-3), (513, 1e-5)])
def test_layer_norm(features, eps, affine, rng):
    weight, bias = (rng.standard_normal(features).astype(np.float32) if affine else None
                    for _ in range(2))
    x = frames(rng, 2, 13, features, 4.0)
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(features, dtype=np.float32)),
                                fastrnn.LayerNorm(features, weight, bias, eps)])
    close(model.predict(x), rg.layer_norm(x, eps, weight, bias), features)


def test_batch_norm_folds_into_the_conv_before_it(rng):
    conv_w = rng.standard_normal((7, 4, 3)).astype(np.float32)
    mean, var = rng.standard_normal(7), rng.random(7) + 0.1
    gamma, beta = rng.standard_normal(7), rng.standard_normal(7)
    layers = [fastrnn.Conv1d(conv_w, padding="same"),
              fastrnn.BatchNorm(mean, var, gamma, beta, 1e-3)]
    model = fastrnn.Sequential(layers)
    x = frames(rng, 2, 16, 4)
    expected = rg.batch_norm(rg.conv1d(x, conv_w, None, padding=(1, 1)), mean, var, 1e-3,
                             gamma, beta)
    close(model.predict(x), expected, 12)
    assert model.weight_bytes == fastrnn.Sequential(layers[:1]).weight_bytes   # folded
    after_relu = fastrnn.Sequential([layers[0], fastrnn.Activation("relu"), layers[1]])
    close(after_relu.predict(x), rg.batch_norm(rg.relu(rg.conv1d(x, conv_w, None,
                                                                 padding=(1, 1))),
                                               mean, var, 1e-3, gamma, beta), 12)


def test_activation_folds_into_dense(rng):
    weight = rng.standard_normal((3, 5)).astype(np.float32)
    x = frames(rng, 1, 4, 5)
    folded = fastrnn.Sequential([fastrnn.Dense(weight), fastrnn.Activation("tanh")])
    assert np.array_equal(folded.predict(x),
                          fastrnn.Sequential([fastrnn.Dense(weight, activation="tanh")]).predict(x))


@pytest.mark.parametrize("op, reference", [("add", np.add), ("sub", np.subtract),
                                           ("mul", np.multiply), ("max", np.maximum),
                                           ("min", np.minimum), ("div", np.divide)])
def test_elementwise(op, reference, rng):
    x = fastrnn.Input(6)
    a = fastrnn.Dense(np.eye(6, dtype=np.float32))(x)
    b = fastrnn.Activation("sigmoid")(x)
    one = fastrnn.Reduce("mean")(b)          # positive: a well-conditioned divisor
    vector = rng.uniform(0.5, 2.0, 6).astype(np.float32)
    model = fastrnn.Model(x, [fastrnn.Elementwise(op)(a, b), fastrnn.Elementwise(op)(a, one),
                              fastrnn.Elementwise(op, vector)(a),
                              fastrnn.Elementwise(op, vector, constant_first=True)(a)])
    data = frames(rng, 2, 9, 6)
    d64 = data.astype(np.float64)
    got = model.predict(data)
    close(got[0], reference(d64, rg.sigmoid(d64)))
    close(got[1], reference(d64, rg.sigmoid(d64).mean(-1, keepdims=True)))
    close(got[2], reference(d64, vector))
    close(got[3], reference(vector, d64))


def test_concat_slice_reduce(rng):
    x = fastrnn.Input(5)
    parts = [fastrnn.Slice(0, 2)(x), fastrnn.Slice(2, 5)(x), fastrnn.Reduce("max")(x)]
    model = fastrnn.Model(x, [fastrnn.Concatenate()(parts), fastrnn.Reduce("sum")(x),
                              fastrnn.Reduce("min")(x)])
    data = frames(rng, 2, 6, 5)
    joined, total, least = model.predict(data)
    assert np.array_equal(joined, np.concatenate([data, data.max(-1, keepdims=True)], -1))
    close(total, data.sum(-1, keepdims=True))
    assert np.array_equal(least, data.min(-1, keepdims=True))


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_global_pool(pool, rng):
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(4, dtype=np.float32)),
                                fastrnn.GlobalPool(pool),
                                fastrnn.Dense(rng.standard_normal((3, 4)), activation="softmax")])
    x = frames(rng, 3, 17, 4)
    pooled = rg.global_avg_pool(x) if pool == "avg" else rg.global_max_pool(x)
    assert model.predict(x).shape == (3, 3) and not model.returns_sequences
    close(model.predict(x), rg.softmax(pooled @ model.layers[2].weight.T.astype(np.float64)))
    stream = model.stream()
    answers = np.stack([stream.step(frame) for frame in x[1]])   # the pool so far
    assert np.array_equal(answers[-1], model.predict(x[1]))
    lengths = np.array([17, 5, 1])
    y = model.predict(x, lengths=lengths)
    for b, length in enumerate(lengths):
        assert np.array_equal(y[b], model.predict(x[b, :length]))


def noise_suppressor_model(rng, features=12, channels=8, hidden=6):
    """The issue's noise suppressor, small: two kernel-3 tanh convs (valid),
    three GRUs, a concat of the conv and every GRU output, two sigmoid heads."""
    x = fastrnn.Input(features, name="features")
    c = fastrnn.Activation("tanh")(fastrnn.Conv1d(
        rng.standard_normal((channels, features, 3)) * 0.3, rng.standard_normal(channels)
        * 0.1)(x))
    c = fastrnn.Activation("tanh")(fastrnn.Conv1d(
        rng.standard_normal((channels, channels, 3)) * 0.3, None)(c))
    grus, h = [], c
    for index in range(3):
        inputs = channels if index == 0 else hidden
        h = fastrnn.GRU(*recurrent_weights(rng, 3, inputs, hidden))(h)
        grus.append(h)
    joined = fastrnn.Concatenate()(c, *grus)
    gains = fastrnn.Dense(rng.standard_normal((features, channels + 3 * hidden)) * 0.3,
                          activation="sigmoid")(joined)
    vad = fastrnn.Dense(rng.standard_normal((1, hidden)), activation="sigmoid")(grus[-1])
    return fastrnn.Model(x, [gains, vad], output_names=["gains", "vad"],
                         layer_names=["conv1", "tanh1", "conv2", "tanh2", "gru1", "gru2",
                                      "gru3", "concat", "gains", "vad"])


def test_noise_suppressor_against_its_twin(rng):
    model = noise_suppressor_model(rng)
    layers = dict(zip(model.layer_names, model.layers))
    x = frames(rng, 2, 30, 12)
    c = np.tanh(rg.conv1d(x, layers["conv1"].weight, layers["conv1"].bias))
    c = np.tanh(rg.conv1d(c, layers["conv2"].weight, None))
    outs, h = [], c
    for name in ("gru1", "gru2", "gru3"):
        g = layers[name]
        h = reference_gru(h, g.weight_ih, g.weight_hh, g.bias_ih, g.bias_hh)[0]
        outs.append(h)
    joined = np.concatenate([c, *outs], -1)
    gains = rg.sigmoid(joined @ layers["gains"].weight.T.astype(np.float64))
    vad = rg.sigmoid(outs[-1] @ layers["vad"].weight.T.astype(np.float64))
    got = model.predict(x)
    close(got[0], gains)
    close(got[1], vad)
    assert model.output_names == ["gains", "vad"] and model.timing == [(1, 4), (1, 4)]
    assert "gru1.h" in model.state_names() and "conv1.frames" in model.state_names()


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1000])
def test_streams_equal_predict_bit_for_bit(chunk, rng):
    model = noise_suppressor_model(rng)
    x = frames(rng, 3, 70, 12)
    expected = model.predict(x)
    single = streamed(model, x[1], chunk)
    assert all(np.array_equal(s, e[1]) for s, e in zip(single, expected))
    batched = streamed(model, x, chunk, batch_size=3)
    assert all(np.array_equal(b, e) for b, e in zip(batched, expected))


def test_delay_and_counts_frame_by_frame(rng):
    """Output frame j comes out once input frame j * rate + delay is in."""
    model = noise_suppressor_model(rng)
    stream = model.stream(batch_size=2)
    assert stream.delay == (4, 4) and stream.rate == (1, 1)
    x = frames(rng, 2, 9, 12)
    for t in range(9):
        gains, vad = stream.step(x[:, t])
        assert gains.shape == (2, 1 if t >= 4 else 0, 12)
        assert list(stream.counts[0]) == [int(t >= 4)] * 2
    tail = stream.flush()                   # "valid" convolutions: nothing held back
    assert tail[0].shape == (2, 0, 12) and list(stream.counts[0]) == [0, 0]


def test_state_round_trip_mid_stream(rng):
    model = noise_suppressor_model(rng)
    x = frames(rng, 1, 40, 12)[0]
    whole = model.predict(x)
    first = model.stream()
    head = first.process(x[:17])
    saved = first.get_state()
    assert saved["conv1.frames"].shape == (2, 12) and saved["conv1.position"].shape == (5,)
    second = model.stream()
    second.set_state(saved)
    tail = second.process(x[17:])
    rest = second.flush()
    for o in range(2):
        assert np.array_equal(np.concatenate([head[o], tail[o], rest[o]]), whole[o])
    broken = dict(saved, **{"conv1.position": np.array([0.0, 5.0, 0.0, 0.0, 1.0], np.float32)})
    with pytest.raises(ValueError, match="conv1.position"):
        second.set_state(broken)


def test_active_rows_and_reset_with_lagging_outputs(rng):
    model = noise_suppressor_model(rng)
    x = frames(rng, 2, 20, 12)
    stream = model.stream(batch_size=2)
    parts = [[], []]
    for t in range(20):
        gains, _ = stream.step(x[:, t], active=np.array([True, t % 2 == 0]))
        for b in range(2):
            parts[b].append(gains[b, :stream.counts[0][b]])
    single = model.stream()
    assert np.array_equal(np.concatenate(parts[0]), single.process(x[0])[0])
    single.reset()
    assert np.array_equal(np.concatenate(parts[1]), single.process(x[1, ::2])[0])
    stream.reset([0])
    assert not stream.get_state()["conv1.position"][0].any()


def test_lengths_with_convolutions(rng):
    model = noise_suppressor_model(rng)
    x = frames(rng, 3, 25, 12)
    lengths = np.array([25, 9, 3])
    gains, vad = model.predict(x, lengths=lengths)
    for b, length in enumerate(lengths):
        alone = model.predict(x[b, :length])
        frames_out = max(length - 4, 0)
        assert np.array_equal(gains[b, :frames_out], alone[0])
        assert not gains[b, frames_out:].any()


def test_graph_errors(rng):
    x = fastrnn.Input(4)
    ended = fastrnn.GRU(*recurrent_weights(rng, 3, 4, 5), return_sequences=False)(x)
    with pytest.raises(ValueError, match="one frame per sequence"):
        fastrnn.Model(x, fastrnn.GRU(*recurrent_weights(rng, 3, 5, 5))(ended))
    other = fastrnn.Input(4)
    with pytest.raises(ValueError, match="not one of the model's inputs"):
        fastrnn.Model(x, fastrnn.Add()(x, other))
    with pytest.raises(ValueError, match="takes 4 features per frame, got 5"):
        fastrnn.Dense(np.ones((2, 4)))(fastrnn.Input(5))
    with pytest.raises(ValueError, match="2 values for 4 features"):
        fastrnn.Add()(x, fastrnn.Slice(0, 2)(x))
    with pytest.raises(NotImplementedError, match="mask_value with convolution"):
        fastrnn.Model(x, fastrnn.Conv1d(np.ones((2, 4, 3)))(x), mask_value=0.0)
    same_strided = fastrnn.Model(x, fastrnn.Conv1d(np.ones((2, 4, 3)), stride=2,
                                                   padding="same")(x))
    with pytest.raises(ValueError, match="needs whole sequences"):
        same_strided.stream()


@pytest.mark.parametrize("kernel, stride, streams", [(4, 2, True), (3, 2, False),
                                                     (2, 3, True), (5, 3, False)])
@pytest.mark.parametrize("steps", [16, 17, 18])
def test_same_padding_with_a_stride_follows_the_length(kernel, stride, streams, steps, rng):
    """TensorFlow's and Keras' "same" with a stride pads by the sequence's
    length: the right padding always (from the length modulo the stride, so
    a stream knows it at flush), the left too for some shapes (then whole
    sequences only)."""
    weight = rng.standard_normal((3, 2, kernel)).astype(np.float32)
    model = fastrnn.Sequential([fastrnn.Conv1d(weight, stride=stride, padding="same")])
    x = frames(rng, 1, steps, 2)[0]
    padding = rg.keras_conv_padding("same", kernel, steps, stride)
    expected = rg.conv1d(x[np.newaxis], weight, None, stride=stride, padding=padding)[0]
    close(model.predict(x), expected, 2 * kernel)
    assert model.needs_sequences != streams
    if streams:
        assert np.array_equal(streamed(model, x, 5), model.predict(x))
