"""MNIST-format IDX files (``*-images-idx3-ubyte[.gz]``, ``*-labels-idx1-ubyte[.gz]``).

Format (yann.lecun.com/exdb/mnist): a big-endian header, then uint8 pixels or labels. Images: magic
2051, count, rows, cols (16 bytes). Labels: magic 2049, count (8 bytes). ``train-*`` files are the
training part and ``t10k-*`` the test part; a folder with only one set is split by ``test_split``.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np

from kerascnn.data.raw import DEFAULT_TEST_SPLIT
from kerascnn.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_PATTERN = re.compile(r"^(?P<prefix>.*?)[-_.]?(?P<kind>images|labels)[-_.]idx(?P<dims>[13])[-_.]ubyte(?P<gz>\.gz)?$")
_TRAIN_PREFIXES = ("train",)
_TEST_PREFIXES = ("t10k", "test")


def find_idx_files(folder) -> dict:
    """``{prefix: {"images": path, "labels": path}}`` for the IDX files directly inside ``folder``."""
    sets: dict = {}
    for path in sorted(Path(folder).iterdir()):
        m = _PATTERN.match(path.name)
        if m and path.is_file():
            sets.setdefault(m.group("prefix"), {})[m.group("kind")] = path
    return sets


def _read(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"Cannot read {path}: {e}") from None


def read_idx_images(path) -> np.ndarray:
    """uint8 ``[N, rows, cols, 1]`` from an idx3 images file (gzipped or not)."""
    path = Path(path)
    data = _read(path)
    if len(data) < 16:
        raise DataError(f"{path} is not an IDX images file: only {len(data)} bytes, the header alone has 16.")
    magic, count, rows, cols = np.frombuffer(data[:16], dtype=">u4")
    if magic != IMAGES_MAGIC:
        raise DataError(f"{path} is not an IDX images file: header magic number is {magic}, expected {IMAGES_MAGIC}.")
    expected = int(count) * int(rows) * int(cols)
    if rows == 0 or cols == 0 or len(data) - 16 != expected:
        raise DataError(
            f"{path}: header says {count} images of {rows}x{cols} ({expected} bytes) but the file holds "
            f"{len(data) - 16} bytes of pixels; the file is truncated or corrupt."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(int(count), int(rows), int(cols), 1)


def read_idx_labels(path) -> np.ndarray:
    """int64 ``[N]`` from an idx1 labels file (gzipped or not)."""
    path = Path(path)
    data = _read(path)
    if len(data) < 8:
        raise DataError(f"{path} is not an IDX labels file: only {len(data)} bytes, the header alone has 8.")
    magic, count = np.frombuffer(data[:8], dtype=">u4")
    if magic != LABELS_MAGIC:
        raise DataError(f"{path} is not an IDX labels file: header magic number is {magic}, expected {LABELS_MAGIC}.")
    if len(data) - 8 != count:
        raise DataError(
            f"{path}: header says {count} labels but the file holds {len(data) - 8}; it is truncated or corrupt."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)


def _read_set(prefix: str, files: dict, folder: Path):
    missing = {"images", "labels"} - set(files)
    if missing:
        raise DataError(
            f"{folder}: the {prefix or 'unnamed'} set has no {missing.pop()} file (need both images and labels)."
        )
    images, labels = read_idx_images(files["images"]), read_idx_labels(files["labels"])
    if len(images) != len(labels):
        raise DataError(
            f"{folder}: {files['images'].name} has {len(images)} images but {files['labels'].name} has "
            f"{len(labels)} labels; they must match."
        )
    return images, labels


def load_idx_folder(folder, *, test_split: float = DEFAULT_TEST_SPLIT, seed: int = 0):
    """A :class:`~kerascnn.data.raw.RawDataset` from a folder of IDX files.

    Class names are the label values found (``"0"`` .. ``"9"`` for MNIST).
    """
    from kerascnn.data.raw import RawDataset, split_train_test

    folder = Path(folder)
    sets = find_idx_files(folder)
    train = [p for p in sets if p.lower().startswith(_TRAIN_PREFIXES)]
    test = [p for p in sets if p.lower().startswith(_TEST_PREFIXES)]
    name = str(folder)
    if len(train) == 1 and len(test) == 1:
        x_train, y_train = _read_set(train[0], sets[train[0]], folder)
        x_test, y_test = _read_set(test[0], sets[test[0]], folder)
        names = _class_names(np.concatenate([y_train, y_test]))
        return RawDataset(name, names, x_train, y_train, x_test, y_test)
    if len(sets) == 1:
        ((prefix, files),) = sets.items()
        x, y = _read_set(prefix, files, folder)
        return split_train_test(name, _class_names(y), x, y, test_split=test_split, seed=seed)
    raise DataError(
        f"{folder} holds several IDX sets ({', '.join(sorted(p or '(none)' for p in sets))}); "
        "expected one train-* and one t10k-* (or test-*) set, or a single set to split."
    )


def _class_names(labels: np.ndarray) -> list:
    top = int(labels.max(initial=0))
    return [str(i) for i in range(top + 1)]


def write_idx(folder, prefix: str, images, labels, *, gz: bool = True) -> tuple[Path, Path]:
    """Write uint8 images ``[N, rows, cols]`` and labels as ``PREFIX-images-idx3-ubyte[.gz]`` etc."""
    from kerascnn.fsutil import atomic_write_bytes

    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 4:
        images = images[..., 0]
    labels = np.asarray(labels, dtype=np.uint8)
    folder = Path(folder)
    suffix = ".gz" if gz else ""
    image_bytes = np.array([IMAGES_MAGIC, *images.shape], dtype=">u4").tobytes() + images.tobytes()
    label_bytes = np.array([LABELS_MAGIC, len(labels)], dtype=">u4").tobytes() + labels.tobytes()
    pack = gzip.compress if gz else (lambda b: b)
    image_path = folder / f"{prefix}-images-idx3-ubyte{suffix}"
    label_path = folder / f"{prefix}-labels-idx1-ubyte{suffix}"
    atomic_write_bytes(image_path, pack(image_bytes))
    atomic_write_bytes(label_path, pack(label_bytes))
    return image_path, label_path
