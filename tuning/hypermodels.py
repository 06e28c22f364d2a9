"""``ZooHyperModel``: a keras-tuner HyperModel for any model of the zoo, driven by its search space.

``build(hp)`` declares the space's hyperparameters on ``hp``, hands the values to the zoo's own
builder (``kerascnn.models.build``) and compiles the result with the same helper ``kerascnn fit``
uses. No architecture is described here: the space only names builder arguments.

A value the architecture cannot take (a kernel larger than its feature map, a bad combination) makes
that trial fail with a one-line reason (``keras_tuner.errors.FailedTrialError``); the search goes on.
"""

from __future__ import annotations

from typing import Callable

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
        input_shape: (H, W, C) the model takes, from the dataset's ``DataSpec``.
        num_classes: classes of the dataset.
        compile_model: ``compile_model(model, **training_kwargs)``, compiling in place with the
            training hyperparameters of the trial (``lr``, ``optimizer``).
    """

    def __init__(self, space: SearchSpace, input_shape, num_classes: int, compile_model: Callable, *,
                 init_from=None, new_head: bool = False):
        super().__init__(name=space.model, tunable=True)
        self.init_from = init_from  # pretrained weights every trial starts from (all layers trainable)
        self.new_head = new_head
        self.space = space
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.compile_model = compile_model

    def build(self, hp):
        from kerascnn.models import build

        model_kwargs, training_kwargs = self.space.declare(hp)
        try:
            model = build(self.space.model, self.input_shape, self.num_classes, **model_kwargs)
        except Exception as e:  # any builder complaint is this trial's failure, not the search's
            raise keras_tuner.errors.FailedTrialError(
                f"{self.space.model} cannot be built with these values: {one_line(e)}"
            ) from e
        if self.init_from is not None:
            from kerascnn.models.pretrained import load_weights

            try:  # architecture values other than the weights' cannot start from them
                load_weights(model, self.init_from, new_head=self.new_head)
            except Exception as e:
                raise keras_tuner.errors.FailedTrialError(f"--init-from does not fit these values: {one_line(e)}") from e
        try:
            self.compile_model(model, **training_kwargs)
        except Exception as e:
            raise keras_tuner.errors.FailedTrialError(f"cannot compile {self.space.model}: {one_line(e)}") from e
        return model

    def fit(self, hp, model, x, *args, validation_data=None, **kwargs):
        """``model.fit`` on the search's datasets, labels repeated for auxiliary heads.

        The main output's accuracy is also logged as ``accuracy``/``val_accuracy`` so that one
        objective name works for every model.
        """
        from kerascnn.tuning.training_bridge import accuracy_key, labels_for

        history = model.fit(labels_for(x, model), *args, validation_data=labels_for(validation_data, model), **kwargs)
        key = accuracy_key(model)
        if key != "accuracy":
            for prefix in ("", "val_"):
                if prefix + key in history.history:
                    history.history[prefix + "accuracy"] = history.history[prefix + key]
        return history
