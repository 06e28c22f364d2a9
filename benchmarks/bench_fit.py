"""Training speed and accuracy of ``kerascnn fit`` against a plain PyTorch loop, in one script.

    .venv/bin/python benchmarks/bench_fit.py                 # ~3 minutes on 2 quiet cores
    .venv/bin/python benchmarks/bench_fit.py --repeats 1 --epochs 6

Data: ../shared/data/mnist (the 10,000 t10k images): the first 8,000 train, the last 2,000 test. LeNet,
batch 256, Adam, lr 3e-3 with cosine decay over 12 epochs (--lr, --schedule, --epochs). The network is the textbook LeNet-5 with --activation/--pooling
(default relu + max pooling, the setting that reaches 98.5%; pass --activation sigmoid --pooling avg
for the original).

Prints, per repeat (the two frameworks alternate so that a busy machine hurts both alike; images per
CPU-second are printed too, a steadier measure than wall time when other processes share the CPU):
  * training images/s of kerascnn.fit (Keras' fit with kerascnn's pipeline and defaults, including core
    split set up before TensorFlow starts as the `kerascnn fit` command does, --core-split off for
    TensorFlow's default threads; epochs after the first, which traces the graph) and of a PyTorch loop of the same network
    (tensors in memory, DataLoader with shuffle, batch 256, Adam, the same schedule; the faster of
    PyTorch's default thread count and one thread), and their ratio (target >= 2);
  * images/s of kerascnn's input pipeline alone (target >= 10x the model's rate);
  * seconds of training until the test accuracy first reaches 98.5% (target <= 15 s) and the final
    test accuracy (target >= 98.5%).
Without torch installed the PyTorch part is skipped with a message.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist"
N_TRAIN, N_TEST, BATCH = 8000, 2000, 256


def load_split():
    from kerascnn.data.idx import read_idx_images, read_idx_labels

    x = read_idx_images(MNIST / "t10k-images-idx3-ubyte.gz")
    y = read_idx_labels(MNIST / "t10k-labels-idx1-ubyte.gz")
    return x[:N_TRAIN], y[:N_TRAIN], x[-N_TEST:], y[-N_TEST:]


def keras_run(raw, args, out_dir):
    """kerascnn.fit for args.epochs epochs.

    Returns (img/s, img per CPU-second, seconds of training to the target, final test accuracy,
    per-epoch training seconds); rates are medians over the epochs after the first (which traces).
    """
    import keras

    import kerascnn
    from kerascnn.data import make_spec, preprocess
    from kerascnn.training import predict_logits

    # The test images are preprocessed at the first epoch's end: main() has set TensorFlow's threads
    # for core split before TensorFlow started, and nothing before kerascnn.fit should need it.
    spec = make_spec(raw, (28, 28, 1), raw.x_train)
    test_inputs = []
    accs, wall, cpu = [], [], []

    class Measure(keras.callbacks.Callback):
        # With steps_per_execution covering the epoch, on_train_batch_end fires once, when the epoch's
        # training is done and before any checkpointing; test accuracy is computed outside the timing.
        def on_epoch_begin(self, epoch, logs=None):
            self.start = (time.perf_counter(), time.process_time())

        def on_train_batch_end(self, batch, logs=None):
            self.end = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            wall.append(self.end[0] - self.start[0])
            cpu.append(self.end[1] - self.start[1])
            if not test_inputs:
                test_inputs.append(preprocess(raw.x_test, spec).numpy())
            accs.append(float((predict_logits(self.model, test_inputs[0]).argmax(1) == raw.y_test).mean()))

    result = kerascnn.fit(
        "lenet", raw, epochs=args.epochs, batch_size=BATCH, optimizer="adam", lr=args.lr, val_split=0.0,
        schedule=args.schedule, hparams={"activation": args.activation, "pooling": args.pooling},
        out=str(out_dir), overwrite=True, verbose=0, callbacks=[Measure()],
        steps_per_execution=args.steps_per_execution, precision=args.precision, core_split=args.core_split,
    )
    cumulative = np.cumsum(wall)
    hit = next((i for i, a in enumerate(accs) if a >= args.target), None)
    return (N_TRAIN / statistics.median(wall[1:]), N_TRAIN / statistics.median(cpu[1:]),
            float(cumulative[hit]) if hit is not None else None, accs[-1], wall,
            getattr(result.model, "_kerascnn_core_split", 0))


def pipeline_rate(raw, epochs=20):
    """Images/s of kerascnn's training pipeline consumed inside a graph (no model)."""
    import tensorflow as tf

    from kerascnn.data import build_dataset, make_spec

    spec = make_spec(raw, (28, 28, 1), raw.x_train)
    t0 = time.perf_counter()
    ds = build_dataset(raw.x_train, raw.y_train, spec, batch_size=BATCH, training=True)
    build_seconds = time.perf_counter() - t0
    count = tf.function(lambda: ds.reduce(tf.constant(0, tf.int64), lambda n, b: n + tf.shape(b[1], tf.int64)[0]))
    count()  # trace
    t0 = time.perf_counter()
    for _ in range(epochs):
        count()
    return N_TRAIN * epochs / (time.perf_counter() - t0), build_seconds


def torch_run(raw, args):
    """Images/s of a plain PyTorch loop of the same LeNet: the faster of its default thread count and
    one thread (on a busy machine PyTorch's default threads can spin-wait each other to a crawl)."""
    import torch

    default_threads = torch.get_num_threads()
    results = []
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        results.append(_torch_run(raw, args) + (threads,))
    torch.set_num_threads(default_threads)
    return max(results)  # (img/s, img per CPU-second, test accuracy, threads)


def _torch_run(raw, args):
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[args.activation]
    pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[args.pooling]
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), act(), pool(2, 2),
        nn.Conv2d(6, 16, 5), act(), pool(2, 2), nn.Flatten(),
        nn.Linear(400, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, 10),
    )
    mean, std = raw.x_train.mean() / 255.0, raw.x_train.std() / 255.0
    x = (torch.tensor(raw.x_train, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0 - mean) / std
    loader = DataLoader(TensorDataset(x, torch.tensor(raw.y_train)), batch_size=BATCH, shuffle=True)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(loader)) if args.schedule == "cosine" else None
    loss_fn = nn.CrossEntropyLoss()
    per_epoch, per_epoch_cpu = [], []
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        net.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
            if schedule is not None:
                schedule.step()
        per_epoch.append(time.perf_counter() - t0)
        per_epoch_cpu.append(time.process_time() - c0)
    net.eval()
    xt = (torch.tensor(raw.x_test, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0 - mean) / std
    with torch.no_grad():
        acc = float((net(xt).argmax(1).numpy() == raw.y_test).mean())
    return N_TRAIN / statistics.median(per_epoch[1:]), N_TRAIN / statistics.median(per_epoch_cpu[1:]), acc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--activation", default="relu", choices=("relu", "sigmoid", "tanh"))
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    p.add_argument("--schedule", default="cosine", choices=("constant", "cosine", "step"))
    p.add_argument("--steps-per-execution", type=int, default=None)
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"),
                   help="kerascnn's precision (PyTorch stays float32)")
    p.add_argument("--core-split", default="auto", choices=("auto", "off"),
                   help="kerascnn's core split (off: TensorFlow's default threads; decided once per process)")
    p.add_argument("--target", type=float, default=0.985)
    args = p.parse_args(argv)
    if not (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        print(f"MNIST files not found in {MNIST}; nothing to measure.")
        return 1
    try:
        if args.skip_torch:
            raise ImportError
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: skipping the PyTorch loop (pip install torch to compare).")

    from kerascnn.data import RawDataset
    from kerascnn.training import core_split

    # As the `kerascnn fit` command does, before TensorFlow starts (threads hold for the whole process).
    core_split.prepare(args.core_split, "lenet", {"activation": args.activation, "pooling": args.pooling})
    raw = RawDataset.from_arrays(*load_split(), name="mnist-t10k-8000/2000")
    print(f"LeNet ({args.activation}, {args.pooling} pooling), {N_TRAIN} train / {N_TEST} test MNIST images, "
          f"batch {BATCH}, Adam lr {args.lr} {args.schedule}, {args.epochs} epochs, kerascnn {args.precision}, "
          f"{os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            k_rate, k_cpu, t_target, k_acc, wall, slices = keras_run(raw, args, Path(tmp) / f"run{r}")
            t_rate, t_cpu, t_acc, t_threads = torch_run(raw, args) if have_torch else (None, None, None, None)
            p_rate, p_build = pipeline_rate(raw)
            rows.append(dict(k_rate=k_rate, k_cpu=k_cpu, t_rate=t_rate, t_cpu=t_cpu, p_rate=p_rate,
                             t_target=t_target, k_acc=k_acc, t_acc=t_acc))
            reached = f"{t_target:.1f} s" if t_target is not None else f"not reached in {args.epochs} epochs"
            split = f"core split {slices} slices" if slices else "no core split"
            line = f"repeat {r + 1}: kerascnn {k_rate:,.0f} img/s ({k_cpu:,.0f} per CPU-s, {split})"
            if t_rate:
                line += (f" | PyTorch {t_rate:,.0f} img/s ({t_cpu:,.0f} per CPU-s, {t_threads} threads)"
                         f" | ratio {k_rate / t_rate:.2f}x (per CPU-s {k_cpu / t_cpu:.2f}x)")
            line += (f" | pipeline {p_rate:,.0f} img/s | to {args.target:.1%}: {reached} | test acc {k_acc:.4f}"
                     + (f" (PyTorch {t_acc:.4f})" if t_acc is not None else "") + f" | first epoch {wall[0]:.2f} s"
                     + f" | load {os.getloadavg()[0]:.1f}")
            print(line, flush=True)

    def med(key):
        values = [row[key] for row in rows if row[key] is not None]
        return statistics.median(values) if values else float("nan")

    print("\nmedian over repeats:")
    print(f"  kerascnn fit          {med('k_rate'):>10,.0f} img/s   {med('k_cpu'):>8,.0f} img per CPU-second")
    if have_torch:
        ratios = [row["k_rate"] / row["t_rate"] for row in rows]
        cpu_ratios = [row["k_cpu"] / row["t_cpu"] for row in rows]
        print(f"  PyTorch loop          {med('t_rate'):>10,.0f} img/s   {med('t_cpu'):>8,.0f} img per CPU-second")
        print(f"  kerascnn / PyTorch    {statistics.median(ratios):>10.2f}x        {statistics.median(cpu_ratios):>8.2f}x per CPU-second"
              "   (target >= 2x)")
    print(f"  input pipeline alone  {med('p_rate'):>10,.0f} img/s   {med('p_rate') / med('k_rate'):.0f}x the model (target >= 10x)")
    print(f"  time to {args.target:.1%}        {med('t_target'):>10.1f} s of training (target <= 15 s)")
    print(f"  final test accuracy   {med('k_acc'):>10.4f}          (target >= {args.target})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
