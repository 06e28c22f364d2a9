"""`kerascnn tune` as a user runs it: a search resumed after a kill, fit on its winner, two processes.

The command runs in this process (``kerascnn_main``) except where the process boundary is what is
tested: a search killed with SIGKILL, and a chief and a worker in two processes.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

FAST = ["--max-trials", "3", "--epochs", "1", "--seed", "1"]


def _trials(out: Path) -> list[dict]:
    with (out / "trials.csv").open() as f:
        return list(csv.DictReader(f))


def _completed_trial_files(out: Path) -> dict:
    done = {}
    for path in sorted((out / "search").glob("trial_*/trial.json")):
        try:
            state = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if state.get("status") == "COMPLETED":
            done[path.parent.name] = path.read_bytes()
    return done


@pytest.fixture(scope="module")
def resumed_search(tmp_path_factory, kerascnn_main_shared):
    """A search SIGKILLed after its first finished trial, then rerun to the end as a user would retype it.

    One search serves both the resume test and the search-then-fit test: a resumed search must end
    exactly like one that was never interrupted (its report, trials.csv, best_hyperparameters.json).
    Returns (out folder, {trial: trial.json bytes} finished before the kill, the rerun's CliResult).
    """
    out = tmp_path_factory.mktemp("tune") / "tune"
    args = ["tune", "lenet", *FAST, "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "kerascnn.cli.main", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.monotonic() + 240
    while not _completed_trial_files(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = _completed_trial_files(out)
    assert finished and len(finished) < 3, "the kill should land after the first trial and before the last"
    # A kill in the middle of writing a trial record (keras-tuner #987): half of it is on disk.
    running = [p for p in (out / "search").glob("trial_*/trial.json") if p.parent.name not in finished]
    for path in running:
        path.write_text(path.read_text()[: len(path.read_text()) // 2])

    again = kerascnn_main_shared(*args)  # the rerun, as a user would type it, in this process
    return out, finished, again


@pytest.mark.slow
def test_rerun_after_a_kill_resumes_without_rerunning_finished_trials(resumed_search):
    out, finished, again = resumed_search
    assert again.returncode == 0, again.stderr[-3000:]
    rows = _trials(out)
    assert [r["status"] for r in rows] == ["COMPLETED"] * 3, again.stdout
    for name, content in finished.items():  # untouched: those trials did not run again
        assert (out / "search" / name / "trial.json").read_bytes() == content


@pytest.mark.slow
def test_search_then_fit_the_winner(resumed_search, tmp_path, kerascnn_main):
    out, _, proc = resumed_search
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Best trials (val_accuracy):" in proc.stdout and "3 completed, 0 failed of 3 trials." in proc.stdout
    rows = _trials(out)
    scores = [float(r["val_accuracy"]) for r in rows]
    assert len(rows) == 3 and all(math.isfinite(s) and 0 <= s <= 1 for s in scores)
    assert len(set(scores)) == 3, f"three different configurations should score differently: {scores}"
    assert all(float(r["seconds"]) > 0 and r["epochs"] == "1" for r in rows)
    best = json.loads((out / "best_hyperparameters.json").read_text())
    assert {"kernel_sizes", "filters", "lr", "optimizer"} <= set(best)
    assert (out / "scores_by_trial.png").stat().st_size > 1000
    # fit trains the winner with exactly those hyperparameters.
    run_dir = tmp_path / "fit"
    fitted = kerascnn_main("fit", "lenet", "--hparams", out / "best_hyperparameters.json", "--epochs", "1",
                           "--out", run_dir)
    assert fitted.returncode == 0, fitted.stderr[-3000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["lr"] == pytest.approx(best["lr"]) and config["optimizer"] == best["optimizer"]
    assert config["hparams"]["kernel_sizes"] == best["kernel_sizes"]


@pytest.mark.slow
def test_distributed_search_with_a_chief_and_a_worker(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "tune"
    base = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port))
    args = [sys.executable, "-m", "kerascnn.cli.main", "tune", "lenet", "--max-trials", "2", "--epochs", "1",
            "--out", str(out), "--quiet"]
    chief = subprocess.Popen(args, env=dict(base, KERASTUNER_TUNER_ID="chief"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    worker = subprocess.Popen(args, env=dict(base, KERASTUNER_TUNER_ID="tuner0"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        w_out, w_err = worker.communicate(timeout=300)
        c_out, c_err = chief.communicate(timeout=120)
    finally:
        for p in (chief, worker):
            if p.poll() is None:
                p.kill()
    assert worker.returncode == 0, w_err[-2000:]
    assert chief.returncode == 0, c_err[-2000:]
    assert "Worker finished" in w_out
    assert "2 completed, 0 failed of 2 trials." in c_out
    rows = _trials(out)
    assert len(rows) == 2 and all(math.isfinite(float(r["val_accuracy"])) for r in rows)
    assert (out / "best_hyperparameters.json").is_file()


def test_bad_input_is_one_line_before_any_trial(tmp_path, kerascnn_main):
    proc = kerascnn_main("tune", "lenet", "--tuner", "annealing", "--out", tmp_path / "a")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "kerascnn tune: error: tuner must be one of ('hyperband', 'bayesian', 'random', 'grid'). Received: tuner='annealing'"
    )
    assert not (tmp_path / "a").exists()
    # Bad spaces, settings and impossible models: tests/tuning/test_search.py and test_spaces.py.
