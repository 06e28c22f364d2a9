"""``kerascnn tune NAME``: search a zoo model's hyperparameters with keras-tuner."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Search the hyperparameters of a zoo model (kernel sizes, filters, dense units, dropout, batch norm,
learning rate on a log scale, optimizer) with keras-tuner, on the same data pipeline and distribution
strategy as `kerascnn fit`. The default ranges of each model family live beside its builders
(FACTS.tuning_space in kerascnn/models/FAMILY.py; kerascnn.tuning.spaces.FAMILY_SPACES gathers them);
--space FILE narrows or widens them.

At the end: a table of the best trials, OUT/best_hyperparameters.json (train it with
`kerascnn fit NAME --hparams OUT/best_hyperparameters.json`), OUT/trials.csv and
OUT/scores_by_trial.png. Rerunning the same command after an interruption resumes the search:
finished trials are kept, the interrupted one runs again.

Trials train in a worker process forked from a server that has TensorFlow loaded, replaced once its
memory grew 10%, so memory stays flat however many trials run, and a trial that runs out of memory
fails alone (OUT/trials.csv shows the peak memory of each trial's worker)."""

EPILOG = """\
examples:
  kerascnn tune lenet --max-trials 10 --epochs 3
  kerascnn tune lenet --tuner hyperband --epochs 9 --max-trials 30
  kerascnn tune lenet --space space.yaml --out runs/tune-lenet-kernels
  kerascnn fit lenet --hparams runs/tune-lenet/best_hyperparameters.json

a --space file (YAML or JSON) replaces the entries it names and keeps the others:
  kernel_sizes: [{values: [3, 5, 7]}, 5]     # search the first kernel, fix the second at 5
  dense_units: [120, 84]                      # a fixed value is not searched
  dropout: {min: 0.0, max: 0.5, step: 0.1}
  lr: {min: 0.001, max: 0.3, sampling: log}
  optimizer: {values: [sgd, adam]}

distributed search (one oracle, several processes training trials; same command everywhere):
  KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 kerascnn tune lenet
  KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 kerascnn tune lenet
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "tune",
        help="search a model's hyperparameters with keras-tuner",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, max_help_position=30),
    )
    p.add_argument("model", metavar="NAME", help="a zoo model (see `kerascnn models`)")
    p.add_argument("--dataset", default="digits",
                   help='"digits" (bundled, offline), a TFDS name, or a folder, as for fit (default: digits)')
    p.add_argument("--data-dir", default=None, help="TFDS data directory (default: TFDS's own)")
    p.add_argument("--tuner", default="random", metavar="KIND",
                   help="hyperband, bayesian, random or grid (default: random)")
    p.add_argument("--max-trials", type=int, default=10, metavar="N",
                   help="at most N trials, for every tuner (default: 10)")
    p.add_argument("--epochs", type=int, default=None, metavar="N",
                   help="epochs per trial; hyperband: the most a trial gets (default: fit's for the model)")
    p.add_argument("--objective", default="val_accuracy",
                   help="val_accuracy, val_loss, accuracy or loss (default: val_accuracy)")
    p.add_argument("--space", default=None, metavar="FILE", help="JSON or YAML changes to the default space")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default: runs/tune-NAME)")
    p.add_argument("--overwrite", action="store_true", help="delete the search in --out and start afresh")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="global batch size (default: fit's)")
    p.add_argument("--val-split", type=float, default=0.1, metavar="F",
                   help="fraction of the training part held out for validation (default: 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the tuner and the shuffling (default: 0)")
    p.add_argument("--quiet", action="store_true", help="only print the results table")
    p.add_argument("--init-from", metavar="PATH|RUN", default=None,
                   help="every trial starts from these weights (as kerascnn fit --init-from, all layers "
                        "trainable): tune the learning rate of a fine-tuning; architecture values must fit them")
    p.add_argument("--in-process", action="store_true",
                   help="train every trial in this process instead of worker processes (for "
                        "debugging; TensorFlow then keeps 5-9 MB per trial that it never frees)")
    p.set_defaults(func=run)


def run(args) -> int:
    from kerascnn.tuning import tune
    from kerascnn.training.config import default_verbose

    result = tune(
        args.model,
        dataset=args.dataset,
        data_dir=args.data_dir,
        tuner=args.tuner,
        max_trials=args.max_trials,
        epochs=args.epochs,
        objective=args.objective,
        out=args.out,
        overwrite=args.overwrite,
        space=args.space,
        batch_size=args.batch_size,
        val_split=args.val_split,
        seed=args.seed,
        verbose=0 if args.quiet else default_verbose(),  # off a terminal one line per epoch, as fit
        trial_processes=not args.in_process,
        init_from=args.init_from,
    )
    if result.role == "worker":
        print(f"Worker finished; the chief writes the results to {result.out_dir}.")
        return 0
    print()
    print(f"Best trials ({result.objective}):")
    print(result.table)
    print()
    print(f"All trials:           {result.out_dir / 'trials.csv'}")
    if result.plot:
        print(f"Scores by trial:      {result.plot}")
    if result.best_hyperparameters:
        print(f"Best hyperparameters: {result.best_hyperparameters}")
        print(f"Train the winner:     kerascnn fit {args.model} --hparams {result.best_hyperparameters}")
    return 0
