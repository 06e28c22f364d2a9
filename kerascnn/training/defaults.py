"""Per-model training defaults: what ``kerascnn fit NAME`` uses for every flag you do not pass.

The numbers live beside each family's builder (``FACTS.training`` in ``kerascnn/models/<family>.py``,
see :mod:`kerascnn.models.facts`), with the reason for each. Learning rates and batch sizes follow the
textbook (d2l.ai, which trains every network on Fashion-MNIST with plain SGD) where that works on the
bundled digits; LeNet uses Adam because the sigmoid LeNet with plain SGD needs tens of epochs before it
leaves its plateau, and ``kerascnn fit lenet`` must reach 95% on digits in well under two minutes. Input
sizes come from the model registry (``default_input_shape``). A model whose facts name no training
defaults gets ``GENERIC``.
"""

from __future__ import annotations

from kerascnn.models.facts import GENERIC_TRAINING as GENERIC
from kerascnn.models.facts import TrainingDefaults

__all__ = ["GENERIC", "TrainingDefaults", "get_training_defaults"]


def get_training_defaults(model_name: str) -> TrainingDefaults:
    """The training defaults of a registered model (raises UnknownModelError for unknown names)."""
    from kerascnn.models import get_model_info

    return get_model_info(model_name).facts.training or GENERIC
