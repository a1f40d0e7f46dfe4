"""fastrnn.from_keras on graphs: the CRNN family of crnn_models.py (every case
with a Keras model), imported live and from a saved .keras file, against
Keras 3 (torch backend); streams against predict.

Bound (``assert_keras_close``): max abs error <= TOLERANCE["float32"] (1e-5)
x max(1, max |expected|) x max(1, sqrt(fan_in / 1024)), fan_in the longest
sum of products in the model (a conv's C_in * kernel / groups, a Dense's or
recurrent layer's inputs): float32 rounding of a sum grows like the square
root of its length, and outputs that are not bounded by 1 (states, linear
heads) round relative to their size. Streams equal predict bit for bit.
"""

import functools

import crnn_models
import numpy as np
import pytest
from conftest import TOLERANCE

import fastrnn

KERAS_CASES = [name for name, make in crnn_models.CASES.items()
               if make().keras_model is not None]
IMPORTED = KERAS_CASES
# (rate, delay) of each output, by hand from the Keras layers: valid kernel-3
# convs look 2 frames ahead each; "same" kernel 5 pads (2, 2), kernel 4 (1, 2);
# a causal conv with stride 2 looks at none and halves the rate.
TIMING = {"noise_suppressor": [(1, 4), (1, 4)], "noise_suppressor_full": [(1, 4), (1, 4)],
          "same_gated": [(1, 4)], "causal_residual": [(2, 0)], "activations": [(1, 0)]}
# Models whose strided Keras "same" padding moves with the sequence's length
# (pooled: its average pool's left edge, and whether it repeats the edge
# frames or averages the real ones).
WHOLE_SEQUENCES = ("vad", "keyword_spotter", "pooled")
CHUNKS = [1, 3, 7, 64, None]          # None: the whole sequence in one call


def assert_keras_close(got, expected, fan_in, what):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, Keras {expected.shape}"
    bound = TOLERANCE["float32"] * max(1.0, float(np.abs(expected).max(initial=0.0))) \
        * max(1.0, np.sqrt(fan_in / 1024))
    error = float(np.abs(got - expected).max(initial=0.0))
    assert error <= bound, f"{what}: max abs error {error:.3g} > {bound:.3g}"


def largest_fan_in(weights: dict) -> int:
    """The longest sum of products of a case's layers (canonical layouts)."""
    sizes = [int(np.prod(w.shape[1:])) for name, w in weights.items()
             if w.ndim >= 2 and (name.endswith("weight") or name.endswith(("_ih", "_hh"))
                                 or name == "stft")]
    return max(sizes)


def keras_state_names(kmodel) -> list:
    """Per Keras output: None for a tensor, "<layer>.<part>" for a recurrent
    state (output 1 of an LSTM is h, 2 is c; of a GRU 1 is h), written from
    Keras' own config, independently of fastrnn.io.keras."""
    references = kmodel.get_config()["output_layers"]
    if isinstance(references[0], str):
        references = [references]
    names = []
    for layer, _, index in references:
        part = {1: "h", 2: "c"}.get(index)
        names.append(None if index == 0 else f"{layer}.{part}")
    return names


@functools.lru_cache(maxsize=None)
def inputs(name: str) -> dict:
    """Two sequences of each of the case's test lengths, seeded."""
    case = crnn_models.CASES[name]()
    rng = np.random.default_rng(len(name))
    return {length: rng.standard_normal((2, length, case.input_size)).astype(np.float32)
            for length in case.lengths}


class Imported:
    """A case, its Keras model, Keras' outputs on the test inputs, and the
    fastrnn models from the live model and from its .keras file."""

    def __init__(self, keras, name, directory):
        self.case = crnn_models.CASES[name]()
        self.kmodel = self.case.keras_model(keras, self.case.weights)
        self.expected = {length: crnn_models.keras_outputs(self.kmodel, x)
                         for length, x in inputs(name).items()}
        path = directory / f"{name}.keras"
        self.kmodel.save(path)
        self.models = {"live": fastrnn.from_keras(self.kmodel), ".keras": fastrnn.from_keras(path)}
        self.fan_in = largest_fan_in(self.case.weights)


@pytest.fixture(scope="module", params=IMPORTED)
def imported(request, keras, tmp_path_factory):
    return Imported(keras, request.param, tmp_path_factory.mktemp(request.param))


@pytest.mark.parametrize("source", ["live", ".keras"])
def test_predict_against_keras(imported, source):
    """Every output, and every recurrent state Keras returns (the stream's
    state in fastrnn), for both test lengths."""
    model = imported.models[source]
    states = keras_state_names(imported.kmodel)
    for length, x in inputs(imported.case.name).items():
        expected = imported.expected[length]
        outputs, final = model.predict(x, return_state=True)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        tensors = [e for e, state in zip(expected, states) if state is None]
        assert len(outputs) == len(tensors)
        for index, (got, want) in enumerate(zip(outputs, tensors)):
            assert_keras_close(got, want, imported.fan_in, f"output {index}, T={length}")
        for want, state in zip(expected, states):
            if state is not None:
                assert_keras_close(final[state], want, imported.fan_in, f"{state}, T={length}")


def test_file_gives_the_live_model(imported):
    live, saved = imported.models["live"], imported.models[".keras"]
    assert type(live) is type(saved) and live.output_names == saved.output_names
    assert live.state_names() == saved.state_names()
    for x in inputs(imported.case.name).values():
        for a, b in zip(as_tuple(live.predict(x)), as_tuple(saved.predict(x))):
            assert np.array_equal(a, b)


def test_output_names_are_keras(imported):
    names = [name for name, state in zip(imported.kmodel.output_names,
                                         keras_state_names(imported.kmodel)) if state is None]
    model = imported.models["live"]
    if isinstance(model, fastrnn.Sequential):
        assert len(names) == 1
    else:
        assert model.output_names == names


def streamed(model, x, chunk, batch_size=None):
    """Stream x ((T, F), or (N, T, F) with batch_size) in chunks, then flush:
    a tuple of each output's frames."""
    stream = model.stream(batch_size)
    axis = 0 if batch_size is None else 1
    steps = x.shape[axis]
    chunk = chunk or steps
    parts = [stream.process(x[t:t + chunk] if batch_size is None else x[:, t:t + chunk])
             for t in range(0, steps, chunk)] + [stream.flush()]
    parts = [p if isinstance(p, tuple) else (p,) for p in parts]
    return tuple(np.concatenate([p[o] for p in parts], axis=axis) for o in range(len(parts[0])))


def as_tuple(outputs):
    return outputs if isinstance(outputs, tuple) else (outputs,)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_streams_equal_predict(imported, chunk):
    model = imported.models["live"]
    x = inputs(imported.case.name)[imported.case.lengths[0]]
    if imported.case.name in WHOLE_SEQUENCES:
        assert model.needs_sequences
        with pytest.raises(ValueError, match="needs whole sequences"):
            model.stream()
        return
    assert not model.needs_sequences
    expected = as_tuple(model.predict(x))
    single = streamed(model, x[1], chunk)
    assert all(np.array_equal(s, e[1]) for s, e in zip(single, expected))
    batched = streamed(model, x, chunk, batch_size=2)
    assert all(np.array_equal(b, e) for b, e in zip(batched, expected))


def test_delay(imported):
    """timing as worked out by hand, and a stream releases output frame j of
    each output once input frame j * rate + delay is in."""
    model = imported.models["live"]
    if imported.case.name in WHOLE_SEQUENCES:
        return
    timing = TIMING[imported.case.name]
    assert model.timing == timing
    stream = model.stream()
    assert as_tuple(stream.delay) == tuple(delay for _, delay in timing)
    lagging = any(t != (1, 0) for t in timing)     # then step gives (frames, O), else (O,)
    released = [0] * len(timing)
    for n, frame in enumerate(inputs(imported.case.name)[imported.case.lengths[0]][0], 1):
        for o, frames in enumerate(as_tuple(stream.step(frame))):
            released[o] += frames.shape[0] if lagging else 1
        for o, (rate, delay) in enumerate(timing):
            due = 1 if rate == 0 else max(0, (n - 1 - delay) // rate + 1)
            assert released[o] == due, f"output {o} after {n} frames"


def test_state_round_trip_mid_stream(imported):
    """Every state part (a merge's queued frames too: same_gated's Subtract
    of mix, delay 4, and skip, delay 0) carries a stream across."""
    model = imported.models[".keras"]
    if imported.case.name in WHOLE_SEQUENCES:
        return
    x = inputs(imported.case.name)[imported.case.lengths[1]][0]
    whole = as_tuple(model.predict(x))
    first = model.stream()
    head = as_tuple(first.process(x[:11]))
    saved = first.get_state()
    second = model.stream()
    second.set_state(saved)
    tail, rest = as_tuple(second.process(x[11:])), as_tuple(second.flush())
    for o, expected in enumerate(whole):
        assert np.array_equal(np.concatenate([head[o], tail[o], rest[o]]), expected)
    assert set(saved) == set(model.state_names())
