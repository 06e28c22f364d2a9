"""A fast path for the commonest predict body: ``{"instances" | "inputs": <nested list of integers>}``.

A 28x28x1 image as JSON is 812 nested lists; building them as Python objects and then a NumPy array from
them costs far more than the model call. Bodies of this simple form (with an optional ``signature_name``)
are read straight into NumPy instead. The result is identical to :mod:`kerascnn.serving.json_codec`'s
(tests compare the two); whatever the fast path is not sure about - other keys, floats, strings, ragged
lists, odd spacing, invalid JSON - returns None and goes the general way, which also writes the error
messages.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from kerascnn.serving.json_codec import COLUMNAR, ROW, numeric_array
from kerascnn.serving.tensor_info import DEFAULT_SIGNATURE, NUMPY_DTYPES

_WS = rb"[ \t\r\n]*"  # JSON's whitespace (re's \s would also allow \f and \v)
_SIGNATURE = rb'"signature_name"' + _WS + rb":" + _WS + rb'"([A-Za-z0-9_.\-/]*)"'
_SIMPLE_BODY = re.compile(
    _WS
    + rb"\{"
    + _WS
    + rb"(?:"
    + _SIGNATURE
    + _WS
    + rb","
    + _WS
    + rb")?"
    + rb'"(instances|inputs)"'
    + _WS
    + rb":"
    + _WS
    + rb"(\[[0-9\-\[\], \t\r\n]*\])"
    + _WS
    + rb"(?:,"
    + _WS
    + _SIGNATURE
    + _WS
    + rb")?\}"
    + _WS
)
_SEPARATORS_TO_SPACE = bytes.maketrans(b"[],\t\r\n", b"      ")
_DIGITS = b"0123456789"
_NONZERO_TO_ONE = bytes.maketrans(b"123456789", b"111111111")
_LEADING_ZEROS = (b"[00", b"[01", b",00", b",01", b"-00", b"-01")
_INT64 = np.iinfo(np.int64)


def match_simple_request(body: bytes):
    """``(signature_name, "instances" | "inputs", array_text)`` for a simple integer request, else None."""
    match = _SIMPLE_BODY.fullmatch(body)
    if match is None:
        return None
    before, key, array_text, after = match.groups()
    name = after if after is not None else before
    return (name.decode() if name else DEFAULT_SIGNATURE), key.decode(), array_text


def decode_simple_inputs(key: str, array_text: bytes, inputs: dict):
    """The arrays :func:`decode_inputs` would return for a simple request, or None if unsure.

    Only for a single integer input whose dimensions after the first are known: the numbers are parsed
    by NumPy, and the bracket/comma skeleton of the text must equal that of a rectangular tensor of the
    signature's shape.
    """
    if len(inputs) != 1:
        return None
    ((name, info),) = inputs.items()
    if info.dtype not in NUMPY_DTYPES or NUMPY_DTYPES[info.dtype].kind not in "iu" or not info.shape:
        return None
    inner = info.shape[1:]
    if any(d is None for d in inner):
        return None
    spaced = array_text.translate(_SEPARATORS_TO_SPACE)
    if b"- " in spaced:  # a sign without its number ("- 1" would parse as -1)
        return None
    try:
        numbers = np.fromstring(spaced, dtype=np.int64, sep=" ")
    except ValueError:
        return None
    per_example = math.prod(inner)
    if numbers.size == 0 or per_example == 0 or numbers.size % per_example:
        return None
    shape = (numbers.size // per_example, *inner)
    compact = array_text.translate(None, b" \t\r\n")
    if compact.translate(None, _DIGITS + b"-") != _skeleton(shape):
        return None
    # Now every number sits in exactly one leaf slot of that skeleton: no slot is empty, a slot holding
    # only "-" was refused above, so N numbers fill N slots one each (a number anywhere else would
    # leave a slot empty). What remains is the spelling of each number.
    if b"[," in compact or b",," in compact or b",]" in compact or b"[]" in compact:
        return None
    ones = compact.translate(_NONZERO_TO_ONE)  # leading zeros ("007", "-01") are not JSON
    if any(pattern in ones for pattern in _LEADING_ZEROS):
        return None
    if numbers.max() == _INT64.max or numbers.min() == _INT64.min:  # NumPy clamps what int64 cannot hold
        return None
    where = f"'{key}' for input '{name}'"
    array = numeric_array(numbers.reshape(shape), info.dtype, NUMPY_DTYPES[info.dtype], where)
    return (ROW if key == "instances" else COLUMNAR), {name: array}


@functools.lru_cache(maxsize=64)
def _skeleton(shape: tuple) -> bytes:
    """The brackets and commas of a JSON tensor of ``shape`` with the numbers taken out."""
    text = b""
    for size in reversed(shape):
        text = b"[" + b",".join([text] * size) + b"]"
    return text
