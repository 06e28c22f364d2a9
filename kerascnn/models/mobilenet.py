"""MobileNet v1 (Howard et al. 2017): a stack of depthwise-separable convolutions.

Stem Conv 32@3x3/2 -> BN -> ReLU6, thirteen depthwise-separable blocks (3x3 depthwise conv -> BN ->
ReLU6 -> 1x1 pointwise conv -> BN -> ReLU6; widths 64 ... 1024, five of them strided), global average
pooling, Dropout, Dense classes (logits). A separable block costs ``1/c_out + 1/9`` of a full 3x3 conv
with the same channels (about 1/8 to 1/9): the depthwise conv filters each channel alone (9 MACs per
channel and pixel), the 1x1 conv mixes channels (``c_in`` MACs per output channel and pixel).

``alpha`` scales every width (``int(64 * alpha)``, ...), ``depth_multiplier`` the depthwise convs'
outputs per channel (the paper's resolution multiplier is the input size). Layer names follow
``keras.applications.MobileNet`` (``conv1``, ``conv_dw_3``, ``conv_pw_3_bn``, ...), and so do padding
and BatchNorm's epsilon (1e-3): torchvision has no MobileNet v1, the published weights are Keras', whose
strided blocks pad one pixel after the input only (``conv_pad_2``) and whose stem conv pads "same"
(TensorFlow's rule: the same on even sizes, one pixel each side on odd ones; see
tests/models/test_keras_applications_parity.py). At
224x224x3 with 1000 classes it has ``keras.applications.MobileNet``'s 4,253,864 parameters (BatchNorm
statistics included).
"""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, ReferenceCount, TrainingDefaults
from kerascnn.models.hyperparameters import (
    HyperparameterError,
    check_int_sequence,
    check_positive_int,
    check_positive_number,
    check_rate,
    variant,
)
from kerascnn.models.registry import register_model
from kerascnn.models.weights import KERAS_APPLICATIONS_TF, register_weights

FACTS = ModelFacts(
    # d2l.ai has no MobileNet; the papers train for hundreds of epochs (RMSprop / SGD 0.045 with decay).
    # For ten epochs Adam 1e-3 with cosine decay, like the generic default, is the safe start: at 32x32 on
    # digits, mobilenet 84.1% and mobilenet_v2 81.3% test accuracy after the 10 epochs (after 3, v2 still
    # gave one class for every validation image: 16.7%).
    training=TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3, schedule="cosine"),
    tuning_space={
        "alpha": {"values": [0.25, 0.5, 0.75, 1.0]},  # the published width multipliers
        "depth_multiplier": {"values": [1, 2]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    always_batch_norm=True,
    test_hyperparameters={"alpha": 0.5, "blocks": ((64, 1), (128, 2), (128, 1), (256, 2))},
    test_input=8,
    smallest_input=7,  # Keras' "same" 3x3/2 windows: three of them
)
_BN_EPSILON = 1e-3  # keras.applications.MobileNet's (Keras' BatchNormalization default)

# (pointwise channels, stride) per depthwise-separable block: the paper's table 1.
SEPARABLE_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def _bn_relu6(x, bn_momentum, name):
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def _pad_after(x, strides, name):
    """Keras' padding of a strided 3x3 layer: one pixel after the input (as keras.applications.MobileNet)."""
    if strides == 1:
        return x, "same"
    return layers.ZeroPadding2D(((0, 1), (0, 1)), name=name)(x), "valid"


def depthwise_separable_block(x, filters, *, strides=1, depth_multiplier=1, bn_momentum=0.9, block_id):
    """3x3 depthwise conv (+BN+ReLU6), then 1x1 pointwise conv to ``filters`` channels (+BN+ReLU6)."""
    x, padding = _pad_after(x, strides, f"conv_pad_{block_id}")
    x = layers.DepthwiseConv2D(
        3,
        strides=strides,
        padding=padding,
        depth_multiplier=depth_multiplier,
        use_bias=False,
        name=f"conv_dw_{block_id}",
    )(x)
    x = _bn_relu6(x, bn_momentum, f"conv_dw_{block_id}")
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"conv_pw_{block_id}")(x)
    return _bn_relu6(x, bn_momentum, f"conv_pw_{block_id}")


def build_mobilenet(
    input_shape,
    num_classes,
    *,
    alpha=1.0,
    depth_multiplier=1,
    stem_filters=32,
    blocks=SEPARABLE_BLOCKS,
    dropout=1e-3,
    bn_momentum=0.9,
    name="mobilenet",
) -> keras.Model:
    """MobileNet v1; returns logits.

    Args:
        input_shape: (H, W, C) of the images; any size works (224x224 as published; it downsamples 32x).
        num_classes: units of the last Dense layer.
        alpha: width multiplier (0.25, 0.5, 0.75, 1.0 published): every layer's channels times alpha.
        depth_multiplier: outputs per input channel of every depthwise convolution.
        stem_filters: channels of the first 3x3/2 convolution (before alpha).
        blocks: ``(pointwise channels, stride)`` per depthwise-separable block.
        dropout: dropout rate before the last Dense layer (keras.applications' 1e-3).
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's 0.1 is 0.9 here).
        name: the model's name.

    Reference: A. G. Howard et al., "MobileNets: Efficient convolutional neural networks for mobile vision
    applications", arXiv:1704.04861 (2017).
    """
    alpha = check_positive_number("alpha", alpha)
    depth_multiplier = check_positive_int("depth_multiplier", depth_multiplier)
    stem_filters = check_positive_int("stem_filters", stem_filters)
    if isinstance(blocks, (str, int)) or not blocks or not all(hasattr(b, "__len__") and len(b) == 2 for b in blocks):
        raise HyperparameterError(f"blocks must be a list of (channels, stride) pairs. Received: blocks={blocks!r}")
    blocks = tuple(check_int_sequence(f"blocks[{i}]", b, 2) for i, b in enumerate(blocks))
    dropout = check_rate("dropout", dropout)
    bn_momentum = check_rate("bn_momentum", bn_momentum)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    # keras.applications' stem is a "same" conv (no conv1_pad), which pads (1, 1) on odd sizes where its
    # blocks' conv_pad layers pad (0, 1): both as the reference, or odd inputs give other maps and sizes.
    x = layers.Conv2D(max(1, int(stem_filters * alpha)), 3, strides=2, padding="same", use_bias=False, name="conv1")(
        inputs
    )
    x = _bn_relu6(x, bn_momentum, "conv1")
    for block_id, (filters, strides) in enumerate(blocks, start=1):
        x = depthwise_separable_block(
            x,
            max(1, int(filters * alpha)),
            strides=strides,
            depth_multiplier=depth_multiplier,
            bn_momentum=bn_momentum,
            block_id=block_id,
        )
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


mobilenet = register_model(
    default_input_shape=(224, 224, 3),
    description="MobileNet v1: 13 depthwise-separable blocks (3x3 depthwise + 1x1 pointwise), alpha widths",
    reference="Howard et al. 2017",
    facts=FACTS,
    reference_counts=(
        ReferenceCount(4_253_864, "keras.applications.MobileNet(weights=None)"),
        ReferenceCount(
            475_544, "keras.applications.MobileNet(alpha=0.25, weights=None)", hyperparameters={"alpha": 0.25}
        ),
    ),
)(variant(build_mobilenet, "mobilenet"))


# Published ImageNet weights: keras.applications.MobileNet's files (alpha 1.0 at 224; keras.applications states
# no hash for them, so none is checked) and its "notop" backbone file; accuracy from keras-applications' table.
register_weights(
    "mobilenet",
    "keras:imagenet",
    source="keras",
    sha256=None,
    url="https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_1_0_224_tf.h5",
    notop_url="https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_1_0_224_tf_no_top.h5",
    top1=70.424,
    top5=89.504,
    resize_size=None,
    preprocessing=KERAS_APPLICATIONS_TF,
    default=True,
)
