"""Benchmark of `kerascnn tune`: memory across trials and time per trial against a plain fit.

    .venv/bin/python benchmarks/bench_tune.py [--trials 24] [--epochs 1] [--model lenet]

Runs a random search in which every trial trains the same architecture (only the learning rate
varies, so every trial costs the same), recording the process RSS at the start of each trial (after
keras-tuner cleared the previous one) and the wall time from one trial's start to the next's, which
includes everything keras-tuner does around ``fit`` (build, compile, checkpoint, trial files).
The reference is a plain ``build + compile + model.fit`` of the same configuration on the same
pipeline, measured in this process.

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


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


EVENTS: list = []  # (wall time, CPU time, rss) at the start of every trial's fit
REFERENCE_RSS: list = []  # rss before each plain fit


class TrialProbe(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        EVENTS.append((time.perf_counter(), time.process_time(), rss_mb()))


def fixed_space(model: str) -> dict:
    """The model's default space with every architecture entry fixed at its published value."""
    from kerascnn.models.hyperparameters import default_hyperparameters
    from kerascnn.tuning.spaces import default_space

    published = default_hyperparameters(model)
    space = {k: published[k] for k in default_space(model) if k in published}
    space = {k: list(v) if isinstance(v, tuple) else v for k, v in space.items()}
    space["learning_rate"] = {"min": 1e-3, "max": 1e-2, "sampling": "log"}
    space["optimizer"] = "adam"
    return space


def plain_fit_seconds(model: str, epochs: int, runs: int, lr: float = 3e-3) -> list[float]:
    """build + compile + fit of the same configuration on the same pipeline, as a user would write it."""
    from kerascnn.models import build
    from kerascnn.tuning import training_bridge as tb

    d = tb.defaults(model)
    strategy = tb.strategy()
    data = tb.load_data(model, "digits", batch_size=d["batch_size"], val_split=0.1, test_split=0.2, data_dir=None, seed=0)
    compile_model = tb.compile_fn(model, epochs=epochs, steps_per_epoch=data.steps_per_epoch)
    times = []
    for _ in range(runs):
        keras.backend.clear_session()
        from kerascnn.tuning.search import release_freed_memory

        release_freed_memory()
        REFERENCE_RSS.append(rss_mb())
        start, cpu = time.perf_counter(), time.process_time()
        with strategy.scope():
            net = build(model, data.input_shape, data.num_classes)
            compile_model(net, learning_rate=lr, optimizer="adam")
        net.fit(data.train, validation_data=data.val, epochs=epochs, verbose=0)
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--reference-runs", type=int, default=5)
    args = parser.parse_args()

    from kerascnn.tuning import tune

    # Reference first, so that the search cannot profit from a warmer process than the plain fit.
    ref = plain_fit_seconds(args.model, args.epochs, args.reference_runs)
    ref_wall = statistics.median([w for w, _ in ref[1:]])
    ref_cpu = statistics.median([c for _, c in ref[1:]])

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = tune(args.model, tuner="random", max_trials=args.trials, epochs=args.epochs,
                      space=fixed_space(args.model), out=os.path.join(tmp, "tune"), verbose=0,
                      callbacks=[TrialProbe()])
        end, end_cpu = time.perf_counter(), time.process_time()
    total = end - start
    walls = [t for t, _, _ in EVENTS] + [end]
    cpus = [c for _, c, _ in EVENTS] + [end_cpu]
    per_trial = [b - a for a, b in zip(walls, walls[1:])]
    per_trial_cpu = [b - a for a, b in zip(cpus, cpus[1:])]
    rss = [r for _, _, r in EVENTS] + [rss_mb()]

    print(f"{'trial':>5} {'wall s':>8} {'CPU s':>8} {'rss MB':>8}")
    for i, (w, c, r) in enumerate(zip(per_trial, per_trial_cpu, rss), start=1):
        print(f"{i:>5} {w:>8.2f} {c:>8.2f} {r:>8.1f}")
    print(f"after search               {rss[-1]:>8.1f}")
    completed = sum(r.status == "COMPLETED" for r in result.trials)
    growth = (rss[-1] - rss[2]) / rss[2]
    wall, cpu = statistics.median(per_trial[1:]), statistics.median(per_trial_cpu[1:])
    print()
    print(f"trials completed: {completed}/{args.trials}; {args.model} on digits, {args.epochs} epoch(s) each")
    print(f"plain fit (build+compile+fit), median of runs 2..{len(ref)}: {ref_wall:.2f} s wall, {ref_cpu:.2f} s CPU"
          f"  (all wall: " + ", ".join(f"{w:.2f}" for w, _ in ref) + ")")
    print(f"tune, median per trial (trials 2..): {wall:.2f} s wall, {cpu:.2f} s CPU; whole search {total:.1f} s")
    print(f"overhead per trial vs plain fit: {wall / ref_wall - 1:+.1%} wall, {cpu / ref_cpu - 1:+.1%} CPU   (target < +10%)")
    print(f"RSS trial 3 -> after last trial: {rss[2]:.1f} -> {rss[-1]:.1f} MB = {growth:+.1%}   (target < +10%)")
    per_trial_mb = (rss[-1] - rss[2]) / (len(rss) - 3)
    per_fit_mb = (REFERENCE_RSS[-1] - REFERENCE_RSS[1]) / max(1, len(REFERENCE_RSS) - 2)
    print(f"RSS growth per trial {per_trial_mb:.2f} MB; per plain fit of the same model, same process "
          f"{per_fit_mb:.2f} MB (TensorFlow's own per-model cost: clear_session, gc and malloc_trim do not return it)")


if __name__ == "__main__":
    main()
