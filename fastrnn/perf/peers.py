"""The engines a benchmark compares, and why a peer cannot run here.

fastrnn always runs; each peer (PyTorch, ONNX Runtime, OpenVINO, tract)
runs when its packages import, else it is skipped with the reason kept
here. The ONNX peers run PyTorch's ONNX export of the same weights. A case
may also time a second build of fastrnn beside the first
(FASTRNN_SEQUENTIAL).
"""

from __future__ import annotations

ENGINES = ("fastrnn", "torch", "onnxruntime", "openvino", "tract")
PEERS = ENGINES[1:]
# fastrnn's Sequential, timed beside the same layers built as a graph (cases.stream_case)
FASTRNN_SEQUENTIAL = "fastrnn-sequential"
# The ONNX session cases (cases.onnx_*): "fastrnn" is fastrnn.onnx.InferenceSession's run;
# beside it the same session and ONNX Runtime's through IOBinding, and fastrnn's own model.
FASTRNN_IOBINDING = "fastrnn-iobinding"
ORT_IOBINDING = "onnxruntime-iobinding"
FASTRNN_STREAM = "fastrnn-stream"           # the model's Stream.step
FASTRNN_PREDICT = "fastrnn-predict"         # the model's Sequential.predict
NO_TORCH = "PyTorch is not installed (pip install torch==2.13.0)"
NO_ORT = "ONNX Runtime is not installed (pip install onnxruntime onnx)"
NO_OPENVINO = "OpenVINO is not installed (pip install openvino onnx)"
NO_TRACT = "tract is not installed (pip install tract onnx)"
ORT_NEEDS_TORCH = "the ONNX graphs are exported with PyTorch (pip install torch==2.13.0)"
# The module each ONNX peer imports, and its reason when missing.
ONNX_PEERS = {"onnxruntime": ("onnxruntime", NO_ORT), "openvino": ("openvino", NO_OPENVINO),
              "tract": ("tract", NO_TRACT)}


def have(module_name: str) -> bool:
    """Whether `module_name` imports."""
    try:
        __import__(module_name)
        return True
    except ImportError:
        return False


def peer_problems() -> dict[str, str]:
    """{peer: why it cannot run} for the peers that cannot run here."""
    problems = {}
    if not have("torch"):
        problems["torch"] = NO_TORCH
    for peer, (module, missing) in ONNX_PEERS.items():
        if not (have(module) and have("onnx")):
            problems[peer] = missing
        elif "torch" in problems:
            problems[peer] = ORT_NEEDS_TORCH
    return problems


def available(wanted: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """Split the peers `wanted` into those that run here and the skipped ones.

    Parameters
    ----------
    wanted : tuple of str
        Peer names, some of `PEERS`.

    Returns
    -------
    peers : tuple of str
        The wanted peers that can run, in the order given.
    skipped : dict
        {peer: reason} for the wanted peers that cannot.
    """
    problems = peer_problems()
    skipped = {peer: problems[peer] for peer in wanted if peer in problems}
    return tuple(peer for peer in wanted if peer not in skipped), skipped
