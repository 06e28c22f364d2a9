"""`kerascnn tune` as a user runs it: a search resumed after a kill, fit on its winner, two processes.

The command runs in this process (``kerascnn_main``) except where the process boundary is what is
tested: a search killed with SIGKILL (a child forked without TensorFlow's import, kerascnn_testing.children),
and a chief and a worker in two processes (forked the same way).
"""

from __future__ import annotations

import csv
import json
import math
import shlex
import signal
import socket
import time
from pathlib import Path

import pytest

from kerascnn_testing.children import finished, program, start_child

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
    child = start_child(program, args, daemon=False)  # a `kerascnn tune` process
    deadline = time.monotonic() + 240
    while not _completed_trial_files(out) and child.process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    child.kill()  # SIGKILL
    killed = finished(child)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    done = _completed_trial_files(out)
    assert done and len(done) < 3, "the kill should land after the first trial and before the last"
    # A kill in the middle of writing a trial record (keras-tuner #987): half of it is on disk.
    running = [p for p in (out / "search").glob("trial_*/trial.json") if p.parent.name not in done]
    for path in running:
        path.write_text(path.read_text()[: len(path.read_text()) // 2])

    again = kerascnn_main_shared(*args)  # the rerun, as a user would type it, in this process
    return out, done, again


@pytest.mark.slow
def test_rerun_after_a_kill_resumes_without_rerunning_finished_trials(resumed_search):
    out, done, again = resumed_search
    assert again.returncode == 0, again.stderr[-3000:]
    rows = _trials(out)
    assert [r["status"] for r in rows] == ["COMPLETED"] * 3, again.stdout
    for name, content in done.items():  # untouched: those trials did not run again
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
    fitted = kerascnn_main(
        "fit", "lenet", "--hparams", out / "best_hyperparameters.json", "--epochs", "1", "--out", run_dir
    )
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
    oracle = dict(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port))
    args = ["tune", "lenet", "--max-trials", "2", "--epochs", "1", "--out", out, "--quiet"]
    chief = start_child(program, args, env=dict(oracle, KERASTUNER_TUNER_ID="chief"))
    worker = start_child(program, args, env=dict(oracle, KERASTUNER_TUNER_ID="tuner0"), daemon=False)  # trials
    try:
        worker_ran = finished(worker, timeout=300)
        chief_ran = finished(chief, timeout=120)
    finally:
        for p in (chief, worker):
            p.kill()
    assert worker_ran.returncode == 0, worker_ran.stderr[-2000:]
    assert chief_ran.returncode == 0, chief_ran.stderr[-2000:]
    assert "Worker finished" in worker_ran.stdout
    assert "2 completed, 0 failed of 2 trials." in chief_ran.stdout
    rows = _trials(out)
    assert len(rows) == 2 and all(math.isfinite(float(r["val_accuracy"])) for r in rows)
    assert (out / "best_hyperparameters.json").is_file()


def test_bad_input_is_one_line_before_any_trial(tmp_path, kerascnn_main):
    proc = kerascnn_main("tune", "lenet", "--tuner", "annealing", "--out", tmp_path / "a")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "kerascnn tune: error: tuner must be one of ('hyperband', 'bayesian', 'random', 'grid'). "
        "Received: tuner='annealing'"
    )
    assert not (tmp_path / "a").exists()
    # Bad spaces, settings and impossible models: tests/tuning/test_search.py and test_spaces.py.


def test_tune_offers_every_fit_setting_a_trial_trains_with(capsys):
    import dataclasses

    from kerascnn.cli.main import build_parser, main
    from kerascnn.training import TrainConfig
    from kerascnn.tuning.config import NOT_FOR_TRIALS, TRIAL_SETTINGS

    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    out = capsys.readouterr().out
    flags = {
        "--" + f.name.replace("_", "-")
        for f in dataclasses.fields(TrainConfig)
        if f.metadata["cli"] and f.name not in NOT_FOR_TRIALS
    }
    assert flags and all(flag in out for flag in flags), sorted(f for f in flags if f not in out)
    args = build_parser().parse_args(
        [
            "tune",
            "resnet18",
            "--input-shape",
            "32,32,1",
            "--augment",
            "flip",
            "--precision",
            "mixed_bfloat16",
            "--lr",
            "0.01",
            "--max-trials",
            "2",
        ]
    )
    assert set(args.trial_setting_names) == set(TRIAL_SETTINGS)
    given = {n: getattr(args, n) for n in args.trial_setting_names if getattr(args, n) is not None}
    assert given == {"input_shape": [32, 32, 1], "augment": ["flip"], "precision": "mixed_bfloat16", "lr": 0.01}
    assert args.max_trials == 2
    # Written back as flags (the "Train the winner" line), they parse to the same settings for fit.
    from kerascnn.cli.settings_args import as_flags

    again = build_parser().parse_args(["fit", "resnet18", *shlex.split(as_flags(given))])
    assert {name: getattr(again, name) for name in given} == given


def test_an_unknown_tune_setting_names_the_closest_one(tmp_path):
    from kerascnn.errors import KerasCNNError
    from kerascnn.tuning import tune

    with pytest.raises(KerasCNNError, match=r"'max_trial' \(did you mean 'max_trials'\?\)"):
        tune("lenet", max_trial=2, out=tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_errors_name_flags_on_the_command_line_and_keywords_in_python(tmp_path, kerascnn_main):
    from kerascnn.tuning import TuneError, tune

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    proc = kerascnn_main("tune", "lenet", "--out", mine)
    assert proc.returncode == 1 and "choose another --out (nothing was deleted)" in proc.stderr
    with pytest.raises(TuneError, match=r"choose another out= \(nothing was deleted\)"):
        tune("lenet", out=mine)
    assert (mine / "notes.txt").read_text() == "keep"


@pytest.mark.slow
def test_console_off_a_terminal_is_plain_lines_with_one_trial_numbering(tmp_path, kerascnn_cli):
    # A fresh process writing to a pipe, as a log file or CI sees it.
    out = tmp_path / "tune"
    proc = kerascnn_cli(
        "tune", "lenet", "--tuner", "random", "--max-trials", "2", "--epochs", "1", "--seed", "1", "--out", out
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    assert "\x1b" not in console and "\r" not in console  # no progress bars, no "clearing" escape codes
    assert "cuInit" not in console and "cuda" not in console.lower()
    assert console.count("21/21 - ") == 2  # one line per epoch, as fit prints off a terminal
    assert "Search: Running Trial #1" in console and "Trial 2 Complete" in console
    best = console.splitlines()[console.splitlines().index("Best trials (val_accuracy):") + 2]
    scores = {int(r["trial"]): float(r["val_accuracy"]) for r in _trials(out)}
    assert sorted(scores) == [1, 2] and int(best.split()[1]) == max(scores, key=scores.get)
    for number, score in scores.items():  # the console's "Trial N Complete" is trials.csv's trial N
        block = console[console.index(f"Trial {number} Complete") :]
        assert (
            block.splitlines()[1] == f"val_accuracy: {score}"
            or abs(float(block.splitlines()[1].split()[1]) - score) < 1e-6
        )
