"""Trials train in worker processes, replaced before their memory grows, so a search stays flat.

TensorFlow keeps 5-9 MB per trained model that ``clear_session``, ``gc`` and ``malloc_trim`` never
return (its runtime's per-function state; the traced functions leave the eager context's function
library, the memory stays; ``benchmarks/bench_tune.py`` measures it). A search of hundreds of trials
in one process grows by gigabytes: keras-tuner #873, #1031.

So the search process never trains. A worker process, forked from a server process that imported
TensorFlow, Keras and kerascnn but never ran an op (multiprocessing's "forkserver"; forking a process
whose TensorFlow runtime runs is unsafe), trains the trials one after the other, keeping the search's
pipelines between them. After each trial it clears the Keras session and reports its memory; once
that has grown ``MAX_GROWTH`` over what it held after its first trial, the worker exits (returning all
of it to the OS) and the next trial starts a fresh one. Starting a worker costs ~15 ms plus TensorFlow's
warm-up (~1 s, which short trials would otherwise pay every time), not the ~5 s of a fresh interpreter.
A trial whose worker dies (out of memory, a crash in a kernel) fails with the reason, the next trial
gets a new worker, and the search goes on.

A worker builds the search's data the way ``kerascnn fit`` does (same split, DataSpec and pipeline)
from the arrays the search loaded, builds and compiles the model with the trial's values, optionally
loads weights (Hyperband continuing an earlier trial), fits with the trial's callbacks (they travel by
pickle) and sends back the history, the model's build config and its peak memory.

``concurrent.futures.ProcessPoolExecutor(max_tasks_per_child=...)`` and loky were measured against
this worker (``benchmarks/bench_trial_pool.py``, README "Tuning"): neither was faster, neither
replaces a worker by its memory, kills a running trial or survives a worker's death without being
re-created.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal

from kerascnn import compat
from kerascnn.tuning.memory import release_trial_memory, resident_mb

# Imported by the server process before it forks any worker, so that no worker pays for them.
PRELOAD = ["kerascnn.tuning.trial_process_preload"]

# A worker is replaced once its resident memory grew this much over its level after its first trial.
MAX_GROWTH = 0.10


@dataclasses.dataclass
class TrialJob:
    """Everything a trial process needs, picklable."""

    config: object  # the search's resolved kerascnn.training.TrainConfig: every setting a trial trains with
    dataset: object  # a loaded kerascnn.data.RawDataset (or what `kerascnn fit --dataset` takes)
    space: object  # kerascnn.tuning.spaces.SearchSpace
    hyperparameters: dict  # keras_tuner.HyperParameters.get_config()
    fit_kwargs: dict  # epochs, initial_epoch, callbacks, verbose, ...
    initial_weights: str | None = None  # weights file to start from (Hyperband)
    command_line: bool = False  # the search runs as `kerascnn tune`: errors name flags


@dataclasses.dataclass
class TrialOutcome:
    """What a trial process sends back."""

    history: dict  # metric -> per-epoch values, as keras.callbacks.History.history
    epoch: list
    build_config: dict
    peak_rss_mb: float  # the most the worker held so far, this trial included


class TrialProcessError(RuntimeError):
    """A trial process failed outside Keras (it died, or could not be started)."""


class TrialWorker:
    """Runs trials in a worker process (see the module docstring); ``close()`` when the search ends."""

    def __init__(self, max_growth: float | None = None):
        self.max_growth = float(MAX_GROWTH if max_growth is None else max_growth)
        self._process = None
        self._connection = None
        self._baseline_mb = None  # the worker's memory after its first trial

    def run(self, job: TrialJob) -> TrialOutcome:
        """Train ``job`` in the worker; raise its error here.

        Raises:
            keras_tuner.errors.FailedTrialError: the model cannot be built or compiled with these values.
            TrialProcessError: the worker died, or the job cannot be sent to it.
            RuntimeError: any other error of the trial, with its type and first line.
        """
        import keras_tuner

        if self._process is not None and self._pending_memory_report:
            self._check_memory()
        if self._process is None:
            self._start()
        try:
            self._connection.send(job)
        except (BrokenPipeError, ConnectionError, EOFError):
            self._reap()
            raise TrialProcessError(f"the trial's process died ({_exit_reason(self._last_exitcode)})") from None
        except Exception as e:  # pickling the job failed: an unpicklable callback, mostly
            raise TrialProcessError(
                f"cannot send the trial to its process: {type(e).__name__}: {_first_line(e)} "
                "(callbacks must be picklable and importable, not defined in __main__, to run in trial "
                "processes; tune(..., trial_processes=False) trains in this process)"
            ) from None
        try:
            kind, payload = self._connection.recv()
        except EOFError:
            self._reap()
            raise TrialProcessError(f"the trial's process died ({_exit_reason(self._last_exitcode)})") from None
        except BaseException:  # Ctrl-C, or the search being stopped: the trial stops with it
            self.close(kill=True)
            raise
        self._pending_memory_report = True
        if kind == "ok":
            return payload
        if kind == "failed":
            raise keras_tuner.errors.FailedTrialError(payload)
        self.close()  # after an unexpected error, start the next trial in a clean process
        raise RuntimeError(payload)

    def _check_memory(self) -> None:
        """Read the worker's memory after its last trial; replace it if it grew too much."""
        self._pending_memory_report = False
        try:
            memory_mb = self._connection.recv()
        except EOFError:
            self._reap()
            return
        if self._baseline_mb is None:
            self._baseline_mb = memory_mb
        elif memory_mb > self._baseline_mb * (1 + self.max_growth):
            self.close()

    def close(self, kill: bool = False) -> None:
        """Stop the worker (it finishes nothing: call between trials, or with ``kill``)."""
        if self._process is None:
            return
        if not kill:
            with contextlib.suppress(OSError):
                self._connection.send(None)
            self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
        self._reap()

    def _start(self) -> None:
        context = _context()
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(target=_worker_main, args=(child_end,), name="kerascnn-trials", daemon=True)
        with compat.main_module_not_rerun():
            process.start()
        child_end.close()  # the worker holds its own copy: EOF here means the worker is gone
        self._process, self._connection, self._baseline_mb = process, parent_end, None
        self._pending_memory_report = False

    def _reap(self) -> None:
        self._process.join()
        self._last_exitcode = self._process.exitcode
        self._connection.close()
        self._process = self._connection = None

    _last_exitcode = None
    _pending_memory_report = False


def start_server() -> None:
    """Start the preloaded server now, so that its imports overlap with the search's own set-up."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _worker_main(connection) -> None:
    import gc

    _die_with_parent()
    # What the server imported lives as long as the worker: keep it out of every garbage collection
    # (a full one walks millions of TensorFlow objects, ~0.5 s).
    gc.freeze()
    _hide_retracing_warnings()
    search_data = []  # the search's datasets (a worker serves one search), built by its first trial
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            message = ("ok", run_job(job, search_data))
        except BaseException as e:  # everything goes back as one line; the parent decides
            import keras_tuner

            if isinstance(e, keras_tuner.errors.FailedTrialError):
                message = ("failed", _first_line(e))
            else:
                message = ("error", f"{type(e).__name__}: {_first_line(e)}")
        connection.send(message)
        # Cleaning up after the trial overlaps with the search's own bookkeeping; the memory it
        # leaves is reported before the next trial, and decides whether this worker takes it.
        release_trial_memory()
        connection.send(resident_mb())


def _hide_retracing_warnings() -> None:
    # Every trial builds a new model, whose train function TensorFlow traces: not the "retracing"
    # its warning is about (a function traced again and again in a loop).
    import logging

    class NotRetracing(logging.Filter):
        def filter(self, record):
            return "triggered tf.function retracing" not in record.getMessage()

    logging.getLogger("tensorflow").addFilter(NotRetracing())


def run_job(job: TrialJob, search_data: list | None = None) -> TrialOutcome:
    """Assemble and fit the trial's model on the search's data as ``kerascnn fit`` does; in the calling process.

    ``search_data`` keeps the datasets between the trials of one search in one process: empty, it
    receives them; else its one entry is used.
    """
    import resource

    import keras
    import keras_tuner

    from kerascnn.quiet import captured_stderr
    from kerascnn.settings import command_line_wording
    from kerascnn.training import assembly, core_split
    from kerascnn.tuning import training_bridge
    from kerascnn.tuning.hypermodels import ZooHyperModel

    cfg = job.config
    hp = keras_tuner.HyperParameters.from_config(job.hyperparameters)
    # In a new worker TensorFlow has not started yet: core split can be set up as `kerascnn fit` does
    # (a worker keeps the threads its first trial chose).
    with captured_stderr():
        # Looking for devices once here (as kerascnn.quiet does for fit) keeps "failed call to cuInit" off
        # the console of a machine without a GPU; it does not start the runtime, so core split still applies.
        import tensorflow

        tensorflow.config.list_physical_devices()
    split = core_split.prepare(cfg.core_split, cfg.model, job.space.resolve(hp.values)[0])
    with captured_stderr():  # TensorFlow's start-up lines, as the CLI hides them at import
        strategy = training_bridge.strategy()
    keras.utils.set_random_seed(cfg.seed)
    if search_data:
        prepared, train, val = search_data[0]
    else:
        prepared = assembly.prepare(cfg, job.dataset if not isinstance(job.dataset, str) else None)
        train, val, _ = assembly.pipelines(cfg, prepared, with_test=False)
        if search_data is not None:
            search_data.append((prepared, train, val))
    hypermodel = ZooHyperModel(job.space, cfg, prepared)
    with command_line_wording() if job.command_line else contextlib.nullcontext(), strategy.scope():
        model = hypermodel.build(hp)
        if job.initial_weights:
            # Built first, the optimizer takes its saved state too (Adam's moments, the step count the
            # learning-rate schedule follows): the trial continues where it stopped.
            model.optimizer.build(model.trainable_variables)
            model.load_weights(job.initial_weights)
    parts = core_split.core_split_applies(model) if split else 0
    if parts:
        core_split.enable_core_split(model, parts)
    history = hypermodel.fit(hp, model, train, validation_data=val, **job.fit_kwargs)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return TrialOutcome(
        history={k: [float(v) for v in values] for k, values in history.history.items()},
        epoch=list(history.epoch),
        build_config=model.get_build_config(),
        peak_rss_mb=peak_kb / 1024,
    )


def _die_with_parent() -> None:
    # The server exits when the search process dies; without this a killed search would leave its
    # running trial training (and writing into the trial directory a resumed search reuses).
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        pass
    if os.getppid() == 1:  # the server died before prctl took effect
        os._exit(1)


def _exit_reason(code) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


def _first_line(error: BaseException) -> str:
    from kerascnn.tuning.hypermodels import one_line

    return one_line(error)
