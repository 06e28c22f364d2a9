"""The sources that are arrays already, read as raw uint8 arrays: ``read_arrays``.

``read_arrays(name_or_path)`` accepts (a folder of class subfolders of images is read by
:mod:`kerascnn.data.prepare`, the one data path, whose ``load_dataset`` takes every source):

* ``"digits"``: scikit-learn's bundled handwritten digits (1,797 real 8x8 images), offline.
* a TensorFlow Datasets name (``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, ...), read with the real
  ``tfds.load`` from ``data_dir``;
* a folder of MNIST-format IDX files (``train-*`` / ``t10k-*``, optionally gzipped).

Every source ends up as a :class:`~kerascnn.data.raw.RawDataset`: uint8 ``[N, h, w, c]`` images and int64 labels,
split into a training part and a test part. Sources without their own test part are split deterministically by
``test_split`` with a fixed seed, so that every command (fit, evaluate, export calibration, parity
reports) sees the same test images for the same dataset.
"""

from __future__ import annotations

from pathlib import Path

from kerascnn.data.raw import DEFAULT_TEST_SPLIT, RawDataset
from kerascnn.errors import DataError

DEFAULT_DATASET = "digits"


def read_arrays(
    name_or_path=DEFAULT_DATASET, *, data_dir=None, test_split: float = DEFAULT_TEST_SPLIT, seed: int = 0
) -> RawDataset:
    """Read a source that is arrays already (digits, IDX files, a TFDS name) with a fixed train/test split.

    Folders of images go through :func:`kerascnn.data.prepare.prepare_data` (its ``load_dataset``).

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
        raise DataError(
            f"{path} is a folder of images: read it with kerascnn.data.load_dataset or prepare_data "
            "(TensorFlow decodes it, as in training)."
        )
    from kerascnn.data.tfds_source import load_tfds

    return load_tfds(name, data_dir=data_dir, test_split=test_split, seed=seed)


def check_source(name_or_path) -> None:
    """Raise a one-line DataError when ``name_or_path`` names a path (``/``, ``.``) that is not a folder.

    Cheap (no file is read): commands call it before anything else, so that a mistyped ``--dataset`` is the
    answer, not a complaint about the output folder.
    """
    if not isinstance(name_or_path, (str, Path)):
        return
    name = str(name_or_path)
    path = Path(name).expanduser()
    if (path.exists() or "/" in name or name.startswith(".")) and not path.is_dir():
        raise DataError(
            f"Dataset path {name} is not a folder"
            + ("" if path.exists() else " (it does not exist)")
            + ": pass a folder of IDX files or of class subfolders of images."
        )
