"""fastrnn.onnx.InferenceSession and the IR it runs: the interface, IOBinding,
what is refused and why, size bounds, read-only arrays, the recurrent
operators' options against ONNX Runtime, and what the IR looks like after
folding (what a compiler pass onto the engine reads).

Tolerance: ``assert_close(..., "float32")`` against ONNX Runtime (the
issue's 1e-5, relative to the output's scale for unbounded activations).
"""

import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import assert_close

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.io.onnx import MAX_TENSOR_BYTES, load_graph  # noqa: E402
from fastrnn.onnx import InferenceSession  # noqa: E402

OPSET = 20


def make_model(nodes, inputs, outputs, initializers=(), opset=OPSET, **kwargs) -> bytes:
    """A model of `nodes`; inputs/outputs as (name, elem type, shape)."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info(*o) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             **kwargs).SerializeToString()


FLOAT = TensorProto.FLOAT


def recurrent_model(op, rng, attributes, steps=5, batch=3, inputs=4, hidden=6,
                    peepholes=False, lengths=False, initial=False, layout=0):
    """(model bytes, feed, output names) of one LSTM/GRU/RNN node with
    seeded weights as initializers."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    directions = 2 if attributes.get("direction") == "bidirectional" else 1
    weights = [("W", rng.uniform(-1, 1, (directions, gates * hidden, inputs))),
               ("R", rng.uniform(-1, 1, (directions, gates * hidden, hidden))),
               ("B", rng.uniform(-1, 1, (directions, 2 * gates * hidden)))]
    if peepholes:
        weights.append(("P", rng.uniform(-1, 1, (directions, 3 * hidden))))
    weights = [(n, v.astype(np.float32)) for n, v in weights]
    x_shape = (batch, steps, inputs) if layout else (steps, batch, inputs)
    state_shape = (batch, directions, hidden) if layout else (directions, batch, hidden)
    graph_inputs = [("X", FLOAT, x_shape)]
    feed = {"X": rng.standard_normal(x_shape).astype(np.float32) * 2}
    names = ["X", "W", "R", "B", "", "", "", ""]
    if lengths:
        names[4] = "L"
        graph_inputs.append(("L", TensorProto.INT32, (batch,)))
        feed["L"] = rng.integers(0, steps + 1, batch).astype(np.int32)
    if initial:
        for index, name in ((5, "h0"), (6, "c0"))[:2 if op == "LSTM" else 1]:
            names[index] = name
            graph_inputs.append((name, FLOAT, state_shape))
            feed[name] = rng.standard_normal(state_shape).astype(np.float32)
    if peepholes:
        names[7] = "P"
    names = names[:8 if op == "LSTM" else 6]
    while names[-1] == "":
        names.pop()
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outputs, hidden_size=hidden, layout=layout, **attributes)
    model = make_model([node], graph_inputs, [(o, FLOAT, None) for o in outputs], weights)
    return model, feed, outputs


ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

# Every option of the recurrent operators beyond the conformance cases, with
# explicit alphas/betas where ONNX Runtime's defaults differ from the spec's
# (see test_activation_defaults_follow_the_spec). ONNX Runtime rejects
# layout=1; the session's layout=1 is tested against layout 0 below.
RECURRENT_OPTIONS = [
    ("LSTM", {"clip": 0.5}, {}),
    ("LSTM", {"input_forget": 1}, {}),
    ("LSTM", {}, {"peepholes": True, "lengths": True, "initial": True}),
    ("LSTM", {"direction": "bidirectional", "input_forget": 1, "clip": 2.0},
     {"peepholes": True, "lengths": True, "initial": True}),
    ("LSTM", {"direction": "reverse"}, {"lengths": True, "initial": True}),
    ("LSTM", {"activations": ["LeakyRelu", "Tanh", "Elu"], "activation_alpha": [0.1, 0.5]}, {}),
    ("LSTM", {"activations": ["HardSigmoid", "ScaledTanh", "Affine"],
              "activation_alpha": [0.3, 0.7, 0.9], "activation_beta": [0.4, 1.2, 0.1]}, {}),
    ("LSTM", {"activations": ["Sigmoid", "Softsign", "Softplus"]}, {}),
    ("LSTM", {"activations": ["Sigmoid", "ThresholdedRelu", "Relu"],
              "activation_alpha": [0.2]}, {}),
    ("GRU", {"clip": 0.3, "linear_before_reset": 1}, {}),
    ("GRU", {"clip": 0.3, "direction": "bidirectional"}, {"lengths": True, "initial": True}),
    ("GRU", {"activations": ["HardSigmoid", "Softsign", "Sigmoid", "Tanh"],
             "direction": "bidirectional", "linear_before_reset": 1}, {}),
    ("GRU", {"direction": "reverse"}, {"lengths": True}),
    ("RNN", {"activations": ["Relu"]}, {"initial": True}),
    ("RNN", {"activations": ["LeakyRelu", "Elu"], "activation_alpha": [0.2, 0.7], "clip": 1.5,
             "direction": "bidirectional"}, {"lengths": True, "initial": True}),
]


@pytest.mark.parametrize("op, attributes, options", RECURRENT_OPTIONS,
                         ids=[f"{op}-{sorted(a)}-{sorted(o)}" for op, a, o in RECURRENT_OPTIONS])
def test_recurrent_options_match_onnxruntime(rng, op, attributes, options):
    model, feed, outputs = recurrent_model(op, rng, attributes, **options)
    expected = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(outputs, feed)
    for name, got, want in zip(outputs, InferenceSession(model).run(outputs, feed), expected):
        assert_close(got, want, "float32", f"{op} {name}")


def test_a_reshape_with_the_example_sizes_baked_in_is_onnxs(rng):
    """onnxscript's optimizer can turn a Reshape of an LSTM's output into one
    with a constant target holding the export example's sizes, in a graph
    whose axes are dynamic: for other sizes that Reshape scrambles batch and
    time, and the session must give what ONNX Runtime gives (it runs as
    NumPy's Reshape, not as a relabelling of the features)."""
    hidden, inputs = 6, 4
    weights = [("W", rng.uniform(-1, 1, (1, 4 * hidden, inputs)).astype(np.float32)),
               ("R", rng.uniform(-1, 1, (1, 4 * hidden, hidden)).astype(np.float32)),
               ("axes", np.array([1], np.int64)), ("shape", np.array([5, 3, hidden], np.int64))]
    model = make_model([helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=hidden),
                        helper.make_node("Squeeze", ["Y", "axes"], ["squeezed"]),
                        helper.make_node("Reshape", ["squeezed", "shape"], ["out"])],
                       [("X", FLOAT, ["time", "batch", inputs])],
                       [("out", FLOAT, None)], weights)
    session, reference = InferenceSession(model), ort.InferenceSession(model)
    for steps, batch in ((5, 3), (3, 5)):                  # the baked sizes, then others
        feed = {"X": rng.standard_normal((steps, batch, inputs)).astype(np.float32)}
        got, expected = session.run(None, feed)[0], reference.run(None, feed)[0]
        assert got.shape == expected.shape == (5, 3, hidden)
        assert_close(got, expected, "float32")


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("fastrnn_kernels", [True, False])
def test_layout_1_is_layout_0_transposed(rng, op, fastrnn_kernels):
    """Batch-first graphs (which ONNX Runtime refuses) give layout 0's
    numbers, through fastrnn's kernels and through the NumPy operator (clip
    makes the node one the kernels do not run)."""
    attributes = {"direction": "bidirectional"} if fastrnn_kernels else {"clip": 50.0}
    seed = rng.integers(1 << 30)
    first, feed, outputs = recurrent_model(op, np.random.default_rng(seed), attributes,
                                           lengths=True, initial=True)
    second, feed_1, _ = recurrent_model(op, np.random.default_rng(seed), attributes,
                                        lengths=True, initial=True, layout=1)
    feed_1 = {"X": feed["X"].transpose(1, 0, 2), "L": feed["L"],
              **{n: feed[n].transpose(1, 0, 2) for n in ("h0", "c0") if n in feed}}
    expected = InferenceSession(first).run(outputs, feed)
    got = InferenceSession(second).run(outputs, feed_1)
    assert_close(got[0], expected[0].transpose(2, 0, 1, 3), "float32", "Y")
    for g, e in zip(got[1:], expected[1:]):
        assert_close(g, e.transpose(1, 0, 2), "float32", "states")


def test_activation_defaults_follow_the_spec(rng):
    """A missing alpha is the ONNX operator's default (ThresholdedRelu 1.0,
    Affine 1.0 / 0.0): the same numbers as giving it explicitly. (ONNX
    Runtime 1.32 uses 0, which is why the comparison is with the explicit
    form.) ScaledTanh has no default in the spec: refused without one."""
    seed = rng.integers(1 << 30)
    implicit = {"activations": ["Sigmoid", "ThresholdedRelu", "Affine"]}
    explicit = {**implicit, "activation_alpha": [1.0, 1.0], "activation_beta": [0.0]}
    model, feed, outputs = recurrent_model("LSTM", np.random.default_rng(seed), implicit)
    reference, _, _ = recurrent_model("LSTM", np.random.default_rng(seed), explicit)
    for got, want in zip(InferenceSession(model).run(outputs, feed),
                         ort.InferenceSession(reference).run(outputs, feed)):
        assert_close(got, want, "float32", "defaults")
    model, feed, outputs = recurrent_model("LSTM", rng, {
        "activations": ["Sigmoid", "ScaledTanh", "Tanh"]})
    with pytest.raises(ValueError, match="ScaledTanh.*no default"):
        InferenceSession(model).run(outputs, feed)


def test_kernels_run_what_they_can(rng):
    """Default activations compile onto the engine; a reverse-only node runs
    fastrnn's kernels on its own; peepholes run in the operator table (the
    session's plan says which)."""
    from fastrnn.io.onnx.compile import CompiledGraph
    from fastrnn.onnx import _RecurrentStep

    plain, _, _ = recurrent_model("LSTM", rng, {})
    reverse, _, _ = recurrent_model("LSTM", rng, {"direction": "reverse"})
    peepholes, _, _ = recurrent_model("LSTM", rng, {}, peepholes=True)
    assert [type(step) for step, _ in InferenceSession(plain)._plan] == [CompiledGraph]
    assert isinstance(InferenceSession(reverse)._plan[0][1], _RecurrentStep)
    assert InferenceSession(peepholes)._plan[0][1] is None


def test_a_slice_of_whole_axes_compiles_as_its_input(rng):
    """x[:, ...] (a Slice from 0 to INT64_MAX, step 1, as a scripted export
    writes it) between two convolutions leaves one engine segment; a Slice
    that drops the first element does not compile as its input, and both
    give ONNX Runtime's outputs."""
    from fastrnn.io.onnx.compile import CompiledGraph

    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    weights = [("w1", rng.uniform(-1, 1, (4, 2, 3)).astype(np.float32)),
               ("w2", rng.uniform(-1, 1, (5, 4, 1)).astype(np.float32)),
               ("begin", np.array([0])), ("later", np.array([1])),
               ("end", np.array([np.iinfo(np.int64).max])), ("axis", np.array([0]))]
    feed = {"x": rng.standard_normal((3, 2, 9)).astype(np.float32)}
    for begin, batch, segments in (("begin", 3, [CompiledGraph]), ("later", 2, None)):
        model = make_model(
            [helper.make_node("Conv", ["x", "w1"], ["c1"]),
             helper.make_node("Slice", ["c1", begin, "end", "axis"], ["s"]),
             helper.make_node("Conv", ["s", "w2"], ["y"])],
            [("x", FLOAT, (3, 2, 9))], [("y", FLOAT, (batch, 5, 7))], weights)
        session = InferenceSession(model)
        if segments:
            assert [type(step) for step, _ in session._plan] == segments
        assert_close(session.run(None, feed)[0],
                     ort.InferenceSession(model).run(None, feed)[0], "float32", begin)


# ---------------------------------------------------------------------------
# The interface.

def _gru_model(rng):
    return recurrent_model("GRU", rng, {"direction": "bidirectional"}, batch=2)


def test_session_interface(rng):
    model, feed, outputs = _gru_model(rng)
    session = InferenceSession(model)
    assert [i.name for i in session.get_inputs()] == ["X"]
    assert session.get_inputs()[0].shape == [5, 2, 4]
    assert session.get_inputs()[0].type == "tensor(float)"
    assert [o.name for o in session.get_outputs()] == ["Y", "Y_h"]
    assert len(session.run(None, feed)) == 2
    assert [o.shape for o in session.run(["Y_h"], feed)] == [(2, 2, 6)]
    with pytest.raises(ValueError, match=r"missing inputs \['X'\]"):
        session.run(None, {})
    with pytest.raises(ValueError, match="unknown outputs"):
        session.run(["Z"], feed)
    with pytest.raises(TypeError, match="expected tensor\\(float\\)"):
        session.run(None, {"X": feed["X"].astype(np.float64)})
    with pytest.raises(ValueError, match="expected shape"):
        session.run(None, {"X": feed["X"][:, :1]})


def test_concurrent_runs_give_each_their_own_results(rng):
    """Runs from several threads at once (the engine call keeps buffers
    between calls, taken by one call at a time) equal runs one by one;
    every result is a new array owning its data."""
    model, _, _ = recurrent_model("LSTM", rng, {}, initial=True)
    session = InferenceSession(model)
    feeds = [recurrent_model("LSTM", np.random.default_rng(seed), {}, initial=True)[1]
             for seed in range(8)]
    alone = [session.run(None, feed) for feed in feeds]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda k: session.run(None, feeds[k % 8]), range(64)))
    for k, outputs in enumerate(together):
        for got, expected in zip(outputs, alone[k % 8], strict=True):
            np.testing.assert_array_equal(got, expected)
            assert got.flags.owndata and got.flags.writeable and got.flags.c_contiguous
    first, again = session.run(None, feeds[0]), session.run(None, feeds[0])
    assert not any(np.shares_memory(a, b) for a in first for b in again)


def test_symbolic_dims_must_agree_across_inputs():
    model = make_model([helper.make_node("Add", ["a", "b"], ["y"])],
                       [("a", FLOAT, ["n"]), ("b", FLOAT, ["n"])], [("y", FLOAT, ["n"])])
    session = InferenceSession(model)
    assert session.run(None, {"a": np.ones(3, np.float32), "b": np.ones(3, np.float32)})[0][0] == 2
    with pytest.raises(ValueError, match="'n' is 3 in input 'a'"):
        session.run(None, {"a": np.ones(3, np.float32), "b": np.ones(4, np.float32)})


def test_read_only_arrays_are_accepted_everywhere(rng):
    """Read-only inputs and initial states; outputs are writable arrays of
    their own (a graph output that is a constant is copied)."""
    model, feed, outputs = recurrent_model("LSTM", rng, {}, initial=True)
    expected = InferenceSession(model).run(outputs, feed)
    for array in feed.values():
        array.flags.writeable = False
    got = InferenceSession(model).run(outputs, feed)
    for g, e in zip(got, expected):
        assert np.array_equal(g, e)
        assert g.flags.writeable
    constant = make_model([helper.make_node("Identity", ["w"], ["y"])], [], [("y", FLOAT, [2])],
                          [("w", np.ones(2, np.float32))])
    out = InferenceSession(constant).run(None, {})[0]
    out[0] = 5                                            # writable, and not the constant
    assert InferenceSession(constant).run(None, {})[0][0] == 1


def test_iobinding_writes_into_preallocated_outputs(rng):
    model, feed, outputs = _gru_model(rng)
    session = InferenceSession(model)
    expected = session.run(outputs, feed)
    binding = session.io_binding()
    binding.bind_cpu_input("X", feed["X"])
    y = np.empty_like(expected[0])
    binding.bind_ortvalue_output("Y", y)
    binding.bind_output("Y_h")
    for _ in range(2):
        session.run_with_iobinding(binding)
        got = binding.get_outputs()
        assert got[0] is y                        # the same buffer, every run
        assert np.array_equal(y, expected[0]) and np.array_equal(got[1], expected[1])
    assert [a.shape for a in binding.copy_outputs_to_cpu()] == [e.shape for e in expected]
    binding.clear_binding_outputs()
    binding.bind_ortvalue_output("Y", np.empty((1, 2), np.float32))
    with pytest.raises(ValueError, match="the bound array is float32 \\(1, 2\\)"):
        session.run_with_iobinding(binding)
    with pytest.raises(TypeError, match="writable C-contiguous"):
        binding.bind_ortvalue_output("Y", np.empty((6, 5), np.float32).T)
    with pytest.raises(ValueError, match="unknown input"):
        binding.bind_cpu_input("nope", feed["X"])


# ---------------------------------------------------------------------------
# What is refused.

def test_unsupported_operators_and_foreign_domains_are_refused():
    model = make_model([helper.make_node("Hardmax", ["x"], ["y"], name="hm")],
                       [("x", FLOAT, [2])], [("y", FLOAT, [2])])
    with pytest.raises(NotImplementedError, match="'hm'.*'Hardmax'.*domain 'ai.onnx'"):
        InferenceSession(model)
    foreign = make_model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.acme")],
                         [("x", FLOAT, [2])], [("y", FLOAT, [2])],
                         opset=OPSET)
    model = onnx.load_from_string(foreign)
    model.opset_import.append(helper.make_opsetid("com.acme", 1))
    with pytest.raises(NotImplementedError, match="'r'.*'Relu' of domain 'com.acme'"):
        InferenceSession(model.SerializeToString())


@pytest.mark.parametrize("field, value, message", [
    ("opset", "newest + 1", r"opset {value} of the default domain.*knows 1 to {newest}"),
    ("opset", 0, r"opset 0 of the default domain.*knows 1 to {newest}"),
    ("ir_version", "newest + 1", r"IR version {value}; the installed onnx .* knows up to"),
    ("ir_version", 0, r"IR version 0; fastrnn reads IR versions 3 \(ONNX 1.0\)"),
    ("ir_version", 2, r"IR version 2; fastrnn reads IR versions 3 \(ONNX 1.0\)"),
])
def test_opset_and_ir_versions_out_of_range_are_refused(field, value, message):
    """Issue 14 item 15: any opset or IR version was read; now only those
    from the first with opset imports (IR 3) to the installed onnx's."""
    relu = [helper.make_node("Relu", ["x"], ["y"])]
    io = ([("x", FLOAT, [2])], [("y", FLOAT, [2])])
    newest = onnx.defs.onnx_opset_version() if field == "opset" else onnx.IR_VERSION
    value = newest + 1 if value == "newest + 1" else value
    model = onnx.load_from_string(make_model(relu, *io))
    if field == "opset":
        model.opset_import[0].version = value
    else:
        model.ir_version = value
    for load in (InferenceSession, fastrnn.from_onnx):
        with pytest.raises(fastrnn.FormatError, match=message.format(value=value, newest=newest)):
            load(model.SerializeToString())


def test_softmax_before_opset_13_is_refused():
    model = make_model([helper.make_node("Softmax", ["x"], ["y"], name="s")],
                       [("x", FLOAT, [2, 3, 4])], [("y", FLOAT, [2, 3, 4])], opset=12)
    with pytest.raises(NotImplementedError, match="'s': Softmax-11"):
        InferenceSession(model)


def test_unknown_direction_is_refused(rng):
    """Issue 14 item 15: direction="sideways" ran as forward."""
    model, _, _ = recurrent_model("GRU", rng, {"direction": "sideways"})
    for load in (InferenceSession, fastrnn.from_onnx):
        with pytest.raises(fastrnn.FormatError, match="direction must be forward, reverse or "
                                                      "bidirectional, got 'sideways'"):
            load(model)


def test_a_recurrent_node_of_a_foreign_domain_is_refused(rng):
    """Issue 14 item 15: an LSTM in a foreign domain ran as the standard one."""
    model = onnx.load_from_string(recurrent_model("LSTM", rng, {})[0])
    model.graph.node[0].domain = "com.acme"
    model.opset_import.append(helper.make_opsetid("com.acme", 1))
    for load in (InferenceSession, fastrnn.from_onnx):
        with pytest.raises(NotImplementedError, match="'LSTM' of domain 'com.acme'"):
            load(model.SerializeToString())


@pytest.mark.parametrize("dtype, message", [
    (np.int64, r"input W is tensor\(int64\); LSTM-14 takes \['tensor\(double\)', "
               r"'tensor\(float\)', 'tensor\(float16\)'\]"),
    (np.int32, r"input W is tensor\(int32\); LSTM-14 takes"),
    (np.complex64, r"input W is tensor\(complex64\); LSTM-14 takes"),
    (np.float64, r"input W is tensor\(double\) but X is tensor\(float\) \(both of type T\)"),
])
def test_initializers_of_other_types_are_refused(rng, dtype, message):
    """Issue 14 item 15: complex and integer initializers were cast to float
    (the session ran them); inputs must have the types the operator's
    schema allows, one type per type parameter (as ONNX Runtime requires)."""
    model = onnx.load_from_string(recurrent_model("LSTM", rng, {})[0])
    weight = model.graph.initializer[0]
    weight.CopyFrom(numpy_helper.from_array(
        (numpy_helper.to_array(weight) * 10).astype(dtype), weight.name))
    for load in (InferenceSession, fastrnn.from_onnx):
        with pytest.raises(fastrnn.FormatError, match=message):
            load(model.SerializeToString())


def test_bytes_that_are_not_a_model_raise_format_error(rng, tmp_path):
    """Issue 14 item 12: a truncated or damaged file raised protobuf's
    DecodeError."""
    model = recurrent_model("LSTM", rng, {})[0]
    (tmp_path / "truncated.onnx").write_bytes(model[:len(model) // 2])
    for source in (b"\x08\x07not a model\xff\xff", model[:len(model) // 2],
                   tmp_path / "truncated.onnx"):
        for load in (InferenceSession, fastrnn.from_onnx):
            with pytest.raises(fastrnn.FormatError, match="not an ONNX model"):
                load(source)


# ---------------------------------------------------------------------------
# Size bounds: checked before anything is allocated.

def _peak_during(function) -> int:
    """Peak traced bytes allocated while `function` runs (it must raise ValueError)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="exceeds fastrnn's bound") as error:
            function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, str(error.value)


def _exported_lstm(dynamic: bool) -> onnx.ModelProto:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    import io
    import warnings

    torch.manual_seed(0)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.LSTM(5, 9, num_layers=2), (torch.randn(4, 3, 5),), buffer,
                          input_names=["x"], dynamo=False,
                          dynamic_axes={"x": {0: "time", 1: "batch"}} if dynamic else None)
    return onnx.load_from_string(buffer.getvalue())


def _flip_two_bits_of_the_zero_state_shape(model: onnx.ModelProto) -> None:
    """Bits 28 and 29 of the first size in the exported zero state's shape
    (layers x directions: 1 or 2 -> 805306369 or 805306370, a (8e8, 3, 9)
    float32 state of 81 GiB)."""
    concat = next(node for node in model.graph.node if node.op_type == "Concat")
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == concat.input[0]:
            size = numpy_helper.to_array(node.attribute[0].t).copy()
            size[0] ^= (1 << 28) | (1 << 29)
            node.attribute[0].t.CopyFrom(numpy_helper.from_array(size))
            return
    raise AssertionError("the export's zero state is not built as expected")


@pytest.mark.parametrize("dynamic", [False, True])
def test_two_bit_flips_in_an_exported_lstm_raise_before_allocating(dynamic):
    """Static axes (Expand of a zero constant): the size is known at load;
    dynamic axes (ConstantOfShape): at run, once the batch is known. Either
    way ValueError naming the node, and nothing big allocated (tracemalloc
    sees NumPy's buffers)."""
    model = _exported_lstm(dynamic)
    _flip_two_bits_of_the_zero_state_shape(model)
    data = model.SerializeToString()
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(np.float32)

    def load_and_run():
        InferenceSession(data).run(None, {"x": x})

    peak, message = _peak_during(load_and_run)
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    op = "ConstantOfShape" if dynamic else "Expand"
    assert f"({op})" in message and "81 GiB" in message, message


def test_flipped_initializer_dims_are_refused_before_reading():
    model = _exported_lstm(False)
    weight = model.graph.initializer[0]
    weight.dims[2] ^= (1 << 30) | (1 << 31)
    peak, message = _peak_during(lambda: InferenceSession(model.SerializeToString()))
    assert peak < 64 * 2**20
    assert weight.name in message


def test_a_crafted_constant_of_shape_asking_for_37_gib_raises():
    shape = np.array([37, 1024, 1024, 256], np.int64)             # float32: 37 GiB
    node = helper.make_node("ConstantOfShape", ["shape"], ["big"], name="bomb")
    add = helper.make_node("Add", ["big", "x"], ["y"])
    constant = make_model([node, add], [("x", FLOAT, [1])], [("y", FLOAT, None)],
                          [("shape", shape)])
    fed = make_model([node, add], [("shape", TensorProto.INT64, [4]), ("x", FLOAT, [1])],
                     [("y", FLOAT, None)])
    x = np.zeros(1, np.float32)
    for load_and_run in (lambda: InferenceSession(constant).run(None, {"x": x}),
                         lambda: InferenceSession(fed).run(None, {"shape": shape, "x": x})):
        peak, message = _peak_during(load_and_run)
        assert peak < 64 * 2**20
        assert "'bomb'" in message and "37 GiB" in message
    assert MAX_TENSOR_BYTES == 4 * 2**30


# ---------------------------------------------------------------------------
# The IR after load-time folding.

def test_the_ir_folds_constants_and_lifts_parameters():
    """Slice/Concat/Unsqueeze of initializers fold into one constant (read
    only); Shape of a static input folds; Squeeze's constant axes become
    its attribute; Identity disappears; defaults are filled in."""
    weight = np.arange(12, dtype=np.float32).reshape(3, 4)
    nodes = [
        helper.make_node("Slice", ["w", "zero", "two", "zero"], ["top"]),
        helper.make_node("Slice", ["w", "two", "three", "zero"], ["bottom"]),
        helper.make_node("Concat", ["bottom", "top"], ["swapped"], axis=0),
        helper.make_node("Unsqueeze", ["swapped", "zero"], ["w3"]),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Identity", ["x"], ["x_copy"]),
        helper.make_node("Unsqueeze", ["x_copy", "zero"], ["x3"]),
        helper.make_node("Transpose", ["w3"], ["w3_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["x3", "w3_t"], ["product"]),
        helper.make_node("Squeeze", ["product", "zero"], ["y"]),
        helper.make_node("Gelu", ["y"], ["z"]),
    ]
    model = make_model(nodes, [("x", FLOAT, [2, 4])], [("z", FLOAT, None),
                                                       ("x_shape", TensorProto.INT64, None)],
                       [("w", weight), ("zero", np.array([0])), ("two", np.array([2])),
                        ("three", np.array([3]))])
    graph = load_graph(model)
    assert [n.op for n in graph.nodes] == ["Unsqueeze", "MatMul", "Squeeze", "Gelu"]
    unsqueeze, matmul, squeeze, gelu = graph.nodes
    assert unsqueeze.inputs == ["x"] and unsqueeze.attributes["axes"].tolist() == [0]
    folded = graph.constants[matmul.inputs[1]]
    assert np.array_equal(folded[0], np.concatenate([weight[2:], weight[:2]]).T)
    assert not folded.flags.writeable
    assert graph.constants["x_shape"].tolist() == [2, 4]
    assert gelu.attributes == {"approximate": "none"}
    assert graph.values["z"].shape == (2, 3)
    x = np.ones((2, 4), np.float32)
    z, x_shape = InferenceSession(model).run(None, {"x": x})
    assert z.shape == (2, 3) and x_shape.tolist() == [2, 4]


def test_the_ir_orders_nodes_topologically():
    nodes = [helper.make_node("Neg", ["a"], ["b"]), helper.make_node("Relu", ["x"], ["a"])]
    model = make_model(nodes, [("x", FLOAT, [2])], [("b", FLOAT, [2])])
    assert [n.op for n in load_graph(model).nodes] == ["Relu", "Neg"]
    cycle = [helper.make_node("Neg", ["a"], ["b"]), helper.make_node("Add", ["x", "b"], ["a"])]
    with pytest.raises(ValueError, match="cycle"):
        load_graph(make_model(cycle, [("x", FLOAT, [2])], [("b", FLOAT, [2])]))


def test_the_ir_inlines_if_on_a_constant_condition_and_keeps_a_dynamic_one():
    then_graph = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                                   [helper.make_tensor_value_info("t", FLOAT, [3])])
    else_graph = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                                   [helper.make_tensor_value_info("e", FLOAT, [3])])
    branch = helper.make_node("If", ["condition"], ["y"], then_branch=then_graph,
                              else_branch=else_graph)
    constant = make_model([branch], [("x", FLOAT, [3])], [("y", FLOAT, [3])],
                          [("condition", np.array(False))])
    assert [n.op for n in load_graph(constant).nodes] == ["Neg"]
    dynamic = make_model([branch], [("x", FLOAT, [3]), ("condition", TensorProto.BOOL, [])],
                         [("y", FLOAT, [3])])
    graph = load_graph(dynamic)
    assert [n.op for n in graph.nodes] == ["If"]
    assert graph.nodes[0].branches["then_branch"].outer == {"x"}
    session = InferenceSession(dynamic)
    x = np.array([-1, 0, 2], np.float32)
    assert session.run(None, {"x": x, "condition": np.array(True)})[0].tolist() == [0, 0, 2]
    assert session.run(None, {"x": x, "condition": np.array(False)})[0].tolist() == [1, 0, -2]


def test_the_ir_knows_which_axis_is_time_batch_and_feature(rng):
    """Layout roles flow from the recurrent node (layout 0: X is (T, B,
    I)) back through a Transpose to the graph input, and to Conv's (N, C, T)."""
    conv = helper.make_node("Conv", ["x", "k"], ["c"], pads=[1, 1])
    to_time_first = helper.make_node("Transpose", ["c"], ["t"], perm=[2, 0, 1])
    lstm = helper.make_node("LSTM", ["t", "W", "R"], ["Y"], hidden_size=3)
    model = make_model([conv, to_time_first, lstm], [("x", FLOAT, ["batch", 2, "time"])],
                       [("Y", FLOAT, None)],
                       [("k", rng.standard_normal((4, 2, 3)).astype(np.float32)),
                        ("W", rng.standard_normal((1, 12, 4)).astype(np.float32)),
                        ("R", rng.standard_normal((1, 12, 3)).astype(np.float32))])
    graph = load_graph(model)
    assert graph.values["x"].axes == ("batch", "feature", "time")
    assert graph.values["t"].axes == ("time", "batch", "feature")
    assert graph.values["Y"].axes == ("time", "direction", "batch", "feature")
    assert graph.values["Y"].shape == ("time", 1, "batch", 3)
