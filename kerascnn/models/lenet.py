"""LeNet-5 (LeCun et al., 1998) as the textbook (d2l.ai, section 7.6) builds it.

Conv 6@5x5 same -> act -> pool 2/2 -> Conv 16@5x5 -> act -> pool 2/2 -> Flatten (400 at 28x28)
-> Dense 120 -> act -> Dense 84 -> act -> Dense classes (logits).
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, ReferenceCount, TrainingDefaults
from kerascnn.models.hyperparameters import check_choice, check_int_sequence, check_rate, variant
from kerascnn.models.registry import register_model

_ACTIVATIONS = ("sigmoid", "relu", "tanh")
_POOLINGS = {"avg": layers.AveragePooling2D, "max": layers.MaxPooling2D}

FACTS = ModelFacts(
    # Sigmoid/avg-pool LeNet-5: Adam at 0.01 leaves the sigmoid plateau within three epochs (d2l's SGD
    # 0.9 at batch 256 needs ~10 epochs of 60k images); batch 64 gives 21 steps per epoch on digits, and
    # cosine decay settles it at ~97% test accuracy on digits in 30 epochs (17 s on 2 cores).
    training=TrainingDefaults(epochs=30, batch_size=64, optimizer="adam", lr=1e-2, schedule="cosine"),
    tuning_space={
        "filters": [{"values": [6, 16, 32]}, {"values": [16, 32, 64]}],
        "kernel_sizes": [{"values": [3, 5, 7]}, {"values": [3, 5]}],
        "dense_units": [{"values": [84, 120, 256]}, {"values": [42, 84, 128]}],
        "activation": {"values": ["sigmoid", "relu", "tanh"]},
        "pooling": {"values": ["avg", "max"]},
        "batch_norm": {"values": [False, True]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    test_hyperparameters={},  # already small
    test_input=12,  # two 2/2 pools after a "valid" 5x5 conv
    smallest_input=12,
)


def lenet_conv_block(x, filters, kernel_size, *, padding, activation, pooling, batch_norm, bn_momentum=0.9, name):
    """Conv -> [BatchNorm] -> activation -> pool 2/2. Layers are named ``name + "_conv"`` etc."""
    x = layers.Conv2D(filters, kernel_size, padding=padding, use_bias=not batch_norm, name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return _POOLINGS[pooling](pool_size=2, strides=2, name=f"{name}_pool")(x)


def build_lenet(
    input_shape,
    num_classes,
    *,
    filters=(6, 16),
    kernel_sizes=(5, 5),
    dense_units=(120, 84),
    activation="sigmoid",
    pooling="avg",
    batch_norm=False,
    bn_momentum=0.9,
    dropout=0.0,
    name="lenet",
) -> keras.Model:
    """LeNet-5; returns logits.

    Args:
        input_shape: (H, W, C) of the images.
        num_classes: units of the last Dense layer.
        filters: output channels of the two convolutions.
        kernel_sizes: kernel sizes of the two convolutions (the first is "same"-padded, the second "valid").
        dense_units: units of the two hidden Dense layers.
        activation: "sigmoid" (the original), "relu" or "tanh".
        pooling: "avg" (the original) or "max".
        batch_norm: BatchNorm after every conv and hidden Dense layer (d2l's BN-LeNet, section 8.5).
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's 0.1 is 0.9 here;
            Keras' own default 0.99 leaves short runs testing badly).
        dropout: dropout rate before each hidden Dense layer (0 disables it).

    Reference: Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 86(11), 1998.
    """
    check_choice("activation", activation, _ACTIVATIONS)
    check_choice("pooling", pooling, _POOLINGS)
    filters = check_int_sequence("filters", filters, 2)
    kernel_sizes = check_int_sequence("kernel_sizes", kernel_sizes, 2)
    dense_units = check_int_sequence("dense_units", dense_units, 2)
    dropout = check_rate("dropout", dropout)
    bn_momentum = check_rate("bn_momentum", bn_momentum)
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    for i, (f, k, padding) in enumerate(zip(filters, kernel_sizes, ("same", "valid")), start=1):
        x = lenet_conv_block(
            x,
            int(f),
            int(k),
            padding=padding,
            activation=activation,
            pooling=pooling,
            batch_norm=batch_norm,
            bn_momentum=bn_momentum,
            name=f"block{i}",
        )
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, start=1):
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
        x = layers.Dense(int(units), use_bias=not batch_norm, name=f"fc{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"fc{i}_bn")(x)
        x = layers.Activation(activation, name=f"fc{i}_{activation}")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


lenet = register_model(
    default_input_shape=(28, 28, 1),
    description="LeNet-5: two 5x5 convs with sigmoid and average pooling, three dense layers",
    reference="LeCun et al. 1998; d2l.ai 7.6",
    facts=FACTS,
    reference_counts=(ReferenceCount(61_706, "d2l.ai 7.6 (LeNet-5 at 28x28x1, 10 classes)", (28, 28, 1), 10),),
)(variant(build_lenet, "lenet"))


lenet_bn = register_model(
    default_input_shape=(28, 28, 1),
    description="LeNet-5 with batch normalization after every conv and hidden dense layer",
    reference="Ioffe & Szegedy 2015; d2l.ai 8.5",
    facts=dataclasses.replace(FACTS, training=dataclasses.replace(FACTS.training, epochs=20)),
)(variant(build_lenet, "lenet_bn", batch_norm=True))
