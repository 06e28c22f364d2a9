"""Checks for builder hyperparameters, so a bad value is a one-line user error, not a Keras traceback.

A tuner or a ``--hparam`` flag can hand a builder any value; these helpers say which argument was wrong,
what was received and what is allowed.
"""

from __future__ import annotations

from kerascnn.errors import KerasCNNError


class HyperparameterError(KerasCNNError, ValueError):
    """A builder hyperparameter with a value the architecture cannot take."""


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


def check_int_sequence(name: str, value, length: int | None = None) -> tuple:
    """A sequence of positive integers, of ``length`` items when given; returns a tuple of ints."""
    if isinstance(value, (int, float, str)) or not hasattr(value, "__len__"):
        raise HyperparameterError(f"{name} must be a list of positive integers. Received: {name}={value!r}")
    if length is not None and len(value) != length:
        raise HyperparameterError(f"{name} takes {length} values. Received: {name}={value!r}")
    if len(value) == 0:
        raise HyperparameterError(f"{name} must not be empty. Received: {name}={value!r}")
    return tuple(check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(value))
