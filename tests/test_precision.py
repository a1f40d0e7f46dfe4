"""Weight precisions: each kernel against a NumPy twin that rounds what it
rounds (the naive reference), and every ISA x precision pair against the
float32 engine within the bound stated in conftest.PRECISION_BOUND (the
README's Precision table)."""

import numpy as np
import pytest
from conftest import (PRECISION_BOUND, TOLERANCE, dense_weights, inputs, max_abs,
                      recurrent_weights)
from reference import sigmoid, softmax, stack

import fastrnn
from fastrnn import _engine
from fastrnn.perf.models import random_frames, suppressor_spec, suppressor_to_fastrnn

ISA_PRECISIONS = [(isa, precision) for isa in _engine.available_isas()
                  for precision in _engine.available_precisions(isa) if precision != "float32"]
HALF_ISAS = [isa for isa, precision in ISA_PRECISIONS if precision == "float16"]
KINDS = ["lstm", "gru", "gru_before", "rnn"]
CELLS = {"lstm": (fastrnn.LSTM, 4), "gru": (fastrnn.GRU, 3), "gru_before": (fastrnn.GRU, 3),
         "rnn": (fastrnn.SimpleRNN, 1)}


def pair_id(pair):
    return "-".join(pair)


def half(array):
    return None if array is None else array.astype(np.float16).astype(np.float32)


def bfloat16(array):
    """Round float32 to bfloat16 (nearest even), as float32."""
    bits = np.asarray(array, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32)


def int8_weights(w):
    """The engine's int8 weights, dequantized: q * s, s = max_k |w[r, k]| / 127 per row."""
    w = np.asarray(w, np.float32)
    scale = np.abs(w).max(axis=1, keepdims=True) / np.float32(127)
    q = np.rint(w / np.where(scale > 0, scale, 1)).clip(-127, 127)
    return q.astype(np.float64) * scale.astype(np.float64)


def int8_inputs(x):
    """Rows quantized as vpdpbusd's inputs: rint(x * 127 / max |x|) * max |x| / 127."""
    x = np.asarray(x, np.float32)
    most = np.abs(x).max(axis=-1, keepdims=True)
    inverse = np.float32(127) / np.where(most > 0, most, np.float32(1))
    q = np.rint(x * np.where(most > 0, inverse, 0).astype(np.float32))
    return q.astype(np.float64) * (most / np.float32(127)).astype(np.float64)


def rounding(kernels):
    """(weights, inputs) transforms the kernels `kernels` apply before a product."""
    if "vdpbf16ps" in kernels:
        return bfloat16, lambda x: bfloat16(np.asarray(x, np.float32))
    if "vpdpbusd" in kernels:
        return int8_weights, int8_inputs
    if "bfloat16" in kernels:
        return bfloat16, np.asarray
    if "int8" in kernels:
        return int8_weights, np.asarray
    return half, np.asarray


def twin(kind, weights, head, x, weight_of, input_of):
    """float64 reference of kind -> Dense(softmax) over x (B, T, I), every
    product's weights through weight_of and its input rows through input_of."""
    def rounded(x):
        return np.asarray(input_of(x), np.float64)

    w_ih, w_hh, b_ih, b_hh = weights
    w_ih, w_hh = np.asarray(weight_of(w_ih), np.float64), np.asarray(weight_of(w_hh), np.float64)
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    h, c = np.zeros((batch, hidden)), np.zeros((batch, hidden))
    out = np.empty((batch, steps, hidden))
    for t in range(steps):
        xp = rounded(x[:, t]) @ w_ih.T + b_ih
        hp = rounded(h) @ w_hh.T
        if kind == "lstm":
            a = xp + hp + b_hh
            i, f, g, o = np.split(a, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        elif kind == "rnn":
            h = np.tanh(xp + hp + b_hh)
        else:
            xr, xz, xn = np.split(xp, 3, axis=1)
            hr, hz, hn = np.split(hp + (b_hh if kind == "gru" else 0), 3, axis=1)
            br, bz, bn = np.split(b_hh, 3)
            if kind == "gru":
                r, z = sigmoid(xr + hr), sigmoid(xz + hz)
                n = np.tanh(xn + r * hn)
            else:
                r, z = sigmoid(xr + hr + br), sigmoid(xz + hz + bz)
                n = np.tanh(xn + rounded(r * h) @ w_hh[2 * hidden:].T + bn)
            h = n + z * (h - n)
        out[:, t] = h
    w, b = head
    return softmax(rounded(out.reshape(batch * steps, hidden)).reshape(out.shape)
                   @ np.asarray(weight_of(w), np.float64).T + b)


def model_of(kind, weights, head, isa, precision):
    cls, _ = CELLS[kind]
    options = {"reset_after": kind == "gru"} if cls is fastrnn.GRU else {}
    return fastrnn.Sequential([cls(*weights, **options), fastrnn.Dense(*head, "softmax")],
                              isa=isa, precision=precision)


@pytest.mark.parametrize("pair", ISA_PRECISIONS, ids=pair_id)
@pytest.mark.parametrize("kind", KINDS)
def test_equals_its_naive_twin(pair, kind, rng):
    """Each kernel against the NumPy twin rounding the same weights (and, for
    the dot products, the same inputs). The dot products' twins quantize
    float64 inputs where the engine quantizes float32 ones, so a value on a
    rounding boundary can land one step apart: their bound is looser."""
    isa, precision = pair
    weights = recurrent_weights(rng, CELLS[kind][1], 20, 70)
    head = dense_weights(rng, 70, 6)
    x = inputs(rng, (3, 30, 20))
    kernels = _engine.kernels_name(isa, precision)
    expected = twin(kind, weights, head, x, *rounding(kernels))
    got = model_of(kind, weights, head, isa, precision).predict(x)
    bound = TOLERANCE["dot_twin"] if "vd" in kernels or "vp" in kernels else TOLERANCE["float32"]
    assert max_abs(got, expected) <= bound, kernels


@pytest.mark.parametrize("pair", ISA_PRECISIONS, ids=pair_id)
def test_wide_inputs_prepared_in_several_passes(pair, rng):
    """16500 input features: the dot products convert rows in passes of one
    (bfloat16) or three (int8) rows, the int8 sums in two blocks of 16384
    inputs; the projection of 7 x 3 frames against its twin (bound as
    above), and each sequence alone gives the bits of the batch."""
    isa, precision = pair
    weights = recurrent_weights(rng, 4, 16500, 8)
    head = dense_weights(rng, 8, 3)
    x = inputs(rng, (7, 3, 16500)) * np.float32(0.02)
    kernels = _engine.kernels_name(isa, precision)
    model = model_of("lstm", weights, head, isa, precision)
    got = model.predict(x)
    bound = TOLERANCE["dot_twin"] if "vd" in kernels or "vp" in kernels else TOLERANCE["float32"]
    assert max_abs(got, twin("lstm", weights, head, x, *rounding(kernels))) <= bound, kernels
    for row in (0, 4, 6):
        assert np.array_equal(model.predict(x[row]), got[row])


@pytest.mark.parametrize("pair", ISA_PRECISIONS, ids=pair_id)
@pytest.mark.parametrize("kind", KINDS)
def test_within_the_stated_bound_of_float32(pair, kind, rng):
    """A two-layer model over 1000 steps (state drift shows): every output
    within PRECISION_BOUND of the float32 engine's."""
    isa, precision = pair
    cls, gates = CELLS[kind]
    options = {"reset_after": kind == "gru"} if cls is fastrnn.GRU else {}
    layers = [cls(*recurrent_weights(rng, gates, 24, 96), **options),
              cls(*recurrent_weights(rng, gates, 96, 64), **options),
              fastrnn.Dense(*dense_weights(rng, 64, 5))]
    x = inputs(rng, (2, 1000, 24))
    reference = fastrnn.Sequential(layers, isa=isa).predict(x)
    got = fastrnn.Sequential(layers, isa=isa, precision=precision).predict(x)
    assert max_abs(got, reference) <= PRECISION_BOUND[precision]


@pytest.mark.parametrize("pair", ISA_PRECISIONS, ids=pair_id)
def test_bit_for_bit_whatever_the_batch_chunks_and_threads(pair, rng, restore_threads):
    """Each row's arithmetic is fixed (the dot products quantize per row):
    batched predict, one sequence alone, 2 threads and a stream in odd
    chunks give the same bits."""
    isa, precision = pair
    layers = [fastrnn.LSTM(*recurrent_weights(rng, 4, 12, 40)),
              fastrnn.GRU(*recurrent_weights(rng, 3, 40, 33)),
              fastrnn.Dense(*dense_weights(rng, 33, 4))]
    model = fastrnn.Sequential(layers, isa=isa, precision=precision)
    x = inputs(rng, (7, 50, 12))
    fastrnn.set_num_threads(1)
    y = model.predict(x)
    fastrnn.set_num_threads(2)
    assert np.array_equal(model.predict(x), y)
    assert np.array_equal(model.predict(x[3]), y[3])
    stream = model.stream()
    chunks = [stream.process(x[5, a:b]) for a, b in [(0, 1), (1, 8), (8, 8), (8, 50)]]
    assert np.array_equal(np.concatenate(chunks), y[5])


@pytest.mark.parametrize("pair", ISA_PRECISIONS, ids=pair_id)
@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_before"])
@pytest.mark.parametrize("streams", [None, 8])
def test_one_frame_steps_give_predicts_bits(pair, kind, streams, rng):
    """Streams fed one frame a call (where the int8 dot-product builds
    project the input inside the step's tiles instead of by a gemm first)
    give predict's bits: one stream, or 8 (a full tile of rows and a
    partial one, then 5 of them active: the compacted rows); two recurrent
    layers of several panels (a partial last one), then Dense."""
    isa, precision = pair
    cls, gates = CELLS[kind]
    options = {"reset_after": kind == "gru"} if cls is fastrnn.GRU else {}
    layers = [cls(*recurrent_weights(rng, gates, 13, 37), **options),
              cls(*recurrent_weights(rng, gates, 37, 48), **options),
              fastrnn.Dense(*dense_weights(rng, 48, 3))]
    model = fastrnn.Sequential(layers, isa=isa, precision=precision)
    x = inputs(rng, (streams or 1, 40, 13))
    expected = model.predict(x)
    if streams is None:
        stream = model.stream()
        got = np.stack([stream.step(frame).copy() for frame in x[0]])
        assert np.array_equal(got, expected[0])
        return
    stream = model.stream(batch_size=streams)
    got = np.stack([stream.step(x[:, t]).copy() for t in range(20)], axis=1)
    assert np.array_equal(got, expected[:, :20])
    active = np.array([1, 0, 1, 1, 0, 1, 0, 1], bool)
    rest = np.stack([stream.step(x[:, t], active=active).copy() for t in range(20, 40)], axis=1)
    assert np.array_equal(rest[active], expected[active, 20:])


@pytest.mark.parametrize("pair", ISA_PRECISIONS, ids=pair_id)
def test_convolutions(pair, rng):
    """The conv gemm (groups 1 and 2) reads the packed weights too."""
    isa, precision = pair
    layers = [fastrnn.Conv1d(rng.uniform(-0.3, 0.3, (16, 8, 3)).astype(np.float32),
                             rng.uniform(-0.1, 0.1, 16).astype(np.float32), padding=1),
              fastrnn.Conv1d(rng.uniform(-0.3, 0.3, (8, 8, 3)).astype(np.float32), groups=2),
              fastrnn.GRU(*recurrent_weights(rng, 3, 8, 20)),
              fastrnn.Dense(*dense_weights(rng, 20, 3))]
    x = inputs(rng, (2, 60, 8))
    reference = fastrnn.Sequential(layers, isa=isa).predict(x)
    got = fastrnn.Sequential(layers, isa=isa, precision=precision).predict(x)
    assert max_abs(got, reference) <= PRECISION_BOUND[precision]


@pytest.mark.parametrize("pair", ISA_PRECISIONS, ids=pair_id)
def test_noise_suppressor_graph_streams_in_every_precision(pair):
    """The noise suppressor of issue 12 (two valid tanh convs, three GRUs,
    a concat of the conv output and the GRU outputs, two sigmoid Dense
    heads) at a small size: both outputs within PRECISION_BOUND of the
    float32 graph over 300 frames, and a stream in chunks of 1, 3, 7, 64
    and the rest, then flush, gives predict's bits."""
    isa, precision = pair
    spec = suppressor_spec(channels=(16, 48), hidden=48, seed=5)
    x = random_frames(300, features=spec.features)[None]
    reference = suppressor_to_fastrnn(spec, isa=isa).predict(x)
    model = suppressor_to_fastrnn(spec, isa=isa, precision=precision)
    got = model.predict(x)
    for output, expected in zip(got, reference, strict=True):
        assert output.shape == expected.shape == (1, 300 - spec.delay, output.shape[-1])
        assert max_abs(output, expected) <= PRECISION_BOUND[precision]
    stream = model.stream()
    bounds = [0, 1, 4, 11, 75, 300]
    chunks = [stream.process(x[0, a:b]) for a, b in zip(bounds, bounds[1:])] + [stream.flush()]
    for index, expected in enumerate(got):
        assert np.array_equal(np.concatenate([chunk[index] for chunk in chunks]), expected[0])


def test_digits_model_accuracy(rng):
    """The bundled digits model on the FSDD test split (index < 5): accuracy
    within DIGITS_ACCURACY_POINTS of float32's, for every precision."""
    import pathlib
    import re

    from fastrnn.audio import FrontEnd, load

    root = pathlib.Path("/work/shared/data/fsdd/recordings")
    if not root.is_dir():
        pytest.skip(f"no FSDD recordings at {root}")
    path = pathlib.Path(fastrnn.__file__).parent / "data" / "digits.fastrnn"
    models = {p: fastrnn.load(path, precision=p) for p in _engine.available_precisions(
        fastrnn.info()["isa"])}
    front_end = FrontEnd.from_dict(models["float32"].metadata["front_end"])
    names = [(p, re.match(r"(\d)_[a-z]+_(\d+)\.wav$", p.name)) for p in sorted(root.glob("*.wav"))]
    test = [(p, int(m.group(1))) for p, m in names if m and int(m.group(2)) < 5][::5]
    features = [front_end.features(load(p, sr=front_end.sample_rate)[0]) for p, _ in test]
    labels = np.array([label for _, label in test])
    probabilities = {p: np.stack([m.predict(f) for f in features]) for p, m in models.items()}
    accuracy = {p: float(np.mean(np.argmax(v, axis=1) == labels))
                for p, v in probabilities.items()}
    for precision, value in accuracy.items():
        assert abs(value - accuracy["float32"]) * 100 <= PRECISION_BOUND["digits_points"], (
            precision, accuracy)
        assert max_abs(probabilities[precision], probabilities["float32"]) <= 0.1


@pytest.mark.skipif(not HALF_ISAS, reason="no instruction set with F16C here")
def test_half_rounding_matches_numpy(rng):
    """Packing rounds to nearest even exactly as NumPy, subnormals and ties included."""
    values = np.concatenate([
        np.array([0.0, -0.0, 1.0, 65504.0, 65519.0, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-9,
                  1.00048828125, 1.0009765625, 1.00146484375, -2.5e-6], np.float32),
        (rng.standard_normal(3000) * 10.0 ** rng.integers(-9, 4, 3000)).astype(np.float32)])
    values = values[np.abs(values) <= 65504]
    model = fastrnn.Sequential([fastrnn.Dense(values[:, None])], isa=HALF_ISAS[0],
                               precision="float16")
    got = model.predict(np.ones((1, 1), np.float32))[0]
    assert np.array_equal(got, values.astype(np.float16).astype(np.float32))


def test_bfloat16_rounding(rng):
    """Nearest even, ties included; a Dense of one input gives the weights back."""
    values = np.concatenate([
        np.array([0.0, -0.0, 1.0, 1.00390625, 1.005859375, 1.0078125, 3.3895e38, 1e-40],
                 np.float32),
        (rng.standard_normal(3000) * 10.0 ** rng.integers(-30, 30, 3000)).astype(np.float32)])
    model = fastrnn.Sequential([fastrnn.Dense(values[:, None])], isa="generic",
                               precision="bfloat16")
    got = model.predict(np.ones((1, 1), np.float32))[0]
    assert np.array_equal(got, bfloat16(values))


@pytest.mark.parametrize("precision, weight, message", [
    ("float16", 1e5, "beyond float16's range"),
    ("bfloat16", 3.4e38, "beyond bfloat16's range")])
def test_out_of_range_weights_are_refused(precision, weight, message):
    isa = HALF_ISAS[0] if precision == "float16" and HALF_ISAS else "generic"
    if precision not in _engine.available_precisions(isa):
        pytest.skip(f"no {precision} here")
    with pytest.raises(ValueError, match=message):
        fastrnn.Sequential([fastrnn.Dense(np.full((2, 2), weight))], isa=isa,
                           precision=precision)


def test_generic_has_no_float16():
    with pytest.raises(ValueError, match="precision: expected one of \\['float32', 'bfloat16', "
                                         "'int8'\\] with isa 'generic', got 'float16'"):
        fastrnn.Sequential([fastrnn.Dense(np.ones((2, 2)))], isa="generic", precision="float16")


def test_info_names_the_kernels_of_every_precision():
    kernels = fastrnn.info()["kernels"]
    assert set(kernels) == set(_engine.available_precisions(fastrnn.info()["isa"]))
    assert all(isinstance(name, str) for name in kernels.values())


def test_int8_weights_take_a_quarter(rng):
    layer = fastrnn.LSTM(*recurrent_weights(rng, 4, 64, 128))
    sizes = {p: fastrnn.Sequential([layer], isa="generic", precision=p)._engine.weight_bytes
             for p in ("float32", "bfloat16", "int8")}
    assert sizes["bfloat16"] < 0.52 * sizes["float32"] and sizes["int8"] < 0.3 * sizes["float32"]


def test_stack_reference_is_the_float32_twin(rng):
    """twin() with no rounding is reference.stack (so the twins above test the kernels)."""
    weights = recurrent_weights(rng, 4, 5, 9)
    head = dense_weights(rng, 9, 3)
    x = inputs(rng, (2, 7, 5))
    expected = stack(x, [("lstm", *weights, True), ("dense", *head, "softmax")])
    assert max_abs(twin("lstm", weights, head, x, np.asarray, np.asarray), expected) < 1e-12
