"""MobileNetV2 (Sandler et al. 2018): inverted residual blocks with linear bottlenecks.

Stem Conv 32@3x3/2 -> BN -> ReLU6, seventeen inverted residual blocks, Conv 1280@1x1 -> BN -> ReLU6,
global average pooling, Dropout 0.2, Dense classes (logits). An inverted residual block widens its
input ``expansion`` times with a 1x1 conv (+ BN + ReLU6), filters each channel alone with a 3x3
depthwise conv (+ BN + ReLU6; the block's stride sits here), and narrows back with a *linear* 1x1 conv
(+ BN, no activation: a ReLU in the narrow space would destroy information); a stride-1 block whose
input and output widths agree adds its input (the residual joins the narrow ends, hence "inverted").

``alpha`` scales every width, rounded to a multiple of 8 as the reference does (the last 1280 only
grows, never shrinks). Layer names follow ``keras.applications.MobileNetV2`` (``Conv1``,
``block_3_depthwise``, ``block_3_add``, ``Conv_1``, ...). Strided layers pad symmetrically as PyTorch
does (``block_1_pad``: see ``kerascnn.models.layers``) and BatchNorm's epsilon is torchvision's 1e-5, so
with torchvision's weights (``torchvision_names`` below) the model computes torchvision's function. At
224x224x3 with 1000 classes it has torchvision's 3,504,872 trainable parameters (3,538,984 with the
BatchNorm statistics, ``keras.applications.MobileNetV2``'s total).
"""

from __future__ import annotations

import re

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, ReferenceCount, TorchvisionWeights, TrainingDefaults
from kerascnn.models.hyperparameters import check_positive_int, check_positive_number, check_rate, variant
from kerascnn.models.layers import symmetric_padding
from kerascnn.models.registry import register_model
from kerascnn.models.weights import register_weights

_BN_EPSILON = 1e-5  # torchvision's BatchNorm2d default (keras.applications uses 1e-3)

# Per stage: (expansion t, output channels c, blocks n, stride of the first block s): the paper's table 2.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor``, never below 90% of it (the reference's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _bn(x, bn_momentum, name):
    return layers.BatchNormalization(momentum=bn_momentum, epsilon=_BN_EPSILON, name=name)(x)


def inverted_residual_block(x, filters, *, expansion, strides=1, bn_momentum=0.9, name):
    """1x1 expand (+BN+ReLU6, unless expansion is 1) -> 3x3 depthwise (+BN+ReLU6) -> linear 1x1 (+BN) [+ input]."""
    inputs = x
    in_channels = x.shape[-1]
    if expansion != 1:
        x = layers.Conv2D(int(round(in_channels * expansion)), 1, use_bias=False, name=f"{name}_expand")(x)
        x = _bn(x, bn_momentum, f"{name}_expand_BN")
        x = layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    x, padding = symmetric_padding(x, 3, strides, name=f"{name}_pad")
    x = layers.DepthwiseConv2D(3, strides=strides, padding=padding, use_bias=False, name=f"{name}_depthwise")(x)
    x = _bn(x, bn_momentum, f"{name}_depthwise_BN")
    x = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
    x = _bn(x, bn_momentum, f"{name}_project_BN")
    if strides == 1 and in_channels == filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


def build_mobilenet_v2(
    input_shape,
    num_classes,
    *,
    alpha=1.0,
    stages=INVERTED_RESIDUAL_SETTING,
    stem_filters=32,
    last_filters=1280,
    dropout=0.2,
    bn_momentum=0.9,
    name="mobilenet_v2",
) -> keras.Model:
    """MobileNetV2; returns logits.

    Args:
        input_shape: (H, W, C) of the images; any size works (224x224 as published; it downsamples 32x).
        num_classes: units of the last Dense layer.
        alpha: width multiplier (0.35, 0.5, 0.75, 1.0, 1.3, 1.4 published): every width times alpha,
            rounded to a multiple of 8; the last conv's ``last_filters`` only when alpha > 1.
        stages: ``(expansion, channels, blocks, stride)`` per stage.
        stem_filters: channels of the first 3x3/2 convolution (before alpha).
        last_filters: channels of the last 1x1 convolution.
        dropout: dropout rate before the last Dense layer (0.2 as torchvision).
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's 0.1 is 0.9 here).
        name: the model's name.

    Reference: M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen, "MobileNetV2: Inverted residuals
    and linear bottlenecks", CVPR 2018 (arXiv:1801.04381).
    """
    alpha = check_positive_number("alpha", alpha)
    stages = _check_stages(stages)
    stem_filters = check_positive_int("stem_filters", stem_filters)
    last_filters = check_positive_int("last_filters", last_filters)
    dropout = check_rate("dropout", dropout)
    bn_momentum = check_rate("bn_momentum", bn_momentum)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x, padding = symmetric_padding(inputs, 3, 2, name="Conv1_pad")
    x = layers.Conv2D(
        make_divisible(stem_filters * alpha), 3, strides=2, padding=padding, use_bias=False, name="Conv1"
    )(x)
    x = _bn(x, bn_momentum, "bn_Conv1")
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    index = 0
    for expansion, channels, blocks, stride in stages:
        for b in range(blocks):
            # keras.applications calls the first block "expanded_conv", then block_1, block_2, ...
            block_name = "expanded_conv" if index == 0 else f"block_{index}"
            x = inverted_residual_block(
                x,
                make_divisible(channels * alpha),
                expansion=expansion,
                strides=stride if b == 0 else 1,
                bn_momentum=bn_momentum,
                name=block_name,
            )
            index += 1
    x = layers.Conv2D(make_divisible(last_filters * max(1.0, alpha)), 1, use_bias=False, name="Conv_1")(x)
    x = _bn(x, bn_momentum, "Conv_1_bn")
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _check_stages(stages) -> tuple:
    from kerascnn.models.hyperparameters import HyperparameterError, check_int_sequence

    if isinstance(stages, (str, int)) or not stages or not all(hasattr(s, "__len__") and len(s) == 4 for s in stages):
        raise HyperparameterError(
            f"stages must be a list of (expansion, channels, blocks, stride) lists. Received: stages={stages!r}"
        )
    return tuple(check_int_sequence(f"stages[{i}]", s, 4) for i, s in enumerate(stages))


def torchvision_names(model) -> dict:
    """Keras layer -> torchvision ``mobilenet_v2`` state-dict prefix (``features.N...``, ``classifier.1``)."""
    names = {}
    blocks = [layer.name[: -len("_depthwise")] for layer in model.layers if isinstance(layer, layers.DepthwiseConv2D)]
    position = {block: i + 1 for i, block in enumerate(blocks)}  # features.0 is the stem
    last = len(blocks) + 1
    for layer in model.layers:
        if not layer.weights:
            continue
        n = layer.name
        fixed = {
            "Conv1": "features.0.0",
            "bn_Conv1": "features.0.1",
            "Conv_1": f"features.{last}.0",
            "Conv_1_bn": f"features.{last}.1",
            "logits": "classifier.1",
        }
        if n in fixed:
            names[n] = fixed[n]
            continue
        m = re.fullmatch(r"(expanded_conv|block_\d+)_(expand|depthwise|project)(_BN)?", n)
        if not m:
            continue
        block, part, bn = m[1], m[2], bool(m[3])
        expands = f"{block}_expand" in {layer.name for layer in model.layers}
        # torchvision: conv = [ConvBNReLU expand]? + [ConvBNReLU depthwise] + project conv + project BN
        offset = 1 if expands else 0
        if part == "expand":
            inner = f"conv.0.{1 if bn else 0}"
        elif part == "depthwise":
            inner = f"conv.{offset}.{1 if bn else 0}"
        else:
            inner = f"conv.{offset + 1 + (1 if bn else 0)}"
        names[n] = f"features.{position[block]}.{inner}"
    return names


FACTS = ModelFacts(
    # As MobileNet v1 (kerascnn/models/mobilenet.py): Adam 1e-3 with cosine decay for ten epochs.
    training=TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3, schedule="cosine"),
    tuning_space={
        "alpha": {"values": [0.35, 0.5, 0.75, 1.0, 1.4]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    always_batch_norm=True,
    test_hyperparameters={"alpha": 0.5, "stages": ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 1, 2)), "last_filters": 64},
    test_input=8,
    torchvision=TorchvisionWeights(names=torchvision_names),
)


mobilenet_v2 = register_model(
    default_input_shape=(224, 224, 3),
    description="MobileNetV2: inverted residual blocks (1x1 expand, 3x3 depthwise, linear 1x1), alpha widths",
    reference="Sandler et al. 2018",
    facts=FACTS,
    reference_counts=(
        ReferenceCount(3_504_872, "torchvision.models.mobilenet_v2()", trainable_only=True),
        ReferenceCount(3_538_984, "keras.applications.MobileNetV2(weights=None)"),  # BN statistics included
        ReferenceCount(
            1_987_224, "keras.applications.MobileNetV2(alpha=0.5, weights=None)", hyperparameters={"alpha": 0.5}
        ),
    ),
)(variant(build_mobilenet_v2, "mobilenet_v2"))


# Published ImageNet weights: torchvision.models.MobileNet_V2_Weights (hash: the 8 hex digits in the name).
# keras.applications' MobileNetV2 files are not listed: its strided layers pad differently on even inputs.
register_weights(
    "mobilenet_v2",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
    sha256="b0353104",
    top1=71.878,
    top5=90.286,
)
register_weights(
    "mobilenet_v2",
    "torchvision:IMAGENET1K_V2",
    source="torchvision",
    url="https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth",
    sha256="7ebf99e0",
    top1=72.154,
    top5=90.822,
    resize_size=232,
    default=True,
)
