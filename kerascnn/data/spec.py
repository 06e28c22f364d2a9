"""``DataSpec``: what a trained model expects of its input, defined once.

The same spec drives the training pipeline (tf.data), evaluation, export (inside the SavedModel /
TFLite graph) and ``kerascnn predict``, so images are preprocessed identically everywhere. A run directory
stores it as ``data_spec.json``.

Raw images are uint8 ``[N, h, w, c]`` at the data's native size (``image_shape``). ``preprocess``
turns them into the model's float32 ``[N, H, W, C]`` (``input_shape``): scale to [0, 1], convert
grayscale<->RGB if the channel counts differ, resize (bilinear) if the sizes differ, reverse the channels
to BGR when the weights expect it (keras.applications' "caffe" VGG weights), then normalize with the
per-channel mean and std: the training part's, or those the pretrained weights were trained with
(``normalization`` names which: torchvision's ImageNet statistics, caffe's mean, a source run's).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from kerascnn.errors import ArtifactError, DataError

SPEC_FILENAME = "data_spec.json"
# RGB -> gray: the ITU-R 601 luma weights of tf.image.rgb_to_grayscale, which ``preprocess`` uses; numpy code
# (channel statistics, predict's image reading) converts with these so that every path gives the same gray.
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)


@dataclasses.dataclass
class DataSpec:
    dataset: str  # "digits", a TFDS name, or the folder it came from
    class_names: list  # index -> human-readable name
    image_shape: tuple  # (h, w, c) of the raw uint8 images
    input_shape: tuple  # (H, W, C) the model takes
    mean: list  # per model channel, pixel values scaled to [0, 1]
    std: list  # per model channel, pixel values scaled to [0, 1]
    channel_order: str = "RGB"  # "BGR": channels reversed before normalizing (caffe-style weights)
    normalization: str = "dataset"  # where mean/std come from: "dataset" or the pretrained weights' convention
    # how mean/std were measured: {"images": n, "of": training images, "sample": True when a seeded sample
    # (streamed sets: a couple of thousand images, so start-up does not grow with the set), "seed": s}
    statistics: dict | None = None
    streaming: bool = False  # the data was decoded by tf.data while training (image_shape = the model input's size)

    def __post_init__(self):
        self.image_shape = tuple(int(d) for d in self.image_shape)
        self.input_shape = tuple(int(d) for d in self.input_shape)
        self.class_names = [str(c) for c in self.class_names]
        self.mean = [float(m) for m in self.mean]
        self.std = [float(s) for s in self.std]
        if self.image_shape[2] not in (1, 3) or self.input_shape[2] not in (1, 3):
            if self.image_shape[2] != self.input_shape[2]:
                raise DataError(
                    f"Cannot convert {self.image_shape[2]}-channel images to the model's "
                    f"{self.input_shape[2]} channels (only grayscale<->RGB is supported)."
                )

    def with_pretrained_preprocessing(self, preprocessing: dict | None) -> DataSpec:
        """A copy normalizing as ``preprocessing`` (a :class:`kerascnn.models.pretrained.LoadReport`'s) says."""
        if not preprocessing:
            return self
        channels = self.input_shape[2]
        mean, std = list(preprocessing["mean"]), list(preprocessing["std"])
        if len(mean) != channels:  # e.g. a 3-channel convention on a 1-channel model: average it
            mean, std = [sum(mean) / len(mean)] * channels, [sum(std) / len(std)] * channels
        return dataclasses.replace(
            self,
            mean=mean,
            std=std,
            channel_order=preprocessing.get("channel_order", "RGB"),
            normalization=preprocessing["name"],
        )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def save(self, directory) -> Path:
        from kerascnn.fsutil import atomic_write_json

        path = Path(directory) / SPEC_FILENAME
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path) -> DataSpec:
        """Load from a ``data_spec.json`` file or a directory holding one."""
        path = Path(path)
        if path.is_dir():
            path = path / SPEC_FILENAME
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ArtifactError(f"No {SPEC_FILENAME} at {path}: not a kerascnn run or export.") from None
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise ArtifactError(f"Corrupt {path}: {e}") from None


def preprocess(images, spec: DataSpec):
    """uint8 (or float in 0..255) ``[N, h, w, c]`` -> normalized float32 ``[N, H, W, C]``.

    Pure TensorFlow ops, so it runs inside tf.data, inside an exported graph, and eagerly.
    """
    import tensorflow as tf

    x = tf.cast(images, tf.float32) / 255.0
    in_c, out_c = spec.image_shape[2], spec.input_shape[2]
    if in_c == 1 and out_c == 3:
        x = tf.image.grayscale_to_rgb(x)
    elif in_c == 3 and out_c == 1:
        x = tf.image.rgb_to_grayscale(x)
    h, w = spec.input_shape[:2]
    if tuple(spec.image_shape[:2]) != (h, w):
        x = tf.image.resize(x, (h, w), method="bilinear", antialias=True)
    if spec.channel_order == "BGR":
        x = tf.reverse(x, axis=[-1])
    mean = tf.constant(spec.mean, tf.float32)
    std = tf.constant(spec.std, tf.float32)
    return (x - mean) / std
