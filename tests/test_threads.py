"""Thread-count invariance, batch invariance, and concurrent predict calls."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import dense_weights, recurrent_weights

import fastrnn


def model_of(rng, kind, inputs, hidden):
    if kind == "lstm":
        layer = fastrnn.LSTM(*recurrent_weights(rng, 4, inputs, hidden))
    elif kind == "rnn":
        layer = fastrnn.SimpleRNN(*recurrent_weights(rng, 1, inputs, hidden))
    else:
        layer = fastrnn.GRU(*recurrent_weights(rng, 3, inputs, hidden),
                            reset_after=kind == "gru")
    return fastrnn.Sequential([layer, fastrnn.Dense(*dense_weights(rng, hidden, 5))])


# Shapes that take each parallel path: many sequences (threads split the
# batch), few sequences with a large layer (threads split the hidden units,
# with a barrier per step), and GRU reset_after=False (two phases per step).
CASES = [("lstm", 64, 128, 64, 20), ("lstm", 32, 1024, 1, 6), ("gru", 16, 1024, 2, 5),
         ("gru_before", 16, 1024, 2, 5), ("gru_before", 24, 96, 48, 10),
         ("rnn", 16, 2048, 1, 5), ("rnn", 40, 64, 64, 10)]


@pytest.mark.parametrize("kind, inputs, hidden, batch, steps", CASES)
def test_thread_count_invariance(kind, inputs, hidden, batch, steps, rng, restore_threads):
    model = model_of(rng, kind, inputs, hidden)
    x = rng.standard_normal((batch, steps, inputs)).astype(np.float32)
    fastrnn.set_num_threads(1)
    serial = model.predict(x)
    fastrnn.set_num_threads(2)
    assert np.array_equal(model.predict(x), serial)
    fastrnn.set_num_threads(3)
    assert np.array_equal(model.predict(x), serial)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_before", "rnn"])
def test_batch_invariance(kind, rng):
    """A sequence gives the same bits alone and inside a batch (tiles never mix rows)."""
    model = model_of(rng, kind, 10, 40)
    x = rng.standard_normal((13, 30, 10)).astype(np.float32)
    batched = model.predict(x)
    for index in (0, 6, 12):
        assert np.array_equal(model.predict(x[index]), batched[index])


def test_concurrent_predict_equals_serial(rng):
    models = [model_of(rng, kind, 12, 64) for kind in ("lstm", "gru", "gru_before", "lstm")]
    inputs = [rng.standard_normal((3, 80, 12)).astype(np.float32) for _ in range(8)]
    jobs = [(models[i % 4], inputs[i]) for i in range(8)] * 3
    serial = [model.predict(x) for model, x in jobs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda job: job[0].predict(job[1]), jobs))
    assert all(np.array_equal(a, b) for a, b in zip(serial, parallel))
