"""Network in Network (Lin, Chen, Yan 2013) as d2l.ai (section 8.3) builds it.

Each NiN block is a kxk convolution followed by two 1x1 convolutions (the "mlpconv" layer), all with
ReLU. Three blocks (96@11x11/4, 256@5x5, 384@3x3), each followed by MaxPool 3/2, then Dropout 0.5 and
a last block with ``num_classes`` channels whose global average is the output: no Dense layer.
"""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.models.facts import ModelFacts, TrainingDefaults
from kerascnn.models.hyperparameters import check_int_sequence, check_positive_int, check_rate, variant
from kerascnn.models.registry import register_model

FACTS = ModelFacts(
    # d2l.ai 8.3: plain SGD, lr 0.1, batch 128.
    training=TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.1),
    tuning_space={
        "kernel_sizes": [{"values": [5, 7, 11]}, {"values": [3, 5]}, 3],
        "first_stride": {"values": [2, 4]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    },
    test_hyperparameters={"filters": (8, 8, 8)},
    test_input=67,  # three 3/2 max pools after an 11x11/4 conv
    smallest_input=67,
)


def nin_block(x, filters, kernel_size, *, strides=1, padding="same", final_relu=True, name):
    """kxk conv -> ReLU -> 1x1 conv -> ReLU -> 1x1 conv -> ReLU (the last ReLU optional)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, activation="relu", name=f"{name}_conv")(x)
    x = layers.Conv2D(filters, 1, activation="relu", name=f"{name}_mlp1")(x)
    return layers.Conv2D(filters, 1, activation="relu" if final_relu else None, name=f"{name}_mlp2")(x)


def build_nin(
    input_shape,
    num_classes,
    *,
    filters=(96, 256, 384),
    kernel_sizes=(11, 5, 3),
    first_stride=4,
    dropout=0.5,
    final_relu=True,
    name="nin",
) -> keras.Model:
    """NiN; returns the global average of the last block's class maps as logits.

    Args:
        input_shape: (H, W, C) of the images (224x224 as in d2l).
        num_classes: channels of the last NiN block, one map per class.
        filters: channels of the three hidden NiN blocks.
        kernel_sizes: kernel size of each block's first convolution; the first block is "valid" with
            stride ``first_stride``, the others "same"; the last (class) block uses 3x3.
        first_stride: stride of the first convolution.
        dropout: dropout rate before the class block.
        final_relu: ReLU on the class maps, as in d2l and the paper's released model; the logits are
            then non-negative. ``False`` gives plain linear logits.
        name: the model's name.

    Reference: M. Lin, Q. Chen, S. Yan, "Network in network", ICLR 2014 (arXiv:1312.4400).
    """
    filters = check_int_sequence("filters", filters, 3)
    kernel_sizes = check_int_sequence("kernel_sizes", kernel_sizes, 3)
    first_stride = check_positive_int("first_stride", first_stride)
    dropout = check_rate("dropout", dropout)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    for i, (f, k) in enumerate(zip(filters, kernel_sizes), start=1):
        first = i == 1
        x = nin_block(
            x, f, k, strides=first_stride if first else 1, padding="valid" if first else "same", name=f"block{i}"
        )
        x = layers.MaxPooling2D(3, strides=2, name=f"block{i}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = nin_block(x, num_classes, 3, final_relu=final_relu, name="classes")
    outputs = layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


nin = register_model(
    default_input_shape=(224, 224, 3),
    description="Network in Network: conv + two 1x1 convs per block, global average pooling, no dense layer",
    reference="Lin et al. 2013; d2l.ai 8.3",
    facts=FACTS,
)(variant(build_nin, "nin"))
