"""The keras-tuner tuners of a search: keras-tuner's own, timing each trial and training it elsewhere.

``make_tuner(kind, hypermodel, ...)`` returns a ``keras_tuner`` Hyperband, BayesianOptimization,
RandomSearch or GridSearch whose class mixes in ``KerasCNNTuner``: it records each trial's seconds
and epochs (and its process's peak memory) as metrics, prints a failed trial's reason on one line,
and, given a ``trial_job``, trains each trial in a worker process (``kerascnn.tuning.trial_process``).
"""

from __future__ import annotations

import os
import time

from kerascnn import compat
from kerascnn.settings import caller_name
from kerascnn.tuning.memory import release_trial_memory
from kerascnn.tuning.project import PROJECT_NAME, TuneError, check_setting
from kerascnn.tuning.report import EPOCHS_METRIC, MEMORY_METRIC, SECONDS_METRIC, failure_reason, trial_number

TUNERS = ("hyperband", "bayesian", "random", "grid")


class KerasCNNTuner(compat.TrialHook):
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

    def build_and_fit(self, trial, *args, **kwargs):
        if self.trial_job is None:
            return self.keras_tuner_build_and_fit(trial, *args, **kwargs)
        import keras

        from kerascnn.tuning.trial_process import TrialJob, TrialWorker

        hp = trial.hyperparameters
        kwargs["callbacks"] = compat.without_tuner_callbacks(kwargs.get("callbacks", []))
        initial_weights = None
        if "tuner/trial_id" in hp.values:  # Hyperband continues an earlier trial from its best weights
            initial_weights = self.checkpoint_path(hp.values["tuner/trial_id"])
        if self.trial_worker is None:
            self.trial_worker = TrialWorker()
        outcome = self.trial_worker.run(
            TrialJob(
                **self.trial_job,
                hyperparameters=hp.get_config(),
                fit_kwargs=kwargs,
                initial_weights=initial_weights,
            )
        )
        self.save_build_config(trial.trial_id, outcome.build_config)
        history = keras.callbacks.History()
        history.history = dict(outcome.history)
        history.history[MEMORY_METRIC] = [outcome.peak_rss_mb] * len(outcome.epoch)
        history.epoch = outcome.epoch
        compat.validate_trial_results(history, self.oracle.objective)
        return history

    def on_trial_end(self, trial):
        if trial.status in ("FAILED", "INVALID"):
            print(f"Trial {trial_number(trial.trial_id)} failed: {failure_reason(trial.message)}", flush=True)
        super().on_trial_end(trial)
        if self.trial_job is None:  # a worker process releases its own, the same way
            release_trial_memory()


def make_tuner(kind, hypermodel, *, objective, max_trials, epochs, directory, overwrite=False, seed=0, strategy=None):
    """A keras-tuner tuner of ``kind`` (one of ``TUNERS``) writing to ``directory/search``."""
    import keras_tuner

    from kerascnn.models.hyperparameters import check_choice

    # keras-tuner prints the whole traceback of every failed trial; we print its one-line reason.
    compat.show_failed_trial_tracebacks(bool(os.environ.get("KERASCNN_DEBUG")))
    compat.keras_tuner_console_outside_notebooks()  # no escape codes after each trial in a log
    check_setting(check_choice, "tuner", kind, TUNERS)
    base = {
        "hyperband": keras_tuner.Hyperband,
        "bayesian": keras_tuner.BayesianOptimization,
        "random": keras_tuner.RandomSearch,
        "grid": keras_tuner.GridSearch,
    }[kind]
    cls = type(f"KerasCNN{base.__name__}", (KerasCNNTuner, base), {})
    kwargs = dict(
        # keras-tuner takes seed 0 for "no seed": shift by one so that every --seed is reproducible.
        hypermodel=hypermodel,
        objective=objective,
        seed=int(seed) + 1,
        directory=str(directory),
        project_name=PROJECT_NAME,
        overwrite=overwrite,
        distribution_strategy=strategy,
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
            raise TuneError(
                f"Cannot resume the search in {directory}: {str(e).splitlines()[0]} "
                f"Use {caller_name('overwrite', True)} to start afresh."
            ) from None
        raise
    if kind == "hyperband":
        tuner.oracle.max_trials = max_trials  # Hyperband has no max_trials of its own: cap it here
    return tuner
