"""``prepare_data``: the one way every command gets its data (fit, evaluate, tune's trials, export).

It opens the source, splits it (train / validation or fold / test, the same split every time), decides
between the two ways of feeding it, computes the DataSpec, and returns :class:`PreparedData`, whose
``pipelines(...)`` gives the tf.data pipelines.

* **In memory** (digits, IDX folders, and any folder or TFDS set whose preprocessed images fit the
  cache budget, 512 MB by default): the uint8 arrays of :class:`~kerascnn.data.raw.RawDataset`, fed
  by :func:`kerascnn.data.pipeline.build_dataset` (preprocessed once, cached; far ahead of any model).
* **Streaming** (anything larger, or every folder/TFDS set with a budget of 0): file lists or TFDS
  records decoded by tf.data while training runs (:mod:`kerascnn.data.streaming`); memory stays flat as
  the set grows, nothing is decoded before the first step but a seeded sample for the statistics.

Image folders are decoded by TensorFlow in both cases, each image resized once from its own size to the
model input, so both ways give the same images, splits and class names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np

from kerascnn.data.datasets import DEFAULT_DATASET, read_arrays
from kerascnn.data.folders import (
    TEST_PART,
    TRAIN_PART,
    list_image_folder,
    problems_message,
    scan_files,
    skipped_note,
)
from kerascnn.data.pipeline import DEFAULT_CACHE_BUDGET, build_dataset, channel_stats
from kerascnn.data.raw import (
    DEFAULT_TEST_SPLIT,
    DEFAULT_VAL_SPLIT,
    TEST_SEED,
    VAL_SEED,
    RawDataset,
    split_by_identity,
    split_indices,
)
from kerascnn.data.spec import DataSpec
from kerascnn.data.streaming import BadImageError, BadImages, FilePart, TFDSPart, sample_images
from kerascnn.errors import DataError

STATS_SAMPLE = 1000  # images decoded for mean/std of a streamed set: the statistics converge long before
# Every header of a folder is checked before training up to this many files (seconds); a larger folder has a
# seeded sample checked (its common size and color), the rest as they stream, as ImageNet loaders do.
FULL_HEADER_CHECK = 50_000
HEADER_SAMPLE = 10_000
SIDES = ("train", "val", "test")  # a file's side of the split, as the split digest spells it


class ArrayPart:
    """One part held in memory as raw uint8 arrays."""

    streaming = False

    def __init__(self, x, y):
        self.x, self.labels = x, np.asarray(y, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def dataset(
        self,
        spec,
        *,
        batch_size,
        training=False,
        seed=0,
        augment=None,
        shard=None,
        repeat=False,
        skip=0,
        cache_budget_bytes=DEFAULT_CACHE_BUDGET,
    ):
        ds = build_dataset(
            self.x,
            self.labels,
            spec,
            batch_size=batch_size,
            training=training,
            seed=seed,
            augment=augment,
            cache_budget_bytes=cache_budget_bytes,
        )
        if repeat:
            ds = ds.repeat()
        if skip:  # batches already trained on (resuming with --steps-per-epoch)
            ds = ds.skip(-(-int(skip) // int(batch_size)))
        return ds

    def images(self, indices) -> np.ndarray:
        return self.x[np.asarray(indices, dtype=np.int64)]

    def subset(self, indices) -> ArrayPart:
        indices = np.asarray(indices, dtype=np.int64)
        return ArrayPart(self.x[indices], self.labels[indices])


@dataclasses.dataclass
class PreparedData:
    """A dataset split into parts, with its DataSpec. ``val`` is None without validation."""

    name: str
    class_names: list
    train: object  # ArrayPart | StreamPart
    val: object
    test: object
    spec: DataSpec
    bad_images: BadImages
    raw: RawDataset | None = None  # in memory: the dataset itself (tune's trial processes start from it)
    fingerprint: dict = dataclasses.field(default_factory=dict)  # files, files_digest, split_digest
    notes: list = dataclasses.field(default_factory=list)  # lines worth telling the user (files skipped)

    @property
    def streaming(self) -> bool:
        return bool(self.train.streaming)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def pipelines(
        self,
        *,
        batch_size,
        seed=0,
        augment=None,
        shard=None,
        repeat_train=False,
        skip_train=0,
        cache_budget_bytes=DEFAULT_CACHE_BUDGET,
        with_test=True,
    ):
        """``(train, val, test)`` tf.data pipelines of ``(images, labels)`` batches (val None without validation).

        Args:
            batch_size: global batch size. seed: shuffling seed. augment: a Keras layer for training batches.
            shard: ``(workers, index)``: this worker reads only its share of the training files.
            repeat_train: repeat the training pipeline forever (``steps_per_epoch`` bounds the epochs).
            skip_train: training elements to skip first (resuming a run with bounded epochs).
            with_test: False: test None, not built (training evaluates its test part on its own, streamed).
        """
        common = dict(batch_size=int(batch_size), seed=seed)
        extra = {} if self.streaming else {"cache_budget_bytes": cache_budget_bytes}
        train = self.train.dataset(
            self.spec,
            training=True,
            augment=augment,
            shard=shard,
            repeat=repeat_train,
            skip=skip_train,
            **common,
            **extra,
        )
        val = self.val.dataset(self.spec, training=False, **common, **extra) if self.val is not None else None
        test = self.test.dataset(self.spec, training=False, **common, **extra) if with_test else None
        return train, val, test

    def with_test_rechecked(self) -> PreparedData:
        """A streamed folder's test files checked again before the evaluation (one deleted, looped or replaced
        while training): all named at once (:class:`BadImageError`: the run is kept and resumes at its
        evaluation), or with ``skip_bad_images`` left out and counted, so predictions and labels stay aligned."""
        test = self.test
        if not isinstance(test, FilePart) or len(test) > FULL_HEADER_CHECK:
            return self  # a large test part is checked as it streams, as its training part was
        problems = scan_files(test.paths).problems
        if not problems:
            return self
        if not self.bad_images.skip:
            raise BadImageError(
                problems_message(problems, "the test part", skip_hint=False) + "\nRemove or fix "
                "them and rerun with --allow-data-change (training is done; the run resumes at its "
                "evaluation), or pass --skip-bad-images."
            )
        for path in problems:
            self.bad_images.record(path)
        keep = np.flatnonzero([p not in problems for p in test.paths])
        if not len(keep):
            raise BadImageError(f"No test image of {self.name} can be read any more.")
        return dataclasses.replace(self, test=test.subset(keep))

    def info(self) -> dict:
        """What data_spec.json / metrics.json say about how the data was fed."""
        return {
            "streaming": self.streaming,
            "train_images": len(self.train),
            "val_images": len(self.val) if self.val is not None else 0,
            "test_images": len(self.test),
            "bad_images": self.bad_images.count,
            **self.fingerprint,
        }


def _validation_indices(n: int, val_split: float, fold=None, folds=None, labels=None, class_names=None, names=None):
    """(kept, validation) indices of the training part: a fold, a split by file identity (``names``: files keep
    their side as others come and go), or a seeded split of the indices (arrays)."""
    if fold:
        from kerascnn.data.folds import check_folds, fold_indices

        if not 1 <= int(fold) <= int(folds):
            raise DataError(f"fold must be in 1..{folds}. Received: fold={fold}")
        check_folds(labels, folds, class_names)
        return fold_indices(labels, folds)[int(fold) - 1]
    if val_split <= 0:
        return np.arange(n), None
    if names is not None:
        return split_by_identity(names, val_split, seed=VAL_SEED)
    return split_indices(n, val_split, seed=VAL_SEED)


def _digest(rows) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(("\t".join(str(v) for v in row) + "\n").encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def _as_text(names) -> np.ndarray:
    """Bytes names (a folder listing's) as ``str`` (the file system's decoding)."""
    return np.array([os.fsdecode(n) for n in names.tolist()], dtype=object)


def _names_digest(names, values) -> str:
    """:func:`_digest` of the rows ``(name, value)`` with the names as bytes (a folder listing's), in blocks."""
    h = hashlib.sha256()
    values = values if values.dtype.kind == "S" else values.astype("S")  # integers: their decimal digits
    for start in range(0, len(names), 65536):
        block = zip(names[start : start + 65536].tolist(), values[start : start + 65536].tolist())
        h.update(b"".join(b"%s\t%s\n" % row for row in block))
    return h.hexdigest()[:16]


def _array_fingerprint(raw: RawDataset) -> dict:
    h = hashlib.sha256()
    for a in (raw.x_train, raw.y_train, raw.x_test, raw.y_test):
        h.update(np.ascontiguousarray(a).data)
    digest = h.hexdigest()[:16]
    return {"files": int(len(raw.y_train) + len(raw.y_test)), "files_digest": digest, "split_digest": digest}


def _spec(name, class_names, image_shape, input_shape, mean, std, statistics) -> DataSpec:
    return DataSpec(name, class_names, image_shape, input_shape, mean, std, statistics=statistics, streaming=True)


def prepare_data(
    dataset,
    input_shape=None,
    *,
    data_dir=None,
    val_split: float = DEFAULT_VAL_SPLIT,
    test_split: float = DEFAULT_TEST_SPLIT,
    fold=None,
    folds=None,
    cache_budget_bytes: int = DEFAULT_CACHE_BUDGET,
    skip_bad_images: bool = False,
    stats_sample: int = STATS_SAMPLE,
    spec: DataSpec | None = None,
    seed: int = 0,
) -> PreparedData:
    """Open, split and describe ``dataset`` for a model input; see the module docstring.

    Args:
        dataset: ``"digits"``, a TFDS name, a prepared TFDS folder, a folder of IDX files or of class
            subfolders, or a :class:`RawDataset`.
        input_shape: the model input (H, W, C), or a function ``channels -> (H, W, C)`` called with the
            data's channel count (so a model's default input follows the data); None: the raw image shape.
        val_split: validation fraction of the training part (fixed seed); 0: no validation.
        fold, folds: cross-validation fold ``fold`` of ``folds`` instead of ``val_split``.
        cache_budget_bytes: largest preprocessed training set kept in memory; 0 streams every folder/TFDS set.
        skip_bad_images: drop undecodable images met while streaming (counted in ``bad_images``).
        stats_sample: images decoded for mean/std of a streamed set.
        spec: a trained model's DataSpec: use its statistics and input instead of computing them.
    """
    bad = BadImages(skip_bad_images)
    source = dataset if isinstance(dataset, RawDataset) else str(dataset)
    if isinstance(source, str):
        path = Path(source).expanduser()
        if path.is_dir() and _is_image_folder(path):
            return _prepare_folder(
                path, input_shape, val_split, test_split, fold, folds, cache_budget_bytes, bad, stats_sample, spec, seed
            )
        tfds_builder = _tfds_builder(source, path, data_dir)
        if tfds_builder is not None:
            prepared = _prepare_tfds(
                tfds_builder,
                source,
                input_shape,
                val_split,
                test_split,
                fold,
                folds,
                cache_budget_bytes,
                bad,
                stats_sample,
                spec,
                on_disk=path.is_dir(),
            )
            if prepared is not None:
                return prepared
        source = read_arrays(source, data_dir=data_dir, test_split=test_split)
    return _prepare_raw(source, input_shape, val_split, fold, folds, spec, bad)


def _shape_for(input_shape, channels: int, raw_shape=None) -> tuple:
    if callable(input_shape):
        input_shape = input_shape(channels)
    if input_shape is None:
        input_shape = raw_shape
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or shape[2] not in (1, 3) or min(shape) < 1:
        raise DataError(
            f"Cannot feed {channels}-channel images to a model with input shape {shape}: only 1 or 3 "
            "channels (grayscale/RGB) are supported."
        )
    return shape


def _prepare_raw(raw: RawDataset, input_shape, val_split, fold, folds, spec, bad) -> PreparedData:
    from kerascnn.data.pipeline import make_spec

    keep, held = _validation_indices(
        len(raw.y_train), val_split, fold, folds, raw.y_train, raw.class_names, names=raw.train_ids
    )
    train = ArrayPart(raw.x_train[keep], raw.y_train[keep])
    val = ArrayPart(raw.x_train[held], raw.y_train[held]) if held is not None and len(held) else None
    test = ArrayPart(raw.x_test, raw.y_test)
    if spec is None:
        shape = _shape_for(input_shape, raw.image_shape[2], raw.image_shape)
        spec = dataclasses.replace(
            make_spec(raw, shape, train.x),
            statistics={"images": int(min(len(train), 20000)), "of": int(len(train)), "sample": len(train) > 20000},
        )
    else:
        spec = dataclasses.replace(spec, image_shape=raw.image_shape, dataset=raw.name)
    return PreparedData(
        raw.name, list(raw.class_names), train, val, test, spec, bad, raw=raw, fingerprint=_array_fingerprint(raw)
    )


# ---------------------------------------------------------------------------------------------- folders


def _is_image_folder(path: Path) -> bool:
    from kerascnn.data.idx import find_idx_files

    if find_idx_files(path) or (path / "dataset_info.json").is_file() or _tfds_version_dir(path):
        return False
    return True


def _header_check(listing, seed):
    """The indices of the files whose headers are checked before training: all of them up to
    ``FULL_HEADER_CHECK`` files, else a seeded ``HEADER_SAMPLE`` (the rest are checked as they stream)."""
    n = len(listing)
    if n <= FULL_HEADER_CHECK:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, HEADER_SAMPLE, replace=False))


def _prepare_folder(
    folder, input_shape, val_split, test_split, fold, folds, budget, bad, stats_sample, spec, seed
) -> PreparedData:
    """A folder of class subfolders: listed, headers checked, split by file identity, decoded by TensorFlow
    (in memory when it fits ``budget``, else streamed)."""
    from kerascnn.data.streaming import file_problem

    listing = list_image_folder(folder)
    files, labels, parts = listing.names, listing.labels, listing.parts
    checked = _header_check(listing, seed)
    checked_paths = listing.paths(checked)
    scan = scan_files(checked_paths)  # before anything trains: all problems are listed at once
    problems = dict(scan.problems)
    if spec is not None:
        channels, shape = int(spec.image_shape[2]), tuple(spec.input_shape)
    else:
        channels = scan.channels
        shape = _shape_for(input_shape, channels, (*scan.common_size(), channels))
    size = tuple(shape[:2])
    if problems:
        usable = np.ones(len(files), bool)
        usable[[i for i, p in zip(checked, checked_paths) if p in problems]] = False
        files, labels, parts = files[usable], labels[usable], parts[usable]
    del checked_paths
    prefix = listing.prefix
    in_memory = len(files) * int(np.prod(shape)) * 4 <= budget
    x = None
    if in_memory:  # decode once (TensorFlow, in parallel); every image that fails is named, all at once
        failed = BadImages(skip=True)
        whole = FilePart(files, labels, size=size, channels=channels, bad=failed, prefix=prefix)
        x = whole.images(np.arange(len(files)))
        if failed.names:
            problems.update({p: file_problem(p) for p in sorted(failed.names)})
            decoded = np.array([p not in failed.names for p in whole.paths], bool)
            files, labels, parts = files[decoded], labels[decoded], parts[decoded]
    if problems and not bad.skip:
        raise DataError(problems_message(problems, folder))
    for p in problems:
        bad.record(p)
    if listing.has_test:
        train_idx, test_idx = np.flatnonzero(parts == TRAIN_PART), np.flatnonzero(parts == TEST_PART)
    else:  # each file's side is a function of its path: adding or removing files moves only those
        train_idx, test_idx = (np.asarray(i) for i in split_by_identity(files, test_split, TEST_SEED))
    if not len(train_idx) or not len(test_idx):
        raise DataError(f"{folder} has no usable {'training' if not len(train_idx) else 'test'} images left.")
    keep, held = _validation_indices(
        len(train_idx), val_split, fold, folds, labels[train_idx], listing.class_names, names=files[train_idx]
    )
    fit_idx = train_idx[keep]
    val_idx = train_idx[held] if held is not None and len(held) else None
    side = np.full(len(files), SIDES.index("train"), np.int8)
    side[test_idx] = SIDES.index("test")
    if val_idx is not None:
        side[val_idx] = SIDES.index("val")
    order = np.argsort(files, kind="stable")
    fingerprint = {
        "files": int(len(files)),
        "files_digest": _names_digest(files[order], labels[order]),
        "split_digest": _names_digest(files[order], np.array(SIDES, dtype="S")[side[order]]),
    }
    del order, side
    notes = [n for n in (skipped_note(listing.skipped, folder),) if n]
    if problems:
        notes.append(
            f"Left out {len(problems)} file(s) of {folder} that cannot be used (--skip-bad-images), e.g. "
            f"{next(iter(problems.values()))}"
        )
    if len(checked) < len(listing) and not in_memory:
        notes.append(
            f"Checked the headers of {len(checked):,} of the {len(listing):,} files before training (a seeded "
            "sample); the rest are checked as they stream: a file that cannot be used stops the run naming it, or "
            "is left out and counted with --skip-bad-images. `kerascnn data check FOLDER` checks every file first."
        )
    names = listing.class_names
    image_shape = (*size, channels)
    label = str(folder)
    if in_memory:
        raw = RawDataset(
            label,
            names,
            x[train_idx],
            labels[train_idx],
            x[test_idx],
            labels[test_idx],
            train_ids=_as_text(files[train_idx]),
        )
        if spec is None:
            mean, std = channel_stats(x[fit_idx], shape[2])
            spec = DataSpec(
                label,
                names,
                image_shape,
                shape,
                mean,
                std,
                statistics={
                    "images": int(min(len(fit_idx), 20000)),
                    "of": int(len(fit_idx)),
                    "sample": len(fit_idx) > 20000,
                },
            )
        else:
            spec = dataclasses.replace(spec, image_shape=image_shape, dataset=label)
        spec = dataclasses.replace(spec, streaming=False)
        val = ArrayPart(x[val_idx], labels[val_idx]) if val_idx is not None else None
        return PreparedData(
            label,
            names,
            ArrayPart(x[fit_idx], labels[fit_idx]),
            val,
            ArrayPart(x[test_idx], labels[test_idx]),
            spec,
            bad,
            raw=raw,
            fingerprint=fingerprint,
            notes=notes,
        )

    def part(idx):
        return FilePart(files[idx], labels[idx], size=size, channels=channels, bad=bad, prefix=prefix)

    train = part(fit_idx)
    if spec is None:
        sample, _ = sample_images(
            FilePart(files[fit_idx], labels[fit_idx], size=size, channels=3, bad=bad, prefix=prefix), stats_sample, seed
        )
        if channels == 1:
            sample = sample[..., :1]
        mean, std = channel_stats(sample, shape[2])
        spec = _spec(
            label,
            names,
            image_shape,
            shape,
            mean,
            std,
            {
                "images": int(len(sample)),
                "of": int(len(fit_idx)),
                "sample": len(sample) < len(fit_idx),
                "seed": int(seed),
            },
        )
    else:
        spec = dataclasses.replace(spec, image_shape=image_shape, dataset=label)
    return PreparedData(
        label,
        names,
        train,
        part(val_idx) if val_idx is not None else None,
        part(test_idx),
        spec,
        bad,
        fingerprint=fingerprint,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------- TFDS


def _tfds_version_dir(path: Path):
    """A prepared TFDS dataset folder: ``path`` itself, or its single ``<config>/<version>`` below."""
    if (path / "dataset_info.json").is_file():
        return path
    found = sorted(path.glob("*/dataset_info.json")) + sorted(path.glob("*/*/dataset_info.json"))
    return found[-1].parent if found else None


def _tfds_builder(name: str, path: Path, data_dir):
    """A TFDS builder whose data is prepared on disk, or None (then the old loader handles the name)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    if path.is_dir():
        version_dir = _tfds_version_dir(path)
        if version_dir is None:
            return None
        try:
            return tfds.builder_from_directory(str(version_dir))
        except Exception as e:
            raise DataError(
                f"{path} looks like a prepared TFDS dataset but cannot be read: {str(e).splitlines()[0][:200]}"
            ) from None
    if "/" in name or name.startswith("."):
        return None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception:
        return None
    try:
        if builder.info.splits and builder.data_path.exists():
            return builder
        _split_sizes(builder)  # not prepared: readable only when TFDS is mocked (tfds.testing.mock_data)
        return builder
    except Exception:
        return None  # load_dataset downloads it or explains how to get it offline


def _split_sizes(builder) -> dict:
    """``{split: examples}``: TFDS's metadata, or (mocked data without metadata) counted from the records."""
    import tensorflow_datasets as tfds

    if builder.info.splits:
        return {name: info.num_examples for name, info in builder.info.splits.items()}
    sizes = {}
    for split in ("train", "test"):
        try:
            ds = builder.as_dataset(
                split=split,
                decoders={
                    k: tfds.decode.SkipDecoding()
                    for k, f in builder.info.features.items()
                    if type(f).__name__ == "Image"
                },
            )
            sizes[split] = int(ds.reduce(0, lambda n, _: n + 1))
        except Exception:
            if split == "train":
                raise
    return sizes


def _prepare_tfds(
    builder, name, input_shape, val_split, test_split, fold, folds, budget, bad, stats_sample, spec, on_disk=False
):
    from kerascnn.data.tfds_source import _supervised_keys

    image_key, label_key = _supervised_keys(builder)
    feature = builder.info.features[image_key]
    native_shape = tuple(feature.shape)
    channels = int(native_shape[-1] or 3)
    sizes = _split_sizes(builder)
    n_train = sizes["train"]
    has_test = "test" in sizes
    shape = (
        tuple(spec.input_shape)
        if spec is not None
        else _shape_for(input_shape, channels, native_shape if None not in native_shape else None)
    )
    n_all = n_train + sizes.get("test", 0)
    in_memory = bool(fold) or n_all * int(np.prod(shape)) * 4 <= budget
    if in_memory and not on_disk:
        return None  # in memory, through load_dataset (folds need the labels of every image anyway)
    if fold:
        raise DataError(
            "--folds needs the dataset in memory; a prepared TFRecord folder streams. Train on the image "
            "folder it was made from instead."
        )
    fixed = None not in native_shape[:2]
    size = tuple(native_shape[:2]) if fixed else tuple(shape[:2])
    class_names = builder.info.features[label_key].names
    if has_test:
        train_n, test_split_name, test_n = n_train, "test", sizes["test"]
        train_base = "train"
        offset = 0
    else:
        test_n = int(round(n_train * test_split))
        train_n = n_train - test_n
        test_split_name, train_base, offset = f"train[{train_n}:]", "train", 0
    val_n = int(round(train_n * val_split)) if val_split > 0 else 0
    fit_n = train_n - val_n
    train_split = f"{train_base}[{offset}:{offset + fit_n}]"
    val_split_name = f"{train_base}[{offset + fit_n}:{offset + train_n}]" if val_n else None
    common = dict(image_key=image_key, label_key=label_key, size=size, channels=channels, bad=bad)
    train = TFDSPart(builder, train_split, num_examples=fit_n, **common)
    val = TFDSPart(builder, val_split_name, num_examples=val_n, **common) if val_n else None
    test = TFDSPart(builder, test_split_name, num_examples=test_n, **common)
    image_shape = (*size, channels)
    label = str(name)
    if spec is None:
        sample, _ = sample_images(train, stats_sample)
        sample = sample[..., :channels]
        mean, std = channel_stats(sample, shape[2])
        spec = _spec(
            label,
            class_names,
            image_shape,
            shape,
            mean,
            std,
            {"images": int(len(sample)), "of": int(fit_n), "sample": len(sample) < fit_n, "seed": 0},
        )
    else:
        spec = dataclasses.replace(spec, image_shape=image_shape, dataset=label)
    if in_memory:  # a small prepared folder: decode it once, like a small image folder
        train, val, test = (
            None if p is None else ArrayPart(p.images(np.arange(len(p))), p.labels) for p in (train, val, test)
        )
        spec = dataclasses.replace(spec, streaming=False)
    splits = {
        k: {"examples": v.num_examples, "shards": list(getattr(v, "shard_lengths", []) or [])}
        for k, v in (builder.info.splits or {}).items()
    }
    fingerprint = {
        "files": int(n_all),
        "files_digest": _digest([(str(builder.info.full_name), splits)]),
        "split_digest": _digest(
            [(train.split if hasattr(train, "split") else train_split, val_split_name, test_split_name)]
        ),
    }
    return PreparedData(label, list(class_names), train, val, test, spec, bad, fingerprint=fingerprint)


def load_dataset(
    name_or_path=DEFAULT_DATASET,
    *,
    data_dir=None,
    test_split: float = DEFAULT_TEST_SPLIT,
    seed: int = 0,
    skip_bad_images: bool = False,
) -> RawDataset:
    """A dataset as raw uint8 arrays with a fixed train/test split (the test part is the one every command uses).

    Args:
        name_or_path: ``"digits"``, a TFDS name, a folder of IDX files, a folder of class subfolders (decoded
            as in training, each image resized once to the folder's most common size), or a RawDataset.
        data_dir: TFDS data directory. test_split: fraction held out as the test part when the source has
            none. seed: seed of that split for array sources (a folder's split follows its file names).
    """
    if isinstance(name_or_path, RawDataset):
        return name_or_path
    path = Path(str(name_or_path)).expanduser()
    if path.is_dir() and _is_image_folder(path):
        return prepare_data(
            path, None, val_split=0, test_split=test_split, cache_budget_bytes=2**62, skip_bad_images=skip_bad_images
        ).raw
    return read_arrays(name_or_path, data_dir=data_dir, test_split=test_split, seed=seed)


def training_labels(dataset, *, data_dir=None, test_split: float = DEFAULT_TEST_SPLIT):
    """``(class_names, training-part labels, RawDataset or None)`` without decoding a folder's images.

    For cross-validation's early check: a folder is listed and split as :func:`prepare_data` splits it (its
    RawDataset is None: each fold decodes it through prepare_data); array sources are read once and returned.
    """
    if not isinstance(dataset, RawDataset):
        path = Path(str(dataset)).expanduser()
        if path.is_dir() and _is_image_folder(path):
            listing = list_image_folder(path)
            if listing.has_test:
                return listing.class_names, listing.labels[listing.parts == TRAIN_PART], None
            keep, _ = split_by_identity(listing.names, test_split, TEST_SEED)
            return listing.class_names, listing.labels[keep], None
    raw = load_dataset(dataset, data_dir=data_dir, test_split=test_split)
    return raw.class_names, raw.y_train, raw
