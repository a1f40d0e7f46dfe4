"""fastrnn.onnx's prepared runs: an IOBinding whose outputs are all bound
to arrays runs as one engine call on the bound arrays' pointers
(_engine.BoundCall), and an If on a scalar input between two compiled
branches picks its branch from that input (fastrnn.onnx._Choice).

Every prepared result equals session.run's bit for bit (the same engine
call) and ONNX Runtime's within ``assert_close(..., "float32")`` (the
issue's 1e-5); rebinding, arrays reshaped in place, overlapping and
unusable arrays take the checked path, which still gives run's results or
says what is wrong.
"""

import gc

import numpy as np
import pytest
from conftest import assert_close

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from fastrnn._engine import BoundCall  # noqa: E402
from fastrnn.onnx import InferenceSession, _BoundRun, _Choice  # noqa: E402

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

FLOAT = TensorProto.FLOAT
INPUTS, HIDDEN = 4, 6


def _lstm_nodes(rng, prefix: str) -> tuple[list, list]:
    """(nodes, initializers) of a batch-first LSTM as PyTorch exports one:
    x (B, T, I) -> Transpose -> LSTM(h, c) -> Squeeze -> Transpose ->
    `prefix`y (B, T, H), `prefix`h_out, `prefix`c_out (1, B, H)."""
    weights = [(prefix + "W", rng.uniform(-1, 1, (1, 4 * HIDDEN, INPUTS))),
               (prefix + "R", rng.uniform(-1, 1, (1, 4 * HIDDEN, HIDDEN))),
               (prefix + "B", rng.uniform(-1, 1, (1, 8 * HIDDEN)))]
    axes = prefix + "axes"
    nodes = [helper.make_node("Transpose", ["x"], [prefix + "xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", [prefix + "xt", prefix + "W", prefix + "R", prefix + "B",
                                       "", "h", "c"],
                              [prefix + "Y", prefix + "h_out", prefix + "c_out"],
                              hidden_size=HIDDEN),
             helper.make_node("Squeeze", [prefix + "Y", axes], [prefix + "Ys"]),
             helper.make_node("Transpose", [prefix + "Ys"], [prefix + "y"], perm=[1, 0, 2])]
    initializers = [(n, v.astype(np.float32)) for n, v in weights] + [
        (axes, np.array([1], np.int64))]
    return nodes, initializers


def _graph(nodes, inputs, outputs, initializers) -> bytes:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info(*o) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]
                             ).SerializeToString()


STATE = ("one", "batch", HIDDEN)
STATE_INPUTS = [("h", FLOAT, STATE), ("c", FLOAT, STATE)]
OUTPUTS = [("y", FLOAT, ["batch", "time", HIDDEN]), ("h_out", FLOAT, STATE),
           ("c_out", FLOAT, STATE)]


@pytest.fixture(scope="module")
def step_model() -> bytes:
    """The per-step graph: x (B, T, I), h, c (1, B, H) -> y, h_out, c_out."""
    nodes, initializers = _lstm_nodes(np.random.default_rng(0), "")
    return _graph(nodes, [("x", FLOAT, ["batch", "time", INPUTS])] + STATE_INPUTS, OUTPUTS,
                  initializers)


@pytest.fixture(scope="module")
def choice_model() -> bytes:
    """An If on sr == 16000 between two such LSTMs (other weights), each
    branch reading the graph's x, h, c, as the VAD's graph."""
    rng = np.random.default_rng(1)
    branches, initializers = {}, [("rate", np.array(16000, np.int64))]
    for key, prefix in (("then_branch", "k16_"), ("else_branch", "k8_")):
        nodes, weights = _lstm_nodes(rng, prefix)
        initializers += weights
        branches[key] = helper.make_graph(nodes, prefix + "branch", [], [
            helper.make_tensor_value_info(prefix + name, *rest) for name, *rest in OUTPUTS])
    nodes = [helper.make_node("Equal", ["sr", "rate"], ["is_16k"]),
             helper.make_node("If", ["is_16k"], ["y", "h_out", "c_out"], **branches)]
    return _graph(nodes, [("x", FLOAT, ["batch", "time", INPUTS]),
                          ("sr", TensorProto.INT64, [])] + STATE_INPUTS, OUTPUTS, initializers)


def _feed(rng, batch=1, steps=1, **fixed) -> dict:
    return {"x": rng.standard_normal((batch, steps, INPUTS)).astype(np.float32),
            "h": rng.standard_normal((1, batch, HIDDEN)).astype(np.float32),
            "c": rng.standard_normal((1, batch, HIDDEN)).astype(np.float32), **fixed}


def _bound(session, feed: dict) -> tuple:
    """(binding, outputs): every input of `feed` bound, every output bound
    to an array of run's shape."""
    binding = session.io_binding()
    for name, array in feed.items():
        binding.bind_cpu_input(name, array)
    outputs = [np.empty_like(a) for a in session.run(None, feed)]
    for value, array in zip(session.get_outputs(), outputs):
        binding.bind_ortvalue_output(value.name, array)
    return binding, outputs


def _assert_equal_run(session, feed: dict, outputs: list) -> None:
    for got, expected in zip(outputs, session.run(None, feed), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_bound_step_is_one_prepared_call_equal_to_run_and_onnxruntime(step_model):
    """Ten steps, the state fed back through two bindings whose state
    arrays swap (as a real-time loop runs): the bound outputs are the same
    arrays each run, equal to run's bit for bit and to ONNX Runtime's."""
    session = InferenceSession(step_model)
    reference = ort.InferenceSession(step_model, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    x = np.zeros((1, 1, INPUTS), np.float32)
    states = ([np.zeros((1, 1, HIDDEN), np.float32) for _ in range(2)],
              [np.zeros((1, 1, HIDDEN), np.float32) for _ in range(2)])
    y = np.empty((1, 1, HIDDEN), np.float32)
    bindings = []
    for turn in (0, 1):
        binding = session.io_binding()
        for name, array in (("x", x), ("h", states[turn][0]), ("c", states[turn][1])):
            binding.bind_cpu_input(name, array)
        for name, array in (("y", y), ("h_out", states[1 - turn][0]),
                            ("c_out", states[1 - turn][1])):
            binding.bind_ortvalue_output(name, array)
        bindings.append(binding)
    expected_state = [np.zeros((1, 1, HIDDEN), np.float32) for _ in range(2)]
    for step in range(10):
        x[...] = rng.standard_normal(x.shape)
        feed = {"x": x.copy(), "h": states[step % 2][0].copy(), "c": states[step % 2][1].copy()}
        expected = session.run(None, feed)
        session.run_with_iobinding(bindings[step % 2])
        got = bindings[step % 2].get_outputs()
        assert got[0] is y and got[1] is states[1 - step % 2][0]
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g, e)
        prob, *expected_state = reference.run(None, {"x": x, "h": expected_state[0],
                                                     "c": expected_state[1]})
        assert_close(y, prob, "float32", "y")
        assert_close(got[1], expected_state[0], "float32", "h_out")
        assert_close(got[2], expected_state[1], "float32", "c_out")
    assert all(isinstance(b._prepared, BoundCall) for b in bindings)   # the prepared path ran


def test_rebinding_an_input_or_an_output_prepares_again(step_model):
    session = InferenceSession(step_model)
    rng = np.random.default_rng(3)
    feed = _feed(rng)
    binding, outputs = _bound(session, feed)
    session.run_with_iobinding(binding)
    _assert_equal_run(session, feed, outputs)
    other = _feed(rng)
    binding.bind_cpu_input("x", other["x"])             # the new array is read, not the old
    binding.bind_cpu_input("h", other["h"])
    feed["x"][...] = np.nan
    moved = np.empty_like(outputs[0])
    before = outputs[0].copy()
    binding.bind_ortvalue_output("y", moved)
    for _ in range(2):                                  # the checked path, then prepared
        session.run_with_iobinding(binding)
        _assert_equal_run(session, {**other, "c": feed["c"]}, [moved] + outputs[1:])
        np.testing.assert_array_equal(outputs[0], before)   # no longer bound: untouched
        assert binding.get_outputs()[0] is moved
    assert isinstance(binding._prepared, BoundCall)


def test_arrays_reshaped_in_place_take_the_checked_path(step_model):
    """A bound array reshaped in place (same memory) since the binding was
    prepared: a shape the graph accepts runs as run does at that shape
    (and is prepared again); one it refuses raises, naming the input."""
    session = InferenceSession(step_model)
    rng = np.random.default_rng(4)
    feed = _feed(rng, steps=2)
    binding, outputs = _bound(session, feed)
    for _ in range(2):
        session.run_with_iobinding(binding)
    assert isinstance(binding._prepared, BoundCall)
    feed["x"].shape = (1, 1, 2 * INPUTS)
    with pytest.raises(ValueError, match="'x'"):
        session.run_with_iobinding(binding)
    feed["x"].shape = (1, 2, INPUTS)                   # back: prepared again, still right
    for _ in range(2):
        session.run_with_iobinding(binding)
        _assert_equal_run(session, feed, outputs)
    assert isinstance(binding._prepared, BoundCall)
    outputs[0].shape = (2, 1, HIDDEN)                  # no longer run's shape
    with pytest.raises(ValueError, match="output 'y': the bound array is float32 \\(2, 1, 6\\)"):
        session.run_with_iobinding(binding)


def test_the_binding_keeps_its_arrays_alive(step_model):
    session = InferenceSession(step_model)
    feed = _feed(np.random.default_rng(5), batch=2)
    expected = session.run(None, feed)
    binding, _ = _bound(session, {name: array.copy() for name, array in feed.items()})
    session.run_with_iobinding(binding)
    gc.collect()                                        # only the binding holds them now
    for _ in range(2):
        session.run_with_iobinding(binding)
        for got, e in zip(binding.get_outputs(), expected, strict=True):
            np.testing.assert_array_equal(got, e)


def test_a_state_bound_as_its_own_output_is_updated_in_place(step_model):
    """h and c bound as inputs and as h_out/c_out: read before the run,
    written after it, as a run then a copy."""
    session = InferenceSession(step_model)
    rng = np.random.default_rng(6)
    feed = _feed(rng)
    h, c = feed["h"].copy(), feed["c"].copy()
    binding = session.io_binding()
    y = np.empty((1, 1, HIDDEN), np.float32)
    for name, array in (("x", feed["x"]), ("h", h), ("c", c)):
        binding.bind_cpu_input(name, array)
    for name, array in (("y", y), ("h_out", h), ("c_out", c)):
        binding.bind_ortvalue_output(name, array)
    for _ in range(3):
        expected = session.run(None, {"x": feed["x"], "h": h.copy(), "c": c.copy()})
        session.run_with_iobinding(binding)
        for got, e in zip((y, h, c), expected, strict=True):
            np.testing.assert_array_equal(got, e)
    assert isinstance(binding._prepared, BoundCall)


def test_outputs_the_engine_cannot_write_in_place_are_copied(step_model):
    """An output overlapping an input (y over the frames it reads), a
    strided input or an output not bound to an array: no prepared call, the
    results as run's; a float64 input is refused as run refuses it."""
    session = InferenceSession(step_model)
    rng = np.random.default_rng(7)
    buffer = np.zeros(2 * INPUTS, np.float32)          # x and y share it
    x, y = buffer[:INPUTS].reshape(1, 1, INPUTS), buffer[:HIDDEN].reshape(1, 1, HIDDEN)
    x[...] = rng.standard_normal(x.shape)
    feed = _feed(rng)
    expected = session.run(None, {**feed, "x": x.copy()})
    binding, outputs = _bound(session, {**feed, "x": x})
    binding.bind_ortvalue_output("y", y)
    for _ in range(2):
        expected = session.run(None, {**feed, "x": x.copy()})     # x holds the last y
        session.run_with_iobinding(binding)
        for got, e in zip([y] + outputs[1:], expected, strict=True):
            np.testing.assert_array_equal(got, e)
    assert binding._prepared is False
    binding.bind_output("y")                            # the session allocates it
    for _ in range(2):
        expected = session.run(None, {**feed, "x": x.copy()})
        session.run_with_iobinding(binding)
        np.testing.assert_array_equal(binding.get_outputs()[0], expected[0])
    assert binding._prepared is False
    strided = {**_feed(rng, batch=2, steps=3), "x": rng.standard_normal(
        (2, 3, 2 * INPUTS)).astype(np.float32)[:, :, ::2]}
    binding, outputs = _bound(session, strided)
    for _ in range(2):
        session.run_with_iobinding(binding)
        _assert_equal_run(session, strided, outputs)
    assert binding._prepared is False
    converted = {**feed, "x": x.astype(np.float64)}
    binding, outputs = _bound(session, {**feed, "x": x})
    binding.bind_cpu_input("x", converted["x"])
    with pytest.raises(TypeError, match="input 'x': expected tensor\\(float\\)"):
        session.run_with_iobinding(binding)             # as run says


@pytest.mark.parametrize("rate", [16000, 8000])
def test_an_if_on_a_scalar_input_picks_its_compiled_branch(choice_model, rate):
    """run and IOBinding on the If graph equal ONNX Runtime's at either
    rate; changing the bound rate's contents between runs switches
    branches."""
    session = InferenceSession(choice_model)
    assert isinstance(session._route, _Choice)
    reference = ort.InferenceSession(choice_model, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(rate)
    sr = np.array(rate, np.int64)
    feed = _feed(rng, batch=2, steps=3, sr=sr)
    for got, expected in zip(session.run(None, feed), reference.run(None, feed), strict=True):
        assert_close(got, expected, "float32", "output")
    binding, outputs = _bound(session, feed)
    for new_rate in (rate, rate, 24000 - rate, rate):
        sr[...] = new_rate
        session.run_with_iobinding(binding)
        _assert_equal_run(session, feed, outputs)
        for got, expected in zip(outputs, reference.run(None, feed), strict=True):
            assert_close(got, expected, "float32", "output")
    assert isinstance(binding._prepared, _BoundRun)
    assert set(session._route.keys.values()) == {"then_branch", "else_branch"}
