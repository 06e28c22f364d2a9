"""TF Serving's JSON tensor formats, to and from NumPy (``tensorflow_serving/util/json_tensor.cc``).

A predict request names its tensors in one of two layouts:

* row (``"instances"``): a list with one entry per example. With a single named input an entry is that
  input's value; with several, an object ``{name: value}``. Entries are stacked along a new dimension 0.
* columnar (``"inputs"``): the whole batch at once, a tensor (single input) or ``{name: tensor}``.

Values for ``DT_STRING`` inputs are JSON strings or ``{"b64": "<base64>"}`` objects (binary data such as
encoded images). The answer mirrors the request: ``"predictions"`` for row requests (one entry per
example; an object per example when there are several outputs), ``"outputs"`` for columnar ones.

Bodies of the commonest simple form are read by :mod:`kerascnn.serving.json_fast_path` first; everything
else, and every error message, is this module's. Everything here is pure NumPy so it can be tested without
a model; validation errors are :class:`~kerascnn.serving.status.ServingError` (INVALID_ARGUMENT, HTTP 400)
with a message saying which value was wrong and what was expected.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math

import numpy as np

from kerascnn.serving.status import ServingError, invalid_argument
from kerascnn.serving.tensor_info import DEFAULT_SIGNATURE, NUMPY_DTYPES, TensorInfo  # noqa: F401 - re-exported

ROW = "row"
COLUMNAR = "columnar"


# ----------------------------------------------------------------------------------------------- requests


def parse_json(body: bytes) -> dict:
    """Parse a request body; ``NaN``, ``Infinity`` and ``-Infinity`` are accepted as in TF Serving."""
    if not body or not body.strip():
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except RecursionError:
        raise invalid_argument("JSON Parse error: the document is nested too deeply") from None
    except json.JSONDecodeError as e:
        raise invalid_argument(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise invalid_argument(f"JSON Parse error: the body is not UTF-8 text ({e})") from None
    if not isinstance(doc, dict):
        raise invalid_argument(f"JSON Value: {short_text(doc)} Is not object")
    return doc


def signature_name(doc: dict) -> str:
    """The request's ``signature_name``, ``serving_default`` when absent or empty."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {short_text(name)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name or DEFAULT_SIGNATURE


def decode_inputs(doc: dict, inputs: dict) -> tuple:
    """Turn a predict request into arrays for a signature's inputs.

    Args:
        doc: the parsed request object.
        inputs: the signature's ``{input name: TensorInfo}``.

    Returns:
        ``(request_format, {name: np.ndarray})`` where ``request_format`` is ``ROW`` or ``COLUMNAR``.

    Raises:
        ServingError: INVALID_ARGUMENT for anything that does not fit the signature.
    """
    if not inputs:
        raise invalid_argument("Failed to get input map for signature: the signature has no inputs")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise invalid_argument("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
    if has_instances:
        return ROW, _decode_instances(doc["instances"], inputs)
    if has_inputs:
        return COLUMNAR, _decode_columnar(doc["inputs"], inputs)
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named_object(value) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _decode_instances(instances, inputs: dict) -> dict:
    if not isinstance(instances, list):
        raise invalid_argument("Excepting 'instances' to be an list/array")
    if not instances:
        raise invalid_argument("No values in 'instances' array")
    names = sorted(inputs)
    if not _is_named_object(instances[0]):
        if len(names) > 1:
            raise invalid_argument(
                "instances is a plain list, but expecting list of objects as multiple input tensors required "
                f"as per tensorinfo_map (inputs: {', '.join(names)})"
            )
        for i, item in enumerate(instances):
            if _is_named_object(item):
                raise invalid_argument(f"Expecting value/list but got object at item {i} of input list")
        name = names[0]
        return {name: to_array(instances, inputs[name], f"'instances' for input '{name}'")}
    columns = {name: [] for name in names}
    for i, item in enumerate(instances):
        if not _is_named_object(item):
            raise invalid_argument(f"Expecting object but got list at item {i} of input list")
        if set(item) != set(names):
            raise invalid_argument(
                f"Failed to process element: {i} of 'instances' list. JSON object: {short_text(item)} keys must "
                f"be equal to: {','.join(names)}"
            )
        for name in names:
            columns[name].append(item[name])
    return {name: to_array(columns[name], inputs[name], f"'instances' for input '{name}'") for name in names}


def _decode_columnar(value, inputs: dict) -> dict:
    names = sorted(inputs)
    if not _is_named_object(value):
        if len(names) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required "
                f"as per tensorinfo_map (inputs: {', '.join(names)})"
            )
        return {names[0]: to_array(value, inputs[names[0]], f"'inputs' for input '{names[0]}'")}
    arrays = {}
    for name in names:
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = to_array(value[name], inputs[name], f"'inputs' for input '{name}'")
    return arrays


def to_array(value, info: TensorInfo, what: str = "value") -> np.ndarray:
    """Convert a JSON value (nested lists, numbers, strings, b64 objects) to an array fitting ``info``.

    Integers must be whole numbers within the dtype's range, floats must fit the dtype, strings may be
    plain text or ``{"b64": ...}``; the shape must match the signature's (unknown dimensions match any
    size).
    """
    target = info.numpy_dtype
    if info.dtype == "DT_STRING":
        array = _string_array(value, what)
    else:
        array = numeric_array(value, info.dtype, target, what)
    if not info.accepts_shape(array.shape):
        raise invalid_argument(
            f"{what} has shape [{','.join(map(str, array.shape))}] but the signature expects "
            f"{info.shape_text()} (-1 = any size)"
        )
    return array


def numeric_array(value, dtype_name: str, target: np.dtype, what: str) -> np.ndarray:
    try:
        array = value if isinstance(value, np.ndarray) else np.array(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise invalid_argument(
            f"{what} is not a tensor: every list at one nesting level must have the same length"
        ) from None
    kind = array.dtype.kind
    if kind in "iuf" and target.kind != "b" and not isinstance(value, np.ndarray) and _has_bool(value):
        # Python's True is the integer 1: NumPy would turn [0, true] into [0, 1] without a word.
        raise invalid_argument(f"{what}: JSON value true/false is not of expected type: {dtype_name}")
    if array.size == 0 and kind in "iufb":
        return array.astype(target)  # an empty list: its shape, not its (float) dtype, is what's wrong
    if target.kind in "iu":
        if kind not in "iu":
            raise invalid_argument(
                f"{what}: JSON value {_example(array)} is not of expected type: {dtype_name} "
                f"(whole numbers from {np.iinfo(target).min} to {np.iinfo(target).max})"
            )
        if array.size:
            low, high = int(array.min()), int(array.max())
            info = np.iinfo(target)
            if low < info.min or high > info.max:
                bad = low if low < info.min else high
                raise invalid_argument(
                    f"{what}: JSON value {bad} is out of range for {dtype_name} ({info.min} to {info.max})"
                )
        return array.astype(target, copy=False)
    if target.kind == "f":
        if kind not in "iuf":
            raise invalid_argument(f"{what}: JSON value {_example(array)} is not of expected type: {dtype_name}")
        with np.errstate(over="ignore", invalid="ignore"):
            converted = array.astype(target)
        if kind == "f" and array.size and bool(np.any(np.isinf(converted) & np.isfinite(array))):
            raise invalid_argument(
                f"{what}: a JSON value cannot be converted to {dtype_name} without loss of precision (too large)"
            )
        return converted
    if target.kind == "b":
        if kind != "b":
            raise invalid_argument(f"{what}: JSON value {_example(array)} is not of expected type: {dtype_name}")
        return array
    raise ServingError("UNIMPLEMENTED", f"Conversion of JSON values to type {dtype_name} is not supported")


def _has_bool(value) -> bool:
    """True when a (nested) JSON list holds ``true`` or ``false`` anywhere."""
    if not isinstance(value, list):
        return isinstance(value, bool)
    if value and isinstance(value[0], list):
        if value[0] and not isinstance(value[0][0], list):  # a list of rows of numbers: one set per row list
            try:
                types = set(map(type, itertools.chain.from_iterable(value)))
            except TypeError:  # not all rows are lists (a ragged tensor, refused later)
                return any(map(_has_bool, value))
            return bool in types or list in types and any(map(_has_bool, value))
        return any(map(_has_bool, value))
    types = set(map(type, value))
    return bool in types or list in types and any(map(_has_bool, value))


def _example(array: np.ndarray) -> str:
    """The first element that is not a whole number (for error messages), else the first one."""
    flat = array.reshape(-1)
    if array.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(flat) | (flat != np.floor(flat)))
        return short_text(float(flat[bad[0]] if bad.size else flat[0])) if flat.size else "[]"
    if not flat.size:
        return "[]"
    return short_text(flat[0].item() if hasattr(flat[0], "item") else flat[0])


def _string_array(value, what: str) -> np.ndarray:
    leaves = _string_leaves(value, what, depth=0)
    if not isinstance(leaves, list):
        array = np.empty((), dtype=object)
        array[()] = leaves
        return array
    try:
        shape = _nested_shape(leaves)
        array = np.empty(shape, dtype=object)
        flat = list(_flatten(leaves, len(shape)))
        if len(flat) != array.size:
            raise ValueError
        array.reshape(-1)[:] = flat
    except (ValueError, TypeError):
        raise invalid_argument(
            f"{what} is not a tensor: every list at one nesting level must have the same length"
        ) from None
    return array


def _string_leaves(value, what, depth):
    if depth > 64:
        raise invalid_argument(f"{what} is nested too deeply")
    if isinstance(value, list):
        return [_string_leaves(v, what, depth + 1) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict):
        if not _is_b64(value):
            raise invalid_argument(f"{what}: JSON Value: {short_text(value)} not formatted correctly for base64 data")
        return decode_b64(value["b64"], what)
    raise invalid_argument(f"{what}: JSON value {short_text(value)} is not of expected type: DT_STRING")


def decode_b64(text: str, what: str = "value") -> bytes:
    """Decode standard or URL-safe base64, with or without padding."""
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.b64decode(padded, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise invalid_argument(f"{what}: Unable to base64 decode") from None


def _nested_shape(value) -> tuple:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _flatten(value, levels):
    if levels == 0:
        if isinstance(value, list):
            raise ValueError("ragged")
        yield value
        return
    if not isinstance(value, list):
        raise ValueError("ragged")
    for v in value:
        yield from _flatten(v, levels - 1)


# ---------------------------------------------------------------------------------------------- responses


def encode_outputs(outputs: dict, request_format: str) -> dict:
    """The JSON answer for a signature's output arrays, in the layout of the request.

    Row requests get ``{"predictions": [...]}`` with one entry per example (an object per example when
    there are several outputs); columnar ones ``{"outputs": tensor}`` or ``{"outputs": {name: tensor}}``.
    String outputs whose name ends in ``_bytes`` are returned as ``{"b64": ...}``.
    """
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    if request_format == ROW:
        batch = None
        for name in names:
            array = np.asarray(outputs[name])
            if array.ndim == 0:
                raise invalid_argument(f"Tensor name: {name} has no shape information ")
            if batch is not None and array.shape[0] != batch:
                raise invalid_argument(
                    f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
                )
            batch = array.shape[0]
        columns = [to_json_value(name, outputs[name]) for name in names]
        if len(names) == 1:
            return {"predictions": columns[0]}
        return {"predictions": [dict(zip(names, row)) for row in zip(*columns)]}
    if len(names) == 1:
        return {"outputs": to_json_value(names[0], outputs[names[0]])}
    return {"outputs": {name: to_json_value(name, outputs[name]) for name in names}}


def to_json_value(name: str, array) -> object:
    """An output array as nested lists of JSON values (bytes as text, or b64 for ``*_bytes`` outputs)."""
    array = np.asarray(array)
    if array.dtype.kind in "OSU":
        as_b64 = name.endswith("_bytes")
        return _map_leaves(array.tolist(), lambda v: _bytes_to_json(v, as_b64))
    return array.tolist()


def _bytes_to_json(value, as_b64: bool):
    if isinstance(value, str):
        value = value.encode("utf-8")
    if as_b64:
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value.decode("utf-8", errors="replace")


def _map_leaves(value, fn):
    if isinstance(value, list):
        return [_map_leaves(v, fn) for v in value]
    return fn(value)


def dumps(obj) -> bytes:
    """Compact JSON; NaN and infinities are written as TF Serving writes them (``NaN``, ``Infinity``)."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def short_text(value, limit: int = 80) -> str:
    try:
        if isinstance(value, float) and not math.isfinite(value):
            text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        else:
            text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
