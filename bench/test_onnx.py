"""ONNX graphs: fastrnn.onnx.InferenceSession beside ONNX Runtime on the
same exported file, each plain ``run`` and through IOBinding, state fed
back (fastrnn.perf.cases: onnx_step_case, onnx_sequence_case,
onnx_vad_case; issue 13's bar).

The per-step graph of model A (x, h, c -> y, h_out, c_out) beside the
model's own Stream.step (engine fastrnn-stream); model A's whole-sequence
graph, T = 1000, B = 1 and 64, beside its Sequential.predict (engine
fastrnn-predict); a VAD-shaped CRNN (STFT-like conv, 4 x conv + ReLU,
LSTM(128), 1x1 conv, sigmoid, in an If on the sample rate), one chunk of
64 + 512 samples per call.

    python -m pytest bench/test_onnx.py --benchmark-only
"""

import pytest

from fastrnn.perf import cases
from fastrnn.perf.peers import (FASTRNN_IOBINDING, FASTRNN_PREDICT, FASTRNN_STREAM,
                                ORT_IOBINDING)

STEPS_PER_ROUND = 500
CHUNKS_PER_ROUND = 100
SESSIONS = ["fastrnn", FASTRNN_IOBINDING, "onnxruntime", ORT_IOBINDING]


@pytest.mark.parametrize("engine", [*SESSIONS, FASTRNN_STREAM])
def test_step_graph_latency(measure, engine):
    measure(cases.onnx_step_case, engine=engine, threads=1, rounds=15, warmup_rounds=2,
            calls_per_round=STEPS_PER_ROUND)


@pytest.mark.parametrize("engine", ["fastrnn", "onnxruntime", FASTRNN_PREDICT])
@pytest.mark.parametrize("batch", [1, 64])
def test_sequence_graph_1000_frames(measure, engine, batch):
    measure(cases.onnx_sequence_case, batch, 1000, engine=engine, threads=1, rounds=5,
            warmup_rounds=1)


@pytest.mark.parametrize("engine", SESSIONS)
def test_vad_graph_chunk_latency(measure, engine):
    measure(cases.onnx_vad_case, engine=engine, threads=1, rounds=15, warmup_rounds=2,
            calls_per_round=CHUNKS_PER_ROUND)
