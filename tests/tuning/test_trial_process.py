"""Trials in worker processes: shared until replaced, a dying one fails alone; Hyperband and Bayesian searches."""

from __future__ import annotations

import csv
import os

import pytest

from kerascnn.training import core_split
from kerascnn.tuning import trial_process, tune
from kerascnn_testing.callbacks import KillFirstTrainingProcess, RecordProcess, RecordWeightDigests

# The architecture fixed, only the learning rate searched: every trial is the same small LeNet.
LR_SPACE = {
    "kernel_sizes": [5, 5],
    "filters": [6, 16],
    "dense_units": [120, 84],
    "activation": "relu",
    "pooling": "max",
    "batch_norm": False,
    "dropout": 0.0,
    "optimizer": "adam",
    "lr": {"min": 1e-3, "max": 1e-2, "sampling": "log"},
}


@pytest.mark.slow
def test_trials_share_a_worker_until_it_is_replaced_and_a_dying_one_fails_alone(tmp_path, monkeypatch):
    # Any growth replaces the worker: after its second trial (its first sets the memory baseline).
    monkeypatch.setattr(trial_process, "MAX_GROWTH", -1.0)
    pids = tmp_path / "pids.txt"
    callbacks = [RecordProcess(pids), KillFirstTrainingProcess(tmp_path / "killed-once")]
    out = tmp_path / "tune"
    result = tune(
        "lenet", tuner="random", max_trials=4, epochs=1, space=LR_SPACE, out=out, verbose=0, callbacks=callbacks
    )
    records = [line.split() for line in pids.read_text().splitlines()]
    trained_in = [pid for pid, _ in records]
    assert str(os.getpid()) not in trained_in
    # Trial 0's worker was killed; trials 1 and 2 shared the next worker, which was then replaced.
    assert trained_in[1] == trained_in[2] and len({trained_in[0], trained_in[1], trained_in[3]}) == 3
    # A new worker sets up core split as `kerascnn fit` does (one slice per core, none on one core).
    cores = core_split.cpu_cores()
    assert {int(parts) for _, parts in records} == {cores if cores > 1 else 0}
    assert [r.status for r in result.trials] == ["FAILED", "COMPLETED", "COMPLETED", "COMPLETED"]
    assert "process died (killed by SIGKILL (out of memory?))" in result.trials[0].message
    assert all(r.peak_rss_mb > 50 and r.score > 0 for r in result.trials[1:])
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert all(float(r["peak_rss_mb"]) > 50 for r in rows[1:])


@pytest.mark.slow
def test_hyperband_continues_a_trial_from_its_checkpoint_in_a_new_process(tmp_path):
    digests = tmp_path / "digests.txt"
    # max_epochs 3, factor 3: three 1-epoch trials, then the best one goes on for epochs 2..3.
    result = tune(
        "lenet",
        tuner="hyperband",
        max_trials=4,
        epochs=3,
        space=LR_SPACE,
        out=tmp_path / "hb",
        verbose=0,
        callbacks=[RecordWeightDigests(digests)],
    )
    assert [r.status for r in result.trials] == ["COMPLETED"] * 4
    assert [r.epochs for r in result.trials] == [1, 1, 1, 2]
    lines = [line.split() for line in digests.read_text().splitlines()]
    begins = [d for when, d in lines if when == "begin"]
    ends = [d for when, d in lines if when == "end"]
    # The first round starts from the same seeded weights; the continued trial starts exactly where
    # the best one of them ended (its checkpoint, loaded in the new process).
    assert begins[0] == begins[1] == begins[2] and len(set(ends[:3])) == 3
    best = max(range(3), key=lambda i: result.trials[i].score)
    assert result.trials[3].training_hyperparameters == result.trials[best].training_hyperparameters
    assert begins[3] == ends[best]


@pytest.mark.slow
def test_bayesian_search_completes_distinct_trials(tmp_path):
    # In this process: the Bayesian oracle is what is tested here, trial processes are above.
    # One searched value: keras-tuner tries 3 random points, then the Gaussian process proposes the 4th.
    result = tune(
        "lenet",
        tuner="bayesian",
        max_trials=4,
        epochs=1,
        space=LR_SPACE,
        out=tmp_path / "bo",
        verbose=0,
        trial_processes=False,
    )
    assert [r.status for r in result.trials] == ["COMPLETED"] * 4
    rates = {r.training_hyperparameters["lr"] for r in result.trials}
    assert len(rates) == 4 and all(1e-3 <= lr <= 1e-2 for lr in rates)
    assert result.best_hyperparameters.is_file()
