"""predict with initial states, returned states and per-sequence lengths."""

import numpy as np
import pytest
from conftest import TOLERANCE, max_abs, recurrent_weights
from reference import gru, lstm

import fastrnn


def two_layer(rng, kind, last=True):
    if kind == "lstm":
        first, second = recurrent_weights(rng, 4, 6, 10), recurrent_weights(rng, 4, 10, 8)
        layers = [fastrnn.LSTM(*first), fastrnn.LSTM(*second, return_sequences=last)]
    else:
        first, second = recurrent_weights(rng, 3, 6, 10), recurrent_weights(rng, 3, 10, 8)
        layers = [fastrnn.GRU(*first), fastrnn.GRU(*second, return_sequences=last)]
    return fastrnn.Sequential(layers), first, second


def reference(kind, x, first, second, state=None):
    """Outputs and final state of the two layers from `state` (float64)."""
    state = state or {}
    if kind == "lstm":
        seq, h0, c0 = lstm(x, *first, h0=state.get("layer0.h"), c0=state.get("layer0.c"))
        out, h1, c1 = lstm(seq, *second, h0=state.get("layer1.h"), c0=state.get("layer1.c"))
        return out, {"layer0.h": h0, "layer0.c": c0, "layer1.h": h1, "layer1.c": c1}
    seq, h0 = gru(x, *first, h0=state.get("layer0.h"))
    out, h1 = gru(seq, *second, h0=state.get("layer1.h"))
    return out, {"layer0.h": h0, "layer1.h": h1}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("batched", [True, False])
def test_initial_and_returned_state(kind, batched, rng):
    model, first, second = two_layer(rng, kind)
    x = rng.standard_normal((3, 20, 6) if batched else (20, 6)).astype(np.float32)
    lead = (3,) if batched else ()
    start = {name: rng.uniform(-0.5, 0.5, lead + (10 if name.startswith("layer0") else 8,))
             for name in model.stream().get_state()}
    y, state = model.predict(x, initial_state=start, return_state=True)
    expected_y, expected_state = reference(kind, x, first, second, start)
    assert max_abs(y, expected_y) <= TOLERANCE["float32"]
    assert set(state) == set(expected_state)
    for name in state:
        assert state[name].shape == expected_state[name].shape
        assert max_abs(state[name], expected_state[name]) <= TOLERANCE["float32"]
    # Carrying the returned state on equals running the concatenation.
    more = rng.standard_normal(x.shape).astype(np.float32)
    continued = model.predict(more, initial_state=state)
    whole = model.predict(np.concatenate([x, more], axis=-2), initial_state=start)
    assert max_abs(continued, whole[..., 20:, :]) <= TOLERANCE["float32"]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("last", [True, False])
def test_lengths(kind, last, rng):
    model, _, _ = two_layer(rng, kind, last)
    x = rng.standard_normal((5, 16, 6)).astype(np.float32)
    lengths = np.array([16, 3, 9, 1, 9])
    y, state = model.predict(x, lengths=lengths, return_state=True)
    for b, length in enumerate(lengths):
        alone, alone_state = model.predict(x[b, :length], return_state=True)
        if last:
            assert np.array_equal(y[b, :length], alone)
            assert np.all(y[b, length:] == 0)
        else:
            assert np.array_equal(y[b], alone)
        for name in state:
            assert np.array_equal(state[name][b], alone_state[name])


def test_lengths_errors(rng):
    model, _, _ = two_layer(rng, "gru")
    x = rng.standard_normal((2, 5, 6)).astype(np.float32)
    with pytest.raises(ValueError,
                       match=r"lengths: expected 2 integers, got int64 of shape \(3,\)"):
        model.predict(x, lengths=[1, 2, 3])
    with pytest.raises(ValueError, match=r"lengths: expected values in \[0, 5\]"):
        model.predict(x, lengths=[1, 6])
    last, _, _ = two_layer(rng, "gru", last=False)
    with pytest.raises(ValueError, match="at least one step per sequence"):
        last.predict(x, lengths=[0, 5])
    with pytest.raises(ValueError, match="missing"):
        model.predict(x, initial_state={"layer0.h": np.zeros((2, 10))})


def test_initial_state_of_another_shape_or_type_is_refused(rng):
    """Issue 14 items 13 and 12: a transposed (H, B) state was accepted for a
    bidirectional model (1.67 off), a (2, 4) state for H = 8 (its 8 values
    read as a vector), and a non-mapping state raised AttributeError."""
    weights = [recurrent_weights(rng, 4, 6, 8) for _ in range(2)]
    bidirectional = fastrnn.Sequential([
        fastrnn.Bidirectional(fastrnn.LSTM(*weights[0]), fastrnn.LSTM(*weights[1]))])
    x = rng.standard_normal((3, 5, 6)).astype(np.float32)
    transposed = {name: np.zeros((8, 3)) for name in bidirectional.state_names()}
    with pytest.raises(ValueError, match=r"state\['layer0.forward.h'\]: expected shape "
                                         r"\(3, 8\), got \(8, 3\)"):
        bidirectional.predict(x, initial_state=transposed)
    single = fastrnn.Sequential([fastrnn.LSTM(*weights[0])])
    with pytest.raises(ValueError, match=r"state\['layer0.h'\]: expected shape \(8,\), "
                                         r"got \(2, 4\)"):
        single.predict(x[0], initial_state={"layer0.h": np.zeros((2, 4)),
                                            "layer0.c": np.zeros(8)})
    for state in ([np.zeros(8), np.zeros(8)], "layer0.h"):
        with pytest.raises(TypeError, match="state: expected a mapping of names to arrays"):
            single.predict(x[0], initial_state=state)


def test_sequences_of_no_steps(rng):
    """Issue 14 item 12: predict(zeros((2, 0, 4)), lengths=[0, 0]) raised IndexError."""
    model, _, _ = two_layer(rng, "gru")
    y, state = model.predict(np.zeros((2, 0, 6)), lengths=[0, 0], return_state=True)
    assert y.shape == (2, 0, 8) and not state["layer1.h"].any()


def test_empty_batch_with_state(rng):
    model, _, _ = two_layer(rng, "lstm")
    y, state = model.predict(np.zeros((0, 4, 6), np.float32), return_state=True)
    assert y.shape == (0, 4, 8) and state["layer1.c"].shape == (0, 8)


torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_lengths_match_torch_packed_sequences(kind):
    torch.manual_seed(5)
    rnn = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(6, 12, num_layers=2, batch_first=True)
    x = torch.randn(4, 11, 6)
    lengths = torch.tensor([11, 4, 7, 2])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                     enforce_sorted=False)
    with torch.inference_mode():
        out, final = rnn(packed)
        out = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=11)[0]
    h_n = final[0] if kind == "lstm" else final
    cls = fastrnn.LSTM if kind == "lstm" else fastrnn.GRU
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    model = fastrnn.Sequential([cls.from_torch(*(getattr(rnn, f"{n}_l{i}") for n in names))
                                for i in range(2)])
    y, state = model.predict(x.numpy(), lengths=lengths.numpy(), return_state=True)
    assert max_abs(y, out.numpy()) <= TOLERANCE["float32"]
    for layer in range(2):
        assert max_abs(state[f"layer{layer}.h"], h_n[layer].numpy()) <= TOLERANCE["float32"]
