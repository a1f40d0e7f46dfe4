"""One training step of the reference workflow (batch 32, T = 100, 40
features; LSTM(128, return_sequences) -> LSTM(64) -> Dense(10, softmax),
categorical cross-entropy, Adam), fastrnn.train beside PyTorch 2.13 on the
CPU with the same thread count (NumPy's BLAS threads for fastrnn.train;
fastrnn.perf.cases.train_case).

    python -m pytest bench/test_train.py --benchmark-only
"""

import pytest

from fastrnn.perf import cases
from fastrnn.perf.peers import ENGINES, have

NO_THREADPOOLCTL = "setting NumPy's BLAS threads needs threadpoolctl"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("threads", [1, 2])
def test_train_step(measure, engine, threads):
    if engine == "fastrnn" and not have("threadpoolctl"):
        pytest.skip(NO_THREADPOOLCTL)
    measure(cases.train_case, engine=engine, threads=threads, rounds=20, warmup_rounds=2)
