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


@pytest.mark.parametrize("kind, cls", [("gru", nn.GRU), ("lstm", nn.LSTM), ("rnn", nn.RNN)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_state_dict_with_fewer_layers_names_the_missing_key(kind, cls, bidirectional):
    """Issue 14 item 4: num_layers=3 on a 2-layer state dict."""
    state = {f"rnn.{key}": value for key, value in
             cls(4, 5, num_layers=2, bidirectional=bidirectional).state_dict().items()}
    build = getattr(torch_io, f"{kind}_from_state_dict")
    with pytest.raises(KeyError, match="no 'rnn.weight_ih_l2' in the state dict, which "
                                       "num_layers=3"):
        build(state, "rnn", num_layers=3, bidirectional=bidirectional)
    assert len(build(state, "rnn", num_layers=2, bidirectional=bidirectional)) == 2
    if not bidirectional:
        with pytest.raises(KeyError, match="no 'rnn.weight_ih_l0_reverse'"):
            build(state, "rnn", num_layers=2, bidirectional=True)
    del state["rnn.bias_hh_l1"]
    with pytest.raises(KeyError, match="no 'rnn.bias_hh_l1'"):
        build(state, "rnn", num_layers=2, bidirectional=bidirectional)


class Doubler(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x) * 2


class StateArgument(nn.Module):
    """A required state argument: traced as None, i.e. zeros."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 3, batch_first=True)

    def forward(self, x, state):
        return self.lstm(x, state)[0]


class Flipped(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x).flip(1)


@pytest.mark.parametrize("module", [Doubler(), nn.Sequential(nn.Linear(3, 3), nn.ELU(alpha=0.5))],
                         ids=["doubler", "elu-alpha"])
def test_traced_graph_modules(module):
    """Modules that chains could not express (an operation with a constant,
    ELU's alpha) import now."""
    torch.manual_seed(6)
    check(module, torch.randn(2, 7, 3))


def test_state_argument_is_traced_as_zeros():
    torch.manual_seed(6)
    module = StateArgument().eval()
    x = torch.randn(2, 7, 3)
    zeros = (torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))
    with torch.inference_mode():
        expected = module(x, zeros).numpy()
    assert max_abs(fastrnn.from_torch(module).predict(x.numpy()), expected) \
        <= TOLERANCE["float32"]


def test_lstm_alone_returns_its_state():
    torch.manual_seed(7)
    module = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    model = check(module, torch.randn(2, 6, 3))
    assert isinstance(model, fastrnn.Sequential)
    assert model.metadata["torch_states"] == [["layer0.h", "layer1.h"], ["layer0.c", "layer1.c"]]


@pytest.mark.parametrize("module, message", [
    (nn.LSTM(3, 4, proj_size=2), "proj_size"),
    (nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=1)), "dimension 1"),
    (nn.Sequential(nn.Linear(3, 3), nn.Conv2d(3, 3, 1)),
     r"Conv2d\) at .*: not a module fastrnn can run"),
    (Flipped(), r"Tensor.flip at test_from_torch.py:\d+ .*an operation fastrnn cannot run"),
    (LastStep(bidirectional=True), "bidirectional"),
])
def test_unsupported_raises_naming_the_construct(module, message):
    with pytest.raises(NotImplementedError, match=message):
        fastrnn.from_torch(module)


def test_not_a_module():
    with pytest.raises(TypeError, match="expected a torch.nn.Module or a path, got int"):
        fastrnn.from_torch(3)


def scripted_chains() -> list:
    torch.manual_seed(8)
    return [nn.Sequential(nn.LSTM(6, 8, num_layers=2, batch_first=True)),
            nn.Sequential(nn.GRU(6, 7, bidirectional=True)),
            nn.RNN(6, 5, nonlinearity="relu", batch_first=True),
            nn.Sequential(nn.Linear(6, 9), nn.GELU("tanh"), nn.Linear(9, 4), nn.LeakyReLU(0.2),
                          nn.Linear(4, 3), nn.Softmax(dim=-1)),
            nn.Sequential(nn.Conv1d(6, 8, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv1d(8, 4, 4, padding="same", groups=4), nn.Tanh())]


CHAIN_IDS = ["lstm", "bidirectional-gru", "rnn-relu", "dense-activations", "convs"]


def torch_script_reference(module, x):
    """module(x) with x (B, T, C) in the module's layout, as (B, T, C)."""
    first = module[0] if isinstance(module, nn.Sequential) else module
    order = ((0, 2, 1) if isinstance(first, nn.Conv1d) else
             (1, 0, 2) if isinstance(first, nn.GRU) and not first.batch_first else (0, 1, 2))
    with torch.inference_mode():
        out = module(x.permute(*order))
    out = out[0] if isinstance(out, tuple) else out
    return out.permute(*order).numpy()


@pytest.mark.parametrize("how", ["script", "trace", "file"])
@pytest.mark.parametrize("index", range(len(CHAIN_IDS)), ids=CHAIN_IDS)
def test_torchscript_chains(index, how, tmp_path):
    """Issue 14 item 3: scripted, traced and saved TorchScript chains import
    (a saved file without the weights_only message)."""
    module = scripted_chains()[index].eval()
    x = torch.randn(2, 11, 6)
    expected = torch_script_reference(module, x)
    example = x.permute(0, 2, 1) if index == 4 else x
    script = torch.jit.script(module) if how != "trace" else torch.jit.trace(
        module, example.transpose(0, 1) if index == 1 else example)
    if how == "file":
        script.save(tmp_path / "model.jit")
        script = tmp_path / "model.jit"
    model = fastrnn.from_torch(script)
    assert max_abs(model.predict(x.numpy()), expected) <= TOLERANCE["float32"]


def test_torchscript_with_its_own_forward_says_what_to_do(tmp_path):
    script = torch.jit.script(Tagger())
    script.save(tmp_path / "tagger.jit")
    for source in (script, tmp_path / "tagger.jit"):
        with pytest.raises(NotImplementedError, match=r"Tagger: a TorchScript module with its "
                           r"own forward.*Import the Python module instead: module = Tagger"
                           r"\(\.\.\.\); module.load_state_dict\("):
            fastrnn.from_torch(source)
    traced = torch.jit.trace(nn.Sequential(nn.Linear(3, 3), nn.Hardtanh(-2.0, 2.0)),
                             torch.randn(1, 2, 3))
    with pytest.raises(NotImplementedError, match=r"Sequential\[1\]: a traced Hardtanh does "
                                                  r"not keep its settings; script it"):
        fastrnn.from_torch(traced)


def test_scripted_norms_pools_and_parameterized_activations(tmp_path):
    torch.manual_seed(9)
    module = nn.Sequential(nn.Conv1d(6, 8, 3, padding=1), nn.BatchNorm1d(8, eps=1e-3),
                           nn.PReLU(8), nn.AvgPool1d(3, 2, 1, count_include_pad=False),
                           nn.Hardtanh(-0.5, 0.5), nn.Conv1d(8, 4, 1)).eval()
    nn.init.uniform_(module[1].running_var, 0.5, 2.0)
    x = torch.randn(2, 13, 6)
    expected = torch_script_reference(module, x)
    torch.jit.script(module).save(tmp_path / "model.jit")
    model = fastrnn.from_torch(tmp_path / "model.jit")
    assert max_abs(model.predict(x.numpy()), expected) <= TOLERANCE["float32"]


def test_traced_conv_with_its_own_padding_is_refused():
    conv = nn.Conv1d(3, 3, 3, padding=1, padding_mode="reflect")
    traced = torch.jit.trace(nn.Sequential(conv), torch.randn(1, 3, 5))
    with pytest.raises(NotImplementedError, match="pads its input itself"):
        fastrnn.from_torch(traced)
