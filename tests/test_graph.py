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


# ---------------------------------------------------------------------------
# Streams through strides, look-ahead and merges: every chunking and state
# round trip gives predict's frames; predict gives the twins' (and torch's)
# frame counts. A chunking of None is the whole sequence in one call.

CHUNKINGS = (1, 3, 7, 64, None)
BATCHES = (None, 3)


def stream_calls(stream, x, chunk, end=True):
    """The outputs of each call of streaming x ((T, F), or (N, T, F) for N
    streams) in chunks, then (`end`) flush(), each as a tuple (one per output)."""
    batched = stream.batch_size is not None
    steps = x.shape[1 if batched else 0]
    chunk = chunk or max(steps, 1)
    calls = [stream.process(x[:, t:t + chunk] if batched else x[t:t + chunk])
             for t in range(0, steps, chunk)] + ([stream.flush()] if end else [])
    return [call if isinstance(call, tuple) else (call,) for call in calls]


def joined(calls, output: int, batched: bool) -> np.ndarray:
    return np.concatenate([call[output] for call in calls], axis=1 if batched else 0)


def sequences(rng, batch_size, steps, features):
    """(x for the stream, x as predict's batch): (T, F) and (1, T, F), or (N, T, F) twice."""
    x = frames(rng, batch_size or 1, steps, features)
    return (x[0] if batch_size is None else x), x


def pooled_after(rng, *layers, pool="avg"):
    """A Sequential of `layers` then a GlobalPool (and its prefix without it)."""
    return fastrnn.Sequential([*layers, fastrnn.GlobalPool(pool)]), fastrnn.Sequential(layers)


def strided_conv(rng, inputs=3, outputs=4, kernel=3, stride=2, padding=(1, 1)):
    weight = rng.standard_normal((outputs, inputs, kernel)).astype(np.float32)
    bias = rng.standard_normal(outputs).astype(np.float32)
    return fastrnn.Conv1d(weight, bias, stride=stride, padding=padding)


@pytest.mark.parametrize("chunk", CHUNKINGS)
@pytest.mark.parametrize("batch_size", BATCHES)
@pytest.mark.parametrize("steps", [9, 10])
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_global_pool_after_a_stride_answers_its_input_frames(pool, steps, batch_size, chunk,
                                                             rng):
    """Conv1d(stride 2, padding (1, 1)) then GlobalPool: a stream answers
    each conv frame with the pool so far (the twin's running mean or max of
    the conv frames), at the conv's rate and delay, and flush() gives the
    final pool, bit for bit predict's, whether the end completes a conv
    frame (T = 9) or not (T = 10)."""
    conv = strided_conv(rng)
    model, prefix = pooled_after(rng, conv, pool=pool)
    x, batch = sequences(rng, batch_size, steps, 3)
    conv_frames = rg.conv1d(batch, conv.weight, conv.bias, stride=2, padding=(1, 1))
    expected = rg.global_avg_pool(conv_frames) if pool == "avg" else rg.global_max_pool(conv_frames)
    predicted = model.predict(batch)
    close(predicted, expected, 9)
    stream = model.stream(batch_size)
    assert (stream.rate, stream.delay) == (2, 1) and model.timing == [(0, 0)]
    calls = stream_calls(stream, x, chunk)
    answers = joined(calls, 0, batch_size is not None)
    if batch_size is None:
        answers = answers[np.newaxis]
    running = np.cumsum(conv_frames, axis=1) / np.arange(1, conv_frames.shape[1] + 1)[:, None] \
        if pool == "avg" else np.maximum.accumulate(conv_frames, axis=1)
    tail = calls[-1][0]
    assert tail.shape[-2] == 1                          # flush: the final answer
    assert answers.shape[1] == conv_frames.shape[1] + (steps % 2 == 0)
    close(answers[:, :conv_frames.shape[1]], running, 9)
    assert np.array_equal(tail[..., -1, :], predicted if batch_size else predicted[0])
    emitted = sum(call[0].shape[-2] for call in calls[:-1])
    assert emitted == (steps - 1 - 1) // 2 + 1          # frame j after input 2 j + 1


@pytest.mark.parametrize("chunk", CHUNKINGS)
@pytest.mark.parametrize("batch_size", BATCHES)
def test_pooled_crnn_streams_and_ends_with_the_final_answer(batch_size, chunk, rng):
    """A keyword spotter's shape: strided conv, look-ahead conv, GRU, mean
    over time, softmax Dense; and a recurrent layer that ends the sequence
    after a strided pool. The stream's last answer is predict's, and the
    answers before it follow the GRU's frames."""
    hidden = 5
    gru = fastrnn.GRU(*recurrent_weights(rng, 3, 4, hidden))
    head = fastrnn.Dense(rng.standard_normal((3, hidden)), activation="softmax")
    same = fastrnn.Conv1d(rng.standard_normal((4, 4, 3)).astype(np.float32), padding="same")
    spotter = fastrnn.Sequential([strided_conv(rng), same, gru, fastrnn.GlobalPool("avg"),
                                  head])
    last = fastrnn.Sequential([strided_conv(rng), fastrnn.Pool1d("avg", 3, 2, (1, 1)),
                               fastrnn.LSTM(*recurrent_weights(rng, 4, 4, hidden),
                                            return_sequences=False), head])
    for model, delay in [(spotter, 3), (last, 3)]:
        x, batch = sequences(rng, batch_size, 23, 3)
        predicted = model.predict(batch)
        stream = model.stream(batch_size)
        assert stream.delay == delay
        calls = stream_calls(stream, x, chunk)
        final = calls[-1][0][..., -1, :]
        assert np.array_equal(final, predicted if batch_size else predicted[0])
        answers = joined(calls, 0, batch_size is not None)
        whole = model.stream(batch_size)
        assert np.array_equal(answers, joined(stream_calls(whole, x, None), 0,
                                              batch_size is not None))


def test_pool_reference_of_the_gru_frames(rng):
    """The keyword spotter's pool against its twin: GRU over the strided
    conv's frames, then their mean, softmax."""
    conv = strided_conv(rng)
    gru = fastrnn.GRU(*recurrent_weights(rng, 3, 4, 5))
    head = fastrnn.Dense(rng.standard_normal((3, 5)).astype(np.float32), activation="softmax")
    model = fastrnn.Sequential([conv, gru, fastrnn.GlobalPool("avg"), head])
    x = frames(rng, 2, 21, 3)
    h = reference_gru(rg.conv1d(x, conv.weight, conv.bias, stride=2, padding=(1, 1)),
                      gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh)[0]
    close(model.predict(x), rg.softmax(rg.dense(rg.global_avg_pool(h), head.weight)), 9)


def gated_merge(rng, op="sub"):
    """Subtract(Conv1d(k3, "same")(x), Dense(x)) (or another op): the conv's
    frames lag by 1, so the Dense's wait in the merge's queue."""
    x = fastrnn.Input(3)
    conv = fastrnn.Conv1d(rng.standard_normal((4, 3, 3)).astype(np.float32),
                          rng.standard_normal(4).astype(np.float32), padding="same")
    dense = fastrnn.Dense(rng.standard_normal((4, 3)).astype(np.float32),
                          rng.standard_normal(4).astype(np.float32))
    merged = fastrnn.Elementwise(op)(conv(x), dense(x))
    return fastrnn.Model(x, merged, layer_names=["conv", "dense", "merge"]), conv, dense


def test_merge_queue_is_named_state(rng):
    model, _, _ = gated_merge(rng)
    assert model.state_names() == ["conv.frames", "conv.position", "merge.input1.frames",
                                   "merge.input1.count"]
    assert model._engine.part_kinds(2) == [("values", 1), ("count", 1)]
    state = model.stream(batch_size=2).get_state()
    assert state["merge.input1.frames"].shape == (2, 2, 4)       # 1 frame ahead, plus one
    assert state["merge.input1.count"].shape == (2, 1)
    stream = model.stream()
    stream.process(frames(rng, 1, 5, 3)[0])
    saved = stream.get_state()
    assert saved["merge.input1.count"][0] == 1
    with pytest.raises(ValueError, match="merge.input1.count"):
        stream.set_state(dict(saved, **{"merge.input1.count": np.array([3.0], np.float32)}))


@pytest.mark.parametrize("chunk", CHUNKINGS)
@pytest.mark.parametrize("batch_size", BATCHES)
def test_merge_queue_round_trips_mid_stream(batch_size, chunk, rng):
    """Subtract(conv "same", Dense) against its twin; a stream saved and
    restored at every point gives predict's 10 frames, bit for bit."""
    model, conv, dense = gated_merge(rng)
    x, batch = sequences(rng, batch_size, 10, 3)
    expected = rg.subtract(rg.conv1d(batch, conv.weight, conv.bias, padding=(1, 1)),
                           rg.dense(batch, dense.weight, dense.bias))
    predicted = model.predict(batch)
    close(predicted, expected, 9)
    axis = 0 if batch_size is None else 1
    for split in range(11):
        first = model.stream(batch_size)
        head = stream_calls(first, x[:split] if axis == 0 else x[:, :split], chunk, end=False)
        second = model.stream(batch_size)
        second.set_state(first.get_state())
        rest = stream_calls(second, x[split:] if axis == 0 else x[:, split:], chunk)
        got = np.concatenate([call[0] for call in head + rest], axis=axis)
        assert got.shape[axis] == 10
        assert np.array_equal(got, predicted if batch_size else predicted[0]), split


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_concat_of_three_delays_round_trips(chunk, rng):
    """Concatenate of a kernel-5 "same" conv (delay 2), a kernel-3 one (1)
    and the input (0): two queues; every split point round trips."""
    x = fastrnn.Input(2)
    wide = fastrnn.Conv1d(rng.standard_normal((3, 2, 5)).astype(np.float32), padding="same")
    narrow = fastrnn.Conv1d(rng.standard_normal((2, 2, 3)).astype(np.float32), padding="same")
    model = fastrnn.Model(x, fastrnn.Concatenate()(narrow(x), x, wide(x)),
                          layer_names=["narrow", "wide", "concat"])
    assert [name for name in model.state_names() if name.startswith("concat")] == [
        "concat.input0.frames", "concat.input0.count", "concat.input1.frames",
        "concat.input1.count"]
    data = frames(rng, 1, 12, 2)
    expected = np.concatenate([rg.conv1d(data, narrow.weight, None, padding=(1, 1)), data,
                               rg.conv1d(data, wide.weight, None, padding=(2, 2))], -1)
    predicted = model.predict(data[0])
    close(predicted, expected[0], 10)
    for split in range(13):
        first = model.stream()
        head = stream_calls(first, data[0, :split], chunk, end=False)
        second = model.stream()
        second.set_state(first.get_state())
        got = np.concatenate([c[0] for c in head + stream_calls(second, data[0, split:], chunk)])
        assert np.array_equal(got, predicted), split


def strided_models(rng):
    """Models whose windows stride, pad beyond the span and look ahead."""
    x = fastrnn.Input(3)
    a = fastrnn.Pool1d("max", 3, 2, (1, 1))(strided_conv(rng, kernel=5, stride=3,
                                                          padding=(2, 2))(x))
    b = fastrnn.Pool1d("avg", 2, 1, (0, 1), count_padding=False)(a)
    gru = fastrnn.GRU(*recurrent_weights(rng, 3, 4, 5))(b)
    merged = fastrnn.Add()(a, fastrnn.Dense(np.eye(4, dtype=np.float32))(b))
    return {
        "strided": fastrnn.Model(x, [gru, merged]),
        "gap": fastrnn.Sequential([strided_conv(rng, kernel=2, stride=1, padding=(1, 2)),
                                   fastrnn.GRU(*recurrent_weights(rng, 3, 4, 5))]),
        "pooled": pooled_after(rng, strided_conv(rng), fastrnn.Conv1d(
            rng.standard_normal((4, 4, 3)).astype(np.float32), padding="same"))[0],
    }


@pytest.mark.parametrize("name", ["strided", "gap", "pooled"])
@pytest.mark.parametrize("batch_size", BATCHES)
def test_state_is_the_same_for_every_chunking(name, batch_size, rng):
    """get_state() at the same point of a sequence is identical whatever the
    chunking (a strided window holds only the frames it still needs, the
    rest zero); N streams' rows are the single streams'."""
    model = strided_models(rng)[name]
    x, _ = sequences(rng, batch_size, 29, 3)
    axis = 0 if batch_size is None else 1
    for point in (0, 1, 4, 13, 28, 29):
        part = x[:point] if axis == 0 else x[:, :point]
        states = []
        for chunk in CHUNKINGS:
            stream = model.stream(batch_size)
            size = chunk or max(point, 1)
            for t in range(0, point, size):
                stream.process(part[t:t + size] if axis == 0 else part[:, t:t + size])
            states.append(stream.get_state())
        for state in states[1:]:
            assert all(np.array_equal(state[key], states[0][key]) for key in state), point
        if batch_size is not None:
            for row in range(batch_size):
                alone = model.stream()
                alone.process(x[row, :point])
                assert all(np.array_equal(states[0][key][row], value)
                           for key, value in alone.get_state().items()), (point, row)


@pytest.mark.parametrize("name", ["strided", "gap", "pooled"])
@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_strided_models_stream_and_round_trip(name, chunk, rng):
    model = strided_models(rng)[name]
    x = frames(rng, 1, 29, 3)[0]
    predicted = model.predict(x)
    predicted = predicted if isinstance(predicted, tuple) else (predicted,)
    for split in (0, 5, 14, 29):
        first = model.stream()
        head = stream_calls(first, x[:split], chunk, end=False)
        second = model.stream()
        second.set_state(first.get_state())
        calls = head + stream_calls(second, x[split:], chunk)
        for output, ((rate, _), want) in enumerate(zip(model.timing, predicted)):
            got = joined(calls, output, False)
            got = got[-1] if rate == 0 else got
            assert np.array_equal(got, want), (split, output)


def torch_conv(x, weight, bias, stride, padding):
    """torch.nn.functional.conv1d of x (B, T, C) padded by (left, right), or
    None without torch."""
    try:
        import torch
    except ImportError:
        return None
    with torch.no_grad():
        padded = torch.nn.functional.pad(torch.from_numpy(x).transpose(1, 2), padding)
        y = torch.nn.functional.conv1d(padded, torch.from_numpy(weight),
                                       None if bias is None else torch.from_numpy(bias),
                                       stride=stride)
    return y.transpose(1, 2).numpy()


PAST_THE_SPAN = [  # kernel, stride, dilation, padding: left >= span - 1 with right padding
    (2, 1, 1, (1, 2)), (1, 1, 1, (3, 0)), (1, 1, 1, (2, 1)), (3, 2, 1, (2, 3)),
    (3, 1, 2, (4, 1)), (2, 3, 1, (4, 4)),
]


@pytest.mark.parametrize("kernel, stride, dilation, padding", PAST_THE_SPAN)
@pytest.mark.parametrize("batch_size", BATCHES)
def test_conv_padded_past_its_span_gives_torchs_frames(kernel, stride, dilation, padding,
                                                       batch_size, rng):
    """floor((T + left + right - dilation (kernel - 1) - 1) / stride) + 1
    frames (PyTorch's), in predict and in every chunking of a stream (the
    right padding's at flush); a GRU after the conv sees them all."""
    weight = rng.standard_normal((3, 2, kernel)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    conv = fastrnn.Conv1d(weight, bias, stride=stride, dilation=dilation, padding=padding)
    x, batch = sequences(rng, batch_size, 10, 2)
    expected = rg.conv1d(batch, weight, bias, stride=stride, dilation=dilation, padding=padding)
    assert expected.shape[1] == rg.conv_output_frames(10, kernel, stride, dilation, padding)
    model = fastrnn.Sequential([conv])
    close(model.predict(batch), expected, 2 * kernel)
    if dilation == 1:
        from_torch = torch_conv(batch, weight, bias, stride, padding)
        if from_torch is not None:
            close(model.predict(batch), from_torch, 2 * kernel)
    gru = fastrnn.GRU(*recurrent_weights(rng, 3, 3, 4))
    chained = fastrnn.Sequential([conv, gru])
    h = reference_gru(expected, gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh)[0]
    close(chained.predict(batch), h, 6)
    for each in (model, chained):
        predicted = each.predict(batch)
        for chunk in CHUNKINGS:
            got = joined(stream_calls(each.stream(batch_size), x, chunk), 0,
                         batch_size is not None)
            assert np.array_equal(got, predicted if batch_size else predicted[0]), chunk


def test_predict_widths_with_lengths(rng):
    """With lengths, an output is as wide as a whole sequence's (T + 2 frames
    for padding (1, 2)), each sequence's own frames then zeros."""
    model = fastrnn.Sequential([strided_conv(rng, inputs=2, kernel=2, stride=1,
                                             padding=(1, 2))])
    x = frames(rng, 3, 10, 2)
    y = model.predict(x, lengths=np.array([10, 4, 0]))
    assert y.shape == (3, 12, 4)
    assert np.array_equal(y[1, :6], model.predict(x[1, :4])) and not y[1, 6:].any()
    assert not y[2].any()
    assert model.predict(x[:, :0]).shape == (3, 0, 4)


def look_ahead_lstm(rng, ends=False):
    """Conv1d "same" (1 frame of look-ahead), LSTM, Dense: its final
    recurrent states come only after flush."""
    return fastrnn.Sequential([
        fastrnn.Conv1d(rng.standard_normal((4, 3, 3)).astype(np.float32), padding="same"),
        fastrnn.LSTM(*recurrent_weights(rng, 4, 4, 5), return_sequences=not ends),
        fastrnn.Dense(rng.standard_normal((2, 5)).astype(np.float32))])


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("ends", [False, True])
@pytest.mark.parametrize("chunk", CHUNKINGS)
@pytest.mark.parametrize("batch_size", BATCHES)
def test_flush_leaves_the_state_at_the_sequences_end(ends, batch_size, chunk, rng):
    """After flush(), get_state() is predict(return_state=True)'s state (the
    LSTM's final h and c, the conv's window empty); the next frames start a
    new sequence from it, as predict(initial_state=...) does; reset()
    starts from zero; a second flush gives nothing."""
    model = look_ahead_lstm(rng, ends)
    x, batch = sequences(rng, batch_size, 11, 3)
    x2, batch2 = sequences(rng, batch_size, 6, 3)
    first, final = model.predict(batch, return_state=True)
    second, final2 = model.predict(batch2, initial_state=final, return_state=True)
    if batch_size is None:
        first, second = first[0], second[0]
        final = {k: v[0] for k, v in final.items()}
        final2 = {k: v[0] for k, v in final2.items()}
    assert not final["layer0.frames"].any() and not final["layer0.position"].any()
    stream = model.stream(batch_size)
    calls = stream_calls(stream, x, chunk)
    assert states_equal(stream.get_state(), final)
    again = stream.flush()
    assert states_equal(stream.get_state(), final)
    calls2 = stream_calls(stream, x2, chunk)
    assert states_equal(stream.get_state(), final2)
    if ends:
        assert np.array_equal(calls[-1][0][..., -1, :], first)
        assert np.array_equal(calls2[-1][0][..., -1, :], second)
        assert np.array_equal(again[..., -1, :], first)     # the answer, once more
    else:
        assert again.shape[-2] == 0
        assert np.array_equal(joined(calls, 0, batch_size is not None), first)
        assert np.array_equal(joined(calls2, 0, batch_size is not None), second)
    stream.reset()
    fresh = model.stream(batch_size)
    assert states_equal(stream.get_state(), fresh.get_state())
    assert all(not value.any() for value in stream.get_state().values())


def test_flush_of_some_streams(rng):
    """flush(active) ends those streams only; the others carry on."""
    model = look_ahead_lstm(rng)
    x = frames(rng, 2, 8, 3)
    stream = model.stream(batch_size=2)
    stream.process(x)
    tail = stream.flush(active=np.array([True, False]))
    assert list(stream.counts) == [1, 0]
    state = stream.get_state()
    alone = model.stream()
    alone.process(x[1])
    assert all(np.array_equal(state[k][1], v) for k, v in alone.get_state().items())
    _, final = model.predict(x[0], return_state=True)
    assert all(np.array_equal(state[k][0], v) for k, v in final.items())
    assert np.array_equal(np.concatenate([stream_calls(model.stream(), x[0], None)[0][0],
                                          tail[0, :1]]), model.predict(x[0]))


def test_global_pool_state_after_flush(rng):
    """A pool's value and count are a sequence's: empty after flush, so the
    next sequence pools its own frames."""
    model, _ = pooled_after(rng, strided_conv(rng))
    x = frames(rng, 2, 9, 3)
    stream = model.stream()
    stream_calls(stream, x[0], 4)
    state = stream.get_state()
    assert not state["layer1.value"].any() and state["layer1.count"][0] == 0
    assert stream.flush().shape == (0, 4)                  # nothing pooled: no answer
    calls = stream_calls(stream, x[1], 4)
    assert np.array_equal(calls[-1][0][-1], model.predict(x[1]))


@pytest.mark.parametrize("kernel, stride", [(2, 2), (4, 2), (2, 3), (6, 2)])
@pytest.mark.parametrize("steps", [16, 17, 18])
@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_strided_average_pool_same_streams(kernel, stride, steps, chunk, rng):
    """Keras' AveragePooling1D(padding="same") with a stride (TensorFlow's
    rule: padding from the length, excluded from the mean): these kernels'
    left padding is the same for every length, so they stream; against
    reference_graph's keras_avg_pool, predict, and every chunking."""
    layer = fastrnn.Pool1d("avg", kernel, stride, "same", count_padding=False)
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(3, dtype=np.float32)), layer])
    assert not model.needs_sequences
    x = frames(rng, 2, steps, 3, 2.0)
    close(model.predict(x), rg.keras_avg_pool(x, kernel, stride, "same", backend="tensorflow"))
    for b in range(2):
        got = joined(stream_calls(model.stream(), x[b], chunk), 0, False)
        assert np.array_equal(got, model.predict(x[b]))
    got = joined(stream_calls(model.stream(batch_size=2), x, chunk), 0, True)
    assert np.array_equal(got, model.predict(x))


@pytest.mark.parametrize("kernel, stride", [(2, 2), (2, 3)])
def test_strided_average_pool_same_against_keras(kernel, stride, rng):
    """These shapes pad on the right only, where Keras' backends agree
    (repeated last frame over the kernel, or the frames over their count)."""
    keras = pytest.importorskip("keras", reason="Keras is not installed")
    pool = keras.layers.AveragePooling1D(kernel, strides=stride, padding="same")
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(3, dtype=np.float32)),
                                fastrnn.Pool1d("avg", kernel, stride, "same",
                                               count_padding=False)])
    for steps in (16, 17, 18):
        x = frames(rng, 2, steps, 3, 2.0)
        close(model.predict(x), np.asarray(pool(x)))
        assert np.array_equal(joined(stream_calls(model.stream(), x[0], 3), 0, False),
                              model.predict(x[0]))


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_merge_of_pools_pairs_the_final_answers(chunk, rng):
    """Add of two global pools whose inputs stream with different delays:
    the answers wait in the merge's queue, and the last frame pairs the two
    final pools (predict's, and the twins')."""
    x = fastrnn.Input(3)
    conv = strided_conv(rng)
    pool = fastrnn.Pool1d("max", 3, 1, (1, 2))     # a frame more than the conv
    model = fastrnn.Model(x, fastrnn.Add()(fastrnn.GlobalPool("avg")(conv(x)),
                                           fastrnn.GlobalPool("avg")(pool(conv(x)))))
    data = frames(rng, 2, 21, 3)
    c = rg.conv1d(data, conv.weight, conv.bias, stride=2, padding=(1, 1))
    expected = rg.global_avg_pool(c) + rg.global_avg_pool(rg.max_pool(c, 3, 1, (1, 2)))
    predicted = model.predict(data)
    close(predicted, expected, 9)
    for b in range(2):
        calls = stream_calls(model.stream(), data[b], chunk)
        assert np.array_equal(calls[-1][0][-1], predicted[b])


def test_merge_of_streams_at_different_rates_needs_sequences(rng):
    """Add of a pool of every frame and a pool of every other frame: one
    frame each per sequence in predict, but a stream could not pair their
    answers; predict only."""
    x = fastrnn.Input(3)
    conv = strided_conv(rng, outputs=3)
    model = fastrnn.Model(x, fastrnn.Add()(fastrnn.GlobalPool("avg")(x),
                                           fastrnn.GlobalPool("avg")(conv(x))))
    assert model.needs_sequences
    with pytest.raises(ValueError, match="different rates"):
        model.stream()
    data = frames(rng, 2, 9, 3)
    close(model.predict(data), rg.global_avg_pool(data) + rg.global_avg_pool(
        rg.conv1d(data, conv.weight, conv.bias, stride=2, padding=(1, 1))), 9)


@pytest.mark.parametrize("kernel, stride, streams", [(2, 2, True), (2, 3, True), (2, 5, True),
                                                     (4, 2, False), (3, 2, False),
                                                     (6, 2, False), (4, 3, False)])
def test_average_pool_same_as_keras_torch_backend(kernel, stride, streams, rng):
    """replicate_edges="uneven": for each length, Keras' torch backend's
    "same" average (reference_graph.keras_avg_pool, backend "torch"): even
    padding excluded from the mean, uneven padding of repeated edge frames
    over the kernel. It streams when the left edge's padding and mode stay
    the same for every length (then the end decides), else predict only."""
    layer = fastrnn.Pool1d("avg", kernel, stride, "same", count_padding=False,
                           replicate_edges="uneven")
    model = fastrnn.Sequential([fastrnn.Dense(np.eye(3, dtype=np.float32)), layer])
    assert model.needs_sequences != streams
    for steps in range(12, 12 + 2 * stride):
        x = frames(rng, 2, steps, 3, 2.0)
        close(model.predict(x), rg.keras_avg_pool(x, kernel, stride, "same", backend="torch"))
        if streams:
            for chunk in CHUNKINGS:
                got = joined(stream_calls(model.stream(batch_size=2), x, chunk), 0, True)
                assert np.array_equal(got, model.predict(x)), (steps, chunk)


def test_uneven_replication_with_fixed_padding(rng):
    """With padding fixed once for all (stride 1), "uneven" is decided at
    once: replicate if left != right."""
    assert fastrnn.Pool1d("avg", 4, 1, "same", replicate_edges="uneven").replicate_edges is True
    assert fastrnn.Pool1d("avg", 3, 1, "same", replicate_edges="uneven").replicate_edges is False
    with pytest.raises(ValueError, match="uneven"):
        fastrnn.Pool1d("avg", 3, 2, "same", replicate_edges="sometimes")


def window_position(rng, left: int, span: int, stride: int) -> list:
    """A random position a window can reach: nothing fed (zeros), or its next
    start past `lead used` of its left padding with `held` frames kept (fewer
    than span padded frames waiting), or past every frame by `skip`; the
    phase the stride makes of them (lead used + frames - held + skip = 0
    mod stride)."""
    if rng.random() < 0.2:
        return [0, 0, 0, 0, 0]
    lead_used = int(rng.integers(max(0, left - (span - 1)), left + 1))
    held, skip = 0, 0
    if lead_used == left and stride > 1 and rng.random() < 0.5:
        skip = int(rng.integers(1, stride))
    else:
        held = int(rng.integers(0, span - 1 - (left - lead_used) + 1))
    return [lead_used, held, skip, (held - skip - lead_used) % stride, 1]


@pytest.mark.parametrize("name", ["strided", "gap", "pooled"])
def test_any_reachable_state_runs_within_bounds(name, rng):
    """set_state takes any position a window can reach (whatever the frames
    held, h or pooled values), refuses counters that no sequence reaches
    (each within its range), and every chunking and flush from an accepted
    state runs within the engine's frame bounds and gives the same frames."""
    model = strided_models(rng)[name]
    layers = dict(zip(model.layer_names, model.layers))
    x = frames(rng, 2, 9, 3)
    refused = 0
    for trial in range(30):
        state, counters = {}, {}
        for key, shape in model.state_shapes().items():
            layer_name, part = key.split(".", 1)
            if part == "position":
                window = layers[layer_name]
                span = (window.kernel_size - 1) * getattr(window, "dilation", 1) + 1
                state[key] = np.array(window_position(rng, window.padding[0], span,
                                                      window.stride), np.float32)
                limits = [window.padding[0], span - 1, window.stride - 1, window.stride - 1, 1]
                counters[key] = np.array([rng.integers(0, limit + 1) for limit in limits],
                                         np.float32)
            elif part.endswith("count"):
                state[key] = np.zeros(shape, np.float32)
            else:
                state[key] = rng.standard_normal(shape).astype(np.float32)
        try:                        # counters in range, drawn at random: most are refused
            model.stream().set_state(dict(state, **counters))
        except ValueError as error:
            assert "position" in str(error) and "reaches" in str(error)
            refused += 1
        results = []
        for chunk in (1, 4, None):
            stream = model.stream(batch_size=2)
            stream.set_state({k: np.stack([v, v]) for k, v in state.items()})
            calls = stream_calls(stream, x, chunk)
            results.append([joined(calls, o, True) for o in range(len(model.timing))])
        for other in results[1:]:
            assert all(np.array_equal(a, b) for a, b in zip(results[0], other)), trial
    assert refused > 0
