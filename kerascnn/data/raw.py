"""Raw datasets and their splits: :class:`RawDataset` (uint8 images + labels, a training and a test
part) and the deterministic splits every command shares (test part, validation part, their seed).

A leaf module: the loaders (:mod:`kerascnn.data.digits`, ``idx``, ``folders``, ``tfds_source``) build on
it and :func:`kerascnn.data.prepare.load_dataset` dispatches to them.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from kerascnn.errors import DataError

VAL_SEED = 1  # the validation split (and the k folds) are fixed, independently of --seed
TEST_SEED = 0  # the test split of a source without a test part: the same for every command
# The fractions held out when nobody says otherwise (fit's --val-split and --test-split declare these defaults).
DEFAULT_VAL_SPLIT = 0.1
DEFAULT_TEST_SPLIT = 0.2


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
        train_ids: for a folder, the training images' relative paths: the validation split follows them, so
            a file keeps its side when others come or go (None: split by position).
    """

    name: str
    class_names: list
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_ids: np.ndarray | None = None  # a folder's: each training image's path inside it (its identity)

    def __post_init__(self):
        self.class_names = [str(c) for c in self.class_names]
        self.x_train, self.y_train = check_arrays(self.x_train, self.y_train, "training", self.name)
        self.x_test, self.y_test = check_arrays(self.x_test, self.y_test, "test", self.name)
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
    def from_arrays(cls, x_train, y_train, x_test, y_test, *, class_names=None, name="arrays") -> RawDataset:
        """Wrap your own arrays (uint8 ``[N, h, w]`` or ``[N, h, w, c]``, integer labels)."""
        y_train, y_test = np.asarray(y_train), np.asarray(y_test)
        if class_names is None:
            top = max(int(y_train.max(initial=0)), int(y_test.max(initial=0)))
            class_names = [str(i) for i in range(top + 1)]
        return cls(name, list(class_names), x_train, y_train, x_test, y_test)


def check_arrays(x, y, part, name):
    """``(x, y)`` as contiguous uint8 ``[N, h, w, c]`` images and int64 labels, or DataError naming ``part``."""
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
            f"Dataset {name}: {len(x)} {part} images but labels of shape {y.shape}; there must be one label per image."
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


_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit changes about half the output bits."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def identity_scores(names, seed: int = 0) -> np.ndarray:
    """A number in [0, 1) per name, a pure function of the name (its UTF-8 bytes) and ``seed``.

    Vectorised over the array of names (FNV-1a over the byte columns, then a 64-bit mix), so a million
    paths take about two seconds. A file keeps its score when other files come or go: splits made
    by comparing scores with a fraction move only the files that were added or removed.
    The hash: FNV-1a with a xor-shift after each byte, then splitmix64's finalizer.
    """
    names = np.asarray(names)
    if names.dtype.kind != "S":
        names = np.char.encode(names.astype(str), "utf-8", "surrogateescape")  # as os.fsencode spells them
    n = len(names)
    if n == 0:
        return np.zeros(0, np.float64)
    width = max(names.dtype.itemsize, 1)
    columns = np.frombuffer(names.tobytes(), np.uint8).reshape(n, width)
    h = np.full(n, _mix64(np.array([_FNV_OFFSET ^ np.uint64(int(seed) & (2**64 - 1))], np.uint64))[0], np.uint64)
    with np.errstate(over="ignore"):
        for column in columns.T:  # zero bytes are padding (no path holds NUL): the width does not matter
            mixed = (h ^ column.astype(np.uint64)) * _FNV_PRIME
            h = np.where(column != 0, mixed ^ (mixed >> np.uint64(29)), h)  # high bits fed back to low ones
        h = _mix64(h)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def split_by_identity(names, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(kept indices, held-out indices) of ``names``: held out when its :func:`identity_scores` < ``fraction``.

    Each name's side depends on the name and the seed alone, so adding or removing files never moves another
    file from one side to the other (a resumed run never tests on an image it trained on). The held-out
    share is ``fraction`` on average, not exactly; a set so small that one side came out empty gives that
    side the one name nearest the threshold.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"A split fraction must be between 0 and 1 (exclusive). Received: {fraction}")
    n = len(names)
    if n < 2:
        raise DataError(f"Cannot hold out {fraction:.0%} of {n} images: each part needs at least one image.")
    scores = identity_scores(names, seed)
    held = scores < fraction
    if not held.any():
        held[np.argmin(scores)] = True
    if held.all():
        held[np.argmax(scores)] = False
    return np.flatnonzero(~held), np.flatnonzero(held)


def split_train_test(name, class_names, x, y, *, test_split: float, seed: int = 0) -> RawDataset:
    """A :class:`RawDataset` from one set of images, holding out ``test_split`` of it as the test part."""
    x, y = check_arrays(x, y, "", name)
    train, test = split_indices(len(x), test_split, seed)
    return RawDataset(name, class_names, x[train], y[train], x[test], y[test])


class Splits(NamedTuple):
    """Raw uint8 arrays of the three parts: what the pipelines are built from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def split_validation(raw: RawDataset, val_split: float = DEFAULT_VAL_SPLIT) -> Splits:
    """Hold out ``val_split`` of the training part (fixed seed) as validation; the test part is kept."""
    if val_split <= 0:
        return Splits(raw.x_train, raw.y_train, raw.x_train[:0], raw.y_train[:0], raw.x_test, raw.y_test)
    keep, held = split_indices(len(raw.x_train), val_split, seed=VAL_SEED)
    return Splits(raw.x_train[keep], raw.y_train[keep], raw.x_train[held], raw.y_train[held], raw.x_test, raw.y_test)
