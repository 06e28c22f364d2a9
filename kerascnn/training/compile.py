"""Compiling a zoo model for training: optimizer by name, learning-rate schedule, loss, metrics.

Models output logits, so the loss is sparse categorical cross-entropy ``from_logits=True`` (with label
smoothing when asked). A model with auxiliary heads (GoogLeNet) gets the same loss on every output,
weighted ``1, aux_loss_weight, ...``; accuracy is measured on the first (main) output only.
``jit_compile=False``: XLA is slower than TensorFlow's own kernels for these models on CPU (measured).
"""

from __future__ import annotations

import keras

from kerascnn.training.config import OPTIMIZERS, SCHEDULES

DEFAULT_STEPS_PER_EXECUTION = 32


def steps_per_execution(requested, steps_per_epoch: int, strategy=None) -> int:
    """Training steps per graph call: ``requested``, else a whole epoch capped at 32 (fit and tune's trials)."""
    from kerascnn.compat import is_multi_worker

    if strategy is not None and (is_multi_worker(strategy) or strategy.num_replicas_in_sync > 1):
        # Keras 3.15.1's multi-step training loop (the step inside tf.cond inside tf.while_loop) fails
        # with more than one replica ("You must feed a value for placeholder tensor ...", measured with
        # MirroredStrategy over 2 logical CPUs and with MultiWorkerMirroredStrategy): one step per call.
        return 1
    if requested:
        return int(requested)
    return max(1, min(int(steps_per_epoch), DEFAULT_STEPS_PER_EXECUTION))


@keras.saving.register_keras_serializable(package="kerascnn")
class SparseCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy on logits with optional label smoothing.

    Keras' ``SparseCategoricalCrossentropy`` has no label smoothing; this one-hot encodes the integer
    labels only when smoothing is on.
    """

    def __init__(self, label_smoothing: float = 0.0, name="sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        ops = keras.ops
        if not self.label_smoothing:
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        one_hot = ops.one_hot(y_true, ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def make_schedule(name: str, lr: float, *, epochs: int, steps_per_epoch: int):
    """A learning rate or ``keras.optimizers.schedules`` object.

    ``cosine`` decays to 0 over the whole run; ``step`` divides by 10 at 50% and 75% of the run.
    """
    if name not in SCHEDULES:
        from kerascnn.errors import KerasCNNError

        raise KerasCNNError(f"Unknown schedule {name!r}. Choose from: {', '.join(SCHEDULES)}.")
    total = max(1, int(epochs) * int(steps_per_epoch))
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(float(lr), decay_steps=total)
    if name == "step":
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(total * 0.5), int(total * 0.75)], [float(lr), float(lr) * 0.1, float(lr) * 0.01]
        )
    return float(lr)


def make_optimizer(name: str, lr, *, weight_decay: float = 0.0, momentum: float = 0.9):
    """``sgd`` | ``momentum`` (SGD, Nesterov off, ``momentum``) | ``adam`` | ``adamw``.

    ``weight_decay`` is decoupled weight decay (Keras' optimizer argument); ``adamw`` without an
    explicit value uses 1e-4.
    """
    from kerascnn.errors import KerasCNNError

    wd = float(weight_decay) or None
    if name == "sgd":
        return keras.optimizers.SGD(lr, weight_decay=wd)
    if name == "momentum":
        return keras.optimizers.SGD(lr, momentum=momentum, weight_decay=wd)
    if name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=wd if wd is not None else 1e-4)
    raise KerasCNNError(f"Unknown optimizer {name!r}. Choose from: {', '.join(OPTIMIZERS)}.")


def compile_model(
    model,
    *,
    optimizer: str = "adam",
    lr: float = 1e-3,
    schedule: str = "constant",
    epochs: int = 1,
    steps_per_epoch: int = 1,
    label_smoothing: float = 0.0,
    weight_decay: float = 0.0,
    aux_loss_weight: float = 0.3,
    steps_per_execution: int = DEFAULT_STEPS_PER_EXECUTION,
    jit_compile: bool = False,
):
    """Compile ``model`` (call inside ``strategy.scope()``) and return it.

    Args:
        model: a zoo model (logits; several outputs = main + auxiliary heads).
        optimizer: one of ``OPTIMIZERS``. lr: peak learning rate.
        schedule: one of ``SCHEDULES``; epochs and steps_per_epoch size it.
        label_smoothing: 0 disables. weight_decay: decoupled weight decay, 0 disables.
        aux_loss_weight: loss weight of each auxiliary output.
        steps_per_execution: training steps per ``tf.function`` call (fewer Python round trips).
        jit_compile: XLA; off by default because it is slower on CPU for these models.
    """
    opt = make_optimizer(
        optimizer,
        make_schedule(schedule, lr, epochs=epochs, steps_per_epoch=steps_per_epoch),
        weight_decay=weight_decay,
    )
    loss = SparseCrossentropy(label_smoothing)
    n_out = len(model.outputs)
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    if n_out == 1:
        model.compile(
            opt, loss, metrics=[accuracy], jit_compile=jit_compile, steps_per_execution=int(steps_per_execution)
        )
    else:
        model.compile(
            opt,
            loss=[loss] * n_out,
            loss_weights=[1.0] + [float(aux_loss_weight)] * (n_out - 1),
            metrics=[[accuracy]] + [[] for _ in range(n_out - 1)],
            jit_compile=jit_compile,
            steps_per_execution=int(steps_per_execution),
        )
    return model


def accuracy_key(model) -> str:
    """The history/metrics key of the main output's accuracy (``accuracy``, or ``NAME_accuracy``)."""
    return "accuracy" if len(model.outputs) == 1 else f"{model.output_names[0]}_accuracy"


def with_multi_output_labels(dataset, n_outputs: int):
    """Repeat the labels of ``(images, labels)`` batches once per model output (main + aux heads)."""
    if n_outputs == 1:
        return dataset
    return dataset.map(lambda x, y: (x, tuple([y] * n_outputs)))
