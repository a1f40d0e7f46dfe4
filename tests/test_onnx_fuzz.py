"""Seeded fuzzing of the ONNX loaders (issue 14: the fuzz suite's .onnx part).

Four small graphs (a bidirectional LSTM with sequence lengths and initial
states, a reverse GRU, a Conv -> Relu -> MatMul -> Add -> Sigmoid chain, and
a forward LSTM, which ``from_onnx`` reads as a Sequential)
are mutated at random: bytes flipped, inserted or truncated in the
serialized protobuf, and fields of the decoded model changed (an
initializer's dims or type, an attribute's value, an operator's name or
domain, a node's inputs, a graph input's type or shape, the opset and IR
versions). Each case is loaded with ``fastrnn.onnx.InferenceSession`` and
``fastrnn.from_onnx`` and, when the session loads, run on the original
graph's feed. Every outcome must be a session, a model, or a documented
exception (README, Errors): loading ``fastrnn.FormatError`` or
``NotImplementedError``; running ``ValueError`` or ``TypeError`` (a feed the
mutated graph does not take). No case may allocate more than max(64 MiB,
10 x the file's size): measured with tracemalloc (Python and NumPy) and,
where Linux lets a process reset its peak resident size, by the peak RSS
(the C engine's allocations). FUZZ_CASES cases, the same every run
(about 20 s); a failure names its case and seed.
"""

import itertools
import tracemalloc

import numpy as np
import pytest
from conftest import peak_rss_reset, resident_kib

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from test_onnx_session import make_model, recurrent_model  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.onnx import InferenceSession  # noqa: E402

SEED = 1415
FUZZ_CASES = 1400          # case 1335 found an initializer of no element type
MIB = 1 << 20
LOAD_ERRORS = (fastrnn.FormatError, NotImplementedError)
RUN_ERRORS = (ValueError, TypeError, NotImplementedError)

ODD_INTS = [0, -1, 1, 2, 3, 2**31 - 1, 2**31, 2**62, -(2**40), 10**9]
ODD_FLOATS = [0.0, -1.0, float("nan"), float("inf"), 1e30, -1e-30]
ODD_STRINGS = ["", "sideways", "REVERSE", "Tanh", "NOTSET", "\u00e9", "x" * 300]
OPERATORS = ["LSTM", "GRU", "RNN", "Conv", "MatMul", "Add", "Relu", "Sigmoid", "Reshape",
             "Transpose", "Concat", "Slice", "If", "Gather", "Softmax", "Hardmax", "", "lstm"]
ELEMENT_TYPES = [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT64,
                 TensorProto.INT32, TensorProto.BOOL, TensorProto.STRING, TensorProto.COMPLEX64,
                 TensorProto.UINT8, 0, 9999]


def conv_chain(rng) -> tuple[bytes, dict]:
    """(model, feed) of Conv(4 -> 6, kernel 3) -> Relu -> MatMul -> Add -> Sigmoid
    over x (1, 4, 12)."""
    weights = [("w", rng.uniform(-1, 1, (6, 4, 3)).astype(np.float32)),
               ("b", rng.uniform(-1, 1, 6).astype(np.float32)),
               ("perm_w", rng.uniform(-1, 1, (6, 2)).astype(np.float32)),
               ("bias", rng.uniform(-1, 1, 2).astype(np.float32))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Transpose", ["r"], ["t"], name="tr", perm=[0, 2, 1]),
             helper.make_node("MatMul", ["t", "perm_w"], ["m"], name="mm"),
             helper.make_node("Add", ["m", "bias"], ["a"], name="add"),
             helper.make_node("Sigmoid", ["a"], ["y"], name="sig")]
    model = make_model(nodes, [("x", TensorProto.FLOAT, [1, 4, 12])],
                       [("y", TensorProto.FLOAT, [1, 12, 2])], weights)
    return model, {"x": rng.standard_normal((1, 4, 12)).astype(np.float32)}


def originals(rng) -> dict:
    """{name: (serialized model, feed)} of the four graphs."""
    lstm, lstm_feed, _ = recurrent_model("LSTM", rng, {"direction": "bidirectional"},
                                         lengths=True, initial=True, peepholes=True)
    gru, gru_feed, _ = recurrent_model("GRU", rng, {"direction": "reverse",
                                                    "linear_before_reset": 1})
    forward, forward_feed, _ = recurrent_model("LSTM", rng, {})
    return {"bidirectional LSTM": (lstm, lstm_feed), "reverse GRU": (gru, gru_feed),
            "conv chain": conv_chain(rng), "forward LSTM": (forward, forward_feed)}


def mutate_bytes(rng, data: bytes) -> tuple[str, bytes]:
    """(description, bytes) with a few bytes flipped, some inserted, or a truncation."""
    damaged = bytearray(data)
    kind = int(rng.integers(3))
    if kind == 0:
        for _ in range(int(rng.integers(1, 5))):
            damaged[int(rng.integers(len(damaged)))] ^= 1 << int(rng.integers(8))
        return "bits flipped", bytes(damaged)
    if kind == 1:
        position = int(rng.integers(len(damaged)))
        damaged[position:position] = rng.bytes(int(rng.integers(1, 16)))
        return "bytes inserted", bytes(damaged)
    return "truncated", bytes(damaged[:int(rng.integers(len(damaged)))])


def pick(rng, values):
    return values[int(rng.integers(len(values)))]


def mutate_attribute(rng, attribute) -> None:
    """One attribute set to an odd value of its own kind."""
    if attribute.type == attribute.INT:
        attribute.i = pick(rng, ODD_INTS) % 2**63 if rng.random() < 0.2 else pick(rng, ODD_INTS)
    elif attribute.type == attribute.INTS and attribute.ints:
        attribute.ints[int(rng.integers(len(attribute.ints)))] = pick(rng, ODD_INTS)
    elif attribute.type == attribute.FLOAT:
        attribute.f = pick(rng, ODD_FLOATS)
    elif attribute.type == attribute.STRING:
        attribute.s = pick(rng, ODD_STRINGS).encode()
    elif attribute.type == attribute.STRINGS and attribute.strings:
        attribute.strings[int(rng.integers(len(attribute.strings)))] = \
            pick(rng, ODD_STRINGS).encode()
    else:                                    # another kind: the attribute's type changed
        attribute.type = attribute.INT
        attribute.i = pick(rng, ODD_INTS)


def mutate_model(rng, data: bytes) -> tuple[str, bytes]:
    """(description, bytes) of the model with one field of the decoded proto changed."""
    model = onnx.load_from_string(data)
    graph = model.graph
    kind = int(rng.integers(9))
    if kind == 0:                                              # an initializer's dims
        tensor = pick(rng, graph.initializer)
        if tensor.dims:
            tensor.dims[int(rng.integers(len(tensor.dims)))] = pick(rng, ODD_INTS) % 2**62
        else:
            tensor.dims.append(pick(rng, ODD_INTS) % 2**62)
        description = f"initializer {tensor.name} dims {list(tensor.dims)}"
    elif kind == 1:                                            # an initializer of another type
        tensor = pick(rng, graph.initializer)
        array = numpy_helper.to_array(tensor)
        dtype = pick(rng, [np.float64, np.float16, np.int64, np.int8, np.complex64, np.bool_])
        tensor.CopyFrom(numpy_helper.from_array(array.astype(dtype), tensor.name))
        description = f"initializer {tensor.name} as {np.dtype(dtype).name}"
    elif kind == 2:                                            # an attribute's value
        node = pick(rng, graph.node)
        if node.attribute:
            attribute = pick(rng, node.attribute)
            mutate_attribute(rng, attribute)
            description = f"node {node.name} attribute {attribute.name}"
        else:
            node.attribute.append(helper.make_attribute("unknown", pick(rng, ODD_INTS)))
            description = f"node {node.name} an unknown attribute"
    elif kind == 3:                                            # an operator or domain
        node = pick(rng, graph.node)
        if rng.random() < 0.7:
            node.op_type = pick(rng, OPERATORS)
        else:
            node.domain = pick(rng, ["com.microsoft", "ai.onnx.ml", "ai.onnx", "x"])
        description = f"node {node.name} as {node.domain}:{node.op_type}"
    elif kind == 4:                                            # a node's inputs
        node = pick(rng, graph.node)
        names = [i.name for i in graph.input] + [t.name for t in graph.initializer] + \
            [out for other in graph.node for out in other.output] + ["", "missing"]
        if node.input and rng.random() < 0.7:
            node.input[int(rng.integers(len(node.input)))] = pick(rng, names)
        elif rng.random() < 0.5 and node.input:
            del node.input[-1]
        else:
            node.input.append(pick(rng, names))
        description = f"node {node.name} inputs {list(node.input)}"
    elif kind == 5:                                            # a graph input's type or shape
        value = pick(rng, graph.input)
        tensor_type = value.type.tensor_type
        if rng.random() < 0.5:
            tensor_type.elem_type = pick(rng, ELEMENT_TYPES)
        elif tensor_type.shape.dim:
            dim = tensor_type.shape.dim[int(rng.integers(len(tensor_type.shape.dim)))]
            if rng.random() < 0.5:
                dim.dim_value = pick(rng, ODD_INTS) % 2**62
            else:
                dim.dim_param = pick(rng, ODD_STRINGS)
        description = f"input {value.name} type"
    elif kind == 6:                                            # nodes reordered, dropped, repeated
        nodes = list(graph.node)
        del graph.node[:]
        choice = int(rng.integers(3))
        if choice == 0:
            nodes = [nodes[i] for i in rng.permutation(len(nodes))]
        elif choice == 1:
            del nodes[int(rng.integers(len(nodes)))]
        else:
            nodes.append(pick(rng, nodes))
        graph.node.extend(nodes)
        description = f"nodes edited ({choice})"
    elif kind == 7:                                            # opset and IR versions
        if rng.random() < 0.5:
            model.opset_import[0].version = pick(rng, ODD_INTS + [7, 13, 17, 21, 28]) % 2**62
        else:
            model.ir_version = pick(rng, ODD_INTS + [3, 7, 10]) % 2**62
        description = f"opset {model.opset_import[0].version}, IR {model.ir_version}"
    else:                                                      # an output removed or renamed
        value = pick(rng, graph.output)
        value.name = pick(rng, ["", "missing", graph.input[0].name, value.name + "_"])
        description = f"output renamed {value.name!r}"
    return description, model.SerializeToString()


def cases(rng, models: dict):
    """(name, description, bytes, feed), endlessly, the models in turn."""
    for number in range(10**9):
        name = list(models)[number % len(models)]
        data, feed = models[name]
        description, damaged = (mutate_bytes if rng.random() < 0.4 else mutate_model)(rng, data)
        yield name, description, damaged, feed


def load_and_run(data: bytes, feed: dict) -> str:
    """The outcome's name: the session's and from_onnx's; an exception of
    another type than documented propagates."""
    try:
        session = InferenceSession(data)
    except LOAD_ERRORS as error:
        outcome = type(error).__name__
    else:
        try:
            session.run(None, feed)
            outcome = "ran"
        except RUN_ERRORS as error:
            outcome = f"run {type(error).__name__}"
    try:
        fastrnn.from_onnx(data)
        return outcome + ", model"
    except LOAD_ERRORS as error:
        return f"{outcome}, {type(error).__name__}"


def test_mutated_onnx_files_load_run_or_raise_documented_errors():
    rng = np.random.default_rng(SEED)
    models = originals(rng)
    for data, feed in models.values():                 # warm: imports and caches
        InferenceSession(data).run(None, feed)
    fastrnn.from_onnx(models["forward LSTM"][0])
    measure_rss = peak_rss_reset()
    outcomes: dict = {}
    for count, (name, description, data, feed) in enumerate(
            itertools.islice(cases(rng, models), FUZZ_CASES)):
        case = f"case {count}: {name}, {description} (seed {SEED})"
        if measure_rss:
            peak_rss_reset()
            rss_before = resident_kib()["VmRSS"]
        tracemalloc.start()
        try:
            outcome = load_and_run(data, feed)
        except Exception as error:
            pytest.fail(f"{case}: {type(error).__name__}: {error}")
        finally:
            traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        limit = max(64 * MIB, 10 * len(data))
        assert traced <= limit, f"{case}: {traced / MIB:.1f} MiB traced"
        if measure_rss:
            grown = (resident_kib()["VmHWM"] - rss_before) * 1024
            assert grown <= limit, f"{case}: peak RSS +{grown / MIB:.1f} MiB"
    total = sum(outcomes.values())
    assert total == FUZZ_CASES, outcomes
    refused = sum(n for outcome, n in outcomes.items() if outcome.startswith("FormatError"))
    assert refused >= total // 4, outcomes            # the mutations reach the checks
    assert sum(n for outcome, n in outcomes.items() if outcome.startswith("ran")) >= 10, outcomes
    assert sum(n for outcome, n in outcomes.items() if outcome.endswith("model")) >= 10, outcomes
