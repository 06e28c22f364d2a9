"""``kerascnn data prepare FOLDER --out DIR``: an image folder as a TFDS dataset of sharded TFRecord files.

A folder of many small files becomes a few large shards that stream fast (sequential reads) and shard
across workers by file. TFDS's own writer does it (``tfds.dataset_builders.store_as_tfds_dataset``): the
encoded bytes of every image are stored as they are (no re-encoding, nothing decoded), with the class
names as a ``ClassLabel``, so ``--dataset DIR`` reads it back with ``tfds.builder_from_directory`` and the
metadata (classes, split sizes) comes with it. TFDS shuffles the examples while writing, so the
sub-splits used for validation and test (``train[:N]``...) hold every class. The result is written to
``DIR.partial`` and renamed to ``DIR`` when complete; an existing ``DIR`` is never overwritten.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from kerascnn.errors import DataError

DEFAULT_SHARD_IMAGES = 10_000


def prepare_folder(folder, out, *, shard_images: int = DEFAULT_SHARD_IMAGES, name: str | None = None) -> Path:
    """Write ``folder`` (class subfolders, optionally inside ``train/`` and ``test/``) as a TFDS dataset in ``out``.

    Returns the dataset's version folder (what ``--dataset`` takes; ``out`` works too).
    """
    import tensorflow_datasets as tfds

    from kerascnn.data.folders import list_image_folder

    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of class subfolders of images.")
    if out.exists():
        raise DataError(f"{out} exists; choose a new --out folder (a prepared dataset is never overwritten).")
    if int(shard_images) < 1:
        raise DataError(f"--shard-images must be at least 1. Received: {shard_images}")
    class_names, train, test = list_image_folder(folder)
    name = name or re.sub(r"[^a-z0-9]+", "_", folder.resolve().name.lower()).strip("_") or "images"
    if not name[0].isalpha():
        name = "images_" + name
    splits = {"train": train, **({"test": test} if test else {})}
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)

    def examples(items):
        for i, (path, label) in enumerate(items):
            yield i, {"image": Path(path).read_bytes(), "label": int(label), "path": str(Path(path).relative_to(folder))}

    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3)),
        "label": tfds.features.ClassLabel(names=class_names),
        "path": tfds.features.Text(),
    })
    n = max(len(items) for items in splits.values())
    config = tfds.download.DownloadConfig(num_shards=max(1, -(-n // int(shard_images))))
    from tensorflow_datasets.core.dataset_builders import adhoc_builder

    # TFDS looks up download checksums beside the builder's code (through importlib_resources, which it
    # does not declare); an ad-hoc dataset downloads nothing, so it has none.
    shadowed = "url_infos" in vars(adhoc_builder.AdhocBuilder)
    if not shadowed:
        adhoc_builder.AdhocBuilder.url_infos = None
    try:
        builder = tfds.dataset_builders.store_as_tfds_dataset(
            name=name, version="1.0.0", features=features, data_dir=str(work), download_config=config,
            split_datasets={split: examples(items) for split, items in splits.items()},
            description=f"kerascnn data prepare {folder}")
        version_dir = Path(builder.data_dir)
    except Exception:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        if not shadowed:
            del adhoc_builder.AdhocBuilder.url_infos
    work.rename(out)
    return out / version_dir.relative_to(work)
