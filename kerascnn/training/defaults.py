"""Per-model training defaults: what ``kerascnn fit NAME`` uses for every flag you do not pass.

Learning rates and batch sizes follow the textbook (d2l.ai, which trains every network on Fashion-MNIST
with plain SGD) where that works on the bundled digits; LeNet uses Adam because the sigmoid LeNet with
plain SGD needs tens of epochs before it leaves its plateau, and ``kerascnn fit lenet`` must reach 95%
on digits in well under two minutes. Input sizes come from the model registry (``default_input_shape``).

Look-up order: the model's name, then its family (``ModelInfo.family``, e.g. ``"resnet"``), then
``GENERIC``.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainingDefaults:
    epochs: int
    batch_size: int
    optimizer: str  # sgd | momentum | adam | adamw
    lr: float
    schedule: str = "constant"  # constant | cosine | step
    weight_decay: float = 0.0
    label_smoothing: float = 0.0


GENERIC = TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3)

MODEL_DEFAULTS: dict[str, TrainingDefaults] = {
    # Sigmoid/avg-pool LeNet-5: Adam at 0.01 leaves the sigmoid plateau within three epochs (d2l's SGD
    # 0.9 at batch 256 needs ~10 epochs of 60k images); batch 64 gives 21 steps per epoch on digits, and
    # cosine decay settles it at ~97% test accuracy on digits in 30 epochs (17 s on 2 cores).
    "lenet": TrainingDefaults(epochs=30, batch_size=64, optimizer="adam", lr=1e-2, schedule="cosine"),
    "lenet_bn": TrainingDefaults(epochs=20, batch_size=64, optimizer="adam", lr=1e-2, schedule="cosine"),
    # keras-io "Simple MNIST convnet": Adam, batch 128, 15 epochs.
    "mnist_cnn": TrainingDefaults(epochs=15, batch_size=128, optimizer="adam", lr=1e-3),
}

FAMILY_DEFAULTS: dict[str, TrainingDefaults] = {
    # d2l.ai: AlexNet lr 0.01 b128; VGG lr 0.05 b128; NiN lr 0.1 b128; GoogLeNet lr 0.1 b128;
    # ResNet lr 0.05 b256, all with plain SGD, which is what we use.
    "lenet": TrainingDefaults(epochs=30, batch_size=64, optimizer="adam", lr=1e-2, schedule="cosine"),
    "mnist_cnn": TrainingDefaults(epochs=15, batch_size=128, optimizer="adam", lr=1e-3),
    "alexnet": TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.01),
    "vgg": TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.05),
    "nin": TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.1),
    "googlenet": TrainingDefaults(epochs=10, batch_size=128, optimizer="sgd", lr=0.1),
    "resnet": TrainingDefaults(epochs=10, batch_size=256, optimizer="sgd", lr=0.05),
    # d2l.ai: DenseNet lr 0.1 b256, plain SGD. `kerascnn fit densenet_d2l --input-shape 32,32`: 93.6% test
    # accuracy on digits after the 10 epochs (load 5 on 2 cores, 35 s).
    "densenet": TrainingDefaults(epochs=10, batch_size=256, optimizer="sgd", lr=0.1),
    # d2l.ai has no MobileNet; the papers train for hundreds of epochs (RMSprop / SGD 0.045 with decay).
    # For ten epochs Adam 1e-3 with cosine decay, like the generic default, is the safe start: at 32x32 on
    # digits, mobilenet 84.1% and mobilenet_v2 81.3% test accuracy after the 10 epochs (after 3, v2 still
    # gave one class for every validation image: 16.7%).
    "mobilenet": TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3, schedule="cosine"),
    "mobilenet_v2": TrainingDefaults(epochs=10, batch_size=128, optimizer="adam", lr=1e-3, schedule="cosine"),
}


def get_training_defaults(model_name: str) -> TrainingDefaults:
    """The training defaults of a registered model (raises UnknownModelError for unknown names)."""
    from kerascnn.models import get_model_info

    info = get_model_info(model_name)
    return MODEL_DEFAULTS.get(model_name) or FAMILY_DEFAULTS.get(info.family) or GENERIC
