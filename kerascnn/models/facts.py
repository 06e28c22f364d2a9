"""What fit, tune, core split and the tests know about a model, declared beside its builder.

Each family module (``kerascnn/models/<family>.py``) declares one :class:`ModelFacts` next to its
builders and passes it to :func:`kerascnn.models.register_model`; a variant that differs passes a
``dataclasses.replace`` of it (``lenet_bn`` trains for 20 epochs, not 30). Published parameter counts
are per model: :class:`ReferenceCount`. This is timm's ``pretrained_cfg`` (input size, test input size
beside the architecture) and torchvision's ``Weights.meta`` (``num_params``) for kerascnn: adding a
model is one file plus its tests, and nothing outside that file has to learn its name.

Readers: ``kerascnn.training.defaults.get_training_defaults`` (``training``),
``kerascnn.tuning.spaces.default_space`` (``tuning_space``),
``kerascnn.training.core_split.model_has_batch_norm_config`` (``always_batch_norm``),
``kerascnn.models.pretrained`` (``torchvision``, ``keras_applications_preprocessing``), and the
registry-driven tests (``test_input``, ``smallest_input``, ``test_hyperparameters``, ``ReferenceCount``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class TrainingDefaults:
    """What ``kerascnn fit NAME`` uses for every flag you do not pass."""

    epochs: int
    batch_size: int
    optimizer: str  # sgd | momentum | adam | adamw
    lr: float
    schedule: str = "constant"  # constant | cosine | step
    weight_decay: float = 0.0
    label_smoothing: float = 0.0


# For a model whose facts name no training defaults.
GENERIC_TRAINING = TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3)


# What published weights expect of the input (kerascnn.data.spec applies it): RGB or BGR, and the mean
# and standard deviation of pixels scaled to [0, 1].
# torchvision's ``transforms``: RGB in [0, 1] normalized with ImageNet's statistics.
TORCHVISION_IMAGENET = {
    "name": "imagenet (torchvision)",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "channel_order": "RGB",
}
# keras.applications' "caffe" mode: BGR, minus ImageNet's mean in 0..255.
KERAS_APPLICATIONS_CAFFE = {
    "name": "caffe (keras.applications)",
    "mean": [103.939 / 255, 116.779 / 255, 123.68 / 255],
    "std": [1 / 255] * 3,
    "channel_order": "BGR",
}


@dataclasses.dataclass(frozen=True)
class TorchvisionWeights:
    """How a torchvision state dict of the family fills a zoo model (``kerascnn.models.load_weights``)."""

    # (built keras.Model) -> {keras layer name: torch state-dict prefix} for every layer with weights,
    # e.g. "conv2_block1_1_conv" -> "layer1.0.conv1"; the loader reads prefix.weight/.bias/.running_mean/
    # .running_var as the layer type needs. A layer left out is a one-line error when loading.
    names: Callable[[Any], dict]
    # What the published weights expect of the input (torchvision's ``transforms``).
    preprocessing: Mapping[str, Any] = dataclasses.field(default_factory=lambda: TORCHVISION_IMAGENET)
    # BatchNorm epsilon of torchvision's modules (BatchNorm2d's default): loaded layers are set to it.
    bn_epsilon: float = 1e-5
    # Prefixes of tensors a file may hold that a model legitimately leaves out (GoogLeNet's auxiliary
    # heads when built without them): reported as skipped, never silently.
    optional_prefixes: tuple = ()


@dataclasses.dataclass(frozen=True)
class ModelFacts:
    """A family's facts (one instance per family module, shared by its variants unless replaced).

    Mappings here are shared by every model of the family: read them, copy before changing.
    """

    # `kerascnn fit` defaults; None: GENERIC_TRAINING.
    training: TrainingDefaults | None = None
    # `kerascnn tune` default ranges, in the --space file format of kerascnn.tuning.spaces. Every key is
    # a keyword argument of the family builder (tests/tuning check it); the published defaults are not
    # repeated here, they are the builder's.
    tuning_space: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Every build contains BatchNormalization. False: only with `batch_norm=True` (a hyperparameter or a
    # variant default such as lenet_bn's). Core split asks this before building (it never splits BN models).
    always_batch_norm: bool = False
    # The tests' narrow version of the family: the same layer types with few channels and blocks, so a
    # forward pass, a .keras round trip or a TFLite conversion takes well under a second...
    test_hyperparameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # ... and the square input (H = W) it is tested at: smallest_input for the families whose pools or
    # "valid" windows need one (LeNet 12, VGG 32, GoogLeNet 65, AlexNet 67), a small one for those that
    # build at any size (ResNet, MobileNets)...
    test_input: int = 32
    # ... the smallest square input that builds with test_hyperparameters (1: any size builds), which the
    # too-small message must name (tests/models/test_smallest_input.py checks both sides of it).
    smallest_input: int = 1
    # Pretrained weights: how torchvision's state dicts map onto the family (None: no torchvision
    # counterpart), and what keras.applications' .h5 weights expect of the input (None: the data's own
    # statistics, as for kerascnn runs).
    torchvision: TorchvisionWeights | None = None
    keras_applications_preprocessing: Mapping[str, Any] | None = None
    # keras.applications models that normalize inside the model (EfficientNet: a Normalization layer after
    # the input) keep its statistics in their files: ``{"mean", "variance", "bn_epsilon"}`` says which ones
    # keras_applications_preprocessing stands for, and the BatchNorm epsilon of those files. The loader
    # checks the file's statistics against them instead of loading a layer the zoo model does not have.
    keras_applications_normalization: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class ReferenceCount:
    """A published parameter count of one model (torchvision ``meta["num_params"]``, keras.applications).

    ``params`` is Keras' ``count_params()`` (BatchNorm's moving mean and variance included), or the
    trainable weights only with ``trainable_only`` (torchvision counts parameters, not buffers).
    """

    params: int
    source: str  # who publishes the number, e.g. "torchvision.models.resnet18"
    input_shape: tuple = (224, 224, 3)
    num_classes: int = 1000
    trainable_only: bool = False
    hyperparameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
