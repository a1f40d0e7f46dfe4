"""Offline predict on a grid: LSTM and GRU, H in 64, 256, 1024, B in 1, 16,
64, T = 200, I = H, one layer; and the noise-suppressor CRNN (conv 128 and
384, 3 x GRU(384), two heads) on B in 1, 16, T = 1000. fastrnn beside
PyTorch (inference_mode) and ONNX Runtime (one session), same weights and
threads (fastrnn.perf.cases: predict_case, crnn_predict_case).

    python -m pytest bench/test_predict.py --benchmark-only
"""

import pytest

from fastrnn.perf import cases
from fastrnn.perf.peers import ENGINES

STEPS = 200
CRNN_STEPS = 1000
GRID = [(kind, hidden, batch, 1) for kind in ("lstm", "gru") for hidden in (64, 256, 1024)
        for batch in (1, 16, 64)] + [("lstm", 256, 64, 2), ("gru", 256, 64, 2)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind, hidden, batch, threads", GRID)
def test_predict(measure, engine, kind, hidden, batch, threads):
    rounds = 3 if hidden == 1024 and batch > 1 else 7
    measure(cases.predict_case, kind, hidden, batch, STEPS, engine=engine, threads=threads,
            rounds=rounds, warmup_rounds=1)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch", [1, 16])
def test_crnn_predict(measure, engine, batch):
    measure(cases.crnn_predict_case, batch, CRNN_STEPS, engine=engine, threads=1,
            rounds=3 if batch > 1 else 7, warmup_rounds=1)
