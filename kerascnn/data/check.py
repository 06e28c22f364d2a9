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
    listing = list_image_folder(folder)
    paths = listing.paths()
    progress = None
    if verbose:
        import keras

        bar = keras.utils.Progbar(len(paths), unit_name="file")
        progress = bar.update
    scan = scan_files(paths, progress=progress)
    problems = dict(scan.problems)
    if decode:
        from kerascnn.data.tfrecords import undecodable

        if verbose:
            print("Decoding every image ...", flush=True)
        problems.update(undecodable([p for p in paths if p not in problems]))
    return FolderCheck(len(paths), listing.class_names, scan.sizes, scan.color, problems, listing.skipped)
