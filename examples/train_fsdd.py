"""Train a spoken-digit classifier on the Free Spoken Digit Dataset with
fastrnn alone (NumPy training, C-engine inference), and save it with its
front end in one native model file.

    python examples/train_fsdd.py --data ../shared/data/fsdd --seed 0 --out digits.fastrnn

The data: FSDD (Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0), 8 kHz
mono recordings named {digit}_{speaker}_{index}.wav; the official split
takes index 0-4 as the test set and 5-49 for training. 10 % of the training
recordings (stratified by digit) are held out for early stopping; the test
set is used once, at the end. Features: 40 log-mel bands of 32 ms frames
every 10 ms, normalised with the training set's statistics.

The model the package ships for ``fastrnn demo`` (fastrnn/data/digits.fastrnn)
is this script's output with the command above.
"""

import argparse
import os
import pathlib
import re
import sys
import time

import numpy as np

from fastrnn.audio import FrontEnd, load
from fastrnn.train import GRU, Adam, Dense, EarlyStopping, Sequential, train_test_split

NAME = re.compile(r"(\d)_([a-z]+)_(\d+)\.wav$")
LABELS = [str(digit) for digit in range(10)]


def read_dataset(root: pathlib.Path, front_end: FrontEnd):
    """Features and labels of the official train and test splits."""
    recordings = root / "recordings"
    if not recordings.is_dir():
        sys.exit(f"no FSDD recordings under {root} (give --data or set FASTRNN_FSDD)")
    split = {"train": ([], []), "test": ([], [])}
    for path in sorted(recordings.glob("*.wav")):
        match = NAME.search(path.name)
        if match is None:
            continue
        digit, _, index = match.groups()
        y, _ = load(path, sr=front_end.sample_rate)
        features, labels = split["test" if int(index) < 5 else "train"]
        features.append(front_end.features(y, normalize=False))
        labels.append(int(digit))
    return [(features, np.array(labels)) for features, labels in split.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("FASTRNN_FSDD", "../shared/data/fsdd"),
                        help="the FSDD folder (default: $FASTRNN_FSDD or ../shared/data/fsdd)")
    parser.add_argument("--out", default="digits.fastrnn", help="model file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--units", type=int, default=64)
    args = parser.parse_args()

    started = time.perf_counter()
    front_end = FrontEnd(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40,
                         feature="log_mel")
    (train_x, train_y), (test_x, test_y) = read_dataset(pathlib.Path(args.data), front_end)
    front_end.fit_normalization(train_x)
    mean, std = np.array(front_end.mean, np.float32), np.array(front_end.std, np.float32)
    train_x = [(x - mean) / std for x in train_x]
    test_x = [(x - mean) / std for x in test_x]
    fit_x, val_x, fit_y, val_y = train_test_split(train_x, train_y, test_size=0.1,
                                                  random_state=args.seed, stratify=train_y)
    print(f"{len(fit_x)} training, {len(val_x)} validation, {len(test_x)} test recordings; "
          f"features in {time.perf_counter() - started:.1f} s")

    model = Sequential([GRU(args.units, return_sequences=True),
                        GRU(args.units, return_sequences=False),
                        Dense(10, activation="softmax")], seed=args.seed)
    model.compile(optimizer=Adam(0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(fit_x, fit_y, epochs=args.epochs, batch_size=32, validation_data=(val_x, val_y),
              callbacks=[EarlyStopping(monitor="val_loss", patience=6,
                                       restore_best_weights=True)], verbose=2)

    engine = model.to_inference(metadata={
        "front_end": front_end.to_dict(), "labels": LABELS,
        "trained_by": f"examples/train_fsdd.py --seed {args.seed} --epochs {args.epochs} "
                      f"--units {args.units}",
        "dataset": "Free Spoken Digit Dataset (CC BY-SA 4.0), official split"})
    predicted = [int(np.argmax(engine.predict(x))) for x in test_x]
    accuracy = float(np.mean(np.array(predicted) == test_y))
    engine.metadata["test_accuracy"] = accuracy
    engine.save(args.out)
    print(f"test accuracy {accuracy:.4f} ({int(accuracy * len(test_y))}/{len(test_y)}) "
          f"with the C engine; saved {args.out}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
