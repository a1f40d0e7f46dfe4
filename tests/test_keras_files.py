"""Keras files that must not get in (issue 14 items 10, 12, 15): shapes
checked before any dataset is read, archives decompressed within a budget,
HDF5 links and datasets that point outside the file refused, every failure on
a damaged file a fastrnn.FormatError, options of the wrong type or value
refused; and a seeded fuzz of mutated .keras and .h5 files within a memory
bound.

The budget (fastrnn.io.keras.files): a file of S bytes may make the loader
read max(64 MiB, 10 S); the fuzz checks each case's peak of traced Python
and NumPy allocations against it.
"""

import io
import itertools
import json
import math
import shutil
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
from conftest import peak_rss_reset, resident_kib

import fastrnn
from fastrnn.io.keras.files import memory_budget

h5py = pytest.importorskip("h5py", reason="h5py is not installed (pip install 'fastrnn[keras]')")

MiB = 2**20


@pytest.fixture(scope="module")
def saved(keras, tmp_path_factory):
    """A small graph model and a masked chain, each as .keras and .h5."""
    L = keras.layers
    keras.utils.set_random_seed(21)
    x = keras.Input((None, 4))
    y = L.BatchNormalization(name="bn")(L.Conv1D(6, 3, padding="causal", name="conv")(x))
    sequence, h = L.GRU(5, return_sequences=True, return_state=True, name="gru")(y)
    graph = keras.Model(x, [L.Dense(3, name="dense")(L.Add(name="add")([sequence, L.Dense(
        5, name="skip")(y)])), h])
    chain = keras.Sequential([keras.Input((None, 4)), L.Masking(0.0, name="mask"),
                              L.LSTM(4, return_sequences=True, name="lstm"),
                              L.Dense(2, name="out")])
    directory = tmp_path_factory.mktemp("saved")
    paths = {}
    for name, kmodel in (("graph", graph), ("chain", chain)):
        for suffix in (".keras", ".h5"):
            paths[name + suffix] = directory / f"{name}{suffix}"
            kmodel.save(paths[name + suffix])
    return paths


def members(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_zip(path, contents: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return path


def config_of(path) -> dict:
    if str(path).endswith(".keras"):
        return json.loads(members(path)["config.json"])
    with h5py.File(path, "r") as file:
        return json.loads(file.attrs["model_config"])


def with_config(path, out, edit):
    """A copy of a .keras or .h5 file whose model config `edit(config)` changed."""
    config = config_of(path)
    edit(config)
    text = json.dumps(config)
    if str(path).endswith(".keras"):
        return write_zip(out, {**members(path), "config.json": text})
    shutil.copy(path, out)
    with h5py.File(out, "r+") as file:
        file.attrs["model_config"] = text
    return out


def with_weights(path, out, edit):
    """A copy whose HDF5 weights `edit(file)` changed (for .keras, the
    archive's model.weights.h5, zipped again)."""
    if str(path).endswith(".h5"):
        shutil.copy(path, out)
        with h5py.File(out, "r+") as file:
            edit(file)
        return out
    contents = members(path)
    image = io.BytesIO(contents["model.weights.h5"])
    with h5py.File(image, "r+") as file:
        edit(file)
    return write_zip(out, {**contents, "model.weights.h5": image.getvalue()})


def layer_config(config: dict, name: str) -> dict:
    return next(layer for layer in config["config"]["layers"]
                if layer.get("name", layer["config"].get("name")) == name)["config"]


# Keras 3 keys a weights file's layers by class (snake case), _1, _2, ... for
# later layers of a class, in model order: the graph model's layers.
KERAS_KEYS = {"conv": "conv1d", "bn": "batch_normalization", "gru": "gru/cell",
              "skip": "dense", "dense": "dense_1"}


def variable(file, layer: str, index: int) -> str:
    """The path of `layer`'s index-th weight in either kind of weights file
    (the graph model's layers)."""
    if "model_weights" in file:
        names = file[f"model_weights/{layer}"].attrs["weight_names"]
        name = names[index]
        return f"model_weights/{layer}/{name.decode() if isinstance(name, bytes) else name}"
    return f"layers/{KERAS_KEYS[layer]}/vars/{index}"


def replace_dataset(file, path, shape, **options):
    del file[path]
    file.create_dataset(path, shape=shape, dtype="float32", **options)


def peak_bytes(call, *arguments):
    """(result or exception, peak traced bytes) of call(*arguments)."""
    tracemalloc.start()
    try:
        try:
            outcome = call(*arguments)
        except Exception as error:          # noqa: BLE001 - the outcome is what is tested
            outcome = error
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- what loads -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["graph.keras", "graph.h5", "chain.keras", "chain.h5"])
def test_files_load_without_keras(saved, monkeypatch, name):
    monkeypatch.setitem(sys.modules, "keras", None)        # import keras now fails
    model = fastrnn.from_keras(saved[name])
    if name.startswith("graph"):
        assert model.output_names == ["dense"] and "gru.h" in model.state_names()
    else:
        assert isinstance(model, fastrnn.Sequential) and model.mask_value == 0.0


def keras2_nodes(node: dict) -> list:
    """A Keras 3 inbound node {"args": [...], "kwargs": {...}} written as
    Keras 2 did: [[layer, call, output, kwargs], ...]."""
    found, pending = [], [node["args"]]
    while pending:
        item = pending.pop()
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            found.append([*item["config"]["keras_history"], {}])
        elif isinstance(item, list):
            pending.extend(reversed(item))
    return found


def test_keras_2_configs(saved, tmp_path):
    """tf.keras (Keras 2) .h5 files name a call's inputs as [layer, call,
    output, kwargs] lists and the model's inputs as a list of them."""
    def as_keras2(config):
        body = config["config"]
        for layer in body["layers"]:
            layer["inbound_nodes"] = [keras2_nodes(node) for node in layer["inbound_nodes"]]
        body["input_layers"] = [body["input_layers"]]
    path = with_config(saved["graph.h5"], tmp_path / "keras2.h5", as_keras2)
    x = np.random.default_rng(3).standard_normal((2, 9, 4)).astype(np.float32)
    assert np.array_equal(fastrnn.from_keras(path).predict(x),
                          fastrnn.from_keras(saved["graph.h5"]).predict(x))


# --- shapes before reading ------------------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_declared_shapes_are_checked_before_reading(saved, tmp_path, suffix):
    """A dataset declaring 160 GB (chunked, nothing stored: a small file) is
    refused from its shape, without reading it."""
    path = with_weights(saved["graph" + suffix], tmp_path / f"huge{suffix}",
                        lambda file: replace_dataset(file, variable(file, "dense", 0),
                                                     (200_000, 200_000), chunks=(1000, 1000)))
    assert path.stat().st_size < MiB
    outcome, peak = peak_bytes(fastrnn.from_keras, path)
    assert isinstance(outcome, fastrnn.FormatError), outcome
    assert "expected shape (5, 3)" in str(outcome) and "(200000, 200000)" in str(outcome)
    assert peak < 16 * MiB


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_weights_past_the_budget_are_refused(saved, tmp_path, suffix):
    """Shapes agreeing with a config that asks for 320 MB of weights, in a
    small file: refused by the budget (max(64 MiB, 10 x the file's size))."""
    def edit(config):
        layer_config(config, "dense")["units"] = 20_000
    edited = with_config(saved["graph" + suffix], tmp_path / f"units{suffix}", edit)

    def grow(file):
        replace_dataset(file, variable(file, "dense", 0), (5, 20_000))
        replace_dataset(file, variable(file, "dense", 1), (20_000,))
    path = with_weights(edited, tmp_path / f"big{suffix}", grow)
    assert fastrnn.from_keras(path).output_size == 20_000        # 400 KB: within the budget

    def huge(config):
        layer_config(config, "skip")["units"] = 10_000
        layer_config(config, "gru")["units"] = 10_000
    huge_config = with_config(saved["graph" + suffix], tmp_path / f"huge{suffix}", huge)

    def huge_weights(file):
        for layer, index, shape in (("skip", 0, (6, 10_000)), ("skip", 1, (10_000,)),
                                    ("gru", 0, (6, 30_000)), ("gru", 1, (10_000, 30_000)),
                                    ("gru", 2, (2, 30_000))):
            replace_dataset(file, variable(file, layer, index), shape, chunks=True)
    path = with_weights(huge_config, tmp_path / f"huger{suffix}", huge_weights)
    outcome, peak = peak_bytes(fastrnn.from_keras, path)
    assert isinstance(outcome, fastrnn.FormatError) and "past the" in str(outcome), outcome
    assert peak < memory_budget(path.stat().st_size)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_units_must_agree_with_the_weights(saved, tmp_path, suffix):
    """issue 14 item 15: units that disagree with the weights, and a kernel
    with a row dropped (which used to change the input size silently)."""
    def fewer_units(config):
        layer_config(config, "gru")["units"] = 4
    path = with_config(saved["graph" + suffix], tmp_path / f"units{suffix}", fewer_units)
    with pytest.raises(fastrnn.FormatError, match=r"GRU 'gru' kernel: expected shape \(6, 12\)"):
        fastrnn.from_keras(path)

    def dropped_row(file):
        name = variable(file, "gru", 0)
        kernel = file[name][()]
        del file[name]
        file[name] = kernel[1:]
    path = with_weights(saved["graph" + suffix], tmp_path / f"row{suffix}", dropped_row)
    with pytest.raises(fastrnn.FormatError, match=r"expected shape \(6, 15\).*got \(5, 15\)"):
        fastrnn.from_keras(path)


# --- archives -------------------------------------------------------------------


@pytest.mark.parametrize("member", ["config.json", "model.weights.h5"])
def test_zip_bomb(saved, tmp_path, member):
    """A 100 KB archive whose member inflates to 80 MiB: refused from its
    declared size, nothing inflated."""
    contents = {**members(saved["graph.keras"]), member: b" " * (80 * MiB)}
    path = write_zip(tmp_path / "bomb.keras", contents, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < MiB
    outcome, peak = peak_bytes(fastrnn.from_keras, path)
    assert isinstance(outcome, fastrnn.FormatError) and "declares" in str(outcome), outcome
    assert peak < 8 * MiB


def test_members_are_read_within_what_they_declare(saved, tmp_path):
    """A member whose central directory entry declares half its size: read up
    to that, then refused as damaged (its checksum fails)."""
    data = bytearray(saved["graph.keras"].read_bytes())
    size = len(members(saved["graph.keras"])["config.json"])
    entry = data.find(b"PK\x01\x02")
    while data[entry + 46:entry + 46 + len("config.json")] != b"config.json":
        entry = data.find(b"PK\x01\x02", entry + 4)
    data[entry + 24:entry + 28] = (size // 2).to_bytes(4, "little")      # uncompressed size
    damaged = tmp_path / "short.keras"
    damaged.write_bytes(bytes(data))
    with pytest.raises(fastrnn.FormatError, match="BadZipFile"):
        fastrnn.from_keras(damaged)


# --- links and external data ----------------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("link", ["external", "soft"])
def test_links_are_refused(saved, tmp_path, suffix, link):
    """A layer group replaced by a link to another file (followed to any
    absolute path before) or to elsewhere in the file."""
    outside = tmp_path / "outside.h5"
    shutil.copy(saved["graph.h5"], outside)

    def edit(file):
        group = variable(file, "dense", 0).rsplit("/", 2)[0]     # the layer's group
        del file[group]
        file[group] = (h5py.ExternalLink(str(outside), "/model_weights/dense") if link == "external"
                       else h5py.SoftLink("/" + variable(file, "skip", 0).rsplit("/", 2)[0]))
    path = with_weights(saved["graph" + suffix], tmp_path / f"linked{suffix}", edit)
    kind = "ExternalLink" if link == "external" else "SoftLink"
    with pytest.raises(fastrnn.FormatError, match=f"HDF5 {kind}"):
        fastrnn.from_keras(path)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_external_datasets_are_refused(saved, tmp_path, suffix):
    raw = tmp_path / "kernel.raw"
    raw.write_bytes(np.ones((5, 3), np.float32).tobytes())
    path = with_weights(saved["graph" + suffix], tmp_path / f"external{suffix}",
                        lambda file: replace_dataset(file, variable(file, "dense", 0), (5, 3),
                                                     external=[(str(raw), 0, 60)]))
    with pytest.raises(fastrnn.FormatError, match="outside the file"):
        fastrnn.from_keras(path)


def test_a_global_heap_that_would_hang_hdf5_is_refused(saved, tmp_path):
    """The free-space object of the .h5 file's global heap (where its config
    string lives) set to size 0: HDF5 1.14 loops forever reading the config
    (found by test_fuzz). Run in a subprocess, so that a hang fails the test."""
    data = bytearray(saved["graph.h5"].read_bytes())
    heap = data.find(b"GCOL")
    cursor, end = heap + 16, heap + int.from_bytes(data[heap + 8:heap + 16], "little")
    while int.from_bytes(data[cursor:cursor + 2], "little") != 0:      # to the free space
        cursor += 16 + -(-int.from_bytes(data[cursor + 8:cursor + 16], "little") // 8) * 8
        assert cursor < end
    data[cursor + 8:cursor + 16] = bytes(8)
    path = tmp_path / "heap.h5"
    path.write_bytes(bytes(data))
    script = ("import sys, fastrnn\n"
              "try:\n    fastrnn.from_keras(sys.argv[1])\n"
              "except fastrnn.FormatError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert "a damaged HDF5 global heap" in done.stdout, done.stdout + done.stderr


# --- damaged files: FormatError, naming the problem ---------------------------------


def damaged_files(saved, tmp_path):
    keras_file, h5_file = saved["graph.keras"], saved["graph.h5"]
    data = keras_file.read_bytes()
    contents = members(keras_file)
    config = json.loads(contents["config.json"])

    def rezip(name, **changes):
        return write_zip(tmp_path / name, {**contents, **changes})

    def edited(name, edit):
        changed = json.loads(json.dumps(config))
        edit(changed)
        return rezip(name, **{"config.json": json.dumps(changed)})

    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[:len(data) // 2])
    truncated_h5 = tmp_path / "truncated.h5"
    truncated_h5.write_bytes(h5_file.read_bytes()[:3000])
    noise = tmp_path / "noise.keras"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    without = {k: v for k, v in contents.items() if k != "config.json"}
    return {
        "truncated archive": (truncated, "not a readable Keras model file"),
        "truncated HDF5": (truncated_h5, "not a readable Keras model file"),
        "random bytes": (noise, "not a readable Keras model file"),
        "no config.json": (write_zip(tmp_path / "without.keras", without), "has no config.json"),
        "not JSON": (rezip("text.keras", **{"config.json": b"{not json"}), "not readable JSON"),
        "not UTF-8": (rezip("bytes.keras", **{"config.json": b"\xff\xfe{}"}), "not readable"),
        "deep JSON": (rezip("deep.keras", **{"config.json": "[" * 100_000 + "]" * 100_000}),
                      "not readable JSON"),
        "a list": (rezip("list.keras", **{"config.json": "[1, 2]"}), "expected a JSON object"),
        "weights not HDF5": (rezip("garbage.keras", **{"model.weights.h5": b"garbage" * 100}),
                             "not a readable Keras model file"),
        "not a model": (edited("kind.keras", lambda c: c.update(class_name="Dense")),
                        "expected a Keras Sequential or Functional model"),
        "layer without config": (edited("noconfig.keras", lambda c: c["config"]["layers"][1]
                                        .pop("config")), "expected an object with a class_name"),
        "missing producer": (edited("missing.keras", lambda c: c["config"]["layers"].pop(1)),
                             "which the model does not have"),
        "tensor index": (edited("index.keras", lambda c: c["config"]["output_layers"][0]
                                .__setitem__(2, 7)), "does not make"),
        "cycle": (edited("cycle.keras", lambda c: c["config"]["layers"][1]["inbound_nodes"][0][
            "args"][0]["config"].__setitem__("keras_history", ["bn", 0, 0])), "cycle"),
        "odd reference": (edited("reference.keras", lambda c: c["config"]["layers"][1][
            "inbound_nodes"][0]["args"][0]["config"].__setitem__("keras_history", "conv")),
                          "expected a tensor reference"),
        "kernel_size": (edited("kernel.keras", lambda c: layer_config(c, "conv").__setitem__(
            "kernel_size", [0])), "kernel_size: expected an integer >= 1"),
        "inbound nodes": (edited("nodes.keras", lambda c: c["config"]["layers"][2].__setitem__(
            "inbound_nodes", "conv")), "inbound_nodes: expected a list"),
    }


def test_damaged_files_raise_format_error(saved, tmp_path):
    for what, (path, message) in damaged_files(saved, tmp_path).items():
        with pytest.raises(fastrnn.FormatError, match=message) as raised:
            fastrnn.from_keras(path)
        assert str(path) in str(raised.value), what


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("layer, option, value, message", [
    ("lstm", "go_backwards", 1, "go_backwards: expected true or false, got 1"),
    ("lstm", "return_sequences", "yes", "return_sequences: expected true or false"),
    ("mask", "mask_value", math.nan, "mask_value: expected a finite number, got nan"),
    ("mask", "mask_value", math.inf, "mask_value: expected a finite number, got inf"),
    ("mask", "mask_value", True, "mask_value: expected a finite number, got True"),
    ("lstm", "units", "4", "units: expected an integer >= 1"),
    ("out", "units", 2.0, "units: expected an integer >= 1"),
])
def test_options_of_the_wrong_type_are_refused(saved, tmp_path, suffix, layer, option, value,
                                               message):
    """issue 14 item 15: values that would change what a layer computes."""
    path = with_config(saved["chain" + suffix], tmp_path / f"option{suffix}",
                       lambda config: layer_config(config, layer).__setitem__(option, value))
    with pytest.raises(fastrnn.FormatError, match=message):
        fastrnn.from_keras(path)


# --- fuzz -----------------------------------------------------------------------

ALLOWED = (fastrnn.FormatError, ValueError, NotImplementedError)
FUZZ_CASES = 300        # mutated files test_fuzz loads (seeded: the same files every run)
ODD_VALUES = [None, -1, 0, 1, 2**31, 10**9, 0.5, math.nan, True, "x", "same", [], [3], {},
              {"class_name": "x"}]


def mutate_bytes(data: bytes, rng) -> bytes:
    data = bytearray(data)
    kind = rng.integers(4)
    if kind == 0:                                     # flip a few bytes
        for position in rng.integers(0, len(data), rng.integers(1, 9)):
            data[position] = int(rng.integers(256))
    elif kind == 1:                                   # truncate
        del data[int(rng.integers(len(data))):]
    elif kind == 2:                                   # insert
        position = int(rng.integers(len(data)))
        data[position:position] = rng.bytes(int(rng.integers(1, 64)))
    else:                                             # a 4-byte field set to a large value
        position = int(rng.integers(0, len(data) - 4))
        data[position:position + 4] = int(rng.choice([2**31 - 1, 2**32 - 1, 10**9, 65536])
                                          ).to_bytes(4, "little")
    return bytes(data)


def mutate_config(config, rng):
    """Set one value, anywhere in the JSON tree, to an odd one."""
    containers, pending = [], [config]
    while pending:
        item = pending.pop()
        if isinstance(item, dict) and item:
            containers.append(item)
            pending.extend(item.values())
        elif isinstance(item, list) and item:
            containers.append(item)
            pending.extend(item)
    target = containers[int(rng.integers(len(containers)))]
    key = (list(target)[int(rng.integers(len(target)))] if isinstance(target, dict)
           else int(rng.integers(len(target))))
    target[key] = ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
    return config


def fuzz_cases(saved, rng):
    """(name, bytes) of mutated files, endlessly, from four families."""
    contents = members(saved["graph.keras"])
    config = json.loads(contents["config.json"])
    raw_keras, raw_h5 = saved["graph.keras"].read_bytes(), saved["graph.h5"].read_bytes()
    for number in range(10**9):
        family = number % 4
        if family == 0:
            yield "graph.keras", mutate_bytes(raw_keras, rng)
        elif family == 1:
            image = mutate_bytes(contents["model.weights.h5"], rng)
            yield "graph.keras", zipped({**contents, "model.weights.h5": image})
        elif family == 2:
            changed = mutate_config(json.loads(json.dumps(config)), rng)
            yield "graph.keras", zipped({**contents, "config.json": json.dumps(changed)})
        else:
            yield "graph.h5", mutate_bytes(raw_h5, rng)


def zipped(contents: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_fuzz(saved, tmp_path):
    """Seeded mutations of .keras archives (raw bytes, the weights image, the
    config) and .h5 files, FUZZ_CASES of them (about 10 s): every outcome is a model or a
    FormatError, ValueError or NotImplementedError, and no case's traced
    allocations, nor (where Linux lets a process reset it) its peak resident
    size, grow above max(64 MiB, 10 x its size): the RSS sees what HDF5
    allocates in C."""
    rng = np.random.default_rng(14)
    measure_rss = peak_rss_reset()
    outcomes: dict = {}
    for count, (name, data) in enumerate(itertools.islice(fuzz_cases(saved, rng), FUZZ_CASES)):
        path = tmp_path / f"case{count % 8}{name[name.index('.'):]}"
        path.write_bytes(data)
        if measure_rss:
            peak_rss_reset()
            rss_before = resident_kib()["VmRSS"]
        outcome, peak = peak_bytes(fastrnn.from_keras, path)
        kind = type(outcome).__name__
        outcomes[kind] = outcomes.get(kind, 0) + 1
        assert isinstance(outcome, ALLOWED + (fastrnn.Model,)), \
            f"case {count} ({name}): {kind}: {outcome}"
        assert peak <= memory_budget(len(data)), f"case {count} ({name}): {peak} bytes"
        if measure_rss:
            grown = (resident_kib()["VmHWM"] - rss_before) * 1024
            assert grown <= memory_budget(len(data)), \
                f"case {count} ({name}): peak RSS +{grown / MiB:.1f} MiB"
    assert sum(outcomes.values()) == FUZZ_CASES, outcomes
    assert outcomes.get("FormatError", 0) and (outcomes.get("Model", 0)
                                               or outcomes.get("Sequential", 0)), outcomes
