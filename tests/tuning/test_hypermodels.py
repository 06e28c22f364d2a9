"""ZooHyperModel builds zoo models from keras-tuner's values; an impossible model is a failed trial."""

from __future__ import annotations

import keras_tuner
import pytest

from kerascnn.training import TrainConfig
from kerascnn.training.assembly import prepare
from kerascnn.tuning.hypermodels import ZooHyperModel
from kerascnn.tuning.spaces import resolve_space


def _hypermodel(space, **settings):
    config = TrainConfig(model=space.model, epochs=1, input_shape=[28, 28], **settings).resolve()
    return ZooHyperModel(space, config, prepare(config))  # the bundled digits, resized to 28x28


def test_builds_the_zoo_model_with_the_trial_values():
    hm = _hypermodel(resolve_space("lenet"))
    hp = keras_tuner.HyperParameters()
    hp.Fixed("kernel_sizes[1]", 3)
    hp.Fixed("filters[0]", 32)
    hp.Fixed("optimizer", "sgd")
    hp.Fixed("lr", 0.05)
    model = hm.build(hp)
    assert model.get_layer("block1_conv").filters == 32
    assert model.get_layer("block2_conv").kernel_size == (3, 3)
    assert model.output_shape == (None, 10)  # logits
    assert type(model.optimizer).__name__ == "SGD"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert {"lr", "optimizer", "kernel_sizes[0]", "dropout"} <= set(hp.values)


def test_a_kernel_larger_than_its_feature_map_fails_the_trial_with_the_reason():
    hm = _hypermodel(resolve_space("lenet", {"kernel_sizes": [5, {"values": [5, 15]}]}))
    hp = keras_tuner.HyperParameters()
    hp.Fixed("kernel_sizes[1]", 15)
    with pytest.raises(keras_tuner.errors.FailedTrialError) as e:
        hm.build(hp)
    message = str(e.value)
    assert "\n" not in message and "block2_conv" in message and "15x15" in message
