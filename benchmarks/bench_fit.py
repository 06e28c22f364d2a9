"""Training speed and accuracy of ``kerascnn fit`` against a plain PyTorch loop, in one script.

    .venv/bin/python benchmarks/bench_fit.py                 # ~3 minutes on 2 quiet cores
    .venv/bin/python benchmarks/bench_fit.py --repeats 1 --epochs 6

Data: ../shared/data/mnist (the 10,000 t10k images): the first 8,000 train, the last 2,000 test. LeNet,
batch 256, Adam (lr 1e-3 unless --lr). The network is the textbook LeNet-5 with --activation/--pooling
(default relu + max pooling, the setting that reaches 98.5%; pass --activation sigmoid --pooling avg
for the original).

Prints, per repeat (the two frameworks alternate so that a busy machine hurts both alike):
  * training images/s of kerascnn.fit (Keras' fit under MirroredStrategy with kerascnn's pipeline and
    defaults; epochs after the first, which traces the graph) and of a PyTorch loop of the same network
    (tensors in memory, DataLoader with shuffle, batch 256, Adam), and their ratio (target >= 2);
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
    """kerascnn.fit for args.epochs epochs; returns (steady img/s, seconds to target, final test acc, per-epoch)."""
    import keras

    import kerascnn
    from kerascnn.data import preprocess
    from kerascnn.training import predict_logits

    accs = []

    class TestAccuracy(keras.callbacks.Callback):
        # Runs after kerascnn's epoch timer has stopped, so evaluation is not counted as training time.
        def on_epoch_end(self, epoch, logs=None):
            x = preprocess(raw.x_test, self.spec).numpy()
            accs.append(float((predict_logits(self.model, x).argmax(1) == raw.y_test).mean()))

    cb = TestAccuracy()
    from kerascnn.data import make_spec

    cb.spec = make_spec(raw, (28, 28, 1), raw.x_train)
    result = kerascnn.fit(
        "lenet", raw, epochs=args.epochs, batch_size=BATCH, optimizer="adam", lr=args.lr, val_split=0.0,
        hparams={"activation": args.activation, "pooling": args.pooling}, out=str(out_dir), overwrite=True,
        verbose=0, callbacks=[cb], steps_per_execution=args.steps_per_execution,
    )
    per_epoch = result.metrics["train_seconds_per_epoch"]
    steady = N_TRAIN / statistics.median(per_epoch[1:])
    cumulative = np.cumsum(per_epoch)
    hit = next((i for i, a in enumerate(accs) if a >= args.target), None)
    return steady, (float(cumulative[hit]) if hit is not None else None), accs[-1], per_epoch


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
    """Images/s (epochs after the first) of a plain PyTorch loop of the same LeNet."""
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
    loss_fn = nn.CrossEntropyLoss()
    per_epoch = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        net.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
        per_epoch.append(time.perf_counter() - t0)
    net.eval()
    xt = (torch.tensor(raw.x_test, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0 - mean) / std
    with torch.no_grad():
        acc = float((net(xt).argmax(1).numpy() == raw.y_test).mean())
    return N_TRAIN / statistics.median(per_epoch[1:]), acc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--activation", default="relu", choices=("relu", "sigmoid", "tanh"))
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    p.add_argument("--steps-per-execution", type=int, default=None)
    p.add_argument("--target", type=float, default=0.985)
    args = p.parse_args(argv)
    if not (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        print(f"MNIST files not found in {MNIST}; nothing to measure.")
        return 1
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: skipping the PyTorch loop (pip install torch to compare).")

    from kerascnn.data import RawDataset

    raw = RawDataset.from_arrays(*load_split(), name="mnist-t10k-8000/2000")
    print(f"LeNet ({args.activation}, {args.pooling} pooling), {N_TRAIN} train / {N_TEST} test MNIST images, "
          f"batch {BATCH}, Adam lr {args.lr}, {args.epochs} epochs, {os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            k_rate, t_target, k_acc, per_epoch = keras_run(raw, args, Path(tmp) / f"run{r}")
            t_rate, t_acc = torch_run(raw, args) if have_torch else (None, None)
            p_rate, p_build = pipeline_rate(raw)
            rows.append((k_rate, t_rate, p_rate, t_target, k_acc, t_acc))
            ratio = f"{k_rate / t_rate:.2f}x" if t_rate else "n/a"
            reached = f"{t_target:.1f} s" if t_target is not None else f"not reached in {args.epochs} epochs"
            print(f"repeat {r + 1}: kerascnn {k_rate:,.0f} img/s | PyTorch {t_rate or 0:,.0f} img/s | ratio {ratio} | "
                  f"pipeline {p_rate:,.0f} img/s ({p_rate / k_rate:.0f}x the model; built in {p_build:.2f} s) | "
                  f"to {args.target:.1%}: {reached} | final test acc kerascnn {k_acc:.4f}"
                  + (f", PyTorch {t_acc:.4f}" if t_acc is not None else "")
                  + f" | first epoch {per_epoch[0]:.2f} s", flush=True)
    med = lambda i: statistics.median([row[i] for row in rows if row[i] is not None] or [float("nan")])  # noqa: E731
    ratios = [row[0] / row[1] for row in rows if row[1]]
    print("\nmedian over repeats:")
    print(f"  kerascnn fit          {med(0):>10,.0f} img/s")
    if have_torch:
        print(f"  PyTorch loop          {med(1):>10,.0f} img/s   kerascnn/PyTorch {statistics.median(ratios):.2f}x (target >= 2x)")
    print(f"  input pipeline alone  {med(2):>10,.0f} img/s   {med(2) / med(0):.0f}x the model (target >= 10x)")
    print(f"  time to {args.target:.1%}        {med(3):>10.1f} s       (target <= 15 s of training)")
    print(f"  final test accuracy   {med(4):>10.4f}         (target >= {args.target})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
