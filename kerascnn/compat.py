"""Every use of private Keras, keras-tuner and multiprocessing internals, in one place.

Keras and keras-tuner change their internals without notice. Each entry below says what it reaches
into, why no public API does the job, and the upstream issue it works around; all were checked on the
versions in ``CHECKED_VERSIONS``. ``tests/test_compat.py`` fails with a clear message when the
installed versions differ (re-check every entry here, then update ``CHECKED_VERSIONS``), and fails
when a module outside this one imports ``keras.src``/``keras_tuner.src`` or touches a private
attribute of a Keras or keras-tuner object.

Entries:
    Keras      loss_tracker, unscale_loss                        kerascnn.training.core_split
    Keras      patch_keras_for_multi_worker, is_multi_worker     kerascnn.training (strategy, compile)
    Keras      uninitialized_variables, in_stateless_scope       kerascnn.summary, kerascnn.models (smallest_input,
                                                                 initializers)
    Keras      load_weights_only                                 kerascnn.training.checkpoints
    Keras      to_snake_case                                     kerascnn.models.pretrained.load
    keras-tuner  atomic_json_writes, show_failed_trial_tracebacks,
               TrialHook, without_tuner_callbacks,
               validate_trial_results                            kerascnn.tuning.tuners
    keras-tuner  hyperparameters_hash                            kerascnn.tuning.project
    TensorFlow write_saved_model_fingerprint                     kerascnn.export.saved_model
    Python     main_module_not_rerun, forkserver_pid             kerascnn.tuning.trial_process, benchmarks
"""

from __future__ import annotations

import contextlib
import json

# The versions every entry was written and checked against (tests/test_compat.py compares them to
# the installed ones). The multiprocessing entries were checked on CPython 3.11.7.
CHECKED_VERSIONS = {"keras": "3.15.1", "keras-tuner": "1.4.8", "tensorflow": "2.21.0"}


# ------------------------------------------------------------------------------------------- Keras
# Core split (kerascnn.training.core_split) re-runs Keras 3.15's own TensorFlow train/test steps
# (keras/src/backend/tensorflow/trainer.py) once per slice of the batch. Keras' public
# ``compute_loss`` (with ``training``, Keras >= 3.3, keras-team/keras#19840) and
# ``keras.utils.unpack_x_y_sample_weight`` do part of it; the ``loss`` metric fit reports is the
# model's private loss tracker, which a custom ``train_step`` has no public way to update
# (keras-team/keras#19402 and the "Customizing fit()" guides keep their own ``Mean`` tracker instead,
# which would report another metric than fit's), and the tracker records the loss unscaled for
# distribution by a private helper.


def loss_tracker(model):
    """The ``keras.metrics.Mean`` behind the ``loss`` that ``fit``/``evaluate`` report."""
    return model._loss_tracker


def unscale_loss(loss):
    """Keras' ``unscale_loss_for_distribution``: the loss the tracker records (one replica: itself)."""
    from keras.src.losses import loss as loss_module

    return loss_module.unscale_loss_for_distribution(loss)


# Keras 3.15.1's fit/evaluate/predict under MultiWorkerMirroredStrategy: two bugs in
# keras/src/backend/tensorflow/trainer.py (keras-team/keras#20585, tensorflow/tensorflow#72388).
# 1. ``TensorFlowTrainer._maybe_symbolic_build`` eagerly calls ``strategy.reduce("MEAN", batch)`` on
#    the first (PerReplica) batch only to learn its shapes; under MultiWorkerMirroredStrategy that
#    eager collective fails. The build needs shapes only, so we take the first local replica's batch.
# 2. ``reduce_per_replica(..., "mean")`` calls ``strategy.reduce("MEAN", v, axis=0)`` on scalar
#    metric values ("Invalid reduction dimension 0 for input with 0 dimensions"). Scalars are reduced
#    with ``axis=None``.
# Both change behaviour only under a multi-worker strategy. A third limit has no patch: Keras'
# multi-step loop (``steps_per_execution > 1``) fails with more than one replica ("You must feed a
# value for placeholder tensor ..."), so ``kerascnn.fit`` uses one step per call there.

_MULTI_WORKER_PATCHED = False


def is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or (
        type(strategy).__name__.startswith("CollectiveAllReduceStrategy")
    )


def patch_keras_for_multi_worker() -> None:
    """Install the two fixes (idempotent)."""
    global _MULTI_WORKER_PATCHED
    if _MULTI_WORKER_PATCHED:
        return
    import tensorflow as tf
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not is_multi_worker(strategy) or iterator is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tree.map_structure(
                lambda v: (
                    strategy.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v
                ),
                batch,
            )
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if not is_multi_worker(strategy) or reduction not in ("mean", "auto"):
            return original_reduce(values, strategy, reduction)

        def _reduce(v):
            rank = strategy.experimental_local_results(v)[0].shape.rank
            return strategy.reduce("MEAN", v, axis=0 if rank else None)

        return tree.map_structure(_reduce, values)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _MULTI_WORKER_PATCHED = True


# Shapes and parameter counts without drawing weights (kerascnn.summary): inside
# ``keras.StatelessScope(initialize_variables=False)`` Keras defers every initializer and queues the
# variables in a global list for the next scope that initializes; the queue has no public accessor,
# so a summary would leave its variables queued (and alive) forever. No upstream issue found: Keras
# itself only uses the scope for its own symbolic builds.


@contextlib.contextmanager
def uninitialized_variables():
    """Create Keras variables with shapes but no values inside this block (for inspection only)."""
    import keras
    from keras.src.backend.common import global_state

    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    queued_before = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        del pending[queued_before:]


def in_stateless_scope() -> bool:
    """Whether code runs inside a ``keras.StatelessScope`` (Keras exports the scope, not this test)."""
    from keras.src.backend.common.stateless_scope import in_stateless_scope as inside

    return inside()


def load_weights_only(model, path, *, skip=()) -> None:
    """Load a ``.weights.h5``/``.keras`` file's weights into ``model`` except the objects in ``skip``.

    ``model.load_weights`` has no ``objects_to_skip``: it warns about (or fails on) an optimizer whose
    variables belong to other trainable weights (keras-team/keras#20128's "Skipping variable loading
    for optimizer"). ``saving_lib.load_weights_only`` is what it calls, with the skip list.
    """
    from keras.src.saving import saving_lib

    saving_lib.load_weights_only(model, str(path), objects_to_skip=list(skip))


def to_snake_case(name: str) -> str:
    """Keras 3's snake-case of a class name, as ``save_weights`` names layers without a name."""
    from keras.src.utils.naming import to_snake_case as snake

    return snake(name)


# -------------------------------------------------------------------------------------- TensorFlow


def write_saved_model_fingerprint(directory) -> None:
    """Rewrite ``fingerprint.pb`` of a SavedModel whose ``saved_model.pb`` was edited after saving.

    The fingerprint holds a checksum of saved_model.pb (informational: loading does not check it);
    TensorFlow exports only ``read_fingerprint``, the writer is in ``tensorflow.python``. A failure
    leaves the old fingerprint, which is harmless. No upstream issue found.
    """
    try:
        from tensorflow.python.saved_model import fingerprinting_utils

        fingerprinting_utils.write_fingerprint(str(directory))
    except Exception:  # noqa: BLE001 - a private API: a stale fingerprint is harmless
        pass


# ------------------------------------------------------------------------------------- keras-tuner


@contextlib.contextmanager
def atomic_json_writes(write_text):
    """Make keras-tuner write its JSON files (trial.json, oracle.json, ...) with ``write_text(path, text)``.

    keras-tuner 1.4 writes them in place (``keras_tuner.src.utils.save_json``); a kill in the middle
    leaves half a file that the next run cannot reload (keras-team/keras-tuner#987). Given a
    write-then-rename ``write_text``, a kill leaves the previous file. Remote paths keep keras-tuner's
    own writer.
    """
    from keras_tuner.src import utils

    original = utils.save_json

    def save_json(path, obj):
        text = json.dumps(obj)
        if "://" in str(path):
            return original(path, obj)
        write_text(path, text)
        return text

    utils.save_json = save_json
    try:
        yield
    finally:
        utils.save_json = original


def show_failed_trial_tracebacks(show: bool) -> None:
    """keras-tuner prints the whole traceback of every failed trial unless its ``DEBUG`` is off.

    There is no public switch (keras-team/keras-tuner#221 asks for verbosity control); kerascnn prints
    one line per failed trial instead and shows tracebacks with ``KERASCNN_DEBUG``.
    """
    from keras_tuner.src import config

    config.DEBUG = bool(show)


def keras_tuner_console_outside_notebooks() -> None:
    """Stop keras-tuner 1.4 from taking a plain Python process for a notebook when IPython is installed.

    ``keras_tuner.src.utils`` sets ``IS_NOTEBOOK`` when ``"Terminal"`` is not in the class name of
    ``IPython.get_ipython()``, which is ``NoneType`` outside IPython; it then "clears" the output
    after every trial with IPython's ``clear_output``, which writes escape codes (``ESC[2K``) into a
    log file or a terminal. A real notebook keeps the clearing.
    """
    from keras_tuner.src import utils

    try:
        import IPython

        in_ipython = IPython.get_ipython() is not None
    except ImportError:
        in_ipython = False
    if utils.IS_NOTEBOOK and not in_ipython:
        utils.IS_NOTEBOOK = False


class TrialHook:
    """Public names for keras-tuner 1.4's private per-trial hooks; mix in before a Tuner class.

    ``Tuner._build_and_fit_model`` builds and fits one trial's model ("For AutoKeras to override").
    Overriding it is the only way to train a trial elsewhere (kerascnn trains each in a worker
    process, because TensorFlow never returns the memory of a trained model: keras-team/keras-tuner
    #873, #1031). A subclass defines ``build_and_fit(trial, *args, **kwargs)`` and may call
    ``keras_tuner_build_and_fit`` (keras-tuner's own), ``checkpoint_path`` and ``save_build_config``.
    """

    def _build_and_fit_model(self, trial, *args, **kwargs):
        return self.build_and_fit(trial, *args, **kwargs)

    def build_and_fit(self, trial, *args, **kwargs):
        return self.keras_tuner_build_and_fit(trial, *args, **kwargs)

    def keras_tuner_build_and_fit(self, trial, *args, **kwargs):
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def checkpoint_path(self, trial_id) -> str:
        """Where keras-tuner keeps a trial's best weights (Hyperband continues from them)."""
        return self._get_checkpoint_fname(trial_id)

    def save_build_config(self, trial_id, build_config: dict) -> None:
        """Write a trial's ``build_config.json`` as keras-tuner's own hook does (for ``load_model``)."""
        from keras_tuner.src import utils

        utils.save_json(self._get_build_config_fname(trial_id), build_config)


def without_tuner_callbacks(callbacks) -> list:
    """``callbacks`` without keras-tuner's ``TunerCallback`` (it calls a tuner's per-epoch hooks,
    which do nothing in kerascnn's tuners and cannot travel to a trial process)."""
    from keras_tuner.src.engine import tuner_utils

    return [c for c in callbacks if not isinstance(c, tuner_utils.TunerCallback)]


def hyperparameters_hash(values: dict) -> str:
    """keras-tuner's hash of a trial's hyperparameter values: what oracle.json's ``tried_so_far`` and
    ``id_to_hash`` hold (a hash of names and values), so the oracle never runs the same values twice.

    Resuming a search saved under old hyperparameter names renames them (kerascnn.tuning.project), and
    the hashes must follow; keras-tuner computes them in a private method (``Oracle._compute_values_hash``,
    which uses nothing of the oracle) and has no public way to rename a hyperparameter.
    """
    import keras_tuner

    return keras_tuner.Oracle._compute_values_hash(None, values)


def validate_trial_results(history, objective) -> None:
    """keras-tuner's own check of what a trial's fit returned (raises its errors)."""
    from keras_tuner.src.engine import tuner_utils

    tuner_utils.validate_trial_results(history, objective, "HyperModel.fit()")


# ------------------------------------------------------------------------------------------ Python


@contextlib.contextmanager
def main_module_not_rerun():
    """Keep multiprocessing from importing the caller's ``__main__`` again in a started process.

    Its "spawn"/"forkserver" start methods do that (to find functions defined there:
    ``spawn.get_preparation_data`` returns ``init_main_from_path``/``init_main_from_name``); a script
    calling ``tune`` without an ``if __name__ == "__main__"`` guard would then start its search again
    inside every trial, and ``python - < script`` would not work at all (python/cpython#98552 and
    #126631 describe the same preparation data). Trials need nothing from ``__main__``.
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


def forkserver_pid() -> int | None:
    """The pid of multiprocessing's fork server, if started (for measuring its memory only)."""
    from multiprocessing import forkserver

    return getattr(forkserver._forkserver, "_forkserver_pid", None)
