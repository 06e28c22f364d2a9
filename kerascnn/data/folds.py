"""Stratified k-fold splits of a dataset's training part (the test part is never touched).

Fold ``i`` of ``K`` (1-based) validates on the i-th of K disjoint, class-balanced slices of the training
part and trains on the other K-1: over the K folds every training image is validated on exactly once.
The assignment is fixed (scikit-learn's ``StratifiedKFold`` with a fixed seed, like the single validation
split of :func:`kerascnn.data.split_validation`), so a rerun, a resumed fold and ``evaluate`` all see the
same parts.
"""

from __future__ import annotations

import numpy as np

from kerascnn.data.raw import VAL_SEED
from kerascnn.errors import DataError

FOLD_SEED = VAL_SEED


def check_folds(y_train, folds: int, class_names=None) -> None:
    """Raise a one-line DataError unless every class of ``y_train`` has at least ``folds`` images."""
    folds = int(folds)
    if folds < 2:
        raise DataError(f"Cross-validation needs at least 2 folds. Received: folds={folds}")
    counts = np.bincount(np.asarray(y_train, dtype=np.int64))
    present = np.flatnonzero(counts)
    smallest = present[np.argmin(counts[present])]
    n = int(counts[smallest])
    if n < folds:
        name = class_names[smallest] if class_names is not None else str(smallest)
        advice = f"use --folds {n} or fewer" if n >= 2 else "cross-validation needs at least 2 of every class"
        raise DataError(
            f"Cannot make {folds} stratified folds: class {name!r} has only {n} training image(s) and every "
            f"fold must validate on at least one of each class; {advice}."
        )


def fold_indices(y_train, folds: int, *, seed: int = FOLD_SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train_indices, val_indices)] * folds``: a stratified partition of ``range(len(y_train))``.

    Each index is validated on in exactly one fold; each fold's class proportions match the whole part's
    to within one image per class. Indices are sorted (the source's order is kept inside each part).
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y_train, dtype=np.int64)
    check_folds(y, folds)
    splitter = StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=seed)
    return [(np.sort(train), np.sort(val)) for train, val in splitter.split(np.zeros(len(y)), y)]
