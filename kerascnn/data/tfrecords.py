"""``kerascnn data prepare FOLDER --out DIR``: an image folder as a TFDS dataset of sharded TFRecord files.

A folder of many small files becomes a few large shards that stream fast (sequential reads) and shard
across workers by file. TFDS's own writer does it (``tfds.dataset_builders.store_as_tfds_dataset``): the
encoded bytes of every image are stored as they are (no re-encoding, nothing decoded), with the class
names as a ``ClassLabel``, so ``--dataset DIR`` reads it back with ``tfds.builder_from_directory`` and the
metadata (classes, split sizes) comes with it. Every image is checked to decode first and keeps its path
(a ``path`` feature), so a later message names the source file, not a record. A folder without a test
part gets the test split ``fit --dataset FOLDER`` would make (by file name). The result is written to
``DIR.partial`` under a lock on ``DIR`` and renamed to ``DIR`` when complete; an existing ``DIR`` is
never overwritten, and a failed write (a full disk) leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from kerascnn.data.raw import DEFAULT_TEST_SPLIT
from kerascnn.errors import DataError

DEFAULT_SHARD_IMAGES = 10_000


def prepare_folder(
    folder,
    out,
    *,
    shard_images: int = DEFAULT_SHARD_IMAGES,
    name: str | None = None,
    test_split: float = DEFAULT_TEST_SPLIT,
    skip_bad_images: bool = False,
    verbose: bool = False,
) -> Path:
    """Write ``folder`` (class subfolders, optionally inside ``train/`` and ``test/``) as a TFDS dataset in ``out``.

    Every image is checked first (header and a full decode): what cannot be used is listed at once, each file
    with its reason (or left out with ``skip_bad_images``); files that are not images by their extension are
    skipped and counted. A folder without a test part gets one here, split by file identity exactly as
    ``fit --dataset FOLDER`` splits it, so both see the same test images. ``out`` is locked while it is written.

    Returns the dataset's version folder (what ``--dataset`` takes; ``out`` works too).
    """
    from kerascnn.data.folders import list_image_folder, problems_message, scan_files, skipped_note
    from kerascnn.fsutil import lock_path

    folder, out = Path(folder), Path(out)
    if int(shard_images) < 1:
        raise DataError(f"--shard-images must be at least 1. Received: {shard_images}")
    listing = list_image_folder(folder)
    if out.exists():
        raise DataError(f"{out} exists; choose a new --out folder (a prepared dataset is never overwritten).")
    with lock_path(out, advice="wait for it to finish, or choose another --out"):
        if out.exists():  # written by the process that held the lock before us
            raise DataError(f"{out} exists; choose a new --out folder (a prepared dataset is never overwritten).")
        items = listing.items()
        paths = [p for p, _, _ in items]
        problems = scan_files(paths).problems
        problems.update(undecodable([p for p in paths if p not in problems]))
        if problems and not skip_bad_images:
            raise DataError(problems_message(problems, folder))
        items = [(p, y, part) for p, y, part in items if p not in problems]
        if verbose:
            for note in (
                skipped_note(listing.skipped, folder),
                f"Left out {len(problems)} file(s) that cannot be used." if problems else None,
            ):
                if note:
                    print(note, flush=True)
        return _write(folder, out, listing, items, shard_images, name, test_split)


def undecodable(paths) -> dict:
    """path -> reason for every file TensorFlow cannot decode (the decode training uses)."""
    import numpy as np

    from kerascnn.data.streaming import BadImages, FilePart, file_problem, reporting_bad_images

    failed = BadImages(skip=True)
    part = FilePart(np.array(paths, dtype=object), np.zeros(len(paths), np.int64), size=(8, 8), channels=3, bad=failed)
    with reporting_bad_images():
        for _ in part.elements().batch(256).as_numpy_iterator():
            pass
    return {p: file_problem(p) for p in sorted(failed.names)}


def _write(folder, out, listing, items, shard_images, name, test_split) -> Path:
    import numpy as np
    import tensorflow_datasets as tfds

    from kerascnn.data.raw import TEST_SEED, split_by_identity

    name = name or re.sub(r"[^a-z0-9]+", "_", folder.resolve().name.lower()).strip("_") or "images"
    if not name[0].isalpha():
        name = "images_" + name
    if listing.has_test:
        splits = {part: [(p, y) for p, y, q in items if q == part] for part in ("train", "test")}
    else:
        relative = np.array([listing.relative(p) for p, _, _ in items], dtype=object)
        keep, held = split_by_identity(relative, test_split, TEST_SEED)
        splits = {"train": [items[i][:2] for i in keep], "test": [items[i][:2] for i in held]}
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)  # a killed writer's (we hold the lock: no writer is running)

    def examples(pairs):
        for i, (path, label) in enumerate(pairs):
            yield i, {"image": Path(path).read_bytes(), "label": int(label), "path": listing.relative(path)}

    features = tfds.features.FeaturesDict(
        {
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=listing.class_names),
            "path": tfds.features.Text(),
        }
    )
    n = max(len(pairs) for pairs in splits.values())
    config = tfds.download.DownloadConfig(num_shards=max(1, -(-n // int(shard_images))))
    from tensorflow_datasets.core.dataset_builders import adhoc_builder

    # TFDS looks up download checksums beside the builder's code (through importlib_resources, which it
    # does not declare); an ad-hoc dataset downloads nothing, so it has none.
    shadowed = "url_infos" in vars(adhoc_builder.AdhocBuilder)
    if not shadowed:
        adhoc_builder.AdhocBuilder.url_infos = None
    try:
        builder = tfds.dataset_builders.store_as_tfds_dataset(
            name=name,
            version="1.0.0",
            features=features,
            data_dir=str(work),
            download_config=config,
            split_datasets={split: examples(pairs) for split, pairs in splits.items()},
            description=f"kerascnn data prepare {folder}",
        )
        version_dir = Path(builder.data_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # nothing half-written stays (a full disk gets its space back)
        raise
    finally:
        if not shadowed:
            del adhoc_builder.AdhocBuilder.url_infos
    work.rename(out)
    return out / version_dir.relative_to(work)
