"""One checkpoint step per epoch: weights, optimizer state, history row, best and last, committed by one rename.

Inside a run's working directory (``<out>.partial``):

    checkpoints/epoch-0005.keras   the model after 5 epochs with its optimizer state (a Keras .keras file)
    training_state.json            the commit record: epochs done, every epoch's history row, which
                                   checkpoint is the last and which the best, the best score, and
                                   whether training is over (the rest is evaluation)
    last.keras, best.keras         hard links to the checkpoint files the record names (no copy)
    history.csv                    the record's rows, rewritten from it

An epoch ends with: one ``model.save`` into a temporary name, fsync, rename to ``epoch-NNNN.keras``;
then the record is replaced in one rename (the commit); only then are ``last.keras``/``best.keras``
relinked, ``history.csv`` rewritten and checkpoints the record no longer names deleted. A kill before
the commit loses only that epoch, a kill after it loses nothing, and everything after the commit is
redone from the record when the run resumes, so the history, the checkpoints and the resume point
can never disagree. Writing is the only cost: one file per epoch (for ResNet-18 with momentum,
tens of megabytes); best and last share its bytes.

The record keeps the previous epoch's checkpoint too: a checkpoint that does not read back (a torn
file after a power cut, a full disk) is detected by its zip checksums on resume, and the run resumes
from the previous good one, with a message, never a traceback.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import shutil
import zipfile
from pathlib import Path

from kerascnn.fsutil import atomic_write_json, atomic_write_text
from kerascnn.runs import BEST_CHECKPOINT, CHECKPOINTS_DIR, HISTORY_FILE, LAST_CHECKPOINT, STATE_FILE


@dataclasses.dataclass
class TrainingState:
    """What ``training_state.json`` holds (paths relative to the working directory)."""

    epochs: int = 0  # epochs finished and saved
    rows: list = dataclasses.field(default_factory=list)  # one history row (metric -> value) per epoch
    last: str | None = None  # checkpoint after the last finished epoch
    previous: str | None = None  # the one before, kept in case ``last`` does not read back
    best: str | None = None  # checkpoint of the best epoch so far (by ``monitor``)
    best_value: float | None = None
    monitor: str | None = None
    trained: bool = False  # training is over: a resumed run only evaluates

    @property
    def previous_epochs(self) -> int:
        return _epoch_of(self.previous) if self.previous else 0

    @property
    def best_epoch(self) -> int | None:
        """The 1-based epoch whose checkpoint is ``best`` (None without one)."""
        return _epoch_of(self.best) if self.best else None


def _epoch_of(name: str) -> int:
    return int(Path(name).stem.split("-")[1])


def checkpoint_name(epochs: int) -> str:
    return f"{CHECKPOINTS_DIR}/epoch-{epochs:04d}.keras"


def load_state(work) -> TrainingState | None:
    """The committed record of ``work``, or None when there is none (or it does not parse)."""
    try:
        doc = json.loads((Path(work) / STATE_FILE).read_text())
        return TrainingState(**{f.name: doc[f.name] for f in dataclasses.fields(TrainingState) if f.name in doc})
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def readable(path) -> bool:
    """True when ``path`` is a whole .keras file: a zip whose members all pass their CRC check."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None and "model.weights.h5" in archive.namelist()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def recover(work) -> tuple[TrainingState | None, str | None]:
    """The record of ``work`` made consistent on disk, or None to start over; and a note for the user.

    Checks that the checkpoints the record relies on read back, falls back to the previous epoch when the
    last one does not, then redoes everything that follows a commit (links, history.csv, cleanup).
    """
    work = Path(work)
    state = load_state(work)
    if state is None:
        return None, None
    note = None
    if state.trained:
        # Evaluation needs best.keras (or last.keras) only; the per-epoch files may be gone already.
        if any(readable(work / name) for name in (BEST_CHECKPOINT, LAST_CHECKPOINT)):
            _write_history(work, state.rows)
            return state, None
        state.trained = False
        note = "its saved models do not read back"
        if state.last and not (work / state.last).is_file():
            return None, note
    if state.last and not readable(work / state.last):
        lost = state.epochs
        if state.previous and readable(work / state.previous):
            state.epochs = state.previous_epochs
            state.rows = state.rows[: state.epochs]
            state.last, state.previous = state.previous, None
            note = f"the checkpoint of epoch {lost} is damaged; epoch {lost} is trained again"
        else:
            return None, f"the checkpoint of epoch {lost} is damaged and no earlier one is left"
    if state.best and not readable(work / state.best):
        state.best, state.best_value = None, None  # the next epoch becomes the best
    if note:
        atomic_write_json(work / STATE_FILE, dataclasses.asdict(state))
    _after_commit(work, state)
    return state, note


def _write_history(work: Path, rows: list) -> None:
    keys = sorted({k for row in rows for k in row})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for epoch, row in enumerate(rows):
        writer.writerow([epoch, *(row.get(k, "NA") for k in keys)])
    atomic_write_text(work / HISTORY_FILE, out.getvalue())


def _link(work: Path, source: str, name: str) -> None:
    """Point ``work/name`` at ``work/source`` in one rename (a hard link; a copy where links are not supported)."""
    target = work / name
    with contextlib.suppress(OSError):
        if os.path.samefile(work / source, target):
            return
    tmp = work / f".{name}.link-tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(work / source, tmp)
    except OSError:
        shutil.copyfile(work / source, tmp)
    os.replace(tmp, target)  # (a no-op if both are links to one file: then tmp stays, and goes below)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


def _after_commit(work: Path, state: TrainingState) -> None:
    """Everything derived from the record: links, history.csv, and removing checkpoints it no longer names."""
    if state.last:
        _link(work, state.last, LAST_CHECKPOINT)
    if state.best:
        _link(work, state.best, BEST_CHECKPOINT)
    else:
        with contextlib.suppress(FileNotFoundError):
            (work / BEST_CHECKPOINT).unlink()
    _write_history(work, state.rows)
    keep = {state.last, state.previous, state.best}
    folder = work / CHECKPOINTS_DIR
    if folder.is_dir():
        for path in folder.iterdir():
            if f"{CHECKPOINTS_DIR}/{path.name}" not in keep:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _commit(work: Path, state: TrainingState) -> None:
    atomic_write_json(work / STATE_FILE, dataclasses.asdict(state), durable=True)
    _after_commit(work, state)


def _save_model(model, work: Path, name: str) -> None:
    """``model.save`` (weights and optimizer state) into ``name`` through a temporary file, fsync and rename."""
    final = work / name
    final.parent.mkdir(exist_ok=True)
    tmp = final.with_name(f".{final.stem}.tmp.keras")  # Keras wants the .keras suffix
    try:
        model.save(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException as e:  # a full disk: no torn file left to take the space the next try needs
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.filename is None:
            from kerascnn.fsutil import naming

            raise naming(e, final) from e
        raise


def mark_trained(work, state: TrainingState) -> TrainingState:
    """Commit "training is over": a kill during evaluation, plots or the final rename resumes at evaluation."""
    work = Path(work)
    state = dataclasses.replace(state, trained=True, previous=None)
    _commit(work, state)
    shutil.rmtree(work / CHECKPOINTS_DIR, ignore_errors=True)  # best/last are links: their bytes stay
    return state


def restore(model, path) -> None:
    """Load weights and optimizer state (moments, the step count schedules follow) saved by this module.

    The optimizer is built first: Keras builds it only when training starts, and loading into an unbuilt
    one silently skips its variables (training would resume with a fresh optimizer).
    """
    with model.distribute_strategy.scope():
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(path)


def load_model_weights(model, path) -> None:
    """Load only the model's weights from a checkpoint of this module (for evaluation, not to train on).

    The optimizer's saved state is skipped on purpose: its variables may belong to another set of
    trainable weights (a fine-tuning phase) and evaluation never uses them. (Keras' ``load_weights``
    would warn or fail on them; ``objects_to_skip`` is how Keras itself skips parts of a model.)
    """
    from kerascnn.compat import load_weights_only

    load_weights_only(model, path, skip=[model.optimizer])


def history_of(state: TrainingState) -> dict:
    """The rows as Keras' ``History.history``: metric -> list per epoch (missing values skipped)."""
    history: dict = {}
    for row in state.rows:
        for k, v in row.items():
            history.setdefault(k, []).append(v)
    return history


def epoch_callback(work, state: TrainingState, monitor: str):
    """A Keras callback that commits every finished epoch on top of ``state`` (restore it first: :func:`restore`)."""
    import keras
    import numpy as np

    work = Path(work)

    class EpochCheckpoint(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.state = dataclasses.replace(state, monitor=monitor)

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
            if not all(math.isfinite(v) for k, v in logs.items() if k.endswith("loss")):
                return  # a diverged epoch is never saved (fit reports the NaN and removes the run)
            s = self.state
            epochs = epoch + 1
            name = checkpoint_name(epochs)
            _save_model(self.model, work, name)
            value = logs.get(monitor)
            improved = value is not None and (s.best_value is None or value > s.best_value)
            self.state = dataclasses.replace(
                s,
                epochs=epochs,
                rows=[*s.rows[:epoch], logs],
                last=name,
                previous=s.last,
                best=name if improved else s.best,
                best_value=value if improved else s.best_value,
            )
            _commit(work, self.state)

    return EpochCheckpoint()
