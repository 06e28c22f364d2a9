"""A folder of class subfolders of images (Keras' ``image_dataset_from_directory`` layout): listing and checks.

    DATA/cat/001.png, DATA/dog/xyz.jpg, ...                 split by ``test_split``
    DATA/train/cat/..., DATA/test/cat/...                   used as given

Class names are the subfolder names, sorted. As forgiving as Keras' ``image_dataset_from_directory`` and
torchvision's ``ImageFolder``: only files with an image extension (``IMAGE_EXTENSIONS``) are taken, the
rest (``notes.txt``, ``Thumbs.db``) is skipped and counted; hidden files and folders (``.DS_Store``,
``.ipynb_checkpoints``) are ignored. Headers are checked before anything trains (:func:`scan_files`,
kerascnn's image policy with the training conversions: alpha composited on white, 16-bit PNGs to 8 bits,
the pixel limit), so whatever cannot be used is listed at once, each file with its reason: every file of a
folder up to ``FULL_HEADER_CHECK`` files, a seeded sample of a larger one (:mod:`kerascnn.data.prepare`).
The listing is compact arrays (:class:`FolderListing`): ImageNet's 1.28 million files cost tens of megabytes.
Pixels are decoded by TensorFlow in :mod:`kerascnn.data.prepare`, the one data path.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kerascnn.errors import DataError

# Keras' image_dataset_from_directory's ALLOWLIST_FORMATS (what TensorFlow's decode_image reads)
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
MAX_LISTED = 20  # problems named one per line before "... and N more"
LISTING_THREADS = 8


NO_PART, TRAIN_PART, TEST_PART = 0, 1, 2  # a file's part: the split decides, or the folder's train/ or test/


@dataclasses.dataclass
class FolderListing:
    """The files of an image folder as compact arrays, sorted by part, class and path: a million files cost
    tens of megabytes, not a Python object per file.

    ``names`` are the files' paths relative to ``root`` with ``/`` separators, as bytes (the file system's
    own, :func:`os.fsencode`): a file's identity inside the dataset, whatever folder the dataset sits in.
    ``parts`` say which part of the folder a file is in: :data:`NO_PART` (the folder has no test part of
    its own; the split decides), :data:`TRAIN_PART` or :data:`TEST_PART`.
    """

    root: Path
    class_names: list
    names: np.ndarray  # bytes ("S"), relative to root
    labels: np.ndarray  # int64 class index
    parts: np.ndarray  # int8: NO_PART, TRAIN_PART, TEST_PART
    skipped: list  # files whose extension is not an image's (not examples, not errors)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def has_test(self) -> bool:
        return bool((self.parts == TEST_PART).any())

    @property
    def prefix(self) -> bytes:
        """What makes a name a path: the root and a separator."""
        return os.fsencode(os.path.join(self.root, ""))

    def relative(self, path) -> str:
        """A file's identity inside the dataset: its path relative to the root, with ``/`` separators."""
        return Path(os.path.relpath(path, self.root)).as_posix()

    def items(self) -> list:
        """``(path, label, part)`` per file, part "train", "test" or None: Python objects, for commands that visit
        every file anyway."""
        part_names = {NO_PART: None, TRAIN_PART: "train", TEST_PART: "test"}
        return [
            (path, label, part_names[part])
            for path, label, part in zip(self.paths(), self.labels.tolist(), self.parts.tolist())
        ]

    def paths(self, indices=None) -> list:
        """The paths (``str``) of the files at ``indices`` (all files when None)."""
        names = self.names if indices is None else self.names[np.asarray(indices, dtype=np.int64)]
        prefix = self.prefix
        return [os.fsdecode(prefix + name) for name in names.tolist()]


def _class_dirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as e:
        raise DataError(f"Cannot list {folder}: {e.strerror}") from None


def _files(class_dir: Path, root: Path) -> tuple[np.ndarray, list]:
    """(image files under ``class_dir`` as sorted names relative to ``root``, other files' paths); hidden
    files and folders are no examples."""
    images, other = [], []

    def fail(e):
        raise DataError(f"Cannot list {e.filename}: {e.strerror}")

    for folder, dirs, files in os.walk(class_dir, onerror=fail):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        prefix = os.fsencode(Path(os.path.relpath(folder, root)).as_posix() + "/")
        for f in files:
            if f.startswith("."):
                continue
            if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS:
                images.append(prefix + os.fsencode(f))
            else:
                other.append(os.path.join(folder, f))
    # One array per class: a million names never sit in Python objects all at once.
    return np.sort(np.array(images, dtype="S")) if images else np.zeros(0, "S1"), sorted(other)


def _scan(folder: Path, root: Path, class_names: list | None, part: int):
    dirs = _class_dirs(folder)
    names = [d.name for d in dirs]
    if class_names is not None and names != class_names:
        raise DataError(f"{folder} has classes {names} but the training part has {class_names}; they must match.")
    files, labels, skipped = [], [], []
    # Class folders listed side by side: on a network file system each listing mostly waits (without the GIL).
    with ThreadPoolExecutor(max_workers=LISTING_THREADS) as pool:
        for label, (d, (images, other)) in enumerate(zip(dirs, pool.map(lambda d: _files(d, root), dirs))):
            skipped += other
            if not len(images):
                raise DataError(f"Class folder {d} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
            files.append(images)
            labels.append(np.full(len(images), label, np.int64))
    loose = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if loose and dirs:
        raise DataError(
            f"{loose[0]} is an image next to the class folders of {folder}; images belong in a class subfolder."
        )
    return names, files, labels, skipped


def list_image_folder(folder) -> FolderListing:
    """The :class:`FolderListing` of a folder of class subfolders (optionally inside ``train/`` and ``test/``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"{folder} is not a folder of class subfolders of images"
            + ("" if folder.exists() else " (it does not exist)")
            + "."
        )
    parts = {p.name: p for p in _class_dirs(folder)}
    if set(parts) >= {"train", "test"} and len(parts) == 2:
        names, files, labels, skipped = _scan(parts["train"], folder, None, TRAIN_PART)
        _, test_files, test_labels, skipped_test = _scan(parts["test"], folder, names, TEST_PART)
        counts = (sum(map(len, files)), sum(map(len, test_files)))
        files, labels, skipped = files + test_files, labels + test_labels, skipped + skipped_test
        part = np.repeat(np.array([TRAIN_PART, TEST_PART], np.int8), counts)
    else:
        names, files, labels, skipped = _scan(folder, folder, None, NO_PART)
        part = np.full(sum(map(len, files)), NO_PART, np.int8)
    if len(names) < 2:
        found = f"only the class {names[0]!r}" if names else "no class subfolders"
        raise DataError(
            f"{folder} has {found}; a dataset folder needs one subfolder of images per class, at least two "
            "(or IDX files)."
        )
    return FolderListing(folder, names, np.concatenate(files), np.concatenate(labels), part, skipped)


@dataclasses.dataclass
class ScanResult:
    sizes: collections.Counter  # (height, width) -> how many usable files have it
    color: bool  # some usable file has color
    problems: dict  # path -> one-line reason for every file that cannot be used

    def common_size(self) -> tuple:
        """(height, width) most images have (the default input when no model input is given)."""
        return self.sizes.most_common(1)[0][0] if self.sizes else (1, 1)

    @property
    def channels(self) -> int:
        """3 when any image has color, else 1 (grayscale stays single-channel)."""
        return 3 if self.color else 1


_SCAN_CHUNK = 256  # files per task: a task per file would cost more in the pool than the header does


def scan_files(paths, *, threads: int = 4, progress=None) -> ScanResult:
    """Check every file's header (kerascnn's image policy with the training conversions); no pixel decoded.

    Only what the data needs is kept (a count per image size, whether any has color, the problems), never a
    header per file: a million files cost no more memory than a thousand. ``progress(done)`` is called as
    chunks of files finish."""
    from kerascnn.data.image_policy import inspect

    def check(chunk):
        out = []
        for path in chunk:
            try:
                header = inspect(Path(path), str(path), convertible=True)
                out.append((path, (header.height, header.width), header.channels == 3, None))
            except DataError as e:
                out.append((path, None, False, str(e)))
        return out

    sizes, color, problems, done = collections.Counter(), False, {}, 0
    paths = list(paths)
    chunks = [paths[start : start + _SCAN_CHUNK] for start in range(0, len(paths), _SCAN_CHUNK)]
    with ThreadPoolExecutor(max_workers=threads) as pool:  # file opens and reads release the GIL
        for results in pool.map(check, chunks):
            for path, size, has_color, problem in results:
                if problem is None:
                    sizes[size] += 1
                    color = color or has_color
                else:
                    problems[path] = problem
            done += len(results)
            if progress is not None:
                progress(done)
    return ScanResult(sizes, color, problems)


def problems_message(problems: dict, where, *, skip_hint: bool = True) -> str:
    """All the files that cannot be used, one per line with its reason (at most ``MAX_LISTED``); one file: one line."""
    if len(problems) == 1:
        reason = next(iter(problems.values()))
        return reason + (
            "; remove it, or pass --skip-bad-images to leave such files out of every part." if skip_hint else "."
        )
    lines = [
        f"{len(problems)} file(s) in {where} cannot be used"
        + ("; remove them, or pass --skip-bad-images to leave them out of every part:" if skip_hint else ":")
    ]
    reasons = list(problems.values())
    lines += [f"  {reason}" for reason in reasons[:MAX_LISTED]]
    if len(reasons) > MAX_LISTED:
        lines.append(f"  ... and {len(reasons) - MAX_LISTED} more")
    return "\n".join(lines)


def skipped_note(skipped: list, where) -> str | None:
    """One line naming the files that were not taken because they are not images, or None."""
    if not skipped:
        return None
    names = sorted({Path(p).name for p in skipped})
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return (
        f"Skipped {len(skipped)} file(s) in {where} that are not images by their extension ({shown}); images "
        f"are {', '.join(IMAGE_EXTENSIONS)}."
    )
