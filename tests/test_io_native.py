"""The native model file: round trips, and damaged or foreign files."""

import json
import struct

import numpy as np
import pytest
from conftest import dense_weights, recurrent_weights

import fastrnn
from fastrnn import FormatError

safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors is not installed")


def model_of(rng, bias=True):
    w_ih, w_hh, b_ih, b_hh = recurrent_weights(rng, 4, 6, 16, bias=bias)
    g_ih, g_hh, gb_ih, gb_hh = recurrent_weights(rng, 3, 16, 12, bias=bias)
    r_ih, r_hh, rb_ih, rb_hh = recurrent_weights(rng, 3, 12, 8)
    return fastrnn.Sequential([
        fastrnn.LSTM(w_ih, w_hh, b_ih, b_hh),
        fastrnn.GRU(g_ih, g_hh, gb_ih, gb_hh, reset_after=True),
        fastrnn.GRU(r_ih, r_hh, rb_ih, rb_hh, reset_after=False, return_sequences=False),
        fastrnn.Dense(*dense_weights(rng, 8, 5), "elu"),
        fastrnn.Dense(*dense_weights(rng, 5, 3), "softmax"),
    ])


@pytest.mark.parametrize("bias", [True, False])
def test_round_trip_is_exact(tmp_path, rng, bias):
    model = model_of(rng, bias)
    path = tmp_path / "model.fastrnn"
    model.save(path)
    loaded = fastrnn.load(path)
    x = rng.standard_normal((4, 30, 6)).astype(np.float32)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert [repr(layer) for layer in loaded.layers] == [repr(layer) for layer in model.layers]
    assert fastrnn.load(str(path), isa="generic").isa == "generic"


def test_metadata(tmp_path, rng):
    path = tmp_path / "model.fastrnn"
    model_of(rng).save(path)
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "fastrnn" and meta["format_version"] == "1"
    assert meta["fastrnn_version"] == fastrnn.__version__
    layers = json.loads(meta["architecture"])["layers"]
    assert [layer["type"] for layer in layers] == ["LSTM", "GRU", "GRU", "Dense", "Dense"]


def rewrite(path, tensors=None, **metadata):
    """Re-save the file at `path` with changed tensors or metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        meta = dict(f.metadata())
        arrays = {key: f.get_tensor(key) for key in f.keys()}
    arrays = tensors(arrays) if tensors else arrays
    meta.update(metadata)
    safetensors_numpy.save_file(arrays, str(path), metadata={k: v for k, v in meta.items()
                                                              if v is not None})


def architecture_with(path, change):
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        layers = json.loads(f.metadata()["architecture"])["layers"]
    change(layers)
    return json.dumps({"layers": layers})


DAMAGE = {
    "empty file": lambda p: p.write_bytes(b""),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
    "header claims a terabyte": lambda p: p.write_bytes(struct.pack("<Q", 10**12) + b"{}"),
    "truncated in the data": lambda p: p.write_bytes(p.read_bytes()[:-100]),
    "truncated in the header": lambda p: p.write_bytes(p.read_bytes()[:40]),
    "header bytes flipped": lambda p: p.write_bytes(p.read_bytes()[:20] + b"\xff\xfe"
                                                    + p.read_bytes()[22:]),
    "not a fastrnn file": lambda p: rewrite(p, format=None),
    "newer format version": lambda p: rewrite(p, format_version="99"),
    "architecture not JSON": lambda p: rewrite(p, architecture="{layers: ["),
    "unknown layer type": lambda p: rewrite(p, architecture=architecture_with(
        p, lambda layers: layers[0].update(type="Transformer"))),
    "field of the wrong type": lambda p: rewrite(p, architecture=architecture_with(
        p, lambda layers: layers[0].update(hidden_size="16"))),
    "shape disagrees with architecture": lambda p: rewrite(p, architecture=architecture_with(
        p, lambda layers: layers[0].update(hidden_size=17))),
    "layers do not chain": lambda p: rewrite(p, architecture=architecture_with(
        p, lambda layers: layers.reverse())),
    "missing tensor": lambda p: rewrite(p, tensors=lambda a: {k: v for k, v in a.items()
                                                              if k != "layers.1.weight_hh"}),
    "extra tensor": lambda p: rewrite(p, tensors=lambda a: {**a,
                                                            "stowaway": np.zeros(3, np.float32)}),
    "float16 tensor": lambda p: rewrite(p, tensors=lambda a: {
        **a, "layers.0.weight_ih": a["layers.0.weight_ih"].astype(np.float16)}),
    "NaN weight": lambda p: rewrite(p, tensors=lambda a: {
        **a, "layers.3.weight": np.full_like(a["layers.3.weight"], np.nan)}),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_file_raises_format_error(tmp_path, rng, damage):
    path = tmp_path / "model.fastrnn"
    model_of(rng).save(path)
    DAMAGE[damage](path)
    with pytest.raises(FormatError) as error:
        fastrnn.load(path)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no fastrnn model file"):
        fastrnn.load(tmp_path / "absent.fastrnn")


def test_save_replaces_atomically(tmp_path, rng):
    path = tmp_path / "model.fastrnn"
    model_of(rng).save(path)
    model_of(rng).save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.fastrnn"]


def test_random_corruption_never_crashes(tmp_path, rng):
    """Any byte changed anywhere: the file loads (the change hit a weight) or
    raises FormatError; never another exception, never a crash."""
    path = tmp_path / "model.fastrnn"
    model_of(rng).save(path)
    original = bytearray(path.read_bytes())
    header_end = 8 + struct.unpack("<Q", original[:8])[0]
    positions = np.concatenate([rng.integers(0, header_end, 150),
                                rng.integers(0, len(original), 50)])
    for position in positions:
        damaged = bytearray(original)
        damaged[position] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(damaged))
        try:
            fastrnn.load(path)
        except FormatError:
            pass


def test_metadata_round_trip_and_errors(tmp_path):
    dense = fastrnn.Dense(np.eye(3, dtype=np.float32))
    metadata = {"labels": ["zero", "one", "two"], "front_end": {"sample_rate": 8000,
                                                                "mean": [0.5, -1.0]}}
    path = tmp_path / "with-metadata.fastrnn"
    fastrnn.Sequential([dense], metadata=metadata).save(path)
    assert fastrnn.load(path).metadata == metadata
    fastrnn.Sequential([dense]).save(path)
    assert fastrnn.load(path).metadata == {}
    with pytest.raises(ValueError, match="model.metadata: expected JSON-serialisable data"):
        fastrnn.Sequential([dense], metadata={"mean": np.zeros(2)}).save(path)
    with pytest.raises(ValueError, match="model.metadata: expected JSON-serialisable data"):
        fastrnn.Sequential([dense], metadata={"floor": float("nan")}).save(path)
    with pytest.raises(TypeError, match="metadata: expected a dict, got list"):
        fastrnn.Sequential([dense], metadata=["labels"])
