"""The dataset a run was trained on, split exactly as during training (for evaluate, export and reports)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kerascnn.data.pipeline import DEFAULT_CACHE_BUDGET
from kerascnn.data.raw import DEFAULT_TEST_SPLIT, DEFAULT_VAL_SPLIT, RawDataset
from kerascnn.errors import ArtifactError
from kerascnn.runs.layout import CONFIG_FILE, resolve_checkpoint

MAX_TRAIN_IMAGES = 1000  # of a streamed set, decoded for int8 calibration (100-500 are plenty)
MAX_TEST_IMAGES = 2000  # of a streamed set, decoded for export parity reports


def _run_config(run_dir):
    _, directory = resolve_checkpoint(run_dir) if not Path(run_dir, CONFIG_FILE).is_file() else (None, Path(run_dir))
    config_path = Path(directory) / CONFIG_FILE
    config = {}
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as e:
            raise ArtifactError(f"Corrupt {config_path}: {e}") from None
    return Path(directory), config


def prepare_run_data(run_dir, *, dataset=None, data_dir=None, spec=None):
    """:class:`kerascnn.data.prepare.PreparedData` of the run's dataset (or ``dataset``), split as in training.

    The run's DataSpec (its mean/std and input) is used, not recomputed. In memory or streamed by the same
    rule as in training (the run's ``cache_budget_mb``).
    """
    from kerascnn.data.prepare import prepare_data
    from kerascnn.data.spec import DataSpec

    directory, config = _run_config(run_dir)
    spec = spec or DataSpec.load(directory)
    if dataset is None:
        dataset = config.get("dataset") or spec.dataset
    return prepare_data(
        dataset,
        spec.input_shape,
        data_dir=data_dir if data_dir is not None else config.get("data_dir"),
        val_split=float(config.get("val_split", DEFAULT_VAL_SPLIT)),
        test_split=float(config.get("test_split", DEFAULT_TEST_SPLIT)),
        cache_budget_bytes=int(float(config.get("cache_budget_mb", DEFAULT_CACHE_BUDGET / 1024**2)) * 1024**2),
        spec=spec,
        skip_bad_images=bool(config.get("skip_bad_images", False)),
    )


def load_run_dataset(run_dir, *, dataset=None, data_dir=None) -> RawDataset:
    """Raw uint8 train/test arrays of the dataset a run was trained on, with the run's test split.

    In memory: ``x_train`` is the whole training part (the run's validation images are in it; use
    :func:`kerascnn.data.split_validation` with the run's ``val_split`` to separate them). A streamed set is
    read bounded: a seeded sample of at most 1,000 training images and the first 2,000 test images (the
    counts are in ``len(x_train)`` / ``len(x_test)``). Use it for int8 calibration (training images) and
    parity reports (test images).

    Args:
        run_dir: a run directory, or a ``.keras`` file inside one.
        dataset: load this dataset instead of the run's (must have the run's classes).
        data_dir: TFDS data directory (default: the run's).
    """
    data = prepare_run_data(run_dir, dataset=dataset, data_dir=data_dir)
    if data.raw is not None:
        return data.raw
    train = data.train.sample_part(MAX_TRAIN_IMAGES, 0)
    x_train = train.images(np.arange(len(train)))
    n_test = min(len(data.test), MAX_TEST_IMAGES)
    x_test = data.test.images(np.arange(n_test))
    return RawDataset(
        data.name,
        data.class_names,
        x_train,
        train.labels[: len(x_train)],
        x_test,
        data.test.labels[:n_test][: len(x_test)],
    )
