"""Seeded fuzzing of the native model file loader (issue 14).

Saved graph files are mutated at random: bits flipped (mostly in the
header), truncated, tensors dropped, added or reshaped, and header JSON
fields replaced by wrong types, huge sizes, unknown layer types, references
that make cycles, and deep nesting. Every outcome must be a model or a
``fastrnn.FormatError``, and no load may allocate more than
max(64 MiB, 10 x the file's size): measured with tracemalloc (Python and
NumPy allocations) and, where Linux lets a process reset its peak resident
size (/proc/self/clear_refs), by the peak RSS too (the C engine's and
safetensors' allocations). About 3,000 cases, the three files' in turn,
stopping after TIME_BUDGET_S (a slow machine runs a prefix of the same
sequence). A failure names its case; rerun with the same seed to reproduce
it.
"""

import json
import struct
import time
import tracemalloc
from itertools import zip_longest

import numpy as np
import pytest
from conftest import peak_rss_reset, resident_kib
from test_graph import noise_suppressor_model
from test_io_native import DATA, weights

import fastrnn
from fastrnn import FormatError

safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors is not installed")

SEED = 1414
CASES_PER_KIND = 400
TIME_BUDGET_S = 15.0          # the loop stops there (a slow machine runs fewer cases)
MIB = 1 << 20

HUGE = [0, -1, 2**20, 2**20 + 1, 2**31 - 1, 2**31, 2**63, 10**30, 1e300, -(2**40)]
WRONG_TYPES = [None, True, False, "1", "", 1.5, [], {}, [1, 2], {"type": "GRU"}, float(2**31)]
UNKNOWN_TYPES = ["Transformer", "lstm", "", "Input", "Model", "Bidirectional", "__class__"]


def every_layer_model(rng):
    """A graph holding every layer type (but the recurrent cells beyond GRU,
    which the noise suppressor and v1 files cover)."""
    x = fastrnn.Input(6, name="x")
    c = fastrnn.Conv1d(weights(rng, 8, 3, 3), weights(rng, 8), groups=2, padding="causal")(x)
    c = fastrnn.Pool1d("avg", 2, 1, (1, 0), count_padding=False)(c)
    c = fastrnn.Activation("leaky_relu", negative_slope=0.2)(c)
    n = fastrnn.LayerNorm(8, weights(rng, 8), weights(rng, 8))(fastrnn.Affine(weights(rng, 8))(c))
    g = fastrnn.GRU(*(weights(rng, *shape) for shape in ((12, 8), (12, 4), (12,), (12,))))(n)
    b = fastrnn.Bidirectional(fastrnn.LSTM(weights(rng, 12, 4), weights(rng, 12, 3)),
                              fastrnn.LSTM(weights(rng, 12, 4), weights(rng, 12, 3)), "sum")(g)
    joined = fastrnn.Concatenate()(fastrnn.Slice(0, 3)(n), b,
                                   fastrnn.Multiply(weights(rng, 3))(b))
    scores = fastrnn.Dense(weights(rng, 2, 9), None, "softmax")(joined)
    centred = fastrnn.Elementwise("sub")(joined, fastrnn.Reduce("mean")(joined))
    return fastrnn.Model(x, [scores, centred, fastrnn.GlobalPool("max")(joined)],
                         output_names=["scores", "centred", "largest"])


def read_file(data: bytes) -> tuple:
    """(metadata, tensors) of safetensors bytes."""
    header_size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_size])
    metadata = header.pop("__metadata__")
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = data[8 + header_size + begin:8 + header_size + end]
        dtype = {"F32": np.float32, "F16": np.float16}[entry["dtype"]]
        tensors[name] = np.frombuffer(raw, dtype).reshape(entry["shape"])
    return metadata, tensors


def write_file(metadata: dict, tensors: dict) -> bytes:
    return safetensors_numpy.save(tensors, metadata=metadata)


def random_path(rng, value, path=()):
    """A random path to a value inside `value` (dicts and lists), the root possibly."""
    while isinstance(value, (dict, list)) and value and rng.random() < 0.75:
        key = (list(value)[rng.integers(len(value))] if isinstance(value, dict)
               else int(rng.integers(len(value))))
        path, value = path + (key,), value[key]
    return path


def replace_at(document, path, new):
    if not path:
        return new
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return document


def mutate_json(rng, text: str) -> str:
    """The architecture JSON with one random field changed, or a graph edit."""
    document = json.loads(text)
    nodes = document.get("nodes") or document.get("layers")
    choice = rng.integers(9)
    if choice == 0:                                             # a reference back to a later node
        if "nodes" in document:
            first, later = sorted(rng.integers(len(nodes), size=2))
            nodes[first]["inputs"] = [nodes[later]["name"]]
    elif choice == 1:                                           # an unknown layer type
        entry = nodes[rng.integers(len(nodes))]
        entry.get("layer", entry)["type"] = UNKNOWN_TYPES[rng.integers(len(UNKNOWN_TYPES))]
    elif choice == 2:                                           # a field removed or added
        entry = nodes[rng.integers(len(nodes))]
        layer = entry.get("layer", entry)
        if rng.random() < 0.5 and layer:
            layer.pop(list(layer)[rng.integers(len(layer))])
        else:
            layer["extra"] = 1
    elif choice == 3:                                           # deep nesting
        depth = int(rng.choice([50, 900, 5000]))
        document = replace_at(document, random_path(rng, document), "<deep>")
        return json.dumps(document).replace('"<deep>"', "[" * depth + "]" * depth)
    elif choice == 4:                                           # nodes repeated or dropped
        if rng.random() < 0.5:
            nodes.extend(nodes[:int(rng.integers(1, len(nodes) + 1))])
        else:
            del nodes[rng.integers(len(nodes))]
    else:                                                       # one value: wrong type or huge
        pool = HUGE if choice % 2 else WRONG_TYPES
        if choice < 7:                                          # a layer's field
            entry = nodes[rng.integers(len(nodes))]
            layer = entry.get("layer", entry)
            path = ((("layer",) if "layer" in entry else ())
                    + (list(layer)[rng.integers(len(layer))],) if layer else ())
            document = replace_at(document, (("nodes" if "nodes" in document else "layers"),
                                             nodes.index(entry)) + path,
                                  pool[rng.integers(len(pool))])
        else:
            document = replace_at(document, random_path(rng, document),
                                  pool[rng.integers(len(pool))])
    return json.dumps(document)


def mutations(rng, original: bytes):
    """(description, damaged bytes) pairs: CASES_PER_KIND of each kind."""
    header_end = 8 + struct.unpack("<Q", original[:8])[0]
    metadata, tensors = read_file(original)
    for case in range(CASES_PER_KIND):
        damaged = bytearray(original)
        for _ in range(int(rng.integers(1, 4))):
            position = int(rng.integers(header_end) if rng.random() < 0.8
                           else rng.integers(len(original)))
            damaged[position] ^= 1 << int(rng.integers(8))
        yield f"bits flipped {case}", bytes(damaged)
    for case in range(CASES_PER_KIND // 4):
        yield f"truncated {case}", original[:int(rng.integers(len(original)))]
    for case in range(CASES_PER_KIND):
        yield f"architecture field {case}", write_file(
            {**metadata, "architecture": mutate_json(rng, metadata["architecture"])}, tensors)
    for case in range(CASES_PER_KIND // 4):
        changed = dict(tensors)
        name = sorted(changed)[rng.integers(len(changed))]
        kind = rng.integers(4)
        if kind == 0:
            del changed[name]
        elif kind == 1:
            changed[name + "x"] = changed[name]
        elif kind == 2:
            changed[name] = changed[name].reshape(-1)[:-1] if changed[name].size > 1 else \
                np.zeros(2, np.float32)
        else:
            changed[name] = changed[name].astype(np.float16)
        yield f"tensor {name} changed ({kind}) {case}", write_file(metadata, changed)
    for version in ["0", "01", "\u0661", "1.0", "+2", " 2", "2 ", "9" * 30, ""]:
        yield f"format_version {version!r}", write_file({**metadata, "format_version": version},
                                                        tensors)


def measured_load(path, measure_rss: bool) -> tuple:
    """(outcome, bytes traced at the peak, bytes the peak resident size grew
    or None) of loading `path`: outcome "model" or "FormatError"; any other
    exception propagates."""
    if measure_rss:
        peak_rss_reset()
        rss_before = resident_kib()["VmRSS"]
    tracemalloc.start()
    try:
        fastrnn.load(path)
        outcome = "model"
    except FormatError:
        outcome = "FormatError"
    finally:
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    grown = (resident_kib()["VmHWM"] - rss_before) * 1024 if measure_rss else None
    return outcome, traced, grown


def test_mutated_files_load_or_raise_format_error(tmp_path):
    rng = np.random.default_rng(SEED)
    originals = {}
    for name, model in [("noise suppressor", noise_suppressor_model(rng)),
                        ("every layer", every_layer_model(rng))]:
        model.save(tmp_path / f"{name}.fastrnn")
        originals[name] = (tmp_path / f"{name}.fastrnn").read_bytes()
        fastrnn.load(tmp_path / f"{name}.fastrnn")       # warm: imports and caches
    originals["version 1"] = (DATA / "v1_sequential.fastrnn").read_bytes()
    cases = zip_longest(*[[(name, case) for case in mutations(rng, original)]
                          for name, original in originals.items()])
    measure_rss = peak_rss_reset()
    outcomes = {"model": 0, "FormatError": 0}
    started = time.monotonic()
    for group in cases:
        if time.monotonic() - started > TIME_BUDGET_S:
            break
        for original_name, (description, data) in filter(None, group):
            case = f"{original_name}: {description} (seed {SEED})"
            path = tmp_path / "case.fastrnn"
            path.write_bytes(data)      # a new file: truncating one in place is slow on ext4
            try:
                outcome, traced, grown = measured_load(path, measure_rss)
            except Exception as error:
                pytest.fail(f"{case}: {type(error).__name__}: {error}")
            path.unlink()
            outcomes[outcome] += 1
            limit = max(64 * MIB, 10 * len(data))
            assert traced <= limit, f"{case}: {traced / MIB:.1f} MiB traced"
            assert grown is None or grown <= limit, f"{case}: peak RSS +{grown / MIB:.1f} MiB"
    assert outcomes["FormatError"] >= 500, outcomes        # the mutations reach the checks
    assert outcomes["model"] >= 10, outcomes               # and some leave a loadable file
