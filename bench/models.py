"""The benchmark models: fastrnn.perf.cases (shared with ``fastrnn bench``)."""

from fastrnn.perf.cases import (FEATURES, MODELS, StreamEngines, check_agree,  # noqa: F401
                                onnx_session, random_frames, to_fastrnn, torch_module,
                                zero_state)
