"""Run directories: their layout (:mod:`.layout`), creating, resuming and finishing them while training
(:mod:`.lifecycle`), loading the trained model (:mod:`.trained`) and the run's dataset, split as in training
(:mod:`.dataset`). Every name below is importable from ``kerascnn.runs``.

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

from kerascnn.runs.dataset import load_run_dataset, prepare_run_data  # noqa: F401
from kerascnn.runs.layout import (  # noqa: F401
    BEST_CHECKPOINT,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    CONFUSION_MATRIX,
    FOLD_CURVES,
    FOLDS_SUMMARY,
    HISTORY_FILE,
    LAST_CHECKPOINT,
    LEARNING_CURVES,
    LOGS_DIR,
    METRICS_FILE,
    MISCLASSIFIED,
    PARTIAL_SUFFIX,
    STATE_FILE,
    check_finished,
    is_finished_run,
    partial_path,
    resolve_checkpoint,
    unfinished_run_message,
)
from kerascnn.runs.trained import load_trained  # noqa: F401
