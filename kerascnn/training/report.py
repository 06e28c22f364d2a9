"""What ``fit`` tells a user besides Keras' progress: a summary before training, a time estimate after the
first steps, and warnings where the numbers at the end would mislead.

    Data:  folder flowers/ (class subfolders of images, in memory): 138 train / 15 val / 37 test images, 5 classes
    Model: mobilenet_v2 at 64x64x3, batch 32, 5 steps per epoch, 3 epochs
    Time:  about 1.2 s per epoch, 4 s for 3 epochs (measured over the first steps)

The warnings (printed before the final line and kept in metrics.json under ``warnings``):

- one training step per epoch: every epoch is a single weight update;
- BatchNorm's moving statistics have not settled: the test images score far better with each batch's own
  statistics (training mode) than with the moving averages inference uses; the model predicts one class;
- test accuracy at chance level (what always answering the most frequent class scores).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

# Test images the BatchNorm check runs again in training mode: enough to see a gap of 15 points, a small
# share of the evaluation that precedes it.
BN_CHECK_IMAGES = 512
# Accuracy points between training-mode and inference-mode test accuracy that make the warning.
BN_GAP = 0.15
# Points above chance still called "chance level".
CHANCE_MARGIN = 0.02


def describe_source(dataset, data) -> str:
    """``dataset`` as given to fit, and what kind of source it is."""
    from kerascnn.data.raw import RawDataset

    how = "streamed from disk" if data.streaming else "in memory"
    if isinstance(dataset, RawDataset):
        return f"{dataset.name} (arrays given to fit, {how})"
    name = str(dataset)
    if name == "digits":
        return f"digits (scikit-learn's bundled 8x8 handwritten digits, {how})"
    path = Path(name).expanduser()
    if path.is_dir():
        from kerascnn.data.idx import find_idx_files

        if find_idx_files(path):
            kind = "IDX files"
        elif (path / "dataset_info.json").is_file() or any(path.glob("*/dataset_info.json")):
            kind = "a prepared TensorFlow Datasets folder"
        else:
            kind = "class subfolders of images"
        return f"folder {name} ({kind}, {how})"
    return f"{name} (TensorFlow Datasets, {how})"


def _shape(shape) -> str:
    return "x".join(str(int(d)) for d in shape)


class FitReport:
    """The summary, time estimate and warnings of one ``fit`` (printed only by the chief, when verbose)."""

    def __init__(self, cfg, data, steps_per_epoch: int, *, verbose: int, chief: bool = True, dataset=None):
        self.cfg, self.data, self.steps_per_epoch = cfg, data, int(steps_per_epoch)
        self.show = bool(verbose) and chief
        self.verbose = verbose
        self.dataset = cfg.dataset if dataset is None else dataset
        self.warnings: list[str] = []
        self.total_epochs = int(cfg.epochs) + int(getattr(cfg, "fine_tune_epochs", 0) or 0)
        self._remaining_epochs = self.total_epochs
        self.tested_epoch = None

    def _print(self, line: str) -> None:
        if self.show:
            print(line, flush=True)

    # --- before training -------------------------------------------------------------------------------
    def start(self, first_epoch: int = 0) -> None:
        """Print the summary (and the warnings known before training)."""
        cfg, data, spec = self.cfg, self.data, self.data.spec
        val = f" / {len(data.val):,} val" if data.val is not None else ""
        self._print(
            f"Data:  {describe_source(self.dataset, data)}: {len(data.train):,} train{val} / "
            f"{len(data.test):,} test images, {data.num_classes} classes, images {_shape(spec.image_shape)}"
        )
        resized = "" if tuple(spec.image_shape) == tuple(spec.input_shape) else " (resized)"
        remaining = self.total_epochs - first_epoch
        self._print(
            f"Model: {cfg.model} at {_shape(spec.input_shape)}{resized}, batch {cfg.batch_size}, "
            f"{self.steps_per_epoch:,} steps per epoch, {remaining} epoch{'s' * (remaining != 1)}"
        )
        if self.steps_per_epoch == 1 and not cfg.steps_per_epoch:
            n = len(data.train)
            smaller = 32 if n > 64 else max(1, n // 4)
            self.warn(
                f"one training step per epoch ({n:,} training images, batch {cfg.batch_size}): every epoch is "
                f"a single weight update, so {self.total_epochs} epochs are {self.total_epochs} updates. "
                f"A smaller batch trains far more per epoch (--batch-size {smaller}: "
                f"{-(-n // smaller)} steps per epoch)."
            )
        self._remaining_epochs = remaining

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._print(f"Warning: {message}")

    def callbacks(self) -> list:
        """Keras callbacks: the time estimate."""
        return [_time_estimate(self)] if self.show else []

    # --- after training --------------------------------------------------------------------------------
    def check_results(self, net, metrics: dict, state, tested: str) -> dict:
        """``best_epoch``, ``tested_checkpoint`` and ``warnings`` for metrics.json; prints the warnings."""
        from kerascnn.runs import BEST_CHECKPOINT

        best = tested == BEST_CHECKPOINT and state.best_epoch
        self.tested_epoch = int(state.best_epoch if best else state.epochs or metrics.get("epochs") or 0)
        y_true = np.asarray(self.data.test.labels)
        y_pred = np.asarray(metrics.get("_y_pred", []))
        accuracy = float(metrics["test_accuracy"])
        self.batch_norm_lags = False
        self._check_batch_norm(net, accuracy, y_pred)
        if not self.batch_norm_lags:  # the BatchNorm warning explains a chance-level score itself
            self._check_chance(accuracy, y_true, y_pred)
        return {"best_epoch": self.tested_epoch, "tested_checkpoint": tested, "warnings": list(self.warnings)}

    def final_line(self, metrics: dict, path) -> None:
        epochs = int(metrics["epochs"])
        which = f"the weights of epoch {self.tested_epoch} of {epochs}" + (
            f" (the best {self._monitor_words()})"
            if metrics.get("tested_checkpoint") == "best.keras" and self.tested_epoch != epochs
            else ""
        )
        self._print(
            f"Test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}) on "
            f"{metrics['test_images']} images with {which}; run saved to {path}"
        )

    def _monitor_words(self) -> str:
        return "validation accuracy" if self.data.val is not None else "training accuracy"

    def _check_chance(self, accuracy, y_true, y_pred) -> None:
        if len(y_true) == 0:
            return
        counts = np.bincount(y_true, minlength=self.data.num_classes)
        chance = max(1.0 / self.data.num_classes, counts.max() / len(y_true))
        names = self.data.class_names
        one_class = len(y_pred) and len(np.unique(y_pred)) == 1
        if accuracy <= chance + CHANCE_MARGIN:
            also = f" (every test image is predicted as {names[int(y_pred[0])]!r})" if one_class else ""
            self.warn(
                f"test accuracy {accuracy:.4f} is chance level: always answering the most frequent class "
                f"scores {chance:.4f}{also}. The model has learned nothing it can use on new images: train "
                "longer, check the learning rate (--lr), or check that the labels match the images."
            )

    def _check_batch_norm(self, net, accuracy, y_pred) -> None:
        from kerascnn.training.strategy import tf_config_cluster

        if not _has_batch_norm(net) or len(net.outputs) != 1 or tf_config_cluster():
            return  # (several workers: each would run the check on its own; the numbers are the chief's)
        # batches about as large as training's: their statistics are what the weights learnt to work with
        batch_size = min(256, max(16, int(self.cfg.batch_size)))
        training_mode = batch_statistics_accuracy(net, self.data, limit=BN_CHECK_IMAGES, batch_size=batch_size)
        if training_mode is None or training_mode - accuracy < BN_GAP:
            return
        names = self.data.class_names
        one_class = len(y_pred) and len(np.unique(y_pred)) == 1
        also = f", every one predicted as {names[int(y_pred[0])]!r}" if one_class else ""
        from kerascnn.models import default_hyperparameters

        momentum = {**default_hyperparameters(self.cfg.model), **self.cfg.hparams}.get("bn_momentum")
        lower = ""
        if isinstance(momentum, (int, float)) and momentum > 0.5:
            lower = (
                f"a lower --hparam bn_momentum={max(0.5, round(1 - (1 - float(momentum)) * 10, 2))} (now {momentum}), "
            )
        self.warn(
            f"BatchNorm's moving statistics have not settled: with them (inference mode, as exports and "
            f"`kerascnn predict` run the model) the test images score {accuracy:.4f}{also}; with each batch's "
            f"own statistics (training mode) the same weights score {training_mode:.4f}. The moving averages "
            f"lag behind the weights: train more epochs, or use {lower}a larger --batch-size, or a lower --lr."
        )
        self.batch_norm_lags = True


def _has_batch_norm(model) -> bool:
    import keras

    return any(
        isinstance(layer, keras.layers.BatchNormalization) or isinstance(layer, keras.Model) and _has_batch_norm(layer)
        for layer in model.layers
    )


def batch_statistics_accuracy(net, data, *, limit: int = BN_CHECK_IMAGES, batch_size: int = 256):
    """Accuracy on (up to ``limit``) test images with BatchNorm in training mode (each batch's statistics).

    A training-mode call updates the moving statistics; they are put back afterwards, so the model is
    unchanged. Dropout is active in that mode too, which can only lower this figure.
    """
    saved = [v.numpy() for v in net.non_trainable_variables]
    correct = total = 0
    try:
        for x, y in data.test.dataset(data.spec, batch_size=batch_size, training=False):
            logits = net(x, training=True)
            if isinstance(logits, (list, tuple)):
                logits = logits[0]
            correct += int((np.argmax(np.asarray(logits), axis=1) == np.asarray(y)).sum())
            total += len(y)
            if total >= limit:
                break
    except Exception:  # a check, never the reason a finished run fails
        return None
    finally:
        for variable, value in zip(net.non_trainable_variables, saved):
            variable.assign(value)
    return correct / total if total else None


def _time_estimate(report: FitReport):
    """A callback printing the expected time per epoch and for the run, from the steps after the first.

    The first step traces the model (seconds), so the clock starts when it ends; the estimate is printed
    after 3 s of steps or at the end of the first epoch, whichever comes first, or after the second epoch
    when an epoch is a single step.
    """
    import keras

    steps = report.steps_per_epoch

    class TimeEstimate(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.started = self.epoch_started = None
            self.done = False
            self.epochs_seen = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if self.done:
                return
            now = time.perf_counter()
            if self.started is None:
                self.started, self.first_batch = now, batch
                return
            measured = batch - self.first_batch
            if measured > 0 and (now - self.started >= 3.0 or batch + 1 >= steps):
                self._report((now - self.started) / measured * steps)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs_seen += 1
            self.started = None  # the next epoch's first step may wait for the pipeline: start again
            if not self.done and self.epochs_seen >= 2:
                self._report(time.perf_counter() - self.epoch_started)

        def _report(self, per_epoch):
            self.done = True
            total = per_epoch * report._remaining_epochs
            prefix = "\n" if report.verbose == 1 else ""  # after the progress bar's unfinished line
            report._print(
                f"{prefix}Time:  about {_seconds(per_epoch)} per epoch of training steps, "
                f"{_seconds(total)} for {report._remaining_epochs} epochs (validation not included)"
            )

    return TimeEstimate()


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
