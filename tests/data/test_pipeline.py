"""prepare_data(...).pipelines / build_dataset: preprocessing, splits, statistics, augmentation, order."""

from __future__ import annotations

import numpy as np
import pytest

from kerascnn.data import (
    RawDataset,
    augmentation_layers,
    build_dataset,
    channel_stats,
    load_dataset,
    make_spec,
    prepare_data,
    preprocess,
    split_validation,
)
from kerascnn.errors import DataError


def test_pipelines_for_lenet_on_digits():
    data = prepare_data("digits", (28, 28, 1))
    train, val, test = data.pipelines(batch_size=32)
    spec = data.spec
    x, y = next(iter(train))
    assert x.shape == (32, 28, 28, 1) and x.dtype.name == "float32" and y.dtype.name == "int64"
    assert spec.image_shape == (8, 8, 1) and spec.input_shape == (28, 28, 1)
    n = lambda ds: sum(int(b[1].shape[0]) for b in ds)  # noqa: E731
    raw = load_dataset("digits")
    assert n(train) + n(val) == len(raw.x_train) and n(test) == len(raw.x_test)


def test_statistics_come_from_the_training_part_only():
    raw = load_dataset("digits")
    parts = split_validation(raw, 0.1)
    spec = make_spec(raw, (8, 8, 1), parts.x_train)
    expected = parts.x_train.astype(np.float64) / 255
    assert spec.mean[0] == pytest.approx(expected.mean()) and spec.std[0] == pytest.approx(expected.std())
    # normalized training images have mean 0 and std 1
    x = preprocess(parts.x_train, spec).numpy()
    assert abs(x.mean()) < 1e-4 and abs(x.std() - 1) < 1e-3


def test_gray_to_rgb_and_rgb_to_gray_stats():
    gray = np.full((4, 2, 2, 1), 51, np.uint8)
    assert channel_stats(gray, 3)[0] == pytest.approx([0.2] * 3)
    rgb = np.zeros((4, 2, 2, 3), np.uint8)
    rgb[..., 1] = 255
    assert channel_stats(rgb, 1)[0] == pytest.approx([0.587], abs=1e-3)


def test_test_pipeline_keeps_order_and_equals_preprocess():
    raw = load_dataset("digits")
    spec = make_spec(raw, (16, 16, 3), raw.x_train)
    ds = build_dataset(raw.x_test, raw.y_test, spec, batch_size=100, training=False)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    np.testing.assert_array_equal(np.concatenate(ys), raw.y_test)
    np.testing.assert_allclose(np.concatenate(xs), preprocess(raw.x_test, spec).numpy(), atol=1e-6)


@pytest.mark.parametrize("budget", [512 * 1024**2, 0])
def test_training_pipeline_shuffles_every_epoch(budget):
    raw = load_dataset("digits")
    spec = make_spec(raw, (8, 8, 1), raw.x_train)
    ds = build_dataset(raw.x_train, raw.y_train, spec, batch_size=2000, training=True, cache_budget_bytes=budget)
    first, second = (next(iter(ds))[1].numpy() for _ in range(2))
    assert sorted(first) == sorted(raw.y_train) and not np.array_equal(first, second)


def test_augmentation_changes_training_batches_only():
    x = np.zeros((16, 8, 8, 1), np.uint8)
    x[:, :, :4] = 255
    raw = RawDataset.from_arrays(x, np.arange(16) % 2, x, np.arange(16) % 2)
    data = prepare_data(raw, (8, 8, 1), val_split=0)
    train, _, test = data.pipelines(batch_size=16, augment=augmentation_layers(["flip"], data.spec))
    flipped = next(iter(train))[0].numpy()
    plain = next(iter(test))[0].numpy()
    assert np.allclose(plain, plain[0]) and not np.allclose(flipped, flipped[0])  # some got mirrored


def test_unknown_augmentation_and_bad_channels():
    with pytest.raises(DataError, match="Unknown augmentation 'blur'"):
        augmentation_layers(["blur"], prepare_data("digits", (8, 8, 1)).spec)
    with pytest.raises(DataError, match="only 1 or 3 channels"):
        prepare_data("digits", (8, 8, 2))
