"""A search saved before the learning rate's rename (learning_rate -> lr) resumes with today's kerascnn.

The folder beside this file was written by the kerascnn of the commit before the rename (its README says
how); the test resumes a copy for real with the user's same command, which may still say learning_rate.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from kerascnn import compat
from kerascnn.tuning import TuneError, tune
from kerascnn.tuning.project import CONFIG_FILE, PROJECT_NAME

LEGACY = Path(__file__).parent / "search_before_lr_rename"
# The command that wrote it (its --space file said learning_rate, which a --space file still may).
SPACE = {
    "kernel_sizes": [5, 3],
    "learning_rate": {"values": [0.01, 0.003, 0.001]},
    "optimizer": "adam",
    "activation": "relu",
    "pooling": "max",
    "batch_norm": False,
    "dropout": 0.0,
    "filters": [4, 8],
    "dense_units": [16, 8],
}
SETTINGS = dict(tuner="random", epochs=1, batch_size=256, trial_processes=False, verbose=0, space=SPACE)


def _old_scores():
    with (LEGACY / "trials.csv").open() as f:
        return {row["trial"]: (float(row["learning_rate"]), float(row["val_accuracy"])) for row in csv.DictReader(f)}


def _json_files(out):
    return [out / CONFIG_FILE, out / "space.json", *sorted((out / PROJECT_NAME).rglob("*.json"))]


def test_a_search_from_before_the_rename_resumes_under_the_new_name(tmp_path):
    out = tmp_path / "tune"
    shutil.copytree(LEGACY, out)
    oracle = json.loads((LEGACY / PROJECT_NAME / "oracle.json").read_text())
    # keras-tuner's record of the values tried is a hash of names and values: the old folder's, recomputed.
    assert oracle["id_to_hash"]["0"] == compat.hyperparameters_hash({"learning_rate": 0.01})

    result = tune("lenet", max_trials=3, out=out, **SETTINGS)

    # The two finished trials kept their results; only the third ran, with the one value not tried yet.
    old = _old_scores()
    rows = {row.trial_id: row for row in result.trials}
    assert sorted(rows) == ["0", "1", "2"]
    for trial_id, (lr, score) in old.items():
        assert rows[trial_id].training_hyperparameters == {"lr": lr, "optimizer": "adam"}
        assert rows[trial_id].score == pytest.approx(score, abs=1e-6)
    assert rows["2"].training_hyperparameters["lr"] == 0.003 and rows["2"].status == "COMPLETED"
    # Every file says lr now, and keras-tuner's hashes are those of the new names.
    for path in _json_files(out) + [out / "trials.csv", out / "best_hyperparameters.json"]:
        assert "learning_rate" not in path.read_text(), path
    oracle = json.loads((out / PROJECT_NAME / "oracle.json").read_text())
    for trial_id, row in rows.items():
        assert oracle["id_to_hash"][trial_id] == compat.hyperparameters_hash({"lr": row.training_hyperparameters["lr"]})
    assert sorted(oracle["tried_so_far"]) == sorted(oracle["id_to_hash"].values())
    assert (
        json.loads((out / "best_hyperparameters.json").read_text())["lr"]
        == result.best[0].training_hyperparameters["lr"]
    )

    # Resumed again (the search is finished): nothing trains, nothing changes.
    before = {path: path.read_text() for path in _json_files(out)}
    again = tune("lenet", max_trials=3, out=out, **SETTINGS)
    assert [(r.trial_id, r.score) for r in again.trials] == [(r.trial_id, r.score) for r in result.trials]
    assert {path: path.read_text() for path in _json_files(out)} == before


def test_other_settings_than_the_old_search_are_named_not_the_renamed_space(tmp_path):
    out = tmp_path / "tune"
    shutil.copytree(LEGACY, out)
    with pytest.raises(TuneError, match=r"\(epochs differ\)"):
        tune("lenet", max_trials=3, out=out, **dict(SETTINGS, epochs=2))
    # Refused before anything was written: the old search is as it was.
    for path in LEGACY.rglob("*"):
        if path.is_file():
            assert (out / path.relative_to(LEGACY)).read_bytes() == path.read_bytes(), path
