"""One rule for every encoded image kerascnn decodes: training folders, ``kerascnn predict`` and the server.

Accepted: PNG, JPEG, GIF and BMP holding 8-bit grayscale (``L``, and 1-bit ``1`` read as ``L``) or 8-bit
RGB (``RGB``); palette ``P`` images without transparency are read as RGB (as grayscale when the palette
holds only grays). Refused, with one line saying
why and what to do: an alpha channel (``LA``, ``RGBA``, a palette with transparency: there is no single
right way to drop it, a transparent background can be black or white), more than 8 bits per channel
(16-bit PNG, 32-bit or float TIFF-like modes: scaling them down is a choice the user should make), CMYK
and any other mode. The same rule holds for the server's ``serving_bytes`` input and for ``kerascnn
predict``. Class folders of training images are as forgiving as Keras' ``image_dataset_from_directory``
and torchvision's ``ImageFolder`` (``inspect(..., convertible=True)``): alpha is composited on
``ALPHA_BACKGROUND`` (white) and 16-bit PNGs keep their high byte, as TensorFlow's decoder does; CMYK and
the other modes are refused there too.

Decompression bombs: the pixel count is read from the file's header (Pillow's ``Image.open`` parses
only the header; pixels are decoded later, by ``load``) and an image over the limit is refused before
any pixel is decoded: a 400 KB PNG can hold 20000x20000 pixels (1.2 GB as RGB). The limit is
``DEFAULT_MAX_PIXELS`` (40 million: any camera photo up to 40 megapixels), changed for the whole
process with :func:`set_max_pixels`, the ``KERASCNN_MAX_IMAGE_PIXELS`` environment variable, or the
``--max-image-pixels`` flag of ``kerascnn predict`` and ``kerascnn serve``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import threading
from pathlib import Path

import numpy as np

from kerascnn.errors import DataError

DEFAULT_MAX_PIXELS = 40_000_000
ALPHA_BACKGROUND = 255  # training folders composite transparent pixels on white (paper, web pages)
ENV_MAX_PIXELS = "KERASCNN_MAX_IMAGE_PIXELS"
FORMATS = ("PNG", "JPEG", "GIF", "BMP")
_ACCEPTED_MODES = ("L", "RGB", "1", "P")  # 1 -> L, P (without transparency) -> RGB
_ALPHA_MODES = {"LA": 2, "La": 2, "PA": 2, "RGBA": 4, "RGBa": 4}
_DEEP_MODES = {
    "I;16": "16-bit",
    "I;16B": "16-bit",
    "I;16L": "16-bit",
    "I;16N": "16-bit",
    "I": "32-bit",
    "F": "32-bit float",
}

MAX_PIXELS_HELP = (
    f"refuse images with more pixels (width x height) than this, read from their header before "
    f"decoding (default: ${ENV_MAX_PIXELS} or {DEFAULT_MAX_PIXELS:,})"
)

_max_pixels: int | None = None  # set_max_pixels; None: the environment variable or the default


def max_pixels() -> int:
    """The largest number of pixels (width x height) an image may have."""
    if _max_pixels is not None:
        return _max_pixels
    text = os.environ.get(ENV_MAX_PIXELS, "").strip()
    if text:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise DataError(f"{ENV_MAX_PIXELS} must be a positive whole number of pixels. Received: {text!r}")
        return value
    return DEFAULT_MAX_PIXELS


def set_max_pixels(limit: int | None) -> None:
    """Set the pixel limit for this process (None: back to the environment variable or the default)."""
    global _max_pixels
    if limit is not None and int(limit) < 1:
        raise DataError(f"The image pixel limit must be at least 1. Received: {limit}")
    _max_pixels = None if limit is None else int(limit)


@contextlib.contextmanager
def pixel_limit(limit: int | None):
    """Set the pixel limit while the block runs (None: leave it as it is), then restore the previous one."""
    global _max_pixels
    saved = _max_pixels
    if limit is not None:
        set_max_pixels(limit)
    try:
        yield
    finally:
        _max_pixels = saved


@dataclasses.dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, read without decoding its pixels."""

    format: str  # PNG, JPEG, GIF, BMP
    width: int
    height: int
    channels: int  # after the accepted conversions: 1 (grayscale) or 3 (RGB)


_PILLOW_LIMIT_LOCK = threading.Lock()


def _open(source):
    """A lazily opened Pillow image (header parsed, pixels not decoded) of a path or bytes."""
    from PIL import Image

    data = source if isinstance(source, Path) else io.BytesIO(bytes(source))
    # Pillow's own bomb check (at 89M pixels, an error at twice that) runs inside open and knows nothing
    # of our limit; ours runs right after, on the header's size, so switch Pillow's off meanwhile.
    with _PILLOW_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(data, formats=FORMATS)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _too_many_pixels(what: str, width: int, height: int, limit: int) -> DataError:
    return DataError(
        f"{what} is {width}x{height} = {width * height:,} pixels, over the limit of {limit:,}; "
        f"refused without decoding it. Resize it first, or raise the limit (--max-image-pixels, "
        f"{ENV_MAX_PIXELS})."
    )


def _check(img, what: str, limit: int | None, convertible: bool = False) -> ImageHeader:
    width, height = img.size
    limit = limit or max_pixels()
    if width * height > limit:
        raise _too_many_pixels(what, width, height, limit)
    if width < 1 or height < 1:
        raise DataError(f"{what} has no pixels ({width}x{height}).")
    mode = img.mode
    if mode == "P" and ("transparency" in img.info or img.palette is not None and img.palette.mode == "RGBA"):
        mode = "PA"
    if convertible and (mode in _ALPHA_MODES or mode in _DEEP_MODES and img.format == "PNG"):
        # training folders: alpha is composited on ALPHA_BACKGROUND, 16 bits become 8 (the high byte)
        gray = mode in ("LA", "La") or mode.startswith("I") or mode == "PA" and _gray_palette(img)
        return ImageHeader(img.format, width, height, 1 if gray else 3)
    if mode in _ALPHA_MODES:
        raise DataError(
            f"{what} has {_ALPHA_MODES[mode]} channels ({mode}); kerascnn takes grayscale (1) or "
            "RGB (3) images. Convert it first (e.g. flatten transparency onto the background your training "
            "images had)."
        )
    if mode in _DEEP_MODES:
        raise DataError(
            f"{what} is a {_DEEP_MODES[mode]} image ({mode}); kerascnn takes 8-bit grayscale or RGB. "
            "Convert it to 8 bits first."
        )
    if mode not in _ACCEPTED_MODES:
        raise DataError(f"{what} is a {mode} image; kerascnn takes 8-bit grayscale or RGB. Convert it first.")
    gray = mode in ("L", "1") or mode == "P" and _gray_palette(img)
    return ImageHeader(img.format, width, height, 1 if gray else 3)


def _gray_palette(img) -> bool:
    """A palette of grays only (e.g. a grayscale GIF): the image is read as grayscale, not RGB."""
    try:
        colors = np.frombuffer(img.palette.tobytes(), np.uint8).reshape(-1, 3)
    except (AttributeError, ValueError):
        return False
    return bool((colors == colors[:, :1]).all())


def _unreadable(what: str, e: Exception) -> DataError:
    from PIL import UnidentifiedImageError

    if isinstance(e, UnidentifiedImageError):
        reason = "unknown format"
    elif isinstance(e, OSError) and e.errno is not None and e.strerror:  # not the image: the file itself
        return DataError(f"{what} cannot be read: {e.strerror}")
    else:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    return DataError(f"{what} is not an image kerascnn can read (PNG, JPEG, GIF or BMP): {reason}")


def inspect(
    source, what: str | None = None, *, max_pixels: int | None = None, convertible: bool = False
) -> ImageHeader:
    """Check an image (a path, or its bytes) against the rule from its header alone; pixels are not decoded.

    ``max_pixels`` overrides the process's limit (a server passes its own). ``convertible`` also accepts what
    a training folder converts, as Keras' ``image_dataset_from_directory`` and torchvision's ``ImageFolder``
    do: an alpha channel (composited on :data:`ALPHA_BACKGROUND`) and 16-bit PNGs (their high byte).

    Raises:
        DataError: not an image, over the pixel limit, or a mode the rule refuses.
    """
    from PIL import UnidentifiedImageError

    what = what or (str(source) if isinstance(source, (str, Path)) else "the image")
    if isinstance(source, str):
        source = Path(source)
    try:
        with _open(source) as img:
            return _check(img, what, max_pixels, convertible)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise _unreadable(what, e) from None


def decode(source, what: str | None = None) -> np.ndarray:
    """uint8 ``[h, w, c]`` (c is 1 or 3) of an image (a path, or its bytes) that passes :func:`inspect`.

    Raises:
        DataError: as :func:`inspect`, or the pixel data is truncated or corrupt.
    """
    from PIL import UnidentifiedImageError

    what = what or (str(source) if isinstance(source, (str, Path)) else "the image")
    if isinstance(source, str):
        source = Path(source)
    try:
        with _open(source) as img:
            header = _check(img, what, None)
            img.load()  # decode now: a truncated file fails here, not later
            if img.mode != ("L" if header.channels == 1 else "RGB"):
                img = img.convert("L" if header.channels == 1 else "RGB")
            array = np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise _unreadable(what, e) from None
    return array[..., None] if array.ndim == 2 else array
