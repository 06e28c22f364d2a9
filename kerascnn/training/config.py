"""``TrainConfig``: every setting of a training run, each declared once with its help, choices and default.

``kerascnn fit``'s flags are generated from these fields (``kerascnn.cli.settings_args``), and
``kerascnn tune`` offers every one that changes a trial. ``None`` means "the model's default" (see
:mod:`kerascnn.training.defaults`); ``resolve()`` fills those in, and the resolved config is what
``config.json`` of the run directory stores.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from kerascnn.data.pipeline import DEFAULT_CACHE_BUDGET
from kerascnn.data.raw import DEFAULT_TEST_SPLIT, DEFAULT_VAL_SPLIT
from kerascnn.errors import KerasCNNError
from kerascnn.settings import caller_name, check_known, setting, setting_names
from kerascnn.settings_files import format_name, read_json_or_yaml
from kerascnn.training.core_split import MODES as CORE_SPLIT_MODES
from kerascnn.training.strategy import STRATEGIES

# Training settings an --hparams file may hold beside the builder's hyperparameters (a tuning winner's).
TRAINING_SETTINGS_IN_HPARAMS = (
    "lr",
    "optimizer",
    "batch_size",
    "epochs",
    "schedule",
    "weight_decay",
    "label_smoothing",
)
# Other names of a setting that users' files and calls may use (Keras' optimizers say learning_rate).
SETTING_ALIASES = {"learning_rate": "lr"}
# Settings that may differ between a run and its resumption without invalidating the saved state.
NOT_PART_OF_IDENTITY = ("overwrite", "verbose", "out", "core_split", "skip_bad_images", "allow_data_change")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
MODEL_DEFAULT = "the model's default"


def parse_shape(text: str) -> list:
    """``"32,32,1"`` (or ``32x32``) -> ``[32, 32, 1]``."""
    try:
        dims = [int(d) for d in text.replace("x", ",").split(",") if d.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W or H,W,C (e.g. 32,32,3). Received: {text!r}") from None
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected H,W or H,W,C of positive integers. Received: {text!r}")
    return dims


def parse_list(text: str) -> list:
    """``"flip,crop"`` -> ``["flip", "crop"]``; ``none`` is the empty list."""
    return [a.strip() for a in text.split(",") if a.strip() and a.strip() != "none"]


@dataclasses.dataclass
class TrainConfig:
    model: str = setting("lenet", "a registered model name (kerascnn models)", cli=False)
    dataset: str = setting(
        "digits",
        "digits (bundled, offline), a TFDS name (mnist, cifar10, ...), or a folder of "
        "IDX files or of class subfolders of images",
    )
    data_dir: str | None = setting(None, "TFDS data directory", default_help="TFDS's, ~/tensorflow_datasets")
    epochs: int | None = setting(None, "epochs", parse=int, metavar="N", default_help=MODEL_DEFAULT)
    batch_size: int | None = setting(
        None, "global batch size (split across replicas)", parse=int, metavar="N", default_help=MODEL_DEFAULT
    )
    optimizer: str | None = setting(None, "optimizer", choices=OPTIMIZERS, default_help=MODEL_DEFAULT)
    lr: float | None = setting(None, "peak learning rate", parse=float, metavar="LR", default_help=MODEL_DEFAULT)
    schedule: str | None = setting(None, "learning-rate schedule", choices=SCHEDULES, default_help=MODEL_DEFAULT)
    label_smoothing: float | None = setting(
        None, "e.g. 0.1", parse=float, metavar="F", default_help="the model's default, 0"
    )
    weight_decay: float | None = setting(
        None, "decoupled weight decay", parse=float, metavar="F", default_help="the model's default, 0"
    )
    augment: list = setting(
        help="comma-separated: flip, translate, crop, color",
        factory=list,
        parse=parse_list,
        metavar="LIST",
        default_help="none",
    )
    seed: int = setting(
        0, "weights initialization, shuffling and augmentation seed (tune: the tuner's too)", parse=int, metavar="N"
    )
    val_split: float = setting(
        DEFAULT_VAL_SPLIT,
        "fraction of the training part held out for validation (a fixed split)",
        parse=float,
        metavar="F",
    )
    folds: int = setting(
        0,
        "stratified K-fold cross-validation instead of one validation split: K runs in "
        "OUT/fold1..K, each validating on 1/K of the training part; prints per-fold and mean ± "
        "std validation accuracy (folds.json, fold_curves.png); default OUT runs/MODEL-Kfold",
        parse=int,
        metavar="K",
        default_help="off",
    )
    steps_per_epoch: int | None = setting(
        None,
        "training steps per epoch, for sets where one pass takes hours",
        parse=int,
        metavar="N",
        default_help="one pass over the training part",
    )
    eval_steps: int | None = setting(
        None, "validation batches per epoch (Keras' validation_steps)", parse=int, metavar="N", default_help="all"
    )
    test_steps: int | None = setting(
        None,
        "batches of the final test pass, for a quick look at a large test set",
        parse=int,
        metavar="N",
        default_help="all",
    )
    cache_budget_mb: float = setting(
        DEFAULT_CACHE_BUDGET // 1024**2,
        "folders and TFDS sets whose preprocessed training images fit this stay in "
        "memory; larger ones stream from disk through tf.data with flat memory; "
        "0 always streams",
        parse=float,
        metavar="MB",
    )
    skip_bad_images: bool = setting(
        False,
        "leave files that cannot be used (not decodable, unreadable) out of every "
        "part, the test part included, and count them in metrics.json",
        default_help="list them all, each with its reason, and stop",
    )
    allow_data_change: bool = setting(
        False,
        "resume an unfinished run although its files changed since it started "
        "(each file keeps its part: no test image was trained on)",
        default_help="refuse with one line",
    )
    fold: int | None = setting(None, "the fold (1..K) a run of a cross-validation validates on (set by fit)", cli=False)
    test_split: float = setting(
        DEFAULT_TEST_SPLIT, "fraction held out as test when the dataset has no test part", parse=float, metavar="F"
    )
    input_shape: list | None = setting(
        None,
        "model input",
        parse=parse_shape,
        metavar="H,W[,C]",
        default_help="the model's published size, the data's channels",
    )
    hparams: dict = setting(
        help="builder hyperparameters (--hparams FILE, --hparam KEY=VALUE)", factory=dict, cli=False
    )
    init_from: str | None = setting(
        None,
        "start from these weights: torchvision .safetensors/.pth, "
        "keras.applications .h5, .keras, a run directory, or published weights "
        "by name, downloaded once: imagenet, torchvision:IMAGENET1K_V2, ... "
        "(kerascnn models --pretrained)",
        metavar="PATH|RUN|TAG",
        default_help="random initialization",
    )
    freeze: str | None = setting(
        None,
        "what phase 1 keeps fixed: backbone (all but the head), none, or every layer up to and including LAYER",
        metavar="backbone|none|LAYER",
        default_help="backbone with --init-from",
    )
    fine_tune_epochs: int = setting(
        0,
        "phase 2: after --epochs, unfreeze everything and train N more epochs",
        parse=int,
        metavar="N",
        default_help="0, no phase 2",
    )
    fine_tune_lr: float | None = setting(
        None, "phase 2's learning rate", parse=float, metavar="LR", default_help="--lr / 10"
    )
    early_stopping: int = setting(
        0,
        "stop after PATIENCE epochs without a better validation accuracy",
        parse=int,
        metavar="PATIENCE",
        default_help="off",
    )
    aux_loss_weight: float = setting(0.3, "loss weight of each auxiliary head (GoogLeNet)", parse=float, metavar="W")
    strategy: str = setting(
        "auto",
        "tf.distribute strategy; auto = multi_worker if TF_CONFIG lists several workers, else mirrored",
        choices=STRATEGIES,
    )
    steps_per_execution: int | None = setting(
        None, "training steps per graph call", parse=int, metavar="N", default_help="a whole epoch, at most 32"
    )
    jit_compile: bool = setting(False, "compile with XLA (slower on CPU for these models)", default_help="off")
    precision: str = setting(
        "float32",
        "mixed_bfloat16 trains faster on CPUs with AVX512-BF16/AMX and TPUs, mixed_float16 on GPUs",
        choices=PRECISIONS,
    )
    core_split: str = setting(
        "auto",
        "auto: on a multi-core CPU without GPUs, each core trains on a slice of every "
        "batch, one thread per op (not for BatchNorm models or several replicas); "
        "off: TensorFlow's default threads",
        choices=CORE_SPLIT_MODES,
    )
    out: str | None = setting(None, "run directory", default_help="runs/MODEL")
    overwrite: bool = setting(False, "replace a finished run in --out", default_help="never")
    verbose: int | None = setting(
        None, "Keras verbosity", cli=False, default_help="a progress bar on a terminal, a line per epoch otherwise"
    )

    def resolve(self) -> TrainConfig:
        """A copy with every ``None`` replaced by the model's default and ``hparams`` split out."""
        from kerascnn.training.defaults import get_training_defaults

        builder, training = split_training_settings(self.hparams or {})
        cfg = dataclasses.replace(self, hparams=builder, augment=list(self.augment or []))
        # --hparams files may also carry training settings (a keras-tuner winner's lr/optimizer); flags win.
        for field, value in training.items():
            if getattr(self, field) is None:
                setattr(cfg, field, value)
        defaults = get_training_defaults(cfg.model)
        for field in ("epochs", "batch_size", "optimizer", "lr", "schedule", "weight_decay", "label_smoothing"):
            if getattr(cfg, field) is None:
                setattr(cfg, field, getattr(defaults, field))
        if cfg.init_from is not None:
            cfg.init_from = str(cfg.init_from)
            if cfg.freeze is None:
                cfg.freeze = "backbone"
            if cfg.fine_tune_epochs and cfg.fine_tune_lr is None:
                cfg.fine_tune_lr = float(cfg.lr) / 10
        if cfg.out is None:
            cfg.out = str(
                Path("runs") / (f"{cfg.model}-{cfg.folds}fold" if cfg.folds and cfg.fold is None else cfg.model)
            )
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise one line for the first setting out of range."""

        def bad(name, rule):
            raise KerasCNNError(f"{name} {rule}. Received: {name}={getattr(self, name)}")

        def choose(name, choices):
            if getattr(self, name) not in choices:
                raise KerasCNNError(f"Unknown {name} {getattr(self, name)!r}. Choose from: {', '.join(choices)}.")

        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                bad(name, "must be at least 1")
        if not float(self.lr) > 0:
            bad("lr", "must be positive")
        choose("optimizer", OPTIMIZERS)
        choose("schedule", SCHEDULES)
        if not 0 <= float(self.label_smoothing) < 1:
            bad("label_smoothing", "must be in [0, 1)")
        if float(self.weight_decay) < 0:
            bad("weight_decay", "must not be negative")
        if not 0 <= float(self.val_split) < 1:
            bad("val_split", "must be in [0, 1)")
        if not 0 < float(self.test_split) < 1:
            bad("test_split", "must be in (0, 1)")
        for name in ("steps_per_epoch", "eval_steps", "test_steps", "steps_per_execution"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                bad(name, "must be at least 1")
        if float(self.cache_budget_mb) < 0:
            bad("cache_budget_mb", "must not be negative")
        if int(self.folds or 0) == 1 or int(self.folds or 0) < 0:
            bad("folds", "must be 0 (one validation split) or at least 2")
        if self.fold is not None and not (self.folds and 1 <= int(self.fold) <= int(self.folds)):
            raise KerasCNNError(f"fold must be in 1..folds. Received: fold={self.fold}, folds={self.folds}")
        if self.init_from is None and (self.freeze is not None or self.fine_tune_epochs):
            raise KerasCNNError(
                f"{caller_name('freeze')} and {caller_name('fine_tune_epochs')} need "
                f"{caller_name('init_from')} (pretrained weights to start from)."
            )
        if int(self.fine_tune_epochs or 0) < 0:
            bad("fine_tune_epochs", "must not be negative")
        if self.fine_tune_lr is not None and not float(self.fine_tune_lr) > 0:
            bad("fine_tune_lr", "must be positive")
        choose("precision", PRECISIONS)
        choose("core_split", CORE_SPLIT_MODES)
        choose("strategy", STRATEGIES)

    def identity(self) -> dict:
        """The settings that must match for a rerun to resume a run."""
        d = self.to_dict()
        for key in NOT_PART_OF_IDENTITY:
            d.pop(key, None)
        return d

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config stored in a run's config.json (extra keys, written beside the settings, are ignored)."""
        names = set(setting_names(cls))
        return cls(**{k: v for k, v in canonical_settings(d).items() if k in names})

    @classmethod
    def from_settings(cls, settings: dict, **fixed) -> TrainConfig:
        """A config from a caller's keyword arguments: aliases renamed, unknown names refused with the closest
        known one ("did you mean 'epochs'?")."""
        settings = canonical_settings(settings)  # learning_rate= is lr=
        check_known(settings, [n for n in setting_names(cls) if n not in fixed], "training setting")
        return cls(**fixed, **settings)


def canonical_settings(settings: dict) -> dict:
    """``settings`` with each alias (``learning_rate``) under its one name (``lr``); the one name wins."""
    out = {SETTING_ALIASES.get(k, k): v for k, v in settings.items() if k in SETTING_ALIASES}
    out.update({k: v for k, v in settings.items() if k not in SETTING_ALIASES})
    return out


def split_training_settings(hparams: dict) -> tuple[dict, dict]:
    """``(builder hyperparameters, training settings)`` of an --hparams mapping, aliases renamed."""
    hparams = canonical_settings(hparams)
    training = {k: v for k, v in hparams.items() if k in TRAINING_SETTINGS_IN_HPARAMS}
    return {k: v for k, v in hparams.items() if k not in training}, training


def default_verbose() -> int:
    """Keras verbosity when ``verbose`` is None: a progress bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def load_hparams(source) -> dict:
    """Builder hyperparameters (and optionally lr/optimizer/...) from a dict or a JSON/YAML file.

    A keras-tuner ``best_hyperparameters.json`` (a flat ``{name: value}`` dict, or Keras-Tuner's
    ``{"values": {...}}`` form) works as is. Lists stay lists; builders take tuples or lists alike.
    """
    if source is None:
        return {}
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        try:
            data = read_json_or_yaml(path)
        except OSError as e:
            raise KerasCNNError(f"Cannot read hyperparameters file {path}: {e.strerror or e}") from None
        except ValueError as e:
            raise KerasCNNError(f"{path} is not valid {format_name(path)}: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("values"), dict):
        data = data["values"]
    if not isinstance(data, dict):
        raise KerasCNNError(f"Hyperparameters must be a mapping of name to value. Received: {type(data).__name__}")
    # keras-tuner bookkeeping (Hyperband's tuner/epochs, tuner/trial_id, ...) is not a hyperparameter.
    return {k: v for k, v in data.items() if not str(k).startswith("tuner/")}


def cache_budget_bytes(cfg) -> int:
    """``cfg.cache_budget_mb`` in bytes (see :mod:`kerascnn.data.prepare`)."""
    return int(float(cfg.cache_budget_mb) * 1024**2)
