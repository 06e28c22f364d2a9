"""Augmentation is reproducible: the same seed gives the same augmented batches and the same trained weights."""

from __future__ import annotations

import numpy as np

import kerascnn
from kerascnn.data import build_dataset, load_dataset, make_spec
from kerascnn.data.augmentation import augmentation_layers


def augmented_batches(seed: int, epochs: int = 2) -> list:
    """Every training batch of ``epochs`` epochs of digits (45 batches each), with every augmentation."""
    raw = load_dataset("digits")
    spec = make_spec(raw, (12, 12, 1), raw.x_train)
    augment = augmentation_layers(["flip", "translate", "crop", "color"], spec, seed=seed)
    ds = build_dataset(raw.x_train, raw.y_train, spec, batch_size=32, training=True, seed=seed, augment=augment)
    return [images.numpy() for _ in range(epochs) for images, _ in ds]


def test_the_same_seed_gives_the_same_augmented_batches():
    first, again, other = augmented_batches(0), augmented_batches(0), augmented_batches(1)
    assert len(first) == 2 * 45
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_fit_with_augmentation_is_reproducible(tmp_path):
    def weights(seed, name):
        run = kerascnn.fit(
            "lenet", epochs=1, batch_size=16, augment=["translate"], seed=seed, out=str(tmp_path / name), verbose=0
        )
        return [w.numpy() for w in run.model.weights]

    first, again, other = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))  # bit for bit
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
