"""scikit-learn's bundled handwritten digits: real data that needs no download."""

from __future__ import annotations

import numpy as np

from kerascnn.data.raw import DEFAULT_TEST_SPLIT


def load_digits(*, test_split: float = DEFAULT_TEST_SPLIT, seed: int = 0):
    """The 1,797 8x8 digits of ``sklearn.datasets.load_digits`` as uint8 (0..16 scaled to 0..255)."""
    from sklearn.datasets import load_digits as sk_load_digits

    from kerascnn.data.raw import split_train_test

    bunch = sk_load_digits()
    # Pixel values are ink counts 0..16; scale them to the 0..255 of every other image source.
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return split_train_test(
        "digits", [str(i) for i in range(10)], images, bunch.target, test_split=test_split, seed=seed
    )
