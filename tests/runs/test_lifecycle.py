"""Run directories: created beside their final place, resumed only with the same settings."""

from __future__ import annotations

import json

import pytest

from kerascnn.errors import ArtifactError
from kerascnn.runs import lifecycle


def _unfinished(tmp_path, identity):
    run = lifecycle.open_run_dir(tmp_path / "run", identity, overwrite=False)
    (run.work / "config.json").write_text(json.dumps({"identity": identity}))
    (run.work / "training_state.json").write_text(json.dumps({"epochs": 2, "rows": [{"loss": 1.0}, {"loss": 0.5}]}))
    (run.work / "history.csv").write_text("epoch,loss\n0,1.0\n1,0.5\n2,0.4\n")
    return run


def test_same_settings_resume(tmp_path):
    _unfinished(tmp_path, {"lr": 0.1})
    run = lifecycle.open_run_dir(tmp_path / "run", {"lr": 0.1}, overwrite=False)
    assert run.resumed and (run.work / "history.csv").is_file()
    final = lifecycle.finish(run, overwrite=False)
    assert final == tmp_path / "run" and final.is_dir() and not run.work.exists()
    assert not (final / "training_state.json").exists()  # the training state served resuming only


def test_a_run_killed_before_its_first_epoch_starts_over(tmp_path):
    run = lifecycle.open_run_dir(tmp_path / "run", {"lr": 0.1}, overwrite=False)
    (run.work / "config.json").write_text(json.dumps({"identity": {"lr": 0.1}}))
    run.release()  # as the kernel does when a killed process's files close
    run = lifecycle.open_run_dir(tmp_path / "run", {"lr": 0.1}, overwrite=False)
    assert not run.resumed and list(run.work.iterdir()) == []


def test_other_settings_are_refused_unless_overwrite(tmp_path):
    _unfinished(tmp_path, {"lr": 0.1, "epochs": 3})
    with pytest.raises(ArtifactError, match=r"other settings \(lr\)"):
        lifecycle.open_run_dir(tmp_path / "run", {"lr": 0.2, "epochs": 3}, overwrite=False)
    run = lifecycle.open_run_dir(tmp_path / "run", {"lr": 0.2, "epochs": 3}, overwrite=True)
    assert not run.resumed and list(run.work.iterdir()) == []


def test_a_folder_that_is_not_a_run_is_not_touched(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_text("keep")
    with pytest.raises(ArtifactError, match="not a finished kerascnn run"):
        lifecycle.open_run_dir(tmp_path / "run", {}, overwrite=False)
    assert (tmp_path / "run" / "mine.txt").read_text() == "keep"
