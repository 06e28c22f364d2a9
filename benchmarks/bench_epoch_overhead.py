"""Time ``kerascnn fit`` spends between epochs (checkpoints, history, logs) against the epochs' steps.

    python benchmarks/bench_epoch_overhead.py                 # ResNet-18, 4 epochs, ~2 minutes
    python benchmarks/bench_epoch_overhead.py --epochs 3 --model lenet

The run: ``kerascnn fit resnet18 --dataset path/to/mnist --input-shape 32,32,1
--test-split 0.2 --val-split 0.0 --batch-size 128 --optimizer momentum --lr 0.05`` (8,000 training
images, 63 steps per epoch). A probe callback, run after kerascnn's own, notes when each epoch's last
training step ended (its last ``on_train_batch_end``) and when the next epoch's first step began; the
time in between is what kerascnn and Keras do between two epochs (kerascnn's callbacks: checkpoints,
history, TensorBoard). Printed per epoch after the first (which traces the graph), with the median
and its share of the median epoch; target: <= 5%. Reports ``uptime``'s load too.

    python benchmarks/bench_epoch_overhead.py --checkpoints-only --repeats 5

times only the end-of-epoch saving of the same model, alternating in one process: kerascnn's one
checkpoint step (kerascnn.training.checkpoints) against what fit did before it (Keras' BackupAndRestore
with double_checkpoint, CSVLogger, ModelCheckpoint for best.keras and for last.keras), so that a busy
machine slows both alike; prints the median seconds of each and their ratio.

Results go to benchmarks/results/bench_epoch_overhead.json (``-checkpoints.json`` for --checkpoints-only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_probe():
    import keras

    class Probe(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.first_step, self.last_step_end, self.epoch_end = {}, {}, {}
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            self.first_step.setdefault(self.epoch, time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            self.last_step_end[self.epoch] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_end[epoch] = time.perf_counter()

    return Probe()


def checkpoint_costs(model_name: str, repeats: int, record) -> None:
    import keras
    import numpy as np

    from kerascnn.models import build
    from kerascnn.training import checkpoints
    from kerascnn.training.compile import compile_model

    net = build(model_name, (32, 32, 1), 10)
    compile_model(net, optimizer="momentum", lr=0.05, schedule="constant", epochs=1, steps_per_epoch=1)
    net.fit(np.zeros((8, 32, 32, 1), np.float32), np.zeros(8, np.int64), epochs=1, verbose=0)  # builds the optimizer
    logs = {"accuracy": 0.5, "loss": 1.0}
    times = {"kerascnn checkpoint step": [], "before (BackupAndRestore + CSVLogger + 2 ModelCheckpoint)": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            work = Path(tmp) / f"new{r}"
            work.mkdir()
            new = checkpoints.epoch_callback(work, checkpoints.TrainingState(), "accuracy")
            old_dir = Path(tmp) / f"old{r}"
            old_dir.mkdir()
            old = [
                keras.callbacks.BackupAndRestore(str(old_dir / "backup"), double_checkpoint=True),
                keras.callbacks.CSVLogger(str(old_dir / "history.csv"), append=True),
                keras.callbacks.ModelCheckpoint(
                    str(old_dir / "best.keras"), monitor="accuracy", mode="max", save_best_only=True
                ),
                keras.callbacks.ModelCheckpoint(str(old_dir / "last.keras")),
            ]
            for cb in [new, *old]:
                cb.set_model(net)
                cb.on_train_begin()
            for epoch in range(3):  # improving every epoch: best.keras is written each time, as in the run
                logs = {"accuracy": 0.5 + epoch / 10, "loss": 1.0}
                t = time.perf_counter()
                new.on_epoch_end(epoch, logs)
                times["kerascnn checkpoint step"].append(time.perf_counter() - t)
                t = time.perf_counter()
                for cb in old:
                    cb.on_epoch_end(epoch, logs)
                times["before (BackupAndRestore + CSVLogger + 2 ModelCheckpoint)"].append(time.perf_counter() - t)
    medians = {k: statistics.median(v) for k, v in times.items()}
    for k, v in medians.items():
        print(f"{k}: median {v:.3f} s per epoch over {len(times[k])} epochs")
    new, old = medians.values()
    print(f"ratio: {old / new:.1f}x less time per epoch; load: {os.getloadavg()[0]:.2f}")
    record.table(
        f"End-of-epoch saving of {model_name} at 32x32x1, alternating in one process",
        ["saving", "median s per epoch", "epochs"],
        [(k, round(v, 3), len(times[k])) for k, v in medians.items()],
    )
    record.figure("time saved per epoch", round(old / new, 1), "x less")
    record.save()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--dataset", default=None, help="the MNIST IDX folder (default: record.find_data('mnist'))")
    parser.add_argument("--checkpoints-only", action="store_true", help="time only the end-of-epoch saving (see above)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from record import Result, find_data

    if args.checkpoints_only:
        record = Result(
            "bench_epoch_overhead-checkpoints", "End-of-epoch saving: one checkpoint step against four saves"
        )
        return checkpoint_costs(args.model, args.repeats, record)
    record = Result("bench_epoch_overhead", "Time between epochs against the epochs' steps")
    args.dataset = args.dataset or str(find_data("mnist"))
    import kerascnn

    probe = make_probe()
    with tempfile.TemporaryDirectory() as tmp:
        kerascnn.fit(
            args.model,
            args.dataset,
            input_shape=(32, 32, 1),
            test_split=0.2,
            val_split=0.0,
            batch_size=128,
            optimizer="momentum",
            lr=0.05,
            epochs=args.epochs,
            out=str(Path(tmp) / "run"),
            verbose=0,
            callbacks=[probe],
        )
    epochs = sorted(probe.first_step)
    steps, gaps, callbacks = [], [], []
    for e in epochs[1:]:
        steps.append(probe.last_step_end[e] - probe.first_step[e])
        if e + 1 in probe.first_step:
            gaps.append(probe.first_step[e + 1] - probe.last_step_end[e])
            callbacks.append(probe.epoch_end[e] - probe.last_step_end[e])
    for i, s in enumerate(steps):
        extra = f"  between epochs {gaps[i]:.3f} s (callbacks {callbacks[i]:.3f} s)" if i < len(gaps) else ""
        print(f"epoch {epochs[i + 1] + 1}: steps {s:.2f} s{extra}")
    step, gap = statistics.median(steps), statistics.median(gaps)
    print(
        f"median: steps {step:.2f} s per epoch, between epochs {gap:.3f} s = {100 * gap / step:.1f}% of an epoch "
        f"(target <= 5%); load: {os.getloadavg()[0]:.2f}"
    )
    record.note(
        f"kerascnn.fit({args.model!r}, MNIST, input_shape=(32, 32, 1), test_split=0.2, val_split=0.0, "
        f"batch_size=128, optimizer='momentum', lr=0.05, epochs={args.epochs}); the first epoch traces."
    )
    record.table(
        "Per epoch",
        ["epoch", "steps s", "between epochs s", "of which kerascnn's callbacks s"],
        [
            (
                epochs[i + 1] + 1,
                round(s, 2),
                round(gaps[i], 3) if i < len(gaps) else None,
                round(callbacks[i], 3) if i < len(gaps) else None,
            )
            for i, s in enumerate(steps)
        ],
    )
    record.figure("between epochs, median", round(gap, 3), "s")
    record.figure("between epochs / an epoch's steps", round(100 * gap / step, 1), "% (target <= 5%)")
    record.save()


if __name__ == "__main__":
    main()
