"""A tiny trained run shared by the export, inference and predict/export CLI tests.

A real ``kerascnn.fit`` run: LeNet (ReLU, max pooling) on scikit-learn's 8x8 digits, built at its default
28x28 so that the exported graphs resize inside (the case that needed TFLite-specific preprocessing). Its
config.json, data_spec.json and split are the ones ``fit`` wrote, so the test images below are the run's
seeded test split, never seen in training. Everything is cached in the pytest session's base temporary
directory, so each artifact is made once per session even though several test folders use it.

The fixtures ``digits``, ``trained_run`` and ``exported`` in tests/conftest.py hand these out.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

# Enough for the int8 export to meet its parity bounds (>= 99% top-1 agreement, <= 0.5 points of accuracy
# lost) on the 359 test images: a model that is still unsure of many images flips them when quantized.
RUN_SETTINGS = dict(epochs=4, batch_size=64, hparams={"activation": "relu", "pooling": "max"}, seed=0)


def _locked(base: Path, name: str, make):
    """``base/name``, made by ``make(path)`` once (under a lock) and reused afterwards."""
    path = base / name
    with open(base / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            make(path)
    return path


def trained_run(base: Path) -> Path:
    """A finished ``kerascnn.fit("lenet", dataset="digits")`` run directory."""

    def make(run_dir: Path):
        import kerascnn

        kerascnn.fit("lenet", dataset="digits", out=str(run_dir), verbose=0, **RUN_SETTINGS)

    return _locked(base, "lenet_digits_run", make)


def digits_arrays(base: Path) -> dict:
    """The run's raw uint8 digits split as in training: ``x_train`` (its training part) and ``x_test``."""
    from kerascnn.runs import load_run_dataset

    raw = load_run_dataset(trained_run(base))
    return {"x_train": raw.x_train, "y_train": raw.y_train, "x_test": raw.x_test, "y_test": raw.y_test}


def exported(base: Path, kind: str) -> Path:
    """The run exported as ``kind``: "saved_model" (the model base folder) or "tflite-<quantize>".

    Parity is measured on the run's own test split and int8 is calibrated on its training part, as
    ``kerascnn export RUN`` does.
    """
    from kerascnn.export import export

    run_dir = trained_run(base)
    data = digits_arrays(base)

    def make(path: Path):
        if kind == "saved_model":
            export(run_dir, path, format="saved_model", test_images=data["x_test"], test_labels=data["y_test"])
        else:
            quantize = kind.split("-", 1)[1]
            path.mkdir()
            export(
                run_dir,
                path / "model.tflite",
                format="tflite",
                quantize=quantize,
                calibration_images=data["x_train"],
                test_images=data["x_test"],
                test_labels=data["y_test"],
            )

    path = _locked(base, f"export_{kind}", make)
    return path if kind == "saved_model" else path / "model.tflite"
