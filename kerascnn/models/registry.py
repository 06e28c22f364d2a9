"""The model registry: every architecture is registered by name, looked up by name, built by name.

Builders are plain functions ``build_x(input_shape, num_classes, **hyperparameters) -> keras.Model``.
Registration happens on import of the family module (``kerascnn.models.__init__`` imports them all).
Each entry carries its family's facts (:mod:`kerascnn.models.facts`: training defaults, tuning space,
BatchNorm, test setup) and the model's published parameter counts, declared beside the builder.

All models output **logits** (no softmax): training uses ``from_logits=True`` losses and exports add
the softmax, so a model's numbers mean the same thing everywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kerascnn.errors import UnknownModelError
from kerascnn.models.facts import ModelFacts, ReferenceCount


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model besides its builder."""

    name: str
    builder: Callable  # (input_shape, num_classes, **hp) -> keras.Model
    default_input_shape: tuple  # (H, W, C) the model was published at; C is replaced by the data's
    description: str  # one line
    reference: str  # paper or book section
    family: str  # module name, e.g. "vgg"
    facts: ModelFacts  # what fit, tune, core split and the tests need to know
    reference_counts: tuple = ()  # (ReferenceCount, ...): published parameter counts


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str | None = None,
    *,
    default_input_shape: tuple,
    description: str,
    reference: str,
    facts: ModelFacts,
    reference_counts: tuple[ReferenceCount, ...] = (),
):
    """Decorator registering a builder under ``name`` (default: the function's name).

    ``facts`` is the family's :class:`~kerascnn.models.facts.ModelFacts` (a ``dataclasses.replace`` of
    it where a variant differs); ``reference_counts`` the model's published parameter counts.

    Raises ``ValueError`` on a duplicate name, like torchvision's ``register_model``.
    """

    def decorator(fn: Callable) -> Callable:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"A model is already registered under the name {key!r}.")
        _REGISTRY[key] = ModelInfo(
            name=key,
            builder=fn,
            default_input_shape=tuple(default_input_shape),
            description=description,
            reference=reference,
            family=fn.__module__.rsplit(".", 1)[-1],
            facts=facts,
            reference_counts=tuple(reference_counts),
        )
        return fn

    return decorator


def list_models() -> list[str]:
    """All registered model names, sorted."""
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``; an unknown name raises an error listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"Unknown model {name!r}. Known models: {', '.join(list_models())}.") from None


def get_builder(name: str) -> Callable:
    return get_model_info(name).builder
