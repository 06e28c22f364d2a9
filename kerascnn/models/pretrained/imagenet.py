"""ImageNet-1k's class names, and a ready-to-use directory for a model with ImageNet weights.

``imagenet_class_names()`` are the 1,000 names of torchvision's ``_IMAGENET_CATEGORIES`` (BSD-3-Clause), in the
class-index order torchvision's and keras.applications' heads share, shipped with the package (keras.applications
downloads its class index at run time). ``save_pretrained_run`` writes a model with its weights' preprocessing
and those names as a kerascnn run directory (``best.keras`` + ``data_spec.json``), which ``kerascnn predict``,
``export`` and ``serve`` take as they take a trained run: predictions then carry names, not indices.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from pathlib import Path

import numpy as np

from kerascnn.errors import ArtifactError

# DataSpec.dataset of a model saved from published weights (save_pretrained_run): no training data behind it.
PUBLISHED_WEIGHTS_DATASET = "imagenet (published weights)"


@functools.cache
def _names() -> tuple[str, ...]:
    text = resources.files("kerascnn.models.pretrained").joinpath("imagenet_classes.txt").read_text(encoding="utf8")
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names, index i = output i of an ImageNet head ("tench", "goldfish", ...)."""
    return list(_names())


def pretrained_spec(model, preprocessing: dict | None, class_names=None):
    """The :class:`~kerascnn.data.spec.DataSpec` of ``model`` as published: its input size, the weights'
    normalization, and the ImageNet class names (or ``class_names``)."""
    from kerascnn.data.spec import DataSpec

    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    names = list(class_names) if class_names is not None else imagenet_class_names()
    outputs = int(model.outputs[0].shape[-1])
    if len(names) != outputs:
        raise ArtifactError(f"{model.name} has {outputs} outputs but {len(names)} class names were given.")
    spec = DataSpec(PUBLISHED_WEIGHTS_DATASET, names, shape, shape, [0.0] * shape[2], [1.0] * shape[2])
    return spec.with_pretrained_preprocessing(preprocessing)


def save_pretrained_run(model, directory, *, class_names=None, overwrite: bool = False) -> Path:
    """Write ``model`` (built with published weights: ``model.load_report`` holds their preprocessing) as a
    run directory at ``directory``: ``best.keras`` and ``data_spec.json``. Refuses to replace what exists
    unless ``overwrite``."""
    import os

    directory = Path(directory)
    checkpoint = directory / "best.keras"
    if checkpoint.exists() and not overwrite:
        raise ArtifactError(f"{checkpoint} exists: choose another directory (nothing was written).")
    report = getattr(model, "load_report", None)
    spec = pretrained_spec(model, report.preprocessing if report else None, class_names)
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / ".best.partial.keras"  # Keras wants the suffix; the rename makes it whole or absent
    model.save(partial)
    spec.save(directory)
    os.replace(partial, checkpoint)
    return directory


@dataclasses.dataclass
class ParityImages:
    """Images to check an export of a model saved from published weights against it (it has no test set)."""

    name: str
    x_train: np.ndarray  # int8 calibration
    x_test: np.ndarray  # parity
    y_test: None = None  # no labels: the report gives agreement with the Keras model, not accuracy


def is_published_weights_spec(spec) -> bool:
    """True for the DataSpec of :func:`save_pretrained_run` (no dataset to take test images from)."""
    return spec.dataset == PUBLISHED_WEIGHTS_DATASET and spec.statistics is None


def parity_images(spec, count: int = 64, seed: int = 0) -> ParityImages:
    """``count`` seeded smooth random colour fields at the spec's image size (blocks of 8x8 random colours,
    bilinearly enlarged): varied enough to spread an ImageNet model's predictions over many classes."""
    from PIL import Image

    h, w, c = spec.image_shape
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)
    images = np.stack([np.asarray(Image.fromarray(a).resize((w, h), Image.BILINEAR)) for a in coarse])
    if c == 1:
        images = images.mean(axis=-1, keepdims=True).astype(np.uint8)
    half = count // 2
    return ParityImages(
        "synthetic images (a model saved from published weights has no test set)", images[:half], images[half:]
    )
