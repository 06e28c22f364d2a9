"""What every export shares: the model it starts from, its marker file, and its result.

An export is recognisable as a kerascnn export by its marker, ``kerascnn_export.json`` (in a SavedModel
version folder) or the ``.json`` beside a ``.tflite`` file, so kerascnn never writes into, or over,
something it did not make.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import numpy as np

from kerascnn.errors import ArtifactError, KerasCNNError
from kerascnn.versions import library_versions

MARKER_FILE = "kerascnn_export.json"
LABELS_FILE = "labels.txt"
PARITY_FILE = "parity.json"


@dataclasses.dataclass
class ExportResult:
    """What an export wrote, and how close it is to the Keras model."""

    path: Path  # the SavedModel version folder, or the .tflite file
    format: str  # "saved_model", "tflite" or "onnx"
    quantize: str  # "none" for SavedModel and ONNX
    parity: dict | None  # see kerascnn.export.parity; None when not measured
    metadata: dict  # what the marker file holds

    @property
    def kind(self) -> str:
        return f"tflite-{self.quantize}" if self.format == "tflite" else self.format


def load_source(source, spec=None):
    """``(inference keras.Model, DataSpec, model name)`` from a run directory, a ``.keras`` file or a model.

    Args:
        source: a run directory, a ``.keras`` file in one, or a ``keras.Model`` (then ``spec`` is needed).
        spec: the DataSpec for a ``keras.Model`` source; ignored for paths (their data_spec.json is used).
    """
    from kerascnn.export.graph import inference_model

    if isinstance(source, (str, Path)):
        from kerascnn.runs import load_trained

        model, spec = load_trained(source)
    else:
        if spec is None:
            raise KerasCNNError("Exporting a keras.Model needs its DataSpec: pass spec=DataSpec(...).")
        model = source
    model = inference_model(model)
    output_shape = tuple(model.outputs[0].shape)
    if len(output_shape) != 2 or output_shape[-1] != spec.num_classes:
        raise ArtifactError(
            f"Model {model.name!r} outputs {output_shape}, but its data has {spec.num_classes} classes."
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    if input_shape != tuple(spec.input_shape):
        raise ArtifactError(f"Model {model.name!r} takes {input_shape}, but its DataSpec says {spec.input_shape}.")
    return model, spec, model.name


def marker(fmt: str, model_name: str, spec, **extra) -> dict:
    """The content of a marker file."""
    return {
        "format": fmt,
        "model": model_name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "class_names": list(spec.class_names),
        "image_shape": list(spec.image_shape),
        "data_spec": spec.to_dict(),
        **extra,
    }


def read_marker(path: Path) -> dict | None:
    """The marker at ``path`` if it is a kerascnn marker, else None."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "format" in data and "model" in data else None


def reference_probabilities(model, spec, images, batch_size: int = 256) -> np.ndarray:
    """The Keras model's softmax probabilities on raw uint8 ``images``, preprocessed as in training."""
    import tensorflow as tf

    from kerascnn.data.spec import preprocess

    chunks = []
    for start in range(0, len(images), batch_size):
        logits = model(preprocess(images[start : start + batch_size], spec), training=False)
        chunks.append(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1).numpy())
    return np.concatenate(chunks)


def check_images(images, spec, what: str) -> np.ndarray:
    """``images`` as uint8 ``[N, h, w, c]`` at the DataSpec's image_shape, or a one-line error."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise KerasCNNError(f"{what} must be raw uint8 pixels. Received dtype {images.dtype}.")
    if images.ndim == 3 and spec.image_shape[2] == 1:
        images = images[..., None]
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(spec.image_shape) or len(images) == 0:
        raise KerasCNNError(
            f"{what} must have shape [N, {', '.join(map(str, spec.image_shape))}]. Received {images.shape}."
        )
    return images


def make_readable(*paths) -> None:
    """Folders 0755 and files 0644, less the umask, under each of ``paths``.

    Temporary files and folders are created private (0600/0700); a model server often runs as
    another user (a TF Serving container, a service account) and must be able to read an export.
    """
    import os

    umask = os.umask(0)
    os.umask(umask)
    for root in map(Path, paths):
        for p in [root, *root.rglob("*")] if root.is_dir() else [root]:
            os.chmod(p, (0o755 if p.is_dir() else 0o644) & ~umask)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
