"""``ZooHyperModel``: a keras-tuner HyperModel for any model of the zoo, driven by its search space.

``build(hp)`` declares the space's hyperparameters on ``hp`` and assembles the trial's training as
``kerascnn fit`` does (:mod:`kerascnn.training.assembly`): the search's ``TrainConfig`` with the trial's
values, built at its precision, started from its ``init_from`` weights, compiled. No architecture is
described here: the space only names builder arguments.

A value the architecture cannot take (a kernel larger than its feature map, a bad combination) makes
that trial fail with a one-line reason (``keras_tuner.errors.FailedTrialError``); the search goes on.
"""

from __future__ import annotations

import dataclasses

import keras_tuner

from kerascnn.tuning.spaces import SearchSpace


def one_line(error: BaseException) -> str:
    """The first line of an error message, prefixed with its type when the message is empty."""
    text = str(error).strip()
    if isinstance(error, KeyError) and len(error.args) == 1:
        text = str(error.args[0])
    first = text.splitlines()[0] if text else ""
    return first or type(error).__name__


class ZooHyperModel(keras_tuner.HyperModel):
    """Build and compile ``space.model`` with the hyperparameter values keras-tuner picks.

    Args:
        space: the resolved search space (``kerascnn.tuning.spaces.resolve_space``).
        config: the search's resolved ``TrainConfig``: every setting a trial trains with.
        prepared: the search's data (``kerascnn.training.assembly.prepare(config)``).
    """

    def __init__(self, space: SearchSpace, config, prepared):
        super().__init__(name=space.model, tunable=True)
        self.space = space
        self.config = config
        self.prepared = prepared

    def trial_config(self, hp):
        """The search's config with this trial's builder hyperparameters and training values."""
        model_kwargs, training_kwargs = self.space.declare(hp)
        return dataclasses.replace(self.config, hparams=model_kwargs, **training_kwargs)

    def build(self, hp):
        from kerascnn.models.pretrained import WeightsError
        from kerascnn.settings import caller_name
        from kerascnn.training import assembly

        cfg = self.trial_config(hp)
        try:
            return assembly.assemble(cfg, self.prepared).model
        except WeightsError as e:  # architecture values other than the weights' cannot start from them
            raise keras_tuner.errors.FailedTrialError(
                f"{caller_name('init_from')} does not fit these values: {one_line(e)}"
            ) from e
        except Exception as e:  # any builder complaint is this trial's failure, not the search's
            raise keras_tuner.errors.FailedTrialError(
                f"{self.space.model} cannot be built with these values: {one_line(e)}"
            ) from e

    def fit(self, hp, model, x, *args, validation_data=None, callbacks=(), **kwargs):
        """``model.fit`` on the search's datasets as ``kerascnn fit`` would, labels repeated for auxiliary heads.

        The main output's accuracy is also logged as ``accuracy``/``val_accuracy`` so that one
        objective name works for every model.
        """
        import keras

        from kerascnn.tuning.training_bridge import accuracy_key, labels_for

        cfg, key = self.config, accuracy_key(model)
        callbacks = list(callbacks or [])
        if cfg.early_stopping:
            monitor = ("val_" if validation_data is not None else "") + key
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=int(cfg.early_stopping))
            )
        if self.prepared is not None and self.prepared.repeat_train:
            kwargs.setdefault("steps_per_epoch", self.prepared.steps_per_epoch)
        history = model.fit(
            labels_for(x, model),
            *args,
            validation_data=labels_for(validation_data, model),
            validation_steps=cfg.eval_steps,
            callbacks=callbacks,
            **kwargs,
        )
        if key != "accuracy":
            for prefix in ("", "val_"):
                if prefix + key in history.history:
                    history.history[prefix + "accuracy"] = history.history[prefix + key]
        return history
