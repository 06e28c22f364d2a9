"""RegNet (Radosavovic et al. 2020): the AnyNet design space and its regular networks, RegNetX and RegNetY.

An AnyNet is a stem (Conv 3x3/2 -> BN -> ReLU), stages of residual bottleneck blocks, global average
pooling and a Dense classifier (logits). Every stage halves the resolution at its first block and keeps
one width; its blocks are ResNeXt's: 1x1 conv to the bottleneck width (``width * bottleneck_ratio``),
a grouped 3x3 conv of ``group_width`` channels per group (strided in the first block), [RegNetY: a
squeeze-and-excitation of ``se_ratio`` times the block's input width], 1x1 conv back to ``width``, each
with BatchNorm (ReLU after the first two), plus the input (through a 1x1 conv + BN where the shape
changes), then ReLU. What is free per stage (depth, width) and per network (group width, bottleneck
ratio) is the design space d2l.ai 8.8 samples; RegNet's finding is that good networks have widths that
grow linearly with depth, quantized: :func:`regnet_stages` turns the paper's (depth, w_0, w_a, w_m)
into stage depths and widths, and ``PUBLISHED_DESIGNS`` holds torchvision's fourteen RegNetX/Y sizes.

``regnet_d2l`` is d2l.ai 8.8's RegNetX-32 (stem 32, stages of 4 and 6 blocks, 32 and 80 wide, 16
channels per group); d2l's convolutions have a bias before each BatchNorm, which the BatchNorm cancels
(the same function with 1,968 parameters fewer: 181,258 here at 96x96x1 and ten classes, BatchNorm
statistics included). ``regnet_x_400mf`` and ``regnet_y_400mf`` are torchvision's: layer names map onto
torchvision's state dicts (``torchvision_names``), strided layers pad symmetrically as PyTorch does and
BatchNorm's epsilon is 1e-5, so with torchvision's weights the model computes torchvision's function.
Layer names: ``stem_conv``, ``s2_b1_a_conv`` (stage 2, block 1, conv a), ``s2_b1_se_reduce``, ``s2_b1_proj_bn``,
``s2_b1_add``, ``logits``.
"""

from __future__ import annotations

import math
import re

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, ReferenceCount, TorchvisionWeights, TrainingDefaults
from kerascnn.models.hyperparameters import (
    HyperparameterError,
    check_int_sequence,
    check_positive_int,
    check_positive_number,
    check_rate,
    variant,
)
from kerascnn.models.layers import symmetric_padding
from kerascnn.models.registry import register_model
from kerascnn.models.weights import TORCHVISION_MODELS_URL, register_weights

_BN_EPSILON = 1e-5  # torchvision's BatchNorm2d default

# torchvision's RegNets: (depth, w_0, w_a, w_m, group_width, se_ratio) of the paper's quantized linear
# widths (``regnet_stages``); se_ratio 0 is RegNetX, 0.25 RegNetY. Bottleneck ratio 1 throughout.
PUBLISHED_DESIGNS = {
    "regnet_x_400mf": (22, 24, 24.48, 2.54, 16, 0.0),
    "regnet_x_800mf": (16, 56, 35.73, 2.28, 16, 0.0),
    "regnet_x_1_6gf": (18, 80, 34.01, 2.25, 24, 0.0),
    "regnet_x_3_2gf": (25, 88, 26.31, 2.25, 48, 0.0),
    "regnet_x_8gf": (23, 80, 49.56, 2.88, 120, 0.0),
    "regnet_x_16gf": (22, 216, 55.59, 2.1, 128, 0.0),
    "regnet_x_32gf": (23, 320, 69.86, 2.0, 168, 0.0),
    "regnet_y_400mf": (16, 48, 27.89, 2.09, 8, 0.25),
    "regnet_y_800mf": (14, 56, 38.84, 2.4, 16, 0.25),
    "regnet_y_1_6gf": (27, 48, 20.71, 2.65, 24, 0.25),
    "regnet_y_3_2gf": (21, 80, 42.63, 2.66, 24, 0.25),
    "regnet_y_8gf": (17, 192, 76.82, 2.19, 56, 0.25),
    "regnet_y_16gf": (18, 200, 106.23, 2.48, 112, 0.25),
    "regnet_y_32gf": (20, 232, 115.89, 2.53, 232, 0.25),
}


def regnet_stages(depth: int, w_0: int, w_a: float, w_m: float, quantum: int = 8) -> tuple[tuple, tuple]:
    """Stage depths and widths of a RegNet from the paper's parameters (its equations 2-4, torchvision's rule).

    Block ``j`` of ``depth`` would be ``w_0 + w_a * j`` wide; widths are snapped to ``w_0 * w_m**k``
    (integer k, a geometric ladder) and rounded to a multiple of ``quantum``; consecutive blocks of one
    width form a stage. ``regnet_stages(22, 24, 24.48, 2.54)`` (RegNetX-400MF) is
    ``((1, 2, 7, 12), (24, 64, 152, 392))``, which ``published_design`` then rounds to multiples of the
    group width 16: (32, 64, 160, 400).
    """
    if w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % quantum:
        raise HyperparameterError(
            f"RegNet widths need w_a >= 0, w_0 > 0 and a multiple of {quantum}, w_m > 1. "
            f"Received: w_0={w_0!r}, w_a={w_a!r}, w_m={w_m!r}"
        )
    widths = []
    for j in range(depth):
        capacity = round(math.log((j * w_a + w_0) / w_0) / math.log(w_m))
        widths.append(int(round(w_0 * w_m**capacity / quantum) * quantum))
    depths, stage_widths = [], []
    for w in widths:
        if stage_widths and stage_widths[-1] == w:
            depths[-1] += 1
        else:
            stage_widths.append(w)
            depths.append(1)
    return tuple(depths), tuple(stage_widths)


def published_design(name: str) -> dict:
    """Hyperparameters that make ``regnet_x_400mf``/``regnet_y_400mf`` one of torchvision's other sizes.

    ``build("regnet_y_400mf", **published_design("regnet_y_1_6gf"))`` is torchvision's RegNetY-1.6GF.
    """
    try:
        depth, w_0, w_a, w_m, group_width, se_ratio = PUBLISHED_DESIGNS[name]
    except KeyError:
        raise HyperparameterError(f"Unknown RegNet design {name!r}. Known: {', '.join(PUBLISHED_DESIGNS)}.") from None
    depths, widths = regnet_stages(depth, w_0, w_a, w_m)
    widths, group_width = _compatible_widths(widths, group_width, 1.0)
    return {"depths": depths, "widths": widths, "group_width": group_width, "se_ratio": se_ratio}


def _compatible_widths(widths, group_width, bottleneck_ratio):
    """torchvision's adjustment: bottleneck widths rounded to a multiple of the group width (the
    group width capped at the narrowest bottleneck), stage widths scaled back from them."""
    from kerascnn.models.mobilenet_v2 import make_divisible

    bottlenecks = [int(w * bottleneck_ratio) for w in widths]
    group_width = min([group_width, *bottlenecks])
    return tuple(int(make_divisible(b, group_width) / bottleneck_ratio) for b in bottlenecks), group_width


def _conv_bn(x, filters, kernel_size, *, strides=1, groups=1, relu=True, bn_momentum, name):
    x, padding = symmetric_padding(x, kernel_size, strides, name=f"{name}_pad")
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, groups=groups, use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def squeeze_excitation(x, squeeze_channels, *, activation="relu", name):
    """x * sigmoid(W2 act(W1 mean(x))): per-channel gates from the whole map (Hu et al. 2018)."""
    channels = x.shape[-1]
    scale = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    scale = layers.Conv2D(squeeze_channels, 1, activation=activation, name=f"{name}_reduce")(scale)
    scale = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(scale)
    return layers.Multiply(name=f"{name}_excite")([x, scale])


def regnet_block(x, width, *, strides, group_width, bottleneck_ratio, se_ratio, bn_momentum, name):
    """ResNeXt's bottleneck [+ SE]: 1x1 (w_b) -> grouped 3x3/s -> [SE] -> 1x1 (width), BN each, + shortcut, ReLU."""
    width_in = x.shape[-1]
    bottleneck = int(round(width * bottleneck_ratio))
    shortcut = x
    if strides != 1 or width_in != width:
        shortcut = _conv_bn(x, width, 1, strides=strides, relu=False, bn_momentum=bn_momentum, name=f"{name}_proj")
    y = _conv_bn(x, bottleneck, 1, bn_momentum=bn_momentum, name=f"{name}_a")
    y = _conv_bn(
        y, bottleneck, 3, strides=strides, groups=bottleneck // group_width, bn_momentum=bn_momentum, name=f"{name}_b"
    )
    if se_ratio:
        y = squeeze_excitation(y, int(round(se_ratio * width_in)), name=f"{name}_se")
    y = _conv_bn(y, width, 1, relu=False, bn_momentum=bn_momentum, name=f"{name}_c")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def build_regnet(
    input_shape,
    num_classes,
    *,
    depths=(4, 6),
    widths=(32, 80),
    group_width=16,
    bottleneck_ratio=1.0,
    se_ratio=0.0,
    stem_filters=32,
    dropout=0.0,
    bn_momentum=0.9,
    name="regnet",
) -> keras.Model:
    """An AnyNet / RegNet from its stages; returns logits. The defaults are d2l's RegNetX-32.

    Args:
        input_shape: (H, W, C) of the images; any size builds (224x224 as published; it downsamples
            2 ** (1 + stages) times).
        num_classes: units of the last Dense layer.
        depths: blocks per stage (d2l's d_i).
        widths: output channels per stage (w_i); ``regnet_stages`` computes both from RegNet's
            (depth, w_0, w_a, w_m), ``published_design`` for torchvision's sizes.
        group_width: channels per group of the 3x3 convolutions (g); 1 is depthwise-like, the
            bottleneck width is a plain convolution. It must divide every stage's bottleneck width.
        bottleneck_ratio: bottleneck width over stage width (b; d2l's ``1 / k``); 1 in RegNet.
        se_ratio: squeeze-and-excitation width over the block's input width (RegNetY: 0.25); 0: none
            (RegNetX).
        stem_filters: channels of the stem's 3x3/2 convolution.
        dropout: dropout rate before the last Dense layer (0 as published).
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's 0.1 is 0.9 here).
        name: the model's name.

    Reference: I. Radosavovic, R. P. Kosaraju, R. Girshick, K. He, P. Dollár, "Designing network design
    spaces", CVPR 2020 (arXiv:2003.13678); d2l.ai 8.8.
    """
    depths = check_int_sequence("depths", depths)
    widths = check_int_sequence("widths", widths, len(depths))
    group_width = check_positive_int("group_width", group_width)
    bottleneck_ratio = check_positive_number("bottleneck_ratio", bottleneck_ratio)
    se_ratio = float(se_ratio) if se_ratio else 0.0
    if not 0.0 <= se_ratio <= 1.0:
        raise HyperparameterError(f"se_ratio must be a number in [0, 1]. Received: se_ratio={se_ratio!r}")
    for s, w in enumerate(widths):
        bottleneck = int(round(w * bottleneck_ratio))
        if bottleneck < 1 or bottleneck % group_width:
            raise HyperparameterError(
                f"group_width={group_width} does not divide stage {s + 1}'s bottleneck width {bottleneck} "
                f"(widths[{s}]={w} x bottleneck_ratio={bottleneck_ratio:g}): the 3x3 convolution splits its "
                "channels into groups of group_width."
            )
    stem_filters = check_positive_int("stem_filters", stem_filters)
    dropout = check_rate("dropout", dropout)
    bn_momentum = check_rate("bn_momentum", bn_momentum)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = _conv_bn(inputs, stem_filters, 3, strides=2, bn_momentum=bn_momentum, name="stem")
    for s, (depth, width) in enumerate(zip(depths, widths)):
        for b in range(depth):
            x = regnet_block(
                x,
                width,
                strides=2 if b == 0 else 1,
                group_width=group_width,
                bottleneck_ratio=bottleneck_ratio,
                se_ratio=se_ratio,
                bn_momentum=bn_momentum,
                name=f"s{s + 1}_b{b + 1}",
            )
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def torchvision_names(model) -> dict:
    """Keras layer -> torchvision ``regnet_*`` state-dict prefix (``trunk_output.block1.block1-0.f.a.0``...)."""
    names = {"stem_conv": "stem.0", "stem_bn": "stem.1", "logits": "fc"}
    parts = {"a": "f.a", "b": "f.b", "c": "f.c", "proj": "proj"}
    for layer in model.layers:
        m = re.fullmatch(r"s(\d+)_b(\d+)_(a|b|c|proj|se)_(conv|bn|reduce|expand)", layer.name)
        if not m or not layer.weights:
            continue
        stage, block, part, kind = int(m[1]), int(m[2]), m[3], m[4]
        prefix = f"trunk_output.block{stage}.block{stage}-{block - 1}"
        if part == "se":
            names[layer.name] = f"{prefix}.f.se.{'fc1' if kind == 'reduce' else 'fc2'}"
        else:
            names[layer.name] = f"{prefix}.{parts[part]}.{0 if kind == 'conv' else 1}"
    return names


FACTS = ModelFacts(
    # d2l.ai 8.8 trains RegNetX-32 with plain SGD, lr 0.05, batch 128, ten epochs.
    training=TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.05),
    # d2l 8.8's AnyNet design space, two stages: depths, widths, group width, bottleneck ratio.
    tuning_space={
        "depths": [{"min": 1, "max": 6}, {"min": 1, "max": 6}],
        "widths": [{"values": [16, 32, 48, 64]}, {"values": [32, 64, 96, 128]}],
        "group_width": {"values": [8, 16]},
        "bottleneck_ratio": {"values": [1.0, 0.5, 0.25]},
    },
    always_batch_norm=True,
    # Two stages, the second two blocks deep (projection and identity shortcuts), 2 groups of 8 channels,
    # and RegNetY's squeeze-and-excitation: one test version has every layer kind of RegNetX and RegNetY,
    # so the registry-driven tests build one RegNet, not three.
    test_hyperparameters={"depths": (1, 2), "widths": (16, 32), "group_width": 8, "stem_filters": 8, "se_ratio": 0.25},
    test_input=8,  # any size builds (symmetric explicit padding)
    torchvision=TorchvisionWeights(names=torchvision_names),
)


regnet_d2l = register_model(
    default_input_shape=(96, 96, 1),
    description="RegNetX-32 (d2l): AnyNet stem 32, stages (4, 6) blocks of widths (32, 80), 16 channels per group",
    reference="Radosavovic et al. 2020; d2l.ai 8.8",
    facts=FACTS,
)(variant(build_regnet, "regnet_d2l"))  # the builder's defaults: `kerascnn tune regnet_d2l` searches d2l's space

regnet_x_400mf = register_model(
    default_input_shape=(224, 224, 3),
    description="RegNetX-400MF: 4 stages (1, 2, 7, 12) of ResNeXt bottlenecks, widths 32..400, 16 per group",
    reference="Radosavovic et al. 2020",
    facts=FACTS,
    reference_counts=(ReferenceCount(5_495_976, "torchvision.models.regnet_x_400mf", trainable_only=True),),
)(variant(build_regnet, "regnet_x_400mf", **published_design("regnet_x_400mf")))

regnet_y_400mf = register_model(
    default_input_shape=(224, 224, 3),
    description="RegNetY-400MF: RegNetX's blocks with squeeze-and-excitation (0.25), stages (1, 3, 6, 6), 8 per group",
    reference="Radosavovic et al. 2020",
    facts=FACTS,
    reference_counts=(ReferenceCount(4_344_144, "torchvision.models.regnet_y_400mf", trainable_only=True),),
)(variant(build_regnet, "regnet_y_400mf", **published_design("regnet_y_400mf")))


# Published ImageNet weights (torchvision's RegNet_*_Weights: URL, the hash prefix in the file name, accuracy).
_TV = TORCHVISION_MODELS_URL
register_weights(
    "regnet_x_400mf",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "regnet_x_400mf-adf1edd5.pth",
    sha256="adf1edd5",
    top1=72.834,
    top5=90.950,
)
register_weights(
    "regnet_x_400mf",
    "torchvision:IMAGENET1K_V2",
    source="torchvision",
    url=_TV + "regnet_x_400mf-62229a5f.pth",
    sha256="62229a5f",
    top1=74.864,
    top5=92.322,
    resize_size=232,
    default=True,
)
register_weights(
    "regnet_y_400mf",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "regnet_y_400mf-c65dace8.pth",
    sha256="c65dace8",
    top1=74.046,
    top5=91.716,
)
register_weights(
    "regnet_y_400mf",
    "torchvision:IMAGENET1K_V2",
    source="torchvision",
    url=_TV + "regnet_y_400mf-e6988f5f.pth",
    sha256="e6988f5f",
    top1=75.804,
    top5=92.742,
    resize_size=232,
    default=True,
)
