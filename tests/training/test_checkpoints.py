"""Resuming after a kill at each step of an epoch and after training (kerascnn.training.checkpoints).

Every kill here is a real SIGKILL of a ``kerascnn fit`` child at a named step (kerascnn_testing.kill);
the rerun is the same command, in-process, and must end with a complete run whose history has every
epoch once, the right resume point, and no traceback. The four children start together (each is mostly
one busy thread: tracing, training), each in its own folder.
"""

from __future__ import annotations

import csv
import json
import signal

import keras
import pytest

import kerascnn
from kerascnn.cli.main import main
from kerascnn.runs import partial_path
from kerascnn.training import checkpoints
from kerascnn_testing.callbacks import InterruptAtEpochEnd
from kerascnn_testing.kill import finished, start_killed_at

RELU = '{"activation": "relu", "pooling": "max"}'
EPOCHS = 3


def _command(tmp_path):
    (tmp_path / "relu.json").write_text(RELU)
    return [
        "fit",
        "lenet",
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "64",
        "--hparams",
        str(tmp_path / "relu.json"),
        "--out",
        str(tmp_path / "run"),
        "--seed",
        "1",
    ]


# test -> where its child is killed: (kind, name, nth) of kerascnn_testing.kill
KILLS = {
    "history_row": ("rename", "history.csv", 2),
    "epoch_commit": ("rename", "training_state.json", 2),
    "final_rename": ("rename", "run", 1),
    "checkpoint_write": ("write", "model.weights.h5", 2),
}


@pytest.fixture(scope="module")
def killed_children(tmp_path_factory):
    """Every KILLS child, started at once: key -> (folder, command, Popen)."""
    children = {}
    try:
        for key, (kind, name, nth) in KILLS.items():
            folder = tmp_path_factory.mktemp(key)
            command = _command(folder)
            children[key] = (folder, command, start_killed_at(kind, name, nth, command))
        yield children
    finally:
        for _, _, child in children.values():
            child.kill()  # a test that failed early leaves no child behind


def _killed(killed_children, key):
    """The folder and command of a KILLS child, after checking it was killed where it should have been."""
    folder, command, child = killed_children[key]
    proc = finished(child)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not (folder / "run").exists() and partial_path(folder / "run").is_dir()
    return folder, command


def _rerun(command, capsys):
    assert main(command) == 0
    return capsys.readouterr().out


def _history_epochs(run):
    return [int(r["epoch"]) for r in csv.DictReader(open(run / "history.csv"))]


def _assert_complete(run):
    assert _history_epochs(run) == list(range(EPOCHS))  # every epoch once, in order
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == EPOCHS and metrics["test_accuracy"] > 0.5
    for name in ("best.keras", "last.keras", "learning_curves.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints").exists() and not (run / "training_state.json").exists()
    assert not partial_path(run).exists()
    keras.saving.load_model(run / "best.keras", compile=False)
    return metrics


def test_kill_between_an_epochs_checkpoint_and_its_history_row_loses_nothing(killed_children, capsys):
    # Killed after epoch 2 was saved but before its history.csv row was written
    # (the 2nd rename onto history.csv). Epoch 2 is committed, so the run resumes at epoch 3.
    folder, command = _killed(killed_children, "history_row")
    state = checkpoints.load_state(partial_path(folder / "run"))
    assert state.epochs == 2 and len(state.rows) == 2
    out = _rerun(command, capsys)
    assert f"from epoch 3/{EPOCHS}" in out
    metrics = _assert_complete(folder / "run")
    assert metrics["resumed_from_epoch"] == 2


def test_kill_at_an_epochs_commit_trains_that_epoch_again(killed_children, capsys):
    folder, command = _killed(killed_children, "epoch_commit")  # epoch 2's commit never landed
    out = _rerun(command, capsys)
    assert f"from epoch 2/{EPOCHS}" in out
    _assert_complete(folder / "run")


def test_kill_at_the_final_rename_resumes_at_evaluation(killed_children, capsys):
    # Case 2: killed at rename(run.partial, run): nothing is trained again.
    folder, command = _killed(killed_children, "final_rename")
    before = (partial_path(folder / "run") / "history.csv").read_text()
    out = _rerun(command, capsys)
    assert "training was finished; evaluating" in out and "Epoch" not in out
    _assert_complete(folder / "run")
    assert (folder / "run" / "history.csv").read_text() == before


def test_kill_while_a_checkpoint_is_written_resumes_from_the_last_whole_one(killed_children, capsys):
    # Case 3: killed while the .keras file of epoch 2 was half-written (its weights not yet in the zip).
    folder, command = _killed(killed_children, "checkpoint_write")
    work = partial_path(folder / "run")
    assert [p for p in (work / "checkpoints").iterdir() if p.name.startswith(".")]  # the torn temporary file
    out = _rerun(command, capsys)
    assert f"from epoch 2/{EPOCHS}" in out
    _assert_complete(folder / "run")


def test_a_damaged_checkpoint_is_detected_and_the_previous_epoch_resumed(tmp_path, capsys):
    out = tmp_path / "run"
    settings = dict(epochs=EPOCHS, batch_size=64, hparams=json.loads(RELU), out=str(out), verbose=1)
    with pytest.raises(KeyboardInterrupt):
        kerascnn.fit("lenet", callbacks=[InterruptAtEpochEnd(1)], **settings)
    work = partial_path(out)
    state = checkpoints.load_state(work)
    assert state.epochs == 2 and state.previous == checkpoints.checkpoint_name(1)
    last = work / state.last
    last.write_bytes(last.read_bytes()[:150])  # a torn file (a power cut without the data on disk)
    capsys.readouterr()
    run = kerascnn.fit("lenet", **settings)
    printed = capsys.readouterr().out
    assert "the checkpoint of epoch 2 is damaged" in printed and f"from epoch 2/{EPOCHS}" in printed
    assert run.metrics["resumed_from_epoch"] == 1
    _assert_complete(out)


def test_best_and_last_share_the_epochs_file_and_resume_restores_the_optimizer(tmp_path):
    out = tmp_path / "run"
    settings = dict(batch_size=64, hparams=json.loads(RELU), out=str(out), verbose=0)
    with pytest.raises(KeyboardInterrupt):
        kerascnn.fit("lenet", epochs=EPOCHS, callbacks=[InterruptAtEpochEnd(0)], **settings)
    work = partial_path(out)
    state = checkpoints.load_state(work)
    saved = work / state.last
    assert (work / "last.keras").samefile(saved) and (work / "best.keras").samefile(saved)  # no copies
    steps = int(keras.saving.load_model(saved).optimizer.iterations.numpy())
    assert steps > 0

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.iterations = int(self.model.optimizer.iterations.numpy())

    record = Record()
    kerascnn.fit("lenet", epochs=EPOCHS, callbacks=[record], **settings)
    assert record.iterations == steps  # momentum/Adam state and step count came back, not a fresh optimizer
