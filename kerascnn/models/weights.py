"""Published weights by name: ``build("resnet50", weights="imagenet")``, as torchvision's ``Weights`` enums and
timm's ``pretrained_cfg`` give them.

Each family module registers the weights published for its models right beside its facts::

    register_weights("resnet50", "torchvision:IMAGENET1K_V2",
                     url="https://download.pytorch.org/models/resnet50-11ad3fa6.pth", sha256="11ad3fa6",
                     source="torchvision", top1=80.858, top5=95.434, resize_size=232, default=True)

A tag is ``"<source>:<publisher's name>"``: torchvision's enum member (``IMAGENET1K_V1``), keras.applications'
``imagenet``. ``weights="imagenet"`` picks the entry marked ``default`` (else the model's only one). The hash is
stated as its publisher states it: torchvision's first 8 hex digits of the file's SHA-256 (the ``-<hash>`` in
its file name, which ``torch.hub`` checks), keras.applications' full MD5 or SHA-256 (``keras.utils.get_file``'s
``file_hash``), or none where the publisher gives none (keras.applications' MobileNet files). Downloading and
the cache are :mod:`kerascnn.models.pretrained.download`; nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from kerascnn.errors import WeightsError
from kerascnn.models.facts import KERAS_APPLICATIONS_CAFFE, TORCHVISION_IMAGENET

SOURCES = ("torchvision", "keras", "kerascnn")
# Where torchvision publishes its weights files; the families' entries name files under it.
TORCHVISION_MODELS_URL = "https://download.pytorch.org/models/"
# What the weights were trained on decides what a user may do with them: the code licence of the publisher,
# and ImageNet's terms of access (non-commercial research and education) for the data behind them.
IMAGENET_TERMS = "trained on ImageNet-1k, whose terms of access apply"
LICENCES = {
    "torchvision": f"BSD-3-Clause (torchvision); {IMAGENET_TERMS}",
    "keras": f"MIT (keras-applications) / Apache-2.0 (Keras); {IMAGENET_TERMS}",
    "kerascnn": "as stated by whoever registered them",
}
# keras.applications' "tf" mode (MobileNet): pixels scaled to [-1, 1].
KERAS_APPLICATIONS_TF = {
    "name": "tf (keras.applications)",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "channel_order": "RGB",
}
# keras.applications' "torch" mode (DenseNet) is torchvision's normalization.
KERAS_APPLICATIONS_TORCH = {**TORCHVISION_IMAGENET, "name": "torch (keras.applications)"}
__all__ = [
    "KERAS_APPLICATIONS_CAFFE",
    "KERAS_APPLICATIONS_TF",
    "KERAS_APPLICATIONS_TORCH",
    "TORCHVISION_IMAGENET",
    "PretrainedWeights",
    "register_weights",
    "list_weights",
    "get_weights",
]


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """One published weights file of one zoo model (torchvision's ``Weights``, timm's ``pretrained_cfg``)."""

    model: str  # zoo name, e.g. "resnet50"
    tag: str  # "torchvision:IMAGENET1K_V2"
    url: str  # where the publisher serves the file
    sha256: str | None  # the publisher's hash: full hex digest or a prefix (torchvision's 8 digits); None: none given
    source: str  # "torchvision" | "keras" | "kerascnn"
    hash_algorithm: str = "sha256"  # "md5" for keras.applications' older files
    file_format: str = ""  # "pth", "h5", "safetensors", "keras": from the file name when not given
    licence: str = ""  # default: the source's (LICENCES)
    num_classes: int = 1000
    categories: str | None = "imagenet"  # the class names the head predicts (imagenet_class_names()), None: no head
    input_size: int = 224  # the crop the published accuracy was measured at
    resize_size: int | None = 256  # the shorter side resized to before that crop (None: the publisher does not say)
    preprocessing: Mapping[str, Any] = dataclasses.field(default_factory=lambda: TORCHVISION_IMAGENET)
    top1: float | None = None  # published ImageNet-1k validation accuracy, percent
    top5: float | None = None
    hyperparameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # the build the file fits
    notop_url: str | None = None  # keras.applications' "notop" file: the backbone only (include_top=False)
    notop_sha256: str | None = None
    default: bool = False  # what weights="imagenet" means for this model
    note: str = ""

    @property
    def file_name(self) -> str:
        return url_file_name(self.url)

    def file_for(self, include_top: bool = True) -> tuple[str, str | None]:
        """``(url, hash)`` of the file to download: the notop file for a feature extractor when published."""
        if not include_top and self.notop_url:
            return self.notop_url, self.notop_sha256
        return self.url, self.sha256

    def to_dict(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "preprocessing": dict(self.preprocessing),
            "hyperparameters": dict(self.hyperparameters),
        }


_WEIGHTS: dict[str, dict[str, PretrainedWeights]] = {}


def url_file_name(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def register_weights(
    model_name: str, tag: str, *, url: str, sha256: str | None, source: str, **meta
) -> PretrainedWeights:
    """Register the weights file at ``url`` as ``tag`` of zoo model ``model_name``; returns the entry.

    After it, ``build(model_name, ..., weights=tag)`` and ``kerascnn fit MODEL --init-from TAG`` download the
    file once (checked against ``sha256``: the full hex digest, or a prefix of it as torchvision publishes)
    and load it. ``source`` is "torchvision", "keras" or "kerascnn" (an organization's own weights); the other
    fields of :class:`PretrainedWeights` (``top1``, ``preprocessing``, ``hyperparameters``, ``default``...)
    are keywords. Registering a tag again replaces the entry (a mirror of one's own, a newer file).
    """
    if source not in SOURCES:
        raise WeightsError(f"source must be one of {', '.join(SOURCES)}. Received: source={source!r}")
    algorithm = meta.get("hash_algorithm", "sha256")
    for label, digest in (("sha256", sha256), ("notop_sha256", meta.get("notop_sha256"))):
        if digest is not None and not re.fullmatch(r"[0-9a-f]{8,64}", str(digest)):
            raise WeightsError(f"{label} must be hex digits (a digest or its first 8 or more). Received: {digest!r}")
    if algorithm not in ("sha256", "md5"):
        raise WeightsError(f"hash_algorithm must be sha256 or md5. Received: {algorithm!r}")
    if ":" not in tag:
        tag = f"{source}:{tag}"
    meta.setdefault("licence", LICENCES[source])
    meta.setdefault("file_format", url_file_name(url).rsplit(".", 1)[-1].lower())
    entry = PretrainedWeights(model=model_name, tag=tag, url=url, sha256=sha256, source=source, **meta)
    entries = _WEIGHTS.setdefault(model_name, {})
    if entry.default:  # one default per model: the newest registration wins
        for other_tag, other in entries.items():
            if other.default:
                entries[other_tag] = dataclasses.replace(other, default=False)
    entries[tag] = entry
    return entry


def list_weights(model_name: str | None = None) -> list[PretrainedWeights]:
    """Every registered entry (of ``model_name``), in registration order."""
    if model_name is not None:
        return list(_WEIGHTS.get(model_name, {}).values())
    return [entry for entries in _WEIGHTS.values() for entry in entries.values()]


def get_weights(model_name: str, tag: str = "imagenet") -> PretrainedWeights:
    """The entry ``tag`` names for ``model_name``: a full tag (``"torchvision:IMAGENET1K_V2"``), the name after
    the colon when only one source has it (``"IMAGENET1K_V2"``), a source (``"keras"``: its default or first
    entry), or ``"imagenet"`` / ``"DEFAULT"``: the model's default entry. Anything else is a one-line error
    listing the model's tags."""
    entries = _WEIGHTS.get(model_name, {})
    if not entries:
        raise WeightsError(
            f"No published weights are registered for {model_name!r}: kerascnn models --pretrained lists those "
            "that are; a weights file of your own is loaded by its path."
        )
    if tag in entries:
        return entries[tag]
    candidates = list(entries.values())
    if tag.lower() in ("imagenet", "default") or tag in SOURCES:
        if tag in SOURCES:
            candidates = [e for e in candidates if e.source == tag]
        chosen = [e for e in candidates if e.default] or candidates[:1]  # else the first registered
        if chosen:
            return chosen[0]
    else:
        matches = [e for e in candidates if e.tag.split(":", 1)[1] == tag]
        if len(matches) == 1:
            return matches[0]
    raise WeightsError(f"{model_name} has no weights {tag!r}. Registered: {', '.join(entries)} (or imagenet).")
