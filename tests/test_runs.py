"""Run directories as inputs: an unfinished run (``<run>.partial``, killed or still training) is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kerascnn.cli.main import main
from kerascnn.errors import ArtifactError
from kerascnn.runs import load_trained, unfinished_run_message


@pytest.fixture
def partial_run(trained_run, tmp_path):
    """What a run killed after 2 of 8 epochs leaves: checkpoints and settings, the training state, no metrics."""
    work = tmp_path / "lenet.partial"
    shutil.copytree(trained_run, work)
    (work / "metrics.json").unlink(missing_ok=True)
    (work / "config.json").write_text(json.dumps({**json.loads((work / "config.json").read_text()), "epochs": 8}))
    (work / "training_state.json").write_text(json.dumps({"epochs": 2, "rows": [{}, {}], "last": None}))
    return work


def test_an_unfinished_run_is_named_as_such(partial_run, trained_run):
    message = unfinished_run_message(partial_run)
    assert "unfinished training run (training stopped after 2 of 8 epochs)" in message
    assert message.endswith(f"then use {partial_run.with_name('lenet')}.")
    assert unfinished_run_message(trained_run) is None
    with pytest.raises(ArtifactError, match="unfinished"):
        load_trained(partial_run / "best.keras")


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "{run}"],
        ["export", "{run}", "--out", "{tmp}/models/lenet"],
        ["export", "{run}/best.keras", "--format", "tflite", "--out", "{tmp}/lenet.tflite"],
        ["predict", "{run}", "{tmp}/digit.npy"],
        ["serve", "{run}", "--port", "0"],
    ],
)
def test_commands_refuse_an_unfinished_run_in_one_line(command, partial_run, tmp_path, capsys):
    np.save(tmp_path / "digit.npy", np.zeros((8, 8), np.uint8))
    argv = [a.format(run=partial_run, tmp=tmp_path) for a in command]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is an unfinished training run" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digit.npy", "lenet.partial"]  # nothing written


def test_serve_says_a_finished_run_needs_exporting(trained_run, capsys):
    assert main(["serve", str(trained_run), "--port", "0"]) == 1
    assert "is a training run, not an export" in capsys.readouterr().err
