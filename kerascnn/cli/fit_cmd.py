"""``kerascnn fit`` and ``kerascnn evaluate``: parse flags, call ``kerascnn.fit`` / ``kerascnn.evaluate``."""

from __future__ import annotations

import argparse

from kerascnn.cli.hparams_args import add_hparams_arguments, hparams_from_args

FIT_EPILOG = """\
examples:
  kerascnn fit lenet                                  bundled digits, offline, ~20 s on 2 cores
  kerascnn fit lenet --dataset ../shared/data/mnist   a folder of MNIST IDX files
  kerascnn fit lenet --dataset fashion_mnist --data-dir ~/tensorflow_datasets
  kerascnn fit resnet18 --dataset photos/ --augment flip,crop --epochs 20
  kerascnn fit lenet --hparams best_hyperparameters.json     train a tuning winner
  kerascnn fit lenet --hparam activation=relu --hparam pooling=max  single hyperparameters
  kerascnn fit resnet18 --init-from resnet18.safetensors --input-shape 64,64 --epochs 3 \
      --fine-tune-epochs 5                            transfer: train the new head, then fine-tune all at lr/10
  kerascnn fit lenet --dataset digits-5-9/ --init-from runs/lenet --freeze conv2   from another run
  kerascnn fit lenet --folds 5                        5-fold cross-validation: mean ± std validation accuracy
  kerascnn evaluate runs/lenet

datasets: digits (scikit-learn's 1,797 real 8x8 digits, no download), a TensorFlow Datasets name
(mnist, fashion_mnist, cifar10, ...; prepared in --data-dir), a folder of IDX files (train-*/t10k-*,
or one set split by --test-split), or a folder of class subfolders of images (optionally in train/
and test/). Images are resized to the model's input; gray<->RGB as the model needs.

defaults marked "model's default" are the textbook's settings, kept beside each family's builder
(FACTS.training in kerascnn/models/FAMILY.py; kerascnn.training.get_training_defaults(NAME) reads them).
The run directory (--out, default runs/MODEL) gets config.json, data_spec.json, best.keras,
last.keras, history.csv, metrics.json, logs/ (TensorBoard) and three plots. While training it is
OUT.partial; rerun the same command after an interruption to resume from the last finished epoch.
With --folds K, OUT holds one such run per fold (fold1/ ... foldK/), folds.json and fold_curves.png;
an interrupted cross-validation keeps its finished folds and resumes the fold in progress.

transfer learning: --init-from takes torchvision weights (.safetensors; .pth with torch installed:
pip install 'kerascnn[torch]'), keras.applications .h5 files (vgg16/vgg19), a .keras file or another
run directory. Every tensor must match the model by name and shape; a head with another class count is
re-initialized (the run prints what was loaded; config.json records the file and its sha256). The
weights' own preprocessing (torchvision: ImageNet mean/std; keras.applications VGG: BGR minus the caffe
mean; a run: its normalization) is recorded in data_spec.json and used by evaluate, export, serve and
predict. Phase 1 trains with --freeze (default backbone: all but the head, BatchNorm in inference mode)
for --epochs; phase 2 unfreezes everything for --fine-tune-epochs at --fine-tune-lr (default lr/10).
Both phases share one run directory and one history; an interrupted run resumes in either phase.

multi-worker: set TF_CONFIG on every host and run the same command (batch size is global), e.g.
  TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
"""


def _shape(text: str):
    try:
        dims = [int(d) for d in text.replace("x", ",").split(",") if d.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W or H,W,C (e.g. 32,32,3). Received: {text!r}") from None
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected H,W or H,W,C of positive integers. Received: {text!r}")
    return dims


def _augment(text: str):
    return [a.strip() for a in text.split(",") if a.strip() and a.strip() != "none"]


def register(subparsers):
    p = subparsers.add_parser(
        "fit", help="train a model on a dataset and write a run directory",
        description="Train a model from the zoo on real data under a tf.distribute strategy, with "
                    "checkpoints, logs, plots and test metrics in a resumable run directory.",
        epilog=FIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name (see: kerascnn models)")
    p.add_argument("--dataset", default="digits", help="digits, a TFDS name, or a folder (default: %(default)s)")
    p.add_argument("--data-dir", help="TFDS data directory (default: TFDS's, ~/tensorflow_datasets)")
    p.add_argument("--epochs", type=int, help="epochs (default: the model's default)")
    p.add_argument("--batch-size", type=int, help="global batch size (default: the model's default)")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "adam", "adamw"), help="(default: the model's default)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the model's default)")
    p.add_argument("--schedule", choices=("constant", "cosine", "step"), help="learning-rate schedule (default: the model's default)")
    p.add_argument("--label-smoothing", type=float, help="e.g. 0.1 (default: the model's default, 0)")
    p.add_argument("--weight-decay", type=float, help="decoupled weight decay (default: the model's default, 0)")
    p.add_argument("--augment", type=_augment, default=[], metavar="LIST",
                   help="comma-separated: flip, translate, crop, color (default: none)")
    p.add_argument("--seed", type=int, default=0, help="weights, shuffling and augmentation seed (default: %(default)s)")
    p.add_argument("--val-split", type=float, default=0.1, help="validation fraction of the training part (default: %(default)s)")
    p.add_argument("--folds", type=int, default=0, metavar="K",
                   help="stratified K-fold cross-validation instead of one validation split: K runs in OUT/fold1..K, "
                        "each validating on 1/K of the training part; prints per-fold and mean ± std validation "
                        "accuracy (folds.json, fold_curves.png); default OUT runs/MODEL-Kfold (default: off)")
    p.add_argument("--test-split", type=float, default=0.2, help="test fraction when the data has no test part (default: %(default)s)")
    p.add_argument("--steps-per-epoch", type=int, metavar="N",
                   help="training steps per epoch, for sets where one pass takes hours (default: one pass)")
    p.add_argument("--eval-steps", type=int, metavar="N", help="validation batches per epoch (default: all)")
    p.add_argument("--cache-budget-mb", type=float, default=512, metavar="MB",
                   help="folders and TFDS sets whose preprocessed training images fit this stay in memory; larger "
                        "ones stream from disk through tf.data with flat memory; 0 always streams (default: %(default)s)")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="drop files that cannot be used (not decodable, unreadable) from every part, test included, "
                        "and count them in metrics.json (default: list them all, each with its reason, and stop)")
    p.add_argument("--allow-data-change", action="store_true",
                   help="resume an unfinished run although its files changed since it started (files keep their "
                        "part, so no test image was trained on; default: refuse with one line)")
    p.add_argument("--input-shape", type=_shape, metavar="H,W[,C]", help="model input (default: the model's published size)")
    add_hparams_arguments(p, training=True)
    p.add_argument("--init-from", metavar="PATH|RUN",
                   help="start from these weights: torchvision .safetensors/.pth, keras.applications .h5, .keras, "
                        "or a run directory (default: random initialization)")
    p.add_argument("--freeze", metavar="backbone|none|LAYER",
                   help="what phase 1 keeps fixed: backbone (all but the head), none, or every layer up to and "
                        "including LAYER (default with --init-from: backbone)")
    p.add_argument("--fine-tune-epochs", type=int, default=0, metavar="N",
                   help="phase 2: after --epochs, unfreeze everything and train N more epochs (default: 0, no phase 2)")
    p.add_argument("--fine-tune-lr", type=float, metavar="LR", help="phase 2's learning rate (default: --lr / 10)")
    p.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE", help="stop after PATIENCE epochs without a better validation accuracy (default: off)")
    p.add_argument("--strategy", default="auto", choices=("auto", "mirrored", "multi_worker", "default", "one_device"),
                   help="tf.distribute strategy; auto = multi_worker if TF_CONFIG lists several workers, else mirrored (default: %(default)s)")
    p.add_argument("--steps-per-execution", type=int, help="training steps per graph call (default: a whole epoch, at most 32)")
    p.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                   help="mixed_bfloat16 trains faster on CPUs with AVX512-BF16/AMX (default: %(default)s)")
    p.add_argument("--core-split", default="auto", choices=("auto", "off"),
                   help="auto: on a multi-core CPU without GPUs, each core trains on a slice of every batch, one "
                        "thread per op (not for BatchNorm models or several replicas); off: TensorFlow's default "
                        "threads (default: %(default)s)")
    p.add_argument("--out", help="run directory (default: runs/MODEL)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    p.set_defaults(func=run_fit)

    e = subparsers.add_parser(
        "evaluate", help="test accuracy of a trained run",
        description="Evaluate a run directory (or a .keras file in one) on the test part of its dataset, "
                    "split exactly as in training, or on the test part of --dataset.",
        epilog="examples:\n  kerascnn evaluate runs/lenet\n  kerascnn evaluate runs/lenet/last.keras --dataset ../shared/data/mnist\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("run", help="run directory or .keras file")
    e.add_argument("--dataset", help="evaluate on this dataset instead (default: the run's)")
    e.add_argument("--data-dir", help="TFDS data directory")
    e.add_argument("--batch-size", type=int, default=256, help="(default: %(default)s)")
    e.add_argument("--strategy", default="auto", choices=("auto", "mirrored", "multi_worker", "default", "one_device"))
    e.set_defaults(func=run_evaluate)


def run_fit(args) -> int:
    from kerascnn.training import core_split

    hparams = hparams_from_args(args)  # a bad file or KEY=VALUE: one line, before TensorFlow starts
    if args.owns_process:  # the `kerascnn` program: choose TensorFlow's threads for core split before it starts
        core_split.prepare(args.core_split, args.model, hparams, args.strategy)
    import kerascnn

    settings = dict(
        dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, schedule=args.schedule, label_smoothing=args.label_smoothing,
        weight_decay=args.weight_decay, augment=args.augment, seed=args.seed, val_split=args.val_split, folds=args.folds,
        test_split=args.test_split, input_shape=args.input_shape, early_stopping=args.early_stopping,
        init_from=args.init_from, freeze=args.freeze, fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_lr=args.fine_tune_lr,
        strategy=args.strategy, steps_per_execution=args.steps_per_execution, precision=args.precision,
        core_split=args.core_split, out=args.out, overwrite=args.overwrite,
        steps_per_epoch=args.steps_per_epoch, eval_steps=args.eval_steps, cache_budget_mb=args.cache_budget_mb,
        skip_bad_images=args.skip_bad_images, allow_data_change=args.allow_data_change,
    )
    kerascnn.fit(args.model, hparams=hparams, **settings)
    return 0


def run_evaluate(args) -> int:
    import kerascnn

    m = kerascnn.evaluate(args.run, args.dataset, data_dir=args.data_dir, batch_size=args.batch_size, strategy=args.strategy)
    print(f"test accuracy {m['test_accuracy']:.4f}  loss {m['test_loss']:.4f}  on {m['test_images']} test images of {m['dataset']}")
    worst = sorted(((v, k) for k, v in m["per_class_accuracy"].items() if v is not None))[:3]
    print("lowest per-class accuracy: " + ", ".join(f"{k} {v:.3f}" for v, k in worst))
    return 0
