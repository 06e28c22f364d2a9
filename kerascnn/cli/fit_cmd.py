"""``kerascnn fit`` and ``kerascnn evaluate``: parse flags, call ``kerascnn.fit`` / ``kerascnn.evaluate``.

fit's flags are generated from ``TrainConfig``'s declarations (``kerascnn.cli.settings_args``): a setting's
flag, help, choices and default are written once, beside the setting.
"""

from __future__ import annotations

import argparse

from kerascnn.cli.hparams_args import add_hparams_arguments, hparams_from_args
from kerascnn.cli.settings_args import add_setting_arguments, settings_from_args
from kerascnn.settings import setting_names
from kerascnn.training.config import TrainConfig
from kerascnn.training.strategy import STRATEGIES

FIT_EPILOG = """\
examples:
  kerascnn fit lenet                                  bundled digits, offline, seconds on a laptop
  kerascnn fit lenet --dataset mnist                  MNIST from TensorFlow Datasets (downloaded once)
  kerascnn fit lenet --dataset path/to/mnist-idx/     a folder of MNIST IDX files
  kerascnn fit lenet --dataset fashion_mnist --data-dir ~/tensorflow_datasets
  kerascnn fit resnet18 --dataset photos/ --augment flip,crop --epochs 20
  kerascnn fit lenet --hparams best_hyperparameters.json     train a tuning winner
  kerascnn fit lenet --hparam activation=relu --hparam pooling=max  single hyperparameters
  kerascnn fit resnet18 --init-from resnet18.safetensors --input-shape 64,64 --epochs 3 --fine-tune-epochs 5
                                                      transfer: train the new head, then fine-tune all at lr/10
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


def register(subparsers):
    p = subparsers.add_parser(
        "fit",
        help="train a model on a dataset and write a run directory",
        description="Train a model from the zoo on real data under a tf.distribute strategy, with "
        "checkpoints, logs, plots and test metrics in a resumable run directory.",
        epilog=FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name (see: kerascnn models)")
    fields = setting_names(TrainConfig)
    before_hparams = fields[: fields.index("hparams")]
    names = add_setting_arguments(p, TrainConfig, only=before_hparams)
    add_hparams_arguments(p, training=True)  # --hparams FILE and --hparam KEY=VALUE fill the hparams setting
    names += add_setting_arguments(p, TrainConfig, exclude=before_hparams)
    p.set_defaults(setting_names=names)
    p.set_defaults(func=run_fit)

    e = subparsers.add_parser(
        "evaluate",
        help="test accuracy of a trained run",
        description="Evaluate a run directory (or a .keras file in one) on the test part of its dataset, "
        "split exactly as in training, or on the test part of --dataset.",
        epilog="examples:\n  kerascnn evaluate runs/lenet\n"
        "  kerascnn evaluate runs/lenet/last.keras --dataset path/to/mnist-idx/\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("run", help="run directory or .keras file")
    e.add_argument("--dataset", help="evaluate on this dataset instead (default: the run's)")
    e.add_argument("--data-dir", help="TFDS data directory")
    e.add_argument("--batch-size", type=int, default=256, help="(default: %(default)s)")
    e.add_argument("--strategy", default="auto", choices=STRATEGIES)
    e.add_argument("--test-steps", type=int, metavar="N", help="evaluate on this many batches only (default: all)")
    e.set_defaults(func=run_evaluate)


def run_fit(args) -> int:
    from kerascnn.training import core_split

    hparams = hparams_from_args(args)  # a bad file or KEY=VALUE: one line, before TensorFlow starts
    if args.owns_process:  # the `kerascnn` program: choose TensorFlow's threads for core split before it starts
        core_split.prepare(args.core_split, args.model, hparams, args.strategy)
    import kerascnn

    settings = settings_from_args(args, args.setting_names)
    kerascnn.fit(args.model, hparams=hparams, **settings)
    return 0


def run_evaluate(args) -> int:
    import kerascnn
    from kerascnn.training.config import default_verbose

    if args.test_steps is not None and args.test_steps < 1:
        raise SystemExit(f"kerascnn evaluate: --test-steps must be at least 1. Received: {args.test_steps}")
    m = kerascnn.evaluate(
        args.run,
        args.dataset,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        strategy=args.strategy,
        test_steps=args.test_steps,
        verbose=default_verbose(),
    )
    top = f"  top-5 {m['test_top5_accuracy']:.4f}" if "test_top5_accuracy" in m else ""
    print(
        f"test accuracy {m['test_accuracy']:.4f}{top}  loss {m['test_loss']:.4f}  on {m['test_images']} test images "
        f"of {m['dataset']}"
    )
    worst = sorted(((v, k) for k, v in m["per_class_accuracy"].items() if v is not None))[:3]
    print("lowest per-class accuracy: " + ", ".join(f"{k} {v:.3f}" for v, k in worst))
    return 0
