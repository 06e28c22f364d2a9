"""Each trial of a search trains in a fresh process, so that memory stays flat over any number of trials.

TensorFlow keeps 5-9 MB per trained model that ``clear_session``, ``gc`` and ``malloc_trim`` never
return (its runtime's per-function state; the traced functions leave the eager context's function
library, the memory stays; ``benchmarks/bench_tune.py`` measures it). A search of hundreds of trials
in one process grows by gigabytes: keras-tuner #873, #1031.

So the search process never trains: each trial's build + fit runs in a child process forked from a
server process that imported TensorFlow, Keras and kerascnn but never ran an op (multiprocessing's
"forkserver"; forking a process whose TensorFlow runtime is running is unsafe). A trial starts in a
fraction of a second instead of the ~5 s of a fresh interpreter, and everything it allocated goes back
to the OS when it exits. A trial whose process dies (out of memory, a crash in a kernel) fails with
the reason, and the search goes on.

A trial process rebuilds the search's data the way ``kerascnn fit`` does (same split, DataSpec and
pipeline), builds and compiles the model with the trial's values, optionally loads weights (Hyperband
continuing an earlier trial), fits with the trial's callbacks (they travel by pickle) and sends back
the history, the model's build config, its CPU seconds and peak resident memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal

# Imported by the server process before it forks any trial, so that no trial pays for them.
PRELOAD = ["kerascnn.tuning.trial_process_preload"]


@dataclasses.dataclass
class TrialJob:
    """Everything a trial process needs, picklable."""

    model: str
    dataset: object  # a loaded kerascnn.data.RawDataset (or what `kerascnn fit --dataset` takes)
    batch_size: int
    val_split: float
    test_split: float
    data_dir: object
    seed: int
    space: object  # kerascnn.tuning.spaces.SearchSpace
    epochs: int  # epochs of the search (the learning-rate schedule spans them)
    hyperparameters: dict  # keras_tuner.HyperParameters.get_config()
    fit_kwargs: dict  # epochs, initial_epoch, callbacks, verbose, ...
    initial_weights: str | None = None  # weights file to start from (Hyperband)
    core_split: bool = True  # train as `kerascnn fit --core-split auto` does (kerascnn.training.core_split)


@dataclasses.dataclass
class TrialOutcome:
    """What a trial process sends back."""

    history: dict  # metric -> per-epoch values, as keras.callbacks.History.history
    epoch: list
    build_config: dict
    cpu_seconds: float
    peak_rss_mb: float


class TrialProcessError(RuntimeError):
    """A trial process failed outside Keras (it died, or could not be started)."""


def run_in_process(job: TrialJob) -> TrialOutcome:
    """Run ``job`` in a new process forked from the preloaded server; raise its error here.

    Raises:
        keras_tuner.errors.FailedTrialError: the model cannot be built or compiled with these values.
        TrialProcessError: the process died or the job could not be sent to it.
        RuntimeError: any other error of the trial, with its type and first line.
    """
    import keras_tuner

    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_trial_main, args=(job, send), name="kerascnn-trial", daemon=True)
    try:
        with _main_module_not_rerun():
            process.start()
    except Exception as e:  # an unpicklable callback, mostly
        raise TrialProcessError(
            f"cannot start the trial's process: {type(e).__name__}: {_first_line(e)} "
            "(callbacks must be picklable and importable, not defined in __main__, to run in trial "
            "processes; tune(..., trial_processes=False) trains in this process)"
        ) from None
    send.close()  # ours; the child holds its own copy, so EOF means the child is gone
    try:
        message = receive.recv()
    except EOFError:
        message = None
    except BaseException:  # Ctrl-C, or the search being stopped: the trial stops with it
        process.kill()
        process.join()
        raise
    finally:
        receive.close()
    process.join()
    if message is None:
        raise TrialProcessError(f"the trial's process died ({_exit_reason(process.exitcode)})")
    kind, payload = message
    if kind == "ok":
        return payload
    if kind == "failed":
        raise keras_tuner.errors.FailedTrialError(payload)
    raise RuntimeError(payload)


def start_server() -> None:
    """Start the preloaded server now, so that its imports overlap with the search's own set-up."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


@contextlib.contextmanager
def _main_module_not_rerun():
    """Keep multiprocessing from importing the caller's ``__main__`` again in the trial process.

    Its default does that (to find functions defined there); a script calling ``tune`` without an
    ``if __name__ == "__main__"`` guard would then start its search again inside every trial, and
    ``python - < script`` would not work at all. Trials need nothing from ``__main__``.
    """
    from multiprocessing import spawn

    original = spawn.get_preparation_data

    def preparation_data(name):
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    spawn.get_preparation_data = preparation_data
    try:
        yield
    finally:
        spawn.get_preparation_data = original


def _trial_main(job: TrialJob, connection) -> None:
    _die_with_parent()
    try:
        outcome = run_job(job)
        message = ("ok", outcome)
    except BaseException as e:  # everything goes back as one line; the parent decides
        import keras_tuner

        if isinstance(e, keras_tuner.errors.FailedTrialError):
            message = ("failed", _first_line(e))
        else:
            message = ("error", f"{type(e).__name__}: {_first_line(e)}")
    try:
        connection.send(message)
    finally:
        connection.close()


def run_job(job: TrialJob) -> TrialOutcome:
    """Build, compile and fit the trial's model on the search's data; in the calling process."""
    import resource
    import time

    import keras
    import keras_tuner

    from kerascnn.training import core_split
    from kerascnn.tuning import training_bridge
    from kerascnn.tuning.hypermodels import ZooHyperModel

    start = time.process_time()
    hp = keras_tuner.HyperParameters.from_config(job.hyperparameters)
    # TensorFlow has not started in this fresh process: core split can be set up as `kerascnn fit` does.
    split = job.core_split and core_split.prepare("auto", job.model, job.space.resolve(hp.values)[0])
    strategy = training_bridge.strategy()
    keras.utils.set_random_seed(job.seed)
    data = training_bridge.load_data(
        job.model, job.dataset, batch_size=job.batch_size, val_split=job.val_split, test_split=job.test_split,
        data_dir=job.data_dir, seed=job.seed,
    )
    hypermodel = ZooHyperModel(
        job.space, data.input_shape, data.num_classes,
        training_bridge.compile_fn(job.model, epochs=job.epochs, steps_per_epoch=data.steps_per_epoch),
    )
    with strategy.scope():
        model = hypermodel.build(hp)
        if job.initial_weights:
            model.load_weights(job.initial_weights)
    parts = core_split.core_split_applies(model) if split else 0
    if parts:
        core_split.enable_core_split(model, parts)
    history = hypermodel.fit(hp, model, data.train, validation_data=data.val, **job.fit_kwargs)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return TrialOutcome(
        history={k: [float(v) for v in values] for k, values in history.history.items()},
        epoch=list(history.epoch),
        build_config=model.get_build_config(),
        cpu_seconds=time.process_time() - start,
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
