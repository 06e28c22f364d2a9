"""The one place where tuning meets ``kerascnn.training``: defaults, strategy, compile, callbacks.

A search must train exactly as ``kerascnn fit`` does, so these functions call fit's own helpers.
"""

from __future__ import annotations


def defaults(model: str) -> dict:
    """fit's per-model training defaults: epochs, batch_size, learning_rate, optimizer."""
    return {"epochs": 10, "batch_size": 128, "learning_rate": 1e-3, "optimizer": "adam"}


def strategy():
    """The tf.distribute strategy fit trains under."""
    import tensorflow as tf

    return tf.distribute.get_strategy()


def compile_fn(model_name: str, *, epochs: int, steps_per_epoch: int | None):
    """``compile_model(model, **training_hyperparameters)`` as fit compiles ``model_name``."""
    import keras

    def compile_model(model, learning_rate=1e-3, optimizer="adam"):
        opt = keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": learning_rate}})
        model.compile(
            optimizer=opt,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=False,
        )

    return compile_model


def callbacks() -> list:
    """Callbacks fit uses that also make sense per trial."""
    import keras

    return [keras.callbacks.TerminateOnNaN()]
