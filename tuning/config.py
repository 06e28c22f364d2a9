"""What a search is given: tune's own settings, declared once, and every ``fit`` setting a trial trains with.

``kerascnn tune --help`` is generated from ``TuneConfig`` and from the ``TrainConfig`` fields in
``TRIAL_SETTINGS``: a trial trains as ``kerascnn fit`` would with the same flags (input shape, augmentation,
precision, cache budget, ...). A training value the space searches (``--lr``, ``--optimizer``, ...) given as
a flag is fixed at that value instead of searched.
"""

from __future__ import annotations

import dataclasses

from kerascnn.settings import check_known, setting, setting_names
from kerascnn.training.config import TrainConfig, canonical_settings

# fit settings a search does not take, and why:
NOT_FOR_TRIALS = (
    "model",  # the command's NAME
    "hparams",  # builder values: the space fixes or searches them (--space)
    "folds",
    "fold",  # a trial validates on one split
    "freeze",
    "fine_tune_epochs",
    "fine_tune_lr",  # trials from --init-from train every layer, in one phase
    "strategy",  # the search's own (keras-tuner's distribution strategy, auto)
    "out",
    "overwrite",
    "verbose",  # the search's: TuneConfig, --quiet
    "allow_data_change",  # resuming a fit run onto changed files: a search's trials are no such runs
)
TRIAL_SETTINGS = tuple(name for name in setting_names(TrainConfig) if name not in NOT_FOR_TRIALS)
# Settings whose values tune_config.json has always held at its top level; others go under "training".
SEARCH_IDENTITY = ("dataset", "epochs", "batch_size", "val_split", "test_split", "seed", "data_dir")


@dataclasses.dataclass
class TuneConfig:
    tuner: str = setting("random", "hyperband, bayesian, random or grid", metavar="KIND")
    max_trials: int = setting(10, "at most N trials, for every tuner", parse=int, metavar="N")
    objective: str = setting("val_accuracy", "val_accuracy, val_loss, accuracy or loss", metavar="NAME")
    space: str | None = setting(
        None, "JSON or YAML changes to the default space", metavar="FILE", default_help="the model family's ranges"
    )
    out: str | None = setting(None, "output directory", metavar="DIR", default_help="runs/tune-NAME")
    overwrite: bool = setting(
        False, "delete the search in --out and start afresh", default_help="resume the search in --out"
    )


def split_settings(settings: dict) -> tuple[dict, dict]:
    """``(tune's own, the trials')`` of a caller's keyword arguments; unknown names refused ("did you mean")."""
    settings = canonical_settings(settings)
    check_known(settings, [*setting_names(TuneConfig), *TRIAL_SETTINGS], "tune setting")
    own = set(setting_names(TuneConfig))
    return ({k: v for k, v in settings.items() if k in own}, {k: v for k, v in settings.items() if k not in own})


def changed_trial_settings(cfg: TrainConfig) -> dict:
    """The trial settings of ``cfg`` away from their declared defaults, beyond those ``SEARCH_IDENTITY`` and
    the space already record: what else makes this search another search."""
    from kerascnn.training.config import NOT_PART_OF_IDENTITY
    from kerascnn.tuning.training_bridge import TRAINING_HYPERPARAMETERS

    changed = {}
    for field in dataclasses.fields(TrainConfig):
        name = field.name
        if (
            name not in TRIAL_SETTINGS
            or name in SEARCH_IDENTITY
            or name in TRAINING_HYPERPARAMETERS
            or name in NOT_PART_OF_IDENTITY
            or name == "init_from"
        ):
            continue
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if getattr(cfg, name) != default:
            changed[name] = getattr(cfg, name)
    return changed
