"""fit(..., folds=K): one real run per fold in one run directory, a summary, resumable after a kill mid-fold."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerascnn
from kerascnn.cli.main import main
from kerascnn.data import load_dataset
from kerascnn.data.folds import fold_indices
from kerascnn.errors import ArtifactError
from kerascnn.runs import is_finished_run, partial_path
from kerascnn_testing.callbacks import KillAtEpochEnd
from kerascnn_testing.children import finished, start_child

RELU = {"activation": "relu", "pooling": "max"}
SETTINGS = dict(model="lenet", folds=3, epochs=2, batch_size=128, hparams=RELU, verbose=0)


@pytest.fixture(scope="module")
def resumed_cross_validation(tmp_path_factory):
    """A 3-fold run SIGKILLed after epoch 1 of fold 2 in a child process, then resumed in this one."""
    out = tmp_path_factory.mktemp("folds") / "cv"
    marker = out.parent / "killed"
    child = start_child(kerascnn.fit, **SETTINGS, out=str(out), callbacks=[KillAtEpochEnd(marker, fit=2, epoch=0)])
    proc = finished(child)
    assert proc.returncode == -9 and marker.exists(), proc.stderr[-3000:]
    work = partial_path(out)
    assert is_finished_run(work / "fold1") and partial_path(work / "fold2").is_dir() and not (work / "fold3").exists()
    fold1_metrics = (work / "fold1" / "metrics.json").read_text()
    result = kerascnn.fit(**SETTINGS, out=str(out))
    return result, fold1_metrics


def test_a_killed_fold_resumes_and_finished_folds_are_kept(resumed_cross_validation):
    result, fold1_metrics = resumed_cross_validation
    assert result.path.is_dir() and not partial_path(result.path).exists()
    assert (result.path / "fold1" / "metrics.json").read_text() == fold1_metrics  # not trained again
    resumed = json.loads((result.path / "fold2" / "metrics.json").read_text())
    assert resumed["resumed_from_epoch"] == 1 and resumed["epochs"] == 2
    fresh = json.loads((result.path / "fold3" / "metrics.json").read_text())
    assert fresh["resumed_from_epoch"] == 0 and fresh["epochs"] == 2
    assert (result.path / "fold2" / "history.csv").read_text().count("\n") == 3  # header + two epochs


def test_each_fold_is_a_run_validating_on_its_slice(resumed_cross_validation):
    result, _ = resumed_cross_validation
    raw = load_dataset("digits")
    splits = fold_indices(raw.y_train, 3)
    summary = json.loads((result.path / "folds.json").read_text())
    assert summary == result.metrics and summary["folds"] == 3 and len(summary["per_fold"]) == 3
    for row, path, (train, val) in zip(summary["per_fold"], result.fold_paths, splits):
        config = json.loads((path / "config.json").read_text())
        assert config["fold"] == row["fold"] and config["folds"] == 3 and is_finished_run(path)
        assert row["val_images"] == len(val) and row["train_images"] == len(train)
        assert 0.5 < row["val_accuracy"] <= row["best_val_accuracy"]
        # the test part is the dataset's own, untouched: evaluate reproduces each fold's test accuracy
        assert kerascnn.evaluate(path)["test_accuracy"] == pytest.approx(row["test_accuracy"], abs=2e-6)
    assert sum(r["val_images"] for r in summary["per_fold"]) == len(raw.y_train)
    values = [r["val_accuracy"] for r in summary["per_fold"]]
    assert summary["val_accuracy_mean"] == pytest.approx(np.mean(values), abs=1e-6)
    assert summary["val_accuracy_std"] == pytest.approx(np.std(values), abs=1e-6)
    assert (result.path / "fold_curves.png").stat().st_size > 10_000
    assert json.loads((result.path / "config.json").read_text())["folds"] == 3


def test_a_cross_validation_is_a_finished_run(resumed_cross_validation):
    result, _ = resumed_cross_validation
    with pytest.raises(ArtifactError, match="overwrite=True"):
        kerascnn.fit(**SETTINGS, out=str(result.path))
    with pytest.raises(ArtifactError, match="fold1"):
        kerascnn.evaluate(result.path)


def test_cli_folds_too_many_for_a_class_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "cv"
    assert main(["fit", "lenet", "--folds", "500", "--epochs", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Cannot make 500 stratified folds" in err and "--folds" in err
    assert not out.exists() and not partial_path(out).exists()
    assert main(["fit", "lenet", "--folds", "1", "--out", str(out)]) == 1
    assert "folds must be 0" in capsys.readouterr().err


def test_an_unfinished_cross_validation_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "cv"
    work = partial_path(out)
    work.mkdir()
    from kerascnn.training import TrainConfig

    identity = TrainConfig(**{k: v for k, v in SETTINGS.items()}, out=str(out)).resolve().identity()
    (work / "config.json").write_text(json.dumps({"identity": {**identity, "lr": 0.5}}))
    with pytest.raises(ArtifactError, match=r"other settings \(lr\)"):
        kerascnn.fit(**SETTINGS, out=str(out))
    assert (work / "config.json").is_file()  # left for the user to resume or --overwrite


def test_folds_of_an_image_folder_see_the_pixels_fit_sees(tmp_path):
    # Each fold reads the folder through prepare_data, as fit does: TensorFlow's decode and one resize from each
    # image's own size, never a Pillow pass that first squashes every image to the folder's most common size.
    from PIL import Image

    from kerascnn.data import prepare_data
    from kerascnn.data.spec import DataSpec
    from kerascnn_testing.data_files import write_image_folder

    folder = write_image_folder(tmp_path / "data", per_class=12)
    Image.fromarray(np.tile(np.arange(30, dtype=np.uint8) * 8, (20, 1))).save(folder / "left" / "wide.png")
    result = kerascnn.fit(
        "lenet",
        dataset=str(folder),
        folds=2,
        epochs=1,
        batch_size=8,
        input_shape=[16, 16],
        hparams=RELU,
        verbose=0,
        out=str(tmp_path / "cv"),
    )
    for fold, path in enumerate(result.fold_paths, start=1):
        expected = prepare_data(folder, (16, 16, 1), fold=fold, folds=2)
        saved = DataSpec.load(path)
        assert saved.mean == pytest.approx(expected.spec.mean) and saved.std == pytest.approx(expected.spec.std)
        data = json.loads((path / "config.json").read_text())["data"]
        assert data["train_images"] == len(expected.train) and data["files_digest"] == expected.info()["files_digest"]
