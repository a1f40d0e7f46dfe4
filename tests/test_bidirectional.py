"""Bidirectional layers vs PyTorch (bidirectional=True, packed sequences) and Keras."""

import json

import numpy as np
import pytest
from conftest import GATES, TOLERANCE, dense_weights, max_abs, recurrent_weights

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


def test_directions_of_different_activations_are_refused(tmp_path, rng):
    """Issue 14 item 8: SimpleRNN tanh forward and relu backward were accepted,
    and the engine ran both with the forward's activation (77 off the
    lengths= path, which ran each with its own); the same from a file."""
    weights = recurrent_weights(rng, 1, 6, 9)
    tanh, relu = fastrnn.SimpleRNN(*weights), fastrnn.SimpleRNN(*weights, activation="relu")
    with pytest.raises(ValueError, match="the two directions must match"):
        fastrnn.Bidirectional(tanh, relu)
    path = tmp_path / "bi.fastrnn"
    fastrnn.Sequential([fastrnn.Bidirectional(tanh, tanh)]).save(path)
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(path, "np") as file:
        tensors = {name: file.get_tensor(name) for name in file.keys()}
        metadata = file.metadata()
    architecture = json.loads(metadata["architecture"])
    architecture["nodes"][0]["layer"]["backward"]["activation"] = "relu"
    save_file(tensors, path, {**metadata, "architecture": json.dumps(architecture)})
    with pytest.raises(fastrnn.FormatError, match="the two directions must match"):
        fastrnn.load(path)


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


def bidirectional_model(kind, merge_mode, return_sequences, rng, **options):
    """A Bidirectional layer of `kind` (7 inputs, 19 units) and a Dense head."""
    cls = {"lstm": fastrnn.LSTM, "rnn": fastrnn.SimpleRNN}.get(kind, fastrnn.GRU)
    cell = {"reset_after": kind == "gru"} if cls is fastrnn.GRU else {}
    forward, backward = (cls(*recurrent_weights(rng, GATES[kind], 7, 19),
                             return_sequences=return_sequences, **cell) for _ in range(2))
    width = forward.hidden_size * (2 if merge_mode == "concat" else 1)
    return fastrnn.Sequential([fastrnn.Bidirectional(forward, backward, merge_mode),
                               fastrnn.Dense(*dense_weights(rng, width, 3))], **options)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_before", "rnn"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_masked_steps_are_skipped_by_both_directions(kind, merge_mode, return_sequences, rng):
    """A step mask (here mask_value, anywhere in a sequence) runs inside the
    engine: each sequence gives, bit for bit, what it gives alone with its
    masked steps removed; at the masked steps the Bidirectional layer outputs
    zeros (as Keras'), so the model outputs the head's bias."""
    model = bidirectional_model(kind, merge_mode, return_sequences, rng, mask_value=0.0)
    unmasked = fastrnn.Sequential(model.layers)
    x = rng.standard_normal((5, 23, 7)).astype(np.float32)
    x[0, 20:] = 0.0                      # padding at the end
    x[1, [0, 4, 5, 11]] = 0.0            # masked steps at the start and inside
    x[2, :22] = 0.0                      # one step left
    y = model.predict(x)
    for b in range(len(x)):
        kept = ~np.all(x[b] == 0.0, axis=-1)
        alone = unmasked.predict(x[b, kept])
        if return_sequences:
            assert np.array_equal(y[b, kept], alone)
            assert np.array_equal(y[b, ~kept], np.broadcast_to(model.layers[1].bias,
                                                                y[b, ~kept].shape))
        else:
            assert np.array_equal(y[b], alone)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_lengths_and_state_run_in_the_engine(kind, rng):
    """lengths, initial_state and return_state with a Bidirectional layer:
    each sequence as if alone, from its own initial state."""
    model = bidirectional_model(kind, "concat", True, rng)
    x = rng.standard_normal((4, 15, 7)).astype(np.float32)
    lengths = np.array([15, 1, 9, 0])
    start = {name: rng.standard_normal((4, 19)).astype(np.float32)
             for name in model.state_names()}
    y, state = model.predict(x, lengths=lengths, initial_state=start, return_state=True)
    for b, length in enumerate(lengths):
        alone_start = {name: value[b] for name, value in start.items()}
        if length == 0:
            assert not y[b].any()
            assert all(np.array_equal(state[name][b], alone_start[name]) for name in state)
            continue
        alone, alone_state = model.predict(x[b, :length], initial_state=alone_start,
                                           return_state=True)
        assert np.array_equal(y[b, :length], alone) and not y[b, length:].any()
        assert all(np.array_equal(state[name][b], alone_state[name]) for name in state)


def test_weights_are_packed_once(rng):
    """One engine runs both directions: a bidirectional layer holds two
    directions' packed weights, nothing more."""
    forward, backward = (fastrnn.GRU(*recurrent_weights(rng, 3, 6, 9)) for _ in range(2))
    bidirectional = fastrnn.Sequential([fastrnn.Bidirectional(forward, backward)])
    one_direction = fastrnn.Sequential([forward])
    assert bidirectional.weight_bytes == 2 * one_direction.weight_bytes > 0
