"""Stratified k-fold splits: an exact partition of the training part, class-balanced, fixed, test untouched."""

from __future__ import annotations

import numpy as np
import pytest

from kerascnn.data import load_dataset
from kerascnn.data.folds import check_folds, fold_indices
from kerascnn.errors import DataError


@pytest.fixture(scope="module")
def raw():
    return load_dataset("digits")


def test_folds_partition_the_training_part_exactly(raw):
    n = len(raw.y_train)
    folds = fold_indices(raw.y_train, 5)
    assert len(folds) == 5
    validated = np.concatenate([val for _, val in folds])
    assert np.array_equal(np.sort(validated), np.arange(n))  # every image validated on exactly once
    for train, val in folds:
        assert not np.intersect1d(train, val).size
        assert np.array_equal(np.union1d(train, val), np.arange(n))
        assert abs(len(val) - n / 5) <= 10  # at most one image per class off a fifth


def test_folds_are_stratified_and_fixed(raw):
    counts = np.bincount(raw.y_train)
    for train, val in fold_indices(raw.y_train, 5):
        # each class contributes floor or ceil of a fifth of its images to each validation slice
        per_class = np.bincount(raw.y_train[val], minlength=len(counts))
        assert np.all(np.abs(per_class - counts / 5) < 1)
    again = fold_indices(raw.y_train, 5)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(fold_indices(raw.y_train, 5), again))


def test_too_many_folds_for_the_smallest_class_is_one_line(raw):
    smallest = int(np.bincount(raw.y_train).min())
    check_folds(raw.y_train, smallest)  # as many folds as the smallest class has images: fine
    with pytest.raises(DataError) as info:
        check_folds(raw.y_train, smallest + 1, raw.class_names)
    message = str(info.value)
    assert "\n" not in message and f"only {smallest} training image" in message
    assert f"--folds {smallest} or fewer" in message
    with pytest.raises(DataError, match="at least 2 folds"):
        check_folds(raw.y_train, 1)
    with pytest.raises(DataError, match="at least 2 of every class"):
        check_folds(np.array([0, 0, 0, 1]), 2, ["a", "b"])
