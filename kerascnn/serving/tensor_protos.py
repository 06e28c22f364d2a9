"""``tensorflow.TensorProto`` <-> NumPy for the gRPC API, with TF's own rules and TF Serving's errors.

A request tensor is read the way ``Tensor::FromProto`` reads it: ``tensor_content`` (raw little-endian
bytes, what ``tf.make_tensor_proto`` writes for numbers) or the typed field of its dtype (``float_val``,
``int_val``, ``int64_val``, ``string_val``, ...); with fewer typed values than elements the last one is
repeated, with none the tensor is zeros. Anything that does not parse is ``INVALID_ARGUMENT: tensor
parsing error: <alias>``, as TF Serving says. The size a proto claims is checked before anything is
allocated, strings included, so a 52-byte message cannot ask for gigabytes: the bound is the memory
the decoded tensor would take (:func:`decoded_bytes`), never more than the server's request limit.

Answers are written as TF Serving writes them by default (``AsProtoField``): typed fields, not
``tensor_content``, so clients that read ``outputs["scores"].float_val`` (TF Serving's own examples) work
as well as ``tf.make_ndarray``.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from kerascnn.serving.status import invalid_argument
from kerascnn.serving.tensor_info import NUMPY_DTYPES

# dtype name -> the TensorProto field holding its values (Tensor::AsProtoField's choice).
TYPED_FIELDS = {
    "DT_FLOAT": "float_val",
    "DT_DOUBLE": "double_val",
    "DT_INT32": "int_val",
    "DT_INT16": "int_val",
    "DT_INT8": "int_val",
    "DT_UINT8": "int_val",
    "DT_UINT16": "int_val",
    "DT_INT64": "int64_val",
    "DT_UINT32": "uint32_val",
    "DT_UINT64": "uint64_val",
    "DT_BOOL": "bool_val",
    "DT_HALF": "half_val",
    "DT_STRING": "string_val",
}
_ENUM = {name: types_pb2.DataType.Value(name) for name in TYPED_FIELDS}
DTYPE_NAMES = {value: name for name, value in _ENUM.items()}
_NUMPY_TO_NAME = {np.dtype(v): k for k, v in NUMPY_DTYPES.items() if k != "DT_STRING"}
# Memory per string element once decoded: a NumPy object pointer (8 bytes) and TensorFlow's tstring (24),
# even when the element repeats the last value sent (Tensor::FromProto's rule) and costs nothing on the wire.
STRING_ELEMENT_BYTES = 32


def short_dtype(name: str) -> str:
    """``DT_UINT8`` -> ``uint8``, as TF's error messages name types."""
    return {"DT_STRING": "string", "DT_HALF": "half", "DT_BOOL": "bool"}.get(name, name[3:].lower())


def to_array(proto: tensor_pb2.TensorProto, alias: str, max_bytes: int) -> np.ndarray:
    """The array a request TensorProto holds.

    Args:
        proto: the request tensor.
        alias: its input name (for the error message).
        max_bytes: refuse tensors whose elements would take more memory than this.

    Raises:
        ServingError: INVALID_ARGUMENT ``tensor parsing error: <alias>`` (with the reason after it).
    """
    name = DTYPE_NAMES.get(proto.dtype)
    if name is None:
        kind = types_pb2.DataType.Name(proto.dtype) if proto.dtype in types_pb2.DataType.values() else proto.dtype
        raise invalid_argument(f"tensor parsing error: {alias} (dtype {kind} is not supported)")
    if proto.tensor_shape.unknown_rank:
        raise invalid_argument(f"tensor parsing error: {alias} (the shape has an unknown rank)")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise invalid_argument(f"tensor parsing error: {alias} (negative dimension in shape {list(shape)})")
    count = math.prod(shape)
    dtype = NUMPY_DTYPES[name]
    if decoded_bytes(proto, name, count) > max_bytes:
        raise invalid_argument(
            f"tensor parsing error: {alias} (shape {list(shape)} of {short_dtype(name)} is larger than the "
            f"server's limit of {max_bytes} bytes)"
        )
    if name == "DT_STRING":
        return _strings(proto.string_val, shape, count, alias)
    if proto.tensor_content:
        content = proto.tensor_content
        if len(content) != count * dtype.itemsize:
            raise invalid_argument(
                f"tensor parsing error: {alias} (tensor_content has {len(content)} bytes; shape {list(shape)} "
                f"of {short_dtype(name)} needs {count * dtype.itemsize})"
            )
        return np.frombuffer(content, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(shape)
    values = getattr(proto, TYPED_FIELDS[name])
    n = len(values)
    if n > count:
        raise invalid_argument(
            f"tensor parsing error: {alias} ({n} values in {TYPED_FIELDS[name]} for shape {list(shape)})"
        )
    if name == "DT_HALF":
        flat = np.array(values, dtype=np.uint16).view(np.float16) if n else np.zeros(0, np.float16)
    else:
        try:
            flat = np.array(values, dtype=dtype) if n else np.zeros(0, dtype)
        except OverflowError:
            raise invalid_argument(
                f"tensor parsing error: {alias} (a value is out of range for {short_dtype(name)})"
            ) from None
        if n and dtype.kind in "iu":  # int_val is int32 on the wire for every narrow type: check the range
            wide = np.asarray(values, dtype=np.int64)
            info = np.iinfo(dtype)
            if wide.min() < info.min or wide.max() > info.max:
                raise invalid_argument(
                    f"tensor parsing error: {alias} (a value is out of range for {short_dtype(name)})"
                )
    return _fill(flat, count, dtype).reshape(shape)


def decoded_bytes(proto: tensor_pb2.TensorProto, name: str, count: int) -> int:
    """The memory ``count`` elements of dtype ``name`` take once decoded, from the claim alone (nothing allocated).

    Strings count :data:`STRING_ELEMENT_BYTES` each, plus the bytes of the last value for every element
    that repeats it (TensorFlow copies it into each); the values actually sent are in the message already.
    """
    if name != "DT_STRING":
        return count * NUMPY_DTYPES[name].itemsize
    values = proto.string_val
    repeated = (count - len(values)) * len(values[-1]) if values and count > len(values) else 0
    return count * STRING_ELEMENT_BYTES + repeated


def _fill(flat: np.ndarray, count: int, dtype) -> np.ndarray:
    """Tensor::FromProto's rule: no values -> zeros; fewer than needed -> the last value repeated."""
    if flat.size == count:
        return flat
    if flat.size == 0:
        return np.zeros(count, dtype)
    return np.concatenate([flat, np.full(count - flat.size, flat[-1], dtype=flat.dtype)])


def _strings(values, shape: tuple, count: int, alias: str) -> np.ndarray:
    n = len(values)
    if n > count:
        raise invalid_argument(f"tensor parsing error: {alias} ({n} values in string_val for shape {list(shape)})")
    array = np.empty(count, dtype=object)
    if n:
        array[:n] = list(values)
        array[n:] = values[-1]
    else:
        array[:] = b""
    return array.reshape(shape)


def fill(proto: tensor_pb2.TensorProto, array) -> None:
    """Write ``array`` into an empty TensorProto in place (e.g. ``response.outputs[name]``)."""
    array = np.asarray(array)
    if array.dtype.kind in "OSU":
        name = "DT_STRING"
    else:
        name = _NUMPY_TO_NAME.get(array.dtype)
        if name is None:
            raise invalid_argument(f"Cannot return a tensor of type {array.dtype}")
    proto.dtype = _ENUM[name]
    dims = proto.tensor_shape.dim
    for d in array.shape:
        dims.add().size = d
    flat = array.reshape(-1)
    field = getattr(proto, TYPED_FIELDS[name])
    if name == "DT_STRING":
        field.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat.tolist())
    elif name == "DT_HALF":
        field.extend(flat.view(np.uint16).tolist())
    else:
        field.extend(flat.tolist())
