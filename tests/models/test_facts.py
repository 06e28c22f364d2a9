"""The registry's facts (kerascnn/models/facts.py) say what the tables they replaced said.

Before the facts moved beside the builders, the training defaults lived in kerascnn/training/defaults.py
(MODEL_DEFAULTS, FAMILY_DEFAULTS, GENERIC), the tuning ranges in tuning/spaces.py (FAMILY_SPACES) and the
BatchNorm families in module constants read by core split; the pretrained loader's per-family tables in
kerascnn/models/pretrained/torchvision_names.py and load.py. Those tables are copied here verbatim: moving
the facts beside the builders must not change one number `kerascnn fit` or `kerascnn tune` uses, nor
which torchvision tensor a layer loads, torchvision's epsilon or the preprocessing weights expect.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import pytest

from kerascnn.models import get_model_info, list_models
from kerascnn.models.facts import ModelFacts, TrainingDefaults
from kerascnn.models.hyperparameters import has_batch_norm_config
from kerascnn.models.pretrained import WeightSource
from kerascnn.models.pretrained.load import source_preprocessing
from kerascnn.summary import build_uninitialized
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
# The models of the families those tables knew (families registered since have no old table to match).
OLD_MODELS = [name for name in list_models() if get_model_info(name).family in OLD_FAMILY_DEFAULTS]

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
    for name in OLD_MODELS:
        family = get_model_info(name).family
        expected = OLD_MODEL_DEFAULTS.get(name) or OLD_FAMILY_DEFAULTS.get(family) or OLD_GENERIC
        assert get_training_defaults(name) == expected, name


def test_every_model_keeps_its_default_search_space():
    for name in OLD_MODELS:
        overridden = variant_overrides(name)
        expected = {k: v for k, v in OLD_FAMILY_SPACES[get_model_info(name).family].items() if k not in overridden}
        expected.update(TRAINING_SPACE)
        # default_space copies into the file format (tuples become lists), as it did before.
        assert default_space(name) == _as_lists(expected), name
    old_families = {family: space for family, space in FAMILY_SPACES.items() if family in OLD_FAMILY_SPACES}
    assert old_families == OLD_FAMILY_SPACES


@pytest.mark.parametrize("hparams", [{}, {"batch_norm": True}, {"batch_norm": False}])
def test_every_model_keeps_its_batch_norm_answer(hparams):
    from kerascnn.models import default_hyperparameters

    for name in OLD_MODELS:
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


# ------------------------------------------- the pretrained loader's tables (kerascnn.models.pretrained)

# torchvision_names.py, verbatim (its module docstring aside); densenet and mobilenet_v2 already had
# their torchvision_names in their family module, which the loader looked up first.

# BatchNorm epsilon of torchvision's modules per family (BatchNorm2d's default 1e-5 unless listed).
OLD_TORCHVISION_BN_EPSILON = {"googlenet": 1e-3}

# What torchvision's published weights expect of the input (torchvision's ``transforms``): RGB in [0, 1]
# normalized with ImageNet's statistics; GoogLeNet's weights were converted from TensorFlow and set
# ``transform_input=True``, which maps ImageNet-normalized input to (x - 0.5) / 0.5: the same as this.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
OLD_TORCHVISION_PREPROCESSING = {
    "default": {"name": "imagenet (torchvision)", "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "channel_order": "RGB"},
    "googlenet": {
        "name": "[-1, 1] (torchvision GoogLeNet, transform_input)",
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "channel_order": "RGB",
    },
}

# Tensors a torchvision file may hold that a model legitimately leaves out (GoogLeNet's auxiliary heads
# when the model is built without them); reported as skipped, never silently.
OLD_OPTIONAL_PREFIXES = {"googlenet": ("aux1.", "aux2.")}


def _weighted(model):
    return [layer for layer in model.layers if layer.weights]


def resnet_names(model) -> dict:
    names = {}
    for layer in _weighted(model):
        n = layer.name
        if n == "conv1_conv":
            names[n] = "conv1"
        elif n == "conv1_bn":
            names[n] = "bn1"
        elif n == "logits":
            names[n] = "fc"
        else:
            m = re.fullmatch(r"conv(\d+)_block(\d+)_(\d+)_(conv|bn)", n)
            if not m:
                continue  # left unmapped: reported as a layer the file cannot fill
            stage, block, index, kind = int(m[1]), int(m[2]), int(m[3]), m[4]
            inner = f"downsample.{0 if kind == 'conv' else 1}" if index == 0 else f"{kind}{index}"
            names[n] = f"layer{stage - 1}.{block - 1}.{inner}"
    return names


def vgg_names(model) -> dict:
    """torchvision numbers ``features`` by position: conv (+ BN) + ReLU per conv, one MaxPool per block."""
    names, index = {}, 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            names[layer.name] = f"features.{index}"
            index += 2
        elif isinstance(layer, keras.layers.BatchNormalization):
            names[layer.name] = f"features.{index - 1}"  # between the conv and its ReLU
            index += 1
        elif isinstance(layer, keras.layers.MaxPooling2D):
            index += 1
    names.update({"fc1": "classifier.0", "fc2": "classifier.3", "logits": "classifier.6"})
    return names


def alexnet_names(model) -> dict:
    return {
        "conv1": "features.0",
        "conv2": "features.3",
        "conv3": "features.6",
        "conv4": "features.8",
        "conv5": "features.10",
        "fc1": "classifier.1",
        "fc2": "classifier.4",
        "logits": "classifier.6",
    }


_GOOGLENET_PATHS = {
    "1x1": "branch1",
    "3x3_reduce": "branch2.0",
    "3x3": "branch2.1",
    "5x5_reduce": "branch3.0",
    "5x5": "branch3.1",
    "pool_proj": "branch4.1",
}
_GOOGLENET_STEM = {"conv1_7x7": "conv1", "conv2_reduce": "conv2", "conv2_3x3": "conv3"}


def googlenet_names(model) -> dict:
    names = {}
    for layer in _weighted(model):
        n = layer.name
        base, suffix = (n[: -len("_bn")], "bn") if n.endswith("_bn") else (n, "conv")
        if n == "logits":
            names[n] = "fc"
        elif base in _GOOGLENET_STEM:
            names[n] = f"{_GOOGLENET_STEM[base]}.{suffix}"
        elif m := re.fullmatch(r"inception(\d[a-e])_(.+)", base):
            names[n] = f"inception{m[1]}.{_GOOGLENET_PATHS[m[2]]}.{suffix}"
        elif m := re.fullmatch(r"(aux\d)_(conv|fc|logits)", base):
            inner = {"conv": f"conv.{suffix}", "fc": "fc1", "logits": "fc2"}[m[2]]
            names[n] = f"{m[1]}.{inner}"
    return names


OLD_TORCHVISION_NAMES = {
    "resnet": resnet_names,
    "vgg": vgg_names,
    "alexnet": alexnet_names,
    "googlenet": googlenet_names,
}


# load.py
OLD_CAFFE_PREPROCESSING = {  # keras.applications' "caffe" mode: BGR, minus ImageNet's mean in 0..255
    "name": "caffe (keras.applications)",
    "mean": [103.939 / 255, 116.779 / 255, 123.68 / 255],
    "std": [1 / 255] * 3,
    "channel_order": "BGR",
}
OLD_FAMILIES_WITH_OWN_NAMES = {"densenet", "mobilenet_v2"}


def _old_keras_h5_preprocessing(family):
    return OLD_CAFFE_PREPROCESSING if family == "vgg" else None


@pytest.mark.parametrize("name", OLD_MODELS)
def test_every_model_keeps_its_pretrained_weights_facts(name):
    info = get_model_info(name)
    family, torchvision = info.family, info.facts.torchvision
    torchvision_file = WeightSource(Path("w.safetensors"), "torchvision", {}, "")
    keras_file = WeightSource(Path("w.h5"), "keras_h5", {}, "")
    old_preprocessing = OLD_TORCHVISION_PREPROCESSING.get(family, OLD_TORCHVISION_PREPROCESSING["default"])
    assert source_preprocessing(name, torchvision_file) == old_preprocessing
    assert source_preprocessing(name, keras_file) == _old_keras_h5_preprocessing(family)
    assert info.facts.keras_applications_preprocessing == _old_keras_h5_preprocessing(family)
    if family not in OLD_TORCHVISION_NAMES and family not in OLD_FAMILIES_WITH_OWN_NAMES:
        assert torchvision is None, name
        return
    assert torchvision.preprocessing == old_preprocessing
    assert torchvision.bn_epsilon == OLD_TORCHVISION_BN_EPSILON.get(family, 1e-5)
    assert tuple(torchvision.optional_prefixes) == OLD_OPTIONAL_PREFIXES.get(family, ())
    # The same torchvision prefix for every layer: the family's test setting, and BatchNorm where
    # the builder has it as an option (torchvision's vgg*_bn).
    settings = [dict(info.facts.test_hyperparameters)]
    if family == "vgg":
        settings.append({**settings[0], "batch_norm": True})
    for hyperparameters in settings:
        model = build_uninitialized(name, (info.facts.test_input,) * 2 + (3,), **hyperparameters)
        names = torchvision.names(model)
        if family in OLD_FAMILIES_WITH_OWN_NAMES:
            import importlib

            assert torchvision.names is importlib.import_module(f"kerascnn.models.{family}").torchvision_names
        else:
            assert names == OLD_TORCHVISION_NAMES[family](model), (name, hyperparameters)
        assert set(names) == {layer.name for layer in model.layers if layer.weights}, name
