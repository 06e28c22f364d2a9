"""The names in a run directory, finished or not, and finding the checkpoint of one (see :mod:`kerascnn.runs`)."""

from __future__ import annotations

from pathlib import Path

from kerascnn.data.spec import SPEC_FILENAME
from kerascnn.errors import ArtifactError

CONFIG_FILE = "config.json"
BEST_CHECKPOINT = "best.keras"
LAST_CHECKPOINT = "last.keras"
CHECKPOINTS_DIR = "checkpoints"  # per-epoch checkpoints while training (kerascnn.training.checkpoints)
STATE_FILE = "training_state.json"  # the training commit record, while training
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
LOGS_DIR = "logs"
LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"
MISCLASSIFIED = "misclassified.png"
PARTIAL_SUFFIX = ".partial"
# A cross-validation run (``fit --folds K``) holds one run per fold (fold1/ ... foldK/) and these two:
FOLDS_SUMMARY = "folds.json"
FOLD_CURVES = "fold_curves.png"


def partial_path(run_dir) -> Path:
    """Where the unfinished run of ``run_dir`` lives while it trains."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + PARTIAL_SUFFIX)


def is_finished_run(path) -> bool:
    """True when ``path`` is a finished run directory (metrics.json and a checkpoint, or a folds.json)."""
    path = Path(path)
    if (path / FOLDS_SUMMARY).is_file():
        return True
    return (path / METRICS_FILE).is_file() and (
        (path / BEST_CHECKPOINT).is_file() or (path / LAST_CHECKPOINT).is_file()
    )


def unfinished_run_message(path) -> str | None:
    """One line saying that ``path`` is an unfinished run (still training, or killed) and what to do, or None.

    Unfinished: a ``<run>.partial`` directory, or one holding the training state without metrics.json.
    Its checkpoints are real models, but exporting or evaluating them would silently pass off a
    half-trained run as the result.
    """
    import json

    path = Path(path)
    if not path.is_dir():
        return None
    has_state = (path / STATE_FILE).is_file()
    if not path.name.endswith(PARTIAL_SUFFIX) and not (has_state and not (path / METRICS_FILE).is_file()):
        return None
    detail = "no epoch finished"
    try:
        state = json.loads((path / STATE_FILE).read_text())
        planned = json.loads((path / CONFIG_FILE).read_text()).get("epochs")
        if state.get("trained"):
            detail = "training finished, its evaluation did not"
        else:
            detail = f"training stopped after {state.get('epochs', 0)} of {planned} epochs"
    except (OSError, ValueError, AttributeError):
        pass
    final = path.with_name(path.name[: -len(PARTIAL_SUFFIX)]) if path.name.endswith(PARTIAL_SUFFIX) else path
    return (
        f"{path} is an unfinished training run ({detail}); rerun the same `kerascnn fit` command to finish "
        f"it, then use {final}."
    )


def check_finished(path) -> None:
    """Raise ArtifactError with :func:`unfinished_run_message` when ``path`` is an unfinished run."""
    message = unfinished_run_message(path)
    if message:
        raise ArtifactError(message)


def resolve_checkpoint(path) -> tuple[Path, Path]:
    """(checkpoint file, directory holding its data_spec.json) for a run directory or a .keras file.

    An unfinished run (``<run>.partial``, or a .keras file inside one) is refused with one line.
    """
    path = Path(path)
    check_finished(path)
    if path.suffix == ".keras":
        check_finished(path.parent)
        check_finished(path.parent.parent)
    if path.is_dir():
        if (path / FOLDS_SUMMARY).is_file():
            raise ArtifactError(
                f"{path} is a cross-validation run (one run per fold); use one of its folds, e.g. {path / 'fold1'}."
            )
        for name in (BEST_CHECKPOINT, LAST_CHECKPOINT):
            if (path / name).is_file():
                return path / name, path
        raise ArtifactError(f"{path} is not a finished kerascnn run: no {BEST_CHECKPOINT} or {LAST_CHECKPOINT} in it.")
    if path.suffix != ".keras":
        raise ArtifactError(f"Expected a run directory or a .keras file. Received: {path}")
    if not path.is_file():
        raise ArtifactError(f"No such file: {path}")
    for directory in (path.parent, path.parent.parent):
        if (directory / SPEC_FILENAME).is_file():
            return path, directory
    raise ArtifactError(f"No {SPEC_FILENAME} next to {path}: kerascnn needs it to preprocess images.")
