"""fit --init-from: load, freeze (BatchNorm in inference mode), fine-tune, resume across the phase boundary."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.cli.main import main
from kerascnn.models.pretrained.files import sha256_of
from kerascnn.runs import partial_path
from kerascnn.training import checkpoints
from kerascnn_testing.callbacks import InterruptAtEpochEnd

SMALL = dict(batch_size=64, verbose=0, dataset="digits", input_shape=[12, 12])


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("source") / "lenet_bn"
    return kerascnn.fit("lenet_bn", epochs=1, out=str(out), **SMALL).path


def _weights(path):
    model = keras.saving.load_model(path, compile=False)
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}


def test_frozen_phase_then_fine_tuning_resumed_across_the_boundary(source_run, tmp_path):
    out = tmp_path / "run"
    settings = dict(init_from=str(source_run), epochs=1, fine_tune_epochs=1, out=str(out), **SMALL)
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C right after phase 1's only epoch
        kerascnn.fit("lenet_bn", callbacks=[InterruptAtEpochEnd(0)], **settings)
    work = partial_path(out)
    assert checkpoints.load_state(work).epochs == 1
    source, phase1 = _weights(source_run / "best.keras"), _weights(work / "last.keras")
    for name, arrays in source.items():
        if name == "logits":
            assert not np.allclose(arrays[0], phase1[name][0])  # the head trained
        else:  # the backbone did not, and frozen BatchNorm kept its moving statistics (inference mode)
            for a, b in zip(arrays, phase1[name]):
                np.testing.assert_array_equal(a, b)

    run = kerascnn.fit("lenet_bn", **settings)  # resumes into phase 2
    assert run.metrics["resumed_from_epoch"] == 1 and run.metrics["epochs"] == 2
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 3  # header + one row per epoch of both phases
    final = _weights(out / "last.keras")
    assert not np.allclose(final["block1_conv"][0], source["block1_conv"][0])  # phase 2 trained the backbone
    config = json.loads((out / "config.json").read_text())
    assert config["init_from"]["sha256"] == sha256_of(source_run / "best.keras")
    assert [p["lr"] for p in config["phases"]] == [run.config.lr, run.config.lr / 10]
    spec = json.loads((out / "data_spec.json").read_text())
    assert spec["mean"] == json.loads((source_run / "data_spec.json").read_text())["mean"]  # the source's input


def test_bad_transfer_input_is_one_line_exit_1_and_writes_nothing(source_run, tmp_path, capsys):
    out = tmp_path / "bad"
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes((source_run / "best.keras").read_bytes()[:300])
    base = ["fit", "lenet_bn", "--epochs", "1", "--input-shape", "12,12", "--out", str(out)]
    cases = [
        (["--init-from", str(source_run), "--freeze", "no_such_layer"], "has no layer of that name"),
        (["--init-from", str(truncated)], "not a readable .keras"),
        (["--fine-tune-epochs", "2"], "need --init-from"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        assert main(base + extra) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists() and not partial_path(out).exists()
    capsys.readouterr()
    assert (
        main(
            [
                "fit",
                "mnist_cnn",
                "--epochs",
                "1",
                "--input-shape",
                "28,28",
                "--init-from",
                str(source_run),
                "--out",
                str(out),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert "does not fit mnist_cnn" in err and len(err.splitlines()) == 1, err
    assert not out.exists() and not partial_path(out).exists()


def test_tune_init_from_starts_every_trial_from_the_weights(source_run, tmp_path):
    import hashlib

    from kerascnn.tuning import tune
    from kerascnn_testing.callbacks import RecordWeightDigests

    digests = tmp_path / "digests.txt"
    result = tune(
        "lenet_bn",
        dataset="digits",
        max_trials=1,
        epochs=1,
        out=tmp_path / "tune",
        verbose=0,
        init_from=source_run,
        trial_processes=False,
        callbacks=[RecordWeightDigests(digests)],
    )
    assert result.best is not None  # the architecture was fixed to the source's: only training values searched
    source = keras.saving.load_model(source_run / "best.keras", compile=False)
    expected = hashlib.sha256(b"".join(w.tobytes() for w in source.get_weights())).hexdigest()[:16]
    assert digests.read_text().splitlines()[0] == f"begin {expected}"
    config = json.loads((tmp_path / "tune" / "tune_config.json").read_text())  # the search's settings
    spec = json.loads((tmp_path / "tune" / "data_spec.json").read_text())
    assert spec["mean"] == json.loads((source_run / "data_spec.json").read_text())["mean"]
    assert spec["input_shape"] == [12, 12, 1]  # the source run's input
    assert config["init_from"] == {"path": str(source_run), "sha256": sha256_of(source_run / "best.keras")}


def test_training_feeds_the_source_runs_normalization_and_a_new_head(tmp_path):
    from kerascnn.data import load_dataset
    from kerascnn.data.datasets import RawDataset

    digits = load_dataset("digits")
    low = digits.y_train < 5  # a source on 0-4, drawn inverted: other classes and other pixel statistics
    source_data = RawDataset(
        "inverted-0-4",
        [str(c) for c in range(5)],
        255 - digits.x_train[low],
        digits.y_train[low],
        255 - digits.x_test[digits.y_test < 5],
        digits.y_test[digits.y_test < 5],
    )
    from kerascnn.data.pipeline import channel_stats

    source = kerascnn.fit(
        "mnist_cnn", source_data, epochs=1, batch_size=64, verbose=0, input_shape=[16, 16], out=str(tmp_path / "source")
    )
    run = kerascnn.fit(
        "mnist_cnn",
        "digits",
        init_from=str(source.path),
        epochs=1,
        batch_size=64,
        verbose=0,
        out=str(tmp_path / "target"),
    )
    config = json.loads((run.path / "config.json").read_text())
    assert config["init_from"]["reinitialized"] == ["logits (file: 5 classes, model: 10)"]
    assert run.spec.mean == source.spec.mean  # the source's statistics...
    assert abs(channel_stats(digits.x_train, 1)[0][0] - source.spec.mean[0]) > 0.2  # ...not the ten digits'
    # Training fed what data_spec.json says: evaluating the run from its files gives fit's own test accuracy.
    assert kerascnn.evaluate(run.path)["test_accuracy"] == pytest.approx(run.metrics["test_accuracy"], abs=1e-6)
