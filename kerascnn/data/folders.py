"""A folder of class subfolders of images (Keras' ``image_dataset_from_directory`` layout).

    DATA/cat/001.png, DATA/dog/xyz.jpg, ...                 split by ``test_split``
    DATA/train/cat/..., DATA/test/cat/...                   used as given

Class names are the subfolder names, sorted. Images are decoded with Pillow under
:mod:`kerascnn.data.image_policy` (the rule ``predict`` and the server follow too: 8-bit grayscale or
RGB, a pixel limit read from the header); grayscale images stay single-channel unless some image of
the set has color, then all become RGB. Images of different sizes
are resized to the most common size so that the set fits one array (the model's own resize comes later,
in :func:`kerascnn.data.spec.preprocess`). Hidden files (``.DS_Store``) are skipped; any other file that
is not an image is an error, so a stray file never silently becomes a training example.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import numpy as np

from kerascnn.errors import DataError


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files(class_dir: Path) -> list[str]:
    # Hidden folders (.ipynb_checkpoints) are skipped as hidden files are: their copies are no examples.
    out = []
    for root, dirs, files in os.walk(class_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out += [os.path.join(root, f) for f in files if not f.startswith(".")]
    return sorted(out)


def _decode(path: Path) -> np.ndarray:
    from kerascnn.data.image_policy import decode

    return decode(path)  # DataError names the file: a stray file never silently becomes an example


def _scan(folder: Path, class_names: list | None):
    dirs = _class_dirs(folder)
    names = [d.name for d in dirs]
    if class_names is not None and names != class_names:
        raise DataError(f"{folder} has classes {names} but the training part has {class_names}; they must match.")
    items = []
    for label, d in enumerate(dirs):
        files = _files(d)
        if not files:
            raise DataError(f"Class folder {d} holds no images.")
        items += [(f, label) for f in files]
    loose = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if loose and dirs:
        raise DataError(f"{loose[0]} is a file next to the class folders of {folder}; images belong in a class subfolder.")
    return names, items


def _to_array(images: list, size: tuple, channels: int) -> np.ndarray:
    """One uint8 array ``[N, h, w, channels]`` from decoded images: gray -> RGB, resized to ``size`` (h, w)."""
    from PIL import Image

    out = []
    for image in images:
        if image.shape[2] != channels:  # only grayscale -> RGB: a set with color is RGB
            image = np.repeat(image, channels, axis=2)
        if image.shape[:2] != size:
            h, w = size
            image = np.stack([np.asarray(Image.fromarray(image[..., i]).resize((w, h), Image.BILINEAR))
                              for i in range(channels)], axis=-1)
        out.append(image)
    return np.stack(out)


def list_image_folder(folder) -> tuple[list, list, list | None]:
    """``(class_names, train_items, test_items or None)`` of a folder of class subfolders; items are
    ``(path, label)`` sorted by class then path. Hidden files and folders are skipped; every other file is
    taken (a file that is not an image is met, and reported, when it is decoded). The one listing that the
    in-memory loader below and the streaming pipeline share, so both see the same files in the same order."""
    folder = Path(folder)
    parts = {p.name: p for p in _class_dirs(folder)}
    if set(parts) >= {"train", "test"} and len(parts) == 2:
        names, train = _scan(parts["train"], None)
        _, test = _scan(parts["test"], names)
    else:
        (names, train), test = _scan(folder, None), None
    if len(names) < 2:
        found = f"only the class {names[0]!r}" if names else "no class subfolders"
        raise DataError(
            f"{folder} has {found}; a dataset folder needs one subfolder of images per class, at least two "
            "(or IDX files)."
        )
    return names, train, test


def load_image_folder(folder, *, test_split: float = 0.2, seed: int = 0):
    """A :class:`~kerascnn.data.raw.RawDataset` from class subfolders of images."""
    from kerascnn.data.raw import RawDataset, split_train_test

    names, train_items, test_items = list_image_folder(folder)
    test_items = test_items or []
    decoded = [(_decode(f), y) for f, y in train_items + test_items]
    size = collections.Counter(im.shape[:2] for im, _ in decoded).most_common(1)[0][0]
    channels = max(im.shape[2] for im, _ in decoded)
    x = _to_array([im for im, _ in decoded], size, channels)
    y = np.array([label for _, label in decoded], dtype=np.int64)
    n_train = len(train_items)
    if test_items:
        return RawDataset(str(folder), names, x[:n_train], y[:n_train], x[n_train:], y[n_train:])
    return split_train_test(str(folder), names, x, y, test_split=test_split, seed=seed)
