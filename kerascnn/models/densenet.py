"""DenseNet (Huang et al. 2017): every layer of a dense block sees the concatenated maps of all before it.

Stem Conv 64@7x7/2 -> BN -> ReLU -> MaxPool 3/2; dense blocks (DenseNet-121: 6, 12, 24, 16 layers)
separated by transitions (BN -> ReLU -> 1x1 conv to ``compression`` of the channels -> AvgPool 2/2);
BN -> ReLU -> global average pooling -> Dense classes (logits). A dense layer is pre-activated
BN -> ReLU -> 1x1 conv (``bottleneck_width * growth_rate`` channels) -> BN -> ReLU -> 3x3 conv
(``growth_rate`` channels), and its output is concatenated to its input: a block of n layers adds
``n * growth_rate`` channels.

Layer names follow ``keras.applications.DenseNet121`` (``conv2_block1_1_conv``, ``conv2_block1_concat``,
``pool2_conv``, ``bn``, ...). Strided layers pad symmetrically as PyTorch does (``conv1_pad``,
``pool1_pad``) and BatchNorm's epsilon is torchvision's 1e-5, so with torchvision's weights
(``torchvision_names`` below) the model computes torchvision's function. At 224x224x3 with 1000 classes
``densenet121`` has torchvision's 7,978,856 trainable parameters (8,062,504 with the BatchNorm
statistics, ``keras.applications.DenseNet121``'s total). ``densenet_d2l`` is d2l.ai's small DenseNet
(four blocks of four 3x3 layers, growth 32, no bottleneck), trained at 96x96.
"""

from __future__ import annotations

import re

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, ReferenceCount, TorchvisionWeights, TrainingDefaults
from kerascnn.models.hyperparameters import (
    HyperparameterError,
    check_int_sequence,
    check_positive_int,
    check_rate,
    variant,
)
from kerascnn.models.layers import symmetric_padding
from kerascnn.models.registry import register_model
from kerascnn.models.weights import KERAS_APPLICATIONS_TORCH, TORCHVISION_MODELS_URL, register_weights

_BN_EPSILON = 1e-5  # torchvision's BatchNorm2d default (keras.applications uses 1.001e-5)


def _bn_relu(x, bn_momentum, name):
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def dense_layer(x, growth_rate, *, bottleneck_width=4, bn_momentum=0.9, name):
    """BN-ReLU-1x1 conv (bottleneck_width * growth_rate; none if 0) -> BN-ReLU-3x3 conv (growth_rate), concatenated."""
    y = x
    if bottleneck_width:
        y = _bn_relu(y, bn_momentum, f"{name}_0")
        y = layers.Conv2D(bottleneck_width * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _bn_relu(y, bn_momentum, f"{name}_1" if bottleneck_width else f"{name}_0")
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def transition(x, compression, *, bn_momentum=0.9, name):
    """BN-ReLU-1x1 conv to ``compression`` of the channels, then AvgPool 2/2 (halves the map)."""
    x = _bn_relu(x, bn_momentum, name)
    x = layers.Conv2D(max(1, int(x.shape[-1] * compression)), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def build_densenet(
    input_shape,
    num_classes,
    *,
    blocks=(6, 12, 24, 16),
    growth_rate=32,
    stem_filters=64,
    bottleneck_width=4,
    compression=0.5,
    dropout=0.0,
    bn_momentum=0.9,
    name="densenet",
) -> keras.Model:
    """A DenseNet from its block spec; returns logits.

    Args:
        input_shape: (H, W, C) of the images (224x224 as published; d2l trains at 96x96). The three
            transitions' 2x2 pools need at least 32x32.
        num_classes: units of the last Dense layer.
        blocks: dense layers per dense block (121: 6, 12, 24, 16; 169: 6, 12, 32, 32; 201: 6, 12, 48, 32).
        growth_rate: channels each dense layer adds (k in the paper).
        stem_filters: channels of the 7x7/2 stem convolution.
        bottleneck_width: the 1x1 bottleneck conv has ``bottleneck_width * growth_rate`` channels
            (DenseNet-B, torchvision's ``bn_size``); 0 leaves it out (d2l's DenseNet).
        compression: the fraction of channels a transition keeps (theta; DenseNet-C's 0.5). In (0, 1].
        dropout: dropout rate before the last Dense layer (0 as published).
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's 0.1 is 0.9 here).
        name: the model's name.

    Reference: G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger, "Densely connected convolutional
    networks", CVPR 2017 (arXiv:1608.06993).
    """
    blocks = check_int_sequence("blocks", blocks)
    growth_rate = check_positive_int("growth_rate", growth_rate)
    stem_filters = check_positive_int("stem_filters", stem_filters)
    if bottleneck_width != 0:
        bottleneck_width = check_positive_int("bottleneck_width", bottleneck_width)
    if isinstance(compression, bool) or not isinstance(compression, (int, float)) or not 0 < compression <= 1:
        raise HyperparameterError(f"compression must be a number in (0, 1]. Received: compression={compression!r}")
    dropout = check_rate("dropout", dropout)
    bn_momentum = check_rate("bn_momentum", bn_momentum)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x, padding = symmetric_padding(inputs, 7, 2, name="conv1_pad")
    x = layers.Conv2D(stem_filters, 7, strides=2, padding=padding, use_bias=False, name="conv1_conv")(x)
    x = _bn_relu(x, bn_momentum, "conv1")
    x, padding = symmetric_padding(x, 3, 2, name="pool1_pad")  # after a ReLU: zeros act as PyTorch's -inf
    x = layers.MaxPooling2D(3, strides=2, padding=padding, name="pool1")(x)
    for b, num_layers in enumerate(blocks):
        for i in range(num_layers):
            x = dense_layer(
                x,
                growth_rate,
                bottleneck_width=bottleneck_width,
                bn_momentum=bn_momentum,
                name=f"conv{b + 2}_block{i + 1}",
            )
        if b < len(blocks) - 1:
            x = transition(x, compression, bn_momentum=bn_momentum, name=f"pool{b + 2}")
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=_BN_EPSILON, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def torchvision_names(model) -> dict:
    """Keras layer -> torchvision ``densenet*`` state-dict prefix (``features.denseblock1.denselayer1.conv1``...)."""
    fixed = {
        "conv1_conv": "features.conv0",
        "conv1_bn": "features.norm0",
        "bn": "features.norm5",
        "logits": "classifier",
    }
    names = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        n = layer.name
        if n in fixed:
            names[n] = fixed[n]
        elif m := re.fullmatch(r"conv(\d+)_block(\d+)_([012])_(conv|bn)", n):
            # keras.applications' _0_bn/_1_conv/_1_bn/_2_conv are torchvision's norm1/conv1/norm2/conv2.
            inner = {("0", "bn"): "norm1", ("1", "conv"): "conv1", ("1", "bn"): "norm2", ("2", "conv"): "conv2"}
            names[n] = f"features.denseblock{int(m[1]) - 1}.denselayer{m[2]}.{inner[(m[3], m[4])]}"
        elif m := re.fullmatch(r"pool(\d+)_(conv|bn)", n):
            names[n] = f"features.transition{int(m[1]) - 1}.{'conv' if m[2] == 'conv' else 'norm'}"
    return names


FACTS = ModelFacts(
    # d2l.ai 8.7: DenseNet lr 0.1 b256, plain SGD; 10 epochs train `kerascnn fit densenet_d2l --input-shape 32,32`
    # well on the digits.
    training=TrainingDefaults(epochs=10, batch_size=256, optimizer="sgd", lr=0.1),
    tuning_space={
        "growth_rate": {"values": [12, 24, 32, 48]},
        "compression": {"values": [0.5, 0.75, 1.0]},
        "bottleneck_width": {"values": [0, 2, 4]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    always_batch_norm=True,
    # Two layers in one block: a concatenation of concatenations; the depths differ in block sizes only.
    test_hyperparameters={"blocks": (1, 2, 1, 1), "growth_rate": 4, "stem_filters": 8},
    test_input=32,
    smallest_input=29,  # a 7x7/2 conv, a 3x3/2 pool and three 2x2 average pools
    torchvision=TorchvisionWeights(names=torchvision_names),
)


def _register_densenet(
    name: str, description: str, reference: str, default_input_shape=(224, 224, 3), reference_counts=(), **defaults
):
    return register_model(
        default_input_shape=default_input_shape,
        description=description,
        reference=reference,
        facts=FACTS,
        reference_counts=reference_counts,
    )(variant(build_densenet, name, **defaults))


def _published(trainable: int, total: int, name: str) -> tuple:
    # torchvision counts the trainable weights; keras.applications' total adds BatchNorm's statistics.
    return (
        ReferenceCount(trainable, f"torchvision.models.{name}", trainable_only=True),
        ReferenceCount(total, f"keras.applications.{name.replace('densenet', 'DenseNet')}(weights=None)"),
    )


densenet121 = _register_densenet(
    "densenet121",
    "DenseNet-121: dense blocks (6, 12, 24, 16), growth 32, BN-ReLU-conv",
    "Huang et al. 2017; d2l.ai 8.7",
    reference_counts=_published(7_978_856, 8_062_504, "densenet121"),
)
densenet169 = _register_densenet(
    "densenet169",
    "DenseNet-169: dense blocks (6, 12, 32, 32), growth 32",
    "Huang et al. 2017",
    blocks=(6, 12, 32, 32),
    reference_counts=_published(14_149_480, 14_307_880, "densenet169"),
)
densenet201 = _register_densenet(
    "densenet201",
    "DenseNet-201: dense blocks (6, 12, 48, 32), growth 32",
    "Huang et al. 2017",
    blocks=(6, 12, 48, 32),
    reference_counts=_published(20_013_928, 20_242_984, "densenet201"),
)
densenet_d2l = _register_densenet(
    "densenet_d2l",
    "d2l's small DenseNet: four blocks of four BN-ReLU-3x3 layers, growth 32, no bottleneck",
    "d2l.ai 8.7",
    default_input_shape=(96, 96, 3),
    blocks=(4, 4, 4, 4),
    bottleneck_width=0,
)


# Published ImageNet weights: torchvision.models.DenseNet*_Weights (hash: the 8 hex digits in the name; ported
# from LuaTorch) and keras.applications.DenseNet*'s files (MD5 as keras.applications passes it to get_file; BatchNorm
# epsilon 1.001e-5 there, 1e-5 here); accuracy from torchvision's meta and keras-applications' table.
_TV = TORCHVISION_MODELS_URL
_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
register_weights(
    "densenet121",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "densenet121-a639ec97.pth",
    sha256="a639ec97",
    top1=74.434,
    top5=91.972,
    default=True,
)
register_weights(
    "densenet121",
    "keras:imagenet",
    source="keras",
    hash_algorithm="md5",
    url=_KERAS + "densenet121_weights_tf_dim_ordering_tf_kernels.h5",
    sha256="9d60b8095a5708f2dcce2bca79d332c7",
    notop_url=_KERAS + "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_sha256="30ee3e1110167f948a6b9946edeeb738",
    top1=74.972,
    top5=92.258,
    resize_size=None,
    preprocessing=KERAS_APPLICATIONS_TORCH,
)
register_weights(
    "densenet169",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "densenet169-b2777c0a.pth",
    sha256="b2777c0a",
    top1=75.600,
    top5=92.806,
    default=True,
)
register_weights(
    "densenet169",
    "keras:imagenet",
    source="keras",
    hash_algorithm="md5",
    url=_KERAS + "densenet169_weights_tf_dim_ordering_tf_kernels.h5",
    sha256="d699b8f76981ab1b30698df4c175e90b",
    notop_url=_KERAS + "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_sha256="b8c4d4c20dd625c148057b9ff1c1176b",
    top1=76.176,
    top5=93.176,
    resize_size=None,
    preprocessing=KERAS_APPLICATIONS_TORCH,
)
register_weights(
    "densenet201",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "densenet201-c1103571.pth",
    sha256="c1103571",
    top1=76.896,
    top5=93.370,
    default=True,
)
register_weights(
    "densenet201",
    "keras:imagenet",
    source="keras",
    hash_algorithm="md5",
    url=_KERAS + "densenet201_weights_tf_dim_ordering_tf_kernels.h5",
    sha256="1ceb130c1ea1b78c3bf6114dbdfd8807",
    notop_url=_KERAS + "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_sha256="c13680b51ded0fb44dff2d8f86ac8bb1",
    top1=77.320,
    top5=93.620,
    resize_size=None,
    preprocessing=KERAS_APPLICATIONS_TORCH,
)
