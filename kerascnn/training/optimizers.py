"""Adam and AdamW whose per-variable update is one fused TensorFlow kernel.

Keras 3 writes Adam's update in backend-neutral ops: about fifteen small TensorFlow ops per variable
(casts, powers, two ``assign_add``, a ``sqrt``, a divide, an ``assign_sub``). For small networks such as
LeNet those ops cost as much as the forward and backward pass. ``tf.raw_ops.ResourceApplyAdam`` does the
same arithmetic in one kernel:

    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
    var -= alpha * m / (sqrt(v) + epsilon)

which is exactly ``keras.optimizers.Adam.update_step`` (without AMSGrad). Everything else (decoupled
weight decay, clipping, EMA, gradient accumulation, loss scaling, tf.distribute) is the stock Keras
optimizer's code, because only ``update_step`` is replaced.

The stock update is used whenever the fused kernel does not apply: another Keras backend, AMSGrad,
sparse (``IndexedSlices``) gradients, or a variable whose dtype the kernel does not take.

Both classes are registered Keras serializables (``kerascnn>FusedAdam``, ``kerascnn>FusedAdamW``), so
``.keras`` checkpoints that hold them reload with ``keras.saving.load_model`` once ``kerascnn.training``
is imported; their config is Adam's, so a checkpoint also loads into the stock optimizer.
"""

from __future__ import annotations

import keras

# dtypes for which TensorFlow registers a ResourceApplyAdam kernel on CPU and GPU.
_FUSED_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _handle(variable):
    """The resource handle of a Keras or tf variable (the local component under tf.distribute)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


class _FusedAdamUpdate:
    """Mixin: ``update_step`` through ``tf.raw_ops.ResourceApplyAdam`` when it gives Adam's numbers."""

    def _can_fuse(self, gradient, variable) -> bool:
        if keras.backend.backend() != "tensorflow" or self.amsgrad:
            return False
        import tensorflow as tf

        if isinstance(gradient, tf.IndexedSlices):
            return False
        return keras.backend.standardize_dtype(variable.dtype) in _FUSED_DTYPES

    def update_step(self, gradient, variable, learning_rate):
        """Update ``variable`` in place: one fused kernel, or Keras' own Adam update if it cannot fuse."""
        if not self._can_fuse(gradient, variable):
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        dtype = variable.dtype
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        return tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(m),
            v=_handle(v),
            beta1_power=tf.pow(beta_1, local_step),
            beta2_power=tf.pow(beta_2, local_step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


@keras.saving.register_keras_serializable(package="kerascnn")
class FusedAdam(_FusedAdamUpdate, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (same arguments, same numbers) with a fused TensorFlow update.

    Example:
        >>> model.compile(optimizer=FusedAdam(1e-3), loss="sparse_categorical_crossentropy")
    """


@keras.saving.register_keras_serializable(package="kerascnn")
class FusedAdamW(_FusedAdamUpdate, keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` (same arguments, same numbers) with a fused TensorFlow update.

    Keras applies the decoupled weight decay ``var -= var * weight_decay * lr`` before ``update_step``;
    that part is unchanged.
    """
