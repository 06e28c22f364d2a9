"""The tf.data input pipelines: raw uint8 arrays in, batches of model-ready float32 tensors out.

    decode (uint8 arrays -> tensors) -> preprocess (kerascnn.data.spec.preprocess: /255, gray<->RGB,
    resize, normalize with the training part's mean/std) -> cache -> shuffle -> batch -> augment
    (Keras preprocessing layers, training only, on request) -> prefetch(AUTOTUNE)

Preprocessing runs once, before the cache, when the preprocessed set fits ``cache_budget_bytes``
(512 MB; 8,000 MNIST images: 25 MB); above it (ImageNet-sized inputs of a large set) the cache holds the uint8 images
and preprocessing runs per batch after shuffling, so that memory stays bounded.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from kerascnn.data.augmentation import augment_batches
from kerascnn.data.raw import RawDataset
from kerascnn.data.spec import LUMA_WEIGHTS, DataSpec, preprocess
from kerascnn.errors import DataError

DEFAULT_CACHE_BUDGET = 512 * 1024**2


class Pipelines(NamedTuple):
    """``(train, val, test, spec)``: three ``tf.data.Dataset`` of ``(images, labels)`` batches + DataSpec."""

    train: object
    val: object
    test: object
    spec: DataSpec


def channel_stats(images: np.ndarray, channels: int) -> tuple[list, list]:
    """Per-channel mean and std of uint8 ``images`` scaled to [0, 1], after gray<->RGB conversion.

    Computed in float64 over (at most) 20,000 images: MNIST gives 0.1307 / 0.3081.
    """
    x = images[:20000].astype(np.float64) / 255.0
    if x.shape[-1] == 3 and channels == 1:
        x = x @ np.array(LUMA_WEIGHTS)[:, None]
    mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))
    if x.shape[-1] == 1 and channels == 3:
        mean, std = np.repeat(mean, 3), np.repeat(std, 3)
    std = np.maximum(std, 1e-3)  # a constant channel must not divide by zero
    return [float(m) for m in mean], [float(s) for s in std]


def make_spec(raw: RawDataset, input_shape, x_train: np.ndarray | None = None) -> DataSpec:
    """The DataSpec of ``raw`` for a model taking ``input_shape`` (H, W, C); stats from ``x_train``."""
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or input_shape[2] not in (1, 3) or min(input_shape) < 1:
        raise DataError(
            f"Cannot feed {raw.image_shape[2]}-channel {raw.image_shape[0]}x{raw.image_shape[1]} images to a model "
            f"with input shape {input_shape}: only 1 or 3 channels (grayscale/RGB) are supported."
        )
    mean, std = channel_stats(raw.x_train if x_train is None else x_train, input_shape[2])
    return DataSpec(raw.name, raw.class_names, raw.image_shape, input_shape, mean, std)


def _preprocess_in_chunks(x, spec: DataSpec, chunk: int = 4096):
    import tensorflow as tf

    return tf.concat([preprocess(x[i : i + chunk], spec) for i in range(0, len(x), chunk)], axis=0)


def build_dataset(
    x,
    y,
    spec: DataSpec,
    *,
    batch_size: int,
    training: bool,
    seed: int = 0,
    augment=None,
    cache_budget_bytes: int = DEFAULT_CACHE_BUDGET,
):
    """One ``tf.data.Dataset`` of ``(images, labels)`` batches from raw uint8 ``x`` and labels ``y``.

    Args:
        x, y: raw uint8 images ``[N, h, w, c]`` and int labels ``[N]``.
        spec: the DataSpec (preprocessing, mean/std of the training part).
        batch_size: global batch size. training: shuffle each epoch and augment.
        seed: shuffling seed. augment: a Keras layer/model applied to training batches, or None
            (see kerascnn.data.augmentation for why one batch at a time).
        cache_budget_bytes: largest preprocessed set cached as float32 (see the module docstring).
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    n = len(x)
    h, w, c = spec.input_shape
    labels = tf.constant(np.asarray(y, dtype=np.int64))
    if n * h * w * c * 4 <= cache_budget_bytes:
        # decode + preprocess once, vectorized; the resulting tensor is the cache. Shuffling and batching
        # indices and gathering whole batches costs one op per batch instead of one per image, so this
        # pipeline runs far ahead of any model (see benchmarks/bench_fit.py).
        cache = _preprocess_in_chunks(x, spec)
        ds = tf.data.Dataset.range(n)
        if training:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).map(
            lambda i: (tf.gather(cache, i), tf.gather(labels, i)), num_parallel_calls=autotune
        )
    else:
        # Too large to keep preprocessed (e.g. 224x224 inputs): cache raw uint8, preprocess per batch.
        ds = tf.data.Dataset.from_tensor_slices((x, labels)).cache()
        if training:
            ds = ds.shuffle(min(n, 20000), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).map(lambda a, b: (preprocess(a, spec), b), num_parallel_calls=autotune)
    if training and augment is not None:
        ds = augment_batches(ds, augment)
    options = tf.data.Options()
    # Multi-worker: every worker holds the whole array, so shard the data, not (absent) files.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(autotune)
