"""Checks for builder hyperparameters, so a bad value is a one-line user error, not a Keras traceback.

A tuner or a ``--hparam`` flag can hand a builder any value; these helpers say which argument was wrong,
what was received and what is allowed.
"""

from __future__ import annotations

from kerascnn.errors import HyperparameterError


def check_choice(name: str, value, choices) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in tuple(choices):
        raise HyperparameterError(f"{name} must be one of {tuple(choices)}. Received: {name}={value!r}")


def check_rate(name: str, value) -> float:
    """A dropout-like rate in [0, 1); returns it as a float."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate < 1.0:
        raise HyperparameterError(f"{name} must be a number in [0, 1). Received: {name}={value!r}")
    return rate


def check_positive_int(name: str, value) -> int:
    """A positive integer (bools are refused); returns it as an int."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise HyperparameterError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_positive_number(name: str, value) -> float:
    """A number > 0 (a width multiplier such as MobileNet's ``alpha``); returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
        raise HyperparameterError(f"{name} must be a number greater than 0. Received: {name}={value!r}")
    return float(value)


def check_divides(name: str, groups: int, channels: int, where: str) -> None:
    """Raise unless ``groups`` divides ``channels`` (a grouped convolution splits its channels evenly)."""
    if channels % groups:
        raise HyperparameterError(
            f"{name}={groups} does not divide the {channels} channels of {where}: a grouped convolution splits its "
            f"input and output channels into {name} equal groups."
        )


def check_int_sequence(name: str, value, length: int | None = None) -> tuple:
    """A sequence of positive integers, of ``length`` items when given; returns a tuple of ints."""
    if isinstance(value, (int, float, str)) or not hasattr(value, "__len__"):
        raise HyperparameterError(f"{name} must be a list of positive integers. Received: {name}={value!r}")
    if length is not None and len(value) != length:
        raise HyperparameterError(f"{name} takes {length} values. Received: {name}={value!r}")
    if len(value) == 0:
        raise HyperparameterError(f"{name} must not be empty. Received: {name}={value!r}")
    return tuple(check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(value))


def variant(family_builder, name: str, **defaults):
    """A registered builder ``(input_shape, num_classes, **hp)`` for one variant of a family.

    ``defaults`` are the variant's published values (e.g. VGG-16's blocks); the caller's ``hp``
    override them (timm's ``dict(model_args, **kwargs)``). The family builder and the defaults stay
    visible so :func:`default_hyperparameters` can list what a tuner may vary.
    """
    defaults = {"name": name, **defaults}

    def builder(input_shape, num_classes, **hp):
        # kernel_initializer / bias_initializer: every model takes them (kerascnn.models.initializers);
        # a family builder that does not take them itself builds as always and its weights are redrawn.
        from kerascnn.models.initializers import apply_initializers, split_initializers

        chosen, rest = split_initializers({**defaults, **hp}, _keyword_arguments(family_builder))
        return apply_initializers(family_builder(input_shape, num_classes, **rest), chosen)

    builder.__name__ = builder.__qualname__ = name
    builder.__module__ = family_builder.__module__
    builder.__doc__ = f"{name}: ``{family_builder.__name__}`` with {defaults}."
    builder.family_builder = family_builder
    builder.variant_defaults = defaults
    return builder


def _keyword_arguments(fn) -> set:
    import inspect

    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def default_hyperparameters(name: str) -> dict:
    """The hyperparameters of the registered model ``name`` and their default (published) values.

    Example: ``default_hyperparameters("vgg11")["width_divisor"] == 1``. The model's ``name`` is left
    out: it is not a hyperparameter.
    """
    import inspect

    from kerascnn.models.registry import get_builder

    builder = get_builder(name)
    family_builder = getattr(builder, "family_builder", builder)
    from kerascnn.models.initializers import INITIALIZER_DEFAULTS

    values = {
        p.name: p.default
        for p in inspect.signature(family_builder).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    if hasattr(builder, "family_builder"):  # registered through variant(): takes the initializers too
        for key, value in INITIALIZER_DEFAULTS.items():
            values.setdefault(key, value)
    values.update(getattr(builder, "variant_defaults", {}))
    values.pop("name", None)
    return values


def has_batch_norm_config(name: str, hyperparameters: dict | None = None) -> bool:
    """Whether model ``name`` built with ``hyperparameters`` contains BatchNormalization, without building it.

    Families whose facts say ``always_batch_norm`` (ResNet, DenseNet, MobileNets)
    always do; the others only with ``batch_norm=True`` (a hyperparameter, or a variant's own default such
    as lenet_bn's and googlenet_tv's).
    """
    from kerascnn.models.registry import get_model_info

    if get_model_info(name).facts.always_batch_norm:
        return True
    return bool({**default_hyperparameters(name), **(hyperparameters or {})}.get("batch_norm", False))


def unknown_hyperparameter_message(name: str, hyperparameters: dict) -> str:
    """One line naming the hyperparameters ``name`` does not take and listing those it does."""
    known = default_hyperparameters(name)
    unknown = sorted(set(hyperparameters) - set(known))
    return (
        f"Model {name!r} has no hyperparameter {', '.join(map(repr, unknown)) or '(unknown)'}. "
        f"Its hyperparameters: {', '.join(sorted(known))}."
    )
