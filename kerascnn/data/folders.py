"""A folder of class subfolders of images (Keras' ``image_dataset_from_directory`` layout): listing and checks.

    DATA/cat/001.png, DATA/dog/xyz.jpg, ...                 split by ``test_split``
    DATA/train/cat/..., DATA/test/cat/...                   used as given

Class names are the subfolder names, sorted. As forgiving as Keras' ``image_dataset_from_directory`` and
torchvision's ``ImageFolder``: only files with an image extension (``IMAGE_EXTENSIONS``) are taken, the
rest (``notes.txt``, ``Thumbs.db``) is skipped and counted; hidden files and folders (``.DS_Store``,
``.ipynb_checkpoints``) are ignored. Every image's header is checked before anything trains
(:func:`scan_image_folder`, kerascnn's image policy with the training conversions: alpha composited on
white, 16-bit PNGs to 8 bits, the pixel limit), so whatever still cannot be used is listed at once, each
file with its reason. Pixels are decoded by TensorFlow in :mod:`kerascnn.data.prepare`, the one data path.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kerascnn.errors import DataError

# Keras' image_dataset_from_directory's ALLOWLIST_FORMATS (what TensorFlow's decode_image reads)
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
MAX_LISTED = 20  # problems named one per line before "... and N more"


@dataclasses.dataclass
class FolderListing:
    """The files of an image folder: ``items`` are ``(path, label, part)`` with part "train", "test" or None
    (None: the folder has no test part of its own; the split decides), sorted by part, class, path."""

    root: Path
    class_names: list
    items: list
    skipped: list  # files whose extension is not an image's (not examples, not errors)

    @property
    def has_test(self) -> bool:
        return any(part == "test" for _, _, part in self.items)

    def relative(self, path) -> str:
        """A file's identity inside the dataset: its path relative to the root, with ``/`` separators."""
        return Path(os.path.relpath(path, self.root)).as_posix()


def _class_dirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as e:
        raise DataError(f"Cannot list {folder}: {e.strerror}") from None


def _files(class_dir: Path) -> tuple[list, list]:
    """(image files, other files) under ``class_dir``; hidden files and folders are no examples."""
    images, other = [], []

    def fail(e):
        raise DataError(f"Cannot list {e.filename}: {e.strerror}")

    for root, dirs, files in os.walk(class_dir, onerror=fail):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if f.startswith("."):
                continue
            path = os.path.join(root, f)
            (images if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS else other).append(path)
    return sorted(images), sorted(other)


def _scan(folder: Path, class_names: list | None, part):
    dirs = _class_dirs(folder)
    names = [d.name for d in dirs]
    if class_names is not None and names != class_names:
        raise DataError(f"{folder} has classes {names} but the training part has {class_names}; they must match.")
    items, skipped = [], []
    for label, d in enumerate(dirs):
        files, other = _files(d)
        skipped += other
        if not files:
            raise DataError(f"Class folder {d} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
        items += [(f, label, part) for f in files]
    loose = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if loose and dirs:
        raise DataError(
            f"{loose[0]} is an image next to the class folders of {folder}; images belong in a class subfolder."
        )
    return names, items, skipped


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
        names, train, skipped = _scan(parts["train"], None, "train")
        _, test, skipped_test = _scan(parts["test"], names, "test")
        items, skipped = train + test, skipped + skipped_test
    else:
        names, items, skipped = _scan(folder, None, None)
    if len(names) < 2:
        found = f"only the class {names[0]!r}" if names else "no class subfolders"
        raise DataError(
            f"{folder} has {found}; a dataset folder needs one subfolder of images per class, at least two "
            "(or IDX files)."
        )
    return FolderListing(folder, names, items, skipped)


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


_SCAN_CHUNK = 4096


def scan_files(paths, *, threads: int = 8) -> ScanResult:
    """Check every file's header (kerascnn's image policy with the training conversions); no pixel decoded.

    Only what the data needs is kept (a count per image size, whether any has color, the problems), never a
    header per file: a million files cost no more memory than a thousand."""
    from kerascnn.data.image_policy import inspect

    def check(path):
        try:
            return path, inspect(Path(path), str(path), convertible=True), None
        except DataError as e:
            return path, None, str(e)

    sizes, color, problems = collections.Counter(), False, {}
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=threads) as pool:  # file opens and Pillow's parsers release the GIL
        # In chunks: Executor.map makes a future per item up front, a kilobyte each.
        for start in range(0, len(paths), _SCAN_CHUNK):
            for path, header, problem in pool.map(check, paths[start : start + _SCAN_CHUNK]):
                if problem is None:
                    sizes[(header.height, header.width)] += 1
                    color = color or header.channels == 3
                else:
                    problems[path] = problem
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
