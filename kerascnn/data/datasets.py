"""Datasets as raw uint8 arrays: one function, ``load_dataset``, for every kind of source.

``load_dataset(name_or_path)`` accepts:

* ``"digits"``: scikit-learn's bundled handwritten digits (1,797 real 8x8 images), offline.
* a TensorFlow Datasets name (``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, ...), read with the real
  ``tfds.load`` from ``data_dir``;
* a folder of MNIST-format IDX files (``train-*`` / ``t10k-*``, optionally gzipped);
* a folder of class subfolders of images (optionally inside ``train/`` and ``test/``).

Every source ends up as a :class:`RawDataset`: uint8 ``[N, h, w, c]`` images and int64 labels, split into
a training part and a test part. Sources without their own test part are split deterministically by
``test_split`` with a fixed seed, so that every command (fit, evaluate, export calibration, parity
reports) sees the same test images for the same dataset.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kerascnn.errors import DataError

BUILTIN_DATASETS = ("digits",)
DEFAULT_DATASET = "digits"


@dataclasses.dataclass
class RawDataset:
    """A dataset as in-memory arrays, before any preprocessing.

    Attributes:
        name: what it was loaded from: ``"digits"``, a TFDS name, or a folder path.
        class_names: index -> human-readable class name.
        x_train: uint8 ``[N, h, w, c]``, the training part (validation is split from it later).
        y_train: int64 ``[N]`` class indices.
        x_test: uint8 ``[M, h, w, c]``, never seen in training.
        y_test: int64 ``[M]``.
    """

    name: str
    class_names: list
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self):
        self.class_names = [str(c) for c in self.class_names]
        self.x_train, self.y_train = _check_arrays(self.x_train, self.y_train, "training", self.name)
        self.x_test, self.y_test = _check_arrays(self.x_test, self.y_test, "test", self.name)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"Dataset {self.name}: training images are {self.x_train.shape[1:]} but test images are "
                f"{self.x_test.shape[1:]}; both parts must have one image size."
            )
        if len(self.class_names) < 2:
            raise DataError(
                f"Dataset {self.name} has {len(self.class_names)} class(es) {self.class_names}; "
                "a classifier needs at least two."
            )
        top = max(int(self.y_train.max(initial=0)), int(self.y_test.max(initial=0)))
        if top >= len(self.class_names) or min(self.y_train.min(initial=0), self.y_test.min(initial=0)) < 0:
            raise DataError(
                f"Dataset {self.name}: labels must be in 0..{len(self.class_names) - 1} "
                f"(one per class name). Received a label {top}."
            )

    @property
    def image_shape(self) -> tuple:
        """(h, w, c) of the raw images."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def from_arrays(cls, x_train, y_train, x_test, y_test, *, class_names=None, name="arrays") -> "RawDataset":
        """Wrap your own arrays (uint8 ``[N, h, w]`` or ``[N, h, w, c]``, integer labels)."""
        y_train, y_test = np.asarray(y_train), np.asarray(y_test)
        if class_names is None:
            top = max(int(y_train.max(initial=0)), int(y_test.max(initial=0)))
            class_names = [str(i) for i in range(top + 1)]
        return cls(name, list(class_names), x_train, y_train, x_test, y_test)


def _check_arrays(x, y, part, name):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(
            f"Dataset {name}: {part} images must be [N, height, width] or [N, height, width, 1|3]. "
            f"Received shape {x.shape}."
        )
    if x.dtype != np.uint8:
        if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 255 or np.isnan(x).any()):
            raise DataError(f"Dataset {name}: {part} pixel values must be in 0..255.")
        x = x.astype(np.uint8)
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(
            f"Dataset {name}: {len(x)} {part} images but labels of shape {y.shape}; "
            "there must be one label per image."
        )
    if len(x) == 0:
        raise DataError(f"Dataset {name} has no {part} images.")
    return np.ascontiguousarray(x), y.astype(np.int64)


def split_indices(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split of ``range(n)``: (kept indices, held-out indices), held-out ~ ``fraction * n``.

    The same ``n``, ``fraction`` and ``seed`` always give the same split. Both parts are sorted so that
    the order of the source is kept inside each part.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"A split fraction must be between 0 and 1 (exclusive). Received: {fraction}")
    held = int(round(n * fraction))
    if held < 1 or held >= n:
        raise DataError(f"Cannot hold out {fraction:.0%} of {n} images: each part needs at least one image.")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


def split_train_test(name, class_names, x, y, *, test_split: float, seed: int = 0) -> RawDataset:
    """A :class:`RawDataset` from one set of images, holding out ``test_split`` of it as the test part."""
    x, y = _check_arrays(x, y, "", name)
    train, test = split_indices(len(x), test_split, seed)
    return RawDataset(name, class_names, x[train], y[train], x[test], y[test])


def load_dataset(name_or_path=DEFAULT_DATASET, *, data_dir=None, test_split: float = 0.2, seed: int = 0) -> RawDataset:
    """Load a dataset as raw uint8 arrays with a fixed train/test split.

    Args:
        name_or_path: ``"digits"``, a TFDS name, a folder of IDX files, a folder of class subfolders,
            or an already loaded :class:`RawDataset` (returned as is).
        data_dir: TFDS data directory (default: TFDS's own, ``~/tensorflow_datasets``).
        test_split: fraction held out as the test part when the source has no test part of its own.
        seed: seed of that split (keep the default to get the same test set as every other command).

    Returns:
        A :class:`RawDataset`.

    Raises:
        DataError: unknown name, unreadable or malformed files, data not available offline.
    """
    if isinstance(name_or_path, RawDataset):
        return name_or_path
    name = str(name_or_path)
    if name == "digits":
        from kerascnn.data.digits import load_digits

        return load_digits(test_split=test_split, seed=seed)
    path = Path(name).expanduser()
    if path.exists() or "/" in name or name.startswith("."):
        if not path.is_dir():
            raise DataError(
                f"Dataset path {name} is not a folder"
                + ("" if path.exists() else " (it does not exist)")
                + ": pass a folder of IDX files or of class subfolders of images."
            )
        from kerascnn.data.idx import find_idx_files, load_idx_folder

        if find_idx_files(path):
            return load_idx_folder(path, test_split=test_split, seed=seed)
        from kerascnn.data.folders import load_image_folder

        return load_image_folder(path, test_split=test_split, seed=seed)
    from kerascnn.data.tfds_source import load_tfds

    return load_tfds(name, data_dir=data_dir, test_split=test_split, seed=seed)
