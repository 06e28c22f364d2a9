"""VGG (Simonyan & Zisserman 2014): blocks of 3x3 "same" convolutions, each block ending in MaxPool 2/2,
then Flatten -> Dense 4096 -> Dropout 0.5 -> Dense 4096 -> Dropout 0.5 -> Dense classes (logits).

Layer names follow ``keras.applications.VGG16`` (``block1_conv1`` ... ``block5_pool``, ``fc1``, ``fc2``),
except that the last layer is ``logits`` (no softmax). At 224x224x3 with 1000 classes ``vgg16`` has
exactly ``keras.applications.VGG16(weights=None)``'s 138,357,544 parameters.
"""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.models.facts import (
    KERAS_APPLICATIONS_CAFFE,
    ModelFacts,
    ReferenceCount,
    TorchvisionWeights,
    TrainingDefaults,
)
from kerascnn.models.hyperparameters import (
    HyperparameterError,
    check_int_sequence,
    check_positive_int,
    check_rate,
    variant,
)
from kerascnn.models.registry import register_model
from kerascnn.models.weights import TORCHVISION_MODELS_URL, register_weights

# (convolutions in the block, output channels) per block: the columns A, B, D, E of the paper's table 1.
VGG_BLOCKS = {
    "vgg11": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    "vgg13": ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    "vgg16": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    "vgg19": ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}


def vgg_block(x, num_convs, filters, *, batch_norm=False, bn_momentum=0.9, name):
    """``num_convs`` 3x3 same convs with ReLU (BatchNorm before the ReLU if asked), then MaxPool 2/2."""
    for i in range(1, num_convs + 1):
        conv_name = f"{name}_conv{i}"
        if batch_norm:
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=conv_name)(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"{conv_name}_bn")(x)
            x = layers.Activation("relu", name=f"{conv_name}_relu")(x)
        else:
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=conv_name)(x)
    return layers.MaxPooling2D(2, strides=2, name=f"{name}_pool")(x)


def build_vgg(
    input_shape,
    num_classes,
    *,
    blocks=VGG_BLOCKS["vgg16"],
    width_divisor=1,
    dense_units=(4096, 4096),
    dropout=0.5,
    batch_norm=False,
    bn_momentum=0.9,
    name="vgg",
) -> keras.Model:
    """A VGG network from its block spec; returns logits.

    Args:
        input_shape: (H, W, C) of the images (224x224 as published).
        num_classes: units of the last Dense layer.
        blocks: one ``(num_convs, filters)`` pair per block.
        width_divisor: divides every block's filters (d2l trains VGG-11 on Fashion-MNIST with 4); the
            Dense layers keep their units.
        dense_units: units of the hidden Dense layers.
        dropout: dropout rate after each hidden Dense layer.
        batch_norm: BatchNorm after every convolution (the later "vgg_bn" variants).
        bn_momentum: BatchNorm's moving-statistics momentum in Keras' terms (PyTorch's 0.1 is 0.9 here).
        name: the model's name.

    Reference: K. Simonyan, A. Zisserman, "Very deep convolutional networks for large-scale image
    recognition", ICLR 2015 (arXiv:1409.1556).
    """
    if isinstance(blocks, (str, int)) or not blocks or not all(hasattr(b, "__len__") and len(b) == 2 for b in blocks):
        raise HyperparameterError(f"blocks must be a list of (num_convs, filters) pairs. Received: blocks={blocks!r}")
    blocks = [check_int_sequence(f"blocks[{i}]", b, 2) for i, b in enumerate(blocks)]
    width_divisor = check_positive_int("width_divisor", width_divisor)
    dense_units = check_int_sequence("dense_units", dense_units)
    dropout = check_rate("dropout", dropout)
    bn_momentum = check_rate("bn_momentum", bn_momentum)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    for b, (num_convs, filters) in enumerate(blocks, start=1):
        x = vgg_block(
            x,
            num_convs,
            max(1, filters // width_divisor),
            batch_norm=batch_norm,
            bn_momentum=bn_momentum,
            name=f"block{b}",
        )
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def torchvision_names(model) -> dict:
    """Keras layer -> torchvision ``vgg*``/``vgg*_bn`` prefix. torchvision numbers ``features`` by position:
    conv (+ BN) + ReLU per conv, one MaxPool per block."""
    names, index = {}, 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            names[layer.name] = f"features.{index}"
            index += 2
        elif isinstance(layer, keras.layers.BatchNormalization):
            names[layer.name] = f"features.{index - 1}"  # between the conv and its ReLU
            index += 1
        elif isinstance(layer, keras.layers.MaxPooling2D):
            index += 1
    names.update({"fc1": "classifier.0", "fc2": "classifier.3", "logits": "classifier.6"})
    return names


FACTS = ModelFacts(
    # d2l.ai 8.2: plain SGD, lr 0.05, batch 128.
    training=TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.05),
    tuning_space={
        "width_divisor": {"values": [1, 2, 4, 8]},  # channels / divisor (d2l trains VGG-11 at /4)
        "dense_units": [{"values": [512, 1024, 4096]}, {"values": [512, 1024, 4096]}],
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "batch_norm": {"values": [False, True]},
    },
    test_hyperparameters={"width_divisor": 16, "dense_units": (16, 16)},
    test_input=32,  # five 2/2 max pools
    smallest_input=32,
    torchvision=TorchvisionWeights(names=torchvision_names),
    keras_applications_preprocessing=KERAS_APPLICATIONS_CAFFE,  # keras.applications.vgg16.preprocess_input
)


def _register_vgg(name: str, depth: int, reference_counts=()):
    return register_model(
        default_input_shape=(224, 224, 3),
        description=f"VGG-{depth}: {depth - 3} 3x3 convs in five blocks with max pooling, 4096-4096 dense",
        reference="Simonyan & Zisserman 2014; d2l.ai 8.2",
        facts=FACTS,
        reference_counts=reference_counts,
    )(variant(build_vgg, name, blocks=VGG_BLOCKS[name]))


vgg11 = _register_vgg("vgg11", 11, (ReferenceCount(132_863_336, "torchvision.models.vgg11"),))
vgg13 = _register_vgg("vgg13", 13, (ReferenceCount(133_047_848, "torchvision.models.vgg13"),))
vgg16 = _register_vgg("vgg16", 16, (ReferenceCount(138_357_544, "keras.applications.VGG16(weights=None)"),))
vgg19 = _register_vgg("vgg19", 19, (ReferenceCount(143_667_240, "torchvision.models.vgg19"),))


# Published ImageNet weights: torchvision.models.VGG*_Weights (hash: the 8 hex digits in the file name) and
# VGG*_BN_Weights (the same model with batch_norm=True), and keras.applications.VGG16/VGG19's files (MD5 as
# keras.applications passes it to get_file; "notop": the convolutional blocks only). The .h5 files need no PyTorch,
# so they are what weights="imagenet" means where both exist.
_TV = TORCHVISION_MODELS_URL
_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"
register_weights(
    "vgg11",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "vgg11-8a719046.pth",
    sha256="8a719046",
    top1=69.020,
    top5=88.628,
    default=True,
)
register_weights(
    "vgg11",
    "torchvision:BN_IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "vgg11_bn-6002323d.pth",
    sha256="6002323d",
    top1=70.370,
    top5=89.810,
    hyperparameters={"batch_norm": True},
)
register_weights(
    "vgg13",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "vgg13-19584684.pth",
    sha256="19584684",
    top1=69.928,
    top5=89.246,
    default=True,
)
register_weights(
    "vgg13",
    "torchvision:BN_IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "vgg13_bn-abd245e5.pth",
    sha256="abd245e5",
    top1=71.586,
    top5=90.374,
    hyperparameters={"batch_norm": True},
)
register_weights(
    "vgg16",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "vgg16-397923af.pth",
    sha256="397923af",
    top1=71.592,
    top5=90.382,
)
register_weights(
    "vgg16",
    "torchvision:BN_IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "vgg16_bn-6c64b313.pth",
    sha256="6c64b313",
    top1=73.360,
    top5=91.516,
    hyperparameters={"batch_norm": True},
)
register_weights(
    "vgg16",
    "keras:imagenet",
    source="keras",
    hash_algorithm="md5",
    url=_KERAS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    sha256="64373286793e3c8b2b4e3219cbf3544b",
    notop_url=_KERAS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_sha256="6d6bbae143d832006294945121d1f1fc",
    top1=71.268,
    top5=90.050,
    resize_size=None,
    preprocessing=KERAS_APPLICATIONS_CAFFE,
    default=True,
)
register_weights(
    "vgg19",
    "torchvision:IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "vgg19-dcbb9e9d.pth",
    sha256="dcbb9e9d",
    top1=72.376,
    top5=90.876,
)
register_weights(
    "vgg19",
    "torchvision:BN_IMAGENET1K_V1",
    source="torchvision",
    url=_TV + "vgg19_bn-c79401a0.pth",
    sha256="c79401a0",
    top1=74.218,
    top5=91.842,
    hyperparameters={"batch_norm": True},
)
register_weights(
    "vgg19",
    "keras:imagenet",
    source="keras",
    hash_algorithm="md5",
    url=_KERAS + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    sha256="cbe5617147190e668d6c5d5026f83318",
    notop_url=_KERAS + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_sha256="253f8cb515780f3b799900260a226db6",
    top1=71.256,
    top5=89.988,
    resize_size=None,
    preprocessing=KERAS_APPLICATIONS_CAFFE,
    default=True,
)
