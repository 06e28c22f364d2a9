"""``kerascnn data check FOLDER``: every file of an image folder checked before a long run.

``fit`` checks every header of a folder up to a size (``FULL_HEADER_CHECK`` files) and a seeded sample of a
larger one; the rest are checked as they stream. This checks them all first, with a progress bar: each
header against kerascnn's image policy (what training converts, it accepts), and with ``decode`` each
image decoded by TensorFlow as training decodes it (a truncated file has a valid header).
"""

from __future__ import annotations

import collections
import dataclasses

from kerascnn.data.folders import list_image_folder, scan_files

_BLOCK = 65_536  # files checked per block


@dataclasses.dataclass
class FolderCheck:
    files: int
    class_names: list
    sizes: collections.Counter  # (height, width) -> usable files
    color: bool
    problems: dict  # path -> one-line reason
    skipped: list  # not images by their extension

    def size_summary(self, shown: int = 3) -> str:
        common = self.sizes.most_common()
        text = ", ".join(f"{h}x{w} ({n:,})" for (h, w), n in common[:shown])
        return text + (f" and {len(common) - shown} more sizes" if len(common) > shown else "")


def check_image_folder(folder, *, decode: bool = False, verbose: bool = False) -> FolderCheck:
    """Check every image file of ``folder`` (class subfolders, optionally inside ``train/`` and ``test/``)."""
    from pathlib import Path

    from kerascnn.data.idx import find_idx_files
    from kerascnn.errors import DataError

    if Path(folder).is_dir() and find_idx_files(Path(folder)):
        raise DataError(f"{folder} holds IDX files, which are read whole: it has no image files to check.")
    listing = list_image_folder(folder)
    bar = None
    if verbose:  # tqdm, not Keras' bar: a header check needs no TensorFlow (seconds and hundreds of MB to load)
        from tqdm import tqdm

        bar = tqdm(total=len(listing), unit="file", unit_scale=True, smoothing=0.1)
    sizes, color, problems = collections.Counter(), False, {}
    for start in range(0, len(listing), _BLOCK):  # paths as text for a block at a time: memory stays flat
        paths = listing.paths(range(start, min(start + _BLOCK, len(listing))))
        progress = None if bar is None else (lambda done, start=start: bar.update(start + done - bar.n))
        scan = scan_files(paths, progress=progress)
        sizes.update(scan.sizes)
        color = color or scan.color
        found = dict(scan.problems)
        if decode:
            from kerascnn.data.tfrecords import undecodable

            found.update(undecodable([p for p in paths if p not in found]))
        problems.update(found)
    if bar is not None:
        bar.close()
    return FolderCheck(len(listing), listing.class_names, sizes, color, problems, listing.skipped)
