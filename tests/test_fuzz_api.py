"""Adversarial calls of the model API, seeded (issue 14: the fuzz suite's API part).

Hypothesis draws sequences of calls -- predict, and a stream's step,
process, flush, set_state, get_state and reset -- with arguments near the
valid ones and beside them: wrong shapes and sizes (zero included), dtypes
(integers, bool, complex, float16 and float64, byte-swapped), strides,
misaligned and read-only arrays, NaN and infinity, lists, scalars, None,
strings, ndarray subclasses, out= buffers overlapping the input, state
mappings with keys, shapes or counters wrong. On four models: an LSTM with
a Dense head (the lean step path), a GRU with return_sequences=False, a
graph with a strided, padded convolution and two outputs (a lagging
stream), and a Bidirectional layer (predict only).

Every call must succeed or raise one of the exceptions the README's Errors
section documents (ValueError, TypeError); a failed stream call leaves the
state bit for bit as it was. Deterministic (derandomize), no example
database; about a minute in all (EXAMPLES below).
"""

import numpy as np
import pytest

import fastrnn

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = 120          # per model (8 calls each): the four fuzz suites together run about a minute
CALLS = 8               # calls per example, on one stream
DOCUMENTED = (ValueError, TypeError)

FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _weights(rng, *shape):
    return rng.uniform(-0.5, 0.5, shape).astype(np.float32)


def _recurrent(kind, rng, inputs, hidden, **options):
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    layer = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU, "rnn": fastrnn.SimpleRNN}[kind]
    return layer(_weights(rng, gates * hidden, inputs), _weights(rng, gates * hidden, hidden),
                 _weights(rng, gates * hidden), _weights(rng, gates * hidden), **options)


def _dense(rng, inputs, outputs, activation=None):
    return fastrnn.Dense(_weights(rng, outputs, inputs), _weights(rng, outputs), activation)


def _models():
    rng = np.random.default_rng(14)
    x = fastrnn.Input(3)
    conv = fastrnn.Activation("relu")(
        fastrnn.Conv1d(_weights(rng, 4, 3, 3), _weights(rng, 4), stride=2, padding=(1, 2))(x))
    gru = _recurrent("gru", rng, 4, 5)(conv)
    return {
        "lstm": fastrnn.Sequential([_recurrent("lstm", rng, 3, 6), _dense(rng, 6, 2, "tanh")]),
        "last_step": fastrnn.Sequential([_recurrent("gru", rng, 3, 5, return_sequences=False),
                                         _dense(rng, 5, 2, "softmax")]),
        "conv": fastrnn.Model(x, [_dense(rng, 5, 2)(gru), conv], output_names=["y", "conv"]),
        "bidirectional": fastrnn.Sequential([
            fastrnn.Bidirectional(_recurrent("rnn", rng, 3, 4), _recurrent("rnn", rng, 3, 4),
                                  merge_mode="sum")]),
    }


MODELS = _models()


class Subclass(np.ndarray):
    pass


# ---------------------------------------------------------------- arguments

def _misaligned(array):
    """A float32 copy of `array` whose data address is not a multiple of 4."""
    view = np.zeros(array.size * 4 + 1, np.uint8)[1:].view(np.float32).reshape(array.shape)
    view[...] = array
    return view


def _mutated(draw, shape, *, for_output=False):
    """An array-like near `shape`: mostly float32 of that shape, else each
    way a caller can get it wrong."""
    how = draw(st.sampled_from(
        ["valid", "valid", "valid", "float64", "float16", "int", "bool", "complex", "swapped",
         "strided", "misaligned", "readonly", "subclass", "nan", "inf", "list", "scalar",
         "none", "string", "shape", "zero", "ndim"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if how == "shape":
        shape = tuple(max(0, n + draw(st.integers(-1, 2))) for n in shape)
    elif how == "zero" and shape:
        shape = tuple(0 if i == draw(st.integers(0, len(shape) - 1)) else n
                      for i, n in enumerate(shape))
    elif how == "ndim":
        shape = draw(st.sampled_from([shape[1:], shape + (1,), (2,) + shape]))
    values = rng.uniform(-2, 2, shape)
    if how == "none":
        return None
    if how == "string":
        return "frames"
    if how == "scalar":
        return 1.5
    if how == "list":
        return values.tolist()
    if how in ("nan", "inf") and values.size:
        values.flat[draw(st.integers(0, values.size - 1))] = np.nan if how == "nan" else np.inf
    dtype = {"float64": np.float64, "float16": np.float16, "int": np.int32,
             "bool": np.bool_, "complex": np.complex64}.get(how, np.float32)
    array = values.astype(dtype)
    if how == "swapped":
        array = array.astype(array.dtype.newbyteorder())
    elif how == "strided":
        array = np.repeat(array, 2, axis=-1)[..., ::2] if array.ndim else array
    elif how == "misaligned":
        array = _misaligned(array)
    elif how == "readonly":
        array.flags.writeable = False
    elif how == "subclass":
        array = array.view(Subclass)
    if for_output and how == "valid":
        array[...] = np.nan          # out= is written, never read
    return array


def _indices(draw, batch):
    return draw(st.one_of(
        st.none(), st.integers(-2, batch + 1),
        st.lists(st.integers(-1, batch), max_size=4).map(np.array),
        st.sampled_from([np.array([0.5]), np.zeros((1, 1), int), "0", np.array([], float)])))


def _active(draw, batch):
    return draw(st.one_of(
        st.none(),
        st.lists(st.booleans(), min_size=batch, max_size=batch).map(np.array),
        st.lists(st.booleans(), min_size=0, max_size=batch + 2).map(np.array),
        st.sampled_from([np.ones(batch, np.int8), [True] * batch, "yes",
                         np.ones((batch, 1), bool)])))


def _state_like(draw, model, batch, single):
    """A mapping shaped like ``get_state``'s, or ways to get it wrong."""
    shapes = model._engine.state_shapes(batch, single)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    state = {name: rng.uniform(-1, 1, shape).astype(np.float32) for name, shape in shapes.items()}
    for name in state:
        if name.endswith(".position"):     # a window position counter: whole, in range
            state[name] = np.floor(state[name] * 0)
    how = draw(st.sampled_from(["valid", "valid", "missing", "extra", "transposed", "int",
                                "nan", "shape", "list", "none", "counter", "string",
                                "misaligned"]))
    names = sorted(state)
    if how == "list":
        return list(state.values())
    if how == "none":
        return None
    if how == "string":
        return "state"
    if how != "valid" and names:
        name = draw(st.sampled_from(names))
        if how == "misaligned":
            state[name] = _misaligned(state[name])
        elif how == "missing":
            del state[name]
        elif how == "extra":
            state[name + "x"] = state[name]
        elif how == "transposed":
            state[name] = state[name].T.copy()
        elif how == "int":
            state[name] = state[name].astype(np.int64)
        elif how == "nan" and state[name].size:
            state[name].flat[0] = np.nan
        elif how == "shape":
            state[name] = state[name][..., :-1]
        elif how == "counter" and state[name].size:
            state[name].flat[0] = draw(st.sampled_from([0.5, -1.0, 1e9, np.inf]))
    return state


# ---------------------------------------------------------------- checks

def _arrays(result) -> list:
    """The arrays in what a call returned (outputs, tuples of them, states)."""
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, dict):
        result = list(result.values())
    if not isinstance(result, (tuple, list)):
        return []
    return [array for item in result for array in _arrays(item)]


def _outcome(call):
    """True if `call` succeeded (returning float32 arrays only), False if it
    raised a documented exception (anything else fails the test)."""
    try:
        result = call()
    except DOCUMENTED:
        return False
    assert all(array.dtype == np.float32 for array in _arrays(result))
    return True


def _same_state(before: dict, after: dict) -> bool:
    return before.keys() == after.keys() and all(
        np.array_equal(before[k].view(np.uint32), after[k].view(np.uint32)) for k in before)


def _stream_call(draw, model, stream):
    """One adversarial call on `stream` (a closure), drawn."""
    batch = 1 if stream.batch_size is None else stream.batch_size
    single = stream.batch_size is None
    features = model.input_size
    lead = () if single else (batch,)
    operation = draw(st.sampled_from(["step", "step", "process", "process", "flush",
                                      "set_state", "get_state", "reset"]))
    if operation == "step":
        frame = _mutated(draw, lead + (features,))
        out = None
        if draw(st.booleans()) and stream.rate == 1 and stream.delay == 0:
            out = draw(st.sampled_from(["fresh", "alias"]))
            out = (_mutated(draw, lead + (model.output_size,), for_output=True)
                   if out == "fresh" or not isinstance(frame, np.ndarray) else frame)
        active = _active(draw, batch) if not single and draw(st.booleans()) else None
        return lambda: stream.step(frame, out=out, active=active)
    if operation == "process":
        steps = draw(st.integers(0, 7))
        chunk = _mutated(draw, (steps,) + (features,) if single else (batch, steps, features))
        active = _active(draw, batch) if not single and draw(st.booleans()) else None
        return lambda: stream.process(chunk, active=active)
    if operation == "flush":
        active = _active(draw, batch) if not single and draw(st.booleans()) else None
        return lambda: stream.flush(active=active)
    if operation == "set_state":
        state = _state_like(draw, model, batch, single)
        return lambda: stream.set_state(state)
    if operation == "get_state":
        return stream.get_state
    indices = _indices(draw, batch)
    return lambda: stream.reset(indices)


def _predict_call(draw, model):
    single = draw(st.booleans())
    batch, steps = draw(st.integers(0, 3)), draw(st.integers(0, 6))
    shape = (steps, model.input_size) if single else (batch, steps, model.input_size)
    x = _mutated(draw, shape)
    lengths = draw(st.one_of(
        st.none(), st.lists(st.integers(-1, steps + 1), min_size=0, max_size=4).map(np.array),
        st.sampled_from([[0.5], "3", np.zeros((1, 1), int)])))
    initial = (None if not draw(st.booleans())
               else _state_like(draw, model, 1 if single else max(batch, 1), single))
    return_state = draw(st.booleans())
    return lambda: model.predict(x, lengths=lengths, initial_state=initial,
                                 return_state=return_state)


@pytest.mark.parametrize("name", sorted(MODELS))
@FUZZ
@given(data=st.data())
def test_adversarial_calls_succeed_or_raise_documented_errors(name, data):
    model = MODELS[name]
    draw = data.draw
    if model.needs_sequences:
        with pytest.raises(ValueError):
            model.stream()
        for _ in range(CALLS):
            _outcome(_predict_call(draw, model))
        return
    batch_size = draw(st.sampled_from([None, 1, 3]))
    stream = model.stream(batch_size)
    for _ in range(CALLS):
        if draw(st.integers(0, 4)) == 0:
            _outcome(_predict_call(draw, model))
            continue
        call = _stream_call(draw, model, stream)
        before = stream.get_state()
        if not _outcome(call):
            assert _same_state(before, stream.get_state()), "a failed call changed the state"


@FUZZ
@given(data=st.data())
def test_adversarial_stream_arguments(data):
    """Model.stream's own arguments: batch_size, nan_policy, num_threads."""
    batch_size = data.draw(st.one_of(
        st.none(), st.integers(-2, 4), st.sampled_from([2**31, 2**63, 1.0, True, "2", [2]])))
    nan_policy = data.draw(st.sampled_from(["raise", "propagate", "ignore", None, 1]))
    num_threads = data.draw(st.one_of(st.none(), st.integers(-1, 3),
                                      st.sampled_from([2000, 2**31, 1.5, True, "2"])))
    _outcome(lambda: MODELS["lstm"].stream(batch_size, nan_policy=nan_policy,
                                          num_threads=num_threads))
