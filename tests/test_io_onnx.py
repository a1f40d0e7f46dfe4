"""ONNX: the ONNX package's own conformance cases for LSTM, GRU and RNN, and
torch-exported single-node graphs against ONNX Runtime."""

import io
import warnings

import pytest
from conftest import TOLERANCE, max_abs

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")

from fastrnn.onnx import InferenceSession  # noqa: E402

SKIPPED = {
    "test_lstm_with_peepholes": "LSTM peepholes (input P) are not implemented in fastrnn's kernels",
}


def conformance_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    return sorted((c for c in cases if c.name.startswith(
        ("test_lstm_", "test_gru_", "test_rnn_seq_length", "test_simple_rnn_"))),
        key=lambda c: c.name)


CASES = conformance_cases()


def test_all_18_cases_are_collected():
    assert len(CASES) == 18


def with_weights_as_initializers(case, inputs):
    """The case's model with W, R, B (graph inputs) turned into initializers."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph, node = model.graph, model.graph.node[0]
    weights = {name: value for name, value in zip([i.name for i in graph.input], inputs)
               if name in list(node.input)[1:4] and name}
    kept = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.extend(onnx.numpy_helper.from_array(v, n) for n, v in weights.items())
    feed = {i.name: v for i, v in zip(case.model.graph.input, inputs) if i.name not in weights}
    return model, feed


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance(case):
    if case.name in SKIPPED:
        pytest.skip(SKIPPED[case.name])
    for inputs, expected in case.data_sets:
        model, feed = with_weights_as_initializers(case, inputs)
        session = InferenceSession(model.SerializeToString())
        outputs = [o.name for o in case.model.graph.output]
        got = session.run(outputs, feed)
        assert [g.shape for g in got] == [e.shape for e in expected]
        for g, e in zip(got, expected):
            assert max_abs(g, e) <= TOLERANCE["float32"], case.name


def test_peepholes_are_refused_naming_the_input():
    case = next(c for c in CASES if c.name == "test_lstm_with_peepholes")
    model, _ = with_weights_as_initializers(case, case.data_sets[0][0])
    with pytest.raises(NotImplementedError, match="peepholes"):
        InferenceSession(model.SerializeToString())


def test_session_interface():
    case = next(c for c in CASES if c.name == "test_gru_bidirectional")
    model, feed = with_weights_as_initializers(case, case.data_sets[0][0])
    session = InferenceSession(model.SerializeToString())
    assert [i.name for i in session.get_inputs()] == ["X"]
    assert [o.name for o in session.get_outputs()] == ["Y", "Y_h"]
    assert session.get_inputs()[0].type == "tensor(float)"
    assert len(session.run(None, feed)) == 2
    with pytest.raises(ValueError, match="missing inputs \\['X'\\]"):
        session.run(None, {})


torch = pytest.importorskip("torch", reason="PyTorch is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers, batch_first", [(1, False), (2, True)])
def test_torch_exported_graph_matches_onnxruntime(kind, bidirectional, num_layers, batch_first):
    torch.manual_seed(6)
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        5, 9, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn(12, 3, 5)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(rnn, (x,), buffer, input_names=["x"], dynamo=False)
    reference = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    ours = InferenceSession(buffer.getvalue())
    names = [o.name for o in reference.get_outputs()]
    assert [o.name for o in ours.get_outputs()] == names
    for got, expected in zip(ours.run(names, {"x": x.numpy()}),
                             reference.run(names, {"x": x.numpy()})):
        assert got.shape == expected.shape
        assert max_abs(got, expected) <= TOLERANCE["float32"]


class Classifier(torch.nn.Module):
    def __init__(self, kind, bidirectional, batch_first):
        super().__init__()
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
        self.rnn = rnn(5, 9, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
        self.fc = torch.nn.Linear(18 if bidirectional else 9, 4)
        self.batch_first = batch_first

    def forward(self, x):
        y, _ = self.rnn(x)
        return torch.softmax(self.fc(y), dim=-1)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional, batch_first", [(False, True), (True, True), (True, False)])
def test_from_onnx_matches_torch(tmp_path, kind, bidirectional, batch_first):
    import fastrnn

    torch.manual_seed(8)
    module = Classifier(kind, bidirectional, batch_first).eval()
    x = torch.randn(3, 11, 5)                                   # batch first
    source = x if batch_first else x.transpose(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (source,), tmp_path / "m.onnx", input_names=["x"], dynamo=False)
    with torch.inference_mode():
        expected = module(source)
    expected = (expected if batch_first else expected.transpose(0, 1)).numpy()
    model = fastrnn.from_onnx(tmp_path / "m.onnx")
    assert max_abs(model.predict(x.numpy()), expected) <= TOLERANCE["float32"]


def test_from_onnx_refuses_what_it_cannot_express(tmp_path):
    import fastrnn

    class Last(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(5, 6, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Last(), (torch.randn(2, 4, 5),), tmp_path / "last.onnx", dynamo=False)
    with pytest.raises(NotImplementedError, match="not part of a chain"):
        fastrnn.from_onnx(tmp_path / "last.onnx")
