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
    model: str,
    *,
    dataset="digits",
    tuner: str = "random",
    max_trials: int = 10,
    epochs: int | None = None,
    objective: str = "val_accuracy",
    out=None,
    overwrite: bool = False,
    space=None,
    batch_size: int | None = None,
    val_split: float = 0.1,
    test_split: float = 0.2,
    data_dir=None,
    seed: int = 0,
    verbose: int = 1,
    callbacks=(),
    trial_processes: bool = True,
    init_from=None,
) -> TuneResult:
    """Search hyperparameters of zoo model ``model``; see the module docstring for the outputs.

    Args:
        model: a registered model name (``kerascnn models``).
        dataset: what ``kerascnn fit --dataset`` takes ("digits", "mnist", a folder, ...).
        tuner: "hyperband", "bayesian", "random" or "grid".
        max_trials: at most this many trials (for hyperband too: it stops early if reached).
        epochs: epochs per trial (hyperband: the most epochs a trial gets); default: fit's.
        objective: "val_accuracy" (default), "val_loss", "accuracy" or "loss".
        out: output directory; default ``runs/tune-<model>``.
        overwrite: start afresh, deleting the previous search in ``out``.
        space: overrides of the default search space: a mapping or the path of a JSON/YAML file.
        batch_size: global batch size; default: fit's for this model.
        val_split: fraction of the training part held out for validation.
        test_split, data_dir: as for ``kerascnn fit``.
        seed: seeds the tuner's sampling and the shuffling.
        verbose: 0 silent, 1 keras-tuner's progress, 2 one line per epoch.
        callbacks: extra Keras callbacks for every trial (deep-copied per trial by keras-tuner; with
            trial processes they must be picklable, which Keras' own callbacks are).
        trial_processes: train the trials in worker processes (default), keeping memory flat; False
            trains in this process (a little faster per trial, ~5-9 MB more memory per trial).
        init_from: pretrained weights every trial starts from (as ``kerascnn fit --init-from``, all
            layers trainable); trials whose architecture values do not fit them fail with the reason.

    Raises:
        TuneError, SearchSpaceError, DataError: bad input, before any trial runs.
    """
    from kerascnn.models.hyperparameters import check_choice, check_positive_int  # (imports the zoo)

    role = distributed_role()
    check_setting(check_choice, "tuner", tuner, TUNERS)
    check_setting(check_choice, "objective", objective, tuple(OBJECTIVES))
    max_trials = check_setting(check_positive_int, "max_trials", max_trials)
    if objective.startswith("val_") and not val_split > 0:
        raise TuneError(f"objective {objective} needs validation data: val_split must be > 0. Received: {val_split}")

    defaults = training.defaults(model)
    epochs = check_setting(check_positive_int, "epochs", epochs if epochs is not None else defaults["epochs"])
    batch_size = check_setting(check_positive_int, "batch_size",
                               batch_size if batch_size is not None else defaults["batch_size"])
    if init_from is not None:
        space = _architecture_fixed(model, space, init_from)
    resolved = resolve_space(model, space, training_defaults=defaults)

    out = Path(out) if out is not None else Path("runs") / f"tune-{model}"
    config = {
        "model": model, "dataset": str(dataset), "tuner": tuner, "objective": objective, "epochs": epochs,
        "batch_size": batch_size, "val_split": val_split, "test_split": test_split, "seed": seed,
        "data_dir": None if data_dir is None else str(data_dir), "space": resolved.to_dict(),
    }
    if init_from is not None:
        from kerascnn.models.pretrained.files import resolve_source_path, sha256_of

        init_from = str(init_from)
        config["init_from"] = {"path": init_from, "sha256": sha256_of(resolve_source_path(init_from)[0])}
    if role == "worker":
        await_chief(out, config)
    else:
        from kerascnn.fsutil import lock_path

        # One search per folder; released when this call returns (the kernel drops it if the process dies).
        out_lock = lock_path(out, advice="wait for that search to finish, or choose another --out")  # noqa: F841
        prepare_out_dir(out, config, overwrite=overwrite)

    import keras

    if trial_processes and role != "chief":
        from kerascnn.tuning import trial_process

        trial_process.start_server()  # its imports overlap with the set-up below
    strategy = training.strategy()  # first: a multi-worker strategy must exist before other TF ops
    keras.utils.set_random_seed(seed)
    data = training.load_data(model, dataset, batch_size=batch_size, val_split=val_split, test_split=test_split,
                              data_dir=data_dir, seed=seed, pipelines=role != "chief" and not trial_processes,
                              init_from=init_from)
    if role != "worker":
        data.spec.save(out)

    from kerascnn.tuning.hypermodels import ZooHyperModel

    hypermodel = ZooHyperModel(
        resolved, data.input_shape, data.num_classes,
        training.compile_fn(model, epochs=epochs, steps_per_epoch=data.steps_per_epoch),
        init_from=init_from, new_head=data.new_head,
    )
    with compat.atomic_json_writes(atomic_write_text):
        if not overwrite and role != "worker":
            repair_project(out / PROJECT_NAME)
        keras_tuner_obj = make_tuner(
            tuner, hypermodel, objective=objective, max_trials=max_trials, epochs=epochs,
            directory=out, overwrite=overwrite and role == "single", seed=seed, strategy=strategy,
        )
        fit_callbacks = list(training.callbacks()) + list(callbacks)
        fit_kwargs = dict(
            epochs=epochs, callbacks=fit_callbacks, verbose=verbose,
            shuffle=False,  # the tf.data pipeline shuffles; Keras warns about shuffle=True on datasets
        )
        if trial_processes:
            # Trial processes build their own pipelines from this recipe (see TrialJob), starting
            # from the arrays loaded here: files are read and decoded once per search.
            keras_tuner_obj.trial_job = dict(
                model=model, dataset=data.raw, batch_size=batch_size, val_split=val_split, test_split=test_split,
                data_dir=data_dir, seed=seed, space=resolved, epochs=epochs, init_from=init_from,
            )
            fit_args = ()
        else:
            fit_args = (data.train,)
            fit_kwargs["validation_data"] = data.val
        try:
            with frozen_gc():
                keras_tuner_obj.search(*fit_args, **fit_kwargs)
        finally:
            if keras_tuner_obj.trial_worker is not None:
                keras_tuner_obj.trial_worker.close()
    del data  # the datasets' caches are large; nothing below needs them
    gc.collect()
    if role == "worker":
        return TuneResult(out, role, objective, [], [], None, None, "")
    result = summarize(out, keras_tuner_obj.oracle, resolved, objective=objective, role=role)
    if result.trials and not result.best:
        reasons = [r.message for r in result.trials if r.message]
        raise TuneError(
            f"No trial completed ({len(result.trials)} failed); the first failed with: "
            f"{reasons[0] if reasons else 'no reason recorded'} (details in {out / TRIALS_CSV})."
        )
    return result


def _architecture_fixed(model: str, space, init_from) -> dict:
    """``space`` with every architecture hyperparameter fixed, unless the user's space names it.

    Weights fit one architecture: a search from them varies the training (learning rate, optimizer,
    ...). The values are the source run's (its config.json) or the model's defaults.
    """
    overrides = dict(load_space_file(space) if isinstance(space, (str, Path)) else (space or {}))
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
