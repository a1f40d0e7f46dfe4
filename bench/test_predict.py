"""Offline predict on a grid: LSTM and GRU, H in 64, 256, 1024, B in 1, 16,
64, T = 200, I = H, one layer; fastrnn beside PyTorch (nn.LSTM / nn.GRU,
inference_mode) and ONNX Runtime (one session), same weights and threads.

    python -m pytest bench/test_predict.py --benchmark-only
"""

import numpy as np
import pytest
from models import (ENGINES, model_spec, onnx_session, random_frames, step_flops,
                    to_fastrnn, torch_module)

STEPS = 200
GRID = [(kind, hidden, batch, 1) for kind in ("lstm", "gru") for hidden in (64, 256, 1024)
        for batch in (1, 16, 64)] + [("lstm", 256, 64, 2), ("gru", 256, 64, 2)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind, hidden, batch, count", GRID)
def test_predict(benchmark, threads, engine, kind, hidden, batch, count):
    spec = model_spec(kind, input_size=hidden, hidden=hidden, num_layers=1, head=0)
    model = to_fastrnn(spec)
    x = random_frames(STEPS, batch=batch, features=hidden).transpose(1, 0, 2).copy()
    threads(count)
    expected = model.predict(x)
    if engine == "fastrnn":
        call = lambda: model.predict(x)  # noqa: E731
    elif engine == "torch":
        import torch

        module, tensor = torch_module(spec), torch.from_numpy(x)

        def call():
            with torch.inference_mode():
                return module(tensor)[0].numpy()
    else:
        session = onnx_session(spec, batch, count, with_state=False)
        call = lambda: session.run(None, {"x": x})[0]  # noqa: E731
    assert np.abs(call() - expected).max() <= 1e-4
    benchmark.group = f"predict-{kind}-H{hidden}-B{batch}-T{STEPS}-threads{count}"
    benchmark.extra_info.update(engine=engine, per=batch * STEPS, unit="frame",
                                gflops=batch * STEPS * step_flops(kind, hidden, hidden) / 1e9)
    rounds = 3 if hidden == 1024 and batch > 1 else 7
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=1)
