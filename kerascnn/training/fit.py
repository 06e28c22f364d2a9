"""``fit``: train a zoo model on a dataset under a tf.distribute strategy and write a run directory.

Order matters: the strategy first (MultiWorkerMirroredStrategy must exist before any other TF op), then
everything a user can get wrong (settings, output directory, dataset, model build) is checked before
the run directory is created, so bad input never leaves a half-written run behind.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np

from kerascnn.data.streaming import BadImageError, reporting_bad_images
from kerascnn.errors import KerasCNNError
from kerascnn.training import assembly
from kerascnn.training.config import TrainConfig, default_verbose, load_hparams
from kerascnn.versions import library_versions


class TrainingError(KerasCNNError, RuntimeError):
    """Training cannot go on (the loss became NaN)."""


@dataclasses.dataclass
class TrainResult:
    """What ``fit`` returns: the run directory and its numbers (the trained model is in ``model``)."""

    path: Path  # the finished run directory
    metrics: dict  # as in metrics.json
    history: dict  # Keras history: key -> list per epoch (this call's epochs)
    config: TrainConfig  # resolved
    model: object  # the trained keras.Model (last epoch's weights)
    spec: object  # the DataSpec

    def __repr__(self):
        return f"TrainResult(path={str(self.path)!r}, test_accuracy={self.metrics.get('test_accuracy'):.4f})"


class _EpochTimer:
    """Seconds spent training in each epoch (validation excluded), for images_per_second."""

    def __init__(self):
        import keras

        outer = self

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer._start, outer._stopped = time.perf_counter(), False

            def on_test_begin(self, logs=None):
                outer._stop()

            def on_epoch_end(self, epoch, logs=None):
                outer._stop()

        self.callback = Timer()
        self.seconds: list[float] = []
        self._start, self._stopped = None, True

    def _stop(self):
        if not self._stopped and self._start is not None:
            self.seconds.append(time.perf_counter() - self._start)
            self._stopped = True


class _NotRetracing(logging.Filter):
    # Every fit builds a new model whose train function TensorFlow traces; from the fifth fit in one
    # process (folds, a notebook's grid) TensorFlow calls that "retracing", which is about one function
    # traced again and again, not this.
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _hide_retracing_warning() -> None:
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NotRetracing) for f in logger.filters):
        logger.addFilter(_NotRetracing())


def fit(
    model: str = "lenet",
    dataset="digits",
    *,
    hparams=None,
    config: TrainConfig | None = None,
    callbacks=None,
    **settings,
) -> TrainResult:
    """Train ``model`` on ``dataset`` and write a run directory; returns a :class:`TrainResult`.

    Args:
        model: a registered model name (``kerascnn.list_models()``).
        dataset: ``"digits"``, a TFDS name, a folder, or a ``kerascnn.data.RawDataset``.
        hparams: builder hyperparameters (dict or JSON/YAML file); may also hold lr/optimizer/batch_size.
        config: a full :class:`TrainConfig` (``model``/``dataset``/``settings`` are then ignored).
        callbacks: extra ``keras.callbacks.Callback`` objects, run after kerascnn's own.
        **settings: any :class:`TrainConfig` field, e.g. ``epochs=5, lr=0.01, out="runs/x"``;
            ``folds=K`` cross-validates instead (one run per fold) and returns a
            :class:`kerascnn.training.folds.CrossValidationResult`.

    Raises:
        KerasCNNError: bad settings, dataset or model (before anything is written), a finished run at
            ``out`` without ``overwrite=True``, or a NaN loss (the run directory is removed).
    """
    from kerascnn.data.raw import RawDataset

    raw_given = dataset if isinstance(dataset, RawDataset) else None
    if config is None:
        config = TrainConfig.from_settings(settings, model=model, dataset=raw_given.name if raw_given else str(dataset))
    if hparams is not None:
        config = dataclasses.replace(config, hparams=load_hparams(hparams))
    else:
        config = dataclasses.replace(config, hparams=load_hparams(config.hparams))
    cfg = config.resolve()  # unknown model and bad settings raise here
    _hide_retracing_warning()
    if cfg.folds and cfg.fold is None:  # cross-validation: one ordinary run per fold (kerascnn.training.folds)
        from kerascnn.training.folds import fit_folds

        return fit_folds(cfg, lambda fold_cfg, raw: fit(config=fold_cfg, dataset=raw, callbacks=callbacks), raw_given)
    return _Trainer(cfg, raw_given, list(callbacks or [])).run()


class _Trainer:
    def __init__(self, cfg: TrainConfig, raw=None, extra_callbacks=()):
        self.cfg = cfg
        self.raw = raw
        self.extra_callbacks = list(extra_callbacks)

    def run(self) -> TrainResult:
        cfg = self.cfg
        from kerascnn.training.strategy import get_strategy, is_chief

        strategy = get_strategy(cfg.strategy)  # first: multi-worker needs it before other TF ops
        self.chief = is_chief(strategy)
        from kerascnn.data.datasets import check_source
        from kerascnn.runs import lifecycle

        if self.raw is None:
            check_source(cfg.dataset)  # a missing folder is the answer, not "already holds a finished run"
        lock = None
        if self.chief:
            lifecycle.check_out_dir(cfg.out, overwrite=cfg.overwrite)
            # Before the data: a second fit on the same --out stops at once, not after listing a large folder.
            lock = lifecycle.lock_run(cfg.out)
        try:
            run, net, (train, val) = self._open(cfg, strategy, lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        try:
            return self._train(
                run,
                net,
                self.prepared.spec,
                self.data,
                train,
                val,
                strategy,
                strategy.num_replicas_in_sync,
                self.prepared.steps_per_execution,
                self.prepared.steps_per_epoch,
            )
        except BadImageError:
            raise  # the run resumes from its last finished epoch once the file is removed
        except KerasCNNError:
            lifecycle.abandon(run)
            raise
        finally:
            run.release()  # the lock on the run directory (a failed write keeps the run, unlocked)

    def _open(self, cfg, strategy, lock):
        """Data, model and pipelines prepared, then the run directory opened (created or resumed):
        ``(run, model, (train, val))``."""
        import keras

        from kerascnn.runs import lifecycle
        from kerascnn.training.strategy import tf_config_cluster, worker_index

        keras.utils.set_random_seed(cfg.seed)
        prepared = self.prepared = assembly.prepare(cfg, self.raw, strategy=strategy)
        self.data = data = prepared.data
        if self.chief and (cfg.verbose if cfg.verbose is not None else default_verbose()):
            for note in data.notes:  # files that were skipped (not images) or left out (--skip-bad-images)
                print(note, flush=True)
        replicas = strategy.num_replicas_in_sync
        with strategy.scope():
            self.assembly = assembly.assemble(cfg, prepared)
        net = self.assembly.model
        self.load_report, self.phases = self.assembly.load_report, self.assembly.phases
        from kerascnn.training import core_split

        self.core_split_parts = core_split.core_split_applies(net, replicas=replicas) if cfg.core_split == "auto" else 0
        if len(self.phases) > 1:
            self.core_split_parts = 0  # each phase recompiles; core split patches one compiled step
        if self.core_split_parts:
            core_split.enable_core_split(net, self.core_split_parts)
        self.strategy = strategy
        cluster = tf_config_cluster()  # (workers, index) under MultiWorkerMirroredStrategy
        self.shard = cluster if cluster and data.streaming and len(data.train) >= cluster[0] else None
        self.repeat_train = prepared.repeat_train
        train, val, _ = self._pipelines(net, start_epoch=0)
        run = lifecycle.open_run_dir(
            cfg.out,
            cfg.identity(),
            overwrite=cfg.overwrite,
            worker=None if self.chief else worker_index(strategy) or 1,
            data=data.info(),
            allow_data_change=cfg.allow_data_change,
            lock=lock,
        )
        return run, net, (train, val)

    def _configure(self, phase):
        """Freeze for ``phase`` and compile a fresh optimizer at its learning rate, over its epochs."""
        assembly.configure(self.assembly, self.cfg, self.prepared, phase)

    def _pipelines(self, net, *, start_epoch: int):
        """(train, val, None) pipelines; the training one starts after ``start_epoch`` epochs' data (resuming).
        The test part is evaluated on its own (``evaluate_part``): no test pipeline is built."""
        return assembly.pipelines(
            self.cfg,
            self.prepared,
            n_outputs=len(net.outputs),
            start_epoch=start_epoch,
            shard=self.shard,
            with_test=False,
        )

    def _callbacks(self, run, state, timer, monitor):
        import keras

        from kerascnn import runs
        from kerascnn.training.checkpoints import epoch_callback
        from kerascnn.training.iterator_release import deferred_iterator_release

        cfg = self.cfg
        callbacks = [
            keras.callbacks.TerminateOnNaN(),
            timer.callback,
            # One step per epoch: checkpoint (weights + optimizer state), history row, best and last.
            epoch_callback(run.work, state, monitor),
            deferred_iterator_release(),  # no pause at each epoch boundary (see the module)
            keras.callbacks.TensorBoard(str(run.work / runs.LOGS_DIR), write_graph=False),
        ]
        if cfg.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=monitor, mode="max", patience=int(cfg.early_stopping), restore_best_weights=False
                )
            )
        return callbacks + self.extra_callbacks

    def _write_config(self, run, spec, replicas, spe, strategy):
        from kerascnn import runs
        from kerascnn.fsutil import atomic_write_json
        from kerascnn.models import default_hyperparameters

        cfg = self.cfg
        # Every builder hyperparameter in force, defaults included (kernel_initializer, ...); hparams holds the chosen.
        model_hyperparameters = json.loads(
            json.dumps({**default_hyperparameters(cfg.model), **cfg.hparams}, default=str)
        )
        doc = {
            **cfg.to_dict(),
            "model_hyperparameters": model_hyperparameters,
            "resolved_input_shape": list(spec.input_shape),
            "num_classes": spec.num_classes,
            "strategy_class": type(strategy).__name__,
            "num_replicas": replicas,
            "resolved_steps_per_execution": spe,
            "core_split_parts": self.core_split_parts,
            "versions": library_versions(),
            "identity": cfg.identity(),
        }
        # how the data was fed: in memory or streamed, and which share of the files this worker reads
        doc["data"] = {
            **self.data.info(),
            "shard": list(self.shard) if self.shard else None,
            "statistics": spec.statistics,
        }
        if self.load_report is not None:
            report = self.load_report
            doc["init_from"] = {
                "path": report.source,
                "tag": report.tag,
                "sha256": report.sha256,
                "kind": report.kind,
                "loaded_layers": len(report.loaded),
                "loaded_params": report.loaded_params,
                "reinitialized": report.reinitialized,
                "skipped": report.skipped,
                "preprocessing": report.preprocessing,
            }
            doc["phases"] = [dataclasses.asdict(p) for p in self.phases]
        atomic_write_json(run.work / runs.CONFIG_FILE, doc)
        spec.save(run.work)

    def _resume(self, run, verbose):
        """The training state to continue from (a fresh one for a new run or one that cannot be resumed)."""
        from kerascnn.runs import lifecycle
        from kerascnn.training import checkpoints

        if not run.resumed:
            return run, checkpoints.TrainingState()
        state, note = checkpoints.recover(run.work)
        if state is None:
            if verbose:
                print(
                    f"Cannot resume {run.work} ({note or 'no saved epoch'}); training from the first epoch.", flush=True
                )
            run = lifecycle.start_over(run)
            return run, checkpoints.TrainingState()
        if verbose:
            where = (
                "training was finished; evaluating"
                if state.trained
                else f"from epoch {state.epochs + 1}/{self.cfg.epochs + int(self.cfg.fine_tune_epochs or 0)}"
            )
            print(f"Resuming {run.work} {where}" + (f" ({note})" if note else ""), flush=True)
        return run, state

    def _train(self, run, net, spec, data, train, val, strategy, replicas, spe, steps_per_epoch):
        from kerascnn import runs
        from kerascnn.runs import lifecycle
        from kerascnn.training import checkpoints
        from kerascnn.training.compile import accuracy_key

        cfg = self.cfg
        self.has_val = val is not None
        verbose = cfg.verbose if cfg.verbose is not None else default_verbose()
        run, state = self._resume(run, verbose)
        self._write_config(run, spec, replicas, spe, strategy)
        from kerascnn.training.report import FitReport

        report = FitReport(
            cfg,
            data,
            steps_per_epoch,
            verbose=verbose,
            chief=self.chief,
            dataset=cfg.dataset if self.raw is None else self.raw,
        )
        if not state.trained:
            report.start(first_epoch=state.epochs)
        done = state.epochs
        timer = _EpochTimer()
        monitor = ("val_" if self.has_val else "") + accuracy_key(net)
        start = time.perf_counter()
        this_call: dict = {}
        if verbose and self.chief and self.load_report is not None:
            print(self.load_report.summary(), flush=True)
        if not state.trained:
            from kerascnn.training.transfer import phase_of_checkpoint

            if state.last:  # restore in the phase that wrote it (its optimizer matches that phase's trainables)
                written_in = phase_of_checkpoint(self.phases, state.epochs)
                if written_in != self.assembly.configured_phase:
                    self._configure(written_in)
                checkpoints.restore(net, run.work / state.last)
            for phase in self.phases:
                if state.epochs >= phase.end_epoch:
                    continue
                if phase != self.assembly.configured_phase:
                    self._configure(phase)
                if verbose and len(self.phases) > 1 and self.chief:
                    print(
                        f"Phase {phase.number}: epochs {max(state.epochs, phase.first_epoch) + 1}-{phase.end_epoch}, "
                        f"lr {phase.lr:g}, {len(self.assembly.frozen)} layers frozen",
                        flush=True,
                    )
                callbacks = self._callbacks(run, state, timer, monitor) + report.callbacks()
                start_epoch = max(state.epochs, phase.first_epoch)
                if start_epoch and self.repeat_train:  # continue the data where the saved epoch left it
                    train = self._pipelines(net, start_epoch=start_epoch)[0]
                with reporting_bad_images():
                    history = net.fit(
                        train,
                        validation_data=val,
                        epochs=phase.end_epoch,
                        initial_epoch=start_epoch,
                        steps_per_epoch=steps_per_epoch if self.repeat_train else None,
                        validation_steps=cfg.eval_steps,
                        callbacks=callbacks,
                        verbose=verbose,
                        shuffle=False,
                    )  # the pipeline shuffles
                for key, values in history.history.items():
                    this_call.setdefault(key, []).extend(values)
                losses = history.history.get("loss", [])
                if (
                    losses
                    and not np.isfinite(losses[-1])
                    or net.stop_training
                    and any(not np.isfinite(v) for v in losses)
                ):
                    epoch = len(losses) + start_epoch
                    raise TrainingError(
                        f"The loss became NaN in epoch {epoch} (lr={phase.lr}, optimizer={cfg.optimizer}); training "
                        "diverged, nothing was saved. Lower --lr or choose another --optimizer."
                    )
                state = checkpoints.load_state(run.work) or state
            # From here on a kill resumes at the evaluation below, never at training.
            state = checkpoints.mark_trained(run.work, state)
        seconds = time.perf_counter() - start
        for name in (runs.BEST_CHECKPOINT, runs.LAST_CHECKPOINT):
            if (run.work / name).is_file():
                # Evaluate the checkpoint users will export: the best epoch (the last one without a best).
                checkpoints.load_model_weights(net, run.work / name)
                break
        checked = data.with_test_rechecked()  # test files that went bad while training: named, or left out
        if checked is not data:
            data = self.data = checked
            self.prepared = dataclasses.replace(self.prepared, data=checked)
        with reporting_bad_images():
            metrics = self._test_metrics(
                net, spec, data, checkpoints.history_of(state), timer, seconds, done, replicas, steps_per_epoch
            )
            metrics.update(report.check_results(net, metrics, state, tested=name))  # best_epoch, warnings
        if self.chief:
            self._plots(run, net, spec, data, metrics, state)
        from kerascnn.fsutil import atomic_write_json

        atomic_write_json(run.work / runs.METRICS_FILE, {k: v for k, v in metrics.items() if not k.startswith("_")})
        path = lifecycle.finish(run, overwrite=cfg.overwrite)
        metrics = {k: v for k, v in metrics.items() if not k.startswith("_")}
        report.final_line(metrics, path)
        return TrainResult(path=path, metrics=metrics, history=this_call, config=cfg, model=net, spec=spec)

    def _test_metrics(self, net, spec, data, history, timer, seconds, done, replicas, steps_per_epoch):
        from kerascnn.training.compile import accuracy_key
        from kerascnn.training.evaluate import evaluate_part

        verbose = self.cfg.verbose if self.cfg.verbose is not None else default_verbose()
        counts = evaluate_part(
            net,
            data.test,
            spec,
            batch_size=self.cfg.batch_size,
            max_steps=self.cfg.test_steps,
            verbose=1 if verbose == 1 and self.chief else 0,
        )  # a bar on a terminal only
        epochs = len(history.get("loss", []))
        train_seconds = float(sum(timer.seconds))
        images_per_epoch = steps_per_epoch * self.cfg.batch_size if self.repeat_train else len(data.train)
        return {
            "model": self.cfg.model,
            "dataset": spec.dataset,
            **counts.metrics(spec.class_names),
            "epochs": int(epochs),
            "resumed_from_epoch": int(done),
            "seconds": round(seconds, 3),
            "train_seconds": round(train_seconds, 3),
            "images_per_second": round(images_per_epoch * len(timer.seconds) / train_seconds, 1)
            if train_seconds
            else None,
            "train_seconds_per_epoch": [round(t, 4) for t in timer.seconds],
            "best_val_accuracy": max(history.get("val_" + accuracy_key(net), [float("nan")])) if self.has_val else None,
            "num_replicas": int(replicas),
            "streaming": data.streaming,
            "bad_images_skipped": data.bad_images.count,
            "_counts": counts,
        }

    def _plots(self, run, net, spec, data, metrics, state):
        from kerascnn import runs
        from kerascnn.training import plots
        from kerascnn.training.checkpoints import history_of
        from kerascnn.training.compile import accuracy_key

        plots.plot_learning_curves(history_of(state), run.work / runs.LEARNING_CURVES, accuracy_key=accuracy_key(net))
        counts = metrics["_counts"]
        plots.plot_confusion_matrix(counts.confusion, spec.class_names, run.work / runs.CONFUSION_MATRIX)
        wrong = np.array([w[0] for w in counts.wrong], np.int64)  # decode only the images the plot shows
        if data.bad_images.count and hasattr(data.test, "paths"):
            # positions in the evaluated stream, which left the bad files out: back to positions in the part
            wrong = np.flatnonzero([path not in data.bad_images.names for path in data.test.paths])[wrong]
        plots.plot_misclassified(
            data.test.images(wrong),
            np.array([w[1] for w in counts.wrong], np.int64),
            np.array([w[2] for w in counts.wrong], np.int64),
            spec.class_names,
            run.work / runs.MISCLASSIFIED,
        )
