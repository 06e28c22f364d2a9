"""Keras callbacks for tests of trial processes: importable (so picklable) and acting on their process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import keras


class RecordProcess(keras.callbacks.Callback):
    """Append "<process id> <core split slices>" of the process that trains to ``path``, one line per fit."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def on_train_begin(self, logs=None):
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()} {getattr(self.model, '_kerascnn_core_split', 0)}\n")


class KillFirstTrainingProcess(keras.callbacks.Callback):
    """SIGKILL the first process that starts training (as the kernel's OOM killer would); later ones train."""

    def __init__(self, marker):
        super().__init__()
        self.marker = str(marker)

    def on_train_begin(self, logs=None):
        try:
            Path(self.marker).touch(exist_ok=False)
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


class RecordWeightDigests(keras.callbacks.Callback):
    """Append "begin <digest>" and "end <digest>" of the model's weights to ``path`` around each fit."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def _write(self, when):
        import hashlib

        digest = hashlib.sha256(b"".join(w.tobytes() for w in self.model.get_weights())).hexdigest()[:16]
        with open(self.path, "a") as f:
            f.write(f"{when} {digest}\n")

    def on_train_begin(self, logs=None):
        self._write("begin")

    def on_train_end(self, logs=None):
        self._write("end")


class KillAtEpochEnd(keras.callbacks.Callback):
    """SIGKILL this process after epoch ``epoch`` (0-based) of its ``fit``-th training (1-based), once.

    Given to ``kerascnn.fit(..., folds=K)``, the same instance sees every fold's training, so ``fit=2``
    kills the process in the middle of fold 2, after kerascnn's own callbacks saved that epoch.
    """

    def __init__(self, marker, *, fit: int, epoch: int):
        super().__init__()
        self.marker, self.fit, self.epoch, self.started = str(marker), fit, epoch, 0

    def on_train_begin(self, logs=None):
        self.started += 1

    def on_epoch_end(self, epoch, logs=None):
        if self.started == self.fit and epoch == self.epoch:
            try:
                Path(self.marker).touch(exist_ok=False)
            except FileExistsError:
                return
            os.kill(os.getpid(), signal.SIGKILL)


class InterruptAtEpochEnd(keras.callbacks.Callback):
    """Ctrl-C (KeyboardInterrupt) at the end of epoch ``epoch`` (0-based), after kerascnn's own callbacks
    committed it."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


class RecordModelSettings(keras.callbacks.Callback):
    """Append the training model's input shape, dtype policy and learning rate to ``path`` (JSON lines)."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def on_train_begin(self, logs=None):
        import json

        with open(self.path, "a") as f:
            f.write(
                json.dumps(
                    {
                        "input": list(self.model.inputs[0].shape[1:]),
                        "policy": self.model.layers[-1].dtype_policy.name,
                        "lr": float(self.model.optimizer.learning_rate),
                    }
                )
                + "\n"
            )
