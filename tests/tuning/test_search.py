"""tune(): a real search in which one value gives an impossible model; input checks before any trial."""

from __future__ import annotations

import csv
import json
import math

import pytest

from kerascnn.tuning import TuneError, tune
from kerascnn.tuning.project import CONFIG_FILE, PROJECT_NAME, prepare_out_dir, repair_project
from kerascnn_testing.callbacks import RecordModelSettings

# Everything fixed but the second kernel and the learning rate: a 2x2 grid, one kernel impossible.
GRID_SPACE = {
    "kernel_sizes": [5, {"values": [3, 15]}],
    "lr": {"values": [0.01, 0.003]},
    "optimizer": "adam",
    "activation": "relu",
    "pooling": "max",
    "batch_norm": False,
    "dropout": 0.0,
    "filters": [6, 16],
    "dense_units": [120, 84],
}


@pytest.mark.slow
@pytest.mark.parametrize("trial_processes", [True, False], ids=["trial-processes", "in-process"])
def test_grid_search_marks_the_impossible_trials_failed_and_goes_on(tmp_path, capsys, trial_processes):
    out = tmp_path / "tune"
    result = tune(
        "lenet",
        tuner="grid",
        max_trials=4,
        epochs=1,
        space=GRID_SPACE,
        out=out,
        verbose=0,
        trial_processes=trial_processes,
    )
    by_kernel = {}
    for row in result.trials:
        by_kernel.setdefault(row.model_hyperparameters["kernel_sizes"][1], []).append(row)
    assert len(result.trials) == 4
    assert all(r.status == "COMPLETED" and math.isfinite(r.score) for r in by_kernel[3])
    assert all(r.status == "FAILED" for r in by_kernel[15])
    assert all("block2_conv" in r.message and "15x15" in r.message for r in by_kernel[15])
    assert {r.training_hyperparameters["lr"] for r in by_kernel[3]} == {0.01, 0.003}
    assert all(r.seconds > 0 and r.epochs == 1 for r in by_kernel[3])
    printed = capsys.readouterr().out
    assert printed.count("failed: lenet cannot be built") == 2  # one line per failed trial, no traceback
    assert "Traceback" not in printed
    # The results files agree with the returned rows.
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["status"] for r in rows] == [r.status for r in result.trials]
    assert [r["trial"] for r in rows] == ["1", "2", "3", "4"]  # numbered as the console's "Trial #1"
    best = json.loads((out / "best_hyperparameters.json").read_text())
    assert best["kernel_sizes"] == [5, 3] and best["lr"] == result.best[0].training_hyperparameters["lr"]
    # The table ranks the completed trials, then names each failed one with its reason.
    lines = result.table.splitlines()
    assert lines[0].split()[:3] == ["rank", "trial", "val_accuracy"]
    assert [line.split()[1] for line in lines[1:3]] == [str(r.number) for r in result.best]
    assert sorted(line.split()[1] for line in lines[3:5]) == sorted(str(r.number) for r in by_kernel[15])
    assert all(" failed: lenet cannot be built" in line for line in lines[3:5])
    assert lines[5:] == ["2 completed, 2 failed of 4 trials."]
    assert (out / "scores_by_trial.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Rerunning the finished search trains nothing and reports the same best trial.
    again = tune(
        "lenet",
        tuner="grid",
        max_trials=4,
        epochs=1,
        space=GRID_SPACE,
        out=out,
        verbose=0,
        trial_processes=trial_processes,
    )
    assert [(r.trial_id, r.score) for r in again.best] == [(r.trial_id, r.score) for r in result.best]


def test_an_impossible_default_model_is_an_error_before_any_trial(tmp_path):
    space = dict(GRID_SPACE, kernel_sizes=[5, {"values": [15, 17]}])
    with pytest.raises(TuneError, match="default values give an invalid model: .*15x15"):
        tune("lenet", tuner="random", max_trials=2, epochs=1, space=space, out=tmp_path / "t", verbose=0)
    assert not list((tmp_path / "t" / PROJECT_NAME).glob("trial_*"))
    # Rerunning with a fixed space into the same --out is accepted: no trial had run there.
    previous = json.loads((tmp_path / "t" / CONFIG_FILE).read_text())
    prepare_out_dir(tmp_path / "t", dict(previous, space={"dropout": 0.1}), overwrite=False)
    assert json.loads((tmp_path / "t" / CONFIG_FILE).read_text())["space"] == {"dropout": 0.1}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(tuner="annealing"),
            "tuner must be one of ('hyperband', 'bayesian', 'random', 'grid'). Received: tuner='annealing'",
        ),
        (
            dict(objective="val_f1"),
            "objective must be one of ('val_accuracy', 'val_loss', 'accuracy', 'loss'). Received: objective='val_f1'",
        ),
        (dict(max_trials=0), "max_trials must be a positive integer"),
        (dict(epochs=-1), "epochs must be a positive integer"),
        (dict(val_split=0.0), "needs validation data"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, kwargs, message):
    with pytest.raises(TuneError) as e:
        tune("lenet", out=tmp_path / "t", **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "t").exists()


def test_out_dir_is_never_clobbered(tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(TuneError, match="not a kerascnn tune directory"):
        tune("lenet", out=other, overwrite=True, verbose=0)
    assert (other / "notes.txt").read_text() == "keep"
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / CONFIG_FILE).write_text(json.dumps({"model": "lenet", "tuner": "grid"}))
    (previous / PROJECT_NAME).mkdir()
    (previous / PROJECT_NAME / "oracle.json").write_text("{}")
    with pytest.raises(TuneError, match="holds a search with other settings"):
        tune("lenet", out=previous, verbose=0)


def test_repair_drops_a_half_written_trial_and_every_reference_to_it(tmp_path):
    project = tmp_path / PROJECT_NAME
    for trial_id, text in (
        ("0", json.dumps({"trial_id": "0", "status": "COMPLETED"})),
        ("1", '{"trial_id": "1", "hyperpa'),
    ):
        (project / f"trial_{trial_id}").mkdir(parents=True)
        (project / f"trial_{trial_id}" / "trial.json").write_text(text)
    # Trial 0 ended but is still listed as ongoing (keras-tuner saves oracle.json before popping it).
    (project / "oracle.json").write_text(
        json.dumps(
            {
                "ongoing_trials": {"tuner0": "1", "tuner1": "0"},
                "start_order": ["0", "1"],
                "end_order": ["0"],
                "run_times": {"0": 1},
                "retry_queue": [],
                "tried_so_far": ["h0", "h1"],
                "id_to_hash": {"0": "h0", "1": "h1"},
            }
        )
    )
    assert repair_project(project) == ["1"]
    state = json.loads((project / "oracle.json").read_text())
    assert state["ongoing_trials"] == {} and state["start_order"] == ["0"] and state["tried_so_far"] == ["h0"]
    assert not (project / "trial_1").exists() and (project / "trial_0").exists()
    # Killed between writing trial_2's trial.json (COMPLETED) and oracle.json: recorded as ended, not retried.
    (project / "trial_2").mkdir()
    (project / "trial_2" / "trial.json").write_text(json.dumps({"trial_id": "2", "status": "COMPLETED"}))
    state["ongoing_trials"] = {"tuner0": "2"}
    state["start_order"].append("2")
    (project / "oracle.json").write_text(json.dumps(state))
    assert repair_project(project) == []
    state = json.loads((project / "oracle.json").read_text())
    assert state["ongoing_trials"] == {} and state["end_order"] == ["0", "2"]
    (project / "oracle.json").write_text('{"ongoing')
    with pytest.raises(TuneError, match=r"Rerun with overwrite=True"):
        repair_project(project)


def test_trials_train_with_fits_settings_and_a_given_training_value_is_fixed(tmp_path):
    # Every trial assembles its training as kerascnn fit would: the input shape, precision and
    # augmentation given reach the trial's model and data; an lr given is fixed rather than searched.
    out, record = tmp_path / "tune", tmp_path / "models.jsonl"
    result = tune(
        "lenet",
        max_trials=1,
        epochs=1,
        batch_size=64,
        out=out,
        verbose=0,
        trial_processes=False,
        input_shape=[12, 12],
        precision="mixed_bfloat16",
        augment=["translate"],
        lr=0.004,
        callbacks=[RecordModelSettings(record)],
    )
    models = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(models) == 1 and all(m["input"] == [12, 12, 1] and m["policy"] == "mixed_bfloat16" for m in models)
    assert all(m["lr"] == pytest.approx(0.004) for m in models)
    assert all(r.training_hyperparameters["lr"] == 0.004 for r in result.trials)
    config = json.loads((out / CONFIG_FILE).read_text())
    assert config["training"] == {"augment": ["translate"], "input_shape": [12, 12], "precision": "mixed_bfloat16"}
    assert config["space"]["lr"] == 0.004
    assert json.loads((out / "data_spec.json").read_text())["input_shape"] == [12, 12, 1]
    # Other trial settings make another search: refused, not mixed into this one.
    with pytest.raises(TuneError, match=r"\(training differ\)"):
        tune(
            "lenet",
            max_trials=2,
            epochs=1,
            batch_size=64,
            out=out,
            verbose=0,
            trial_processes=False,
            input_shape=[16, 16],
            precision="mixed_bfloat16",
            augment=["translate"],
            lr=0.004,
        )
