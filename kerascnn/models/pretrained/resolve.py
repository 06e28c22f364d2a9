"""``resolve_weights(name, spec)``: what ``weights=`` / ``--init-from`` names, as a local file to load.

A path that exists is itself (a weights file or a kerascnn run). Anything else is a registered tag of the
model (``"imagenet"``, ``"torchvision:IMAGENET1K_V2"``, ``"keras"``: :func:`kerascnn.models.weights.get_weights`),
downloaded once into the cache (:mod:`kerascnn.models.pretrained.download`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kerascnn.models.pretrained.download import fetch
from kerascnn.models.pretrained.files import WeightsError
from kerascnn.models.weights import PretrainedWeights, get_weights


@dataclasses.dataclass(frozen=True)
class ResolvedWeights:
    path: Path  # the local file (or run directory) to load
    entry: PretrainedWeights | None  # the registry entry, None for a path given by the user
    notop: bool = False  # the file holds the backbone only (keras.applications' "notop")


def looks_like_path(spec) -> bool:
    text = str(spec)
    return (
        Path(text).expanduser().exists()
        or "/" in text
        or "\\" in text
        or text.endswith((".pth", ".pt", ".bin", ".safetensors", ".h5", ".keras"))
    )


def resolve_weights(
    name: str, spec, *, include_top: bool = True, hyperparameters=None, complete: bool = False
) -> ResolvedWeights:
    """The local file ``spec`` means for zoo model ``name``: an existing path, or a registered tag downloaded
    once (a one-line :class:`WeightsError` if it cannot be). ``include_top=False`` prefers the notop file;
    ``hyperparameters`` that contradict the weights' architecture are refused before any download, and with
    ``complete`` so are those that leave out one the weights need (a caller that cannot add it: ``fit``)."""
    if looks_like_path(spec):
        return ResolvedWeights(Path(spec).expanduser(), None)
    entry = get_weights(name, str(spec))
    given = dict(hyperparameters or {})
    check_hyperparameters(entry, given)
    missing = {k: v for k, v in entry.hyperparameters.items() if k not in given}
    if complete and missing:
        settings = ", ".join(f"{k}={v!r}" for k, v in missing.items())
        raise WeightsError(
            f"{name} weights {entry.tag} were trained with {settings}: set it too "
            f"(kerascnn fit: {' '.join(f'--hparam {k}={str(v).lower()}' for k, v in missing.items())})."
        )
    if entry.file_format in ("pth", "pt", "bin"):
        _check_torch(entry)
    url, expected = entry.file_for(include_top)
    path = fetch(url, expected, hash_algorithm=entry.hash_algorithm, what=f"{name} weights {entry.tag}")
    return ResolvedWeights(path, entry, notop=url != entry.url)


def check_hyperparameters(entry: PretrainedWeights | None, hyperparameters: dict) -> dict:
    """``hyperparameters`` with those the weights need (vgg11's BatchNorm weights: ``batch_norm=True``) added;
    a conflicting value is a one-line error."""
    if entry is None:
        return dict(hyperparameters)
    merged = dict(hyperparameters)
    for key, value in entry.hyperparameters.items():
        if key in merged and merged[key] != value:
            raise WeightsError(
                f"{entry.model} weights {entry.tag} need {key}={value!r}, not {merged[key]!r}: "
                f"the file was trained with that architecture."
            )
        merged[key] = value
    return merged


def _check_torch(entry: PretrainedWeights) -> None:
    """A .pth file is a PyTorch pickle: say so before downloading it, not after."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise WeightsError(
            f"{entry.model} weights {entry.tag} are a PyTorch file ({entry.file_name}): reading it needs PyTorch: "
            "pip install 'kerascnn[torch]'."
        ) from None
