"""Keras model files read without Keras, within a memory budget; and the
weights of live models, behind the same interface.

A ``.keras`` file is a zip archive holding ``config.json`` (the model's
config) and ``model.weights.h5``, an HDF5 file of every layer's variables
under ``layers/<key>/.../vars/<n>``, the key being the snake-cased class name
with ``_1``, ``_2``, ... for later layers of the same class (``saving_keys``).
A legacy ``.h5`` file is one HDF5 file: the config in its ``model_config``
attribute, each layer's weights under ``model_weights/<layer name>``, named in
the group's ``weight_names`` attribute.

What a file makes fastrnn read is bounded by its size: the budget is
``max(64 MiB, 10 x the file's size)`` (``memory_budget``). The config text
may take 1/64 of it (parsed JSON takes up to tens of times its text), the
weights file inside an archive and the weight arrays read a quarter each.
Nothing is read before its size is checked:

- an archive member that declares more bytes than its share is refused, and
  members are read with a bounded reader;
- a weight dataset is read only once its declared shape matched the one the
  config implies (``arrays``' `expected`), its bytes fit the share and its
  chunks (HDF5's unit of reading) are no larger than it or 256 Ki values;
- HDF5 external and soft links, external and virtual datasets are refused:
  they point outside the file (or around it);
- a global heap collection (where HDF5 keeps variable-length strings: the
  config, weight names) with an empty free-space object is refused before
  HDF5 reads it: HDF5 1.14 loops forever on one (``check_global_heaps``);
- every failure of zipfile, json or h5py on a damaged file is a
  fastrnn.FormatError naming the file and the problem.
"""

from __future__ import annotations

import io
import json
import math
import mmap
import os
import re
import zipfile
from typing import Any

import numpy as np

from ...errors import FormatError

MIN_BUDGET = 64 * 2**20
BUDGET_PER_FILE_BYTE = 10
CONFIG_SHARE = 64            # the config text may take budget / 64
WEIGHTS_SHARE = 4            # the weights file image, and the arrays, budget / 4 each
MAX_GROUP_DEPTH = 16         # Keras nests a layer's variables 3 groups deep
MAX_ENTRIES = 100_000        # HDF5 objects visited under one layer


def memory_budget(file_size: int) -> int:
    """The most bytes a Keras file of `file_size` bytes may make fastrnn read."""
    return max(MIN_BUDGET, BUDGET_PER_FILE_BYTE * file_size)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
GLOBAL_HEAP = b"GCOL"


def _length_size(data: Any) -> int:
    """HDF5's "size of lengths" (bytes) from the superblock at offset 0: its
    byte 14 in versions 0 and 1, 10 in versions 2 and 3."""
    if data[:8] != HDF5_SIGNATURE or len(data) < 16:
        return 8
    return data[14] if data[8] in (0, 1) else data[10]


def check_global_heaps(data: Any, where: str) -> None:
    """FormatError if a global heap collection in the HDF5 bytes `data`
    would stop HDF5's reader from advancing: it walks the collection's
    objects (index u16, references u16, reserved u32, size), moving by the
    size for the free-space object (index 0), which includes its header, and
    by header + size rounded up to 8 for the others; a free-space size of 0
    never moves."""
    length = _length_size(data)
    header = 8 + length
    position = data.find(GLOBAL_HEAP)
    while position != -1:
        if data[position + 4:position + 5] == b"\x01":                # version 1
            size = int.from_bytes(data[position + 8:position + 8 + length], "little")
            end, cursor = min(position + size, len(data)), position + header
            while cursor + header <= end:
                index = int.from_bytes(data[cursor:cursor + 2], "little")
                object_size = int.from_bytes(data[cursor + 8:cursor + 8 + length], "little")
                step = object_size if index == 0 else header + -(-object_size // 8) * 8
                if step < header:
                    raise FormatError(f"{where}: a damaged HDF5 global heap at byte {cursor} "
                                      "(an object that does not advance the reader)")
                cursor += step
        position = data.find(GLOBAL_HEAP, position + 4)


def _h5py():
    try:
        import h5py
    except ImportError as error:
        raise ImportError("reading Keras files needs h5py: pip install 'fastrnn[keras]'") from error
    return h5py


def check_weights(where: str, expected: list, shapes: list, error: type) -> None:
    """Raise `error` unless `shapes` are the `expected` [(label, shape)], in order."""
    if len(shapes) != len(expected):
        wanted = ", ".join(f"{label} {shape}" for label, shape in expected) or "none"
        raise error(f"{where}: expected {len(expected)} weight arrays from its config "
                    f"({wanted}), got {len(shapes)}: {[tuple(s) for s in shapes]}")
    for (label, shape), given in zip(expected, shapes):
        if tuple(given) != tuple(shape):
            raise error(f"{where} {label}: expected shape {tuple(shape)} from its config and "
                        f"inputs, got {tuple(given)}")


class LiveWeights:
    """The weights of a live Keras model's layers (``layer.get_weights()``)."""

    def __init__(self, model: Any):
        self.model = model

    def arrays(self, layer: str, expected: list, where: str) -> list:
        """The weight arrays of `layer`, checked against `expected`
        [(label, shape)] (ValueError)."""
        found = [np.asarray(w) for w in self.model.get_layer(layer).get_weights()]
        check_weights(where, expected, [w.shape for w in found], ValueError)
        return found


class FileWeights:
    """The weight datasets of a Keras file's layers, read only once checked.

    Parameters
    ----------
    datasets : {layer name: [h5py.Dataset]}, in the layer's weight order
    budget : int
        Bytes the arrays read may take, all layers together.
    path : str, for messages
    """

    def __init__(self, datasets: dict, budget: int, path: str):
        self.datasets, self.budget, self.path = datasets, budget, path
        self.bytes_read = 0

    def arrays(self, layer: str, expected: list, where: str) -> list:
        """The weight arrays of `layer`, read after their declared shapes
        matched `expected` [(label, shape)] and their bytes fit the budget
        (FormatError otherwise)."""
        datasets = self.datasets.get(layer, [])
        check_weights(f"{self.path!r}: {where}", expected, [d.shape for d in datasets],
                      FormatError)
        try:
            size = 0
            for (label, _), dataset in zip(expected, datasets):
                if dataset.dtype.kind != "f":
                    raise FormatError(f"{self.path!r}: {where} {label}: expected "
                                      f"floating-point weights, got dtype {dataset.dtype}")
                if dataset.external or dataset.is_virtual:
                    raise FormatError(f"{self.path!r}: {where} {label}: the dataset's data "
                                      "is outside the file (external or virtual): refused")
                values = math.prod(dataset.shape)
                if dataset.chunks is not None and math.prod(dataset.chunks) > max(values, 2**18):
                    raise FormatError(f"{self.path!r}: {where} {label}: chunks of "
                                      f"{dataset.chunks} for a dataset of {dataset.shape}")
                size += values * dataset.dtype.itemsize
            if self.bytes_read + size > self.budget:
                raise FormatError(f"{self.path!r}: {where}: its weights take {size} bytes, "
                                  f"past the {self.budget} bytes a file of this size may make "
                                  f"fastrnn read ({self.bytes_read} read already)")
            self.bytes_read += size
            return [np.asarray(dataset[()]) for dataset in datasets]
        except FormatError:
            raise
        except (OSError, RuntimeError, ValueError, TypeError, KeyError) as error:
            raise FormatError(f"{self.path!r}: {where}: its weights cannot be read "
                              f"({type(error).__name__}: {error})") from None


def _snake_case(name: str) -> str:
    """Keras' naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def saving_keys(class_names: list) -> list:
    """The keys a Keras 3 weights file gives layers of these classes, in
    model order: the snake-cased class name, then _1, _2, ... for the next
    layers of the same class."""
    keys, used = [], {}
    for class_name in class_names:
        key = _snake_case(class_name)
        keys.append(key if key not in used else f"{key}_{used[key] + 1}")
        used[key] = used.get(key, -1) + 1
    return keys


class KerasFile:
    """A ``.keras`` or legacy ``.h5`` file, open: ``config`` (the parsed
    model config, ``{"class_name": ..., "config": {...}}``) and ``weights``
    (a FileWeights, once told the layers). Use as a context manager.

    Parameters
    ----------
    path : str
    """

    def __init__(self, path: str):
        self.path = path
        self.budget = memory_budget(os.path.getsize(path))
        self._h5 = None
        try:
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    self.config = self._json(self._member(archive, "config.json",
                                                          self.budget // CONFIG_SHARE))
                    image = self._member(archive, "model.weights.h5",
                                         self.budget // WEIGHTS_SHARE)
                check_global_heaps(image, f"{path!r}: model.weights.h5")
                self._h5 = _h5py().File(io.BytesIO(image), "r")
                self.legacy = False
            else:
                with open(path, "rb") as raw, mmap.mmap(raw.fileno(), 0,
                                                        access=mmap.ACCESS_READ) as data:
                    check_global_heaps(data, repr(path))
                self._h5 = _h5py().File(path, "r")
                self.legacy = True
                self.config = self._json(self._attribute(self._h5, "model_config"))
        except FormatError:
            self.close()
            raise
        except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, RuntimeError,
                ValueError, KeyError, NotImplementedError) as error:
            # NotImplementedError: zipfile's unknown compression methods.
            self.close()
            raise FormatError(f"{path!r} is not a readable Keras model file "
                              f"({type(error).__name__}: {error})") from None

    def __enter__(self) -> "KerasFile":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def _member(self, archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise FormatError(f"{self.path!r}: the archive has no {name}, so it is not a "
                              "Keras 3 model file") from None
        if info.file_size > limit:
            raise FormatError(f"{self.path!r}: {name} declares {info.file_size} bytes, past "
                              f"the {limit} a file of this size may decompress to")
        with archive.open(info) as member:
            data = member.read(limit + 1)
        if len(data) > limit:
            raise FormatError(f"{self.path!r}: {name} decompresses past the {limit} bytes a "
                              "file of this size may decompress to")
        return data

    def _attribute(self, node: Any, name: str) -> Any:
        """An HDF5 attribute, read once its declared size fits the config's share."""
        if name not in node.attrs:
            raise FormatError(f"{self.path!r}: no {name!r} attribute: not a Keras model file "
                              "(a file of weights only has no config)")
        attribute = node.attrs.get_id(name)
        count = math.prod(attribute.shape or ())
        stored = attribute.get_storage_size() if count else 0    # HDF5 fails on empty ones
        limit = self.budget // CONFIG_SHARE
        if max(count * attribute.dtype.itemsize, stored) > limit:
            raise FormatError(f"{self.path!r}: attribute {name!r} declares more than the "
                              f"{limit} bytes a file of this size may hold")
        return node.attrs[name]

    def _json(self, data: Any) -> dict:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else str(data)
            config = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise FormatError(f"{self.path!r}: the model config is not readable JSON "
                              f"({type(error).__name__}: {error})") from None
        if not isinstance(config, dict):
            raise FormatError(f"{self.path!r}: the model config is a {type(config).__name__}, "
                              "expected a JSON object")
        return config

    def weights(self, layers: list) -> FileWeights:
        """The weights of `layers` [(class name, layer name)], in model order
        (the order the config lists them)."""
        datasets = {}
        try:
            if self.legacy:
                root = self._child(self._h5, "model_weights")
                root = self._h5 if root is None else root
                for _, name in layers:
                    datasets[name] = self._legacy_datasets(root, name)
            else:
                root = self._child(self._h5, "layers")
                keys = saving_keys([class_name for class_name, _ in layers])
                for (_, name), key in zip(layers, keys):
                    group = self._child(root, key) if root is not None else None
                    datasets[name] = [] if group is None else self._variables(group, name)
        except FormatError:
            raise
        except (OSError, RuntimeError, ValueError, TypeError, KeyError) as error:
            raise FormatError(f"{self.path!r}: the weights file is damaged "
                              f"({type(error).__name__}: {error})") from None
        return FileWeights(datasets, self.budget // WEIGHTS_SHARE, self.path)

    def _child(self, group: Any, name: str) -> Any:
        """group[name] when it is a hard link (None when absent); FormatError
        for a link that leaves the file or jumps within it."""
        h5py = _h5py()
        link = group.get(name, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise FormatError(f"{self.path!r}: {group.name}/{name} is an HDF5 "
                              f"{type(link).__name__}: only objects stored in the file are read")
        return group[name]

    def _legacy_datasets(self, root: Any, name: str) -> list:
        group = self._child(root, name)
        if group is None:
            return []
        names = self._attribute(group, "weight_names") if "weight_names" in group.attrs else []
        found = []
        for weight_name in np.atleast_1d(names):
            weight_name = weight_name.decode() if isinstance(weight_name, bytes) else weight_name
            node = group
            for part in str(weight_name).split("/"):
                node = self._child(node, part) if isinstance(node, _h5py().Group) else None
                if node is None:
                    raise FormatError(f"{self.path!r}: layer {name!r} names a weight "
                                      f"{weight_name!r} the file does not hold")
            found.append(node)
        return found

    def _variables(self, group: Any, name: str) -> list:
        """Every dataset ``.../vars/<n>`` under a layer's group: its own
        variables, then its sublayers' (a Bidirectional's forward layer
        before its backward one), each in order of n."""
        h5py = _h5py()
        found, pending, visited = [], [(group, "", 0)], 0
        while pending:
            node, prefix, depth = pending.pop()
            for child_name in node:
                visited += 1
                if visited > MAX_ENTRIES:
                    raise FormatError(f"{self.path!r}: layer {name!r} holds more than "
                                      f"{MAX_ENTRIES} HDF5 objects")
                child = self._child(node, child_name)
                path = prefix + child_name
                if isinstance(child, h5py.Group):
                    if depth >= MAX_GROUP_DEPTH:
                        raise FormatError(f"{self.path!r}: layer {name!r} nests groups more "
                                          f"than {MAX_GROUP_DEPTH} deep")
                    pending.append((child, path + "/", depth + 1))
                elif isinstance(child, h5py.Dataset) and prefix.endswith("vars/"):
                    if not (child_name.isascii() and child_name.isdigit()):
                        raise FormatError(f"{self.path!r}: layer {name!r} has a variable "
                                          f"named {path!r}, expected vars/<number>")
                    found.append((path, child))
        found.sort(key=lambda entry: ("backward" in entry[0], entry[0].count("/"),
                                      entry[0].rsplit("/", 1)[0], int(entry[0].rsplit("/", 1)[1])))
        return [dataset for _, dataset in found]
