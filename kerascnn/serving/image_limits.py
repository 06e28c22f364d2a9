"""Refuse encoded images that would decode to too many pixels, before any model decodes them.

A 400 KB PNG can hold 20000x20000 pixels: 400 MB once decoded (1.2 GB in RGB), and the allocator keeps
much of it afterwards. String inputs that start like a PNG, JPEG, GIF or BMP file - a ``serving_bytes``
request's images, or the bytes features of a Classify/Regress request's tf.Examples - have their size
read from the file header (Pillow reads only the header) and are refused with INVALID_ARGUMENT when
width x height exceeds the limit (``kerascnn serve --max-image-pixels``, by default Pillow's own
``MAX_IMAGE_PIXELS``). Anything else is left to the model, whose decoder reports its own errors.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from kerascnn.serving.status import invalid_argument

DEFAULT_MAX_PIXELS = 89_478_485  # PIL.Image.MAX_IMAGE_PIXELS: 0.25 GB of RGB
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def image_size(data: bytes):
    """``(width, height)`` from an encoded image's header, or None if it is not an image Pillow knows."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # we judge the size ourselves
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.size
        except Exception:  # noqa: BLE001 - not an image (or a broken one): the model's decoder will say so
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def check_image_bytes(data: bytes, max_pixels: int, what: str) -> None:
    if not isinstance(data, bytes) or not data.startswith(_SIGNATURES):
        return
    size = image_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise invalid_argument(
            f"{what} is a {size[0]}x{size[1]} image ({size[0] * size[1]:,} pixels), more than this server's limit "
            f"of {max_pixels:,} pixels (kerascnn serve --max-image-pixels)"
        )


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
