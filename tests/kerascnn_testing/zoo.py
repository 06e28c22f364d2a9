"""Registry-driven test set-up: each model's narrow test version, and which models add something to test.

The facts come from the registry (``ModelFacts.test_input`` / ``test_hyperparameters`` beside each
builder), so a model registered tomorrow is tested the day it is registered, with no table to update here.
"""

from __future__ import annotations

from kerascnn.models import default_hyperparameters, get_model_info, list_models

# Builder arguments that only set how many blocks a stage or network has (ResNet-18 vs 34, VGG-11 vs 19).
DEPTH_ARGUMENTS = ("blocks", "blocks_per_stage")


def small_setup(name: str) -> tuple[int, dict]:
    """``(size, hyperparameters)``: the square input and narrow settings ``name`` is tested at."""
    facts = get_model_info(name).facts
    return facts.test_input, dict(facts.test_hyperparameters)


def _test_arguments(name: str) -> dict:
    """Every builder argument of ``name``'s test version but the depth ones."""
    _, hp = small_setup(name)
    arguments = {**default_hyperparameters(name), **hp}
    return {k: v for k, v in arguments.items() if k not in DEPTH_ARGUMENTS}


def distinct_models() -> list[str]:
    """Registered models (sorted), without those whose test version differs from an earlier model of
    their family in depth only: VGG-13/16/19 test nothing VGG-11 does not, ResNet-34 nothing ResNet-18 does.
    Their depths are still checked, cheaply, by their parameter counts and default-shape builds."""
    kept: dict[str, list[dict]] = {}
    names = []
    for name in list_models():
        family, arguments = get_model_info(name).family, _test_arguments(name)
        if arguments not in kept.setdefault(family, []):
            kept[family].append(arguments)
            names.append(name)
    return names
