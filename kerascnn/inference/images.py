"""Reading images for prediction: PNG/JPEG (and BMP/GIF) files or ``.npy`` arrays -> uint8 at the data's size.

The result is what every kerascnn export takes: uint8 ``[N, h, w, c]`` at the DataSpec's ``image_shape``.
Image files are decoded under :mod:`kerascnn.data.image_policy`, the rule the server and training
folders follow too (8-bit grayscale or RGB; alpha, 16-bit and CMYK refused; a pixel limit checked from
the header). Grayscale<->RGB is converted (ITU-R 601 luma, as ``tf.image.rgb_to_grayscale``). An image of another
size is resized to the native size with Pillow's antialiased bilinear filter. Only numpy and Pillow are used, so a
``.tflite`` prediction never imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn.data.spec import LUMA_WEIGHTS
from kerascnn.errors import DataError

ARRAY_SUFFIXES = (".npy",)
# What a folder given to predict is searched for (other files in it are left alone).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def expand_image_paths(paths) -> list[Path]:
    """``paths`` with every folder replaced by the images and ``.npy`` files in it (subfolders too,
    sorted; hidden files and folders skipped). A folder without any raises ``DataError``."""
    out = []
    for path in map(Path, paths):
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(
            f
            for f in path.rglob("*")
            if f.suffix.lower() in IMAGE_SUFFIXES + ARRAY_SUFFIXES
            and f.is_file()
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
        if not found:
            raise DataError(
                f"No images in folder {path} (looked for PNG, JPEG, BMP, GIF and .npy files, subfolders too)."
            )
        out += found
    return out


def load_images(paths, image_shape) -> np.ndarray:
    """uint8 ``[N, h, w, c]`` from image files, folders of them and ``.npy`` arrays (a ``.npy`` may hold a batch)."""
    arrays = [load_image(p, image_shape) for p in expand_image_paths(paths)]
    if not arrays:
        raise DataError("No images given.")
    return np.concatenate(arrays)


def to_batch(images, image_shape, source="images") -> np.ndarray:
    """uint8 ``[N, h, w, c]`` at ``image_shape`` from one image (``[h, w]`` or ``[h, w, c]``) or a batch
    (``[n, h, w]``, ``[n, h, w, c]``, or a list of images of any sizes), each converted as :func:`fit_to_shape`."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise DataError("No images given.")
        return np.concatenate([to_batch(image, image_shape, f"{source}[{i}]") for i, image in enumerate(images)])
    batch = as_uint8_batch(np.asarray(images), source)
    if tuple(batch.shape[1:]) == tuple(int(d) for d in image_shape):
        return batch
    return np.stack([fit_to_shape(image, image_shape, source) for image in batch])


def as_uint8_batch(array: np.ndarray, source="images") -> np.ndarray:
    """``array`` as uint8 ``[n, h, w, c]``: ``[h, w]`` and ``[h, w, c]`` (c <= 4) are one image, ``[n, h, w]``
    grayscale images; integers in 0..255 are accepted, floats and other ranges refused."""
    if array.ndim == 2:
        array = array[None, ..., None]
    elif array.ndim == 3:
        # [h, w, c] with c in 1..4 is one image; anything else is a batch of grayscale images [n, h, w].
        array = array[None] if array.shape[-1] <= 4 else array[..., None]
    if array.ndim != 4 or array.size == 0:
        raise DataError(f"{source} holds an array of shape {array.shape}; expected [h, w], [h, w, c] or [n, h, w, c].")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 255:
            raise DataError(
                f"{source} holds {array.dtype} values in [{array.min()}, {array.max()}]; kerascnn takes raw uint8 "
                "pixels 0..255 (scale floats in [0, 1] by 255 and cast to uint8)."
            )
        array = array.astype(np.uint8)
    return array


def load_image(path, image_shape) -> np.ndarray:
    """uint8 ``[n, h, w, c]`` (n is 1 for an image file) from one file, converted to ``image_shape``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No such image file: {path}")
    if path.suffix.lower() in ARRAY_SUFFIXES:
        batch = _read_npy(path)
    else:
        batch = _read_image_file(path)[None]
    return np.stack([fit_to_shape(image, image_shape, path) for image in batch])


def fit_to_shape(image: np.ndarray, image_shape, source="image") -> np.ndarray:
    """One uint8 ``[h', w', c']`` image converted to ``image_shape`` (h, w, c): channels, then size."""
    h, w, c = (int(d) for d in image_shape)
    have = image.shape[2]
    if have not in (1, 3):
        raise DataError(
            f"{source} has {have} channels; kerascnn takes grayscale (1) or RGB (3) images. "
            "Convert it first (e.g. flatten transparency onto the background your training images had)."
        )
    if have == 3 and c == 1:
        image = (
            np.round(image.astype(np.float32) @ np.array(LUMA_WEIGHTS, np.float32))
            .clip(0, 255)
            .astype(np.uint8)[..., None]
        )
    elif have == 1 and c == 3:
        image = np.repeat(image, 3, axis=2)
    if image.shape[:2] != (h, w):
        from PIL import Image

        resized = [
            np.asarray(Image.fromarray(image[..., i]).resize((w, h), Image.Resampling.BILINEAR)) for i in range(c)
        ]
        image = np.stack(resized, axis=-1)
    return np.ascontiguousarray(image, dtype=np.uint8)


def _read_image_file(path: Path) -> np.ndarray:
    from kerascnn.data.image_policy import decode

    return decode(path)  # the rule for every image kerascnn reads (modes, bit depths, pixel limit)


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(
            f"{path} is not a readable .npy array: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    return as_uint8_batch(array, str(path))
