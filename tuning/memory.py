"""Keep a search's memory flat: free what a finished trial leaves, measure what a process holds.

TensorFlow keeps 5-9 MB per trained model that nothing here returns (see ``trial_process``); what it
does free, these helpers hand back to the OS between trials.
"""

from __future__ import annotations

import contextlib
import gc


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


def resident_mb(pid: int | None = None) -> float:
    """Resident memory of process ``pid`` (default: this one), in MiB."""
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20
