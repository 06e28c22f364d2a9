"""The layout of a run directory, and loading a trained model back from one.

A run directory (``kerascnn fit`` writes it; ``--out``, default ``runs/<model>``) holds:

    config.json            every setting of the run, resolved, plus library versions
    data_spec.json         the DataSpec: class names, raw image shape, model input shape, mean/std
    best.keras             the checkpoint with the best validation score
    last.keras             the checkpoint after the last finished epoch
    history.csv            one row per epoch
    metrics.json           test_accuracy, test_loss, per-class accuracy, epochs, seconds, images_per_second
    logs/                  TensorBoard
    learning_curves.png, confusion_matrix.png, misclassified.png

A cross-validation run (``kerascnn fit --folds K``) holds one such run per fold, ``fold1/`` ... ``foldK/``,
with ``config.json``, ``folds.json`` (per-fold and mean ± std accuracies) and ``fold_curves.png``.

While training, the run lives in ``<run>.partial`` beside its final place, with ``checkpoints/`` and
``training_state.json`` (:mod:`kerascnn.training.checkpoints`); a finished run is renamed to ``<run>`` in
one step, so ``runs/<model>`` is always either absent or complete. After a kill, rerunning the same
command resumes ``<run>.partial`` from its last finished epoch (or at evaluation, when training was over).

Models output logits; a model with auxiliary heads (GoogLeNet) has the main logits as its first output.
"""

from __future__ import annotations

from pathlib import Path

from kerascnn.data.spec import SPEC_FILENAME, DataSpec
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
    return (path / METRICS_FILE).is_file() and ((path / BEST_CHECKPOINT).is_file() or (path / LAST_CHECKPOINT).is_file())


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
    return (f"{path} is an unfinished training run ({detail}); rerun the same `kerascnn fit` command to finish "
            f"it, then use {final}.")


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
            raise ArtifactError(f"{path} is a cross-validation run (one run per fold); use one of its folds, e.g. {path / 'fold1'}.")
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


def load_trained(path, *, inference_only: bool = True):
    """Load ``(keras.Model, DataSpec)`` from a run directory or a ``.keras`` file inside one.

    With ``inference_only`` a model with auxiliary heads is cut down to its main output.
    """
    import keras

    import kerascnn.models.custom_layers  # noqa: F401  (registers the zoo's custom layers, e.g. LRN)

    checkpoint, spec_dir = resolve_checkpoint(path)
    spec = DataSpec.load(spec_dir)
    try:
        model = keras.saving.load_model(checkpoint, compile=False)
    except Exception as e:  # zip, h5 and deserialization errors all mean the same to a user
        raise ArtifactError(f"Cannot load {checkpoint}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if inference_only and len(model.outputs) > 1:
        model = keras.Model(model.inputs, model.outputs[0], name=model.name)
    return model, spec
