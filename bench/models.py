"""The benchmark models and engines: fastrnn.perf.cases (shared with
``fastrnn bench``), and skip marks for the peers that cannot run here."""

import pytest

from fastrnn.perf.cases import (FEATURES, MODELS, StreamEngines, check_agree,  # noqa: F401
                                model_spec, onnx_session, peer_problems, random_frames,
                                step_flops, to_fastrnn, torch_module, zero_state)

PROBLEMS = peer_problems()
ENGINES = ["fastrnn"] + [
    pytest.param(peer, marks=pytest.mark.skipif(peer in PROBLEMS, reason=PROBLEMS.get(peer, "")))
    for peer in ("torch", "onnxruntime")]
