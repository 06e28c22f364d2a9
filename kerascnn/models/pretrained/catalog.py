"""The published weights at a glance (``kerascnn models --pretrained``): one row per registered file."""

from __future__ import annotations

from kerascnn.models.pretrained.download import cached_path, weights_dir
from kerascnn.models.weights import list_weights


def weights_table(model_name: str | None = None) -> list[dict]:
    """One dict per registered weights file (of ``model_name``): the entry's fields plus whether it is cached."""
    if model_name is not None:
        from kerascnn.models.registry import get_model_info

        get_model_info(model_name)  # an unknown name is the registry's one-line error
    rows = []
    for entry in list_weights(model_name):
        rows.append(
            {
                **entry.to_dict(),
                "file_name": entry.file_name,
                "cached": cached_path(entry.url).is_file(),
                "cache_dir": str(weights_dir()),
            }
        )
    return rows
