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
from pathlib import Path

import numpy as np

from kerascnn.data.datasets import load_dataset
from kerascnn.data.raw import VAL_SEED, RawDataset, split_indices
from kerascnn.data.pipeline import DEFAULT_CACHE_BUDGET, build_dataset, channel_stats
from kerascnn.data.spec import DataSpec
from kerascnn.data.folders import list_image_folder
from kerascnn.data.streaming import BadImages, FilePart, TFDSPart, sample_images
from kerascnn.errors import DataError

STATS_SAMPLE = 1000  # images decoded for mean/std of a streamed set: the statistics converge long before


class ArrayPart:
    """One part held in memory as raw uint8 arrays."""

    streaming = False

    def __init__(self, x, y):
        self.x, self.labels = x, np.asarray(y, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def dataset(self, spec, *, batch_size, training=False, seed=0, augment=None, shard=None, repeat=False, skip=0,
                cache_budget_bytes=DEFAULT_CACHE_BUDGET):
        ds = build_dataset(self.x, self.labels, spec, batch_size=batch_size, training=training, seed=seed,
                           augment=augment, cache_budget_bytes=cache_budget_bytes)
        if repeat:
            ds = ds.repeat()
        if skip:  # batches already trained on (resuming with --steps-per-epoch)
            ds = ds.skip(-(-int(skip) // int(batch_size)))
        return ds

    def images(self, indices) -> np.ndarray:
        return self.x[np.asarray(indices, dtype=np.int64)]

    def subset(self, indices) -> "ArrayPart":
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

    @property
    def streaming(self) -> bool:
        return bool(self.train.streaming)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def pipelines(self, *, batch_size, seed=0, augment=None, shard=None, repeat_train=False, skip_train=0,
                  cache_budget_bytes=DEFAULT_CACHE_BUDGET):
        """``(train, val, test)`` tf.data pipelines of ``(images, labels)`` batches (val None without validation).

        Args:
            batch_size: global batch size. seed: shuffling seed. augment: a Keras layer for training batches.
            shard: ``(workers, index)``: this worker reads only its share of the training files.
            repeat_train: repeat the training pipeline forever (``steps_per_epoch`` bounds the epochs).
            skip_train: training elements to skip first (resuming a run with bounded epochs).
        """
        common = dict(batch_size=int(batch_size), seed=seed)
        extra = {} if self.streaming else {"cache_budget_bytes": cache_budget_bytes}
        train = self.train.dataset(self.spec, training=True, augment=augment, shard=shard, repeat=repeat_train,
                                   skip=skip_train, **common, **extra)
        val = self.val.dataset(self.spec, training=False, **common, **extra) if self.val is not None else None
        test = self.test.dataset(self.spec, training=False, **common, **extra)
        return train, val, test

    def info(self) -> dict:
        """What data_spec.json / metrics.json say about how the data was fed."""
        return {"streaming": self.streaming, "train_images": len(self.train),
                "val_images": len(self.val) if self.val is not None else 0, "test_images": len(self.test)}


def _validation_indices(n: int, val_split: float, fold=None, folds=None, labels=None, class_names=None):
    if fold:
        from kerascnn.data.folds import check_folds, fold_indices

        if not 1 <= int(fold) <= int(folds):
            raise DataError(f"fold must be in 1..{folds}. Received: fold={fold}")
        check_folds(labels, folds, class_names)
        return fold_indices(labels, folds)[int(fold) - 1]
    if val_split <= 0:
        return np.arange(n), None
    return split_indices(n, val_split, seed=VAL_SEED)


def _spec(name, class_names, image_shape, input_shape, mean, std, statistics) -> DataSpec:
    return DataSpec(name, class_names, image_shape, input_shape, mean, std, statistics=statistics, streaming=True)


def prepare_data(dataset, input_shape=None, *, data_dir=None, val_split: float = 0.1, test_split: float = 0.2,
                 fold=None, folds=None, cache_budget_bytes: int = DEFAULT_CACHE_BUDGET, skip_bad_images: bool = False,
                 stats_sample: int = STATS_SAMPLE, spec: DataSpec | None = None, seed: int = 0) -> PreparedData:
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
            return _prepare_folder(path, input_shape, val_split, test_split, fold, folds, cache_budget_bytes, bad,
                                   stats_sample, spec, seed)
        tfds_builder = _tfds_builder(source, path, data_dir)
        if tfds_builder is not None:
            prepared = _prepare_tfds(tfds_builder, source, input_shape, val_split, test_split, fold, folds,
                                     cache_budget_bytes, bad, stats_sample, spec, on_disk=path.is_dir())
            if prepared is not None:
                return prepared
        source = load_dataset(source, data_dir=data_dir, test_split=test_split)
    return _prepare_raw(source, input_shape, val_split, fold, folds, spec, bad)


def _shape_for(input_shape, channels: int, raw_shape=None) -> tuple:
    if callable(input_shape):
        input_shape = input_shape(channels)
    if input_shape is None:
        input_shape = raw_shape
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or shape[2] not in (1, 3) or min(shape) < 1:
        raise DataError(f"Cannot feed {channels}-channel images to a model with input shape {shape}: only 1 or 3 "
                        "channels (grayscale/RGB) are supported.")
    return shape


def _prepare_raw(raw: RawDataset, input_shape, val_split, fold, folds, spec, bad) -> PreparedData:
    from kerascnn.data.pipeline import make_spec

    keep, held = _validation_indices(len(raw.y_train), val_split, fold, folds, raw.y_train, raw.class_names)
    train = ArrayPart(raw.x_train[keep], raw.y_train[keep])
    val = ArrayPart(raw.x_train[held], raw.y_train[held]) if held is not None and len(held) else None
    test = ArrayPart(raw.x_test, raw.y_test)
    if spec is None:
        shape = _shape_for(input_shape, raw.image_shape[2], raw.image_shape)
        spec = dataclasses.replace(make_spec(raw, shape, train.x),
                                   statistics={"images": int(min(len(train), 20000)), "of": int(len(train)),
                                               "sample": len(train) > 20000})
    else:
        spec = dataclasses.replace(spec, image_shape=raw.image_shape, dataset=raw.name)
    return PreparedData(raw.name, list(raw.class_names), train, val, test, spec, bad, raw=raw)


# ---------------------------------------------------------------------------------------------- folders

def _is_image_folder(path: Path) -> bool:
    from kerascnn.data.idx import find_idx_files

    if find_idx_files(path) or (path / "dataset_info.json").is_file() or _tfds_version_dir(path):
        return False
    return True


def _prepare_folder(folder, input_shape, val_split, test_split, fold, folds, budget, bad, stats_sample, spec,
                    seed) -> PreparedData:
    names, train_items, test_items = list_image_folder(folder)
    paths = np.array([p for p, _ in train_items], dtype=object)
    labels = np.array([y for _, y in train_items], dtype=np.int64)
    if test_items is None:  # the same split as load_dataset's split_train_test
        keep, held = split_indices(len(paths), test_split, 0)
        test_paths, test_labels = paths[held], labels[held]
        paths, labels = paths[keep], labels[keep]
    else:
        test_paths = np.array([p for p, _ in test_items], dtype=object)
        test_labels = np.array([y for _, y in test_items], dtype=np.int64)
    keep, held = _validation_indices(len(paths), val_split, fold, folds, labels, names)
    if spec is not None:
        size, channels = spec.input_shape[:2], spec.image_shape[2]
        shape = tuple(spec.input_shape)
    else:
        size = _shape_for(input_shape, 3)[:2]
    whole = FilePart(paths, labels, size=size, channels=3, bad=bad)
    statistics = None
    if spec is None:
        # A seeded sample gives the channel count (color if any sampled image has color) and mean/std.
        sample, native = sample_images(whole.subset(keep), stats_sample, seed)
        channels = 3 if (native >= 3).any() else 1
        shape = _shape_for(input_shape, channels)
        if tuple(shape[:2]) != tuple(size):
            size = shape[:2]
            sample, native = sample_images(FilePart(paths[keep], labels[keep], size=size, channels=3, bad=bad),
                                           stats_sample, seed)
        if channels == 1:
            sample = sample[..., :1]
        mean, std = channel_stats(sample, shape[2])
        statistics = {"images": int(len(sample)), "of": int(len(keep)), "sample": len(sample) < len(keep),
                      "seed": int(seed)}
    image_shape = (*size, channels)
    parts = [FilePart(p, y, size=size, channels=channels, bad=bad)
             for p, y in ((paths[keep], labels[keep]),
                          (paths[held], labels[held]) if held is not None and len(held) else (None, None),
                          (test_paths, test_labels))]
    if spec is None:
        spec = _spec(str(folder), names, image_shape, shape, mean, std, statistics)
    else:
        spec = dataclasses.replace(spec, image_shape=image_shape, dataset=str(folder))
    train, val, test = parts[0], (parts[1] if held is not None and len(held) else None), parts[2]
    n_all = len(paths) + len(test_paths)
    if n_all * int(np.prod(shape)) * 4 <= budget:
        # Small enough: decode once (TensorFlow, in parallel) and keep the uint8 arrays.
        x_train = FilePart(paths, labels, size=size, channels=channels, bad=bad).images(np.arange(len(paths)))
        x_test = test.images(np.arange(len(test)))
        kept = _kept(train, paths, x_train, labels, bad)
        if kept is not None:
            paths, x_train, labels = kept
        raw = RawDataset(str(folder), names, x_train, labels, x_test, test_labels)
        spec = dataclasses.replace(spec, streaming=False)
        keep, held = _validation_indices(len(labels), val_split, fold, folds, labels, names)
        if statistics is not None:  # all training images are decoded now: their statistics, not a sample's
            mean, std = channel_stats(x_train[keep], shape[2])
            spec = dataclasses.replace(spec, mean=mean, std=std, statistics={
                "images": int(min(len(keep), 20000)), "of": int(len(keep)), "sample": len(keep) > 20000})
        val = ArrayPart(x_train[held], labels[held]) if held is not None and len(held) else None
        return PreparedData(str(folder), names, ArrayPart(x_train[keep], labels[keep]), val,
                            ArrayPart(x_test, test_labels), spec, bad, raw=raw)
    return PreparedData(str(folder), names, train, val, test, spec, bad)


def _kept(part, paths, x, labels, bad):
    """After skipping bad images while loading into memory: the paths and labels that were kept."""
    if len(x) == len(paths):
        return None
    keep = np.array([str(p) not in bad.names for p in paths])
    return paths[keep], x, labels[keep]


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
            raise DataError(f"{path} looks like a prepared TFDS dataset but cannot be read: "
                            f"{str(e).splitlines()[0][:200]}") from None
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
            ds = builder.as_dataset(split=split, decoders={k: tfds.decode.SkipDecoding() for k, f in
                                                           builder.info.features.items() if type(f).__name__ == "Image"})
            sizes[split] = int(ds.reduce(0, lambda n, _: n + 1))
        except Exception:
            if split == "train":
                raise
    return sizes


def _prepare_tfds(builder, name, input_shape, val_split, test_split, fold, folds, budget, bad, stats_sample, spec,
                  on_disk=False):
    from kerascnn.data.tfds_source import _supervised_keys

    image_key, label_key = _supervised_keys(builder)
    feature = builder.info.features[image_key]
    native_shape = tuple(feature.shape)
    channels = int(native_shape[-1] or 3)
    sizes = _split_sizes(builder)
    n_train = sizes["train"]
    has_test = "test" in sizes
    shape = tuple(spec.input_shape) if spec is not None else _shape_for(input_shape, channels, native_shape
                                                                          if None not in native_shape else None)
    n_all = n_train + sizes.get("test", 0)
    in_memory = bool(fold) or n_all * int(np.prod(shape)) * 4 <= budget
    if in_memory and not on_disk:
        return None  # in memory, through load_dataset (folds need the labels of every image anyway)
    if fold:
        raise DataError("--folds needs the dataset in memory; a prepared TFRecord folder streams. Train on the image "
                        "folder it was made from instead.")
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
        spec = _spec(label, class_names, image_shape, shape, mean, std,
                     {"images": int(len(sample)), "of": int(fit_n), "sample": len(sample) < fit_n, "seed": 0})
    else:
        spec = dataclasses.replace(spec, image_shape=image_shape, dataset=label)
    if in_memory:  # a small prepared folder: decode it once, like a small image folder
        train, val, test = (None if p is None else ArrayPart(p.images(np.arange(len(p))), p.labels)
                            for p in (train, val, test))
        spec = dataclasses.replace(spec, streaming=False)
    return PreparedData(label, list(class_names), train, val, test, spec, bad)
