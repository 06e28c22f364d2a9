"""``fit``: train a zoo model on a dataset under a tf.distribute strategy and write a run directory.

Order matters: the strategy first (MultiWorkerMirroredStrategy must exist before any other TF op), then
everything a user can get wrong (settings, output directory, dataset, model build) is checked before
the run directory is created, so bad input never leaves a half-written run behind.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from kerascnn.data.streaming import BadImageError, reporting_bad_images
from kerascnn.errors import KerasCNNError
from kerascnn.training.config import TrainConfig, cache_budget_bytes, canonical_settings, default_verbose, load_hparams
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


def fit(model: str = "lenet", dataset="digits", *, hparams=None, config: TrainConfig | None = None, callbacks=None,
        **settings) -> TrainResult:
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
        settings = canonical_settings(settings)  # learning_rate= is lr=
        unknown = set(settings) - {f.name for f in dataclasses.fields(TrainConfig)}
        if unknown:
            raise KerasCNNError(f"Unknown training setting(s): {', '.join(sorted(unknown))}.")
        config = TrainConfig(model=model, dataset=raw_given.name if raw_given else str(dataset), **settings)
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
        from kerascnn.training.strategy import get_strategy, is_chief, worker_index

        strategy = get_strategy(cfg.strategy)  # first: multi-worker needs it before other TF ops
        self.chief = is_chief(strategy)
        from kerascnn.data.datasets import check_source
        from kerascnn.runs.lifecycle import check_out_dir

        if self.raw is None:
            check_source(cfg.dataset)  # a missing folder is the answer, not "already holds a finished run"
        if self.chief:
            check_out_dir(cfg.out, overwrite=cfg.overwrite)
        import keras

        from kerascnn.data.prepare import prepare_data
        from kerascnn.models import build

        keras.utils.set_random_seed(cfg.seed)
        from kerascnn.training import transfer

        source = None
        if cfg.init_from:  # read (and check) the weights before anything is written
            from kerascnn.models.pretrained import read_weights

            source = read_weights(cfg.init_from)
        data = prepare_data(
            self.raw if self.raw is not None else cfg.dataset,
            lambda channels: transfer.source_input(source, cfg.model, cfg.input_shape, channels),
            data_dir=cfg.data_dir, val_split=cfg.val_split, test_split=cfg.test_split, fold=cfg.fold, folds=cfg.folds,
            cache_budget_bytes=cache_budget_bytes(cfg), skip_bad_images=cfg.skip_bad_images, seed=cfg.seed)
        self.data = data
        if self.chief and (cfg.verbose if cfg.verbose is not None else default_verbose()):
            for note in data.notes:  # files that were skipped (not images) or left out (--skip-bad-images)
                print(note, flush=True)
        spec, input_shape = data.spec, data.spec.input_shape
        self._check_resizable(spec)
        replicas = strategy.num_replicas_in_sync
        steps_per_epoch = int(cfg.steps_per_epoch or math.ceil(len(data.train) / cfg.batch_size))
        from kerascnn.training.compile import steps_per_execution

        spe = steps_per_execution(cfg.steps_per_execution, steps_per_epoch, strategy)
        with strategy.scope():
            # Keras' dtype policy is global; layers take it when they are created, so set it for the build only.
            previous_policy = keras.config.dtype_policy()
            keras.config.set_dtype_policy(cfg.precision)
            try:
                net = build(cfg.model, input_shape, data.num_classes, **cfg.hparams)
            finally:
                keras.config.set_dtype_policy(previous_policy)
            self.load_report = None
            if source is not None:
                from kerascnn.models.pretrained import load_weights

                # A source run's head means its own classes: other class names get a new head.
                source_classes = transfer.source_class_names(source)
                new_head = source_classes is not None and source_classes != list(spec.class_names)
                self.load_report = load_weights(net, cfg.init_from, source=source, new_head=new_head)
                spec = spec.with_pretrained_preprocessing(self.load_report.preprocessing)
                # The pipelines normalize with the data's spec: make it the weights' convention.
                data = self.data = dataclasses.replace(data, spec=spec)
            transfer.check_freeze(net, cfg.freeze)
            self.phases = transfer.phases(cfg)
            self.steps_per_epoch, self.spe = steps_per_epoch, spe
            self._configure(net, self.phases[0])
        from kerascnn.training import core_split

        self.core_split_parts = core_split.core_split_applies(net, replicas=replicas) if cfg.core_split == "auto" else 0
        if len(self.phases) > 1:
            self.core_split_parts = 0  # each phase recompiles; core split patches one compiled step
        if self.core_split_parts:
            core_split.enable_core_split(net, self.core_split_parts)
        self.strategy = strategy
        train, val, test = self._pipelines(spec, net, start_epoch=0)

        from kerascnn.runs import lifecycle

        run = lifecycle.open_run_dir(cfg.out, cfg.identity(), overwrite=cfg.overwrite,
                                     worker=None if self.chief else worker_index(strategy) or 1, data=data.info(),
                                     allow_data_change=cfg.allow_data_change)
        try:
            return self._train(run, net, spec, data, train, val, test, strategy, replicas, spe, steps_per_epoch)
        except BadImageError:
            raise  # the run resumes from its last finished epoch once the file is removed
        except KerasCNNError:
            lifecycle.abandon(run)
            raise
        finally:
            run.release()  # the lock on the run directory (a failed write keeps the run, unlocked)

    def _configure(self, net, phase):
        """Freeze for ``phase`` and compile a fresh optimizer at its learning rate, over its epochs."""
        from kerascnn.training.compile import compile_model
        from kerascnn.training.transfer import apply_freeze

        cfg = self.cfg
        self.frozen = apply_freeze(net, phase.freeze) if cfg.init_from else []
        with net.distribute_strategy.scope():
            compile_model(net, optimizer=cfg.optimizer, lr=phase.lr, schedule=cfg.schedule,
                          epochs=phase.end_epoch - phase.first_epoch, steps_per_epoch=self.steps_per_epoch,
                          label_smoothing=cfg.label_smoothing, weight_decay=cfg.weight_decay,
                          aux_loss_weight=cfg.aux_loss_weight, steps_per_execution=self.spe,
                          jit_compile=cfg.jit_compile)
        self.configured_phase = phase

    def _check_resizable(self, spec):
        """Run the preprocessing on one image now, so a shape it cannot handle fails before any file."""
        from kerascnn.data.spec import preprocess
        from kerascnn.errors import DataError

        try:
            out = preprocess(np.zeros((1, *spec.image_shape), np.uint8), spec)
        except Exception as e:
            raise DataError(
                f"Cannot resize {spec.image_shape} images to the model input {spec.input_shape}: "
                f"{str(e).splitlines()[0][:200]}"
            ) from None
        if tuple(out.shape[1:]) != tuple(spec.input_shape):
            raise DataError(f"Preprocessing gives {tuple(out.shape[1:])}, the model needs {spec.input_shape}.")

    def _pipelines(self, spec, net, *, start_epoch: int):
        """train/val/test pipelines; the training one starts after ``start_epoch`` epochs' data (resuming)."""
        from kerascnn.data.augmentation import augmentation_layers
        from kerascnn.training.compile import with_multi_output_labels
        from kerascnn.training.strategy import tf_config_cluster

        cfg = self.cfg
        data = self.data
        cluster = tf_config_cluster()  # (workers, index) under MultiWorkerMirroredStrategy
        shard = cluster if cluster and data.streaming and len(data.train) >= cluster[0] else None
        self.shard = shard
        # Streams repeat (every worker takes exactly steps_per_epoch steps, even from uneven shards);
        # arrays repeat only when --steps-per-epoch bounds the epochs.
        self.repeat_train = data.streaming or bool(cfg.steps_per_epoch)
        per_worker_batch = cfg.batch_size // (shard[0] if shard else 1)
        skip = start_epoch * self.steps_per_epoch * per_worker_batch if self.repeat_train else 0
        train, val, test = data.pipelines(batch_size=cfg.batch_size, seed=cfg.seed,
                                          augment=augmentation_layers(cfg.augment, spec, cfg.seed), shard=shard,
                                          repeat_train=self.repeat_train, skip_train=skip,
                                          cache_budget_bytes=cache_budget_bytes(cfg))
        n_out = len(net.outputs)
        return (with_multi_output_labels(train, n_out), with_multi_output_labels(val, n_out) if val is not None else None,
                with_multi_output_labels(test, n_out))

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
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=int(cfg.early_stopping),
                                                           restore_best_weights=False))
        return callbacks + self.extra_callbacks

    def _write_config(self, run, spec, replicas, spe, strategy):
        from kerascnn import runs
        from kerascnn.fsutil import atomic_write_json

        from kerascnn.models import default_hyperparameters

        cfg = self.cfg
        # Every builder hyperparameter in force, defaults included (kernel_initializer, ...); hparams holds the chosen.
        model_hyperparameters = json.loads(json.dumps({**default_hyperparameters(cfg.model), **cfg.hparams}, default=str))
        doc = {**cfg.to_dict(), "model_hyperparameters": model_hyperparameters, "resolved_input_shape": list(spec.input_shape), "num_classes": spec.num_classes,
               "strategy_class": type(strategy).__name__, "num_replicas": replicas,
               "resolved_steps_per_execution": spe, "core_split_parts": self.core_split_parts, "versions": library_versions(), "identity": cfg.identity()}
        # how the data was fed: in memory or streamed, and which share of the files this worker reads
        doc["data"] = {**self.data.info(), "shard": list(self.shard) if self.shard else None,
                       "statistics": spec.statistics}
        if self.load_report is not None:
            report = self.load_report
            doc["init_from"] = {"path": report.source, "sha256": report.sha256, "kind": report.kind,
                                "loaded_layers": len(report.loaded), "loaded_params": report.loaded_params,
                                "reinitialized": report.reinitialized, "skipped": report.skipped,
                                "preprocessing": report.preprocessing}
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
                print(f"Cannot resume {run.work} ({note or 'no saved epoch'}); training from the first epoch.", flush=True)
            run = lifecycle.start_over(run)
            return run, checkpoints.TrainingState()
        if verbose:
            where = ("training was finished; evaluating" if state.trained
                     else f"from epoch {state.epochs + 1}/{self.cfg.epochs + int(self.cfg.fine_tune_epochs or 0)}")
            print(f"Resuming {run.work} {where}" + (f" ({note})" if note else ""), flush=True)
        return run, state

    def _train(self, run, net, spec, data, train, val, test, strategy, replicas, spe, steps_per_epoch):
        from kerascnn import runs
        from kerascnn.runs import lifecycle
        from kerascnn.training import checkpoints
        from kerascnn.training.compile import accuracy_key

        cfg = self.cfg
        self.has_val = val is not None
        verbose = cfg.verbose if cfg.verbose is not None else default_verbose()
        run, state = self._resume(run, verbose)
        self._write_config(run, spec, replicas, spe, strategy)
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
                if written_in != self.configured_phase:
                    self._configure(net, written_in)
                checkpoints.restore(net, run.work / state.last)
            for phase in self.phases:
                if state.epochs >= phase.end_epoch:
                    continue
                if phase != self.configured_phase:
                    self._configure(net, phase)
                if verbose and len(self.phases) > 1 and self.chief:
                    print(f"Phase {phase.number}: epochs {max(state.epochs, phase.first_epoch) + 1}-{phase.end_epoch}, "
                          f"lr {phase.lr:g}, {len(self.frozen)} layers frozen", flush=True)
                callbacks = self._callbacks(run, state, timer, monitor)
                start_epoch = max(state.epochs, phase.first_epoch)
                if start_epoch and self.repeat_train:  # continue the data where the saved epoch left it
                    train = self._pipelines(spec, net, start_epoch=start_epoch)[0]
                with reporting_bad_images():
                    history = net.fit(train, validation_data=val, epochs=phase.end_epoch, initial_epoch=start_epoch,
                                      steps_per_epoch=steps_per_epoch if self.repeat_train else None,
                                      validation_steps=cfg.eval_steps, callbacks=callbacks, verbose=verbose,
                                      shuffle=False)  # the pipeline shuffles
                for key, values in history.history.items():
                    this_call.setdefault(key, []).extend(values)
                losses = history.history.get("loss", [])
                if losses and not np.isfinite(losses[-1]) or net.stop_training and any(not np.isfinite(v) for v in losses):
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
            test = self._pipelines(spec, net, start_epoch=0)[2]
        with reporting_bad_images():
            metrics = self._test_metrics(net, spec, data, test, checkpoints.history_of(state), timer, seconds, done,
                                         replicas, steps_per_epoch)
        if self.chief:
            self._plots(run, net, spec, data, metrics, state)
        from kerascnn.fsutil import atomic_write_json

        atomic_write_json(run.work / runs.METRICS_FILE, {k: v for k, v in metrics.items() if not k.startswith("_")})
        path = lifecycle.finish(run, overwrite=cfg.overwrite)
        metrics = {k: v for k, v in metrics.items() if not k.startswith("_")}
        if verbose and self.chief:
            print(f"Test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}) on "
                  f"{metrics['test_images']} images after {metrics['epochs']} epochs; run saved to {path}", flush=True)
        return TrainResult(path=path, metrics=metrics, history=this_call, config=cfg, model=net, spec=spec)

    def _test_metrics(self, net, spec, data, test, history, timer, seconds, done, replicas, steps_per_epoch):
        from kerascnn.training.compile import accuracy_key
        from kerascnn.training.evaluate import per_class_accuracy, predict_part

        result = net.evaluate(test, verbose=0, return_dict=True)
        y_test = data.test.labels
        y_pred = predict_part(net, data.test, spec).argmax(axis=1)
        epochs = len(history.get("loss", []))
        train_seconds = float(sum(timer.seconds))
        images_per_epoch = steps_per_epoch * self.cfg.batch_size if self.repeat_train else len(data.train)
        return {
            "model": self.cfg.model,
            "dataset": spec.dataset,
            "test_accuracy": float(result[accuracy_key(net)]),
            # the main output's loss (with aux heads, "loss" is the weighted sum), as evaluate() reports it
            "test_loss": float(result["loss"] if len(net.outputs) == 1 else result[f"{net.output_names[0]}_loss"]),
            "test_images": int(len(y_test)),
            "per_class_accuracy": per_class_accuracy(y_test, y_pred, spec.class_names),
            "epochs": int(epochs),
            "resumed_from_epoch": int(done),
            "seconds": round(seconds, 3),
            "train_seconds": round(train_seconds, 3),
            "images_per_second": round(images_per_epoch * len(timer.seconds) / train_seconds, 1) if train_seconds else None,
            "train_seconds_per_epoch": [round(t, 4) for t in timer.seconds],
            "best_val_accuracy": max(history.get("val_" + accuracy_key(net), [float("nan")])) if self.has_val else None,
            "num_replicas": int(replicas),
            "streaming": data.streaming,
            "bad_images_skipped": data.bad_images.count,
            "_y_pred": y_pred,
        }

    def _plots(self, run, net, spec, data, metrics, state):
        from sklearn.metrics import confusion_matrix

        from kerascnn import runs
        from kerascnn.training import plots
        from kerascnn.training.checkpoints import history_of
        from kerascnn.training.compile import accuracy_key

        plots.plot_learning_curves(history_of(state), run.work / runs.LEARNING_CURVES, accuracy_key=accuracy_key(net))
        y_test, y_pred = data.test.labels, metrics["_y_pred"]
        # every class gets its row and column, even one missing from the test set
        cm = confusion_matrix(y_test, y_pred, labels=np.arange(spec.num_classes))
        plots.plot_confusion_matrix(cm, spec.class_names, run.work / runs.CONFUSION_MATRIX)
        wrong = np.flatnonzero(y_test != y_pred)[:36]  # decode only the images the plot shows
        plots.plot_misclassified(data.test.images(wrong), y_test[wrong], y_pred[wrong], spec.class_names,
                                 run.work / runs.MISCLASSIFIED)
