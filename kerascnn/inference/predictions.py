"""``kerascnn.predict``: class probabilities for images, from Python, as ``kerascnn predict`` gives them.

    import kerascnn
    result = kerascnn.predict("runs/lenet", "seven.png")         # a file, a folder, arrays, PIL images
    result.labels                                                 # ['7']
    result.top_k(3)                                               # [[('7', 0.98), ('1', 0.01), ...]]
    kerascnn.predict("models/lenet.tflite", images_uint8).probabilities   # float32 [N, classes]

The model is anything ``kerascnn predict`` takes (a ``.tflite`` file, a SavedModel export, a ``.keras``
file, a run directory), what ``kerascnn.fit`` returned, or a predictor from ``load_predictor`` (load it
once to predict many times). Images of any size and 1 or 3 channels are converted to the model's input
as the command converts image files: channels first, then an antialiased resize.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kerascnn.errors import DataError


@dataclasses.dataclass
class Predictions:
    """What :func:`predict` returns: every image's probability of every class."""

    probabilities: np.ndarray  # float32 [N, classes], rows sum to 1
    class_names: list  # the model's classes, in the columns' order
    sources: list  # where each row's image came from: a file name, "file.npy[3]", "images[0]"

    @property
    def labels(self) -> list:
        """The most likely class of each image."""
        return [self.class_names[i] for i in self.probabilities.argmax(axis=1)]

    def top_k(self, k: int = 3) -> list:
        """For each image, the ``k`` most likely ``(class name, probability)``."""
        from kerascnn.inference.predictors import top_k

        return top_k(self.probabilities, self.class_names, k)

    def __len__(self) -> int:
        return len(self.probabilities)

    def __repr__(self) -> str:
        shown = [
            f"{source}: {label} {p:.2%}"
            for source, label, p in zip(self.sources[:5], self.labels[:5], self.probabilities.max(axis=1)[:5])
        ]
        more = f", ... ({len(self)} images)" if len(self) > 5 else ""
        return f"Predictions({'; '.join(shown)}{more})"


def predict(model, images, *, num_threads: int | None = 1) -> Predictions:
    """Class probabilities of ``images`` under ``model``.

    Args:
        model: a ``.tflite`` file, a SavedModel export folder (a version or the model's folder: its
            latest version), a ``.keras`` file or a run directory (its best checkpoint), a ``TrainResult``
            from :func:`kerascnn.fit`, or a predictor from :func:`kerascnn.inference.load_predictor`.
        images: an image file, a folder (its PNG/JPEG/BMP/GIF and ``.npy`` files, subfolders too), a
            ``.npy`` file, a uint8 array (one image ``[h, w]`` / ``[h, w, c]`` or a batch ``[n, h, w, c]``),
            a PIL image, or a list of these; any size, grayscale or RGB.
        num_threads: LiteRT threads for a ``.tflite`` model.

    Returns:
        :class:`Predictions`: ``probabilities`` ``[N, classes]``, ``labels``, ``top_k(k)``, ``sources``.

    Raises:
        ArtifactError: ``model`` is not a model kerascnn can load.
        DataError: an image cannot be read or converted (the message names it).
    """
    from kerascnn.inference.predictors import Predictor, load_predictor

    if isinstance(model, Predictor):
        predictor = model
    elif isinstance(getattr(model, "path", None), Path) and hasattr(model, "spec"):  # a TrainResult: its run
        predictor = load_predictor(model.path, num_threads=num_threads)
    elif isinstance(model, (str, Path)):
        predictor = load_predictor(model, num_threads=num_threads)
    else:
        from kerascnn.errors import KerasCNNError

        raise KerasCNNError(
            f"predict takes a model file or folder, a run directory, a TrainResult or a predictor; received a "
            f"{type(model).__name__}. A keras.Model alone does not say how its images were preprocessed: pass "
            "its run directory (or model.save a .keras file inside it)."
        )
    batch, sources = _read(images, predictor.image_shape)
    return Predictions(predictor.predict(batch), list(predictor.class_names), sources)


def _read(images, image_shape) -> tuple[np.ndarray, list]:
    """uint8 ``[N, h, w, c]`` at ``image_shape`` and one source name per image."""
    from kerascnn.inference.images import expand_image_paths, load_image, to_batch

    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise DataError("No images given.")
    batches, sources = [], []
    for i, item in enumerate(items):
        if isinstance(item, (str, Path)):
            for path in expand_image_paths([item]):
                batch = load_image(path, image_shape)
                batches.append(batch)
                sources += [str(path)] if len(batch) == 1 else [f"{path}[{j}]" for j in range(len(batch))]
            continue
        name = "images" if len(items) == 1 else f"images[{i}]"
        batch = to_batch(_pil_to_array(item, name), image_shape, name)
        batches.append(batch)
        sources += [name] if len(batch) == 1 and np.ndim(item) != 4 else [f"{name}[{j}]" for j in range(len(batch))]
    return np.concatenate(batches), sources


def _pil_to_array(item, name):
    """A PIL image as uint8 ``[h, w, c]``, under the rule image files follow (modes, bit depth); else ``item``."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return item
    if not isinstance(item, Image.Image):
        return item
    import io

    from kerascnn.data.image_policy import decode

    buffer = io.BytesIO()
    item.save(buffer, format="PNG")  # lossless: the same pixels through the one decoding rule
    return decode(buffer.getvalue(), name)
