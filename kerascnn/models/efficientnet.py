"""EfficientNet (Tan & Le 2019): MBConv blocks with squeeze-and-excitation, scaled in width, depth and resolution.

Stem Conv 32@3x3/2 -> BN -> swish, seven stages of MBConv blocks, Conv 1280@1x1 -> BN -> swish, global
average pooling, Dropout, Dense classes (logits). An MBConv block is MobileNetV2's inverted residual
with swish (x * sigmoid(x)) for ReLU6, a 3x3 or 5x5 depthwise convolution and a squeeze-and-excitation
(per-channel gates from the whole map, ``se_ratio`` of the block's input width) before the linear 1x1
projection; a stride-1 block whose input and output widths agree adds its input, after dropping the
whole residual branch of an example with probability ``drop_connect_rate * block / blocks``
(stochastic depth: deeper blocks are dropped more often, in training only).

Compound scaling: B0's widths times ``width_coefficient`` (rounded to multiples of 8), its blocks per
stage times ``depth_coefficient`` (rounded up) and its input size grow together; B1-B3 are the
published (width, depth, resolution, dropout): (1.0, 1.1, 240, 0.2), (1.1, 1.2, 260, 0.3),
(1.2, 1.4, 300, 0.3). B4-B7 are the same builder with ``EFFICIENTNET_COEFFICIENTS``' values.

Layer names follow ``keras.applications.EfficientNetB0`` (``stem_conv``, ``block2a_expand_conv``,
``block2a_dwconv``, ``block2a_se_reduce``, ``block2b_drop``, ``top_conv``). With the defaults the model is
torchvision's ``efficientnet_b*``: strided layers pad symmetrically as PyTorch does and BatchNorm's
epsilon is 1e-5, so torchvision's weights (``torchvision_names``) give torchvision's function.
keras.applications' EfficientNet differs in three ways: (1) it pads strided layers like TensorFlow's
"same" (one pixel less before than after on even sizes: ``padding="same"`` here); (2) its BatchNorm
epsilon is 1e-3 (``bn_epsilon=1e-3``); (3) it normalizes inside the model (Rescaling 1/255 and a
Normalization layer with ImageNet's mean and variance, 7 non-trainable numbers, then for its ImageNet
weights a further division by sqrt(std)), which the zoo leaves to the data pipeline
(``keras_applications_preprocessing`` below: std**1.5). With ``padding="same", bn_epsilon=1e-3`` and
its weights copied by layer name the zoo model computes keras.applications' function on normalized
images. Parameters at 224x224x3 and 1000 classes: torchvision's 5,288,548 trainable; 5,330,564 in all
with BatchNorm's moving statistics, keras.applications' 5,330,571 less its Normalization layer's 7.
"""

from __future__ import annotations

import inspect
import math
import re

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, ReferenceCount, TorchvisionWeights, TrainingDefaults
from kerascnn.models.hyperparameters import (
    HyperparameterError,
    check_choice,
    check_int_sequence,
    check_positive_int,
    check_positive_number,
    check_rate,
    variant,
)
from kerascnn.models.layers import symmetric_padding
from kerascnn.models.mobilenet_v2 import make_divisible
from kerascnn.models.registry import register_model
from kerascnn.models.weights import TORCHVISION_MODELS_URL, register_weights

# B0 per stage: (expansion, kernel, stride, input channels, output channels, blocks): the paper's table 1.
MBCONV_SETTING = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

# Published compound scaling: name -> (width_coefficient, depth_coefficient, resolution, dropout).
EFFICIENTNET_COEFFICIENTS = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}

# keras.applications' EfficientNet with ImageNet weights: x / 255, minus ImageNet's mean, divided by the
# standard deviation and again by its square root (its Normalization takes std**2 as the variance, plus
# a Rescaling by 1/sqrt(std) that reproduces the original TensorFlow models' division by the variance).
KERAS_APPLICATIONS_EFFICIENTNET = {
    "name": "imagenet (keras.applications EfficientNet)",
    "mean": [0.485, 0.456, 0.406],
    "std": [s**1.5 for s in (0.229, 0.224, 0.225)],
    "channel_order": "RGB",
}
# What those files' Normalization layer holds (ImageNet's mean, its standard deviation squared as the
# variance), and their BatchNorm epsilon (Keras' default).
KERAS_APPLICATIONS_EFFICIENTNET_NORMALIZATION = {
    "mean": [0.485, 0.456, 0.406],
    "variance": [s**2 for s in (0.229, 0.224, 0.225)],
    "bn_epsilon": 1e-3,
}


def _bn(x, bn_momentum, bn_epsilon, name):
    return layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, name=name)(x)


def _strided(x, kernel_size, strides, padding_rule, name):
    """``(x, padding)`` for a strided layer: PyTorch's symmetric padding or TensorFlow's "same"."""
    if padding_rule == "same":
        return x, "same"
    return symmetric_padding(x, kernel_size, strides, name=name)


def mbconv_block(
    x, filters, *, expansion, kernel_size, strides, se_ratio, drop_rate, padding, bn_momentum, bn_epsilon, name
):
    """[1x1 expand + BN + swish] -> depthwise kxk/s + BN + swish -> SE -> 1x1 project + BN [-> drop -> + input]."""
    inputs = x
    in_channels = x.shape[-1]
    expanded = in_channels * expansion
    if expansion != 1:
        x = layers.Conv2D(expanded, 1, use_bias=False, name=f"{name}expand_conv")(x)
        x = _bn(x, bn_momentum, bn_epsilon, f"{name}expand_bn")
        x = layers.Activation("swish", name=f"{name}expand_activation")(x)
    x, pad = _strided(x, kernel_size, strides, padding, f"{name}dwconv_pad")
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=pad, use_bias=False, name=f"{name}dwconv")(x)
    x = _bn(x, bn_momentum, bn_epsilon, f"{name}bn")
    x = layers.Activation("swish", name=f"{name}activation")(x)
    if se_ratio:
        squeeze = max(1, int(in_channels * se_ratio))
        scale = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}se_squeeze")(x)
        scale = layers.Conv2D(squeeze, 1, activation="swish", name=f"{name}se_reduce")(scale)
        scale = layers.Conv2D(expanded, 1, activation="sigmoid", name=f"{name}se_expand")(scale)
        x = layers.Multiply(name=f"{name}se_excite")([x, scale])
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}project_conv")(x)
    x = _bn(x, bn_momentum, bn_epsilon, f"{name}project_bn")
    if strides == 1 and in_channels == filters:
        if drop_rate > 0:
            # Stochastic depth: one draw per example for the whole branch (torchvision's "row" mode).
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


def build_efficientnet(
    input_shape,
    num_classes,
    *,
    width_coefficient=1.0,
    depth_coefficient=1.0,
    stages=MBCONV_SETTING,
    last_filters=1280,
    se_ratio=0.25,
    dropout=0.2,
    drop_connect_rate=0.2,
    padding="symmetric",
    bn_epsilon=1e-5,
    bn_momentum=0.9,
    name="efficientnet",
) -> keras.Model:
    """EfficientNet; returns logits.

    Args:
        input_shape: (H, W, C) of the images; any size builds (B0 224, B1 240, B2 260, B3 300 as
            published: the resolution of compound scaling is the input you give).
        num_classes: units of the last Dense layer.
        width_coefficient: every width times this, rounded to a multiple of 8.
        depth_coefficient: blocks per stage times this, rounded up.
        stages: ``(expansion, kernel, stride, input channels, output channels, blocks)`` per stage, at
            width and depth 1; the first stage's input channels are the stem's.
        last_filters: channels of the last 1x1 convolution (before ``width_coefficient``).
        se_ratio: squeeze-and-excitation width over the block's input width; 0: none.
        dropout: dropout rate before the last Dense layer.
        drop_connect_rate: stochastic depth; block ``i`` of ``n`` drops its residual branch with
            probability ``drop_connect_rate * i / n`` in training (0.2 as published).
        padding: "symmetric" (PyTorch's, torchvision's weights) or "same" (TensorFlow's, keras.applications').
        bn_epsilon: BatchNorm's epsilon (torchvision's 1e-5; keras.applications' 1e-3).
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's 0.1 is 0.9 here).
        name: the model's name.

    Reference: M. Tan, Q. V. Le, "EfficientNet: Rethinking model scaling for convolutional neural
    networks", ICML 2019 (arXiv:1905.11946).
    """
    width_coefficient = check_positive_number("width_coefficient", width_coefficient)
    depth_coefficient = check_positive_number("depth_coefficient", depth_coefficient)
    stages = _check_stages(stages)
    last_filters = check_positive_int("last_filters", last_filters)
    se_ratio = check_rate("se_ratio", se_ratio)
    dropout = check_rate("dropout", dropout)
    drop_connect_rate = check_rate("drop_connect_rate", drop_connect_rate)
    check_choice("padding", padding, ("symmetric", "same"))
    bn_epsilon = check_positive_number("bn_epsilon", bn_epsilon)
    bn_momentum = check_rate("bn_momentum", bn_momentum)

    def width(channels):
        return make_divisible(channels * width_coefficient)

    def repeats(blocks):
        return int(math.ceil(blocks * depth_coefficient))

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x, pad = _strided(inputs, 3, 2, padding, "stem_conv_pad")
    x = layers.Conv2D(width(stages[0][3]), 3, strides=2, padding=pad, use_bias=False, name="stem_conv")(x)
    x = _bn(x, bn_momentum, bn_epsilon, "stem_bn")
    x = layers.Activation("swish", name="stem_activation")(x)
    total = sum(repeats(stage[5]) for stage in stages)
    index = 0
    for s, (expansion, kernel, stride, _, out_channels, blocks) in enumerate(stages):
        for b in range(repeats(blocks)):
            x = mbconv_block(
                x,
                width(out_channels),
                expansion=expansion,
                kernel_size=kernel,
                strides=stride if b == 0 else 1,
                se_ratio=se_ratio,
                drop_rate=drop_connect_rate * index / total,
                padding=padding,
                bn_momentum=bn_momentum,
                bn_epsilon=bn_epsilon,
                name=f"block{s + 1}{_letters(b)}_",
            )
            index += 1
    x = layers.Conv2D(width(last_filters), 1, use_bias=False, name="top_conv")(x)
    x = _bn(x, bn_momentum, bn_epsilon, "top_bn")
    x = layers.Activation("swish", name="top_activation")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _letters(index: int) -> str:
    """keras.applications' block letters: a, b, ..., z, then aa, ab, ... (B7's longest stage has 13)."""
    return chr(97 + index) if index < 26 else _letters(index // 26 - 1) + chr(97 + index % 26)


def _check_stages(stages) -> tuple:
    if isinstance(stages, (str, int)) or not stages or not all(hasattr(s, "__len__") and len(s) == 6 for s in stages):
        raise HyperparameterError(
            "stages must be a list of (expansion, kernel, stride, input channels, output channels, blocks) lists. "
            f"Received: stages={stages!r}"
        )
    return tuple(check_int_sequence(f"stages[{i}]", s, 6) for i, s in enumerate(stages))


def torchvision_names(model) -> dict:
    """Keras layer -> torchvision ``efficientnet_b*`` state-dict prefix (``features.2.0.block.1.0``...)."""
    layer_names = {layer.name for layer in model.layers}
    stages = sorted({int(m[1]) for n in layer_names if (m := re.fullmatch(r"block(\d+)[a-z]+_dwconv", n))})
    last = len(stages) + 1
    names = {
        "stem_conv": "features.0.0",
        "stem_bn": "features.0.1",
        "top_conv": f"features.{last}.0",
        "top_bn": f"features.{last}.1",
        "logits": "classifier.1",
    }
    for layer in model.layers:
        m = re.fullmatch(
            r"block(\d+)([a-z]+)_(expand_conv|expand_bn|dwconv|bn|se_reduce|se_expand|project_conv|"
            r"project_bn)",
            layer.name,
        )
        if not m:
            continue
        stage, letters, part = int(m[1]), m[2], m[3]
        block = sum((ord(c) - 96) * 26**i for i, c in enumerate(reversed(letters))) - 1
        # torchvision: block = [expand ConvBNAct]? + depthwise ConvBNAct + SqueezeExcitation + project ConvBN
        offset = 1 if f"block{stage}{letters}_expand_conv" in layer_names else 0
        inner = {
            "expand_conv": "0.0",
            "expand_bn": "0.1",
            "dwconv": f"{offset}.0",
            "bn": f"{offset}.1",
            "se_reduce": f"{offset + 1}.fc1",
            "se_expand": f"{offset + 1}.fc2",
            "project_conv": f"{offset + 2}.0",
            "project_bn": f"{offset + 2}.1",
        }[part]
        names[layer.name] = f"features.{stage}.{block}.block.{inner}"
    return names


FACTS = ModelFacts(
    # As the MobileNets (kerascnn/models/mobilenet_v2.py): Adam 1e-3 with cosine decay for ten epochs.
    training=TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3, schedule="cosine"),
    tuning_space={
        "width_coefficient": {"values": [0.5, 0.75, 1.0]},
        "depth_coefficient": {"values": [0.5, 0.75, 1.0]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "drop_connect_rate": {"min": 0.0, "max": 0.3, "step": 0.1},
    },
    always_batch_norm=True,
    # Two stages keep every layer kind: an unexpanded block, an expanded one with a strided depthwise
    # conv, a residual block with stochastic depth. The coefficients and dropout are set so that B1-B3
    # test as B0.
    test_hyperparameters={
        "width_coefficient": 0.5,
        "depth_coefficient": 1.0,
        "dropout": 0.2,
        "stages": ((1, 3, 1, 32, 16, 1), (6, 5, 2, 16, 24, 2)),
        "last_filters": 64,
    },
    test_input=8,
    torchvision=TorchvisionWeights(names=torchvision_names),
    keras_applications_preprocessing=KERAS_APPLICATIONS_EFFICIENTNET,
    keras_applications_normalization=KERAS_APPLICATIONS_EFFICIENTNET_NORMALIZATION,
)


def _register(name, description, reference_counts=()):
    width_coefficient, depth_coefficient, resolution, dropout = EFFICIENTNET_COEFFICIENTS[name]
    # Only what differs from B0 (the builder's defaults) defines a variant: B0's coefficients stay searchable.
    scaling = {"width_coefficient": width_coefficient, "depth_coefficient": depth_coefficient, "dropout": dropout}
    defaults = inspect.signature(build_efficientnet).parameters
    return register_model(
        default_input_shape=(resolution, resolution, 3),
        description=description,
        reference="Tan & Le 2019",
        facts=FACTS,
        reference_counts=reference_counts,
    )(
        variant(
            build_efficientnet, name, **{key: value for key, value in scaling.items() if value != defaults[key].default}
        )
    )


efficientnet_b0 = _register(
    "efficientnet_b0",
    "EfficientNet-B0: MBConv blocks with squeeze-and-excitation and stochastic depth, 224x224",
    (
        ReferenceCount(5_288_548, "torchvision.models.efficientnet_b0", trainable_only=True),
        # keras.applications.EfficientNetB0's 5,330,571 less its Normalization layer's mean, variance and count.
        ReferenceCount(5_330_571 - 7, "keras.applications.EfficientNetB0(weights=None) without its Normalization"),
    ),
)
efficientnet_b1 = _register(
    "efficientnet_b1",
    "EfficientNet-B1: B0 with 1.1x the blocks, 240x240",
    (ReferenceCount(7_794_184, "torchvision.models.efficientnet_b1", trainable_only=True, input_shape=(240, 240, 3)),),
)
efficientnet_b2 = _register(
    "efficientnet_b2",
    "EfficientNet-B2: B0 with 1.1x the widths, 1.2x the blocks, 260x260, dropout 0.3",
    (ReferenceCount(9_109_994, "torchvision.models.efficientnet_b2", trainable_only=True, input_shape=(260, 260, 3)),),
)
efficientnet_b3 = _register(
    "efficientnet_b3",
    "EfficientNet-B3: B0 with 1.2x the widths, 1.4x the blocks, 300x300, dropout 0.3",
    (ReferenceCount(12_233_232, "torchvision.models.efficientnet_b3", trainable_only=True, input_shape=(300, 300, 3)),),
)


# Published ImageNet weights (torchvision's EfficientNet_B*_Weights: URL, the hash prefix in the file name,
# accuracy, and the bicubic resize and crop the accuracy was measured at).
_TV = TORCHVISION_MODELS_URL
_BICUBIC = "torchvision resizes with bicubic interpolation for these weights"
register_weights(
    "efficientnet_b0",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "efficientnet_b0_rwightman-7f5810bc.pth",
    sha256="7f5810bc",
    top1=77.692,
    top5=93.532,
    input_size=224,
    resize_size=256,
    note=_BICUBIC,
    default=True,
)
register_weights(
    "efficientnet_b1",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "efficientnet_b1_rwightman-bac287d4.pth",
    sha256="bac287d4",
    top1=78.642,
    top5=94.186,
    input_size=240,
    resize_size=256,
    note=_BICUBIC,
)
register_weights(
    "efficientnet_b1",
    "torchvision:IMAGENET1K_V2",
    source="torchvision",
    url=_TV + "efficientnet_b1-c27df63c.pth",
    sha256="c27df63c",
    top1=79.838,
    top5=94.934,
    input_size=240,
    resize_size=255,
    default=True,
)
register_weights(
    "efficientnet_b2",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "efficientnet_b2_rwightman-c35c1473.pth",
    sha256="c35c1473",
    top1=80.608,
    top5=95.310,
    input_size=288,
    resize_size=288,
    note=_BICUBIC,
    default=True,
)
register_weights(
    "efficientnet_b3",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "efficientnet_b3_rwightman-b3899882.pth",
    sha256="b3899882",
    top1=82.008,
    top5=96.054,
    input_size=300,
    resize_size=320,
    note=_BICUBIC,
    default=True,
)

# keras.applications' files (converted from the original TensorFlow checkpoints) and the md5 digests Keras
# checks them with; they fit the zoo model built with TensorFlow's padding and Keras' BatchNorm epsilon.
_KERAS = "https://storage.googleapis.com/keras-applications/"
# Accuracy: keras.io's table of keras.applications models.
for _variant, _size, (_digest, _notop_digest), (_top1, _top5) in (
    ("b0", 224, ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"), (77.1, 93.3)),
    ("b1", 240, ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"), (79.1, 94.4)),
    ("b2", 260, ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"), (80.1, 94.9)),
    ("b3", 300, ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"), (81.6, 95.7)),
):
    register_weights(
        f"efficientnet_{_variant}",
        "keras:imagenet",
        source="keras",
        hash_algorithm="md5",
        url=f"{_KERAS}efficientnet{_variant}.h5",
        sha256=_digest,
        notop_url=f"{_KERAS}efficientnet{_variant}_notop.h5",
        notop_sha256=_notop_digest,
        input_size=_size,
        resize_size=None,
        top1=_top1,
        top5=_top5,
        preprocessing=KERAS_APPLICATIONS_EFFICIENTNET,
        hyperparameters={"padding": "same", "bn_epsilon": KERAS_APPLICATIONS_EFFICIENTNET_NORMALIZATION["bn_epsilon"]},
    )
