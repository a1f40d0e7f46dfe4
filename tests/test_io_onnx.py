"""ONNX: torch-exported graphs against ONNX Runtime, and from_onnx.
(The ONNX package's conformance cases are in test_onnx_conformance.py.)"""

import io
import warnings

import pytest
from conftest import TOLERANCE, max_abs

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")

from fastrnn.onnx import InferenceSession  # noqa: E402

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
