"""Training speed and accuracy of ``kerascnn fit`` against a plain PyTorch loop, in one script.

    python benchmarks/bench_fit.py                 # ~3 minutes on 2 quiet cores; results/bench_fit.json
    python benchmarks/bench_fit.py --repeats 1 --epochs 6

Data: the MNIST IDX folder (record.find_data; the 10,000 t10k images): the first 8,000 train, the last 2,000
test. LeNet, batch 256, Adam, lr 3e-3 with cosine decay over 12 epochs (--lr, --schedule, --epochs). The network
is the textbook LeNet-5 with --activation/--pooling (default relu + max pooling, the setting that reaches 98.5%;
pass --activation sigmoid --pooling avg for the original).

Prints, per repeat (the two frameworks alternate so that a busy machine hurts both alike; images per
CPU-second are printed too, a steadier measure than wall time when other processes share the CPU):
  * training images/s of kerascnn.fit (Keras' fit with kerascnn's pipeline and defaults, including core
    split set up before TensorFlow starts as the `kerascnn fit` command does, --core-split off for
    TensorFlow's default threads; epochs after the first, which traces the graph) and of a PyTorch loop of the
    same network (tensors in memory, DataLoader with shuffle, batch 256, Adam, the same schedule; the faster of
    PyTorch's default thread count and one thread), and their ratio (target >= 2);
  * images/s of kerascnn's input pipeline alone (target >= 10x the model's rate);
  * seconds of training until the test accuracy first reaches 98.5% (target <= 15 s) and the final
    test accuracy (target >= 98.5%).
Without torch installed the PyTorch part is skipped with a message.

``--table`` measures the zoo instead, one process per run so that each gets its own threads
(core split for LeNet, TensorFlow's defaults for BatchNorm models), alternating kerascnn and PyTorch:

    python benchmarks/bench_fit.py --table          # ~15 minutes on 2 quiet cores; results/bench_fit-table.json
    python benchmarks/bench_fit.py --table --models resnet18 --epochs 3 --torch-threads 1

ResNet-18, VGG-11 (width_divisor 4) and GoogLeNet at 32x32x1, LeNet (relu, max pooling) at 28x28x1, on
the same 8,000/2,000 images, batch 128, SGD momentum 0.9, lr 0.05. Per model:
kerascnn.fit's training images/s (wall and per CPU-second, epochs after the first), its overhead
between epochs (the time from the epoch's last step to the end of its callbacks: checkpoint, history,
TensorBoard) as a share of the epoch, train accuracy (Keras' running mean over epoch 1, and the model
evaluated on the training images after epoch 1) against test accuracy after epoch 1 and at the end;
the PyTorch reference (benchmarks/torch_references.py, torchvision's layouts; none for GoogLeNet) on the
same preprocessed tensors; ``--bf16`` adds kerascnn with ``precision="mixed_bfloat16"`` for ResNet-18.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # record, torch_references
from record import Result, find_data  # noqa: E402

MNIST = find_data("mnist")
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
        "lenet",
        raw,
        epochs=args.epochs,
        batch_size=BATCH,
        optimizer="adam",
        lr=args.lr,
        val_split=0.0,
        schedule=args.schedule,
        hparams={"activation": args.activation, "pooling": args.pooling},
        out=str(out_dir),
        overwrite=True,
        verbose=0,
        callbacks=[Measure()],
        steps_per_execution=args.steps_per_execution,
        precision=args.precision,
        core_split=args.core_split,
    )
    cumulative = np.cumsum(wall)
    hit = next((i for i, a in enumerate(accs) if a >= args.target), None)
    return (
        N_TRAIN / statistics.median(wall[1:]),
        N_TRAIN / statistics.median(cpu[1:]),
        float(cumulative[hit]) if hit is not None else None,
        accs[-1],
        wall,
        getattr(result.model, "_kerascnn_core_split", 0),
    )


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
        nn.Conv2d(1, 6, 5, padding=2),
        act(),
        pool(2, 2),
        nn.Conv2d(6, 16, 5),
        act(),
        pool(2, 2),
        nn.Flatten(),
        nn.Linear(400, 120),
        act(),
        nn.Linear(120, 84),
        act(),
        nn.Linear(84, 10),
    )
    mean, std = raw.x_train.mean() / 255.0, raw.x_train.std() / 255.0
    x = (torch.tensor(raw.x_train, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0 - mean) / std
    loader = DataLoader(TensorDataset(x, torch.tensor(raw.y_train)), batch_size=BATCH, shuffle=True)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    schedule = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(loader))
        if args.schedule == "cosine"
        else None
    )
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


# ---------------------------------------------------------------------------------------------------
# --table: the zoo, one process per run.

TABLE_MODELS = {  # name -> (input shape, builder hyperparameters)
    "resnet18": ((32, 32, 1), {}),
    "vgg11": ((32, 32, 1), {"width_divisor": 4}),
    "googlenet": ((32, 32, 1), {}),
    "lenet": ((28, 28, 1), {"activation": "relu", "pooling": "max"}),
}
TABLE_BATCH, TABLE_LR = 128, 0.05


def _table_data(model):
    """The raw split and its preprocessed float32 arrays (kerascnn's own preprocessing, for PyTorch too)."""
    from kerascnn.data import RawDataset, make_spec, preprocess

    raw = RawDataset.from_arrays(*load_split(), name="mnist-t10k-8000/2000")
    spec = make_spec(raw, TABLE_MODELS[model][0], raw.x_train)
    return raw, spec, preprocess(raw.x_train, spec).numpy(), preprocess(raw.x_test, spec).numpy()


def keras_table_run(model, precision, epochs):
    """kerascnn.fit of ``model``: per-epoch seconds (training, between-epoch overhead) and accuracies."""
    from kerascnn.training import core_split

    input_shape, hparams = TABLE_MODELS[model]
    core_split.prepare("auto", model, hparams)  # as the `kerascnn fit` command, before TensorFlow starts
    import keras

    import kerascnn
    from kerascnn.training import predict_logits

    raw, spec, x_train, x_test = _table_data(model)
    out = {"wall": [], "cpu": [], "overhead": [], "epoch": []}

    class Measure(keras.callbacks.Callback):  # runs after kerascnn's callbacks
        def on_epoch_begin(self, epoch, logs=None):
            self.start = (time.perf_counter(), time.process_time())

        def on_train_batch_end(self, batch, logs=None):
            self.end = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            out["wall"].append(self.end[0] - self.start[0])
            out["cpu"].append(self.end[1] - self.start[1])
            out["overhead"].append(now - self.end[0])  # checkpoint, history, TensorBoard, Keras' own
            out["epoch"].append(now - self.start[0])
            if epoch == 0 or epoch == epochs - 1:
                key = "first" if epoch == 0 else "last"
                out[f"test_acc_{key}"] = float((predict_logits(self.model, x_test).argmax(1) == raw.y_test).mean())
                out[f"train_acc_running_{key}"] = float(logs["accuracy"])
                if epoch == 0:
                    out["train_acc_eval_first"] = float(
                        (predict_logits(self.model, x_train).argmax(1) == raw.y_train).mean()
                    )

    with tempfile.TemporaryDirectory() as tmp:
        result = kerascnn.fit(
            model,
            raw,
            input_shape=input_shape,
            hparams=hparams,
            epochs=epochs,
            batch_size=TABLE_BATCH,
            optimizer="momentum",
            lr=TABLE_LR,
            val_split=0.0,
            precision=precision,
            out=str(Path(tmp) / "run"),
            overwrite=True,
            verbose=0,
            callbacks=[Measure()],
        )
    out["core_split"] = getattr(result.model, "_kerascnn_core_split", 0)
    return out


def torch_table_run(model, threads, epochs):
    """The PyTorch reference of ``model`` on the same tensors: per-epoch seconds and accuracies."""
    import torch
    import torch_references
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    raw, spec, x_train, x_test = _table_data(model)
    net = torch_references.REFERENCES[model]()
    x = torch.tensor(x_train).permute(0, 3, 1, 2).contiguous()
    loader = DataLoader(
        TensorDataset(x, torch.tensor(raw.y_train, dtype=torch.int64)), batch_size=TABLE_BATCH, shuffle=True
    )
    opt = torch.optim.SGD(net.parameters(), lr=TABLE_LR, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.tensor(x_test).permute(0, 3, 1, 2).contiguous()
    out = {"wall": [], "cpu": [], "threads": threads}
    for epoch in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        net.train()
        correct = 0
        for xb, yb in loader:
            opt.zero_grad()
            logits = net(xb)
            loss_fn(logits, yb).backward()
            opt.step()
            correct += int((logits.argmax(1) == yb).sum())
        out["wall"].append(time.perf_counter() - t0)
        out["cpu"].append(time.process_time() - c0)
        if epoch == 0 or epoch == epochs - 1:
            key = "first" if epoch == 0 else "last"
            net.eval()
            with torch.no_grad():
                out[f"test_acc_{key}"] = float((net(xt).argmax(1).numpy() == raw.y_test).mean())
            out[f"train_acc_running_{key}"] = correct / len(x)
    return out


def _run_worker(kind, model, option, epochs):
    """One table run in a fresh process (threads are per process); returns its JSON result."""
    import json
    import subprocess

    cmd = [sys.executable, __file__, "--table-worker", kind, model, str(option), "--epochs", str(epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def _rate(times, cpu=False):
    later = times[1:] or times  # epochs after the first, which traces the graph
    return N_TRAIN / statistics.median(later)


def table(args) -> int:
    try:
        import torch

        torch_threads = (
            sorted({torch.get_num_threads(), 1}, reverse=True)
            if args.torch_threads == "both"
            else [int(args.torch_threads)]
        )
    except ImportError:
        torch_threads = []
        print("PyTorch is not installed: kerascnn only (pip install torch to compare).")
    models = [m.strip() for m in args.models.split(",")]
    record = Result("bench_fit-table", "The zoo: kerascnn.fit against a PyTorch loop of the same network")
    record.note(
        f"{N_TRAIN} train / {N_TEST} test MNIST images, batch {TABLE_BATCH}, SGD momentum 0.9 lr {TABLE_LR}, "
        f"{args.epochs} epochs, one process per run; rates are medians of the epochs after the first."
    )
    summary = []
    print(
        f"{N_TRAIN} train / {N_TEST} test MNIST images, batch {TABLE_BATCH}, SGD momentum 0.9 lr {TABLE_LR}, "
        f"{args.epochs} epochs, {os.cpu_count()} CPUs; rates are medians of the epochs after the first"
    )
    rows = []
    for r in range(args.repeats):
        for model in models:
            runs = [("keras", model, "float32")]
            if args.bf16 and model == "resnet18":
                runs.append(("keras", model, "mixed_bfloat16"))
            import torch_references  # noqa: F401  (benchmarks/ is on sys.path)

            if model in torch_references.REFERENCES:
                runs += [("torch", model, t) for t in torch_threads]
            for kind, name, option in runs:
                load = os.getloadavg()[0]
                res = _run_worker(kind, name, option, args.epochs)
                res.update(kind=kind, model=name, option=option, load=load, repeat=r)
                rows.append(res)
                line = (
                    f"repeat {r + 1} {name:9s} {kind:5s} {option!s:14s} {_rate(res['wall']):7.0f} img/s "
                    f"({_rate(res['cpu']):5.0f} per CPU-s) | epoch 1: train {res['train_acc_running_first']:.3f}"
                    + (f" (evaluated {res['train_acc_eval_first']:.3f})" if "train_acc_eval_first" in res else "")
                    + f" test {res['test_acc_first']:.3f} | last epoch test {res['test_acc_last']:.3f}"
                )
                if kind == "keras":
                    share = statistics.median(o / e for o, e in zip(res["overhead"][1:], res["epoch"][1:]))
                    line += f" | between-epoch overhead {statistics.median(res['overhead'][1:]):.2f} s ({share:.1%})"
                    line += f" | core split {res['core_split']}"
                print(line + f" | load {load:.1f}", flush=True)

    print("\nmedian over repeats (PyTorch: its faster thread count per repeat)")
    print(
        f"{'model':10s} {'kerascnn img/s':>15s} {'PyTorch img/s':>14s} {'ratio':>6s} {'per CPU-s':>10s} "
        f"{'overhead':>9s} {'ep1 train/test':>15s}"
    )
    for model in models:
        mine = [x for x in rows if x["model"] == model and x["kind"] == "keras" and x["option"] == "float32"]
        k_rate = statistics.median(_rate(x["wall"]) for x in mine)
        k_cpu = statistics.median(_rate(x["cpu"]) for x in mine)
        overhead = statistics.median(
            statistics.median(o / e for o, e in zip(x["overhead"][1:], x["epoch"][1:])) for x in mine
        )
        first = (
            f"{statistics.median(x['train_acc_eval_first'] for x in mine):.3f}/"
            f"{statistics.median(x['test_acc_first'] for x in mine):.3f}"
        )
        ratios, cpu_ratios, t_rates = [], [], []
        for r in range(args.repeats):
            theirs = [x for x in rows if x["model"] == model and x["kind"] == "torch" and x["repeat"] == r]
            k = [x for x in mine if x["repeat"] == r]
            if theirs and k:
                best = max(theirs, key=lambda x: _rate(x["wall"]))
                t_rates.append(_rate(best["wall"]))
                ratios.append(_rate(k[0]["wall"]) / _rate(best["wall"]))
                cpu_ratios.append(_rate(k[0]["cpu"]) / _rate(best["cpu"]))
        t = f"{statistics.median(t_rates):14.0f}" if t_rates else f"{'-':>14s}"
        ratio = f"{statistics.median(ratios):5.2f}x" if ratios else f"{'-':>6s}"
        cpu_ratio = f"{statistics.median(cpu_ratios):9.2f}x" if cpu_ratios else f"{'-':>10s}"
        print(
            f"{model:10s} {k_rate:15.0f} {t} {ratio} {cpu_ratio} {overhead:8.1%} {first:>15s}   (kerascnn "
            f"{k_cpu:.0f} img per CPU-s)"
        )
        summary.append(
            (
                model,
                round(k_rate),
                round(k_cpu),
                round(statistics.median(t_rates)) if t_rates else None,
                round(statistics.median(ratios), 2) if ratios else None,
                round(statistics.median(cpu_ratios), 2) if cpu_ratios else None,
                round(100 * overhead, 1),
                first,
                round(statistics.median(x["test_acc_last"] for x in mine), 4),
            )
        )
        bf = [x for x in rows if x["model"] == model and x["option"] == "mixed_bfloat16"]
        if bf:
            print(
                f"{'  bf16':10s} {statistics.median(_rate(x['wall']) for x in bf):15.0f} img/s, "
                f"{statistics.median(_rate(x['cpu']) for x in bf):.0f} per CPU-s; final test accuracy "
                f"{statistics.median(x['test_acc_last'] for x in bf):.4f} vs float32 "
                f"{statistics.median(x['test_acc_last'] for x in mine):.4f}"
            )
    record.table(
        "Median over repeats (PyTorch: its faster thread count per repeat)",
        [
            "model",
            "kerascnn img/s",
            "kerascnn img per CPU-s",
            "PyTorch img/s",
            "ratio (wall)",
            "ratio (per CPU-s)",
            "between-epoch overhead %",
            "epoch 1 train/test accuracy",
            "final test accuracy",
        ],
        summary,
    )
    record.save()
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--table-worker"]:
        import json

        kind, model, option = argv[1:4]
        epochs = int(argv[argv.index("--epochs") + 1])
        result = (
            keras_table_run(model, option, epochs) if kind == "keras" else torch_table_run(model, int(option), epochs)
        )
        print(json.dumps(result), flush=True)
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", action="store_true", help="the zoo table (see the module docstring)")
    p.add_argument("--models", default=",".join(TABLE_MODELS), help="--table: comma-separated models")
    p.add_argument("--bf16", action="store_true", help="--table: ResNet-18 in mixed_bfloat16 too")
    p.add_argument(
        "--torch-threads",
        default="both",
        help="--table: PyTorch's threads, 'both' (its default and 1, the faster counts) or a number",
    )
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--activation", default="relu", choices=("relu", "sigmoid", "tanh"))
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    p.add_argument("--schedule", default="cosine", choices=("constant", "cosine", "step"))
    p.add_argument("--steps-per-execution", type=int, default=None)
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed_bfloat16"),
        help="kerascnn's precision (PyTorch stays float32)",
    )
    p.add_argument(
        "--core-split",
        default="auto",
        choices=("auto", "off"),
        help="kerascnn's core split (off: TensorFlow's default threads; decided once per process)",
    )
    p.add_argument("--target", type=float, default=0.985)
    args = p.parse_args(argv)
    if args.table:
        if "--epochs" not in argv:
            args.epochs = 3
        if "--repeats" not in argv:
            args.repeats = 1
        return table(args)
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
    record = Result("bench_fit", "LeNet training speed and accuracy: kerascnn.fit against a PyTorch loop")
    print(
        f"LeNet ({args.activation}, {args.pooling} pooling), {N_TRAIN} train / {N_TEST} test MNIST images, "
        f"batch {BATCH}, Adam lr {args.lr} {args.schedule}, {args.epochs} epochs, kerascnn {args.precision}, "
        f"{os.cpu_count()} CPUs"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            k_rate, k_cpu, t_target, k_acc, wall, slices = keras_run(raw, args, Path(tmp) / f"run{r}")
            t_rate, t_cpu, t_acc, t_threads = torch_run(raw, args) if have_torch else (None, None, None, None)
            p_rate, _ = pipeline_rate(raw)
            rows.append(
                dict(
                    k_rate=k_rate,
                    k_cpu=k_cpu,
                    t_rate=t_rate,
                    t_cpu=t_cpu,
                    p_rate=p_rate,
                    t_target=t_target,
                    k_acc=k_acc,
                    t_acc=t_acc,
                )
            )
            reached = f"{t_target:.1f} s" if t_target is not None else f"not reached in {args.epochs} epochs"
            split = f"core split {slices} slices" if slices else "no core split"
            line = f"repeat {r + 1}: kerascnn {k_rate:,.0f} img/s ({k_cpu:,.0f} per CPU-s, {split})"
            if t_rate:
                line += (
                    f" | PyTorch {t_rate:,.0f} img/s ({t_cpu:,.0f} per CPU-s, {t_threads} threads)"
                    f" | ratio {k_rate / t_rate:.2f}x (per CPU-s {k_cpu / t_cpu:.2f}x)"
                )
            line += (
                f" | pipeline {p_rate:,.0f} img/s | to {args.target:.1%}: {reached} | test acc {k_acc:.4f}"
                + (f" (PyTorch {t_acc:.4f})" if t_acc is not None else "")
                + f" | first epoch {wall[0]:.2f} s"
                + f" | load {os.getloadavg()[0]:.1f}"
            )
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
        print(
            f"  kerascnn / PyTorch    {statistics.median(ratios):>10.2f}x        "
            f"{statistics.median(cpu_ratios):>8.2f}x per CPU-second"
            "   (target >= 2x)"
        )
    print(
        f"  input pipeline alone  {med('p_rate'):>10,.0f} img/s   "
        f"{med('p_rate') / med('k_rate'):.0f}x the model (target >= 10x)"
    )
    print(f"  time to {args.target:.1%}        {med('t_target'):>10.1f} s of training (target <= 15 s)")
    print(f"  final test accuracy   {med('k_acc'):>10.4f}          (target >= {args.target})")
    record.note(
        f"LeNet ({args.activation}, {args.pooling} pooling), {N_TRAIN} train / {N_TEST} test MNIST images, "
        f"batch {BATCH}, Adam lr {args.lr} {args.schedule}, {args.epochs} epochs, kerascnn {args.precision}; "
        "the PyTorch loop trains the same network on the same tensors, alternating with kerascnn."
    )
    record.table(
        "Per repeat",
        [
            "repeat",
            "kerascnn img/s",
            "kerascnn img per CPU-s",
            "PyTorch img/s",
            "PyTorch img per CPU-s",
            "input pipeline img/s",
            f"s to {args.target:.1%}",
            "kerascnn test accuracy",
            "PyTorch test accuracy",
        ],
        [
            (
                i + 1,
                *(
                    None if row[k] is None else round(row[k], 4 if "acc" in k else 1)
                    for k in ("k_rate", "k_cpu", "t_rate", "t_cpu", "p_rate", "t_target", "k_acc", "t_acc")
                ),
            )
            for i, row in enumerate(rows)
        ],
    )
    record.figure("kerascnn fit", round(med("k_rate")), "img/s (median)")
    if have_torch:
        record.figure("kerascnn / PyTorch", round(statistics.median(ratios), 2), "x wall (target >= 2x)")
        record.figure("kerascnn / PyTorch per CPU-second", round(statistics.median(cpu_ratios), 2), "x")
    record.figure("input pipeline / model", round(med("p_rate") / med("k_rate")), "x (target >= 10x)")
    record.figure(f"time to {args.target:.1%} test accuracy", round(med("t_target"), 1), "s (target <= 15 s)")
    record.figure("final test accuracy", round(med("k_acc"), 4), f"(target >= {args.target})")
    record.save()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
