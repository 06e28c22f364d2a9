"""Benchmark of `kerascnn tune`: memory across trials and time per trial against a plain fit.

    python benchmarks/bench_tune.py [--trials 24] [--epochs N] [--model lenet] [--in-process]
    python benchmarks/bench_tune.py --quick      # 6 one-epoch trials; results/bench_tune-quick.json

Runs a random search in which every trial trains the same architecture (only the learning rate
varies, so every trial costs the same), by default with fit's epochs for the model (a real trial).
Trials train in worker processes (``kerascnn.tuning.trial_process``), replaced when their memory
grows; memory is measured for the whole search: the search process after each trial, the preloaded
server the workers fork from, and the peak of the worker that trained each trial (the most it held
so far; shared pages count in each process, so the total is an upper bound). Time per trial is the
wall time from one trial's end to the next's, which includes everything around ``fit`` (sending the
trial, starting a new worker when one is due, keras-tuner's trial files); CPU time is the search process'
plus the worker processes' (running or finished).
The reference is a plain ``build + compile + model.fit`` of the same configuration on a pipeline
built once, in this process, as a user would write it, with core split set up as ``kerascnn fit``
sets it up (the trial processes use it too).

Targets: RSS growth from trial 3 to the last < 10%; seconds per trial / plain fit - 1 < 10%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid=None) -> float:
    import psutil

    from kerascnn.tuning.memory import resident_mb

    try:
        return resident_mb(pid)
    except psutil.NoSuchProcess:
        return 0.0


def _stat_fields(pid) -> list:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def trial_processes_cpu(pid) -> float:
    """CPU seconds of the server ``pid``'s workers: the finished ones it reaped, plus the running ones."""
    if pid is None:
        return 0.0
    fields = _stat_fields(pid)
    total = (int(fields[13]) + int(fields[14])) / TICKS  # cutime + cstime
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        for child in f.read().split():
            try:
                fields = _stat_fields(child)
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return total


def server_pid():
    from kerascnn.compat import forkserver_pid

    return forkserver_pid()


TRIAL_ENDS: list = []  # (wall, CPU of this process + the worker processes, rss of this process, rss of the server)


def record_trial_ends() -> None:
    """Wrap the tuners' on_trial_end to record time, CPU and memory when each trial has finished."""
    from kerascnn.tuning.tuners import KerasCNNTuner

    original = KerasCNNTuner.on_trial_end

    def on_trial_end(self, trial):
        original(self, trial)
        pid = server_pid()
        TRIAL_ENDS.append(
            (time.perf_counter(), time.process_time() + trial_processes_cpu(pid), rss_mb(), rss_mb(pid) if pid else 0.0)
        )

    KerasCNNTuner.on_trial_end = on_trial_end


def fixed_space(model: str) -> dict:
    """The model's default space with every architecture entry fixed at its published value."""
    from kerascnn.models.hyperparameters import default_hyperparameters
    from kerascnn.tuning.spaces import default_space

    published = default_hyperparameters(model)
    space = {k: published[k] for k in default_space(model) if k in published}
    space = {k: list(v) if isinstance(v, tuple) else v for k, v in space.items()}
    space["lr"] = {"min": 1e-3, "max": 1e-2, "sampling": "log"}
    space["optimizer"] = "adam"
    return space


def plain_fit_seconds(model: str, epochs: int, runs: int, lr: float = 3e-3) -> list[tuple[float, float]]:
    """build + compile + fit of the same configuration on the same pipeline, as a user would write it."""
    from kerascnn.training import TrainConfig, assembly, core_split, get_strategy

    strategy = get_strategy("auto")
    config = TrainConfig(model=model, epochs=epochs, lr=lr, optimizer="adam").resolve()
    prepared = assembly.prepare(config)
    train, val, _ = assembly.pipelines(config, prepared, with_test=False)
    times = []
    for _ in range(runs):
        keras.backend.clear_session()
        start, cpu = time.perf_counter(), time.process_time()
        with strategy.scope():
            net = assembly.assemble(config, prepared).model
        parts = core_split.core_split_applies(net)  # as kerascnn fit and the trial processes do
        if parts:
            core_split.enable_core_split(net, parts)
        net.fit(train, validation_data=val, epochs=epochs, verbose=0)
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: fit's for the model)")
    parser.add_argument("--reference-runs", type=int, default=4)
    parser.add_argument("--in-process", action="store_true", help="train the trials in this process")
    parser.add_argument("--quick", action="store_true", help="6 trials of 1 epoch, 3 reference runs")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.epochs, args.reference_runs = 6, 1, 3

    from record import Result

    record = Result(
        "bench_tune", "`kerascnn tune`: memory across trials, time per trial against a plain fit", quick=args.quick
    )

    from kerascnn.training import get_training_defaults
    from kerascnn.tuning import tune

    epochs = args.epochs or get_training_defaults(args.model).epochs
    from kerascnn.training import core_split

    # The reference trains like `kerascnn fit` and the trial processes: with core split where it applies.
    split = core_split.prepare("auto", args.model)
    record_trial_ends()
    # Reference first, so that the search cannot profit from a warmer process than the plain fit.
    ref = plain_fit_seconds(args.model, epochs, args.reference_runs)
    ref_wall = statistics.median([w for w, _ in ref[1:]])
    ref_cpu = statistics.median([c for _, c in ref[1:]])

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = tune(
            args.model,
            tuner="random",
            max_trials=args.trials,
            epochs=epochs,
            space=fixed_space(args.model),
            out=os.path.join(tmp, "tune"),
            verbose=0,
            trial_processes=not args.in_process,
        )
    total = time.perf_counter() - start
    walls = [w for w, _, _, _ in TRIAL_ENDS]
    cpus = [c for _, c, _, _ in TRIAL_ENDS]
    per_trial = [b - a for a, b in zip(walls, walls[1:])]  # trial 2 onwards
    per_trial_cpu = [b - a for a, b in zip(cpus, cpus[1:])]
    own = [r for _, _, r, _ in TRIAL_ENDS]
    server = [s for _, _, _, s in TRIAL_ENDS]
    peaks = [r.peak_rss_mb or 0.0 for r in result.trials]
    # The most memory the search held at once during each trial: itself, the server, the trial process.
    footprint = [o + s + p for o, s, p in zip(own, server, peaks)]

    print(
        f"{'trial':>5} {'wall s':>8} {'CPU s':>8} {'search MB':>10} {'server MB':>10} "
        f"{'trial peak MB':>14} {'total MB':>9}"
    )
    for i in range(len(TRIAL_ENDS)):
        wall = f"{per_trial[i - 1]:8.2f}" if i else f"{'':>8}"
        cpu = f"{per_trial_cpu[i - 1]:8.2f}" if i else f"{'':>8}"
        print(f"{i + 1:>5} {wall} {cpu} {own[i]:>10.1f} {server[i]:>10.1f} {peaks[i]:>14.1f} {footprint[i]:>9.1f}")
    completed = sum(r.status == "COMPLETED" for r in result.trials)
    wall, cpu = statistics.median(per_trial), statistics.median(per_trial_cpu)
    print()
    mode = "in this process" if args.in_process else "in worker processes"
    mode += ", core split " + ("on" if split else "off") + " (plain fit and trial processes)"
    print(f"trials completed: {completed}/{args.trials}; {args.model} on digits, {epochs} epoch(s) each, {mode}")
    print(
        f"plain fit (build+compile+fit), median of runs 2..{len(ref)}: {ref_wall:.2f} s wall, {ref_cpu:.2f} s CPU"
        f"  (all wall: " + ", ".join(f"{w:.2f}" for w, _ in ref) + ")"
    )
    print(f"tune, median per trial (trials 2..): {wall:.2f} s wall, {cpu:.2f} s CPU; whole search {total:.1f} s")
    print(
        f"overhead per trial vs plain fit: {wall / ref_wall - 1:+.1%} wall, {cpu / ref_cpu - 1:+.1%} CPU   "
        "(target < +10%)"
    )
    for name, series in (("search process", own), ("search + server + trial peak", footprint)):
        growth = (series[-1] - series[2]) / series[2]
        print(f"RSS {name}, trial 3 -> last: {series[2]:.1f} -> {series[-1]:.1f} MB = {growth:+.1%}   (target < +10%)")
    if not args.in_process:
        print(f"trial process peak RSS: trial 3 {peaks[2]:.1f} MB, last {peaks[-1]:.1f} MB, max {max(peaks):.1f} MB")
    record.note(
        f"{args.trials} random-search trials of {args.model} on the bundled digits, {epochs} epoch(s) each, "
        f"{mode}; only the learning rate varies. The reference is build + compile + fit of the same "
        "configuration on a ready pipeline in the same process."
    )
    record.table(
        "Per trial",
        ["trial", "wall s", "CPU s", "search process MB", "server MB", "trial peak MB", "total MB (upper bound)"],
        [
            (
                i + 1,
                round(per_trial[i - 1], 2) if i else None,
                round(per_trial_cpu[i - 1], 2) if i else None,
                round(own[i], 1),
                round(server[i], 1),
                round(peaks[i], 1),
                round(footprint[i], 1),
            )
            for i in range(len(TRIAL_ENDS))
        ],
    )
    record.figure("trials completed", completed, f"of {args.trials}")
    record.figure("plain fit, median", round(ref_wall, 2), "s wall")
    record.figure("tune, median per trial", round(wall, 2), "s wall")
    record.figure("time per trial vs plain fit", round(100 * (wall / ref_wall - 1), 1), "% wall (target < +10%)")
    record.figure("CPU per trial vs plain fit", round(100 * (cpu / ref_cpu - 1), 1), "% CPU")
    for name, series in (("search process", own), ("search + server + trial peak", footprint)):
        record.figure(
            f"RSS growth of the {name}, trial 3 to last",
            round(100 * (series[-1] - series[2]) / series[2], 1),
            "% (target < +10%)",
        )
    record.save()


if __name__ == "__main__":
    main()
