"""Predictors: one interface over a ``.tflite`` export, a SavedModel export and a Keras checkpoint.

    predictor = load_predictor("models/lenet_int8.tflite")   # or models/lenet[/3], runs/lenet, x.keras
    probabilities = predictor.predict(images_uint8)           # float32 [N, K]
    top_k(probabilities, predictor.class_names, k=3)

Every predictor takes raw uint8 ``[N, h, w, c]`` at the data's native size (``predictor.image_shape``)
and preprocesses as the model was trained: exports inside their graph, a Keras checkpoint with
``kerascnn.data.spec.preprocess``. ``.tflite`` files run on LiteRT (``ai_edge_litert``) without
importing TensorFlow.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from kerascnn.errors import ArtifactError


class Predictor:
    """Class probabilities for raw uint8 images. Subclasses set the attributes and ``_predict``."""

    kind: str  # "tflite", "saved_model" or "keras"
    path: Path  # what was loaded (the version folder for a SavedModel base folder)
    class_names: list
    image_shape: tuple  # (h, w, c) of the raw images it takes
    description: str  # one line for people: model, format, quantization

    def predict(self, images) -> np.ndarray:
        """float32 probabilities ``[N, K]`` for uint8 images: one (``[h, w]``, ``[h, w, c]``), a batch
        (``[N, h, w, c]``) or a list, of any size and 1 or 3 channels, converted to ``image_shape`` as
        ``kerascnn predict`` converts image files."""
        from kerascnn.inference.images import to_batch

        return self._predict(to_batch(images, self.image_shape, source="images"))

    def _predict(self, images) -> np.ndarray:
        raise NotImplementedError


class TFLitePredictor(Predictor):
    """A ``.tflite`` model on LiteRT's Interpreter, with the class names its metadata carries.

    The class names come from the model's own TFLite metadata (its label file) and the image shape
    from its input tensor, so a kerascnn ``.tflite`` works alone; the ``.json`` kerascnn writes beside
    it, when present, is checked against the file (sha256) and names models without metadata.
    """

    kind = "tflite"

    def __init__(self, path, num_threads: int | None = 1):
        from kerascnn.export.tflite import interpreter, read_export_info, sidecar_path
        from kerascnn.export.tflite_metadata import read_metadata

        self.path = Path(path)
        try:
            content = self.path.read_bytes()
        except OSError as e:
            raise ArtifactError(f"Cannot read {self.path}: {e.strerror}") from None
        info = read_export_info(self.path) if sidecar_path(self.path).exists() else {}
        if info.get("sha256") and hashlib.sha256(content).hexdigest() != info["sha256"]:
            raise ArtifactError(
                f"{self.path} ({len(content)} bytes) does not match its {self.path.with_suffix('.json').name} "
                f"({info.get('size_bytes', '?')} bytes, sha256): truncated or changed; export it again."
            )
        # One thread: for one small image the hand-off to a second thread costs more than it saves.
        self._interpreter = interpreter(model_content=content, num_threads=num_threads, what=str(self.path))
        metadata = read_metadata(content) or {}
        self.class_names = metadata.get("class_names") or info.get("class_names")
        if not self.class_names:
            raise ArtifactError(
                f"{self.path} has no class names: no label file in its TFLite metadata and no kerascnn "
                f"{sidecar_path(self.path).name} beside it. Export it with `kerascnn export --format tflite`."
            )
        self.class_names = list(self.class_names)
        details = self._interpreter.get_input_details()[0]
        self.image_shape = tuple(int(d) for d in details["shape"][1:])  # what the graph takes (RGB frames too)
        if details["dtype"] != np.uint8:
            raise ArtifactError(
                f"{self.path} takes {np.dtype(details['dtype']).name} input; kerascnn predicts with "
                "models that take raw uint8 pixels (kerascnn exports)."
            )
        self.quantize = info.get("quantize")  # None: not a kerascnn export, or its .json is not beside it
        quantized = f", quantize={self.quantize}" if self.quantize else ""
        self.description = f"{info.get('model') or metadata.get('name') or '?'} (TFLite{quantized})"
        self._input = details["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        scale, zero_point = self._interpreter.get_output_details()[0]["quantization"]
        self._dequantize = (float(scale), int(zero_point)) if scale else None
        self._batch = 1

    def _predict(self, images) -> np.ndarray:
        interp = self._interpreter
        if len(images) != self._batch:  # resizing re-plans the graph: only when the batch size changes
            interp.resize_tensor_input(self._input, images.shape)
            interp.allocate_tensors()
            self._batch = len(images)
        interp.set_tensor(self._input, np.ascontiguousarray(images))
        interp.invoke()
        out = interp.get_tensor(self._output)
        if self._dequantize:
            scale, zero_point = self._dequantize
            return (out.astype(np.float32) - zero_point) * scale
        return out.copy()


class SavedModelPredictor(Predictor):
    """A kerascnn SavedModel version folder, called through its ``serving_default`` signature."""

    kind = "saved_model"

    def __init__(self, version_dir):
        from kerascnn.export.saved_model import read_export_info

        self.path = Path(version_dir)
        info = read_export_info(self.path)
        import tensorflow as tf

        try:
            self._serve = tf.saved_model.load(str(self.path)).signatures["serving_default"]
        except Exception as e:  # protobuf, checkpoint and op errors all mean "corrupt" to a user
            reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise ArtifactError(f"Cannot load the SavedModel in {self.path}: {type(e).__name__}: {reason}") from None
        labels = self.path / "assets" / "labels.txt"
        self.class_names = labels.read_text().splitlines() if labels.is_file() else list(info["class_names"])
        self.image_shape = tuple(info["image_shape"])
        self.description = f"{info.get('model', '?')} (SavedModel version {self.path.name})"
        self._tf = tf

    def _predict(self, images) -> np.ndarray:
        return self._serve(images=self._tf.constant(images))["probabilities"].numpy()


class KerasPredictor(Predictor):
    """A ``.keras`` checkpoint (or a run directory) with the DataSpec's preprocessing in front of it."""

    kind = "keras"

    def __init__(self, path):
        import tensorflow as tf

        from kerascnn.data.spec import preprocess
        from kerascnn.export.graph import inference_model
        from kerascnn.runs import load_trained

        self.path = Path(path)
        model, self.spec = load_trained(self.path)
        self.model = inference_model(model)
        self.class_names = list(self.spec.class_names)
        self.image_shape = tuple(self.spec.image_shape)
        self.description = f"{self.model.name} (Keras checkpoint)"

        @tf.function(reduce_retracing=True)
        def probabilities(images):
            return tf.nn.softmax(tf.cast(self.model(preprocess(images, self.spec), training=False), tf.float32))

        self._probabilities = probabilities

    def _predict(self, images) -> np.ndarray:
        return np.concatenate([self._probabilities(images[i : i + 256]).numpy() for i in range(0, len(images), 256)])


def load_predictor(path, num_threads: int | None = 1) -> Predictor:
    """The predictor for ``path``: a ``.tflite`` file, a SavedModel version or base folder, a ``.keras``
    file or a run directory. Anything else raises ``ArtifactError`` saying what was expected."""
    from kerascnn.export.artifacts import MARKER_FILE
    from kerascnn.export.saved_model import latest_version

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"No such model: {path}")
    if path.is_file():
        if path.suffix == ".tflite":
            return TFLitePredictor(path, num_threads=num_threads)
        if path.suffix == ".keras":
            return KerasPredictor(path)
        raise ArtifactError(
            f"Expected a .tflite or .keras file, a SavedModel export folder or a run directory. Received: {path}"
        )
    if (path / MARKER_FILE).is_file() or (path / "saved_model.pb").is_file():
        return SavedModelPredictor(path)
    if (path / "best.keras").is_file() or (path / "last.keras").is_file():
        return KerasPredictor(path)
    return SavedModelPredictor(latest_version(path, hint=""))


def top_k(probabilities, class_names, k: int = 5) -> list[list[tuple[str, float]]]:
    """For each row of ``probabilities``, the ``k`` most likely ``(class name, probability)``."""
    probabilities = np.asarray(probabilities)
    k = max(1, min(int(k), probabilities.shape[1]))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return [[(class_names[j], float(row[j])) for j in idx] for row, idx in zip(probabilities, order)]
