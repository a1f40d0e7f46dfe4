"""The Python <-> C seam (fastrnn._engine over csrc/fastrnn.h): every C status
becomes one Python exception, the C enums are named once, and the state is
keyed by the names fastrnn.model.state_parts makes."""

import numpy as np
import pytest
from conftest import ISAS, recurrent_weights

import fastrnn
from fastrnn import _engine, layers, model


def test_the_layers_use_the_engines_names():
    assert layers.ACTIVATIONS == tuple(_engine.ACTIVATIONS)
    assert fastrnn.Bidirectional.MERGE_MODES == tuple(_engine.MERGE_MODES)
    assert set(_engine.available_isas()) <= set(_engine.ISAS)
    assert set(_engine.ELEMENTWISE_ACTIVATIONS) == set(_engine.ACTIVATIONS) - {"softmax"}


def test_argument_errors_are_value_errors():
    engine = _engine.Model(ISAS[0], "float32")
    with pytest.raises(ValueError, match="adding a model input: invalid argument"):
        engine.add_input(1 << 21)
    x = engine.add_input(3)
    h = engine.add_lstm(x, *recurrent_weights(np.random.default_rng(0), 4, 3, 5), False, False)
    with pytest.raises(ValueError, match="the layer cannot read that tensor"):
        engine.add_gru(h, *recurrent_weights(np.random.default_rng(1), 3, 5, 2), True, True,
                       False)
    with pytest.raises(ValueError, match="the tensors the layer reads do not fit it"):
        engine.add_slice(h, 2, 9)


@pytest.mark.skipif(not any("float16" in _engine.available_precisions(isa) for isa in ISAS),
                    reason="no float16 kernels on this CPU")
def test_a_weight_beyond_float16_is_a_range_error():
    isa = next(isa for isa in ISAS if "float16" in _engine.available_precisions(isa))
    engine = _engine.Model(isa, "float16")
    with pytest.raises(ValueError, match="beyond the range of the model's precision"):
        engine.add_dense(engine.add_input(2), np.full((3, 2), 1e6, np.float32), None, "linear")


def test_a_model_of_whole_sequences_refuses_a_stream_in_c_too(rng):
    forward, backward = (fastrnn.GRU(*recurrent_weights(rng, 3, 4, 5)) for _ in range(2))
    bidirectional = fastrnn.Sequential([fastrnn.Bidirectional(forward, backward)])
    with pytest.raises(ValueError, match="reads whole sequences"):
        _engine.Stream(bidirectional._engine, None, "raise", 1)


def test_state_parts_name_every_array_in_the_engines_order(rng):
    stack = [fastrnn.LSTM(*recurrent_weights(rng, 4, 3, 5)),
             fastrnn.Bidirectional(*(fastrnn.GRU(*recurrent_weights(rng, 3, 5, 2))
                                     for _ in range(2))),
             fastrnn.Dense(np.ones((2, 4), np.float32))]
    assert model.state_parts(["layer0", "layer1", "layer2"], stack) == [
        ("layer0.h", 0, 0), ("layer0.c", 0, 1),
        ("layer1.forward.h", 1, 0), ("layer1.backward.h", 1, 1)]
    sequential = fastrnn.Sequential(stack)
    state = {name: rng.standard_normal((2, size)).astype(np.float32)
             for name, size in zip(sequential.state_names(), (5, 5, 2, 2))}
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    _, final = sequential.predict(x[:, :0], initial_state=state, return_state=True)
    assert all(np.array_equal(final[name], state[name]) for name in state)
