"""What fit says besides Keras' progress: the summary, the tested epoch, and warnings where results mislead."""

import json

import numpy as np
import pytest

import kerascnn
from kerascnn.training import report

# MobileNetV2's layer types with few channels and blocks (its test_hyperparameters), with Keras' default
# BatchNorm momentum: after one short epoch the moving statistics are still near their initial values.
NARROW_MOBILENET_V2 = {
    "alpha": 0.5,
    "stages": ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 1, 2)),
    "last_filters": 64,
    "bn_momentum": 0.99,
}


def _color_folder(root, per_class=24, size=32):
    """Three classes of noisy red, green and blue images: learnt in a few steps."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, color in {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(color)[None, None] + rng.normal(0, 40, (size, size, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


def test_unsettled_batch_norm_statistics_warn_and_say_what_to_do(tmp_path, capsys):
    data = _color_folder(tmp_path / "colors")
    result = kerascnn.fit(
        "mobilenet_v2",
        str(data),
        epochs=2,
        batch_size=8,
        val_split=0,
        input_shape=(32, 32, 3),
        hparams=NARROW_MOBILENET_V2,
        out=str(tmp_path / "run"),
        verbose=2,
    )
    out = capsys.readouterr().out
    prepared = _prepared(data, result)  # the split is the data's own (by file identity): count it, as fit did
    n_train, n_test = len(prepared.train), len(prepared.test)
    assert n_train + n_test == 72 and n_test > 0
    assert (
        f"Data:  folder {data} (class subfolders of images, in memory): {n_train} train / {n_test} test images, "
        "3 classes"
    ) in out
    assert f"Model: mobilenet_v2 at 32x32x3, batch 8, {-(-n_train // 8)} steps per epoch, 2 epochs" in out
    warning = next(w for w in result.metrics["warnings"] if w.startswith("BatchNorm's moving statistics"))
    assert "bn_momentum=0.9 (now 0.99)" in warning and "more epochs" in warning and "--batch-size" in warning
    assert f"Warning: {warning}" in out
    # the figures it gives are real: training mode scores far better than what the run reports
    assert f"score {result.metrics['test_accuracy']:.4f}" in warning
    training_mode = report.batch_statistics_accuracy(result.model, _prepared(data, result), batch_size=16)
    assert training_mode - result.metrics["test_accuracy"] >= report.BN_GAP
    assert f"score {training_mode:.4f}" in warning
    # ... and the check left the model's moving statistics as they were
    assert report.batch_statistics_accuracy(result.model, _prepared(data, result), batch_size=16) == training_mode
    saved = json.loads((result.path / "metrics.json").read_text())
    best = int(np.argmax(result.history["accuracy"])) + 1  # without validation: the best training accuracy
    assert saved["warnings"] == result.metrics["warnings"] and saved["best_epoch"] == best
    assert saved["tested_checkpoint"] == "best.keras"  # without validation: the best training accuracy
    assert not any(w.startswith("test accuracy") for w in saved["warnings"])  # BatchNorm explains it


def _prepared(folder, result):
    from kerascnn.data.prepare import prepare_data

    return prepare_data(str(folder), result.spec.input_shape, val_split=0, spec=result.spec)


def test_one_step_per_epoch_warns_and_metrics_name_the_tested_epoch(tmp_path, capsys):
    result = kerascnn.fit("lenet", "digits", epochs=3, batch_size=2048, out=str(tmp_path / "run"), verbose=2)
    out = capsys.readouterr().out
    assert "Model: lenet at 28x28x1 (resized), batch 2048, 1 steps per epoch, 3 epochs" in out
    warning = next(w for w in result.metrics["warnings"] if w.startswith("one training step per epoch"))
    assert "(1,294 training images, batch 2048)" in warning and "--batch-size 32: 41 steps per epoch" in warning
    assert out.index(f"Warning: {warning}") < out.index("Epoch 1/3")  # said before training starts
    saved = json.loads((result.path / "metrics.json").read_text())
    val = [row["val_accuracy"] for row in _history(result.path)]
    assert saved["tested_checkpoint"] == "best.keras" and saved["best_epoch"] == int(np.argmax(val)) + 1
    final = out.strip().splitlines()[-1]
    assert final.startswith(f"Test accuracy {saved['test_accuracy']:.4f}")
    assert f"with the weights of epoch {saved['best_epoch']} of 3" in final
    assert "Time:  about" in out


def _history(run):
    import csv

    with open(run / "history.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.mark.parametrize(
    "accuracy, labels, predictions, warns",
    [
        (0.25, [0, 1, 2, 3] * 5, [3] * 20, True),
        (0.60, [0] * 12 + [1] * 8, [0] * 20, True),  # always the majority class: 0.6 is chance here
        (0.80, [0, 1, 2, 3] * 5, [0, 1, 2, 3] * 5, False),
    ],
)
def test_chance_level(accuracy, labels, predictions, warns):
    class Part:
        pass

    class Data:
        num_classes = 4
        class_names = ["a", "b", "c", "d"]

    fit_report = report.FitReport.__new__(report.FitReport)
    fit_report.data, fit_report.show, fit_report.warnings = Data(), False, []
    fit_report._check_chance(accuracy, np.array(labels), np.array(predictions))
    assert bool(fit_report.warnings) == warns
    if warns and len(set(predictions)) == 1:
        assert f"every test image is predicted as {Data.class_names[predictions[0]]!r}" in fit_report.warnings[0]
