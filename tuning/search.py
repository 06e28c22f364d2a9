"""Run a keras-tuner search over a zoo model: ``tune("lenet", tuner="random", max_trials=10)``.

The search trains on the same ``tf.data`` pipelines and under the same ``tf.distribute`` strategy as
``kerascnn fit``, compiled by the same helper. Trials train in a worker process forked from a
preloaded server and replaced once its memory grew 10% (``kerascnn.tuning.trial_process``):
TensorFlow never returns the 5-9 MB it keeps per trained model, so a long search in one process grows
without bound; this way the search's memory stays flat, and a trial that dies (out of memory) fails
alone. A new worker also sets up ``kerascnn fit``'s core split (one thread per op, a batch slice per
core) before its TensorFlow starts. ``trial_processes=False`` trains every trial in the calling
process instead (pipelines built once, keras-tuner clearing the session).

An output directory (``runs/tune-<model>`` by default) holds:

    tune_config.json            the settings of the search (a rerun must match them to resume)
    space.json                  the resolved search space, in the ``--space`` file format
    data_spec.json              the DataSpec of the dataset
    search/                     keras-tuner's project: oracle.json, trial_*/trial.json, checkpoints
    trials.csv                  one row per trial: status, score, epochs, seconds, hyperparameters
    best_hyperparameters.json   the winner as one flat mapping: what ``kerascnn fit --hparams`` reads
    scores_by_trial.png         the objective of every trial, with the best so far

Resume: rerunning the same call continues the search (keras-tuner reloads its project); finished
trials are not run again; the trial that was running when the process died runs again from its
start. Every JSON file keras-tuner writes is written through a temporary file and a rename, and a
half-written ``trial.json`` left by an older run is dropped before reloading (keras-tuner #987).

Distributed search: set ``KERASTUNER_TUNER_ID`` (``chief`` or ``tuner0``, ``tuner1``, ...),
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` and start the same call once per process;
the chief serves the oracle and writes the results when every worker is done.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

from kerascnn import compat
from kerascnn.fsutil import atomic_write_text
from kerascnn.tuning import training_bridge as training
from kerascnn.tuning.memory import frozen_gc
from kerascnn.tuning.project import (
    PROJECT_NAME,
    TuneError,
    await_chief,
    check_setting,
    distributed_role,
    prepare_out_dir,
    repair_project,
)
from kerascnn.tuning.report import BEST_FILE, OBJECTIVES, TRIALS_CSV, TuneResult, summarize
from kerascnn.tuning.spaces import (
    TRAINING_HYPERPARAMETERS,
    builder_defaults,
    default_space,
    load_space_file,
    resolve_space,
)
from kerascnn.tuning.tuners import TUNERS, make_tuner

__all__ = ["BEST_FILE", "OBJECTIVES", "TUNERS", "TuneError", "TuneResult", "distributed_role", "tune"]


def tune(
    model: str, *, dataset="digits", verbose: int = 1, callbacks=(), trial_processes: bool = True, **settings
) -> TuneResult:
    """Search hyperparameters of zoo model ``model``; see the module docstring for the outputs.

    Args:
        model: a registered model name (``kerascnn models``).
        dataset: what ``kerascnn fit --dataset`` takes ("digits", "mnist", a folder, ...), or a RawDataset.
        verbose: 0 silent, 1 keras-tuner's progress, 2 one line per epoch.
        callbacks: extra Keras callbacks for every trial (deep-copied per trial by keras-tuner; with
            trial processes they must be picklable, which Keras' own callbacks are).
        trial_processes: train the trials in worker processes (default), keeping memory flat; False
            trains in this process (a little faster per trial, ~5-9 MB more memory per trial).
        **settings: the search's own (:class:`kerascnn.tuning.config.TuneConfig`): ``tuner`` ("random",
            "hyperband", "bayesian" or "grid"), ``max_trials`` (10; hyperband stops there too),
            ``objective`` ("val_accuracy", "val_loss", "accuracy", "loss"), ``space`` (overrides of the
            default space: a mapping or a JSON/YAML file), ``out`` (``runs/tune-<model>``), ``overwrite``
            (start afresh); and every ``fit`` setting a trial trains with (``TRIAL_SETTINGS``: ``epochs``
            per trial (hyperband: the most a trial gets), ``batch_size``, ``val_split``, ``input_shape``,
            ``augment``, ``precision``, ``cache_budget_mb``, ``seed`` (also the tuner's), ``init_from``
            (every trial starts from these weights, all layers trainable; architecture values are fixed
            to them), ...). A training value the space searches (``lr``, ``optimizer``, ``schedule``,
            ``weight_decay``, ``label_smoothing``) given here is fixed instead of searched.

    Raises:
        TuneError, SearchSpaceError, DataError, KerasCNNError: bad input, before any trial runs.
    """
    from kerascnn.data.raw import RawDataset
    from kerascnn.models.hyperparameters import check_choice, check_positive_int  # (imports the zoo)
    from kerascnn.settings import on_command_line
    from kerascnn.training.config import TrainConfig
    from kerascnn.tuning.config import TuneConfig, changed_trial_settings, split_settings

    own, trial_settings = split_settings(settings)
    search = TuneConfig(**own)
    role = distributed_role()
    check_setting(check_choice, "tuner", search.tuner, TUNERS)
    check_setting(check_choice, "objective", search.objective, tuple(OBJECTIVES))
    max_trials = check_setting(check_positive_int, "max_trials", search.max_trials)
    val_split = trial_settings.get("val_split", TrainConfig.val_split)
    if search.objective.startswith("val_") and not val_split > 0:
        raise TuneError(
            f"objective {search.objective} needs validation data: val_split must be > 0. Received: {val_split}"
        )
    for name in ("epochs", "batch_size"):
        if trial_settings.get(name) is not None:
            trial_settings[name] = check_setting(check_positive_int, name, trial_settings[name])
    raw = dataset if isinstance(dataset, RawDataset) else None
    init_from = trial_settings.get("init_from")
    # Trials from --init-from train every layer, in one phase.
    base = TrainConfig.from_settings(
        trial_settings, model=model, dataset=raw.name if raw else str(dataset), freeze="none" if init_from else None
    ).resolve()
    epochs, batch_size = base.epochs, base.batch_size

    overrides = dict(load_space_file(search.space) if isinstance(search.space, (str, Path)) else (search.space or {}))
    if init_from is not None:
        overrides = _architecture_fixed(model, overrides, init_from)
    for name in TRAINING_HYPERPARAMETERS:  # a training value given as a setting is fixed, not searched
        if trial_settings.get(name) is not None:
            overrides.setdefault(name, trial_settings[name])
    resolved = resolve_space(
        model, overrides, training_defaults={k: getattr(base, k) for k in TRAINING_HYPERPARAMETERS}
    )

    out = Path(search.out) if search.out is not None else Path("runs") / f"tune-{model}"
    config = {
        "model": model,
        "dataset": base.dataset,
        "tuner": search.tuner,
        "objective": search.objective,
        "epochs": epochs,
        "batch_size": batch_size,
        "val_split": base.val_split,
        "test_split": base.test_split,
        "seed": base.seed,
        "data_dir": None if base.data_dir is None else str(base.data_dir),
        "space": resolved.to_dict(),
    }
    training_settings = changed_trial_settings(base)
    if training_settings:  # only then: a search set up without them resumes as it was
        config["training"] = training_settings
    if init_from is not None:
        from kerascnn.models.pretrained import resolve_weights
        from kerascnn.models.pretrained.files import resolve_source_path, sha256_of

        # A path, or published weights by name (downloaded once, as fit does): the search records the file.
        weights = resolve_weights(model, base.init_from, hyperparameters=base.hparams, complete=True)
        config["init_from"] = {"path": base.init_from, "sha256": sha256_of(resolve_source_path(weights.path)[0])}
    if role == "worker":
        await_chief(out, config)
    else:
        from kerascnn.fsutil import lock_path

        # One search per folder; released when this call returns (the kernel drops it if the process dies).
        out_lock = lock_path(out, advice="wait for that search to finish, or choose another --out")  # noqa: F841
        prepare_out_dir(out, config, overwrite=search.overwrite)

    import keras

    from kerascnn.training import assembly

    if trial_processes and role != "chief":
        from kerascnn.tuning import trial_process

        trial_process.start_server()  # its imports overlap with the set-up below
    strategy = training.strategy()  # first: a multi-worker strategy must exist before other TF ops
    keras.utils.set_random_seed(base.seed)
    # fit's own preparation: the same weights, split, statistics, in-memory/streaming choice and pipelines.
    # One device per trial: fit's steps-per-execution rule for one replica.
    prepared = assembly.prepare(base, raw)
    if role != "worker":
        prepared.spec.save(out)

    from kerascnn.tuning.hypermodels import ZooHyperModel

    hypermodel = ZooHyperModel(resolved, base, prepared)
    with compat.atomic_json_writes(atomic_write_text):
        if not search.overwrite and role != "worker":
            repair_project(out / PROJECT_NAME)
        keras_tuner_obj = make_tuner(
            search.tuner,
            hypermodel,
            objective=search.objective,
            max_trials=max_trials,
            epochs=epochs,
            directory=out,
            overwrite=search.overwrite and role == "single",
            seed=base.seed,
            strategy=strategy,
        )
        fit_callbacks = list(training.callbacks()) + list(callbacks)
        fit_kwargs = dict(
            epochs=epochs,
            callbacks=fit_callbacks,
            verbose=verbose,
            shuffle=False,  # the tf.data pipeline shuffles; Keras warns about shuffle=True on datasets
        )
        if trial_processes:
            # Trial processes assemble their own training from this recipe (see TrialJob), starting
            # from the arrays loaded here: files are read and decoded once per search.
            handle = prepared.data.raw if prepared.data.raw is not None else (raw if raw is not None else dataset)
            keras_tuner_obj.trial_job = dict(
                config=base, dataset=handle, space=resolved, command_line=on_command_line()
            )
            fit_args = ()
        elif role != "chief":
            train, val, _ = assembly.pipelines(base, prepared, with_test=False)
            fit_args = (train,)
            fit_kwargs["validation_data"] = val
        else:
            fit_args = ()
        try:
            with frozen_gc():
                keras_tuner_obj.search(*fit_args, **fit_kwargs)
        finally:
            if keras_tuner_obj.trial_worker is not None:
                keras_tuner_obj.trial_worker.close()
    # The datasets' caches are large; nothing below needs them.
    del prepared, fit_args
    hypermodel.prepared = None
    gc.collect()
    if role == "worker":
        return TuneResult(out, role, search.objective, [], [], None, None, "")
    result = summarize(out, keras_tuner_obj.oracle, resolved, objective=search.objective, role=role)
    if result.trials and not result.best:
        reasons = [r.message for r in result.trials if r.message]
        raise TuneError(
            f"No trial completed ({len(result.trials)} failed); the first failed with: "
            f"{reasons[0] if reasons else 'no reason recorded'} (details in {out / TRIALS_CSV})."
        )
    return result


def _architecture_fixed(model: str, overrides: dict, init_from) -> dict:
    """``overrides`` with every architecture hyperparameter fixed, unless the user's space names it.

    Weights fit one architecture: a search from them varies the training (learning rate, optimizer,
    ...). The values are the source run's (its config.json) or the model's defaults.
    """
    overrides = dict(overrides)
    values = builder_defaults(model)
    config_file = Path(init_from) / "config.json"
    if config_file.is_file():
        try:
            values.update(json.loads(config_file.read_text()).get("hparams") or {})
        except (OSError, ValueError):
            pass
    for name in default_space(model):
        if name not in TRAINING_HYPERPARAMETERS and name not in overrides and name in values:
            value = values[name]
            overrides[name] = list(value) if isinstance(value, tuple) else value
    return overrides
