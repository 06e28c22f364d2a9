"""AlexNet (Krizhevsky, Sutskever, Hinton 2012) on one device, as d2l.ai (section 8.1) builds it.

Conv 96@11x11/4 -> MaxPool 3/2 -> Conv 256@5x5 -> MaxPool 3/2 -> Conv 384, 384, 256 @3x3 -> MaxPool 3/2
-> Flatten (6400 at 224x224) -> Dense 4096 -> Dropout 0.5 -> Dense 4096 -> Dropout 0.5 -> Dense classes.
ReLU after every conv and hidden Dense layer; logits out.

``alexnet_tv`` is torchvision's AlexNet (the "one weird trick" single-GPU version: 64-192-384-256-256
channels, first conv padded by 2, 61,100,840 parameters at 224x224x3 with 1000 classes), the network
PyTorch-trained AlexNet weights are for. torchvision's adaptive 6x6 average pooling before the classifier
is the identity at 224x224; at other sizes the weight import folds it into ``fc1`` (it is linear).
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from kerascnn.models.custom_layers import LocalResponseNormalization
from kerascnn.models.facts import ModelFacts, ReferenceCount, TorchvisionWeights, TrainingDefaults
from kerascnn.models.hyperparameters import (
    HyperparameterError,
    check_int_sequence,
    check_positive_int,
    check_rate,
    variant,
)
from kerascnn.models.registry import register_model
from kerascnn.models.weights import register_weights


def build_alexnet(
    input_shape,
    num_classes,
    *,
    filters=(96, 256, 384, 384, 256),
    kernel_sizes=(11, 5, 3, 3, 3),
    first_stride=4,
    first_padding=0,
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
        first_padding: zero padding on each side before the first convolution (torchvision's is 2).
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
    if isinstance(first_padding, bool) or not isinstance(first_padding, int) or first_padding < 0:
        raise HyperparameterError(f"first_padding must be an integer >= 0. Received: first_padding={first_padding!r}")
    dense_units = check_int_sequence("dense_units", dense_units)
    dropout = check_rate("dropout", dropout)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    if first_padding:
        x = layers.ZeroPadding2D(first_padding, name="conv1_pad")(x)
    pools = 0
    for i, (f, k) in enumerate(zip(filters, kernel_sizes), start=1):
        first = i == 1
        x = layers.Conv2D(
            f,
            k,
            strides=first_stride if first else 1,
            padding="valid" if first else "same",
            activation="relu",
            name=f"conv{i}",
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


def torchvision_names(model) -> dict:
    """Keras layer -> torchvision ``alexnet`` state-dict prefix."""
    return {
        "conv1": "features.0",
        "conv2": "features.3",
        "conv3": "features.6",
        "conv4": "features.8",
        "conv5": "features.10",
        "fc1": "classifier.1",
        "fc2": "classifier.4",
        "logits": "classifier.6",
    }


FACTS = ModelFacts(
    # d2l.ai 8.1: plain SGD, lr 0.01, batch 128.
    training=TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.01),
    tuning_space={
        # The 11x11/4 stem suits 224x224 inputs; smaller stems suit upsampled 28x28 digits.
        "kernel_sizes": [{"values": [5, 7, 11]}, {"values": [3, 5]}, 3, 3, 3],
        "first_stride": {"values": [2, 4]},
        "dense_units": [{"values": [1024, 2048, 4096]}, {"values": [1024, 2048, 4096]}],
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "local_response_norm": {"values": [False, True]},
    },
    test_hyperparameters={"filters": (8, 8, 8, 8, 8), "dense_units": (16, 16), "local_response_norm": True},
    test_input=67,  # three 3/2 max pools after an 11x11/4 conv
    smallest_input=67,
    torchvision=TorchvisionWeights(names=torchvision_names),  # alexnet_tv's (d2l's alexnet has other shapes)
)


alexnet = register_model(
    default_input_shape=(224, 224, 3),
    description="AlexNet: five convs (11x11/4 first), three max pools, two 4096 dense layers with dropout",
    reference="Krizhevsky et al. 2012; d2l.ai 8.1",
    facts=FACTS,
    reference_counts=(ReferenceCount(46_764_746, "d2l.ai 8.1 (224x224x1, 10 classes)", (224, 224, 1), 10),),
)(variant(build_alexnet, "alexnet"))

alexnet_tv = register_model(
    default_input_shape=(224, 224, 3),
    description="AlexNet as torchvision builds it: 64-192-384-256-256 channels, first conv padded by 2",
    reference="Krizhevsky 2014 (arXiv:1404.5997); torchvision.models.alexnet",
    facts=dataclasses.replace(FACTS, smallest_input=63),  # padding 2 on the 11x11/4 conv
    reference_counts=(ReferenceCount(61_100_840, "torchvision.models.alexnet"),),
)(variant(build_alexnet, "alexnet_tv", filters=(64, 192, 384, 256, 256), first_padding=2))


# Published ImageNet weights of alexnet_tv: torchvision.models.AlexNet_Weights (hash: the 8 hex digits in the name).
register_weights(
    "alexnet_tv",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    sha256="7be5be79",
    top1=56.522,
    top5=79.066,
    default=True,
)
