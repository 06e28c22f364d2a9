"""Time ``kerascnn fit`` spends between epochs (checkpoints, history, logs) against the epochs' steps.

    .venv/bin/python benchmarks/bench_epoch_overhead.py                 # ResNet-18, 4 epochs, ~2 minutes
    .venv/bin/python benchmarks/bench_epoch_overhead.py --epochs 3 --model lenet

The run is issue #11's: ``kerascnn fit resnet18 --dataset ../shared/data/mnist --input-shape 32,32,1
--test-split 0.2 --val-split 0.0 --batch-size 128 --optimizer momentum --lr 0.05`` (8,000 training
images, 63 steps per epoch). A probe callback, run after kerascnn's own, notes when each epoch's last
training step ended (its last ``on_train_batch_end``) and when the next epoch's first step began; the
time in between is what kerascnn and Keras do between two epochs (kerascnn's callbacks: checkpoints,
history, TensorBoard). Printed per epoch after the first (which traces the graph), with the median
and its share of the median epoch; target: <= 5%. Reports ``uptime``'s load too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist"


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--dataset", default=str(MNIST), help="the MNIST IDX folder (default: ../shared/data/mnist)")
    args = parser.parse_args(argv)
    import kerascnn

    probe = make_probe()
    with tempfile.TemporaryDirectory() as tmp:
        kerascnn.fit(args.model, args.dataset, input_shape=(32, 32, 1), test_split=0.2, val_split=0.0, batch_size=128,
                     optimizer="momentum", lr=0.05, epochs=args.epochs, out=str(Path(tmp) / "run"), verbose=0,
                     callbacks=[probe])
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
    print(f"median: steps {step:.2f} s per epoch, between epochs {gap:.3f} s = {100 * gap / step:.1f}% of an epoch "
          f"(target <= 5%); load: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
