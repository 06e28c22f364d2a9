"""The two small MNIST CNNs of the study notes (both output logits).

``mnist_cnn`` (PyTorch's classic MNIST example):
    Conv 10@5 -> ReLU -> MaxPool 2 -> Conv 20@5 -> ReLU -> MaxPool 2 -> Flatten (320 at 28x28)
    -> Dense 50 -> ReLU -> Dense classes
``mnist_cnn_wide`` (one pooling less, a 500-unit hidden layer):
    Conv 10@5 -> ReLU -> MaxPool 2 -> Conv 20@3 -> ReLU -> Flatten (2000 at 28x28)
    -> Dense 500 -> ReLU -> Dense classes

The notes write the first as "Dense 50 -> Dense classes"; two Dense layers without an activation
between them collapse into one linear map, so the ReLU of the PyTorch example is the default here
(``hidden_activation=None`` gives the notes' literal version).
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, ReferenceCount, TrainingDefaults
from kerascnn.models.hyperparameters import (
    HyperparameterError,
    check_choice,
    check_int_sequence,
    check_positive_int,
    check_rate,
    variant,
)
from kerascnn.models.registry import register_model

_ACTIVATIONS = (None, "relu", "tanh", "sigmoid")

FACTS = ModelFacts(
    # keras-io "Simple MNIST convnet": Adam, batch 128, 15 epochs.
    training=TrainingDefaults(epochs=15, batch_size=128, optimizer="adam", lr=1e-3),
    tuning_space={
        "filters": [{"values": [10, 16, 32]}, {"values": [20, 32, 64]}],
        "kernel_sizes": [{"values": [3, 5]}, {"values": [3, 5]}],
        "hidden_units": {"values": [50, 128, 256, 500]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    test_hyperparameters={},  # already small
    test_input=16,
    smallest_input=16,  # two "valid" 5x5 convs, each followed by a 2/2 pool
)


def build_mnist_cnn(
    input_shape,
    num_classes,
    *,
    filters=(10, 20),
    kernel_sizes=(5, 5),
    pool_after=(True, True),
    hidden_units=50,
    hidden_activation="relu",
    dropout=0.0,
    name="mnist_cnn",
) -> keras.Model:
    """Two valid convolutions with ReLU, optional 2x2 max pooling after each, one hidden Dense layer.

    Args:
        input_shape: (H, W, C) of the images.
        num_classes: units of the last Dense layer (logits).
        filters: output channels of the two convolutions.
        kernel_sizes: kernel sizes of the two convolutions ("valid" padding).
        pool_after: whether a 2x2 max pooling follows each convolution.
        hidden_units: units of the hidden Dense layer.
        hidden_activation: activation after the hidden Dense layer ("relu", "tanh", "sigmoid" or None).
        dropout: dropout rate before the last Dense layer (the PyTorch example uses 0.5; 0 disables it).
        name: the model's name.

    Reference: the PyTorch examples' MNIST network (github.com/pytorch/examples, mnist/main.py, 2017).
    """
    filters = check_int_sequence("filters", filters, 2)
    kernel_sizes = check_int_sequence("kernel_sizes", kernel_sizes, 2)
    if len(pool_after) != 2 or not all(isinstance(p, bool) for p in pool_after):
        raise HyperparameterError(f"pool_after takes two booleans. Received: pool_after={pool_after!r}")
    hidden_units = check_positive_int("hidden_units", hidden_units)
    check_choice("hidden_activation", hidden_activation, _ACTIVATIONS)
    dropout = check_rate("dropout", dropout)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    for i, (f, k, pool) in enumerate(zip(filters, kernel_sizes, pool_after), start=1):
        x = layers.Conv2D(f, k, name=f"conv{i}")(x)
        x = layers.Activation("relu", name=f"conv{i}_relu")(x)
        if pool:
            x = layers.MaxPooling2D(2, name=f"conv{i}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hidden_units, name="fc1")(x)
    if hidden_activation:
        x = layers.Activation(hidden_activation, name=f"fc1_{hidden_activation}")(x)
    if dropout:
        x = layers.Dropout(dropout, name="fc1_dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


mnist_cnn = register_model(
    default_input_shape=(28, 28, 1),
    description="Small MNIST CNN: two 5x5 convs (10, 20) with max pooling, Flatten 320, Dense 50",
    reference="PyTorch examples, mnist/main.py (2017)",
    facts=FACTS,
    # 260 + 5,020 + 16,050 + 510
    reference_counts=(ReferenceCount(21_840, "PyTorch examples, mnist/main.py", (28, 28, 1), 10),),
)(variant(build_mnist_cnn, "mnist_cnn"))

mnist_cnn_wide = register_model(
    default_input_shape=(28, 28, 1),
    description="Small MNIST CNN, wide: 5x5 and 3x3 convs (10, 20), one pooling, Flatten 2000, Dense 500",
    reference="study notes, MNIST CNN",
    facts=dataclasses.replace(FACTS, smallest_input=10),  # one pool fewer
    # 260 + 1,820 + 1,000,500 + 5,010
    reference_counts=(ReferenceCount(1_007_590, "study notes, MNIST CNN", (28, 28, 1), 10),),
)(variant(build_mnist_cnn, "mnist_cnn_wide", kernel_sizes=(5, 3), pool_after=(True, False), hidden_units=500))
