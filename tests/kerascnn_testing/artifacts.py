"""A tiny trained run shared by the export, inference and predict/export CLI tests.

LeNet (ReLU) trained for a few seconds on scikit-learn's 8x8 digits, built at 28x28 so that the
exported graphs resize inside (the case that needed TFLite-specific preprocessing). Everything is cached
in the pytest session's base temp directory, so each artifact is made once per session even though
several test folders use it.

The fixtures ``digits``, ``trained_run`` and ``exported`` in tests/conftest.py hand these out.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import numpy as np


def digits_arrays() -> dict:
    """uint8 digits as the data helper stores them (0..16 ink scaled to 0..255), split 1400 / 397."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = bunch.target.astype(np.int64)
    return {"x_train": x[:1400], "y_train": y[:1400], "x_test": x[1400:], "y_test": y[1400:]}


def _locked(base: Path, name: str, make):
    """``base/name``, made by ``make(path)`` once (under a lock) and reused afterwards."""
    path = base / name
    with open(base / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            make(path)
    return path


def trained_run(base: Path) -> Path:
    """A run directory with best.keras, data_spec.json and config.json (dataset "digits")."""

    def make(run_dir: Path):
        import keras
        import tensorflow as tf

        import kerascnn.models
        from kerascnn.data.spec import DataSpec, preprocess

        keras.utils.set_random_seed(0)
        data = digits_arrays()
        x = data["x_train"] / 255.0
        spec = DataSpec("digits", [str(i) for i in range(10)], (8, 8, 1), (28, 28, 1), [float(x.mean())], [float(x.std())])
        model = kerascnn.models.build("lenet", (28, 28, 1), 10, activation="relu")
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False,
        )
        ds = (
            tf.data.Dataset.from_tensor_slices((data["x_train"], data["y_train"]))
            .shuffle(1400, seed=0)
            .batch(64)
            .map(lambda images, labels: (preprocess(images, spec), labels))
        )
        model.fit(ds, epochs=8, verbose=0, shuffle=False)
        tmp = run_dir.with_name(run_dir.name + ".tmp")
        tmp.mkdir()
        model.save(tmp / "best.keras")
        spec.save(tmp)
        (tmp / "config.json").write_text(json.dumps({"model": "lenet", "dataset": "digits", "test_split": 0.2}))
        tmp.rename(run_dir)

    return _locked(base, "lenet_digits_run", make)


def exported(base: Path, kind: str) -> Path:
    """The run exported as ``kind``: "saved_model" (the model base folder) or "tflite-<quantize>"."""
    from kerascnn.export import export

    run_dir = trained_run(base)
    data = digits_arrays()

    def make(path: Path):
        if kind == "saved_model":
            export(run_dir, path, format="saved_model", test_images=data["x_test"], test_labels=data["y_test"])
        else:
            quantize = kind.split("-", 1)[1]
            path.mkdir()
            export(run_dir, path / "model.tflite", format="tflite", quantize=quantize,
                   calibration_images=data["x_train"], test_images=data["x_test"], test_labels=data["y_test"])

    path = _locked(base, f"export_{kind}", make)
    return path if kind == "saved_model" else path / "model.tflite"
