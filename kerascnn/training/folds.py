"""``fit(..., folds=K)``: stratified k-fold cross-validation as K ordinary runs inside one run directory.

    runs/lenet-5fold/            (runs/lenet-5fold.partial/ while the folds train)
        config.json              the settings, resolved, as in every run directory
        fold1/ ... fold5/        one complete run per fold: evaluate, export and predict work on each
        folds.json               per fold and mean ± std: validation accuracy (last and best epoch), test accuracy
        fold_curves.png          every fold's validation accuracy and losses per epoch, and their mean

Fold ``i`` trains on K-1 of K stratified slices of the training part and validates on the i-th
(:mod:`kerascnn.data.folds`); the test part is never touched and every fold reports its test accuracy
on it. Resuming works at two levels: finished folds are kept, and the fold in progress resumes from its
last finished epoch like any run (``kerascnn.runs.lifecycle``). The spread of the folds' validation
accuracies is the lesson: on a small set one validation split can be off by points.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from kerascnn import runs
from kerascnn.errors import KerasCNNError
from kerascnn.settings import caller_name
from kerascnn.training.config import TrainConfig, default_verbose


@dataclasses.dataclass
class CrossValidationResult:
    """What ``fit(..., folds=K)`` returns: the run directory, the summary (folds.json) and each fold's run."""

    path: Path  # the finished run directory holding fold1/ ... foldK/
    metrics: dict  # as in folds.json
    fold_paths: list  # the folds' run directories, in order
    config: TrainConfig  # resolved (fold=None)

    def __repr__(self):
        m = self.metrics
        return (
            f"CrossValidationResult(path={str(self.path)!r}, folds={m['folds']}, "
            f"val_accuracy={m['val_accuracy_mean']:.4f} ± {m['val_accuracy_std']:.4f})"
        )


def fold_dir(work: Path, fold: int) -> Path:
    return Path(work) / f"fold{fold}"


def fit_folds(cfg: TrainConfig, train_fold, raw=None) -> CrossValidationResult:
    """Train ``cfg.folds`` runs, one per fold, in ``cfg.out``; see the module docstring.

    Args:
        cfg: a resolved TrainConfig with ``folds >= 2`` and ``fold`` None.
        train_fold: ``train_fold(fold_cfg, raw)`` trains one fold as an ordinary run
            (:func:`kerascnn.training.fit.fit` hands itself in, with the caller's callbacks).
        raw: the dataset as a ``RawDataset`` (else ``cfg.dataset`` is loaded once, for all folds).
    """
    from kerascnn.data.datasets import check_source
    from kerascnn.data.folds import check_folds
    from kerascnn.data.prepare import training_labels
    from kerascnn.runs.lifecycle import check_out_dir, lock_run
    from kerascnn.training.strategy import tf_config_cluster

    if tf_config_cluster():
        raise KerasCNNError(
            f"{caller_name('folds')} trains on one host; unset TF_CONFIG (or train the folds one by one)."
        )
    if raw is None:
        check_source(cfg.dataset)
    check_out_dir(cfg.out, overwrite=cfg.overwrite)
    # Each fold reads the data through prepare_data, as fit does (the same pixels); arrays are read once here.
    class_names, y_train, raw = training_labels(
        raw if raw is not None else cfg.dataset, data_dir=cfg.data_dir, test_split=cfg.test_split
    )
    check_folds(y_train, cfg.folds, class_names)  # before any file is written
    verbose = cfg.verbose if cfg.verbose is not None else default_verbose()
    final = Path(cfg.out)
    lock = lock_run(final)
    try:
        return _fit_locked(cfg, train_fold, raw, final, verbose)
    finally:
        lock.release()


def _fit_locked(cfg, train_fold, raw, final, verbose) -> CrossValidationResult:
    from kerascnn.data.streaming import BadImageError
    from kerascnn.runs.lifecycle import DataChangedError

    work, resumed = _open(final, cfg)
    fold_paths = []
    try:
        for fold in range(1, cfg.folds + 1):
            out = fold_dir(work, fold)
            if runs.is_finished_run(out):
                if verbose:
                    print(f"Fold {fold}/{cfg.folds}: already trained ({out})", flush=True)
            else:
                if verbose:
                    print(
                        f"Fold {fold}/{cfg.folds}: validating on slice {fold} of {cfg.folds} of the training part",
                        flush=True,
                    )
                fold_cfg = dataclasses.replace(cfg, fold=fold, out=str(out), overwrite=False)
                train_fold(fold_cfg, raw)
            fold_paths.append(out)
        summary, histories = _summarize(cfg, fold_paths)
        from kerascnn.fsutil import atomic_write_json
        from kerascnn.training.plots import plot_fold_curves

        plot_fold_curves(histories, work / runs.FOLD_CURVES, folds_summary=summary)
        atomic_write_json(work / runs.FOLDS_SUMMARY, summary)
    except (BadImageError, DataChangedError):
        raise  # the folds trained so far are kept: a rerun resumes once the file is fixed (or the change allowed)
    except KerasCNNError:
        # Bad input or a diverged fold: a rerun with the same settings would fail the same way.
        shutil.rmtree(work, ignore_errors=True)
        raise
    from kerascnn.runs.lifecycle import RunDir, finish

    path = finish(RunDir(final=final, work=work, resumed=resumed), overwrite=cfg.overwrite)
    if verbose:
        print(format_summary(summary) + f"\nrun saved to {path}", flush=True)
    return CrossValidationResult(
        path=path, metrics=summary, fold_paths=[fold_dir(path, i) for i in range(1, cfg.folds + 1)], config=cfg
    )


def _open(final: Path, cfg: TrainConfig) -> tuple[Path, bool]:
    """Create ``<out>.partial`` (with config.json) or reopen it when it holds the same settings' folds."""
    from kerascnn.fsutil import atomic_write_json
    from kerascnn.runs.lifecycle import keep_if_same_settings
    from kerascnn.versions import library_versions

    work = runs.partial_path(final)
    identity = cfg.identity()
    resumed = keep_if_same_settings(work, identity, overwrite=cfg.overwrite, what="cross-validation")
    work.mkdir(parents=True, exist_ok=True)
    if not resumed:
        atomic_write_json(
            work / runs.CONFIG_FILE, {**cfg.to_dict(), "versions": library_versions(), "identity": identity}
        )
    return work, resumed


def _read_history(run_dir: Path) -> dict:
    history: dict = {}
    with open(run_dir / runs.HISTORY_FILE, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                if k != "epoch" and v not in (None, "", "NA"):
                    history.setdefault(k, []).append(float(v))
    return history


def _main_val_accuracy_key(history: dict, best: float | None) -> str | None:
    """``val_accuracy``, or with auxiliary heads the validation accuracy column fit monitored."""
    if "val_accuracy" in history:
        return "val_accuracy"
    keys = sorted(k for k in history if k.startswith("val_") and k.endswith("accuracy"))
    for k in keys:
        if best is not None and np.isclose(max(history[k]), best):
            return k
    return keys[0] if keys else None


def _round(value):
    return None if value is None else round(float(value), 6)


def _mean_std(values) -> tuple[float, float]:
    # The population standard deviation (numpy's default), as scikit-learn's cross_val_score examples report.
    a = np.asarray(values, dtype=np.float64)
    return round(float(a.mean()), 6), round(float(a.std()), 6)


def _summarize(cfg: TrainConfig, fold_paths: list) -> tuple[dict, list]:
    rows, histories = [], []
    for fold, path in enumerate(fold_paths, start=1):
        metrics = json.loads((path / runs.METRICS_FILE).read_text())
        data = json.loads((path / runs.CONFIG_FILE).read_text()).get("data", {})
        history = _read_history(path)
        key = _main_val_accuracy_key(history, metrics.get("best_val_accuracy"))
        histories.append(
            {
                "loss": history.get("loss", []),
                "val_loss": history.get("val_loss", []),
                "val_accuracy": history.get(key, []) if key else [],
            }
        )
        rows.append(
            {
                "fold": fold,
                "run": path.name,
                "train_images": int(data.get("train_images", 0)),
                "val_images": int(data.get("val_images", 0)),
                "val_accuracy": round(history[key][-1], 6) if key else None,  # the last epoch's
                "best_val_accuracy": _round(metrics.get("best_val_accuracy")),
                "test_accuracy": _round(metrics["test_accuracy"]),  # of the best-validation checkpoint
                "epochs": metrics["epochs"],
            }
        )
    summary = {"model": cfg.model, "dataset": cfg.dataset, "folds": cfg.folds, "per_fold": rows}
    for key in ("val_accuracy", "best_val_accuracy", "test_accuracy"):
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            summary[f"{key}_mean"], summary[f"{key}_std"] = _mean_std(values)
    return summary, histories


def format_summary(summary: dict) -> str:
    """The table ``kerascnn fit --folds`` prints at the end."""
    lines = [f"{'fold':>4}  {'val acc (last epoch)':>20}  {'best val acc':>12}  {'test acc':>8}  {'epochs':>6}"]
    for r in summary["per_fold"]:
        lines.append(
            f"{r['fold']:>4}  {r['val_accuracy']:>20.4f}  {r['best_val_accuracy']:>12.4f}  "
            f"{r['test_accuracy']:>8.4f}  {r['epochs']:>6}"
        )
    lines.append(
        f"{'mean':>4}  {summary['val_accuracy_mean']:>13.4f} ± {summary['val_accuracy_std']:.4f}  "
        f"{summary['best_val_accuracy_mean']:>12.4f}  {summary['test_accuracy_mean']:>8.4f}"
    )
    lines.append(
        f"{summary['folds']}-fold validation accuracy: {summary['val_accuracy_mean']:.4f} ± "
        f"{summary['val_accuracy_std']:.4f} (mean ± std over folds)"
    )
    return "\n".join(lines)
