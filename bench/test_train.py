"""One training step of the reference workflow (batch 32, T = 100, 40
features; LSTM(128, return_sequences) -> LSTM(64) -> Dense(10, softmax),
categorical cross-entropy, Adam), fastrnn.train beside PyTorch 2.13 on the
CPU with the same thread count (NumPy's BLAS threads for fastrnn.train).

    python -m pytest bench/test_train.py --benchmark-only
"""

import numpy as np
import pytest

from fastrnn.train import LSTM, Dense, Sequential, to_categorical

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
threadpoolctl = pytest.importorskip("threadpoolctl",
                                    reason="setting NumPy's BLAS threads needs threadpoolctl")

BATCH, STEPS, FEATURES, CLASSES = 32, 100, 40, 10
GROUP = f"train-step-lstm128-lstm64-B{BATCH}-T{STEPS}-F{FEATURES}-threads"


def batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    return x, rng.integers(0, CLASSES, BATCH)


class TorchReference(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.first = torch.nn.LSTM(FEATURES, 128, batch_first=True)
        self.second = torch.nn.LSTM(128, 64, batch_first=True)
        self.head = torch.nn.Linear(64, CLASSES)

    def forward(self, x):
        hidden, _ = self.first(x)
        hidden, _ = self.second(hidden)
        return self.head(hidden[:, -1])


@pytest.mark.parametrize("count", [1, 2])
def test_fastrnn(benchmark, threads, count):
    x, labels = batch()
    y = to_categorical(labels, CLASSES)
    model = Sequential([LSTM(128, return_sequences=True), LSTM(64),
                        Dense(CLASSES, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    threads(count)
    benchmark.group = f"{GROUP}{count}"
    benchmark.extra_info["engine"] = "fastrnn"
    with threadpoolctl.threadpool_limits(count):
        model.train_on_batch(x, y)
        benchmark.pedantic(model.train_on_batch, args=(x, y), rounds=20, warmup_rounds=2)


@pytest.mark.parametrize("count", [1, 2])
def test_torch(benchmark, threads, count):
    x, labels = batch()
    x, labels = torch.from_numpy(x), torch.from_numpy(labels)
    module = TorchReference()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    threads(count)
    benchmark.group = f"{GROUP}{count}"
    benchmark.extra_info["engine"] = "torch"

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(x), labels)
        loss.backward()
        optimizer.step()

    benchmark.pedantic(step, rounds=20, warmup_rounds=2)
