"""GoogLeNet / Inception v1 (Szegedy et al. 2014) with its nine Inception blocks.

Stem: Conv 64@7x7/2 -> MaxPool 3/2 -> Conv 64@1x1 -> Conv 192@3x3 -> MaxPool 3/2; then Inception 3a, 3b,
MaxPool 3/2, 4a-4e, MaxPool 3/2, 5a, 5b, global average pooling, Dropout 0.4, Dense classes (logits).
Every convolution has ReLU and "same" padding, so the network accepts any input size (d2l trains it
at 96x96, the paper at 224x224).

With ``aux_classifiers=True`` the model has three outputs, main first: ``[logits, aux1_logits,
aux2_logits]``; the auxiliary heads on 4a and 4d only help training (the paper weights their losses
by 0.3) and are left out of inference exports.

``googlenet_tv`` is torchvision's GoogLeNet (6,624,904 parameters at 224x224x3 with 1000 classes): every
convolution is conv (no bias) + BatchNorm (epsilon 1e-3) + ReLU, the "5x5" branch has 3x3 kernels (a
known slip kept for its weights), pools count partial windows (PyTorch's ``ceil_mode=True``), the pool
before 5a is 2x2, dropout 0.2, and the auxiliary heads pool adaptively to 4x4 with a conv+BN.
"""

from __future__ import annotations

import dataclasses
import re

import keras
from keras import layers

from kerascnn.models.custom_layers import LocalResponseNormalization
from kerascnn.models.facts import ModelFacts, ReferenceCount, TorchvisionWeights, TrainingDefaults
from kerascnn.models.hyperparameters import check_int_sequence, check_positive_int, check_rate, variant
from kerascnn.models.layers import ceil_mode_padding, symmetric_padding
from kerascnn.models.registry import register_model
from kerascnn.models.weights import register_weights

# Per block: (name, 1x1, (3x3 reduce, 3x3), (5x5 reduce, 5x5), pool projection): the paper's table 1.
INCEPTION_BLOCKS = (
    ("3a", 64, (96, 128), (16, 32), 32),
    ("3b", 128, (128, 192), (32, 96), 64),
    ("4a", 192, (96, 208), (16, 48), 64),
    ("4b", 160, (112, 224), (24, 64), 64),
    ("4c", 128, (128, 256), (24, 64), 64),
    ("4d", 112, (144, 288), (32, 64), 64),
    ("4e", 256, (160, 320), (32, 128), 128),
    ("5a", 256, (160, 320), (32, 128), 128),
    ("5b", 384, (192, 384), (48, 128), 128),
)
_POOL_AFTER = ("3b", "4e")  # MaxPool 3/2 between the stages
_AUX_AFTER = ("4a", "4d")


def _conv(x, filters, kernel_size, *, strides=1, batch_norm=False, bn_momentum=0.9, name):
    """Conv + ReLU, or with ``batch_norm`` torchvision's BasicConv2d: conv (no bias) + BN (eps 1e-3) + ReLU."""
    x, padding = symmetric_padding(x, kernel_size, strides, name=f"{name}_pad")
    if not batch_norm:
        return layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, activation="relu", name=name)(x)
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-3, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _max_pool(x, pool_size, *, ceil_mode, name):
    """MaxPool pool_size/2: Keras' "same", or PyTorch's ``ceil_mode=True`` (inputs are >= 0, after a ReLU)."""
    if not ceil_mode:
        return layers.MaxPooling2D(pool_size, strides=2, padding="same", name=name)(x)
    x = ceil_mode_padding(x, pool_size, 2, name=f"{name}_pad")
    return layers.MaxPooling2D(pool_size, strides=2, name=name)(x)


def inception_block(x, c1, c2, c3, c4, *, branch3_kernel_size=5, batch_norm=False, bn_momentum=0.9, name):
    """Four parallel paths concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max pool -> 1x1."""
    bn = {"batch_norm": batch_norm, "bn_momentum": bn_momentum}
    p1 = _conv(x, c1, 1, name=f"{name}_1x1", **bn)
    p2 = _conv(_conv(x, c2[0], 1, name=f"{name}_3x3_reduce", **bn), c2[1], 3, name=f"{name}_3x3", **bn)
    p3 = _conv(
        _conv(x, c3[0], 1, name=f"{name}_5x5_reduce", **bn), c3[1], branch3_kernel_size, name=f"{name}_5x5", **bn
    )
    p4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    p4 = _conv(p4, c4, 1, name=f"{name}_pool_proj", **bn)
    return layers.Concatenate(name=f"{name}_concat")([p1, p2, p3, p4])


def auxiliary_classifier(
    x, num_classes, *, filters=128, units=1024, dropout=0.7, torchvision=False, bn_momentum=0.9, name
):
    """The paper's side head: AvgPool 5x5/3 -> Conv 128@1x1 -> Dense 1024 -> Dropout 0.7 -> Dense classes.

    ``torchvision=True``: adaptive average pooling to 4x4 (any input size) and conv + BN, as torchvision.
    """
    if torchvision:
        x = layers.AdaptiveAveragePooling2D((4, 4), name=f"{name}_pool")(x)
    else:
        x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = _conv(x, filters, 1, batch_norm=torchvision, bn_momentum=bn_momentum, name=f"{name}_conv")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(units, activation="relu", name=f"{name}_fc")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, name=f"{name}_logits")(x)


def build_googlenet(
    input_shape,
    num_classes,
    *,
    stem_filters=(64, 64, 192),
    width_divisor=1,
    dropout=0.4,
    aux_classifiers=False,
    aux_dropout=0.7,
    local_response_norm=False,
    batch_norm=False,
    bn_momentum=0.9,
    branch3_kernel_size=5,
    ceil_mode=False,
    pool_sizes=(3, 3, 3, 3),
    name="googlenet",
) -> keras.Model:
    """GoogLeNet; returns logits (and the two auxiliary logits after them when asked).

    Args:
        input_shape: (H, W, C) of the images; any size works (96x96 in d2l, 224x224 in the paper;
            the auxiliary heads need at least 65x65).
        num_classes: units of the last Dense layer(s).
        stem_filters: channels of the stem's 7x7, 1x1 and 3x3 convolutions.
        width_divisor: divides the channels of every Inception path.
        dropout: dropout rate before the last Dense layer (0.4 in the paper; d2l uses none).
        aux_classifiers: add the two auxiliary heads as extra outputs (for training only).
        aux_dropout: dropout rate in the auxiliary heads.
        local_response_norm: the paper's LRN after the first pooling and after the 3x3 stem conv.
        batch_norm: conv (no bias) + BatchNorm + ReLU everywhere, and torchvision's auxiliary heads.
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's 0.1 is 0.9 here).
        branch3_kernel_size: kernel of the third ("5x5") path's second conv (torchvision: 3).
        ceil_mode: pools count partial windows as PyTorch's ``ceil_mode=True``; else Keras' "same"
            pooling. (The strided stem conv pads symmetrically, as PyTorch, in both cases.)
        pool_sizes: the four stride-2 max pools (after the stem conv, the stem, 3b and 4e; torchvision's
            last one is 2x2).
        name: the model's name.

    Reference: C. Szegedy et al., "Going deeper with convolutions", CVPR 2015 (arXiv:1409.4842).
    """
    stem_filters = check_int_sequence("stem_filters", stem_filters, 3)
    width_divisor = check_positive_int("width_divisor", width_divisor)
    dropout = check_rate("dropout", dropout)
    aux_dropout = check_rate("aux_dropout", aux_dropout)
    branch3_kernel_size = check_positive_int("branch3_kernel_size", branch3_kernel_size)
    pool_sizes = check_int_sequence("pool_sizes", pool_sizes, 4)
    bn_momentum = check_rate("bn_momentum", bn_momentum)
    bn = {"batch_norm": bool(batch_norm), "bn_momentum": bn_momentum}

    def width(c):
        return max(1, c // width_divisor)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = _conv(inputs, stem_filters[0], 7, strides=2, name="conv1_7x7", **bn)
    x = _max_pool(x, pool_sizes[0], ceil_mode=ceil_mode, name="pool1")
    if local_response_norm:
        x = LocalResponseNormalization(name="pool1_lrn")(x)
    x = _conv(x, stem_filters[1], 1, name="conv2_reduce", **bn)
    x = _conv(x, stem_filters[2], 3, name="conv2_3x3", **bn)
    if local_response_norm:
        x = LocalResponseNormalization(name="conv2_lrn")(x)
    x = _max_pool(x, pool_sizes[1], ceil_mode=ceil_mode, name="pool2")

    aux_outputs = []
    for block_name, c1, c2, c3, c4 in INCEPTION_BLOCKS:
        x = inception_block(
            x,
            width(c1),
            tuple(map(width, c2)),
            tuple(map(width, c3)),
            width(c4),
            branch3_kernel_size=branch3_kernel_size,
            name=f"inception{block_name}",
            **bn,
        )
        if aux_classifiers and block_name in _AUX_AFTER:
            aux_name = f"aux{len(aux_outputs) + 1}"
            aux_outputs.append(
                auxiliary_classifier(
                    x,
                    num_classes,
                    dropout=aux_dropout,
                    torchvision=bool(batch_norm),
                    bn_momentum=bn_momentum,
                    name=aux_name,
                )
            )
        if block_name in _POOL_AFTER:
            pool_size = pool_sizes[2 + _POOL_AFTER.index(block_name)]
            x = _max_pool(x, pool_size, ceil_mode=ceil_mode, name=f"pool{block_name[0]}")

    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    outputs = [logits, *aux_outputs] if aux_classifiers else logits
    return keras.Model(inputs, outputs, name=name)


_TORCHVISION_BRANCHES = {
    "1x1": "branch1",
    "3x3_reduce": "branch2.0",
    "3x3": "branch2.1",
    "5x5_reduce": "branch3.0",
    "5x5": "branch3.1",
    "pool_proj": "branch4.1",
}
_TORCHVISION_STEM = {"conv1_7x7": "conv1", "conv2_reduce": "conv2", "conv2_3x3": "conv3"}


def torchvision_names(model) -> dict:
    """Keras layer -> torchvision ``googlenet`` state-dict prefix (``inception3a.branch2.1.conv``...)."""
    names = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        n = layer.name
        base, suffix = (n[: -len("_bn")], "bn") if n.endswith("_bn") else (n, "conv")
        if n == "logits":
            names[n] = "fc"
        elif base in _TORCHVISION_STEM:
            names[n] = f"{_TORCHVISION_STEM[base]}.{suffix}"
        elif m := re.fullmatch(r"inception(\d[a-e])_(.+)", base):
            names[n] = f"inception{m[1]}.{_TORCHVISION_BRANCHES[m[2]]}.{suffix}"
        elif m := re.fullmatch(r"(aux\d)_(conv|fc|logits)", base):
            inner = {"conv": f"conv.{suffix}", "fc": "fc1", "logits": "fc2"}[m[2]]
            names[n] = f"{m[1]}.{inner}"
    return names


FACTS = ModelFacts(
    # d2l.ai 8.4: plain SGD, lr 0.1, batch 128.
    training=TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.1),
    tuning_space={
        "width_divisor": {"values": [1, 2, 4]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    # Auxiliary heads and LRN on: the tests cover them (and the heads must not reach an export).
    test_hyperparameters={
        "width_divisor": 16,
        "stem_filters": (8, 8, 8),
        "aux_classifiers": True,
        "local_response_norm": True,
    },
    test_input=65,  # the auxiliary heads' 5x5/3 "valid" average pool
    smallest_input=65,
    # googlenet_tv's. Its weights were converted from TensorFlow and set ``transform_input=True``, which
    # maps ImageNet-normalized input to (x - 0.5) / 0.5: the same as this preprocessing.
    torchvision=TorchvisionWeights(
        names=torchvision_names,
        preprocessing={
            "name": "[-1, 1] (torchvision GoogLeNet, transform_input)",
            "mean": [0.5] * 3,
            "std": [0.5] * 3,
            "channel_order": "RGB",
        },
        bn_epsilon=1e-3,
        optional_prefixes=("aux1.", "aux2."),  # the auxiliary heads, when built without them
    ),
)


googlenet = register_model(
    default_input_shape=(96, 96, 3),
    description="GoogLeNet (Inception v1): nine Inception blocks, optional auxiliary heads and LRN",
    reference="Szegedy et al. 2014; d2l.ai 8.4",
    facts=FACTS,
)(variant(build_googlenet, "googlenet"))

googlenet_tv = register_model(
    default_input_shape=(224, 224, 3),
    description="GoogLeNet as torchvision builds it: conv+BatchNorm everywhere, 3x3 in the '5x5' path, ceil-mode pools",
    reference="Szegedy et al. 2014; torchvision.models.googlenet",
    facts=dataclasses.replace(FACTS, smallest_input=31),  # its auxiliary heads pool adaptively
    reference_counts=(
        ReferenceCount(6_624_904, "torchvision.models.googlenet(aux_logits=False)", trainable_only=True),
        ReferenceCount(
            13_004_888,
            "torchvision.models.googlenet(aux_logits=True)",
            trainable_only=True,
            hyperparameters={"aux_classifiers": True},
        ),
    ),
)(
    variant(
        build_googlenet,
        "googlenet_tv",
        batch_norm=True,
        branch3_kernel_size=3,
        ceil_mode=True,
        pool_sizes=(3, 3, 3, 2),
        dropout=0.2,
    )
)


# Published ImageNet weights of googlenet_tv: torchvision.models.GoogLeNet_Weights (hash: the 8 hex digits in the
# name). Ported from the original Inception v1, they expect pixels in [-1, 1]: torchvision's googlenet turns its
# ImageNet-normalized input into that ("transform_input") whenever it loads them.
register_weights(
    "googlenet_tv",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url="https://download.pytorch.org/models/googlenet-1378be20.pth",
    sha256="1378be20",
    top1=69.778,
    top5=89.530,
    default=True,
    preprocessing={
        "name": "inception (torchvision's transform_input)",
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "channel_order": "RGB",
    },
)
