"""Which torchvision state-dict prefix holds each zoo layer's tensors, family by family.

A mapping function takes the built Keras model and returns ``{keras_layer_name: torch_prefix}`` for
every layer with weights, e.g. ``"conv2_block1_1_conv" -> "layer1.0.conv1"``. The converter then reads
``prefix.weight`` / ``.bias`` / ``.running_mean`` / ``.running_var`` as the layer type needs. A family
without a torchvision counterpart is simply absent from ``TORCHVISION_NAMES``; a family module may also
define its own ``torchvision_names(model)`` (looked up first), so a new family is one file.
"""

from __future__ import annotations

import re

import keras

# BatchNorm epsilon of torchvision's modules per family (BatchNorm2d's default 1e-5 unless listed).
TORCHVISION_BN_EPSILON = {"googlenet": 1e-3}

# What torchvision's published weights expect of the input (torchvision's ``transforms``): RGB in [0, 1]
# normalized with ImageNet's statistics; GoogLeNet's weights were converted from TensorFlow and set
# ``transform_input=True``, which maps ImageNet-normalized input to (x - 0.5) / 0.5: the same as this.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
TORCHVISION_PREPROCESSING = {
    "default": {"name": "imagenet (torchvision)", "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "channel_order": "RGB"},
    "googlenet": {"name": "[-1, 1] (torchvision GoogLeNet, transform_input)", "mean": [0.5] * 3, "std": [0.5] * 3,
                  "channel_order": "RGB"},
}

# Tensors a torchvision file may hold that a model legitimately leaves out (GoogLeNet's auxiliary heads
# when the model is built without them); reported as skipped, never silently.
OPTIONAL_PREFIXES = {"googlenet": ("aux1.", "aux2.")}


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
        "conv1": "features.0", "conv2": "features.3", "conv3": "features.6", "conv4": "features.8",
        "conv5": "features.10", "fc1": "classifier.1", "fc2": "classifier.4", "logits": "classifier.6",
    }


_GOOGLENET_PATHS = {"1x1": "branch1", "3x3_reduce": "branch2.0", "3x3": "branch2.1", "5x5_reduce": "branch3.0",
                    "5x5": "branch3.1", "pool_proj": "branch4.1"}
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


TORCHVISION_NAMES = {"resnet": resnet_names, "vgg": vgg_names, "alexnet": alexnet_names, "googlenet": googlenet_names}


def family_names_function(family: str):
    """The mapping function of ``family``: the family module's ``torchvision_names`` or this table's."""
    import importlib

    module = importlib.import_module(f"kerascnn.models.{family}")
    return getattr(module, "torchvision_names", None) or TORCHVISION_NAMES.get(family)
