"""Training-time augmentation: Keras preprocessing layers, seeded, mapped over batches reproducibly.

Each random Keras layer draws its numbers from a ``keras.random.SeedGenerator``: a variable that every
call reads and then advances. In a ``Dataset.map`` with ``num_parallel_calls`` the calls of several
batches race on that variable (tensorflow/tensorflow#13932: "the only way to ensure deterministic results
from Dataset.map() that contains an RNG op is to set num_parallel_calls=1"), so batch k got whichever
seed was current (two batches could even get the same one) and the same ``seed`` trained different
weights run to run. The map therefore runs one batch at a time; each batch is still transformed by
vectorized ops over all its images, and it overlaps the model's step through ``prefetch``
(benchmarks/bench_augment.py measures what this costs).
"""

from __future__ import annotations

import numpy as np

from kerascnn.data.spec import DataSpec
from kerascnn.errors import DataError

AUGMENTATIONS = ("flip", "translate", "crop", "color")


def augmentation_layers(names, spec: DataSpec, seed: int | None = None):
    """A ``keras.Sequential`` of preprocessing layers for ``names`` (subset of AUGMENTATIONS), or None.

    ``seed`` seeds every random layer (each with its own stream, derived from it); None: Keras'
    global seed (``keras.utils.set_random_seed``), as layers built without a seed do.
    """
    names = [n for n in (names or ()) if n and n != "none"]
    unknown = sorted(set(names) - set(AUGMENTATIONS))
    if unknown:
        raise DataError(f"Unknown augmentation {unknown[0]!r}. Choose from: {', '.join(AUGMENTATIONS)}.")
    if not names:
        return None
    import keras

    # one independent 31-bit seed per random layer, the same for the same ``seed``
    seeds = iter((np.random.SeedSequence(seed).generate_state(5) >> 1).tolist() if seed is not None else [None] * 5)
    # Images are already normalized: tell the color layers the value range of normalized pixels.
    lo = min((0.0 - m) / s for m, s in zip(spec.mean, spec.std))
    hi = max((1.0 - m) / s for m, s in zip(spec.mean, spec.std))
    L = keras.layers
    stack = []
    if "flip" in names:
        stack.append(L.RandomFlip("horizontal", seed=next(seeds), name="aug_flip"))
    if "translate" in names:
        stack.append(
            L.RandomTranslation(0.1, 0.1, fill_mode="constant", fill_value=lo, seed=next(seeds), name="aug_translate")
        )
    if "crop" in names:
        h, w = spec.input_shape[:2]
        pad = max(1, h // 8)
        stack.append(L.ZeroPadding2D(pad, name="aug_pad"))
        stack.append(L.RandomCrop(h, w, seed=next(seeds), name="aug_crop"))
    if "color" in names:
        stack.append(L.RandomBrightness(0.1, value_range=(lo, hi), seed=next(seeds), name="aug_brightness"))
        stack.append(L.RandomContrast(0.2, value_range=(lo, hi), seed=next(seeds), name="aug_contrast"))
    return keras.Sequential(stack, name="augmentation")


def augment_batches(ds, augment):
    """``ds`` of ``(images, labels)`` batches with ``augment`` applied to the images, in a reproducible order."""
    # num_parallel_calls=None: one batch at a time, so the layers' seed generators advance in batch order
    # (see the module docstring); deterministic=True is then implied.
    return ds.map(lambda images, labels: (augment(images, training=True), labels))
