"""Threads change nothing: thread-count invariance, batch invariance, and
predict called from several Python threads at once. All bit-for-bit."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import GATES, dense_weights, inputs, recurrent_layer, recurrent_weights

import fastrnn

pytestmark = pytest.mark.usefixtures("restore_threads")


def model_of(rng, kind, input_size, hidden, isa=None):
    layer = recurrent_layer(kind, recurrent_weights(rng, GATES[kind], input_size, hidden))
    return fastrnn.Sequential([layer, fastrnn.Dense(*dense_weights(rng, hidden, 5), "softmax")],
                              isa=isa)


# (kind, input, hidden, batch, steps), for each parallel path: many sequences
# (threads split the batch; 64 and an odd 13), few sequences with a large
# layer (threads split the hidden units in panels, a barrier per step; 1024
# units at batch 1 and 2), and GRU reset_after=False (two phases per step:
# r first, then the candidate from r * h).
CASES = [
    ("lstm", 64, 128, 64, 20), ("gru", 32, 128, 64, 10), ("lstm", 24, 100, 13, 15),
    ("lstm", 32, 1024, 1, 6), ("lstm", 16, 1024, 2, 4), ("gru", 16, 1024, 1, 5),
    ("gru_before", 16, 1024, 2, 5), ("gru_before", 24, 96, 48, 10), ("gru_before", 8, 257, 3, 7),
]


def case_id(case):
    return "{}-I{}-H{}-B{}-T{}".format(*case)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_one_and_two_threads_give_the_same_bits(case, rng):
    kind, input_size, hidden, batch, steps = case
    model = model_of(rng, kind, input_size, hidden)
    x = inputs(rng, (batch, steps, input_size))
    fastrnn.set_num_threads(1)
    serial = model.predict(x)
    for threads in (2, 3):      # 3: more threads than cores, and an odd split
        fastrnn.set_num_threads(threads)
        parallel = model.predict(x)
        assert np.array_equal(parallel, serial), (
            f"{threads} threads: max abs difference {np.max(np.abs(parallel - serial)):.3e}")


def test_dense_only_model_with_many_rows(rng):
    model = fastrnn.Sequential([fastrnn.Dense(*dense_weights(rng, 40, 300), "elu"),
                                fastrnn.Dense(*dense_weights(rng, 300, 7), "softmax")])
    x = inputs(rng, (64, 50, 40))
    fastrnn.set_num_threads(1)
    serial = model.predict(x)
    fastrnn.set_num_threads(2)
    assert np.array_equal(model.predict(x), serial)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind, hidden", [("lstm", 40), ("gru", 40), ("gru_before", 40),
                                          ("lstm", 1024), ("gru_before", 1024)])
def test_batch_invariance(kind, hidden, threads, rng):
    """A sequence gives the same bits alone and at any place in a batch of 13
    (the batch path and the one-sequence path compute it alike)."""
    fastrnn.set_num_threads(threads)
    model = model_of(rng, kind, 10, hidden)
    x = inputs(rng, (13, 8 if hidden > 100 else 30, 10))
    batched = model.predict(x)
    for index in (0, 6, 12):
        alone = model.predict(x[index])
        assert np.array_equal(alone, batched[index]), (
            f"sequence {index}: max abs difference {np.max(np.abs(alone - batched[index])):.3e}")
    assert np.array_equal(model.predict(x[3:5]), batched[3:5])


def test_concurrent_predict_equals_serial(rng):
    """4 Python threads (each also using OpenMP threads) predicting with 4
    models, each model shared by several calls at once."""
    fastrnn.set_num_threads(2)
    models = [model_of(rng, kind, 12, hidden)
              for kind, hidden in (("lstm", 64), ("gru", 48), ("gru_before", 96), ("lstm", 256))]
    data = [inputs(rng, (batch, 40, 12)) for batch in (1, 3, 8, 2, 5, 1, 13, 4)]
    jobs = [(models[i % 4], data[i]) for i in range(8)] * 3
    serial = [model.predict(x) for model, x in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda job: job[0].predict(job[1]), jobs))
    for index, (a, b) in enumerate(zip(serial, parallel)):
        assert np.array_equal(a, b), f"job {index}"


def test_thread_counts_beyond_the_cores_are_refused(rng):
    """Issue 14 item 9: set_num_threads(2000) or stream(num_threads=2000)
    ended the process (libgomp "Thread creation failed", exit 1). Every
    thread count is checked where it is given: 1 to 4 per core this process
    may run on."""
    limit = fastrnn.runtime.max_threads()
    message = rf"num_threads: expected an integer from 1 to {limit} \(4 per core"
    with pytest.raises(ValueError, match=message):
        fastrnn.set_num_threads(2000)
    model = model_of(rng, "gru", 8, 16)
    with pytest.raises(ValueError, match=message):
        model.stream(num_threads=2000)
    stream = model.stream(batch_size=4)
    with pytest.raises(ValueError, match=message):
        stream.num_threads = limit + 1
    assert stream.num_threads == fastrnn.get_num_threads()
    front_end = fastrnn.audio.FrontEnd(sample_rate=8000, n_fft=256, hop_length=80)
    with pytest.raises(ValueError, match=message):
        front_end.stream(batch_size=4, num_threads=2**31)
    features = front_end.stream(batch_size=4)
    with pytest.raises(ValueError, match=message):
        features.num_threads = 0
    fastrnn.set_num_threads(limit)
    stream.num_threads = limit
    assert stream.step(np.zeros((4, 8), np.float32)).shape == (4, 5)


def test_omp_num_threads_beyond_the_cores_is_capped():
    script = "import fastrnn; print(fastrnn.get_num_threads(), fastrnn.runtime.max_threads())"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "2000"}, check=True)
    threads, limit = result.stdout.split()
    assert threads == limit
