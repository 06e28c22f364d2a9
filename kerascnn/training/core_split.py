"""Data parallelism across the CPU cores inside one training step ("core split").

TensorFlow's default on a CPU runs one op at a time, spread over all cores (intra-op threads). The
small convolutions of the classic CNNs do not spread well: LeNet's training step on MNIST (batch 256)
took ~18.7 ms of CPU with one thread per op and ~16 ms of wall time with two threads per op on two
cores, so the second core added little. Core split gives every op one thread instead and cuts each
batch into one slice per core; the slices' forward and backward passes are independent parts of the
same graph, which TensorFlow's executor runs at the same time (inter-op threads), one core each. The
slices' losses and gradients are summed weighted by slice size, so the update is the whole batch's
(up to floating-point summation order): same loss, optimizer step and metrics. Evaluation and
prediction are split the same way.

TensorFlow's threads can only be chosen before it starts, and they hold for the whole process, so
``kerascnn.fit`` never changes them: it splits (``core_split="auto"``) when the process already runs
one thread per op. :func:`prepare` sets that up for a run, before TensorFlow starts; the ``kerascnn
fit`` command (a process of its own) calls it. In a notebook or script, call it first thing:

    from kerascnn.training import core_split
    core_split.prepare("auto", "lenet")   # before anything else touches TensorFlow
    kerascnn.fit("lenet", ...)

Core split never applies to models with BatchNormalization (each slice would normalize with its own
statistics and update the moving averages once per slice), with several replicas (MirroredStrategy,
multi-worker), on GPUs, or on one core.
"""

from __future__ import annotations

import os

MODES = ("auto", "off")


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure_threads(cores: int | None = None) -> bool:
    """Ask TensorFlow for one thread per op and ``cores`` ops at a time, if it has not started yet.

    Returns True when TensorFlow runs (or will run) with one thread per op, i.e. core split can pay.
    """
    import tensorflow as tf

    cores = int(cores or cpu_cores())
    if cores < 2:
        return False
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(cores)
    except RuntimeError:  # TensorFlow already initialized: keep whatever it runs with
        pass
    return tf.config.threading.get_intra_op_parallelism_threads() == 1


def model_has_batch_norm_config(name: str, hparams: dict | None = None) -> bool:
    """Whether zoo model ``name`` with ``hparams`` contains BatchNormalization, without building it.

    The registry's facts say (``kerascnn.models.hyperparameters.has_batch_norm_config``).
    tests/training/test_core_split.py checks this against every registered model, built.
    """
    from kerascnn.models.hyperparameters import has_batch_norm_config

    return has_batch_norm_config(name, hparams)


def has_batch_norm(model) -> bool:
    """Whether a built Keras model contains a BatchNormalization layer (at any depth)."""
    import keras

    def layers(layer):
        yield layer
        for inner in getattr(layer, "layers", ()):
            yield from layers(inner)

    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in layers(model))


def core_split_applies(model, *, replicas: int = 1) -> int:
    """The number of slices to cut each batch into for ``model`` (0: no core split)."""
    import tensorflow as tf

    cores = cpu_cores()
    if (
        cores < 2
        or replicas != 1
        or tf.config.list_logical_devices("GPU")
        or tf.config.threading.get_intra_op_parallelism_threads() != 1
        or has_batch_norm(model)
    ):
        return 0
    return cores


def _slices(tensor_tree, n, parts: int):
    """``parts`` row slices of every tensor in a nest, with sizes differing by at most one.

    Returns ``[(slice, rows), ...]``. A slice is never empty (TensorFlow would compute a NaN mean
    loss): when the batch has fewer rows than ``parts`` (a last partial batch), an empty slice takes
    the batch's last row instead and reports ``rows == 0``, so it is weighted 0 and dropped.
    """
    import tensorflow as tf
    from keras import tree

    out = []
    for i in range(parts):
        a, b = (n * i) // parts, (n * (i + 1)) // parts
        start = tf.minimum(a, n - 1)
        stop = tf.maximum(b, start + 1)
        out.append((tree.map_structure(lambda t: None if t is None else t[start:stop], tensor_tree), b - a))
    return out


def _batch_size(x):
    import tensorflow as tf
    from keras import tree

    return tf.shape(next(t for t in tree.flatten(x) if t is not None))[0]


def _concat(outputs, rows):
    """The slices' outputs (nests), each cut to its real rows, concatenated back into the batch's."""
    import tensorflow as tf
    from keras import tree

    return tree.map_structure(lambda *parts: tf.concat([p[:r] for p, r in zip(parts, rows)], axis=0), *outputs)


# The steps below are Keras 3.15's own TensorFlow train/test/predict steps
# (keras/src/backend/tensorflow/trainer.py), run once per slice; what they need of Keras' internals
# is in kerascnn.compat.


def _split_train_step(model, data, parts: int):
    import keras
    import tensorflow as tf

    from kerascnn import compat

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    n = _batch_size(x)
    total = tf.cast(n, tf.float32)
    weights = model.trainable_weights
    gradients, predictions, rows, losses = None, [], [], []
    for (xk, yk, swk), rows_k in _slices((x, y, sample_weight), n, parts):
        with tf.GradientTape() as tape:
            pk = model(xk, training=True)  # Keras passes `training` on only where call() takes it
            # The loss is a mean over the slice; weighted by the slice's share of the batch, the slices'
            # losses (and gradients) add up to the whole batch's.
            share = tf.cast(rows_k, tf.float32) / total
            lk = model.compute_loss(xk, yk, pk, swk, training=True) * share
            scaled = model.optimizer.scale_loss(lk) if model.optimizer is not None else lk
        gk = tape.gradient(scaled, weights)
        gradients = (
            gk
            if gradients is None
            else [a if b is None else (b if a is None else a + b) for a, b in zip(gradients, gk)]
        )
        predictions.append(pk)
        rows.append(rows_k)
        losses.append(lk)
    loss = tf.add_n(losses)
    compat.loss_tracker(model).update_state(compat.unscale_loss(loss), sample_weight=n)
    model.optimizer.apply_gradients(zip(gradients, weights))
    return model.compute_metrics(x, y, _concat(predictions, rows), sample_weight=sample_weight)


def _split_forward(model, x, parts: int):
    outputs, rows = [], []
    for xk, rows_k in _slices(x, _batch_size(x), parts):
        outputs.append(model(xk, training=False))
        rows.append(rows_k)
    return _concat(outputs, rows)


def _split_test_step(model, data, parts: int):
    import keras

    from kerascnn import compat

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    y_pred = _split_forward(model, x, parts)
    loss = model.compute_loss(x, y, y_pred, sample_weight, training=False)
    compat.loss_tracker(model).update_state(compat.unscale_loss(loss), sample_weight=_batch_size(x))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def _split_predict_step(model, data, parts: int):
    import keras

    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    return _split_forward(model, x, parts)


def enable_core_split(model, parts: int):
    """Make ``model``'s fit/evaluate/predict steps cut each batch into ``parts`` slices run at once.

    Replaces the steps on this model object only (call after ``compile``, before ``fit``); saving
    and loading are unaffected, the steps are not saved.
    """
    import functools
    import types

    parts = int(parts)
    for name, step in (
        ("train_step", _split_train_step),
        ("test_step", _split_test_step),
        ("predict_step", _split_predict_step),
    ):
        setattr(model, name, types.MethodType(functools.partial(step, parts=parts), model))
    model._kerascnn_core_split = parts
    return model


def prepare(mode: str = "auto", model_name: str = "lenet", hparams: dict | None = None, strategy: str = "auto") -> bool:
    """Before TensorFlow starts: set one thread per op if core split will apply to this training run.

    Leaves TensorFlow's threads alone (and returns False) for ``mode="off"``, a strategy other than
    ``auto``/``default``, a multi-worker cluster (``TF_CONFIG``), GPUs, several logical CPU devices,
    one core, an unknown model, and models with BatchNormalization, which all train faster with
    TensorFlow's default threads. Returns True when TensorFlow now runs one thread per op.
    """
    import tensorflow as tf

    from kerascnn.errors import KerasCNNError
    from kerascnn.training.strategy import tf_config_cluster

    if mode != "auto" or strategy not in ("auto", "default") or tf_config_cluster():
        return False
    # Physical devices and logical device configurations can be read without starting TensorFlow.
    cpus = tf.config.list_physical_devices("CPU")
    if tf.config.list_physical_devices("GPU") or len(tf.config.get_logical_device_configuration(cpus[0]) or ()) > 1:
        return False
    try:
        if model_has_batch_norm_config(model_name, hparams):
            return False
    except KerasCNNError:  # an unknown model: fit reports it
        return False
    return configure_threads()
