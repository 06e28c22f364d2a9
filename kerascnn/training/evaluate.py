"""Evaluating a model on a test part in one streamed pass, and ``evaluate`` for a trained run.

A test pass keeps running counts (a confusion matrix, the loss sum, top-k hits and the positions of the
first few misclassified images), never the logits of the whole set: at a thousand classes the logits of
a quarter-million test images alone would take a gigabyte, while the counts take a few megabytes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kerascnn.errors import DataError

# ImageNet's convention: top-5 accuracy beside top-1, where there are enough classes for it to mean something.
TOP_K = 5
TOP_K_MIN_CLASSES = 11
# Preprocessed images gathered before one predict call: amortizes Keras' per-call cost, bounds memory.
_CHUNK_BYTES = 32 * 2**20


def per_class_accuracy(y_true, y_pred, class_names) -> dict:
    """``{class name: accuracy}`` over the test images of each class (None for a class with none)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = np.zeros((len(class_names), len(class_names)), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return per_class_from_confusion(cm, class_names)


def per_class_from_confusion(cm: np.ndarray, class_names) -> dict:
    """``{class name: accuracy}`` from a confusion matrix ``cm[true, predicted]``."""
    totals = cm.sum(axis=1)
    return {
        str(name): (round(float(cm[i, i] / totals[i]), 6) if totals[i] else None) for i, name in enumerate(class_names)
    }


@dataclasses.dataclass
class PartEvaluation:
    """What one pass over a test part leaves behind: counts, not per-image outputs.

    Attributes:
        confusion: ``[C, C]`` int64, ``confusion[i, j]`` = test images of class i predicted as j.
        loss_sum: the model's loss summed over the images (the main output's, as compiled).
        top_k_hits: images whose class is among the ``top_k`` highest logits (0 when ``top_k`` is 0).
        top_k: k of the top-k count, 0 when the model has too few classes for it.
        wrong: positions in the pass, true and predicted class of the first misclassified images.
        total_images: images in the part.
        bounded: ``max_steps`` ended the pass before the part's end (``images`` < ``total_images``; so do
            bad images left out with ``skip_bad_images``, but those are counted as such).
    """

    confusion: np.ndarray
    loss_sum: float = 0.0
    top_k_hits: int = 0
    top_k: int = 0
    wrong: list = dataclasses.field(default_factory=list)
    total_images: int = 0
    bounded: bool = False

    @property
    def images(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / self.images) if self.images else float("nan")

    @property
    def loss(self) -> float:
        return float(self.loss_sum / self.images) if self.images else float("nan")

    @property
    def top_k_accuracy(self) -> float | None:
        return float(self.top_k_hits / self.images) if self.top_k and self.images else None

    def metrics(self, class_names) -> dict:
        """The figures metrics.json and ``evaluate`` report."""
        out = {"test_accuracy": self.accuracy, "test_loss": self.loss, "test_images": self.images}
        if self.top_k:
            out[f"test_top{self.top_k}_accuracy"] = self.top_k_accuracy
        if self.bounded:
            out["test_images_in_part"] = self.total_images  # a bounded pass (test_steps): say so
        out["per_class_accuracy"] = per_class_from_confusion(self.confusion, class_names)
        return out

    def _update(self, logits: np.ndarray, labels: np.ndarray, loss_fn, offset: int, keep_wrong: int) -> None:
        labels = labels.astype(np.int64).reshape(-1)
        predicted = logits.argmax(axis=1)
        classes = self.confusion.shape[0]
        self.confusion += np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(
            classes, classes
        )
        # Keras losses average over the batch: times its size gives the sum
        self.loss_sum += float(loss_fn(labels, logits)) * len(labels)
        if self.top_k:
            top = np.argpartition(-logits, self.top_k - 1, axis=1)[:, : self.top_k]
            self.top_k_hits += int((top == labels[:, None]).any(axis=1).sum())
        if len(self.wrong) < keep_wrong:
            for i in np.flatnonzero(predicted != labels)[: keep_wrong - len(self.wrong)]:
                self.wrong.append((offset + int(i), int(labels[i]), int(predicted[i])))


def main_output_loss(model):
    """The loss ``model`` was compiled with for its main output; sparse cross-entropy on logits otherwise."""
    import keras

    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple)):
        loss = loss[0] if loss else None
    if isinstance(loss, str) or loss is None:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return loss


def evaluate_part(
    model, part, spec, *, batch_size: int = 256, max_steps: int | None = None, verbose: int = 0, keep_wrong: int = 36
) -> PartEvaluation:
    """One streamed pass of ``model`` over a data part (its test split), keeping only running counts.

    Args:
        model: a Keras model returning logits (the first output of a model with auxiliary heads).
        part: a data part (``ArrayPart`` in memory or a streamed part) with ``dataset(spec, ...)``.
        spec: the run's DataSpec (preprocessing, class count).
        batch_size: images per batch of the pipeline.
        max_steps: stop after this many batches (a quick look at a large test set); None: the whole part.
        verbose: 0 silent, 1 a progress bar with time left, 2 one line at the end.
        keep_wrong: how many misclassified images to remember (their positions) for the plot.
    """
    import keras

    from kerascnn.training.predict import predict_logits

    classes = int(spec.num_classes)
    result = PartEvaluation(
        np.zeros((classes, classes), np.int64),
        top_k=TOP_K if classes >= TOP_K_MIN_CLASSES else 0,
        total_images=len(part),
    )
    steps = math.ceil(len(part) / int(batch_size))
    ds = part.dataset(spec, batch_size=batch_size, training=False)
    if max_steps is not None and max_steps < steps:
        steps = int(max_steps)
        ds = ds.take(steps)
        result.bounded = True
    loss_fn = main_output_loss(model)
    progress = keras.utils.Progbar(steps, verbose=verbose, unit_name="batch") if verbose else None
    xs, ys, size, offset, done = [], [], 0, 0, 0

    def flush():
        nonlocal xs, ys, size, offset
        if xs:
            x, y = np.concatenate(xs), np.concatenate(ys)
            result._update(predict_logits(model, x, batch_size=batch_size), y, loss_fn, offset, keep_wrong)
            offset += len(y)
        xs, ys, size = [], [], 0

    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
        size += x.nbytes
        done += 1
        if size >= _CHUNK_BYTES:
            flush()
        if progress is not None:
            progress.update(done)
    flush()
    return result


def evaluate(
    run,
    dataset=None,
    *,
    data_dir=None,
    batch_size: int = 256,
    strategy: str = "auto",
    test_steps: int | None = None,
    verbose: int = 0,
) -> dict:
    """Evaluate a trained model on the test part of its dataset (or of ``dataset``).

    Args:
        run: a run directory, a ``TrainResult``, or a ``.keras`` file inside a run directory.
        dataset: evaluate on this dataset's test part instead (same number of classes); default: the
            dataset the run was trained on, split as in training.
        data_dir: TFDS data directory.
        batch_size: evaluation batch size.
        strategy: see :func:`kerascnn.training.strategy.get_strategy`.
        test_steps: evaluate on this many batches only (a quick look at a large test set); None: all.
        verbose: 0 silent, 1 a progress bar, 2 one line at the end.

    Returns:
        ``{"test_accuracy", "test_loss", "test_images", ["test_top5_accuracy",] "per_class_accuracy",
        "dataset", "checkpoint"}``; top-5 accuracy where the model has more than ten classes.
    """
    from kerascnn.data.streaming import reporting_bad_images
    from kerascnn.runs import load_trained, resolve_checkpoint
    from kerascnn.runs.dataset import prepare_run_data
    from kerascnn.training.compile import compile_model
    from kerascnn.training.strategy import get_strategy

    run = getattr(run, "path", run)
    checkpoint, _ = resolve_checkpoint(run)
    strat = get_strategy(strategy)
    with strat.scope():
        model, spec = load_trained(run, inference_only=True)
        compile_model(model)
    data = prepare_run_data(run, dataset=dataset, data_dir=data_dir, spec=spec)
    if data.num_classes != spec.num_classes:
        raise DataError(
            f"The model predicts {spec.num_classes} classes but dataset {data.name} has {data.num_classes}; "
            "evaluate on a dataset with the same classes."
        )
    if data.spec.image_shape[2] not in (1, 3):
        raise DataError(
            f"Dataset {data.name} has {data.spec.image_shape[2]}-channel images; only 1 or 3 are supported."
        )
    with reporting_bad_images():
        result = evaluate_part(
            model, data.test, data.spec, batch_size=batch_size, max_steps=test_steps, verbose=verbose
        )
    return {**result.metrics(spec.class_names), "dataset": data.name, "checkpoint": str(checkpoint)}
