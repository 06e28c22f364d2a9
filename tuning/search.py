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

import contextlib
import csv
import dataclasses
import gc
import io
import json
import math
import os
import shutil
import time
from pathlib import Path

from kerascnn.errors import KerasCNNError
from kerascnn.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text

TUNERS = ("hyperband", "bayesian", "random", "grid")
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}

CONFIG_FILE = "tune_config.json"
SPACE_FILE = "space.json"
PROJECT_NAME = "search"
TRIALS_CSV = "trials.csv"
BEST_FILE = "best_hyperparameters.json"
PLOT_FILE = "scores_by_trial.png"

# Extra per-trial metrics the tuner records next to Keras' own (they travel to a distributed oracle).
SECONDS_METRIC = "trial_seconds"
EPOCHS_METRIC = "trial_epochs"
MEMORY_METRIC = "trial_peak_rss_mb"  # peak resident memory of the trial's process


class TuneError(KerasCNNError, ValueError):
    """A search that cannot start or resume as asked."""


@dataclasses.dataclass
class TrialRow:
    """One trial of a search, as the results table shows it."""

    trial_id: str
    status: str  # COMPLETED, FAILED, RUNNING, ...
    score: float | None
    epochs: int | None  # epochs trained in this trial
    best_epoch: int | None  # 1-based epoch of the best score
    seconds: float | None
    model_hyperparameters: dict
    training_hyperparameters: dict
    message: str = ""  # why a failed trial failed, one line
    peak_rss_mb: float | None = None  # peak memory of the trial's process (trials in their own process)


@dataclasses.dataclass
class TuneResult:
    """What ``tune`` returns: the trials, the best ones first, and where the outputs are."""

    out_dir: Path
    role: str  # "single", "chief" or "worker"
    objective: str
    trials: list  # [TrialRow], in trial order
    best: list  # [TrialRow], completed trials, best first
    best_hyperparameters: Path | None
    plot: Path | None
    table: str


# --------------------------------------------------------------------------------------------------
# The public entry point.


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
    from kerascnn.tuning.spaces import resolve_space

    role = distributed_role()
    tuner = _check_choice("tuner", tuner, TUNERS)
    _check_choice("objective", objective, tuple(OBJECTIVES))
    max_trials = _positive_int("max_trials", max_trials)
    if objective.startswith("val_") and not val_split > 0:
        raise TuneError(f"objective {objective} needs validation data: val_split must be > 0. Received: {val_split}")

    training = _training_api()
    defaults = training.defaults(model)
    epochs = _positive_int("epochs", epochs if epochs is not None else defaults["epochs"])
    batch_size = _positive_int("batch_size", batch_size if batch_size is not None else defaults["batch_size"])
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
        from kerascnn.pretrained.files import resolve_source_path, sha256_of

        init_from = str(init_from)
        config["init_from"] = {"path": init_from, "sha256": sha256_of(resolve_source_path(init_from)[0])}
    if role == "worker":
        _await_chief(out, config)
    else:
        _prepare_out_dir(out, config, overwrite=overwrite)

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
    with atomic_keras_tuner_json():
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
    result = summarize(out, keras_tuner_obj.oracle, resolved, objective=objective)
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
    import json

    from kerascnn.tuning.spaces import TRAINING_HYPERPARAMETERS, builder_defaults, default_space, load_space_file

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


def distributed_role() -> str:
    """"single", or "chief"/"worker" of a distributed search (keras-tuner's environment variables)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(v)]
    if missing:
        raise TuneError(
            f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} not: a distributed search needs "
            "all three (KERASTUNER_TUNER_ID=chief on one process, tuner0, tuner1, ... on the others)."
        )
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


# --------------------------------------------------------------------------------------------------
# Tuners.


class _KerasCNNTuner:
    """Mixed into every keras-tuner tuner: times trials and keeps memory flat between them.

    With ``trial_job`` set (the recipe of ``kerascnn.tuning.trial_process.TrialJob`` minus the
    trial's own part), every trial's build and fit run in a worker process.
    """

    trial_job = None
    trial_worker = None  # kerascnn.tuning.trial_process.TrialWorker, started by the first trial

    def run_trial(self, trial, *args, **kwargs):
        start = time.perf_counter()
        histories = super().run_trial(trial, *args, **kwargs)
        seconds = time.perf_counter() - start
        for history in histories if isinstance(histories, list) else [histories]:
            if hasattr(history, "history"):
                n = len(history.epoch)
                history.history[SECONDS_METRIC] = [seconds] * n
                history.history[EPOCHS_METRIC] = [float(n)] * n
        return histories

    def _build_and_fit_model(self, trial, *args, **kwargs):
        # keras-tuner's hook for building and fitting one trial's model (AutoKeras overrides it too).
        if self.trial_job is None:
            return super()._build_and_fit_model(trial, *args, **kwargs)
        import keras
        from keras_tuner.src import utils as kt_utils
        from keras_tuner.src.engine import tuner_utils

        from kerascnn.tuning.trial_process import TrialJob, TrialWorker

        hp = trial.hyperparameters
        # TunerCallback calls this object's per-epoch hooks, which do nothing in these tuners.
        kwargs["callbacks"] = [c for c in kwargs.get("callbacks", []) if not isinstance(c, tuner_utils.TunerCallback)]
        initial_weights = None
        if "tuner/trial_id" in hp.values:  # Hyperband continues an earlier trial from its best weights
            initial_weights = self._get_checkpoint_fname(hp.values["tuner/trial_id"])
        if self.trial_worker is None:
            self.trial_worker = TrialWorker()
        outcome = self.trial_worker.run(TrialJob(
            **self.trial_job, hyperparameters=hp.get_config(), fit_kwargs=kwargs, initial_weights=initial_weights,
        ))
        kt_utils.save_json(self._get_build_config_fname(trial.trial_id), outcome.build_config)
        history = keras.callbacks.History()
        history.history = dict(outcome.history)
        history.history[MEMORY_METRIC] = [outcome.peak_rss_mb] * len(outcome.epoch)
        history.epoch = outcome.epoch
        tuner_utils.validate_trial_results(history, self.oracle.objective, "HyperModel.fit()")
        return history

    def on_trial_end(self, trial):
        if trial.status in ("FAILED", "INVALID"):
            print(f"Trial {trial.trial_id} failed: {_failure_reason(trial.message)}", flush=True)
        super().on_trial_end(trial)
        if self.trial_job is None:  # a worker process releases its own, the same way
            release_trial_memory()


def release_trial_memory() -> None:
    """Free the finished trial's model, optimizer state and traced functions, and return the heap.

    keras-tuner only clears the session when it builds the next model; ``clear_session`` collects
    garbage, and ``malloc_trim`` hands the freed pages back to the OS (glibc keeps them otherwise, and
    RSS creeps up per trial).
    """
    import keras

    keras.backend.clear_session(free_memory=True)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


@contextlib.contextmanager
def frozen_gc():
    """Exclude every object alive now (TensorFlow, Keras, the datasets) from garbage collection.

    keras-tuner collects garbage before each trial's build; with TensorFlow loaded a full collection
    walks millions of long-lived objects (~0.5 s each time here). Frozen, a collection only looks at
    what the trials create.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def make_tuner(kind, hypermodel, *, objective, max_trials, epochs, directory, overwrite=False, seed=0,
               strategy=None):
    """A keras-tuner tuner of ``kind`` (one of ``TUNERS``) writing to ``directory/search``."""
    import keras_tuner
    from keras_tuner.src import config as kt_config

    # keras-tuner prints the whole traceback of every failed trial; we print its one-line reason.
    kt_config.DEBUG = bool(os.environ.get("KERASCNN_DEBUG"))
    kind = _check_choice("tuner", kind, TUNERS)
    base = {
        "hyperband": keras_tuner.Hyperband,
        "bayesian": keras_tuner.BayesianOptimization,
        "random": keras_tuner.RandomSearch,
        "grid": keras_tuner.GridSearch,
    }[kind]
    cls = type(f"KerasCNN{base.__name__}", (_KerasCNNTuner, base), {})
    kwargs = dict(
        # keras-tuner takes seed 0 for "no seed": shift by one so that every --seed is reproducible.
        hypermodel=hypermodel, objective=objective, seed=int(seed) + 1, directory=str(directory),
        project_name=PROJECT_NAME, overwrite=overwrite, distribution_strategy=strategy,
        # A trial that cannot be built fails with its reason and the search goes on; `tune` reports
        # a search in which no trial completed.
        max_consecutive_failed_trials=max_trials + 1,
    )
    if kind == "hyperband":
        kwargs.update(max_epochs=epochs, factor=3)
    else:
        kwargs.update(max_trials=max_trials)
    try:
        tuner = cls(**kwargs)
    except keras_tuner.errors.FailedTrialError as e:
        # keras-tuner builds the model at the space's default values before any trial.
        raise TuneError(f"The search space's default values give an invalid model: {e}") from None
    except RuntimeError as e:
        if "reloading" in str(e).lower():
            raise TuneError(f"Cannot resume the search in {directory}: {str(e).splitlines()[0]} Use --overwrite to start afresh.") from None
        raise
    if kind == "hyperband":
        tuner.oracle.max_trials = max_trials  # Hyperband has no max_trials of its own: cap it here
    return tuner


# --------------------------------------------------------------------------------------------------
# Resume safety.


@contextlib.contextmanager
def atomic_keras_tuner_json():
    """Make keras-tuner write its JSON (trial.json, oracle.json, ...) through a temporary file + rename.

    A kill in the middle of a write then leaves the previous file, never half of a new one.
    """
    from keras_tuner.src import utils as kt_utils

    original = kt_utils.save_json

    def save_json(path, obj):
        text = json.dumps(obj)
        if "://" in str(path):  # remote filesystems: keras-tuner's own writer
            return original(path, obj)
        atomic_write_text(path, text)
        return text

    kt_utils.save_json = save_json
    try:
        yield
    finally:
        kt_utils.save_json = original


def repair_project(project_dir) -> list[str]:
    """Drop trials whose ``trial.json`` is unreadable (half-written by a killed process).

    Such a trial never finished (keras-tuner writes ``trial.json`` before recording the trial as
    ended in ``oracle.json``), so it is removed with every reference to it and the search runs a new
    trial in its place. Returns the ids of the dropped trials.
    """
    project_dir = Path(project_dir)
    oracle_path = project_dir / "oracle.json"
    if not oracle_path.is_file():
        return []
    try:
        oracle = json.loads(oracle_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TuneError(
            f"Cannot resume: {oracle_path} is unreadable (written by a killed process?). "
            "Rerun with --overwrite to start the search afresh."
        ) from None
    dropped = []
    for trial_json in sorted(project_dir.glob("trial_*/trial.json")):
        try:
            json.loads(trial_json.read_text())
            continue
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        trial_id = trial_json.parent.name[len("trial_"):]
        dropped.append(trial_id)
        shutil.rmtree(trial_json.parent)
        _forget_trial(oracle, trial_id)
    if dropped:
        atomic_write_text(oracle_path, json.dumps(oracle))
    return dropped


def _forget_trial(state: dict, trial_id: str) -> None:
    state["ongoing_trials"] = {k: v for k, v in state.get("ongoing_trials", {}).items() if v != trial_id}
    for key in ("start_order", "end_order", "retry_queue"):
        state[key] = [t for t in state.get(key, []) if t != trial_id]
    state.get("run_times", {}).pop(trial_id, None)
    old_hash = state.get("id_to_hash", {}).pop(trial_id, None)
    if old_hash is not None:
        state["tried_so_far"] = [h for h in state.get("tried_so_far", []) if h != old_hash]
    for bracket in state.get("brackets", []):  # Hyperband
        bracket["rounds"] = [
            [info for info in round_ if (info.get("id") if isinstance(info, dict) else info) != trial_id]
            for round_ in bracket.get("rounds", [])
        ]


def _prepare_out_dir(out: Path, config: dict, *, overwrite: bool) -> None:
    """Check that ``out`` is new, or holds the same search (to resume), or may be overwritten."""
    config_path = out / CONFIG_FILE
    if out.exists() and any(out.iterdir()):
        if not config_path.is_file():
            raise TuneError(
                f"{out} exists and is not a kerascnn tune directory; choose another --out "
                "(nothing was deleted)."
            )
        if overwrite:
            shutil.rmtree(out)
        else:
            try:
                previous = json.loads(config_path.read_text())
            except json.JSONDecodeError:
                previous = {}
            changed = [k for k in config if previous.get(k) != json.loads(json.dumps(config[k]))]
            started = (out / PROJECT_NAME / "oracle.json").is_file()
            if changed and started:
                raise TuneError(
                    f"{out} holds a search with other settings ({', '.join(changed)} differ); "
                    "use --overwrite to replace it or another --out."
                )
            if changed:  # set up by a run that stopped before its first trial: start afresh
                shutil.rmtree(out / PROJECT_NAME, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_path, config)
    atomic_write_json(out / SPACE_FILE, config["space"])


def _await_chief(out: Path, config: dict, timeout: float = 300.0) -> None:
    """A worker waits for its chief to set up ``out``, and checks that both run the same search."""
    config_path = out / CONFIG_FILE
    deadline = time.monotonic() + timeout
    while not config_path.is_file():
        if time.monotonic() > deadline:
            raise TuneError(f"No chief set up {out} within {timeout:.0f} s: start the chief (KERASTUNER_TUNER_ID=chief) with the same --out.")
        time.sleep(0.5)
    chief = json.loads(config_path.read_text())
    changed = [k for k in config if chief.get(k) != json.loads(json.dumps(config[k]))]
    if changed:
        raise TuneError(f"This worker's settings differ from the chief's in {out} ({', '.join(changed)}): run the same command.")


# --------------------------------------------------------------------------------------------------
# Results.


def trial_rows(oracle, space) -> list[TrialRow]:
    """Every trial of ``oracle`` in trial order, with builder/training hyperparameters resolved."""
    rows = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        model_hp, training_hp = space.resolve(values)
        metrics = trial.metrics
        seconds = _metric(metrics, SECONDS_METRIC)
        epochs = _metric(metrics, EPOCHS_METRIC)
        memory = _metric(metrics, MEMORY_METRIC)
        score = trial.score if trial.status == "COMPLETED" else None
        rows.append(TrialRow(
            trial_id=trial_id,
            status=str(trial.status),
            score=None if score is None else float(score),
            epochs=None if epochs is None else int(epochs),
            best_epoch=None if trial.best_step is None or score is None else int(trial.best_step) + 1,
            seconds=seconds,
            model_hyperparameters=model_hp,
            training_hyperparameters=training_hp,
            message=_failure_reason(trial.message) if trial.status != "COMPLETED" else "",
            peak_rss_mb=memory,
        ))
    return rows


def _metric(metrics, name):
    if not metrics.exists(name):
        return None
    history = metrics.get_history(name)
    return float(history[-1].value[0]) if history else None


def _failure_reason(message) -> str:
    """The last line of keras-tuner's stored traceback, without the exception's module path."""
    if not message:
        return ""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    head, sep, rest = last.partition(": ")
    return rest if sep and (head.endswith("Error") or head.endswith("Exception")) else last


def summarize(out, oracle, space, *, objective: str, num_best: int = 10) -> TuneResult:
    """Write trials.csv, best_hyperparameters.json and the plot; return the result with its table."""
    out = Path(out)
    rows = trial_rows(oracle, space)
    direction = OBJECTIVES.get(objective, "max")
    completed = [r for r in rows if r.score is not None and math.isfinite(r.score)]
    best = sorted(completed, key=lambda r: r.score, reverse=direction == "max")
    _write_csv(out / TRIALS_CSV, rows, objective)
    best_path = None
    if best:
        best_path = out / BEST_FILE
        atomic_write_json(best_path, best_hyperparameters_document(best[0]))
    plot = plot_scores(rows, out / PLOT_FILE, objective=objective, direction=direction)
    table = format_table(best[:num_best], rows, objective)
    return TuneResult(out, "chief" if distributed_role() == "chief" else "single", objective, rows, best,
                      best_path, plot, table)


def best_hyperparameters_document(row: TrialRow) -> dict:
    """What ``kerascnn fit --hparams`` reads: one flat mapping of builder and training hyperparameters.

    Training names are fit's (``learning_rate``, ``optimizer``, ...); everything else goes to the
    model's builder. The trial's score and timing are in trials.csv.
    """
    return {**row.model_hyperparameters, **row.training_hyperparameters}


def _flat_hyperparameters(row: TrialRow) -> dict:
    return {**row.model_hyperparameters, **row.training_hyperparameters}


def _write_csv(path: Path, rows: list, objective: str) -> None:
    names = []
    for row in rows:
        names += [k for k in _flat_hyperparameters(row) if k not in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial", "status", objective, "epochs", "best_epoch", "seconds", "peak_rss_mb", *names, "reason"])
    for r in rows:
        flat = _flat_hyperparameters(r)
        writer.writerow([
            r.trial_id, r.status, "" if r.score is None else f"{r.score:.6g}", r.epochs or "",
            r.best_epoch or "", "" if r.seconds is None else f"{r.seconds:.2f}",
            "" if r.peak_rss_mb is None else f"{r.peak_rss_mb:.0f}",
            *[_cell(flat.get(n, "")) for n in names], r.message,
        ])
    atomic_write_text(path, buffer.getvalue())


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value)) if all(isinstance(v, int) for v in value) else json.dumps(value)
    return str(value)


def format_table(best: list, rows: list, objective: str) -> str:
    """A text table of the best trials (hyperparameters, score, epochs, seconds) plus failures."""
    lines = []
    if best:
        varying = _varying_names(rows)
        header = ["rank", "trial", objective, "epochs", "seconds", *varying]
        body = [
            [str(i), r.trial_id, f"{r.score:.4f}", f"{r.best_epoch}/{r.epochs}" if r.epochs else "",
             "" if r.seconds is None else f"{r.seconds:.1f}",
             *[_cell(_flat_hyperparameters(r).get(n, "")) for n in varying]]
            for i, r in enumerate(best, start=1)
        ]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    else:
        lines.append("No trial completed.")
    failed = [r for r in rows if r.status in ("FAILED", "INVALID")]
    for r in failed:
        lines.append(f"trial {r.trial_id} failed: {r.message or 'no reason recorded'}")
    n_done = sum(r.status == "COMPLETED" for r in rows)
    lines.append(f"{n_done} completed, {len(failed)} failed of {len(rows)} trials.")
    return "\n".join(lines)


def _varying_names(rows: list) -> list:
    # Columns for the hyperparameters that differ between trials; the others are the same everywhere.
    names, seen = [], {}
    for r in rows:
        for k, v in _flat_hyperparameters(r).items():
            seen.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
            if k not in names:
                names.append(k)
    return [n for n in names if len(seen[n]) > 1]


def plot_scores(rows: list, path: Path, *, objective: str, direction: str) -> Path | None:
    """Scatter of each trial's score in trial order, failures marked, and the best-so-far line."""
    # A bare Figure draws without pyplot, so the caller's backend (a notebook's inline plots) is untouched.
    from matplotlib.figure import Figure

    if not rows:
        return None
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    xs = [i for i, r in enumerate(rows, start=1) if r.score is not None and math.isfinite(r.score)]
    ys = [rows[i - 1].score for i in xs]
    ax.scatter(xs, ys, label="trial", zorder=3)
    best_so_far, best = [], None
    for y in ys:
        best = y if best is None else (max(best, y) if direction == "max" else min(best, y))
        best_so_far.append(best)
    if xs:
        ax.step(xs, best_so_far, where="post", color="tab:green", label="best so far")
    failed = [i for i, r in enumerate(rows, start=1) if r.score is None and r.status != "RUNNING"]
    if failed:
        y = min(ys) if ys else 0.0
        ax.scatter(failed, [y] * len(failed), marker="x", color="tab:red", label="failed", zorder=3)
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title(f"{objective} by trial")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return path


# --------------------------------------------------------------------------------------------------
# Small helpers.


def _check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise TuneError(f"Unknown {name} {value!r}. Choose one of: {', '.join(choices)}.")
    return value


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TuneError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return value


def _training_api():
    from kerascnn.tuning import training_bridge

    return training_bridge
