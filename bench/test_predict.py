"""Offline predict: LSTM and GRU with I = H = 256, B = 64, T = 200, beside
PyTorch's nn.LSTM / nn.GRU with the same weights and thread count.

    python -m pytest bench/test_predict.py --benchmark-only
"""

import numpy as np
import pytest
from models import to_fastrnn, torch_module

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")

SIZE, BATCH, STEPS = 256, 64, 200
CASES = [(kind, count) for kind in ("lstm", "gru") for count in (1, 2)]


def setup(kind):
    module = torch_module(kind, input_size=SIZE, hidden=SIZE, num_layers=1, head=0)
    x = torch.randn(BATCH, STEPS, SIZE, generator=torch.Generator().manual_seed(3))
    return module, to_fastrnn(module), x


@pytest.mark.parametrize("kind, count", CASES)
def test_fastrnn(benchmark, threads, kind, count):
    module, model, x = setup(kind)
    threads(count)
    with torch.inference_mode():
        expected = module(x)[0].numpy()
    x = x.numpy()
    assert np.abs(model.predict(x) - expected).max() <= 1e-5
    benchmark.group = f"predict-{kind}-I{SIZE}-B{BATCH}-T{STEPS}-threads{count}"
    benchmark.extra_info["engine"] = "fastrnn"
    benchmark.extra_info["gflops"] = 2 * BATCH * STEPS * (4 if kind == "lstm" else 3) * SIZE * 2 * SIZE / 1e9
    benchmark.pedantic(model.predict, args=(x,), rounds=7, warmup_rounds=1)


@pytest.mark.parametrize("kind, count", CASES)
def test_torch(benchmark, threads, kind, count):
    module, _, x = setup(kind)
    threads(count)
    benchmark.group = f"predict-{kind}-I{SIZE}-B{BATCH}-T{STEPS}-threads{count}"
    benchmark.extra_info["engine"] = "torch"

    def run():
        with torch.inference_mode():
            return module(x)

    benchmark.pedantic(run, rounds=7, warmup_rounds=1)
