"""The model zoo at a glance without building a model: what ``kerascnn models`` prints, in a blink.

Counting parameters and multiply-adds means building every model (TensorFlow's import and ~20 builds:
seconds to tens of seconds). The counts are facts of the code, so they are computed once into
``zoo_catalog_rows.py`` by ``python -m kerascnn.zoo_catalog_build`` (a test recomputes them and fails when
a model changes without it). Parameters and multiply-adds depend on the number of classes only through
the classifier, linearly: the file holds them at 10 classes and per extra class.
"""

from __future__ import annotations

# Classes the stored counts are for.
BASE_CLASSES = 10


def format_count(n: int) -> str:
    """A count with a K/M/G suffix and three significant digits, e.g. ``15.5G``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def catalog(num_classes: int = BASE_CLASSES) -> list[dict]:
    """One dict per model, as :func:`kerascnn.summary.zoo_table` gives it (counts for ``num_classes``),
    plus ``smallest_input`` (the smallest square input its default build takes) and ``weights`` (where
    published weights for it come from; empty when there are none)."""
    from kerascnn.zoo_catalog_rows import ROWS

    extra = int(num_classes) - BASE_CLASSES
    rows = []
    for row in ROWS:
        row = dict(row)
        for key in ("params", "trainable_params", "macs"):
            row[key] = row[key] + extra * row.pop(f"{key}_per_class")
        rows.append(row)
    return rows
