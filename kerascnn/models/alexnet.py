"""AlexNet (Krizhevsky, Sutskever, Hinton 2012) on one device, as d2l.ai (section 8.1) builds it.

Conv 96@11x11/4 -> MaxPool 3/2 -> Conv 256@5x5 -> MaxPool 3/2 -> Conv 384, 384, 256 @3x3 -> MaxPool 3/2
-> Flatten (6400 at 224x224) -> Dense 4096 -> Dropout 0.5 -> Dense 4096 -> Dropout 0.5 -> Dense classes.
ReLU after every conv and hidden Dense layer; logits out.
"""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.models.custom_layers import LocalResponseNormalization
from kerascnn.models.hyperparameters import check_int_sequence, check_positive_int, check_rate, variant
from kerascnn.models.registry import register_model


def build_alexnet(
    input_shape,
    num_classes,
    *,
    filters=(96, 256, 384, 384, 256),
    kernel_sizes=(11, 5, 3, 3, 3),
    first_stride=4,
    dense_units=(4096, 4096),
    dropout=0.5,
    local_response_norm=False,
    name="alexnet",
) -> keras.Model:
    """AlexNet; returns logits.

    Args:
        input_shape: (H, W, C) of the images (224x224 as published; d2l upsamples Fashion-MNIST to it).
        num_classes: units of the last Dense layer.
        filters: output channels of the five convolutions.
        kernel_sizes: kernel sizes of the five convolutions; the first is "valid" with stride
            ``first_stride``, the others are "same".
        first_stride: stride of the first convolution.
        dense_units: units of the two hidden Dense layers.
        dropout: dropout rate after each hidden Dense layer.
        local_response_norm: the paper's LRN after the first two convolutions (d2l leaves it out).
        name: the model's name.

    Reference: A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet classification with deep
    convolutional neural networks", NeurIPS 2012.
    """
    filters = check_int_sequence("filters", filters, 5)
    kernel_sizes = check_int_sequence("kernel_sizes", kernel_sizes, 5)
    first_stride = check_positive_int("first_stride", first_stride)
    dense_units = check_int_sequence("dense_units", dense_units)
    dropout = check_rate("dropout", dropout)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    pools = 0
    for i, (f, k) in enumerate(zip(filters, kernel_sizes), start=1):
        first = i == 1
        x = layers.Conv2D(
            f, k, strides=first_stride if first else 1, padding="valid" if first else "same",
            activation="relu", name=f"conv{i}",
        )(x)
        if local_response_norm and i <= 2:
            x = LocalResponseNormalization(name=f"conv{i}_lrn")(x)
        if i in (1, 2, 5):  # pooling after conv1, conv2 and conv5
            pools += 1
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{pools}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


alexnet = register_model(
    default_input_shape=(224, 224, 3),
    description="AlexNet: five convs (11x11/4 first), three max pools, two 4096 dense layers with dropout",
    reference="Krizhevsky et al. 2012; d2l.ai 8.1",
)(variant(build_alexnet, "alexnet"))
