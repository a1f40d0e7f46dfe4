"""Reading ONNX files: the model (its IR and opset versions checked, a file
that is not a ModelProto a FormatError), tensors as read-only NumPy arrays
(their sizes checked before anything is read), attributes as Python values,
the element-type table, and each node's input types checked against its
operator's type constraints.

Every size a file declares is checked against ``MAX_TENSOR_BYTES`` (4 GiB)
and ``MAX_TENSOR_ELEMENTS`` (2**31) before an array of that size exists: a
corrupt or hostile file raises ValueError instead of exhausting memory.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ...errors import FormatError

MAX_TENSOR_BYTES = 2**32          # 4 GiB: one tensor, declared or computed
MAX_TENSOR_ELEMENTS = 2**31       # elements of one tensor (int32 indexing in C kernels)
STANDARD_DOMAINS = ("", "ai.onnx")
FIRST_IR_VERSION = 3              # ONNX 1.0: the first IR with opset imports


def onnx_package():
    """The onnx module, or ImportError saying how to install it."""
    try:
        import onnx
        import onnx.numpy_helper
        import onnx.shape_inference
    except ImportError as error:
        raise ImportError("reading ONNX models needs the onnx package: "
                          "pip install 'fastrnn[onnx]'") from error
    return onnx


def check_size(shape: tuple, dtype: Any, where: str) -> None:
    """ValueError naming `where` if a tensor of `shape` and `dtype` would
    exceed MAX_TENSOR_ELEMENTS or MAX_TENSOR_BYTES (or has a negative size)."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise ValueError(f"{where}: a tensor of shape {tuple(dims)} (negative size)")
    elements = 1
    for d in dims:
        elements *= d                      # Python ints: no overflow
    nbytes = elements * np.dtype(dtype).itemsize
    if elements > MAX_TENSOR_ELEMENTS or nbytes > MAX_TENSOR_BYTES:
        raise ValueError(f"{where}: a tensor of shape {tuple(dims)} ({nbytes / 2**30:.3g} GiB) "
                         f"exceeds fastrnn's bound of {MAX_TENSOR_ELEMENTS} elements and "
                         f"{MAX_TENSOR_BYTES // 2**30} GiB per tensor")


@contextmanager
def file_errors() -> Iterator[None]:
    """Inside: a ValueError is about what the file holds (an inconsistent
    or oversized graph) and leaves as a FormatError with its message."""
    try:
        yield
    except FormatError:
        raise
    except ValueError as error:
        raise FormatError(str(error)) from error


def load_model(path_or_bytes: Any):
    """The ModelProto of a path, of serialized bytes or of a ModelProto.

    Raises FormatError for bytes that are not a serialized ModelProto
    (truncated, damaged), ValueError for an IR version before 3 or newer
    than the installed onnx package knows, or an opset of the standard
    domain newer than it knows.
    """
    onnx = onnx_package()
    from google.protobuf.message import DecodeError
    try:
        if isinstance(path_or_bytes, onnx.ModelProto):
            model = path_or_bytes
        elif isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            model = onnx.load_from_string(bytes(path_or_bytes))
        else:
            model = onnx.load(os.fspath(path_or_bytes))
    except DecodeError as error:
        raise FormatError(f"not an ONNX model (truncated or damaged?): {error}") from None
    if model.ir_version > onnx.IR_VERSION:
        raise ValueError(f"the model has IR version {model.ir_version}; the installed onnx "
                         f"{onnx.__version__} knows up to {onnx.IR_VERSION}")
    if model.ir_version < FIRST_IR_VERSION:
        raise ValueError(f"the model has IR version {model.ir_version}; fastrnn reads IR "
                         f"versions {FIRST_IR_VERSION} (ONNX 1.0) to {onnx.IR_VERSION}")
    known = onnx.defs.onnx_opset_version()
    for opset in model.opset_import:
        if opset.domain in STANDARD_DOMAINS and not 1 <= opset.version <= known:
            raise ValueError(f"the model imports opset {opset.version} of the default domain; "
                             f"the installed onnx {onnx.__version__} knows 1 to {known}")
    return model


def model_opset(model) -> int:
    """The opset version the model imports for the default domain."""
    versions = [o.version for o in model.opset_import if o.domain in STANDARD_DOMAINS]
    if not versions:
        raise ValueError("the model imports no opset of the default ONNX domain")
    return max(versions)


@functools.lru_cache(maxsize=None)
def numpy_dtype(elem_type: int) -> np.dtype:
    """The NumPy dtype of an ONNX TensorProto element type (ValueError for
    a number that is no element type); kept per type: a Cast run per call
    asks for it every time."""
    onnx = onnx_package()
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except KeyError:
        raise ValueError(f"element type {elem_type} is not an ONNX tensor type") from None


def ort_type(elem_type: int) -> str:
    """ONNX Runtime's type string of an element type: 'tensor(float)', ..."""
    onnx = onnx_package()
    name = onnx.TensorProto.DataType.Name(elem_type).lower()
    return "tensor(" + {"float": "float", "double": "double", "string": "string"}.get(
        name, name) + ")"


def tensor_array(tensor, where: str) -> np.ndarray:
    """A TensorProto as a read-only NumPy array, its declared size checked
    against the bound and against the data it carries before conversion."""
    onnx = onnx_package()
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raise NotImplementedError(f"{where}: tensor {tensor.name!r} has external data "
                                  "(load the model with its data files, e.g. onnx.load)")
    if tensor.data_type == onnx.TensorProto.UNDEFINED:
        raise ValueError(f"{where}: tensor {tensor.name!r} has no element type (UNDEFINED)")
    dtype = numpy_dtype(tensor.data_type)
    check_size(tuple(tensor.dims), dtype if dtype.kind != "O" else np.uint8, where)
    elements = int(np.prod(tensor.dims, dtype=object)) if len(tensor.dims) else 1
    if tensor.HasField("raw_data") and dtype.kind != "O":
        itemsize = dtype.itemsize
        if tensor.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4,
                                onnx.TensorProto.FLOAT4E2M1):
            itemsize = 0.5
        if len(tensor.raw_data) < elements * itemsize:
            raise ValueError(f"{where}: tensor {tensor.name!r} declares shape "
                             f"{tuple(tensor.dims)} but carries {len(tensor.raw_data)} bytes")
    array = onnx.numpy_helper.to_array(tensor)
    array.flags.writeable = False
    return array


def attribute_values(attributes, where: str) -> dict:
    """{name: value} of AttributeProtos: tensors as read-only arrays, strings
    as str, graphs as GraphProto (the IR builds them), lists as tuples."""
    onnx = onnx_package()
    values = {}
    for attribute in attributes:
        if attribute.ref_attr_name:
            raise NotImplementedError(f"{where}: attribute {attribute.name!r} refers to a "
                                      "function attribute (ONNX functions are not supported)")
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = tensor_array(value, where)
        elif isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list):
            value = tuple(v.decode() if isinstance(v, bytes) else
                          tensor_array(v, where) if isinstance(v, onnx.TensorProto) else v
                          for v in value)
        values[attribute.name] = value
    return values


def node_attributes(node) -> dict:
    """{name: value} of a NodeProto's attributes (tensors as NumPy arrays)."""
    return attribute_values(node.attribute, f"ONNX node {node.name or node.output[0]!r}")


def initializers(graph) -> dict:
    """{name: read-only array} of a GraphProto's initializers."""
    return {t.name: tensor_array(t, f"initializer {t.name!r}") for t in graph.initializer}


def schema_defaults(op: str, opset: int, where: str) -> tuple[int, dict, set, set]:
    """(since_version, {attribute: default}, required attribute names, all
    attribute names) of the standard operator `op` as opset `opset` defines
    it."""
    onnx = onnx_package()
    try:
        schema = onnx.defs.get_schema(op, opset, "")
    except onnx.defs.SchemaError:
        raise NotImplementedError(f"{where}: operator {op!r} does not exist in opset "
                                  f"{opset} of the default domain") from None
    defaults, required = {}, set()
    for name, attribute in schema.attributes.items():
        if attribute.required:
            required.add(name)
        elif attribute.default_value.type:
            defaults.update(attribute_values([attribute.default_value], where))
            if attribute.default_value.name != name:     # the proto carries its own name
                defaults[name] = defaults.pop(attribute.default_value.name)
    return schema.since_version, defaults, required, set(schema.attributes)


def check_inputs(op: str, opset: int, names: list[str], elem_types: list[int],
                 where: str) -> None:
    """ValueError naming `where` if a node's inputs break its operator's
    schema in `opset`: too few or too many, a required one left empty, or
    element types (0: unknown, skipped) the operator does not take or that
    differ within one type parameter (an LSTM's X, W, R, B...)."""
    onnx = onnx_package()
    schema = onnx.defs.get_schema(op, opset, "")
    if not schema.min_input <= len(names) <= schema.max_input:
        raise ValueError(f"{where} ({op}): {len(names)} inputs; {op}-{schema.since_version} "
                         f"takes {schema.min_input} to {schema.max_input}")
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    formals = list(schema.inputs)
    variadic = bool(formals) and formals[-1].option == formals[-1].option.Variadic
    bound: dict[str, tuple[str, str]] = {}
    for index, elem_type in enumerate(elem_types):
        formal = formals[min(index, len(formals) - 1)]
        name = formal.name if index < len(formals) else \
            f"{formal.name}[{index - len(formals) + 1}]"
        if formal.option == formal.option.Single and not names[index]:
            raise ValueError(f"{where} ({op}): input {name} is required but left empty")
        if not elem_type:
            continue
        given = ort_type(elem_type)
        choices = allowed.get(formal.type_str, {formal.type_str})
        if given not in choices:
            raise ValueError(f"{where} ({op}): input {name} is {given}; {op}-"
                             f"{schema.since_version} takes {sorted(choices)} there")
        if formal.type_str in allowed and (index < len(formals) - variadic
                                           or formal.is_homogeneous):
            first_name, first_type = bound.setdefault(formal.type_str, (name, given))
            if first_type != given:
                raise ValueError(f"{where} ({op}): input {name} is {given} but {first_name} "
                                 f"is {first_type} (both of type {formal.type_str})")
