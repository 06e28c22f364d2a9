"""Trial processes: kerascnn's TrialWorker against ProcessPoolExecutor(max_tasks_per_child) and loky.

    python benchmarks/bench_trial_pool.py [--trials 6] [--rounds 2] [--epochs 1]   # results/bench_trial_pool.json

The same LeNet trials on the digits (only the learning rate varies, so every trial costs the same)
run through three worker pools, side by side, in alternating rounds (A B C A B C ...):

- ``TrialWorker`` (kerascnn.tuning.trial_process): one worker forked from a preloaded forkserver,
  replaced once its memory grew 10% over its level after its first trial, killed on Ctrl-C, a dead
  worker failing only its trial;
- ``concurrent.futures.ProcessPoolExecutor(1, mp_context=<the same forkserver>, max_tasks_per_child=K)``,
  replacing its worker every K trials (K=5: what the 10% rule gave in benchmarks/bench_tune.py);
- loky's reusable executor (``joblib.externals.loky``, its own spawn-like start: a fresh interpreter
  that imports TensorFlow; loky replaces a worker whose memory grew ~300 MB).

Per pool: seconds per trial (wall, submit to result, first trial apart: it starts the worker), the
workers it started, and the peak resident memory of the worker of the last trial. Then a crash
round: the worker of the first trial is SIGKILLed (as the OOM killer would), and the next trial is
submitted as the search would.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # trial functions below are found by module name
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # kerascnn_testing's callbacks

LR_SPACE = {
    "kernel_sizes": [5, 5],
    "filters": [6, 16],
    "dense_units": [120, 84],
    "activation": "relu",
    "pooling": "max",
    "batch_norm": False,
    "dropout": 0.0,
    "optimizer": "adam",
    "learning_rate": {"min": 1e-3, "max": 1e-2, "sampling": "log"},
}
MAX_TASKS_PER_CHILD = 5

_SEARCH_DATA: list = []  # in a pool's worker: the search's datasets, kept between its trials


def pool_task(job):
    """What a pool worker runs for one trial: TrialWorker's loop body (train, free, measure)."""
    from kerascnn.tuning.memory import release_trial_memory, resident_mb
    from kerascnn.tuning.trial_process import run_job

    outcome = run_job(job, _SEARCH_DATA)
    release_trial_memory()
    return outcome, os.getpid(), resident_mb()


def make_jobs(n: int, epochs: int, callbacks=()):
    import keras_tuner

    from kerascnn.training import TrainConfig
    from kerascnn.training.assembly import prepare
    from kerascnn.tuning.spaces import resolve_space
    from kerascnn.tuning.training_bridge import TRAINING_HYPERPARAMETERS
    from kerascnn.tuning.trial_process import TrialJob

    config = TrainConfig(model="lenet", epochs=epochs).resolve()
    space = resolve_space(
        "lenet", LR_SPACE, training_defaults={k: getattr(config, k) for k in TRAINING_HYPERPARAMETERS}
    )
    data = prepare(config).data
    jobs = []
    for i in range(n):
        hp = keras_tuner.HyperParameters()
        space.declare(hp)
        hp.values["lr"] = 1e-3 * (1 + i % 9)
        jobs.append(
            TrialJob(
                config=config,
                dataset=data.raw,
                space=space,
                hyperparameters=hp.get_config(),
                fit_kwargs=dict(epochs=epochs, callbacks=list(callbacks), verbose=0, shuffle=False),
            )
        )
    return jobs


class TrialWorkerPool:
    name = "TrialWorker (hand-written)"

    def __init__(self):
        from kerascnn.tuning.trial_process import TrialWorker

        self.worker = TrialWorker()

    def run(self, job):
        return self.worker.run(job).peak_rss_mb

    def close(self):
        self.worker.close()


class ExecutorPool:
    def __init__(self, executor):
        self.executor = executor

    def run(self, job):
        import bench_trial_pool

        outcome, _, _ = self.executor.submit(bench_trial_pool.pool_task, job).result()
        return outcome.peak_rss_mb

    def close(self):
        self.executor.shutdown(wait=True)


def process_pool():
    from concurrent.futures import ProcessPoolExecutor

    from kerascnn.tuning.trial_process import _context

    pool = ExecutorPool(ProcessPoolExecutor(1, mp_context=_context(), max_tasks_per_child=MAX_TASKS_PER_CHILD))
    pool.name = f"ProcessPoolExecutor(max_tasks_per_child={MAX_TASKS_PER_CHILD}), forkserver"
    return pool


def loky_pool():
    from joblib.externals.loky import get_reusable_executor

    pool = ExecutorPool(get_reusable_executor(max_workers=1, timeout=300, reuse=False))
    pool.name = "loky reusable executor (loky start)"
    return pool


POOLS = {"trialworker": TrialWorkerPool, "processpool": process_pool, "loky": loky_pool}


def run_round(make_pool, trials: int, epochs: int):
    from kerascnn_testing.callbacks import RecordProcess

    pids = Path(tempfile.mkdtemp()) / "pids.txt"
    jobs = make_jobs(trials, epochs, callbacks=[RecordProcess(pids)])
    pool = make_pool()
    seconds, peak = [], 0.0
    try:
        for job in jobs:
            start = time.perf_counter()
            peak = pool.run(job)
            seconds.append(time.perf_counter() - start)
    finally:
        pool.close()
    workers = len({line.split()[0] for line in pids.read_text().splitlines()})
    return pool.name, seconds, workers, peak


def crash_round(make_pool, epochs: int) -> str:
    """The first trial's worker is SIGKILLed; what the next trial gets."""
    from kerascnn_testing.callbacks import KillFirstTrainingProcess

    marker = Path(tempfile.mkdtemp()) / "killed"
    jobs = make_jobs(1, epochs, callbacks=[KillFirstTrainingProcess(marker)]) + make_jobs(1, epochs)
    pool = make_pool()
    results = []
    try:
        for job in jobs:
            try:
                pool.run(job)
                results.append("completed")
            except BaseException as e:  # noqa: BLE001 - reported
                results.append(f"{type(e).__name__}: {str(e).splitlines()[0][:90]}")
    finally:
        try:
            pool.close()
        except BaseException as e:  # noqa: BLE001
            results.append(f"close: {type(e).__name__}")
    return " | ".join(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--pools", default=",".join(POOLS))
    args = parser.parse_args()

    from kerascnn.tuning import trial_process
    from record import Result

    record = Result("bench_trial_pool", "Trial processes: TrialWorker against ProcessPoolExecutor and loky")

    trial_process.start_server()
    names = args.pools.split(",")
    results: dict = {}
    for r in range(args.rounds):
        for key in names:
            load = os.getloadavg()[0]
            name, seconds, workers, peak = run_round(POOLS[key], args.trials, args.epochs)
            results.setdefault(name, []).append((seconds, workers, peak, load))
            print(
                f"round {r + 1} {name}: first {seconds[0]:.2f} s, then {statistics.mean(seconds[1:]):.2f} s/trial, "
                f"{workers} workers, peak {peak:.0f} MB, load {load:.1f}",
                flush=True,
            )
    print()
    print(
        f"{args.trials} trials x {args.rounds} rounds, {args.epochs} epoch(s), "
        f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}"
    )
    print("| pool | first trial (s) | later trials (s/trial, median of rounds) | workers started | worker peak MB |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    for name, rounds in results.items():
        firsts = [s[0] for s, *_ in rounds]
        later = [statistics.mean(s[1:]) for s, *_ in rounds]
        print(
            f"| {name} | {statistics.median(firsts):.2f} | {statistics.median(later):.2f} | "
            f"{rounds[0][1]} | {max(p for _, _, p, _ in rounds):.0f} |"
        )
        rows.append(
            [
                name,
                round(statistics.median(firsts), 2),
                round(statistics.median(later), 2),
                rounds[0][1],
                round(max(p for _, _, p, _ in rounds)),
            ]
        )
    print()
    for row, key in zip(rows, names):
        row.append(crash_round(POOLS[key], args.epochs))
        print(f"crash round, {key}: {row[-1]}", flush=True)
    record.note(
        f"{args.trials} one-learning-rate LeNet trials on the digits x {args.rounds} alternating rounds, "
        f"{args.epochs} epoch(s) each; the ratios within a round are what counts on a shared machine."
    )
    record.table(
        "Pools",
        [
            "pool",
            "first trial s",
            "later trials s/trial (median of rounds)",
            "workers started",
            "worker peak MB",
            "a worker SIGKILLed mid-trial",
        ],
        rows,
    )
    record.save()


if __name__ == "__main__":
    main()
