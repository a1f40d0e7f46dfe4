"""The ``fastrnn`` command.

    fastrnn demo                      the bundled digit model on the bundled recordings
    fastrnn run MODEL AUDIO...        a model with a front end on files or folders
    fastrnn convert IN OUT [--from torch|keras|onnx|fastrnn] [--trust-pickle]
                           [--precision float32|float16|bfloat16|int8]
    fastrnn info MODEL                the graph: inputs, layers, outputs, timing, sizes
    fastrnn bench [--quick|--full|--tiny] [--out DIR]   beside PyTorch and ONNX Runtime

Exit status: 0 ok, 2 usage error, 1 any other error (one line on stderr;
``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
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
    """A fastrnn model (a Model, or a Sequential) from any supported model file."""
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
    """The graph for `fastrnn info`: the inputs; per layer its name, the
    tensors it reads, its output (features, rate, delay), parameters, state
    and type; the outputs with their timing; the totals."""
    import math

    from .io.native import layer_tensors

    lines = [] if path is None else [f"{path}: {os.path.getsize(path):,} bytes"]
    lines.append(f"{type(model).__name__}: {_count(len(model.inputs), 'input')}, "
                 f"{_count(len(model.nodes), 'layer')}, {_count(len(model.outputs), 'output')}; "
                 f"isa {model.isa}, precision {model.precision}")
    lines.append("inputs:")
    lines += [f"  {name}: {_count(tensor.features, 'feature')} per frame, rate 1, delay 0"
              for tensor, name in zip(model.inputs, model.input_names)]
    shapes = model.state_shapes()
    rows = [("layer", "reads", "features", "rate", "delay", "parameters", "state", "type")]
    totals = {"parameters": 0, "state": 0}
    tensor_names = {id(t): name for t, name in zip(model.inputs, model.input_names)}
    for node, name in zip(model.nodes, model.layer_names):
        rate, delay = model.tensor_timing(node.output)
        parameters = sum(array.size for array in layer_tensors(
            node.layer, [t.features for t in node.inputs]).values())
        state = sum(math.prod(shape) for key, shape in shapes.items()   # a merge's queues too
                    if key.startswith(f"{name}."))
        totals["parameters"] += parameters
        totals["state"] += state
        rows.append((name, ", ".join(tensor_names[id(t)] for t in node.inputs),
                     str(node.output.features), str(rate), str(delay), f"{parameters:,}",
                     f"{state:,}", repr(node.layer)))
        tensor_names[id(node.output)] = name
    lines.append("layers:")
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) if column < 2 else cell.rjust(width)
                 for column, (cell, width) in enumerate(zip(row, widths))]
        lines.append("  " + "  ".join(cells + [row[-1]]))
    lines.append("  (rate r, delay d: output frame j follows input frame j * r + d; rate 0: one "
                 "frame per sequence; state: floats per stream)")
    lines.append("outputs:")
    for tensor, name, (rate, delay) in zip(model.outputs, model.output_names, model.timing):
        lines.append(f"  {name} (from {tensor_names[id(tensor)]}): "
                     f"{_count(tensor.features, 'feature')} per frame, rate {rate}, delay {delay}")
    lines.append(f"parameters: {totals['parameters']:,}; state: {totals['state']:,} floats per "
                 f"stream; packed weights: {model.weight_bytes:,} bytes")
    if model.needs_sequences:
        lines.append("streams: none (a layer reads whole sequences): predict only")
    if model.mask_value is not None:
        lines.append(f"mask_value: {model.mask_value}")
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def command_convert(args) -> None:
    import fastrnn

    model = load_any(args.input, args.source, args.trust_pickle)
    if args.precision != "float32":
        # Packed once to check that every weight fits the precision; the file
        # keeps the float32 weights and names the precision in its metadata.
        model = fastrnn.Sequential(model.layers, isa=model.isa, precision=args.precision,
                                   mask_value=model.mask_value,
                                   metadata={**model.metadata, "precision": args.precision})
    model.save(args.output)
    print(f"{args.input} -> {args.output}")
    print(describe(model, args.output))
    if args.precision != "float32":
        print(f"precision: {args.precision} ({model.weight_bytes:,} bytes packed, "
              f"kernels {fastrnn.info()['kernels'].get(args.precision)}); load it with "
              f"fastrnn.load(path, precision={args.precision!r})")


def command_info(args) -> None:
    print(describe(load_any(args.model, args.source, args.trust_pickle), args.model))


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")


def bundled_data() -> pathlib.Path:
    """The folder of the bundled model and recordings (package data)."""
    from importlib import resources

    return pathlib.Path(str(resources.files("fastrnn") / "data"))


def audio_files(paths: list) -> list:
    """Files, and the audio files of folders (recursively, sorted), in order."""
    files = []
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        else:
            files.append(path)
    return files


def classify_file(pipeline, path, block_ms: float, labels: list,
                  labels_from_names: bool) -> dict:
    """Stream one file through a one-stream StreamingPipeline in blocks of
    block_ms; its result line's data (with labels_from_names, the reference
    label is the file name's part before its first "_", as the Free Spoken
    Digit Dataset names its files)."""
    import numpy as np

    from .audio import load
    from .audio.pipeline import stream_signal

    sample_rate = pipeline.front_end.sample_rate
    y, _ = load(path, sr=sample_rate)
    block_size = max(1, int(round(block_ms * sample_rate / 1000)))
    result = stream_signal(pipeline, y, block_size)
    final = result.outputs[-1]
    best = int(np.argmax(final))
    latency = result.frame_latency_us
    name_label = pathlib.Path(path).name.split("_")[0] if labels_from_names else None
    return {
        "path": str(path),
        "prediction": labels[best] if best < len(labels) else str(best),
        "probability": float(final[best]),
        "reference": name_label if name_label in labels else None,
        "frames": len(result.outputs),
        "duration_s": round(result.duration, 4),
        "latency_us": {"median": round(float(np.median(latency)), 2),
                       "p99": round(float(np.percentile(latency, 99)), 2)},
        "real_time_factor": result.real_time_factor,
        "outputs": result.outputs,
    }


class FileClassifier:
    """classify_file with one model and one pipeline, reused from file to
    file: called with a path, it returns the file's result, or for a file
    that cannot be read or is too short, {"path": ..., "error": message}."""

    def __init__(self, model, block_ms: float, labels_from_names: bool) -> None:
        from .audio import StreamingPipeline

        self.pipeline = StreamingPipeline(model)
        self.labels = [str(label) for label in model.metadata.get("labels", [])]
        self.block_ms, self.labels_from_names = block_ms, labels_from_names

    def __call__(self, path) -> dict:
        try:
            return classify_file(self.pipeline, path, self.block_ms, self.labels,
                                 self.labels_from_names)
        except (OSError, ValueError) as error:
            message = str(error) if str(path) in str(error) else f"{path}: {error}"
            return {"path": str(path), "error": message}


_worker_classifier = None      # a `fastrnn run --jobs N` worker's FileClassifier


def _start_worker(model_path: str, threads: int, block_ms: float,
                  labels_from_names: bool) -> None:
    """A worker process's start: its engine threads, its own model and pipeline."""
    global _worker_classifier
    import fastrnn

    fastrnn.set_num_threads(threads)
    _worker_classifier = FileClassifier(fastrnn.load(model_path), block_ms, labels_from_names)


def _classify_in_worker(path) -> dict:
    return _worker_classifier(path)


def available_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def classified(files: list, model, args, jobs: int, model_path: str | None = None):
    """The results of FileClassifier on `files`, in their order, as an
    iterator: in this process (jobs 1), or over `jobs` worker processes,
    each loading `model_path` once and running args.threads engine threads
    (default: the cores shared out)."""
    if jobs == 1:
        yield map(FileClassifier(model, args.block_ms, args.labels_from_names), files)
        return
    import multiprocessing

    # fork: workers start at once, the modules already imported. Safe here:
    # this process has run no model, so no OpenMP thread pool exists to be
    # copied half-alive into the children.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    threads = args.threads or max(1, available_cores() // jobs)
    with multiprocessing.get_context(method).Pool(
            jobs, initializer=_start_worker,
            initargs=(model_path, threads, args.block_ms, args.labels_from_names)) as pool:
        yield pool.imap(_classify_in_worker, files, chunksize=4)


def result_line(result: dict) -> str:
    verdict = ""
    if result["reference"] is not None:
        verdict = (f"  reference {result['reference']} "
                   f"{'ok' if result['reference'] == result['prediction'] else 'WRONG'}")
    return (f"{result['path']}: {result['prediction']} (p={result['probability']:.3f}){verdict}"
            f"  | {result['duration_s']:.2f} s, {result['frames']} frames, per-frame latency "
            f"median {result['latency_us']['median']:.1f} us, p99 "
            f"{result['latency_us']['p99']:.1f} us, real-time factor "
            f"{result['real_time_factor']:.4f}")


def frame_lines(result: dict, labels: list, hop_seconds: float) -> list:
    lines = []
    for index, output in enumerate(result["outputs"]):
        best = int(output.argmax())
        label = labels[best] if best < len(labels) else str(best)
        lines.append(f"  frame {index:5d}  t={(index + 1) * hop_seconds:7.3f} s  {label} "
                     f"(p={output[best]:.3f})")
    return lines


def stream_files(model, files: list, args, progress: bool, jobs: int = 1,
                 model_path: str | None = None) -> int:
    """Classify files (over `jobs` processes, see `classified`), printing a
    line each in the order given (or JSON at the end); returns the exit
    status (1 if any file failed)."""
    from .audio.pipeline import front_end_of

    front_end = front_end_of(model)
    labels = [str(label) for label in model.metadata.get("labels", [])]
    results, failures = [], 0
    with classified(files, model, args, jobs, model_path) as file_results:
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(files), unit="file", file=sys.stderr)
        write = bar.write if bar is not None else print
        for result in file_results:
            if bar is not None:
                bar.update()
            if "error" in result:
                failures += 1
                print(f"fastrnn {args.command}: {result['error']}", file=sys.stderr)
                continue
            if args.command == "demo":
                result["path"] = pathlib.Path(result["path"]).name
            results.append(result)
            if not args.json:
                write(result_line(result))
                if args.frames:
                    for line in frame_lines(result, labels, front_end.hop_length
                                            / front_end.sample_rate):
                        write(line)
        if bar is not None:
            bar.close()
    judged = [r for r in results if r["reference"] is not None]
    correct = sum(r["reference"] == r["prediction"] for r in judged)
    if args.json:
        for result in results:
            outputs = result.pop("outputs")
            if args.frames:
                result["frame_outputs"] = outputs.astype(float).round(6).tolist()
        summary = {"files": results, "failed": failures,
                   "accuracy": correct / len(judged) if judged else None}
        print(json.dumps(summary, indent=1))
    elif judged:
        print(f"accuracy: {correct}/{len(judged)} = {correct / len(judged):.2%} "
              f"(reference labels from file names)")
    return 1 if failures else 0


def command_demo(args) -> int:
    import fastrnn

    data = bundled_data()
    model = fastrnn.load(data / "digits.fastrnn")
    if not args.json:
        trained_by = model.metadata.get("trained_by", "")
        accuracy = model.metadata.get("test_accuracy", float("nan"))
        print(f"fastrnn demo: the bundled spoken-digit model ({trained_by}; test accuracy "
              f"{accuracy:.1%}), "
              f"streaming each recording in {args.block_ms:g} ms blocks as a sound card "
              "would.\nRecordings: Free Spoken Digit Dataset, CC BY-SA 4.0.")
    return stream_files(model, audio_files([data]), args, progress=False)


def command_run(args) -> int:
    import fastrnn

    model = fastrnn.load(args.model)
    files = audio_files(args.audio)
    if not files:
        raise ValueError(f"no audio files in {args.audio}")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs: expected >= 1, got {args.jobs}")
    jobs = min(args.jobs or available_cores(), len(files))
    long_audio = any(f.is_file() and f.stat().st_size > 10_000_000 for f in files)
    return stream_files(model, files, args, progress=len(files) > 5 or long_audio, jobs=jobs,
                        model_path=args.model)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="fastrnn", description="Fast recurrent networks on audio.")
    top.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    top.add_argument("--version", action="version", version=_version())
    commands = top.add_subparsers(dest="command", required=True)

    def streaming_options(command):
        command.add_argument("--block-ms", type=float, default=10.0,
                             help="audio block size in milliseconds (default 10)")
        command.add_argument("--frames", action="store_true",
                             help="also print the output after every frame")
        command.add_argument("--json", action="store_true", help="machine-readable output")
        command.add_argument("--threads", type=int, default=None,
                             help="threads of the engine, per job (default: the cores shared "
                                  "out between the jobs)")

    demo = commands.add_parser("demo", help="stream the bundled recordings through the bundled "
                                            "spoken-digit model")
    streaming_options(demo)
    demo.set_defaults(run=command_demo, labels_from_names=True)

    run = commands.add_parser("run", help="run a model with an audio front end on files or "
                                          "folders, streaming")
    run.add_argument("model", help="a fastrnn model file with a front end")
    run.add_argument("audio", nargs="+", help="audio files or folders")
    run.add_argument("--labels-from-names", action="store_true",
                     help="take each file's reference label from its name (the part before "
                          "the first '_', e.g. 7_jackson_1.wav is a 7) and report accuracy")
    run.add_argument("--jobs", type=int, default=None,
                     help="files classified in parallel, one process each (default: the "
                          "number of cores)")
    streaming_options(run)
    run.set_defaults(run=command_run)

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
    convert.add_argument("--precision", default="float32",
                         choices=("float32", "float16", "bfloat16", "int8"),
                         help="pack at this weight precision to check it fits, and name it "
                              "in the file's metadata (default float32)")
    model_options(convert)
    convert.set_defaults(run=command_convert)

    info = commands.add_parser("info", help="the graph of a model file: inputs, layers, "
                                            "outputs, timing, parameters, state")
    info.add_argument("model")
    model_options(info)
    info.set_defaults(run=command_info)

    from .perf import run as perf_run

    bench = commands.add_parser("bench", help="benchmark fastrnn beside PyTorch and ONNX "
                                              "Runtime; writes JSON, Markdown and plots")
    perf_run.add_arguments(bench)
    bench.set_defaults(run=perf_run.run)
    return top


def _version() -> str:
    from .runtime import __version__

    return f"fastrnn {__version__}"


def main(argv: list | None = None) -> int:
    args = parser().parse_args(argv)          # exits with status 2 on usage errors
    try:
        if getattr(args, "threads", None) is not None:
            import fastrnn

            fastrnn.set_num_threads(args.threads)
        status = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:                   # output piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:                # one line, no traceback, status 1
        if args.debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"fastrnn {args.command}: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
