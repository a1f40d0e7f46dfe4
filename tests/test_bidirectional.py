"""Bidirectional layers vs PyTorch (bidirectional=True, packed sequences) and Keras."""

import numpy as np
import pytest
from conftest import TOLERANCE, dense_weights, max_abs, recurrent_weights

import fastrnn

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")

NAMES = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
CLASSES = {"lstm": (torch.nn.LSTM, fastrnn.LSTM), "gru": (torch.nn.GRU, fastrnn.GRU),
           "rnn": (torch.nn.RNN, fastrnn.SimpleRNN)}


def from_torch_bidirectional(rnn, cls):
    layers = []
    for layer in range(rnn.num_layers):
        forward = cls.from_torch(*(getattr(rnn, f"{n}_l{layer}") for n in NAMES))
        backward = cls.from_torch(*(getattr(rnn, f"{n}_l{layer}_reverse") for n in NAMES))
        layers.append(fastrnn.Bidirectional(forward, backward))
    return layers


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("packed", [False, True])
def test_against_torch(kind, packed):
    torch.manual_seed(11)
    torch_cls, cls = CLASSES[kind]
    rnn = torch_cls(7, 13, num_layers=2, batch_first=True, bidirectional=True)
    x = torch.randn(4, 19, 7)
    lengths = torch.tensor([19, 5, 12, 1])
    with torch.inference_mode():
        if packed:
            sequence = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                               enforce_sorted=False)
            out, final = rnn(sequence)
            out = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=19)[0]
        else:
            out, final = rnn(x)
    h_n = final[0] if kind == "lstm" else final
    model = fastrnn.Sequential(from_torch_bidirectional(rnn, cls))
    y, state = model.predict(x.numpy(), lengths=lengths.numpy() if packed else None,
                             return_state=True)
    assert max_abs(y, out.numpy()) <= TOLERANCE["float32"]
    for layer in range(2):
        for index, direction in enumerate(("forward", "backward")):
            got = state[f"layer{layer}.{direction}.h"]
            assert max_abs(got, h_n[2 * layer + index].numpy()) <= TOLERANCE["float32"]


def test_initial_state_and_head(rng):
    torch.manual_seed(3)
    rnn = torch.nn.GRU(5, 8, batch_first=True, bidirectional=True)
    head = torch.nn.Linear(16, 3)
    x = torch.randn(2, 9, 5)
    h0 = torch.randn(2, 2, 8)
    with torch.inference_mode():
        expected = torch.softmax(head(rnn(x, h0)[0]), -1).numpy()
    model = fastrnn.Sequential(from_torch_bidirectional(rnn, fastrnn.GRU)
                               + [fastrnn.Dense.from_torch(head.weight, head.bias, "softmax")])
    start = {"layer0.forward.h": h0[0].numpy(), "layer0.backward.h": h0[1].numpy()}
    assert max_abs(model.predict(x.numpy(), initial_state=start), expected) <= TOLERANCE["float32"]
    assert model.state_names() == ["layer0.forward.h", "layer0.backward.h"]
    with pytest.raises(ValueError, match="missing \\['layer0.backward.h'\\]"):
        model.predict(x.numpy(), initial_state={"layer0.forward.h": h0[0].numpy()})


def test_single_sequence_and_model_file(tmp_path, rng):
    forward = fastrnn.LSTM(*recurrent_weights(rng, 4, 6, 9))
    backward = fastrnn.LSTM(*recurrent_weights(rng, 4, 6, 9))
    model = fastrnn.Sequential([fastrnn.Bidirectional(forward, backward, "ave"),
                                fastrnn.Dense(*dense_weights(rng, 9, 2))])
    x = rng.standard_normal((3, 11, 6)).astype(np.float32)
    y = model.predict(x)
    assert np.array_equal(model.predict(x[1]), y[1])
    model.save(tmp_path / "bi.fastrnn")
    assert np.array_equal(fastrnn.load(tmp_path / "bi.fastrnn").predict(x), y)


def test_errors(rng):
    lstm = fastrnn.LSTM(*recurrent_weights(rng, 4, 6, 9))
    gru = fastrnn.GRU(*recurrent_weights(rng, 3, 6, 9))
    with pytest.raises(ValueError, match="the two directions must match"):
        fastrnn.Bidirectional(lstm, gru)
    with pytest.raises(ValueError, match="merge_mode: expected one of"):
        fastrnn.Bidirectional(lstm, lstm, "max")
    with pytest.raises(TypeError, match="expected an LSTM, GRU or SimpleRNN"):
        fastrnn.Bidirectional(fastrnn.Dense(np.ones((2, 6))), lstm)
    with pytest.raises(ValueError, match="cannot stream|needs whole sequences"):
        fastrnn.Sequential([fastrnn.Bidirectional(lstm, lstm)]).stream()


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("kind, return_sequences", [("LSTM", True), ("GRU", False),
                                                     ("GRU", True), ("LSTM", False)])
def test_against_keras(keras, merge_mode, kind, return_sequences):
    keras.utils.set_random_seed(21)
    inner = getattr(keras.layers, kind)(12, return_sequences=return_sequences,
                                        bias_initializer="random_normal")
    wrapper = keras.layers.Bidirectional(inner, merge_mode=merge_mode)
    kmodel = keras.Sequential([keras.Input((None, 5)), wrapper])
    x = np.random.default_rng(2).standard_normal((3, 14, 5)).astype(np.float32)
    expected = np.asarray(kmodel.predict(x, verbose=0))
    cls = getattr(fastrnn, kind)
    forward, backward = (cls.from_keras(*layer.get_weights(), return_sequences=return_sequences)
                         for layer in (wrapper.forward_layer, wrapper.backward_layer))
    model = fastrnn.Sequential([fastrnn.Bidirectional(forward, backward, merge_mode)])
    assert max_abs(model.predict(x), expected) <= TOLERANCE["float32"]


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_before", "rnn"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_engine_equals_staged_path(kind, merge_mode, return_sequences, rng):
    """Plain predict runs both directions in the engine; with lengths it runs
    them as stages through streams. Same kernels, same per-row arithmetic:
    equal bit for bit."""
    gates = {"lstm": 4, "rnn": 1}.get(kind, 3)
    cls = {"lstm": fastrnn.LSTM, "rnn": fastrnn.SimpleRNN}.get(kind, fastrnn.GRU)
    options = {"reset_after": kind == "gru"} if cls is fastrnn.GRU else {}
    forward, backward = (cls(*recurrent_weights(rng, gates, 7, 19), return_sequences=
                             return_sequences, **options) for _ in range(2))
    model = fastrnn.Sequential([fastrnn.Bidirectional(forward, backward, merge_mode),
                                fastrnn.Dense(*dense_weights(rng, forward.hidden_size * (
                                    2 if merge_mode == "concat" else 1), 3))])
    x = rng.standard_normal((5, 23, 7)).astype(np.float32)
    engine = model.predict(x)
    staged = model.predict(x, lengths=np.full(5, 23))
    assert np.array_equal(engine, staged)
