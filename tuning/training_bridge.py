"""Where tuning meets ``kerascnn.training``: what a search may vary, and fit's pieces a trial's fit needs.

A trial trains exactly as ``kerascnn fit`` does: ``kerascnn.training.assembly`` prepares the data, builds,
loads and compiles each trial's model from the search's ``TrainConfig`` with the trial's values (see
:class:`kerascnn.tuning.hypermodels.ZooHyperModel`). What is left here is the little that a keras-tuner
search needs on top.
"""

from __future__ import annotations

# Training settings a search may vary (names as in a --hparams file of `kerascnn fit`).
TRAINING_HYPERPARAMETERS = ("lr", "optimizer", "weight_decay", "label_smoothing", "schedule")


def strategy(name: str = "auto"):
    """The tf.distribute strategy ``kerascnn fit`` trains under (``--strategy auto`` by default)."""
    from kerascnn.training.strategy import get_strategy

    return get_strategy(name)


def labels_for(dataset, model):
    """``dataset`` with its labels repeated once per output of ``model`` (GoogLeNet's auxiliary heads)."""
    from kerascnn.training.compile import with_multi_output_labels

    return None if dataset is None else with_multi_output_labels(dataset, len(model.outputs))


def accuracy_key(model) -> str:
    from kerascnn.training.compile import accuracy_key as key

    return key(model)


def callbacks() -> list:
    """Callbacks of fit that belong in every trial: stop a diverged trial at once."""
    import keras

    return [keras.callbacks.TerminateOnNaN()]
