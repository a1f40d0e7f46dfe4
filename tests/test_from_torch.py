"""fastrnn.from_torch: modules, traced custom modules, files and state dicts,
each checked against PyTorch's own output."""

import pytest
from conftest import TOLERANCE, max_abs

import fastrnn
from fastrnn.io import torch as torch_io

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
nn = torch.nn


def check(module, x, batch_first=True):
    """from_torch(module) reproduces module(x) (x batch first)."""
    module.eval()
    with torch.inference_mode():
        out = module(x if batch_first else x.transpose(0, 1))
    out = out[0] if isinstance(out, tuple) else out
    if not batch_first and out.dim() == 3:
        out = out.transpose(0, 1)
    model = fastrnn.from_torch(module)
    assert max_abs(model.predict(x.numpy()), out.numpy()) <= TOLERANCE["float32"]
    return model


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("num_layers, bias, bidirectional, batch_first", [
    (1, True, False, True), (3, True, False, True), (2, False, False, True),
    (2, True, True, True), (1, True, False, False), (2, True, True, False)])
def test_recurrent_modules(cls, num_layers, bias, bidirectional, batch_first):
    torch.manual_seed(num_layers)
    module = cls(6, 11, num_layers=num_layers, bias=bias, bidirectional=bidirectional,
                 batch_first=batch_first)
    check(module, torch.randn(3, 17, 6), batch_first)


def test_rnn_relu():
    torch.manual_seed(1)
    check(nn.RNN(4, 9, nonlinearity="relu", batch_first=True), torch.randn(2, 12, 4))


@pytest.mark.parametrize("activation", [nn.Tanh(), nn.ReLU(), nn.Sigmoid(), nn.ELU(),
                                        nn.Softmax(dim=-1)])
def test_sequential_of_linear_and_activations(activation):
    torch.manual_seed(2)
    module = nn.Sequential(nn.Linear(8, 16), activation, nn.Dropout(0.3),
                           nn.Sequential(nn.Linear(16, 5), nn.Identity()))
    check(module, torch.randn(4, 7, 8))


class LastStep(nn.Module):
    def __init__(self, kind="lstm", head=True, bidirectional=False):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.rnn = rnn(10, 20, num_layers=2, batch_first=True, bidirectional=bidirectional)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(20 * (2 if bidirectional else 1), 4)

    def forward(self, x):
        out, _ = self.rnn(x)
        return torch.softmax(self.fc(self.drop(out)[:, -1, :]), dim=-1)


class FinalState(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(10, 20, num_layers=2, batch_first=True)
        self.fc = nn.Linear(20, 3)

    def forward(self, x):
        _, (h, c) = self.lstm(x)
        return torch.relu(self.fc(h[-1]))


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(10, 16, batch_first=True, bidirectional=True)
        self.out = nn.Linear(32, 6)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.out(y).sigmoid()


@pytest.mark.parametrize("module", [LastStep("lstm"), LastStep("gru"), FinalState(), Tagger()],
                         ids=["last-step-lstm", "last-step-gru", "final-state", "tagger"])
def test_traced_custom_modules(module):
    torch.manual_seed(3)
    check(module, torch.randn(5, 13, 10))


def test_whole_module_file(tmp_path):
    torch.manual_seed(4)
    module = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    torch.save(module, tmp_path / "whole.pt")
    with pytest.raises(ValueError, match="weights_only=False"):
        fastrnn.from_torch(tmp_path / "whole.pt")
    model = fastrnn.from_torch(tmp_path / "whole.pt", weights_only=False)
    x = torch.randn(2, 3)
    with torch.inference_mode():
        assert max_abs(model.predict(x.numpy()), module(x).numpy()) <= TOLERANCE["float32"]


def test_state_dict_file_and_helpers(tmp_path):
    torch.manual_seed(5)
    module = LastStep("gru")
    torch.save(module.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="state dict.*gru_from_state_dict"):
        fastrnn.from_torch(tmp_path / "weights.pt")
    state = torch.load(tmp_path / "weights.pt")
    layers = torch_io.gru_from_state_dict(state, prefix="rnn", num_layers=2)
    layers[-1].return_sequences = False
    layers.append(torch_io.linear_from_state_dict(state, "fc", activation="softmax"))
    x = torch.randn(2, 9, 10)
    with torch.inference_mode():
        expected = module.eval()(x).numpy()
    assert max_abs(fastrnn.Sequential(layers).predict(x.numpy()), expected) <= TOLERANCE["float32"]
    with pytest.raises(KeyError, match="no 'lstm.weight_ih_l0'"):
        torch_io.lstm_from_state_dict(state, prefix="lstm")


class Doubler(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x) * 2


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 3)

    def forward(self, x, state):
        return self.lstm(x, state)[0]


@pytest.mark.parametrize("module, message", [
    (nn.LSTM(3, 4, proj_size=2), "proj_size"),
    (nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=1)), "dimension 1"),
    (nn.Sequential(nn.Linear(3, 3), nn.ELU(alpha=0.5)), "alpha=0.5"),
    (nn.Sequential(nn.Conv1d(3, 3, 1)), r"Conv1d\): not a module fastrnn can run"),
    (Doubler(), "an operation fastrnn cannot run"),
    (TwoInputs(), "more than one input"),
    (LastStep(bidirectional=True), "bidirectional"),
])
def test_unsupported_raises_naming_the_construct(module, message):
    with pytest.raises(NotImplementedError, match=message):
        fastrnn.from_torch(module)


def test_not_a_module():
    with pytest.raises(TypeError, match="expected a torch.nn.Module or a path, got int"):
        fastrnn.from_torch(3)
