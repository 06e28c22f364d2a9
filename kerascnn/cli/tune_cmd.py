"""``kerascnn tune NAME``: search a zoo model's hyperparameters with keras-tuner."""

from __future__ import annotations

import argparse

from kerascnn.cli.settings_args import add_setting_arguments, as_flags, settings_from_args

DESCRIPTION = """\
Search the hyperparameters of a zoo model (kernel sizes, filters, dense units, dropout, batch norm,
learning rate on a log scale, optimizer) with keras-tuner. Every trial trains as `kerascnn fit` would
with the same flags: the training settings below are fit's (input shape, augmentation, precision,
cache budget, ...); --epochs is per trial (hyperband: the most a trial gets), and a searched training
value given as a flag (--lr, --optimizer, --schedule, --weight-decay, --label-smoothing) is fixed
instead of searched. The default ranges of each model family live beside its builders
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
  kerascnn tune resnet18 --input-shape 32,32,1 --dataset mnist --max-trials 2 --epochs 1
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
    from kerascnn.training.config import TrainConfig
    from kerascnn.tuning.config import TRIAL_SETTINGS, TuneConfig

    search = p.add_argument_group("the search")
    own = add_setting_arguments(search, TuneConfig)
    search.add_argument("--quiet", action="store_true", help="only print the results table")
    search.add_argument(
        "--in-process",
        action="store_true",
        help="train every trial in this process instead of worker processes (for "
        "debugging; TensorFlow then keeps 5-9 MB per trial that it never frees)",
    )
    trials = p.add_argument_group("each trial (as kerascnn fit)")
    # Not given: fit's default for the model, filled in by tune (as fit fills in its own).
    trial = add_setting_arguments(trials, TrainConfig, only=TRIAL_SETTINGS, unset_is_none=True)
    p.set_defaults(setting_names=own, trial_setting_names=trial)
    p.set_defaults(func=run)


def run(args) -> int:
    from kerascnn.training.config import default_verbose
    from kerascnn.tuning import tune

    trial_settings = settings_from_args(args, args.trial_setting_names, given_only=True)
    settings = {**settings_from_args(args, args.setting_names), **trial_settings}
    # off a terminal one line per epoch, as fit prints
    result = tune(
        args.model, verbose=0 if args.quiet else default_verbose(), trial_processes=not args.in_process, **settings
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
        # The winner trains on the trials' data and input; its training values are in the file, and the
        # epochs are fit's (a search's trials are short).
        from kerascnn.tuning.training_bridge import TRAINING_HYPERPARAMETERS

        as_trained = as_flags(
            {k: v for k, v in trial_settings.items() if k not in TRAINING_HYPERPARAMETERS and k != "epochs"}
        )
        print(
            f"Train the winner:     kerascnn fit {args.model} --hparams {result.best_hyperparameters}"
            + (f" {as_trained}" if as_trained else "")
        )
    return 0
