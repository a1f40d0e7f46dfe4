"""ONNX's own conformance cases (the onnx package's backend test data) for
every operator of issue 13's list, run by fastrnn's session.

A case belongs to an operator when its single node is that operator; its
``_expanded`` variants (the same case written as a function body of other
operators) belong to the same operator. Each case runs as shipped (weights
as graph inputs: the operator table's NumPy implementation) and, for the
recurrent operators, once more with W, R, B as initializers (the nodes
fastrnn's kernels can run go through them). ``SKIPS`` lists what is outside
the issue's scope, with the reason; ``test_counts`` prints the count per
operator and fails if a case is neither run nor skipped for a stated reason.

Tolerance: ``assert_close(..., "float32")``, max abs 1e-5 times max(1, the
largest |expected|) (conftest's table: float32 rounds relative to
magnitude, and cases such as Pow, Exp or Gemm reach values in the hundreds);
integer, boolean and string outputs must be equal.
"""

import re
import warnings
from collections import Counter

import numpy as np
import pytest
from conftest import assert_close

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")

from fastrnn.io.onnx import OPERATORS  # noqa: E402
from fastrnn.onnx import InferenceSession  # noqa: E402

# Issue 13, item 2 (If, Constant and the recurrent ops included).
ISSUE_OPERATORS = (
    "LSTM", "GRU", "RNN", "Conv", "BatchNormalization", "LayerNormalization",
    "InstanceNormalization", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Gelu", "Sigmoid",
    "HardSigmoid", "Tanh", "Softplus", "Softmax", "LogSoftmax", "Add", "Sub", "Mul", "Div",
    "Pow", "Sqrt", "Neg", "Abs", "Exp", "Log", "Clip", "ReduceMean", "ReduceSum", "ReduceMax",
    "MatMul", "Gemm", "Concat", "Split", "Slice", "Pad", "Squeeze", "Unsqueeze", "Reshape",
    "Transpose", "Gather", "Expand", "Identity", "Dropout", "Equal", "Greater", "Less", "Not",
    "And", "Where", "If", "Constant", "ConstantOfShape", "Shape", "Size", "Cast", "Range")
# What the PyTorch exporters also write for the CRNN family.
EXPORTER_OPERATORS = ("MaxPool", "AveragePool", "Erf", "CastLike")

OUT_OF_SCOPE_TYPES = {"bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
                      "float8e5m2fnuz", "float8e8m0", "int4", "uint4", "float4e2m1", "int2",
                      "uint2"}

# Case name (a regular expression) -> why it is outside the issue's scope.
SKIPS = {
    r"test_(cast|castlike)_.*(BFLOAT16|FLOAT8|INT4|UINT4|FLOAT4|INT2|UINT2|e8m0)":
        "bfloat16, float8, 4-bit and 2-bit types are outside the issue's scope",
    r"test_training_dropout(_default|_mask|_default_mask)?$":
        "training-mode Dropout draws random masks (fastrnn runs inference)",
    r"test_dropout_random_old": "training-mode Dropout draws random masks (fastrnn runs "
                                "inference)",
    r"test_(identity|if)_(sequence|seq|opt)$": "sequence and optional types are outside the "
                                               "issue's scope",
    r"test_maxpool_with_argmax": "MaxPool's Indices output is outside the issue's scope",
}

# Cases whose expected values are printed rounded (to 4 decimals): compared
# at the case's own tolerance (rtol 1e-3, ONNX's default for node tests).
ROUNDED_EXPECTATIONS = {"test_averagepool_2d_ceil_last_window_starts_on_pad"}


def _skip_reason(case) -> str | None:
    for pattern, reason in SKIPS.items():
        if re.match(pattern, case.name):
            return reason
    outside = sorted({n.op_type for n in _all_nodes(case.model.graph)} - set(OPERATORS))
    if outside:
        return f"the expanded form uses operators outside the issue's list: {outside}"
    return None


def _all_nodes(graph):
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == attribute.GRAPH:
                yield from _all_nodes(attribute.g)


def _collect() -> list:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    single = {c.name: c.model.graph.node[0].op_type for c in cases
              if len(c.model.graph.node) == 1}
    selected = []
    for case in cases:
        base = re.sub(r"_expanded(_ver\d+)?$", "", case.name)
        op = single.get(base)
        if op in ISSUE_OPERATORS + EXPORTER_OPERATORS:
            selected.append((op, case))
    return sorted(selected, key=lambda pair: (pair[0], pair[1].name))


CASES = _collect()
RECURRENT = [(op, case) for op, case in CASES if op in ("LSTM", "GRU", "RNN")]


def test_counts(capsys):
    """Counts per operator (printed; run with -s to see them): every
    operator of the list that ships cases has some that run."""
    total, skipped = Counter(), Counter()
    for op, case in CASES:
        total[op] += 1
        skipped[op] += _skip_reason(case) is not None
    with capsys.disabled():
        print("\nONNX conformance cases per operator (run / skipped):")
        for op in ISSUE_OPERATORS + EXPORTER_OPERATORS:
            if total[op]:
                print(f"  {op:24s} {total[op] - skipped[op]:3d} / {skipped[op]}")
        print(f"  {'all':24s} {sum(total.values()) - sum(skipped.values()):3d} / "
              f"{sum(skipped.values())}")
    assert sum(total[op] for op in ("LSTM", "GRU", "RNN")) == 18
    assert all(total[op] > skipped[op] for op in total)


def _compare(got, expected, name, rounded=False) -> None:
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"{name}: shape {got.shape}, expected {expected.shape}"
    if expected.dtype.kind in "fc":
        assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype}, expected {expected.dtype}"
        finite = np.isfinite(expected)
        assert np.array_equal(np.isnan(got), np.isnan(expected)), f"{name}: NaN positions"
        assert np.array_equal(got[~finite & ~np.isnan(expected)],
                              expected[~finite & ~np.isnan(expected)]), f"{name}: infinities"
        if rounded:
            np.testing.assert_allclose(got, expected, rtol=1e-3, err_msg=name)
        else:
            assert_close(np.where(finite, got, 0), np.where(finite, expected, 0), "float32",
                         name)
    else:
        assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype}, expected {expected.dtype}"
        assert np.array_equal(got, expected), name


def _run_case(model, feeds_and_expected, rounded=False) -> None:
    session = InferenceSession(model.SerializeToString())
    names = [o.name for o in model.graph.output]
    for feed, expected in feeds_and_expected:
        for name, got, want in zip(names, session.run(names, feed), expected):
            _compare(got, want, name, rounded)


def _array(value) -> np.ndarray:
    """A case's input or expected output (some cases store TensorProtos)."""
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    return np.asarray(value)


def _feeds(case):
    inputs = [i.name for i in case.model.graph.input]
    return [(dict(zip(inputs, map(_array, data))), [_array(e) for e in expected])
            for data, expected in case.data_sets]


@pytest.mark.parametrize("op, case", CASES, ids=[f"{op}-{case.name}" for op, case in CASES])
def test_conformance(op, case):
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    _run_case(case.model, _feeds(case), case.name in ROUNDED_EXPECTATIONS)


def _weights_as_initializers(case):
    """The case's model with W, R, B (graph inputs) turned into initializers,
    and its feeds without them."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph, node = model.graph, model.graph.node[0]
    weights = set(list(node.input)[1:4]) - {""}
    inputs = [i.name for i in case.model.graph.input]
    first = dict(zip(inputs, case.data_sets[0][0]))
    kept = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.extend(onnx.numpy_helper.from_array(first[n], n) for n in sorted(weights))
    feeds = [({n: v for n, v in zip(inputs, data) if n not in weights}, expected)
             for data, expected in case.data_sets]
    return model, feeds


@pytest.mark.parametrize("op, case", RECURRENT, ids=[case.name for _, case in RECURRENT])
def test_recurrent_conformance_with_constant_weights(op, case):
    """The same cases with constant weights: fastrnn's kernels run every
    node they can (all but peepholes)."""
    _run_case(*_weights_as_initializers(case))
