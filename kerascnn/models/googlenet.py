"""GoogLeNet / Inception v1 (Szegedy et al. 2014) with its nine Inception blocks.

Stem: Conv 64@7x7/2 -> MaxPool 3/2 -> Conv 64@1x1 -> Conv 192@3x3 -> MaxPool 3/2; then Inception 3a, 3b,
MaxPool 3/2, 4a-4e, MaxPool 3/2, 5a, 5b, global average pooling, Dropout 0.4, Dense classes (logits).
Every convolution has ReLU and "same" padding, so the network accepts any input size (d2l trains it
at 96x96, the paper at 224x224).

With ``aux_classifiers=True`` the model has three outputs, main first: ``[logits, aux1_logits,
aux2_logits]``; the auxiliary heads on 4a and 4d only help training (the paper weights their losses
by 0.3) and are left out of inference exports.
"""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.models.custom_layers import LocalResponseNormalization
from kerascnn.models.hyperparameters import check_int_sequence, check_positive_int, check_rate, variant
from kerascnn.models.registry import register_model

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


def _conv(x, filters, kernel_size, *, strides=1, name):
    return layers.Conv2D(filters, kernel_size, strides=strides, padding="same", activation="relu", name=name)(x)


def inception_block(x, c1, c2, c3, c4, *, name):
    """Four parallel paths concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max pool -> 1x1."""
    p1 = _conv(x, c1, 1, name=f"{name}_1x1")
    p2 = _conv(_conv(x, c2[0], 1, name=f"{name}_3x3_reduce"), c2[1], 3, name=f"{name}_3x3")
    p3 = _conv(_conv(x, c3[0], 1, name=f"{name}_5x5_reduce"), c3[1], 5, name=f"{name}_5x5")
    p4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    p4 = _conv(p4, c4, 1, name=f"{name}_pool_proj")
    return layers.Concatenate(name=f"{name}_concat")([p1, p2, p3, p4])


def auxiliary_classifier(x, num_classes, *, filters=128, units=1024, dropout=0.7, name):
    """The paper's side head: AvgPool 5x5/3 -> Conv 128@1x1 -> Dense 1024 -> Dropout 0.7 -> Dense classes."""
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = _conv(x, filters, 1, name=f"{name}_conv")
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
        name: the model's name.

    Reference: C. Szegedy et al., "Going deeper with convolutions", CVPR 2015 (arXiv:1409.4842).
    """
    stem_filters = check_int_sequence("stem_filters", stem_filters, 3)
    width_divisor = check_positive_int("width_divisor", width_divisor)
    dropout = check_rate("dropout", dropout)
    aux_dropout = check_rate("aux_dropout", aux_dropout)

    def width(c):
        return max(1, c // width_divisor)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = _conv(inputs, stem_filters[0], 7, strides=2, name="conv1_7x7")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    if local_response_norm:
        x = LocalResponseNormalization(name="pool1_lrn")(x)
    x = _conv(x, stem_filters[1], 1, name="conv2_reduce")
    x = _conv(x, stem_filters[2], 3, name="conv2_3x3")
    if local_response_norm:
        x = LocalResponseNormalization(name="conv2_lrn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)

    aux_outputs = []
    for block_name, c1, c2, c3, c4 in INCEPTION_BLOCKS:
        x = inception_block(
            x, width(c1), tuple(map(width, c2)), tuple(map(width, c3)), width(c4), name=f"inception{block_name}"
        )
        if aux_classifiers and block_name in _AUX_AFTER:
            aux_name = f"aux{len(aux_outputs) + 1}"
            aux_outputs.append(auxiliary_classifier(x, num_classes, dropout=aux_dropout, name=aux_name))
        if block_name in _POOL_AFTER:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{block_name[0]}")(x)

    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    outputs = [logits, *aux_outputs] if aux_classifiers else logits
    return keras.Model(inputs, outputs, name=name)


googlenet = register_model(
    default_input_shape=(96, 96, 3),
    description="GoogLeNet (Inception v1): nine Inception blocks, optional auxiliary heads and LRN",
    reference="Szegedy et al. 2014; d2l.ai 8.4",
)(variant(build_googlenet, "googlenet"))
