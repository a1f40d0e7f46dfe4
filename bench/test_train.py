"""One training step of the reference workflow (batch 32, T = 100, 40
features; LSTM(128, return_sequences) -> LSTM(64) -> Dense(10, softmax),
categorical cross-entropy, Adam), fastrnn.train beside PyTorch 2.13 on the
CPU with the same thread count (NumPy's BLAS threads for fastrnn.train).

    python -m pytest bench/test_train.py --benchmark-only
"""

import numpy as np
import pytest
from models import PROBLEMS

from fastrnn.perf.cases import have
from fastrnn.train import LSTM, Dense, Sequential, to_categorical

BATCH, STEPS, FEATURES, CLASSES = 32, 100, 40, 10
GROUP = f"train-step-lstm128-lstm64-B{BATCH}-T{STEPS}-F{FEATURES}-threads"


def batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    return x, rng.integers(0, CLASSES, BATCH)


@pytest.mark.skipif(not have("threadpoolctl"),
                    reason="setting NumPy's BLAS threads needs threadpoolctl")
@pytest.mark.parametrize("count", [1, 2])
def test_fastrnn(benchmark, threads, count):
    from threadpoolctl import threadpool_limits

    x, labels = batch()
    y = to_categorical(labels, CLASSES)
    model = Sequential([LSTM(128, return_sequences=True), LSTM(64, return_sequences=False),
                        Dense(CLASSES, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    threads(count)
    benchmark.group = f"{GROUP}{count}"
    benchmark.extra_info["engine"] = "fastrnn"
    with threadpool_limits(count):
        model.train_on_batch(x, y)
        benchmark.pedantic(model.train_on_batch, args=(x, y), rounds=20, warmup_rounds=2)


@pytest.mark.skipif("torch" in PROBLEMS, reason=PROBLEMS.get("torch", ""))
@pytest.mark.parametrize("count", [1, 2])
def test_torch(benchmark, threads, count):
    import torch

    x, labels = batch()
    x, labels = torch.from_numpy(x), torch.from_numpy(labels)
    first = torch.nn.LSTM(FEATURES, 128, batch_first=True)
    second = torch.nn.LSTM(128, 64, batch_first=True)
    head = torch.nn.Linear(64, CLASSES)
    parameters = [*first.parameters(), *second.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    threads(count)
    benchmark.group = f"{GROUP}{count}"
    benchmark.extra_info["engine"] = "torch"

    def step():
        optimizer.zero_grad()
        logits = head(second(first(x)[0])[0][:, -1])
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()

    benchmark.pedantic(step, rounds=20, warmup_rounds=2)
