"""fastrnn.from_torch on graph modules (torch.fx): the CRNN family of
crnn_models.py and single layers over sampled shape grids, each against the
torch module itself; streams against predict; the refusals.

Bound (``close``): max abs error <= 1e-5 * max(1, max |expected|) *
max(1, sqrt(fan_in / 1024)), fan_in the largest sum of products in the
model (a Dense's inputs, a conv's in_channels / groups * kernel, a recurrent
layer's inputs + hidden): float32 rounding grows like the square root of
the terms summed, and outputs that are not bounded (powers, logits) are
compared relative to their scale. Streams are compared with predict bit for
bit (np.array_equal): each frame's arithmetic is the same in any chunking.
"""

import crnn_models
import numpy as np
import pytest

import fastrnn

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
nn = torch.nn
F = nn.functional

CHUNKS = (1, 3, 7, 64, None)          # None: the whole sequence in one call


def largest_fan_in(model) -> int:
    fan_in = 1
    for layer in model.layers:
        for part in getattr(layer, "forward", None), getattr(layer, "backward", None), layer:
            if hasattr(part, "weight_ih"):
                fan_in = max(fan_in, part.input_size + part.hidden_size)
        weight = getattr(layer, "weight", None)
        if weight is not None:
            fan_in = max(fan_in, int(np.prod(weight.shape[1:])))
    return fan_in


def close(got, expected, fan_in: int = 1, what: str = "") -> None:
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    bound = 1e-5 * max(1.0, float(np.abs(expected).max(initial=0.0))) \
        * max(1.0, np.sqrt(fan_in / 1024))
    error = float(np.abs(got - expected).max(initial=0.0))
    assert error <= bound, f"{what}: max abs error {error:.3g} > {bound:.3g}"


def as_tuple(outputs) -> tuple:
    return outputs if isinstance(outputs, tuple) else (outputs,)


def run_torch(module, x: np.ndarray):
    with torch.no_grad():
        return module(torch.from_numpy(x))


def streamed(model, x: np.ndarray, chunk: int | None, stream=None) -> tuple:
    """Every output of streaming x (T, F) in chunks then flushing, per output:
    the frames concatenated (the last answer for an output with one frame
    per sequence)."""
    stream = model.stream() if stream is None else stream
    chunk = chunk or max(len(x), 1)
    parts = [as_tuple(stream.process(x[t:t + chunk])) for t in range(0, len(x), chunk)]
    parts.append(as_tuple(stream.flush()))
    results = []
    for index, (rate, _) in enumerate(model.timing):
        frames = [part[index] for part in parts]
        if rate == 0:
            results.append([f for f in frames if f.shape[0]][-1][-1])
        else:
            results.append(np.concatenate(frames))
    return tuple(results)


def state_rows(state: dict, names: list) -> np.ndarray:
    """A state tensor as torch stacks it: (layers * directions, B, H)."""
    return np.stack([state[name] for name in names])


# ---------------------------------------------------------------------------
# The CRNN family.

TORCH_CASES = [name for name in crnn_models.CASES if name != "group_norm"]
# (rate, delay) of each output, worked out from each module's layers: VAD: STFT
# kernel 256 stride 128 (255), conv1 looks 1 frame ahead (+128), strided conv2
# one more (+128), rate 2 x 128; noise suppressor: two valid kernel-3 convs
# (+2 each); same_gated: "same" kernels 5 then 4 (+2, +2); causal_residual:
# causal, stride 2; a global pool ends the sequence (rate 0).
TIMING = {"vad": [(256, 511)], "noise_suppressor": [(1, 4), (1, 4)],
          "noise_suppressor_full": [(1, 4), (1, 4)], "keyword_spotter": [(0, 0)],
          "causal_residual": [(2, 0)], "same_gated": [(1, 4)], "pooled": [(0, 0)],
          "activations": [(1, 0)]}

# A stream's output with one frame per sequence (a global pool) answers each
# frame of the pool's input, and flush() gives the final answer: the keyword
# spotter's GRU frames come at stride 2 (dw1), conv0 and dw1 look 1 frame
# ahead each and the dilated dw2 2 of its frames (+4); the pooled model's
# at stride 2 x 2 (max pool, average pool), delay 2 (valid conv1) + 1 (max
# pool) + 2 (conv2) + 2 (average pool).
STREAM_TIMING = {"keyword_spotter": [(2, 6)], "pooled": [(4, 7)]}


@pytest.fixture(scope="module")
def imported():
    """imported(name): (case, torch module, fastrnn model), made once per case."""
    made = {}

    def get(name: str):
        if name not in made:
            case = crnn_models.CASES[name]()
            module = case.torch_module(case.weights)
            made[name] = case, module, fastrnn.from_torch(module)
        return made[name]
    return get


@pytest.fixture(params=TORCH_CASES)
def crnn(request, imported):
    return imported(request.param)


def crnn_input(case, length: int, batch: int = 2) -> np.ndarray:
    rng = np.random.default_rng(length)
    return rng.standard_normal((batch, length, case.input_size)).astype(np.float32)


def test_crnn_predict_matches_torch(crnn):
    """Every output and every returned state, both test lengths."""
    case, module, model = crnn
    fan_in = largest_fan_in(model)
    for length in case.lengths:
        x = crnn_input(case, length)
        expected = case.torch_outputs(module, x)
        outputs, state = model.predict(x, return_state=True)
        outputs = as_tuple(outputs)
        names = model.metadata["torch_states"]
        assert len(outputs) + len(names) == len(expected)
        for index, (got, want) in enumerate(zip(outputs, expected)):
            close(got, want, fan_in, f"{case.name} output {index}, T={length}")
        for rows, want in zip(names, expected[len(outputs):]):
            close(state_rows(state, rows)[0], want, fan_in, f"{case.name} state {rows}")


def test_crnn_timing(crnn):
    """The reported (rate, delay), and a stream's output frames appearing
    exactly when input frame j * rate + delay is in (the stream's timing:
    an output with one frame per sequence answers its input's frames)."""
    case, _, model = crnn
    assert model.timing == TIMING[case.name]
    x = crnn_input(case, case.lengths[0], batch=1)[0]
    stream = model.stream()
    timing = list(zip(as_tuple(stream.rate), as_tuple(stream.delay)))
    assert timing == STREAM_TIMING.get(case.name, TIMING[case.name])
    made = [0] * len(model.timing)
    step = max(1, len(x) // 300)           # the VAD's raw samples: every 17th
    for t in range(0, len(x), step):
        outputs = as_tuple(stream.process(x[t:t + step]))
        last = min(t + step, len(x)) - 1
        for index, ((rate, delay), output) in enumerate(zip(timing, outputs)):
            made[index] += output.shape[0]
            assert made[index] == max(0, (last - delay) // rate + 1), (case.name, index, t)


@pytest.mark.parametrize("name", TORCH_CASES)
@pytest.mark.parametrize("chunk", CHUNKS)
def test_crnn_streams_equal_predict(name, chunk, imported):
    case, _, model = imported(name)
    for length in case.lengths:
        x = crnn_input(case, length, batch=1)[0]
        expected = as_tuple(model.predict(x))
        for got, want in zip(streamed(model, x, chunk), expected):
            assert np.array_equal(got, want), (case.name, chunk, length)


@pytest.mark.parametrize("name", TORCH_CASES)
def test_crnn_state_round_trip_mid_stream(name, imported):
    """get_state after part of a sequence, set_state on a fresh stream, the
    rest: the frames of predict, every state of an unbroken stream (the
    state is canonical: the same whatever the chunking); and where nothing
    waits for a flush, the states predict returns (those the torch forward
    returns)."""
    case, _, model = imported(name)
    x = crnn_input(case, case.lengths[1], batch=1)[0]
    expected, final = model.predict(x, return_state=True)
    unbroken = model.stream()
    unbroken.process(x)
    first = model.stream()
    split = len(x) // 2 + 1
    head = as_tuple(first.process(x[:split]))
    second = model.stream()
    second.set_state(first.get_state())
    rest = as_tuple(second.process(x[split:]))
    state, whole = second.get_state(), unbroken.get_state()
    assert all(np.array_equal(state[name], whole[name]) for name in state)
    tail = as_tuple(second.flush())
    for index, ((rate, _), want) in enumerate(zip(model.timing, as_tuple(expected))):
        frames = [head[index], rest[index], tail[index]]
        got = [f for f in frames if len(f)][-1][-1] if rate == 0 else np.concatenate(frames)
        assert np.array_equal(got, want), (case.name, index)
    if not any(len(frames) for frames in tail):
        for name in sum(model.metadata["torch_states"], []):
            assert np.array_equal(state[name], final[name]), name


def test_group_norm_over_time_is_refused():
    case = crnn_models.CASES["group_norm"]()
    with pytest.raises(NotImplementedError, match=r"norm \(GroupNorm\) at crnn_models.py:\d+ "
                       r".*GroupNorm\(1, C\) on a value \(batch, channels, time\) normalizes "
                       r"over the channels AND the frames"):
        fastrnn.from_torch(case.torch_module(case.weights))


def test_model_kinds_and_layer_names():
    """Chains stay Sequential (layers keyed layer<i>); graphs name layers
    after the torch modules and operations."""
    for name, kind in [("keyword_spotter", fastrnn.Sequential), ("vad", fastrnn.Model)]:
        case = crnn_models.CASES[name]()
        model = fastrnn.from_torch(case.torch_module(case.weights))
        assert type(model) is kind
    assert model.metadata["torch_states"] == [["lstm.h"], ["lstm.c"]]
    assert {"stft", "conv1", "lstm", "head"} <= set(model.layer_names)
    spotter = fastrnn.from_torch(crnn_models.CASES["keyword_spotter"]().torch_module(
        crnn_models.keyword_spotter_weights(4)))
    assert isinstance(spotter.layers[-1], fastrnn.Dense) and spotter.layers[-1].activation \
        == "softmax"


# ---------------------------------------------------------------------------
# Single layers over sampled grids.

def check(module, x: np.ndarray, layout: str = "BTC", chunk: int = 5):
    """from_torch(module) against module on x (B, T, C), given to torch in
    `layout` ("BCT": x.transpose(1, 2), "TBC": x.transpose(0, 1), and the
    output back); a stream of x[0] equals predict. Returns the model."""
    module.eval()
    model = fastrnn.from_torch(module)
    order = {"BTC": (0, 1, 2), "BCT": (0, 2, 1), "TBC": (1, 0, 2)}[layout]
    outputs = as_tuple(run_torch(module, np.ascontiguousarray(x.transpose(order))))
    got = as_tuple(model.predict(x))
    for index, (value, expected) in enumerate(zip(got, outputs)):
        expected = expected.numpy()
        if expected.ndim == 3:
            expected = expected.transpose(order)
        close(value, expected, largest_fan_in(model), f"output {index}")
    if not model.needs_sequences:
        for value, expected in zip(streamed(model, x[0], chunk), as_tuple(model.predict(x[0]))):
            assert np.array_equal(value, expected)
    return model


class PaddedConv(nn.Module):
    """(B, T, C) -> (B, T', C'): F.pad of time, then the conv (B, C, T)."""

    def __init__(self, conv: nn.Conv1d, left: int, right: int):
        super().__init__()
        self.conv, self.left, self.right = conv, left, right

    def forward(self, x):
        return self.conv(F.pad(x.transpose(1, 2), (self.left, self.right))).transpose(1, 2)


def conv_grid(count: int, seed: int = 12) -> list:
    """Sampled (in, out, kernel, stride, dilation, groups, padding, steps):
    padding an int, "valid", "same" (stride 1), ("pad", left, right) for
    F.pad before the conv; channels 1..513, lengths 1..300."""
    rng = np.random.default_rng(seed)
    grid = [(513, 8, 3, 1, 1, 1, 1, 12), (1, 20, 256, 128, 1, 1, "valid", 300),
            (33, 33, 3, 2, 1, 33, ("pad", 2, 0), 61), (5, 7, 4, 1, 1, 1, "same", 1),
            (129, 17, 11, 1, 1, 1, "same", 300), (2, 3, 7, 1, 3, 1, ("pad", 0, 9), 40)]
    while len(grid) < count:
        kernel = int(rng.choice([1, 2, 3, 4, 5, 7, 11]))
        stride, dilation = int(rng.choice([1, 2, 3])), int(rng.choice([1, 1, 2, 3]))
        inputs = int(rng.choice([1, 2, 3, 6, 8, 16, 33, 64]))
        groups = int(rng.choice([g for g in (1, 2, 3, inputs) if inputs % g == 0]))
        outputs = groups * int(rng.choice([1, 2, 3]))
        padding = [0, kernel // 2, "valid", ("pad", (kernel - 1) * dilation, 0),
                   ("pad", int(rng.integers(0, 4)), int(rng.integers(0, 4)))] \
            + (["same"] if stride == 1 else [])
        padding = padding[int(rng.integers(len(padding)))]
        span = (kernel - 1) * dilation + 1
        steps = int(rng.integers(1, 301))
        if isinstance(padding, str):
            total = 0 if padding == "valid" else span - 1
        else:
            total = 2 * padding if isinstance(padding, int) else sum(padding[1:])
        if steps + total >= span:
            grid.append((inputs, outputs, kernel, stride, dilation, groups, padding, steps))
    return grid


@pytest.mark.parametrize("inputs, outputs, kernel, stride, dilation, groups, padding, steps",
                         conv_grid(36))
def test_conv1d(inputs, outputs, kernel, stride, dilation, groups, padding, steps):
    torch.manual_seed(steps)
    explicit = isinstance(padding, tuple)
    conv = nn.Conv1d(inputs, outputs, kernel, stride=stride, dilation=dilation, groups=groups,
                     padding=0 if explicit else padding, bias=bool(steps % 2))
    x = np.random.default_rng(steps).standard_normal((2, steps, inputs)).astype(np.float32)
    if explicit:
        model = check(PaddedConv(conv, *padding[1:]), x)
        left = padding[1]
    else:
        model = check(nn.Sequential(conv), x, "BCT")
        left = {"valid": 0, "same": (kernel - 1) * dilation // 2}.get(padding, padding)
    assert model.timing == [(stride, (kernel - 1) * dilation - left)]


def test_conv_padded_past_its_span():
    torch.manual_seed(1)
    x = np.random.default_rng(1).standard_normal((1, 10, 3)).astype(np.float32)
    check(PaddedConv(nn.Conv1d(3, 2, 2), 1, 2), x)


POOLS = [  # kind, kernel, stride, padding, count_include_pad, ceil_mode
    ("max", 2, None, 0, True, False), ("max", 3, 2, 1, True, False), ("max", 5, 3, 2, True, False),
    ("max", 3, 1, 1, True, True), ("avg", 3, 2, 1, True, False), ("avg", 3, 2, 1, False, False),
    ("avg", 4, 1, 2, True, False), ("avg", 4, 1, 2, False, True), ("avg", 1, None, 0, True, False),
    ("avg", 5, 2, 0, True, False),
]


@pytest.mark.parametrize("kind, kernel, stride, padding, count_include_pad, ceil_mode", POOLS)
@pytest.mark.parametrize("steps", [9, 30])
def test_pools(kind, kernel, stride, padding, count_include_pad, ceil_mode, steps):
    if kind == "max":
        pool = nn.MaxPool1d(kernel, stride, padding, ceil_mode=ceil_mode)
    else:
        pool = nn.AvgPool1d(kernel, stride, padding, ceil_mode=ceil_mode,
                            count_include_pad=count_include_pad)
    torch.manual_seed(steps)
    x = np.random.default_rng(steps).standard_normal((2, steps, 6)).astype(np.float32)
    check(nn.Sequential(nn.Conv1d(6, 4, 1), pool), x, "BCT")


class Apply(nn.Module):
    """(B, T, 7) -> Linear(7, C) -> `function` (a torch callable of the
    frames, traced by torch.fx)."""

    def __init__(self, function, channels: int = 7):
        super().__init__()
        self.fc, self.function = nn.Linear(7, channels), function

    def forward(self, x):
        return self.function(self.fc(x))


ACTIVATIONS = {
    "ReLU": nn.ReLU(), "ReLU6": nn.ReLU6(), "Hardtanh": nn.Hardtanh(-0.5, 2.0),
    "LeakyReLU": nn.LeakyReLU(0.2), "PReLU1": nn.PReLU(), "ELU": nn.ELU(0.7), "SELU": nn.SELU(),
    "GELU": nn.GELU(), "GELU-tanh": nn.GELU("tanh"), "SiLU": nn.SiLU(), "Tanh": nn.Tanh(),
    "Sigmoid": nn.Sigmoid(), "Hardsigmoid": nn.Hardsigmoid(), "Softplus": nn.Softplus(2.0, 3.0),
    "Softmax": nn.Softmax(dim=-1), "LogSoftmax": nn.LogSoftmax(dim=2),
    "torch.tanh": torch.tanh, "F.relu": F.relu, "torch.sigmoid": torch.sigmoid,
    "F.gelu-tanh": lambda y: F.gelu(y, approximate="tanh"),
    "F.leaky_relu": lambda y: F.leaky_relu(y, 0.1), "F.elu": lambda y: F.elu(y, alpha=0.5),
    "F.silu": F.silu, "F.softplus": lambda y: F.softplus(y, beta=0.5),
    "F.hardsigmoid": F.hardsigmoid, "F.relu6": F.relu6, "F.selu": F.selu,
    "F.softmax": lambda y: F.softmax(y, dim=-1), "F.log_softmax": lambda y: F.log_softmax(y, -1),
    "torch.softmax": lambda y: torch.softmax(y, 2), "method.softmax": lambda y: y.softmax(-1),
    "method.relu": lambda y: y.relu(), "method.sigmoid": lambda y: y.sigmoid(),
    "torch.clamp": lambda y: torch.clamp(y, -0.3, 0.4), "clamp_min": lambda y: y.clamp(min=0.1),
    "exp": torch.exp, "abs": lambda y: y.abs(), "neg": lambda y: -y, "square": torch.square,
    "pow": lambda y: y ** 2, "sqrt-of-abs": lambda y: torch.sqrt(y.abs() + 0.1),
    "log-of-exp": lambda y: torch.log(y.exp()),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations(name):
    torch.manual_seed(3)
    x = np.random.default_rng(3).standard_normal((2, 11, 7)).astype(np.float32) * 3
    check(Apply(ACTIVATIONS[name]), x)


class ChannelsFirstPReLU(nn.Module):
    """PReLU(C) on (B, C, T): torch's PReLU takes its channels from dimension 1."""

    def __init__(self):
        super().__init__()
        self.fc, self.prelu = nn.Linear(7, 5), nn.PReLU(5)
        with torch.no_grad():
            self.prelu.weight.uniform_(-0.5, 0.5)

    def forward(self, x):
        return self.prelu(self.fc(x).transpose(1, 2)).transpose(1, 2)


def test_prelu_per_channel_runs_on_channels_first():
    torch.manual_seed(4)
    x = np.random.default_rng(4).standard_normal((2, 9, 7)).astype(np.float32)
    check(ChannelsFirstPReLU(), x)


class Norms(nn.Module):
    """BatchNorm1d after a conv (folded) and alone after a ReLU (an affine),
    LayerNorm without bias, GroupNorm(1, C) on pooled (B, C) frames."""

    def __init__(self, affine: bool):
        super().__init__()
        self.conv = nn.Conv1d(5, 6, 3, padding=1)
        self.bn1, self.bn2 = nn.BatchNorm1d(6, affine=affine), nn.BatchNorm1d(6, eps=1e-3)
        self.norm = nn.LayerNorm(6, elementwise_affine=affine, bias=False)
        self.group = nn.GroupNorm(1, 6)
        for module in (self.bn1, self.bn2, self.group, self.norm):
            for tensor in module.parameters():
                nn.init.uniform_(tensor, 0.5, 1.5)
        for bn in (self.bn1, self.bn2):
            nn.init.normal_(bn.running_mean)
            nn.init.uniform_(bn.running_var, 0.3, 2.0)

    def forward(self, x):
        y = self.bn2(F.relu(self.bn1(self.conv(x.transpose(1, 2)))))
        frames = self.norm(y.transpose(1, 2))
        return frames, self.group(frames.mean(dim=1))


@pytest.mark.parametrize("affine", [True, False])
def test_norms(affine):
    torch.manual_seed(5)
    x = np.random.default_rng(5).standard_normal((3, 17, 5)).astype(np.float32)
    model = check(Norms(affine), x)
    assert sum(isinstance(layer, fastrnn.Affine) for layer in model.layers) == 2


class Features(nn.Module):
    """Channel slicing, split, chunk, cat, + - * / with tensors, numbers and
    per-channel parameters in both layouts, a reduction over channels."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 8))
        self.register_buffer("shift", torch.linspace(-1, 1, 8).reshape(8, 1))

    def forward(self, x):
        y = self.fc(x)
        a, b = torch.split(y, [3, 5], dim=-1)
        c, d = y.chunk(2, dim=2)
        first = torch.cat([b, a * 2.0], dim=-1) / self.scale - (1 - a[..., 1:2])
        channels_first = y.transpose(1, 2) + self.shift
        second = (channels_first * torch.sigmoid(channels_first)).permute(0, 2, 1) - c.sum(
            dim=-1, keepdim=True)
        return first, second, y[:, :, 2:-1], d.amax(dim=-1, keepdim=True) / (y.mean(-1, True)
                                                                              + 3)


def test_feature_operations():
    torch.manual_seed(6)
    x = np.random.default_rng(6).standard_normal((2, 13, 6)).astype(np.float32)
    check(Features(), x)


class Heads(nn.Module):
    """Global mean and max over time in both layouts, torch.max(dim).values,
    AdaptiveAvgPool1d(1) + squeeze, the last step of a GRU, h_n[-1] of an LSTM."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.gru = nn.GRU(6, 5, batch_first=True)
        self.lstm = nn.LSTM(6, 7, num_layers=2, batch_first=True)
        self.fc = nn.Linear(6 * 4 + 5 + 7, 3)

    def forward(self, x):
        y = self.conv(x.transpose(1, 2))                       # (B, 6, T)
        frames = y.transpose(1, 2)
        sequence, _ = self.gru(frames)
        _, (h_n, _) = self.lstm(frames)
        pooled = torch.cat([y.mean(dim=2), frames.amax(dim=1), torch.max(frames, dim=1).values,
                            self.pool(y).squeeze(-1), sequence[:, -1], h_n[-1]], dim=-1)
        return torch.log_softmax(self.fc(pooled), dim=-1)


def test_global_pools_and_last_steps():
    torch.manual_seed(7)
    x = np.random.default_rng(7).standard_normal((3, 15, 4)).astype(np.float32)
    model = check(Heads(), x)
    assert model.timing == [(0, 0)]


class StatefulTagger(nn.Module):
    """A time-first bidirectional 2-layer GRU and a batch-first RNN(relu)
    with zero initial states (if state is None / torch.zeros), both outputs
    and every state returned."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6, num_layers=2, bidirectional=True)
        self.rnn = nn.RNN(12, 5, nonlinearity="relu", batch_first=True)
        self.out = nn.Linear(5, 2)

    def forward(self, x, state=None):
        if state is None:
            state = torch.zeros((4, x.size(0), 6))
        sequence, h_gru = self.gru(x.transpose(0, 1), state)
        y, h_rnn = self.rnn(sequence.transpose(0, 1), torch.zeros(1, x.shape[0], 5))
        return self.out(y), sequence, {"gru": h_gru, "rnn": h_rnn}


def test_recurrent_states_returned():
    torch.manual_seed(8)
    module = StatefulTagger().eval()
    x = np.random.default_rng(8).standard_normal((3, 10, 4)).astype(np.float32)
    model = fastrnn.from_torch(module)
    with torch.no_grad():
        out, sequence, states = module(torch.from_numpy(x))
    (got_out, got_sequence), state = model.predict(x, return_state=True)
    fan_in = largest_fan_in(model)
    close(got_out, out.numpy(), fan_in)
    close(got_sequence, sequence.numpy().transpose(1, 0, 2), fan_in)
    gru_names, rnn_names = model.metadata["torch_states"]
    assert gru_names == ["gru_l0.forward.h", "gru_l0.backward.h", "gru_l1.forward.h",
                         "gru_l1.backward.h"] and rnn_names == ["rnn.h"]
    close(state_rows(state, gru_names), states["gru"].numpy(), fan_in)
    close(state_rows(state, rnn_names), states["rnn"].numpy(), fan_in)
    assert model.needs_sequences


def test_sequential_with_convolutions_takes_channels_last():
    """A Sequential that starts with a Conv1d reads (B, C, T) in torch; the
    fastrnn model reads (B, T, C) and gives (B, T, C)."""
    torch.manual_seed(9)
    module = nn.Sequential(nn.Conv1d(3, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(),
                           nn.MaxPool1d(2), nn.Conv1d(8, 4, 1), nn.Tanh())
    x = np.random.default_rng(9).standard_normal((2, 20, 3)).astype(np.float32)
    model = check(module, x, "BCT")
    assert isinstance(model, fastrnn.Sequential)


# ---------------------------------------------------------------------------
# Refusals: NotImplementedError naming the module or operation and its line.

class Wrap(nn.Module):
    """forward(x) = function(self, x), for one-line refusal cases."""

    def __init__(self, function, **modules):
        super().__init__()
        self.function = function
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, x):
        return self.function(self, x)


def _refusals() -> list:
    conv = nn.Conv1d(4, 4, 3)
    lstm = nn.LSTM(4, 4, batch_first=True)
    stats_free = nn.BatchNorm1d(4, track_running_stats=False)
    return [
        ("reflect", Wrap(lambda m, x: m.c(x.transpose(1, 2)),
                         c=nn.Conv1d(4, 4, 3, padding=1, padding_mode="reflect")),
         r"c \(Conv1d\) at .*padding_mode='reflect'; fastrnn pads convolutions with zeros"),
        ("batch-stats", Wrap(lambda m, x: m.bn(m.c(x.transpose(1, 2))), c=conv, bn=stats_free),
         r"bn \(BatchNorm1d\) at .*track_running_stats=False normalizes each batch"),
        ("group-norm-2", Wrap(lambda m, x: m.g(m.fc(x).mean(dim=1)), fc=nn.Linear(4, 4),
                              g=nn.GroupNorm(2, 4)),
         "GroupNorm with 2 groups"),
        ("layer-norm-2d", Wrap(lambda m, x: m.n(x), n=nn.LayerNorm((5, 4))), r"LayerNorm over"),
        ("linear-on-time", Wrap(lambda m, x: m.fc(m.c(x.transpose(1, 2))), c=conv,
                                fc=nn.Linear(4, 4)),
         r"fc \(Linear\) at .*reads \(batch, time, channels\).*got a value \(batch, "
         r"channels, time\)"),
        ("softmax-over-time", Wrap(lambda m, x: torch.softmax(m.fc(x), dim=1),
                                   fc=nn.Linear(4, 4)),
         r"torch.softmax at test_from_torch_graph.py:\d+ .*softmax over dimension 1"),
        ("pad-reflect", Wrap(lambda m, x: m.c(F.pad(x.transpose(1, 2), (2, 0), mode="reflect")),
                             c=conv), "F.pad mode='reflect'"),
        ("pad-before-pool", Wrap(lambda m, x: m.p(F.pad(m.c(x.transpose(1, 2)), (1, 1))),
                                 c=conv, p=nn.MaxPool1d(2)),
         "fastrnn takes F.pad only right before a Conv1d"),
        ("ceil-mode", Wrap(lambda m, x: m.p(m.c(x.transpose(1, 2))), c=conv,
                           p=nn.AvgPool1d(3, 2, ceil_mode=True)), "ceil_mode=True with stride 2"),
        ("unknown-module", Wrap(lambda m, x: m.e(m.fc(x)), fc=nn.Linear(4, 4),
                                e=nn.Conv2d(4, 4, 1)),
         r"e \(Conv2d\) at .*not a module fastrnn can run"),
        ("unknown-operation", Wrap(lambda m, x: torch.matmul(m.fc(x), m.fc(x).transpose(1, 2)),
                                   fc=nn.Linear(4, 4)),
         r"torch.matmul at test_from_torch_graph.py:\d+ \(.*\): an operation fastrnn cannot run"),
        ("learned-state", Wrap(lambda m, x: m.rnn(x, m.h0.expand(1, x.size(0), 4))[0],
                               rnn=nn.GRU(4, 4, batch_first=True)),
         "an initial state that is"),
        ("last-step-and-frames", Wrap(lambda m, x: m.l(x)[0] + m.l(x)[0][:, -1:], l=lstm),
         r"index .* fastrnn slices channels"),
        ("every-frame-and-last", Wrap(lambda m, x: (lambda out: (out[0], out[1][0][-1]))(m.l(x)),
                                      l=lstm),
         "whose every frame is used too"),
        ("h_n-first-layer", Wrap(lambda m, x: m.l(x)[1][0][0],
                                 l=nn.LSTM(4, 4, num_layers=2, batch_first=True)),
         r"h_n\[0\] of 2 layer states"),
        ("cell-state", Wrap(lambda m, x: m.l(x)[1][1][-1], l=lstm), "final cell state c_n"),
        ("cat-time", Wrap(lambda m, x: torch.cat([m.fc(x), x], dim=1), fc=nn.Linear(4, 4)),
         "fastrnn concatenates channels"),
        ("mean-all", Wrap(lambda m, x: m.fc(x).mean(), fc=nn.Linear(4, 4)), "of a whole tensor"),
        ("squeeze-excite", Wrap(lambda m, x: m.fc(x) * m.fc(x).mean(dim=1, keepdim=True),
                                fc=nn.Linear(4, 4)),
         r"mul of values \(batch, time, channels\) and \(batch, 1, channels\)"),
        ("constant-over-time", Wrap(lambda m, x: m.fc(x) * torch.ones(5, 4), fc=nn.Linear(4, 4)),
         "varies along time"),
        ("bidirectional-last", Wrap(lambda m, x: m.l(x)[0][:, -1],
                                    l=nn.GRU(4, 3, batch_first=True, bidirectional=True)),
         "bidirectional"),
        ("proj-size", Wrap(lambda m, x: m.l(x)[0], l=nn.LSTM(4, 4, proj_size=2)), "proj_size"),
        ("time-first-rnn", Wrap(lambda m, x: m.l(x)[0], l=nn.GRU(4, 4)), None),
    ]


REFUSALS = _refusals()


@pytest.mark.parametrize("name, module, message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_construct_and_its_line(name, module, message):
    if message is None:                 # not a refusal: the input is (T, B, C) in torch
        check(module, np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32),
              "TBC")
        return
    if name == "learned-state":
        module.h0 = nn.Parameter(torch.ones(1, 1, 4))
    with pytest.raises(NotImplementedError, match=message) as error:
        fastrnn.from_torch(module)
    assert "test_from_torch_graph.py:" in str(error.value)


def test_another_tensor_argument_is_traced_as_none():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x, y):
            return self.fc(x) + y

    with pytest.raises(NotImplementedError, match="traced as None"):
        fastrnn.from_torch(TwoInputs())
