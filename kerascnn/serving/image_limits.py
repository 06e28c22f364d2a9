"""Refuse encoded images the image rule refuses, before any model decodes them.

A 400 KB PNG can hold 20000x20000 pixels: 400 MB once decoded (1.2 GB in RGB), and the allocator keeps
much of it afterwards. String inputs that start like a PNG, JPEG, GIF or BMP file - a ``serving_bytes``
request's images, or the bytes features of a Classify/Regress request's tf.Examples - are checked from
their header alone (Pillow reads only the header) by :mod:`kerascnn.data.image_policy`, the rule that
``kerascnn predict`` and training folders follow too: more pixels than the limit (``kerascnn serve
--max-image-pixels``), transparency, 16-bit or CMYK is INVALID_ARGUMENT. Anything else is left to the
model, whose decoder reports its own errors.
"""

from __future__ import annotations

import numpy as np

from kerascnn.data.image_policy import DEFAULT_MAX_PIXELS, inspect  # noqa: F401  (the default: 40 million, as everywhere)
from kerascnn.errors import DataError
from kerascnn.serving.status import invalid_argument

_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def check_image_bytes(data: bytes, max_pixels: int, what: str) -> None:
    if not isinstance(data, bytes) or not data.startswith(_SIGNATURES):
        return
    try:
        inspect(data, what, max_pixels=max_pixels)
    except DataError as e:
        raise invalid_argument(str(e)) from None


def check_string_inputs(arrays: dict, max_pixels: int) -> None:
    """Check every encoded image among a request's string inputs."""
    for name, array in arrays.items():
        if array.dtype == object:
            for i, value in enumerate(np.asarray(array).reshape(-1)):
                check_image_bytes(value, max_pixels, f"Input '{name}' element {i}")


def check_examples(serialized: list, max_pixels: int) -> None:
    """Parse serialized tf.Examples (INVALID_ARGUMENT if one does not parse) and check their images."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.example import example_pb2

    for i, data in enumerate(serialized):
        try:
            example = example_pb2.Example.FromString(data)
        except DecodeError:
            raise invalid_argument(f"Could not parse example input, value: example {i} is not a tf.Example") from None
        for key, feature in example.features.feature.items():
            if feature.WhichOneof("kind") == "bytes_list":
                for value in feature.bytes_list.value:
                    check_image_bytes(value, max_pixels, f"Example {i} feature '{key}'")
