"""Corpus inference on Ray Data: audio files in, one row of predictions per
file out, in Parquet; every actor holds one loaded model.

    pip install "ray[data]"
    python examples/ray_corpus.py fastrnn/data/digits.fastrnn recordings/ --out predictions/
    python examples/ray_corpus.py model.fastrnn s3://bucket/audio/ --out s3://bucket/preds/ \\
        --address auto --frames

Ray Data reads the files (``read_binary_files``: local paths, folders, or any
filesystem pyarrow knows, such as s3:// and gs://), hands them in batches to
a pool of actors, and writes the rows they return (``write_parquet``, one
file per block, to a folder). Each actor, on one CPU, loads the model once
from the bytes of the model file (shipped from this machine, so the workers
need no copy of it) and runs each file through one StreamingPipeline: the
whole file in one push, then a flush, which gives exactly (bit for bit) the
outputs ``fastrnn run`` gets streaming it in 10 ms blocks.

Columns: path, prediction (the label of the last frame's largest output,
as ``fastrnn run``), probability (that output), frames, error (null, or why
the file could not be read); with --frames, outputs (every frame's outputs,
list<list<float32>>).

Without --address, Ray starts a local cluster of --num-cpus CPUs (default:
all). With --address (``auto``: the cluster this machine belongs to, see
``ray start``; or ``ray://head:10001``), the actors run on the cluster's
nodes, which need fastrnn installed (or ``--runtime-env-pip``) and must be
able to read the inputs and write the output: shared or object storage.
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import tempfile

import numpy as np
import pyarrow as pa
import ray

import fastrnn
from fastrnn.audio import StreamingPipeline, load
from fastrnn.cli import AUDIO_EXTENSIONS

SCHEMA = pa.schema([("path", pa.string()), ("prediction", pa.string()),
                    ("probability", pa.float32()), ("frames", pa.int64()),
                    ("error", pa.string())])
FRAME_OUTPUTS = pa.field("outputs", pa.list_(pa.list_(pa.float32())))


class FileClassifier:
    """A Ray Data actor: one model and one pipeline, for every batch of
    files it is given.

    Parameters
    ----------
    model_file : bytes
        The contents of a fastrnn model file with a front end.
    frames : bool
        Also return every frame's outputs.
    """

    def __init__(self, model_file: bytes, frames: bool) -> None:
        fastrnn.set_num_threads(1)                     # one CPU per actor
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.fastrnn")
            pathlib.Path(path).write_bytes(model_file)
            model = fastrnn.load(path)
        self.pipeline = StreamingPipeline(model)
        self.labels = [str(label) for label in model.metadata.get("labels", [])]
        self.frames = frames

    def __call__(self, batch: dict) -> pa.Table:
        """batch {"path": (B,), "bytes": (B,)} (read_binary_files' columns)
        -> a Table of B rows (SCHEMA, plus FRAME_OUTPUTS with frames)."""
        rows = [self.classify(path, data) for path, data in zip(batch["path"], batch["bytes"])]
        schema = SCHEMA.append(FRAME_OUTPUTS) if self.frames else SCHEMA
        return pa.Table.from_pylist(rows, schema=schema)

    def classify(self, path: str, data: bytes) -> dict:
        """One file's row: its prediction, or why it failed."""
        row = {"path": str(path), "prediction": None, "probability": None, "frames": 0,
               "error": None}
        try:
            audio = io.BytesIO(data)
            audio.name = row["path"]                   # for the messages of load
            y, _ = load(audio, sr=self.pipeline.front_end.sample_rate)
            outputs = np.concatenate([self.pipeline.push(y), self.pipeline.flush()])
        except ValueError as error:                    # unreadable, NaN samples
            self.pipeline.reset()
            row["error"] = str(error)
            return row
        if not len(outputs):
            row["error"] = "shorter than one analysis frame"
            return row
        best = int(np.argmax(outputs[-1]))
        row.update(prediction=self.labels[best] if best < len(self.labels) else str(best),
                   probability=float(outputs[-1, best]), frames=len(outputs))
        if self.frames:
            row["outputs"] = outputs.tolist()
        return row


def classify_corpus(model_path: str, inputs: list[str], output: str, *, frames: bool = False,
                    actors: int | None = None, batch_size: int = 16) -> None:
    """Classify the audio files of `inputs` (files or folders, any
    filesystem Ray Data reads) and write their rows to the Parquet folder
    `output`, on the Ray cluster this process is connected to (ray.init).

    Parameters
    ----------
    model_path : a local fastrnn model file with a front end
    actors : the most actors, one CPU and one model each (default: the
        cluster's CPUs)
    batch_size : files per actor call
    """
    actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    files = ray.data.read_binary_files(inputs, include_paths=True,
                                       file_extensions=[e.lstrip(".") for e in AUDIO_EXTENSIONS])
    predictions = files.map_batches(
        FileClassifier, fn_constructor_kwargs={"model_file": pathlib.Path(model_path).read_bytes(),
                                               "frames": frames},
        batch_size=batch_size, batch_format="numpy", num_cpus=1,
        # From one actor up: a pool that waited for all of them could hold
        # every CPU while the files are still to be read.
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors))
    predictions.write_parquet(output)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a fastrnn model file with a front end")
    parser.add_argument("inputs", nargs="+", help="audio files or folders (local, s3://, ...)")
    parser.add_argument("--out", required=True, help="the Parquet folder to write")
    parser.add_argument("--frames", action="store_true", help="also write every frame's outputs")
    parser.add_argument("--address", help="a running Ray cluster ('auto', 'ray://head:10001'); "
                                          "default: start a local one")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local cluster (default: all)")
    parser.add_argument("--actors", type=int, help="the most actors (default: the cluster's CPUs)")
    parser.add_argument("--runtime-env-pip", nargs="*", default=[],
                        help="packages the cluster's workers install (e.g. fastrnn)")
    args = parser.parse_args(argv)
    runtime_env = {"pip": args.runtime_env_pip} if args.runtime_env_pip else None
    if args.address:
        ray.init(address=args.address, runtime_env=runtime_env)
    else:
        ray.init(num_cpus=args.num_cpus, runtime_env=runtime_env)
    inputs = [str(pathlib.Path(p).resolve()) if "://" not in p else p for p in args.inputs]
    classify_corpus(args.model, inputs, args.out, frames=args.frames, actors=args.actors)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
