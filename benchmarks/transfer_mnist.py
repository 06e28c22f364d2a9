"""Transfer on real data: features learned on MNIST digits 0-4, fine-tuned on 5-9 from a few images.

    python benchmarks/transfer_mnist.py              # ~15 minutes on 2 cores; results/transfer_mnist.json
    python benchmarks/transfer_mnist.py --quick      # one seed, fewer epochs; results/transfer_mnist-quick.json

1. Source: ``mnist_cnn_wide`` trained 10 epochs (Adam 1e-3, batch 128, random translations of up to 10%)
   on every training image of digits 0-4 of the ``mnist-full`` IDX folder (record.find_data).
2. Target: digits 5-9 with only 20 or 100 training images per class (drawn with the seed; 20% held out
   for validation), tested on all 4,861 test images of 5-9. Every arm gets the same images, Adam, batch
   16 and 30 epochs, and is tested at its best validation epoch (as ``kerascnn fit`` always does):
   ``fine-tuned``: ``--init-from`` the source (a new 5-class head: the class names differ), 15 epochs with
   the convolutions frozen (``--freeze flatten``: the Dense-500 layer and the new head train, lr 1e-3),
   then 15 epochs of everything at ``--fine-tune-lr`` (default lr / 10, as ``kerascnn fit``);
   ``frozen features``: phase 1 only, for all 30 epochs; ``scratch``: a random initialization at lr 1e-3
   (the model's default) and at 1e-2. 3 seeds each; mean ± std of test accuracy.

Why these choices: with ``mnist_cnn`` (21,585 parameters) fine-tuning won at 20 images per class but not at
100, whatever was tried (source epochs, phase lengths, learning rates, freezing less, no frozen phase): that
network is too small for pretrained features to matter once it sees 400 images. ``mnist_cnn_wide`` (Dense 500
on 2,000 features, ~1M parameters) overfits 400 images from scratch, which is where pretrained features pay;
a source trained with translations learns strokes wherever they sit. Its Dense-500 layer learned to separate
0-4: frozen with the rest (``--freeze backbone``) the results depended on the source run, so phase 1 trains
it with the new head. ResNet-18 at 32x32 cost ten times as much per target run and was no clearer.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model", default="mnist_cnn_wide")
    parser.add_argument("--lr", type=float, default=1e-3, help="phase 1 (and frozen features) learning rate")
    parser.add_argument("--fine-tune-lr", type=float, default=None, help="phase 2 learning rate (default: lr / 10)")
    parser.add_argument(
        "--freeze",
        default="flatten",
        help="what phase 1 freezes: a layer name (up to it), backbone (all but the head) or none",
    )
    parser.add_argument("--source-epochs", type=int, default=10)
    parser.add_argument("--sizes", default="20,100")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=None, help="the result file (default: benchmarks/results/transfer_mnist.json)")
    args = parser.parse_args(argv)

    from record import Result, find_data

    record = Result(
        "transfer_mnist",
        "Transfer learning on real data: MNIST 0-4 features, fine-tuned on 5-9",
        quick=args.quick,
        argv=sys.argv if argv is None else ["benchmarks/transfer_mnist.py", *argv],
    )
    import kerascnn
    from kerascnn.data import load_dataset
    from kerascnn.data.datasets import RawDataset

    full = load_dataset(str(find_data("mnist-full")))
    low_train, low_test = full.y_train < 5, full.y_test < 5
    source_data = RawDataset(
        "mnist-0-4",
        [str(d) for d in range(5)],
        full.x_train[low_train],
        full.y_train[low_train],
        full.x_test[low_test],
        full.y_test[low_test],
    )
    high_train, high_test = full.y_train >= 5, full.y_test >= 5
    x_high, y_high = full.x_train[high_train], full.y_train[high_train] - 5
    x_high_test, y_high_test = full.x_test[high_test], full.y_test[high_test] - 5

    seeds = [0] if args.quick else [int(v) for v in args.seeds.split(",")]
    sizes = [int(v) for v in args.sizes.split(",")]
    head_epochs, tune_epochs = (5, 5) if args.quick else (15, 15)
    common = dict(batch_size=16, val_split=0.2, verbose=0, optimizer="adam")
    arms = {
        "fine-tuned": dict(lr=args.lr, fine_tune_lr=args.fine_tune_lr),
        "frozen features": dict(lr=args.lr),
        "scratch lr 1e-3": dict(lr=1e-3),
        "scratch lr 1e-2": dict(lr=1e-2),
    }
    work = Path(tempfile.mkdtemp(prefix="transfer_mnist_"))
    started = time.time()
    load_before = os.getloadavg()
    # Translations make the source learn strokes wherever they sit, not 0-4's typical positions.
    source = kerascnn.fit(
        args.model,
        source_data,
        epochs=2 if args.quick else args.source_epochs,
        batch_size=128,
        lr=1e-3,
        augment=["translate"],
        verbose=0,
        out=str(work / "source"),
    )
    print(
        f"source: {args.model} on {len(source_data.x_train)} images of 0-4, test accuracy "
        f"{source.metrics['test_accuracy']:.4f}",
        flush=True,
    )

    results = {"source_test_accuracy": source.metrics["test_accuracy"], "runs": []}
    for per_class in sizes:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            pick = np.concatenate([rng.choice(np.flatnonzero(y_high == c), per_class, replace=False) for c in range(5)])
            target = RawDataset(
                f"mnist-5-9-{per_class}",
                [str(d) for d in range(5, 10)],
                x_high[pick],
                y_high[pick],
                x_high_test,
                y_high_test,
            )
            for arm, settings in arms.items():
                out = work / f"{arm.replace(' ', '_')}-{per_class}-{seed}"
                if arm == "fine-tuned":
                    run = kerascnn.fit(
                        args.model,
                        target,
                        epochs=head_epochs,
                        init_from=str(source.path),
                        freeze=args.freeze,
                        fine_tune_epochs=tune_epochs,
                        seed=seed,
                        out=str(out),
                        **common,
                        **settings,
                    )
                elif arm == "frozen features":  # phase 1 only: the frozen layers as a fixed feature extractor
                    run = kerascnn.fit(
                        args.model,
                        target,
                        epochs=head_epochs + tune_epochs,
                        seed=seed,
                        init_from=str(source.path),
                        freeze=args.freeze,
                        out=str(out),
                        **common,
                        **settings,
                    )
                else:
                    run = kerascnn.fit(
                        args.model,
                        target,
                        epochs=head_epochs + tune_epochs,
                        seed=seed,
                        out=str(out),
                        **common,
                        **settings,
                    )
                accuracy = run.metrics["test_accuracy"]
                results["runs"].append({"per_class": per_class, "seed": seed, "arm": arm, "test_accuracy": accuracy})
                print(f"{per_class:4d}/class seed {seed} {arm:16s} {accuracy:.4f}", flush=True)

    print("\n| images per class (5-9) | " + " | ".join(arms) + " |")
    print("|---|" + "---|" * len(arms))
    for per_class in sizes:
        cells = []
        for arm in arms:
            acc = np.array(
                [r["test_accuracy"] for r in results["runs"] if r["per_class"] == per_class and r["arm"] == arm]
            )
            results.setdefault(f"summary_{per_class}", {})[arm] = [float(acc.mean()), float(acc.std())]
            cells.append(f"{acc.mean():.4f} ± {acc.std():.4f}")
        print(f"| {per_class} | " + " | ".join(cells) + " |")
    print(
        f"\n{round(time.time() - started, 1)} s; load average {load_before[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    record.note(
        f"Source: {args.model} on the training images of digits 0-4. Target: digits 5-9 with a few training "
        "images per class, tested on all test images of 5-9; every arm gets the same images and is tested at "
        "its best validation epoch. Test accuracy, mean ± std over seeds " + ", ".join(map(str, seeds)) + "."
    )
    record.figure("source test accuracy on 0-4", round(source.metrics["test_accuracy"], 4))
    record.table(
        "Test accuracy on digits 5-9",
        ["images per class", *arms],
        [(n, *(f"{m:.4f} ± {sd:.4f}" for m, sd in results[f"summary_{n}"].values())) for n in sizes],
    )
    record.data["settings"] = {k: v for k, v in vars(args).items() if k != "out"}
    record.data["runs"] = results["runs"]
    record.save(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
