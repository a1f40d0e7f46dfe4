"""The ``fastrnn`` command.

    fastrnn convert IN OUT [--from torch|keras|onnx|fastrnn] [--trust-pickle]
    fastrnn info MODEL

Exit status: 0 ok, 2 usage error, 1 any other error (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile

SOURCES = ("torch", "keras", "onnx", "fastrnn")


def detect_source(path: str) -> str:
    """The framework a model file comes from, by its contents (then its name)."""
    with open(path, "rb") as file:
        head = file.read(16)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "config.json" in names and "model.weights.h5" in names:
            return "keras"
        if any(name.endswith("data.pkl") for name in names):
            return "torch"
    if len(head) >= 9 and head[8:9] == b"{":       # safetensors: 8-byte size, then JSON
        return "fastrnn"
    extension = os.path.splitext(path)[1].lower()
    by_extension = {".pt": "torch", ".pth": "torch", ".keras": "keras", ".h5": "keras",
                    ".onnx": "onnx",
                    ".fastrnn": "fastrnn", ".safetensors": "fastrnn"}
    if extension in by_extension:
        return by_extension[extension]
    raise ValueError(f"cannot tell what kind of model {path!r} is; pass --from "
                     f"({'|'.join(SOURCES)})")


def load_any(path: str, source: str | None = None, trust_pickle: bool = False):
    """A fastrnn.Sequential from any supported model file."""
    import fastrnn

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    source = source or detect_source(path)
    if source == "torch":
        return fastrnn.from_torch(path, weights_only=not trust_pickle)
    if source == "keras":
        return fastrnn.from_keras(path)
    if source == "onnx":
        return fastrnn.from_onnx(path)
    return fastrnn.load(path)


def describe(model, path: str | None = None) -> str:
    """Layers, shapes, parameter count and file size, for `fastrnn info`."""
    lines = []
    if path is not None:
        lines.append(f"{path}: {os.path.getsize(path):,} bytes")
    total = 0
    for index, layer in enumerate(model.layers):
        count = sum(w.size for w in layer.weights()) + sum(
            b.size for b in _biases(layer))
        total += count
        lines.append(f"  {index}: {layer!r}  ({count:,} parameters)")
    lines.append(f"input: {model.input_size} features per step; output: {model.output_size} "
                 f"per {'step' if model.returns_sequences else 'sequence'}")
    lines.append(f"parameters: {total:,}")
    if model.mask_value is not None:
        lines.append(f"mask_value: {model.mask_value}")
    return "\n".join(lines)


def _biases(layer) -> list:
    from .layers import Bidirectional

    if isinstance(layer, Bidirectional):
        return _biases(layer.forward) + _biases(layer.backward)
    names = ("bias",) if hasattr(layer, "bias") else ("bias_ih", "bias_hh")
    return [getattr(layer, n) for n in names if getattr(layer, n, None) is not None]


def command_convert(args) -> None:
    model = load_any(args.input, args.source, args.trust_pickle)
    model.save(args.output)
    print(f"{args.input} -> {args.output}")
    print(describe(model, args.output))


def command_info(args) -> None:
    print(describe(load_any(args.model, args.source, args.trust_pickle), args.model))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="fastrnn", description="Fast recurrent networks on audio.")
    commands = top.add_subparsers(dest="command", required=True)

    def model_options(command):
        command.add_argument("--from", dest="source", choices=SOURCES,
                             help="the input's framework (default: detected from the file)")
        command.add_argument("--trust-pickle", action="store_true",
                             help="allow a PyTorch file holding a whole pickled module "
                                  "(loading it runs code from the file)")

    convert = commands.add_parser("convert", help="convert a PyTorch, Keras or ONNX model "
                                                  "to a fastrnn model file")
    convert.add_argument("input")
    convert.add_argument("output")
    model_options(convert)
    convert.set_defaults(run=command_convert)

    info = commands.add_parser("info", help="layers, shapes and size of a model file")
    info.add_argument("model")
    model_options(info)
    info.set_defaults(run=command_info)
    return top


def main(argv: list | None = None) -> int:
    args = parser().parse_args(argv)          # exits with status 2 on usage errors
    try:
        args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:                # one line, no traceback, status 1
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"fastrnn {args.command}: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
