"""The registry's facts (kerascnn/models/facts.py) say what the tables they replaced said.

Before issue 18 the training defaults lived in kerascnn/training/defaults.py (MODEL_DEFAULTS,
FAMILY_DEFAULTS, GENERIC), the tuning ranges in tuning/spaces.py (FAMILY_SPACES) and the
BatchNorm families in module constants read by core split. Those tables are copied here verbatim: moving
the facts beside the builders must not change one number `kerascnn fit` or `kerascnn tune` uses.
"""

from __future__ import annotations

import pytest

from kerascnn.models import get_model_info, list_models
from kerascnn.models.facts import ModelFacts, TrainingDefaults
from kerascnn.models.hyperparameters import has_batch_norm_config
from kerascnn.training import get_training_defaults
from kerascnn.training.defaults import GENERIC
from kerascnn.tuning.spaces import FAMILY_SPACES, TRAINING_SPACE, default_space, variant_overrides

OLD_GENERIC = TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3)
OLD_MODEL_DEFAULTS = {
    "lenet": TrainingDefaults(epochs=30, batch_size=64, optimizer="adam", lr=1e-2, schedule="cosine"),
    "lenet_bn": TrainingDefaults(epochs=20, batch_size=64, optimizer="adam", lr=1e-2, schedule="cosine"),
    "mnist_cnn": TrainingDefaults(epochs=15, batch_size=128, optimizer="adam", lr=1e-3),
}
OLD_FAMILY_DEFAULTS = {
    "lenet": TrainingDefaults(epochs=30, batch_size=64, optimizer="adam", lr=1e-2, schedule="cosine"),
    "mnist_cnn": TrainingDefaults(epochs=15, batch_size=128, optimizer="adam", lr=1e-3),
    "alexnet": TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.01),
    "vgg": TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.05),
    "nin": TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.1),
    "googlenet": TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.1),
    "resnet": TrainingDefaults(epochs=10, batch_size=256, optimizer="sgd", lr=0.05),
    "densenet": TrainingDefaults(epochs=10, batch_size=256, optimizer="sgd", lr=0.1),
    "mobilenet": TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3, schedule="cosine"),
    "mobilenet_v2": TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3, schedule="cosine"),
}
OLD_ALWAYS_BATCH_NORM = {"resnet", "densenet", "mobilenet", "mobilenet_v2"}

OLD_FAMILY_SPACES = {
    "lenet": {
        "filters": [{"values": [6, 16, 32]}, {"values": [16, 32, 64]}],
        "kernel_sizes": [{"values": [3, 5, 7]}, {"values": [3, 5]}],
        "dense_units": [{"values": [84, 120, 256]}, {"values": [42, 84, 128]}],
        "activation": {"values": ["sigmoid", "relu", "tanh"]},
        "pooling": {"values": ["avg", "max"]},
        "batch_norm": {"values": [False, True]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    "mnist_cnn": {
        "filters": [{"values": [10, 16, 32]}, {"values": [20, 32, 64]}],
        "kernel_sizes": [{"values": [3, 5]}, {"values": [3, 5]}],
        "hidden_units": {"values": [50, 128, 256, 500]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    "alexnet": {
        # The 11x11/4 stem suits 224x224 inputs; smaller stems suit upsampled 28x28 digits.
        "kernel_sizes": [{"values": [5, 7, 11]}, {"values": [3, 5]}, 3, 3, 3],
        "first_stride": {"values": [2, 4]},
        "dense_units": [{"values": [1024, 2048, 4096]}, {"values": [1024, 2048, 4096]}],
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "local_response_norm": {"values": [False, True]},
    },
    "vgg": {
        "width_divisor": {"values": [1, 2, 4, 8]},  # channels / divisor (d2l trains VGG-11 at /4)
        "dense_units": [{"values": [512, 1024, 4096]}, {"values": [512, 1024, 4096]}],
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "batch_norm": {"values": [False, True]},
    },
    "nin": {
        "kernel_sizes": [{"values": [5, 7, 11]}, {"values": [3, 5]}, 3],
        "first_stride": {"values": [2, 4]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    "googlenet": {
        "width_divisor": {"values": [1, 2, 4]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    "resnet": {
        "filters": [{"values": [32, 64]}, {"values": [64, 128]}, {"values": [128, 256]}, {"values": [256, 512]}],
        "stem_kernel_size": {"values": [3, 7]},
        "stem_stride": {"values": [1, 2]},
        "stem_pool": {"values": [False, True]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    "densenet": {
        "growth_rate": {"values": [12, 24, 32, 48]},
        "compression": {"values": [0.5, 0.75, 1.0]},
        "bottleneck_width": {"values": [0, 2, 4]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    "mobilenet": {
        "alpha": {"values": [0.25, 0.5, 0.75, 1.0]},  # the published width multipliers
        "depth_multiplier": {"values": [1, 2]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    "mobilenet_v2": {
        "alpha": {"values": [0.35, 0.5, 0.75, 1.0, 1.4]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
}



def test_every_model_keeps_its_training_defaults():
    assert GENERIC == OLD_GENERIC
    for name in list_models():
        family = get_model_info(name).family
        expected = OLD_MODEL_DEFAULTS.get(name) or OLD_FAMILY_DEFAULTS.get(family) or OLD_GENERIC
        assert get_training_defaults(name) == expected, name


def test_every_model_keeps_its_default_search_space():
    for name in list_models():
        overridden = variant_overrides(name)
        expected = {k: v for k, v in OLD_FAMILY_SPACES[get_model_info(name).family].items() if k not in overridden}
        expected.update(TRAINING_SPACE)
        # default_space copies into the file format (tuples become lists), as it did before.
        assert default_space(name) == _as_lists(expected), name
    assert dict(FAMILY_SPACES) == OLD_FAMILY_SPACES


@pytest.mark.parametrize("hparams", [{}, {"batch_norm": True}, {"batch_norm": False}])
def test_every_model_keeps_its_batch_norm_answer(hparams):
    from kerascnn.models import default_hyperparameters

    for name in list_models():
        info = get_model_info(name)
        merged = {**default_hyperparameters(name), **hparams}
        expected = info.family in OLD_ALWAYS_BATCH_NORM or bool(merged.get("batch_norm", False))
        assert has_batch_norm_config(name, hparams) == expected, name


def test_every_model_has_facts_and_a_family_shares_them():
    for name in list_models():
        info = get_model_info(name)
        assert isinstance(info.facts, ModelFacts) and info.facts.training is not None, name
        assert info.facts.test_input >= 1
        # One family, one tuning space: a variant differs in its own builder defaults, not in the ranges.
        first = get_model_info(next(n for n in list_models() if get_model_info(n).family == info.family))
        assert info.facts.tuning_space is first.facts.tuning_space, name


def _as_lists(value):
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    return value
