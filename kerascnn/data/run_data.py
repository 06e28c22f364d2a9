"""The dataset a run was trained on, split exactly as during training (for export and reports)."""

from __future__ import annotations

import json
from pathlib import Path

from kerascnn.data.datasets import RawDataset, load_dataset
from kerascnn.errors import ArtifactError


def load_run_dataset(run_dir, *, dataset=None, data_dir=None) -> RawDataset:
    """Raw uint8 train/test arrays of the dataset a run was trained on, with the run's test split.

    ``x_train`` is the whole training part (the run's validation images are in it; use
    :func:`kerascnn.data.split_validation` with the run's ``val_split`` to separate them). Use it for
    int8 calibration (training images) and parity reports (test images).

    Args:
        run_dir: a run directory, or a ``.keras`` file inside one.
        dataset: load this dataset instead of the run's (must have the run's classes).
        data_dir: TFDS data directory (default: the run's).
    """
    from kerascnn.runs import CONFIG_FILE, resolve_checkpoint

    _, directory = resolve_checkpoint(run_dir) if not Path(run_dir, CONFIG_FILE).is_file() else (None, Path(run_dir))
    config_path = Path(directory) / CONFIG_FILE
    config = {}
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as e:
            raise ArtifactError(f"Corrupt {config_path}: {e}") from None
    if dataset is None:
        from kerascnn.data.spec import DataSpec

        dataset = config.get("dataset") or DataSpec.load(directory).dataset
    return load_dataset(
        dataset,
        data_dir=data_dir if data_dir is not None else config.get("data_dir"),
        test_split=float(config.get("test_split", 0.2)),
    )
