"""``TrainConfig``: every setting of a training run; its fields are the ``kerascnn fit`` flags one to one.

``None`` means "the model's default" (see :mod:`kerascnn.training.defaults`); ``resolve()`` fills those
in, and the resolved config is what ``config.json`` of the run directory stores.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from kerascnn.errors import KerasCNNError
from kerascnn.settings_files import format_name, read_json_or_yaml

# Training settings an --hparams file may hold beside the builder's hyperparameters (a tuning winner's).
TRAINING_SETTINGS_IN_HPARAMS = ("lr", "optimizer", "batch_size", "epochs", "schedule", "weight_decay", "label_smoothing")
# Other names of a setting that users' files and calls may use (Keras' optimizers say learning_rate).
SETTING_ALIASES = {"learning_rate": "lr"}
# Settings that may differ between a run and its resumption without invalidating the saved state.
NOT_PART_OF_IDENTITY = ("overwrite", "verbose", "out", "core_split", "skip_bad_images", "allow_data_change")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@dataclasses.dataclass
class TrainConfig:
    model: str = "lenet"  # a registered model name (kerascnn models)
    dataset: str = "digits"  # digits | a TFDS name | a folder of IDX files or of class subfolders
    data_dir: str | None = None  # TFDS data directory
    epochs: int | None = None  # None: the model's default
    batch_size: int | None = None  # global batch size (split across replicas)
    optimizer: str | None = None  # sgd | momentum | adam | adamw
    lr: float | None = None  # peak learning rate
    schedule: str | None = None  # constant | cosine | step
    label_smoothing: float | None = None
    weight_decay: float | None = None  # decoupled weight decay
    augment: list = dataclasses.field(default_factory=list)  # any of flip, translate, crop, color
    seed: int = 0  # weights initialization, shuffling and augmentation
    val_split: float = 0.1  # fraction of the training part held out for validation (fixed split)
    folds: int = 0  # K >= 2: stratified K-fold cross-validation, one run per fold (replaces val_split); 0: off
    steps_per_epoch: int | None = None  # training steps per epoch (Keras'); None: one pass over the training part
    eval_steps: int | None = None  # validation batches per epoch (Keras' validation_steps); None: all
    cache_budget_mb: float = 512  # largest preprocessed training set kept in memory; larger sets stream; 0: always stream
    skip_bad_images: bool = False  # drop files that cannot be used from every part (counted in metrics.json)
    allow_data_change: bool = False  # resume an unfinished run although its files changed (files keep their part)
    fold: int | None = None  # set by fit for each run of a cross-validation: the fold (1..K) it validates on
    test_split: float = 0.2  # fraction held out as test when the dataset has no test part
    input_shape: list | None = None  # H,W[,C]; None: the model's published input size, data's channels
    hparams: dict = dataclasses.field(default_factory=dict)  # builder hyperparameters (--hparams FILE)
    init_from: str | None = None  # weights to start from: a file (torchvision/keras.applications/.keras) or a run
    freeze: str | None = None  # backbone | none | a layer name (frozen up to it); None: backbone with init_from
    fine_tune_epochs: int = 0  # after `epochs` (phase 1), unfreeze everything and train this many more epochs
    fine_tune_lr: float | None = None  # phase 2's learning rate; None: lr / 10
    early_stopping: int = 0  # patience in epochs on validation accuracy; 0 disables
    aux_loss_weight: float = 0.3  # loss weight of each auxiliary head (GoogLeNet)
    strategy: str = "auto"  # auto | mirrored | multi_worker | default | one_device
    steps_per_execution: int | None = None  # None: a whole epoch per call, capped (fast on CPU)
    jit_compile: bool = False  # XLA: slower on CPU for these models
    precision: str = "float32"  # or mixed_bfloat16 (CPUs with AVX512-BF16/AMX, TPUs) / mixed_float16 (GPUs)
    core_split: str = "auto"  # auto: each CPU core trains on a slice of every batch when TF runs 1 thread/op; off
    out: str | None = None  # run directory; None: runs/<model>
    overwrite: bool = False  # replace a finished run at `out`
    verbose: int | None = None  # Keras verbosity; None: progress bar on a terminal, a line per epoch otherwise

    def resolve(self) -> "TrainConfig":
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
            cfg.out = str(Path("runs") / (f"{cfg.model}-{cfg.folds}fold" if cfg.folds and cfg.fold is None else cfg.model))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        from kerascnn.training.compile import OPTIMIZERS, SCHEDULES

        def bad(msg):
            raise KerasCNNError(msg)

        if int(self.epochs) < 1:
            bad(f"epochs must be at least 1. Received: epochs={self.epochs}")
        if int(self.batch_size) < 1:
            bad(f"batch_size must be at least 1. Received: batch_size={self.batch_size}")
        if not float(self.lr) > 0:
            bad(f"lr must be positive. Received: lr={self.lr}")
        if self.optimizer not in OPTIMIZERS:
            bad(f"Unknown optimizer {self.optimizer!r}. Choose from: {', '.join(OPTIMIZERS)}.")
        if self.schedule not in SCHEDULES:
            bad(f"Unknown schedule {self.schedule!r}. Choose from: {', '.join(SCHEDULES)}.")
        if not 0 <= float(self.label_smoothing) < 1:
            bad(f"label_smoothing must be in [0, 1). Received: {self.label_smoothing}")
        if float(self.weight_decay) < 0:
            bad(f"weight_decay must not be negative. Received: {self.weight_decay}")
        if not 0 <= float(self.val_split) < 1:
            bad(f"val_split must be in [0, 1). Received: {self.val_split}")
        if not 0 < float(self.test_split) < 1:
            bad(f"test_split must be in (0, 1). Received: {self.test_split}")
        for name in ("steps_per_epoch", "eval_steps"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                bad(f"{name} must be at least 1. Received: {name}={getattr(self, name)}")
        if float(self.cache_budget_mb) < 0:
            bad(f"cache_budget_mb must not be negative. Received: {self.cache_budget_mb}")
        if int(self.folds or 0) == 1 or int(self.folds or 0) < 0:
            bad(f"folds must be 0 (one validation split) or at least 2. Received: folds={self.folds}")
        if self.fold is not None and not (self.folds and 1 <= int(self.fold) <= int(self.folds)):
            bad(f"fold must be in 1..folds. Received: fold={self.fold}, folds={self.folds}")
        if self.init_from is None and (self.freeze is not None or self.fine_tune_epochs):
            bad("--freeze and --fine-tune-epochs need --init-from (pretrained weights to start from).")
        if int(self.fine_tune_epochs or 0) < 0:
            bad(f"fine_tune_epochs must not be negative. Received: {self.fine_tune_epochs}")
        if self.fine_tune_lr is not None and not float(self.fine_tune_lr) > 0:
            bad(f"fine_tune_lr must be positive. Received: {self.fine_tune_lr}")
        if self.precision not in PRECISIONS:
            bad(f"Unknown precision {self.precision!r}. Choose from: {', '.join(PRECISIONS)}.")
        from kerascnn.training.core_split import MODES as CORE_SPLIT_MODES

        if self.core_split not in CORE_SPLIT_MODES:
            bad(f"Unknown core_split {self.core_split!r}. Choose from: {', '.join(CORE_SPLIT_MODES)}.")
        if self.steps_per_execution is not None and int(self.steps_per_execution) < 1:
            bad(f"steps_per_execution must be at least 1. Received: {self.steps_per_execution}")

    def identity(self) -> dict:
        """The settings that must match for a rerun to resume a run."""
        d = self.to_dict()
        for key in NOT_PART_OF_IDENTITY:
            d.pop(key, None)
        return d

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in canonical_settings(d).items() if k in names})


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
