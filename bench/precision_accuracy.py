"""The README's Precision table: each weight precision's error against float32.

    python bench/precision_accuracy.py [--fsdd ../shared/data/fsdd]

Random models: LSTM, GRU (reset_after) and SimpleRNN stacks of two layers
(24 -> 96 -> 64) + Dense(5), PyTorch's initialisation, standard normal
inputs, 4 sequences of 2000 steps; the largest |output - float32 output|
for every instruction set that has its own kernels for the precision. The
digits model: test accuracy on the FSDD test split (recording index < 5, as
examples/train_fsdd.py) and the largest change of a class probability.
"""

import argparse
import os
import pathlib
import re

import numpy as np

import fastrnn
from fastrnn import _engine
from fastrnn.audio import FrontEnd, load

CELLS = {"lstm": (fastrnn.LSTM, 4), "gru": (fastrnn.GRU, 3), "rnn": (fastrnn.SimpleRNN, 1)}


def random_layers(kind, rng):
    cls, gates = CELLS[kind]

    def uniform(fan, *shape):
        return rng.uniform(-fan ** -0.5, fan ** -0.5, shape).astype(np.float32)

    layers = [cls(uniform(h, gates * h, i), uniform(h, gates * h, h), uniform(h, gates * h),
                  uniform(h, gates * h)) for i, h in ((24, 96), (96, 64))]
    return layers + [fastrnn.Dense(uniform(64, 5, 64), uniform(64, 5))]


def kernel_pairs():
    """(isa, precision) of every distinct kernel table, float32 excluded."""
    seen, pairs = set(), []
    for isa in _engine.available_isas():
        for precision in _engine.available_precisions(isa):
            name = _engine.kernels_name(isa, precision)
            if precision != "float32" and name not in seen:
                seen.add(name)
                pairs.append((isa, precision))
    return pairs


def random_model_errors():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2000, 24)).astype(np.float32)
    rows = []
    for isa, precision in kernel_pairs():
        errors = {}
        for kind in CELLS:
            layers = random_layers(kind, np.random.default_rng(1))
            reference = fastrnn.Sequential(layers, isa=isa).predict(x)
            got = fastrnn.Sequential(layers, isa=isa, precision=precision).predict(x)
            errors[kind] = float(np.abs(got - reference).max())
        rows.append((precision, _engine.kernels_name(isa, precision), errors))
    return rows


def digits(root):
    path = pathlib.Path(fastrnn.__file__).parent / "data" / "digits.fastrnn"
    isa = fastrnn.info()["isa"]
    models = {p: fastrnn.load(path, precision=p) for p in _engine.available_precisions(isa)}
    front_end = FrontEnd.from_dict(models["float32"].metadata["front_end"])
    test = []
    for wav in sorted((root / "recordings").glob("*.wav")):
        match = re.match(r"(\d)_[a-z]+_(\d+)\.wav$", wav.name)
        if match and int(match.group(2)) < 5:
            test.append((wav, int(match.group(1))))
    features = [front_end.features(load(wav, sr=front_end.sample_rate)[0]) for wav, _ in test]
    labels = np.array([label for _, label in test])
    probabilities = {p: np.stack([m.predict(f) for f in features]) for p, m in models.items()}
    return {p: (float(np.mean(np.argmax(v, axis=1) == labels)) * 100,
                float(np.abs(v - probabilities["float32"]).max()),
                _engine.kernels_name(isa, p)) for p, v in probabilities.items()}, len(test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fsdd", default=os.environ.get("FASTRNN_FSDD", "../shared/data/fsdd"))
    args = parser.parse_args()
    print("| precision | kernels | LSTM | GRU | SimpleRNN |")
    print("| --- | --- | ---: | ---: | ---: |")
    for precision, kernels, errors in random_model_errors():
        print(f"| {precision} | {kernels} | "
              + " | ".join(f"{errors[k]:.1e}" for k in CELLS) + " |", flush=True)
    root = pathlib.Path(args.fsdd)
    if not (root / "recordings").is_dir():
        print(f"no FSDD recordings under {root}: digits skipped")
        return
    results, count = digits(root)
    print(f"\ndigits model, FSDD test split ({count} recordings):\n")
    print("| precision | kernels | test accuracy | largest probability change |")
    print("| --- | --- | ---: | ---: |")
    for precision, (accuracy, change, kernels) in results.items():
        print(f"| {precision} | {kernels} | {accuracy:.1f} % | {change:.1e} |")


if __name__ == "__main__":
    main()
