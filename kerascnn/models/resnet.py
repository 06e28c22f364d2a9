"""ResNet (He et al. 2015) with BatchNorm: basic blocks for ResNet-18/34, bottlenecks for ResNet-50, and
ResNeXt (Xie et al. 2017): bottlenecks whose 3x3 convolution is grouped (``groups`` = cardinality).

Stem Conv 64@7x7/2 -> BN -> ReLU -> MaxPool 3/2, four stages of residual blocks (64, 128, 256, 512
filters; stride 2 at the first block of stages 3-5), global average pooling, Dense classes (logits).
Layer names follow ``keras.applications.ResNet50`` (``conv2_block1_1_conv``, ``conv2_block1_add``, ...).
Convolutions have no bias (BatchNorm follows each), the downsampling stride sits on the 3x3 conv of a
bottleneck (torchvision's "ResNet v1.5"). Strided layers pad symmetrically as PyTorch does
(``conv1_pad``, ``pool1_pad``, ``..._2_pad``: see ``kerascnn.models.layers``) and BatchNorm's epsilon is
PyTorch's 1e-5, so with torchvision's weights the model computes torchvision's function.

ResNeXt as torchvision builds it: a bottleneck's inner width is ``int(filters * width_per_group / 64) *
groups`` (ResNet-50: 64 per group, one group; ResNeXt-50 32x4d: 4 per group, 32 groups, so stage 2's
3x3 conv is 128 wide but has 1/32 of a full 128-channel conv's weights).
"""

from __future__ import annotations

import dataclasses
import re

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, ReferenceCount, TorchvisionWeights, TrainingDefaults
from kerascnn.models.hyperparameters import (
    HyperparameterError,
    check_choice,
    check_divides,
    check_int_sequence,
    check_positive_int,
    check_rate,
    variant,
)
from kerascnn.models.layers import symmetric_padding
from kerascnn.models.registry import register_model
from kerascnn.models.weights import register_weights

_BN_EPSILON = 1e-5  # torchvision's BatchNorm2d default (keras.applications uses 1.001e-5)


def _conv_bn(x, filters, kernel_size, *, strides=1, groups=1, relu=True, bn_momentum=0.9, name):
    x, padding = symmetric_padding(x, kernel_size, strides, name=f"{name}_pad")
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, groups=groups, use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def basic_block(x, filters, *, strides=1, groups=1, bn_momentum=0.9, name):
    """3x3 conv -> BN -> ReLU -> 3x3 conv -> BN, plus the shortcut (1x1 conv + BN when the shape changes).

    ``groups`` > 1 groups the second 3x3 conv (its input is ``filters`` wide); the first takes the
    block's input, whose width a grouped conv could not always split."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, strides=strides, relu=False, bn_momentum=bn_momentum, name=f"{name}_0")
    x = _conv_bn(x, filters, 3, strides=strides, bn_momentum=bn_momentum, name=f"{name}_1")
    x = _conv_bn(x, filters, 3, groups=groups, relu=False, bn_momentum=bn_momentum, name=f"{name}_2")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def bottleneck_block(x, filters, *, strides=1, expansion=4, groups=1, width_per_group=64, bn_momentum=0.9, name):
    """1x1 conv (width) -> 3x3 conv (strided, ``groups`` groups) -> 1x1 conv (expansion * filters), each with
    BN, plus shortcut; width = ``int(filters * width_per_group / 64) * groups`` (ResNet: ``filters``)."""
    width = int(filters * width_per_group / 64) * groups
    shortcut = x
    if strides != 1 or x.shape[-1] != expansion * filters:
        shortcut = _conv_bn(
            x, expansion * filters, 1, strides=strides, relu=False, bn_momentum=bn_momentum, name=f"{name}_0"
        )
    x = _conv_bn(x, width, 1, bn_momentum=bn_momentum, name=f"{name}_1")
    x = _conv_bn(x, width, 3, strides=strides, groups=groups, bn_momentum=bn_momentum, name=f"{name}_2")
    x = _conv_bn(x, expansion * filters, 1, relu=False, bn_momentum=bn_momentum, name=f"{name}_3")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def build_resnet(
    input_shape,
    num_classes,
    *,
    blocks_per_stage=(2, 2, 2, 2),
    filters=(64, 128, 256, 512),
    block="basic",
    bottleneck_expansion=4,
    groups=1,
    width_per_group=64,
    stem_filters=64,
    stem_kernel_size=7,
    stem_stride=2,
    stem_pool=True,
    dropout=0.0,
    bn_momentum=0.9,
    name="resnet",
) -> keras.Model:
    """A ResNet from its stage spec; returns logits.

    Args:
        input_shape: (H, W, C) of the images (224x224 as published; d2l trains ResNet-18 at 96x96).
        num_classes: units of the last Dense layer.
        blocks_per_stage: residual blocks in each stage.
        filters: filters of each stage (a bottleneck block outputs ``bottleneck_expansion`` times more).
        block: "basic" (two 3x3 convs) or "bottleneck" (1x1, 3x3, 1x1).
        bottleneck_expansion: output/inner channel ratio of bottleneck blocks.
        groups: cardinality, the groups of each block's grouped 3x3 conv (ResNeXt; 1 is ResNet). Basic
            blocks group their second 3x3 conv, and ``groups`` must divide every stage's ``filters``.
        width_per_group: channels per group of a bottleneck's 3x3 conv at ``filters`` 64 (scaled with
            the stage's filters as torchvision does); 64 with one group is ResNet's bottleneck.
        stem_filters, stem_kernel_size, stem_stride: the first convolution (small inputs such as
            CIFAR often use 3, 1 and ``stem_pool=False``).
        stem_pool: the 3x3/2 max pooling after the stem.
        dropout: dropout rate before the last Dense layer (0 as published).
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's momentum is
            1 - this). 0.9 as torchvision (PyTorch's 0.1), not Keras' 0.99: with 0.99 the statistics used
            at test time are still half their initial values after ~60 steps, so a short run tests badly.
        name: the model's name.

    Reference: K. He, X. Zhang, S. Ren, J. Sun, "Deep residual learning for image recognition",
    CVPR 2016 (arXiv:1512.03385).
    """
    blocks_per_stage = check_int_sequence("blocks_per_stage", blocks_per_stage)
    filters = check_int_sequence("filters", filters, len(blocks_per_stage))
    check_choice("block", block, ("basic", "bottleneck"))
    bottleneck_expansion = check_positive_int("bottleneck_expansion", bottleneck_expansion)
    groups = check_positive_int("groups", groups)
    width_per_group = check_positive_int("width_per_group", width_per_group)
    if block == "basic":
        if width_per_group != 64:
            raise HyperparameterError(
                f"width_per_group applies to bottleneck blocks only (basic blocks are `filters` wide). "
                f"Received: width_per_group={width_per_group!r} with block='basic'"
            )
        for s, f in enumerate(filters):
            check_divides("groups", groups, f, f"stage {s + 1} (filters[{s}])")
    elif any(int(f * width_per_group / 64) < 1 for f in filters):
        raise HyperparameterError(
            f"width_per_group={width_per_group} leaves a stage of filters {min(filters)} with no channel per group: "
            f"each group has int(filters * width_per_group / 64) channels. Received: filters={filters!r}"
        )
    stem_filters = check_positive_int("stem_filters", stem_filters)
    stem_kernel_size = check_positive_int("stem_kernel_size", stem_kernel_size)
    stem_stride = check_positive_int("stem_stride", stem_stride)
    dropout = check_rate("dropout", dropout)
    bn_momentum = check_rate("bn_momentum", bn_momentum)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = _conv_bn(inputs, stem_filters, stem_kernel_size, strides=stem_stride, bn_momentum=bn_momentum, name="conv1")
    if stem_pool:
        x, padding = symmetric_padding(x, 3, 2, name="pool1_pad")  # after a ReLU: zeros act as PyTorch's -inf
        x = layers.MaxPooling2D(3, strides=2, padding=padding, name="pool1_pool")(x)
    for s, (num_blocks, f) in enumerate(zip(blocks_per_stage, filters)):
        for b in range(num_blocks):
            strides = 2 if s > 0 and b == 0 else 1
            block_name = f"conv{s + 2}_block{b + 1}"
            if block == "basic":
                x = basic_block(x, f, strides=strides, groups=groups, bn_momentum=bn_momentum, name=block_name)
            else:
                x = bottleneck_block(
                    x,
                    f,
                    strides=strides,
                    expansion=bottleneck_expansion,
                    groups=groups,
                    width_per_group=width_per_group,
                    bn_momentum=bn_momentum,
                    name=block_name,
                )
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def torchvision_names(model) -> dict:
    """Keras layer -> torchvision ``resnet*``/``resnext*`` state-dict prefix (``layer1.0.conv1``...)."""
    names = {}
    for layer in model.layers:
        if not layer.weights:
            continue
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


FACTS = ModelFacts(
    # d2l.ai 8.6: plain SGD, lr 0.05, batch 256.
    training=TrainingDefaults(epochs=10, batch_size=256, optimizer="sgd", lr=0.05),
    tuning_space={
        "filters": [{"values": [32, 64]}, {"values": [64, 128]}, {"values": [128, 256]}, {"values": [256, 512]}],
        "stem_kernel_size": {"values": [3, 7]},
        "stem_stride": {"values": [1, 2]},
        "stem_pool": {"values": [False, True]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    always_batch_norm=True,
    # One block per stage keeps every op (basic or bottleneck blocks, projection shortcuts); the depths
    # differ in block counts only, which the reference parameter counts check.
    test_hyperparameters={"filters": (4, 4, 8, 8), "stem_filters": 4, "blocks_per_stage": (1, 1, 1, 1)},
    test_input=8,  # any size builds ("same" and explicitly padded windows)
    torchvision=TorchvisionWeights(names=torchvision_names),
)


resnet18 = register_model(
    default_input_shape=(224, 224, 3),
    description="ResNet-18: basic residual blocks (2, 2, 2, 2) with BatchNorm",
    reference="He et al. 2015; d2l.ai 8.6",
    facts=FACTS,
    # torchvision's 11,689,512 plus BatchNorm's moving mean and variance (2 x 4,800), which Keras counts.
    reference_counts=(ReferenceCount(11_689_512 + 2 * 4_800, "torchvision.models.resnet18 + BatchNorm statistics"),),
)(variant(build_resnet, "resnet18"))

resnet34 = register_model(
    default_input_shape=(224, 224, 3),
    description="ResNet-34: basic residual blocks (3, 4, 6, 3) with BatchNorm",
    reference="He et al. 2015",
    facts=FACTS,
    reference_counts=(ReferenceCount(21_797_672 + 2 * 8_512, "torchvision.models.resnet34 + BatchNorm statistics"),),
)(variant(build_resnet, "resnet34", blocks_per_stage=(3, 4, 6, 3)))

resnet50 = register_model(
    default_input_shape=(224, 224, 3),
    description="ResNet-50: bottleneck residual blocks (3, 4, 6, 3) with BatchNorm",
    reference="He et al. 2015",
    facts=FACTS,
    reference_counts=(ReferenceCount(25_557_032 + 2 * 26_560, "torchvision.models.resnet50 + BatchNorm statistics"),),
)(variant(build_resnet, "resnet50", blocks_per_stage=(3, 4, 6, 3), block="bottleneck"))

resnext50_32x4d = register_model(
    default_input_shape=(224, 224, 3),
    description="ResNeXt-50 32x4d: ResNet-50's bottlenecks with a 32-group 3x3 conv, 4 channels per group",
    reference="Xie et al. 2017; d2l.ai 8.6.5",
    # 32 groups of 4 need wider stages than the family's test setting: 2 groups of 2 here.
    facts=dataclasses.replace(
        FACTS, test_hyperparameters={**FACTS.test_hyperparameters, "groups": 2, "width_per_group": 32}
    ),
    reference_counts=(ReferenceCount(25_028_904, "torchvision.models.resnext50_32x4d", trainable_only=True),),
)(
    variant(
        build_resnet, "resnext50_32x4d", blocks_per_stage=(3, 4, 6, 3), block="bottleneck", groups=32, width_per_group=4
    )
)


# Published ImageNet weights, as torchvision.models.ResNet*_Weights / ResNeXt50_32X4D_Weights state them: the URL,
# the hash (the 8 hex digits of the file's SHA-256 in its name), acc@1/acc@5. weights="imagenet" is the default.
register_weights(
    "resnet18",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url="https://download.pytorch.org/models/resnet18-f37072fd.pth",
    sha256="f37072fd",
    top1=69.758,
    top5=89.078,
    default=True,
)
register_weights(
    "resnet34",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url="https://download.pytorch.org/models/resnet34-b627a593.pth",
    sha256="b627a593",
    top1=73.314,
    top5=91.420,
    default=True,
)
register_weights(
    "resnet50",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
    sha256="0676ba61",
    top1=76.130,
    top5=92.862,
)
register_weights(
    "resnet50",
    "torchvision:IMAGENET1K_V2",
    source="torchvision",
    url="https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
    sha256="11ad3fa6",
    top1=80.858,
    top5=95.434,
    resize_size=232,
    default=True,
)
register_weights(
    "resnext50_32x4d",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url="https://download.pytorch.org/models/resnext50_32x4d-7cdf4587.pth",
    sha256="7cdf4587",
    top1=77.618,
    top5=93.698,
)
register_weights(
    "resnext50_32x4d",
    "torchvision:IMAGENET1K_V2",
    source="torchvision",
    url="https://download.pytorch.org/models/resnext50_32x4d-1a0047aa.pth",
    sha256="1a0047aa",
    top1=81.198,
    top5=95.340,
    resize_size=232,
    default=True,
)
