"""Search spaces: what ``kerascnn tune`` varies for each model family, and how a file changes it.

A search space maps hyperparameter names to *specs*. The names are the keyword arguments of the
family's builder (``build_lenet(..., kernel_sizes=(5, 5), ...)``) plus the training hyperparameters
(``lr``, ``optimizer``; also ``weight_decay``, ``label_smoothing``, ``schedule``, the
names a ``kerascnn fit --hparams`` file takes). A spec is one of:

    {"values": [3, 5, 7]}                       a choice (lists/tuples as values are allowed too)
    {"min": 4, "max": 64, "step": 4}            integers (int bounds) or floats (any float bound)
    {"min": 1e-4, "max": 0.3, "sampling": "log"}   log scale ("linear", "log", "reverse_log")
    5, "relu", true, [6, 16]                    a fixed value: not searched

A builder argument whose default is a tuple (``kernel_sizes=(5, 5)``) may instead get a list with
one spec per element, ``kernel_sizes: [{"values": [3, 5, 7]}, 5]``; keras-tuner then sees
``kernel_sizes[0]`` (searched) and the second kernel stays 5. Any spec may carry ``"default"``.

The default ranges live beside each family's builders, in ``FACTS.tuning_space`` of
``kerascnn/models/<family>.py`` (``FAMILY_SPACES`` below reads them). Their published defaults are not
repeated there: they come from the zoo (``kerascnn.models.hyperparameters.
default_hyperparameters``: the builders' signatures and what a variant such as ``lenet_bn`` passes to
its family builder), so the zoo stays the single description of each architecture. A ``--space FILE`` (JSON or
YAML, same format) replaces the entries it names and keeps the others; give an entry a fixed value to stop searching it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kerascnn.errors import KerasCNNError
from kerascnn.settings_files import format_name, read_json_or_yaml
from kerascnn.tuning.training_bridge import TRAINING_HYPERPARAMETERS


class SearchSpaceError(KerasCNNError, ValueError):
    """A search space that is empty, contradictory, or names a hyperparameter the model lacks."""


# Searched for every model; defaults come from the training defaults of `kerascnn fit`.
# Also accepted in a --space file: weight_decay, label_smoothing, schedule (fit's own settings).
TRAINING_SPACE: dict[str, Any] = {
    "lr": {"min": 1e-4, "max": 0.3, "sampling": "log"},
    "optimizer": {"values": ["adam", "momentum", "sgd"]},
}


class _FamilySpaces(Mapping):
    """``FAMILY_SPACES[family]``: the default ranges of each family, read from the registry.

    The ranges live beside each family's builders (``FACTS.tuning_space`` in ``kerascnn/models/<family>.py``);
    this read-only view keeps the public name working and imports the zoo only when first read. Its values
    are the facts themselves, shared by every model of the family: copy before changing (a search's own
    ranges are a ``--space`` file or ``tune(space=...)``, never an edit of this table).
    """

    def _table(self) -> dict:
        from kerascnn.models import get_model_info, list_models

        table: dict = {}
        for name in list_models():
            info = get_model_info(name)
            table.setdefault(info.family, info.facts.tuning_space)
        return table

    def __getitem__(self, family):
        return self._table()[family]

    def __iter__(self):
        return iter(self._table())

    def __len__(self):
        return len(self._table())


FAMILY_SPACES: Mapping[str, dict] = _FamilySpaces()

_SPEC_KEYS = {"values", "min", "max", "step", "sampling", "default"}
_SAMPLINGS = ("linear", "log", "reverse_log")
_NOT_HYPERPARAMETERS = ("input_shape", "num_classes", "name")


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched hyperparameter, as keras-tuner sees it.

    ``name`` is keras-tuner's name (``kernel_sizes[1]`` for one element of a tuple argument);
    ``arg`` the builder or training argument it sets, ``index`` the element (None: the whole value).
    """

    name: str
    arg: str
    index: int | None
    kind: str  # "choice", "int", "float"
    values: tuple = ()
    min: float | None = None
    max: float | None = None
    step: float | None = None
    sampling: str = "linear"
    default: Any = None

    def declare(self, hp):
        """Register on a ``keras_tuner.HyperParameters`` and return the value for this trial."""
        if self.kind == "choice":
            if self._is_boolean():
                return bool(hp.Boolean(self.name, default=bool(self.default)))
            encoded = [_encode(v) for v in self.values]
            return self._cast(hp.Choice(self.name, encoded, default=_encode(self.default)))
        if self.kind == "int":
            return hp.Int(
                self.name, int(self.min), int(self.max), step=self.step, sampling=self.sampling, default=self.default
            )
        return hp.Float(
            self.name, float(self.min), float(self.max), step=self.step, sampling=self.sampling, default=self.default
        )

    def value_of(self, values: dict):
        """This parameter's value in a trial's ``hp.values`` (its default if the trial lacks it)."""
        return self._cast(values[self.name]) if self.name in values else self.default

    def _is_boolean(self) -> bool:
        return self.kind == "choice" and len(self.values) == 2 and all(isinstance(v, bool) for v in self.values)

    def _cast(self, value):
        # keras-tuner stores booleans as ints and lists as our JSON strings: give back what was listed.
        value = _decode(value)
        if self.kind == "choice" and all(isinstance(v, bool) for v in self.values):
            return bool(value)
        if self.kind == "float":
            return float(f"{value:.10g}")  # 0.30000000000000004 -> 0.3 (a stepped Float's arithmetic)
        return value

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(json.dumps(v) for v in self.values)
        text = f"{self.kind} {self.min:g}..{self.max:g}"
        if self.step:
            text += f" step {self.step:g}"
        if self.sampling != "linear":
            text += f" ({self.sampling})"
        return text


@dataclasses.dataclass
class SearchSpace:
    """The resolved space of one model: searched ``params`` plus ``fixed`` argument values."""

    model: str
    params: list  # [Param]
    fixed: dict  # arg -> value (whole arguments, including tuple elements fixed by the space)
    defaults: dict  # arg -> published default, for every argument the space touches

    def declare(self, hp) -> tuple[dict, dict]:
        """Declare every parameter on ``hp``; returns ``(builder_kwargs, training_kwargs)``."""
        return self._assemble({p.name: p for p in self.params}, lambda p: p.declare(hp))

    def resolve(self, values: dict) -> tuple[dict, dict]:
        """``(builder_kwargs, training_kwargs)`` for a finished trial's ``hp.values``."""
        return self._assemble({p.name: p for p in self.params}, lambda p: p.value_of(values))

    def _assemble(self, params, value_fn) -> tuple[dict, dict]:
        args = {arg: _copy(v) for arg, v in self.fixed.items()}
        for p in params.values():
            value = value_fn(p)
            if p.index is None:
                args[p.arg] = value
            else:
                if not isinstance(args.get(p.arg), list):
                    args[p.arg] = list(self.defaults[p.arg])
                args[p.arg][p.index] = value
        model_kwargs = {k: v for k, v in args.items() if k not in TRAINING_HYPERPARAMETERS}
        training = {k: v for k, v in args.items() if k in TRAINING_HYPERPARAMETERS}
        return model_kwargs, training

    def to_dict(self) -> dict:
        """The space in the ``--space`` file format (what ``space.json`` of a search holds)."""
        out: dict[str, Any] = {arg: _copy(v) for arg, v in self.fixed.items()}
        for p in self.params:
            spec = {"values": list(p.values)} if p.kind == "choice" else {"min": p.min, "max": p.max}
            if p.kind != "choice" and p.step:
                spec["step"] = p.step
            if p.kind != "choice" and p.sampling != "linear":
                spec["sampling"] = p.sampling
            spec["default"] = p.default
            if p.index is None:
                out[p.arg] = spec
            else:
                if not isinstance(out.get(p.arg), list):
                    out[p.arg] = list(self.defaults[p.arg])
                out[p.arg][p.index] = spec
        return out

    def summary_lines(self) -> list[str]:
        lines = [f"{p.name}: {p.describe()} (default {json.dumps(p.default)})" for p in self.params]
        lines += [f"{arg} = {json.dumps(v)} (fixed)" for arg, v in self.fixed.items()]
        return lines


# --------------------------------------------------------------------------------------------------
# What a model accepts, read from the zoo.


def builder_defaults(model: str) -> dict:
    """Hyperparameters ``model`` takes, with its published defaults (the zoo's ``default_hyperparameters``).

    These are the keyword arguments of the family builder, with a variant's own values (``lenet_bn``
    passes ``batch_norm=True``) in place of the family's.
    """
    from kerascnn.models.hyperparameters import default_hyperparameters

    return {k: _copy(v) for k, v in default_hyperparameters(model).items() if k not in _NOT_HYPERPARAMETERS}


def variant_overrides(model: str) -> dict:
    """The arguments a registered variant sets on its family builder (``{}`` for a family's base model)."""
    from kerascnn.models import get_builder

    overrides = dict(getattr(get_builder(model), "variant_defaults", {}) or {})
    overrides.pop("name", None)
    return overrides


def default_space(model: str) -> dict:
    """The default space of ``model`` in file format: its family's ranges plus the training ones.

    Arguments a variant sets itself (``lenet_bn`` sets ``batch_norm=True``) define that variant and
    are not searched by default.
    """
    from kerascnn.models import get_model_info

    overridden = variant_overrides(model)
    space = {k: _copy(v) for k, v in get_model_info(model).facts.tuning_space.items() if k not in overridden}
    space.update(_copy(TRAINING_SPACE))
    return space


# --------------------------------------------------------------------------------------------------
# Reading and validating.


def load_space_file(path) -> dict:
    """Read a ``--space`` file (JSON, or YAML for .yaml/.yml) into a mapping; errors are one line."""
    path = Path(path)
    try:
        data = read_json_or_yaml(path)
    except FileNotFoundError:
        raise SearchSpaceError(f"Search space file not found: {path}") from None
    except OSError as e:
        raise SearchSpaceError(f"Cannot read search space file {path}: {e.strerror}") from None
    except ValueError as e:
        raise SearchSpaceError(f"Search space file {path} is not valid {format_name(path)}: {e}") from None
    if data is None or data == {}:
        raise SearchSpaceError(f"Search space file {path} is empty: give at least one hyperparameter.")
    if not isinstance(data, dict):
        raise SearchSpaceError(
            f"Search space file {path} must hold a mapping of hyperparameter names to specs. "
            f"Received a {type(data).__name__}."
        )
    return data


def resolve_space(
    model: str, overrides: dict | str | Path | None = None, training_defaults: dict | None = None
) -> SearchSpace:
    """Validate and resolve the space of ``model``: the defaults with ``overrides`` applied.

    Args:
        model: a registered model name.
        overrides: a mapping in the file format, or the path of a ``--space`` file, or None.
        training_defaults: default values of the training hyperparameters (``lr``,
            ``optimizer``), normally the per-model defaults of ``kerascnn fit``.

    Raises:
        SearchSpaceError: an unknown hyperparameter, a contradictory spec (min > max, a default
            outside the range, ...), or a space with nothing to search.
    """
    from kerascnn.training.config import canonical_settings

    if isinstance(overrides, (str, Path)):
        overrides = load_space_file(overrides)
    overrides = canonical_settings(dict(overrides or {}))  # a space file may say learning_rate for lr
    known = builder_defaults(model)
    defaults = dict(known)
    defaults.update({k: v for k, v in (training_defaults or {}).items() if k in TRAINING_HYPERPARAMETERS})
    unknown = [k for k in overrides if k not in known and k not in TRAINING_HYPERPARAMETERS]
    if unknown:
        raise SearchSpaceError(
            f"Unknown hyperparameter {unknown[0]!r} for model {model}. Model hyperparameters: "
            f"{', '.join(sorted(known)) or 'none'}; training: {', '.join(TRAINING_HYPERPARAMETERS)}."
        )
    entries = default_space(model)
    entries.update(overrides)
    for name in entries:
        if name not in known and name not in TRAINING_HYPERPARAMETERS:
            from kerascnn.models import get_model_info

            raise SearchSpaceError(
                f"The default space of {model} names {name!r}, which its builder does not accept "
                f"(the tuning_space of kerascnn/models/{get_model_info(model).family}.py is out of date)."
            )

    params, fixed = [], {}
    for arg, spec in entries.items():
        default = defaults.get(arg)
        if isinstance(spec, list) and isinstance(default, (tuple, list)) and any(isinstance(s, dict) for s in spec):
            if len(spec) != len(default):
                raise SearchSpaceError(
                    f"{arg}: {len(spec)} element specs given but {model} takes {len(default)} values "
                    f"(default {list(default)})."
                )
            fixed_elements = list(default)
            for i, element in enumerate(spec):
                if isinstance(element, dict):
                    params.append(_param(f"{arg}[{i}]", arg, i, element, default[i]))
                else:
                    fixed_elements[i] = element
            if fixed_elements != list(default):
                fixed[arg] = fixed_elements
        elif isinstance(spec, dict):
            params.append(_param(arg, arg, None, spec, default))
        else:
            fixed[arg] = _copy(spec)
    if not params:
        raise SearchSpaceError(
            f"The search space of {model} has nothing to search: every entry is a fixed value. "
            'Give at least one entry a "values" list or a "min"/"max" range.'
        )
    # Element params must be assembled on top of the fixed elements, not the published default.
    space_defaults = {k: (list(v) if isinstance(v, tuple) else v) for k, v in defaults.items()}
    for arg, value in fixed.items():
        if isinstance(value, list) and isinstance(defaults.get(arg), (tuple, list)):
            space_defaults[arg] = list(value)
    fixed_whole = {arg: v for arg, v in fixed.items() if not any(p.arg == arg for p in params)}
    space = SearchSpace(model=model, params=params, fixed=fixed_whole, defaults=space_defaults)
    _check_with_keras_tuner(space)
    return space


def _check_with_keras_tuner(space: SearchSpace) -> None:
    # keras-tuner has rules of its own (one type per Choice, ...): meet them before any trial runs.
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    for p in space.params:
        try:
            p.declare(hp)
        except (ValueError, TypeError) as e:
            raise SearchSpaceError(f"{p.name}: {str(e).splitlines()[0]}") from None


def _param(name: str, arg: str, index, spec: dict, published_default) -> Param:
    extra = set(spec) - _SPEC_KEYS
    if extra:
        raise SearchSpaceError(
            f"{name}: unknown key {sorted(extra)[0]!r} in {json.dumps(spec, default=str)}; "
            f"a spec takes {', '.join(sorted(_SPEC_KEYS))}."
        )
    if "values" in spec:
        if {"min", "max", "step", "sampling"} & set(spec):
            raise SearchSpaceError(f'{name}: give either "values" or "min"/"max", not both.')
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise SearchSpaceError(f'{name}: "values" must be a non-empty list. Received: {values!r}')
        values = [_normalize(v) for v in values]
        encoded = [_encode(v) for v in values]
        if len(set(encoded)) != len(encoded):
            raise SearchSpaceError(f'{name}: "values" lists a value twice: {values}')
        default = _normalize(spec.get("default", published_default))
        if "default" in spec and default not in values:
            raise SearchSpaceError(f"{name}: default {default!r} is not one of the values {values}.")
        if default not in values:
            default = values[0]
        return Param(name, arg, index, "choice", values=tuple(values), default=default)

    if "min" not in spec or "max" not in spec:
        raise SearchSpaceError(
            f'{name}: a spec needs "values" or both "min" and "max". Received: {json.dumps(spec, default=str)}'
        )
    lo, hi, step = spec["min"], spec["max"], spec.get("step")
    for key, v in (("min", lo), ("max", hi), ("step", step)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise SearchSpaceError(f"{name}: {key} must be a finite number. Received: {v!r}")
    if lo > hi:
        raise SearchSpaceError(f"{name}: min {lo} is greater than max {hi}.")
    if step is not None and step <= 0:
        raise SearchSpaceError(f"{name}: step must be positive. Received: step={step}")
    sampling = spec.get("sampling", "linear")
    if sampling not in _SAMPLINGS:
        raise SearchSpaceError(f"{name}: sampling must be one of {', '.join(_SAMPLINGS)}. Received: {sampling!r}")
    if sampling != "linear" and lo <= 0:
        raise SearchSpaceError(f"{name}: {sampling} sampling needs min > 0. Received: min={lo}")
    is_int = all(isinstance(v, int) for v in (lo, hi)) and (step is None or isinstance(step, int))
    kind = "int" if is_int else "float"
    default = spec.get("default", published_default)
    in_range = isinstance(default, (int, float)) and not isinstance(default, bool) and lo <= default <= hi
    if "default" in spec and not in_range:
        raise SearchSpaceError(f"{name}: default {default!r} is outside min {lo} .. max {hi}.")
    if not in_range:
        default = lo
    if kind == "int":
        if sampling == "linear" and step is None:
            step = 1
        default = int(default)
    else:
        lo, hi, default = float(lo), float(hi), float(default)
        step = None if step is None else float(step)
    return Param(name, arg, index, kind, min=lo, max=hi, step=step, sampling=sampling, default=default)


# keras-tuner's Choice takes ints, floats, strings or bools; lists travel as JSON strings.
_LIST_PREFIX = "json:"


def _normalize(value):
    if isinstance(value, tuple):
        return [_normalize(v) for v in value]
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def _encode(value):
    if isinstance(value, (list, tuple, dict)):
        return _LIST_PREFIX + json.dumps(_normalize(value))
    return value


def _decode(value):
    if isinstance(value, str) and value.startswith(_LIST_PREFIX):
        return json.loads(value[len(_LIST_PREFIX) :])
    return value


def _copy(value):
    return json.loads(json.dumps(_normalize(value))) if isinstance(value, (list, tuple, dict)) else value
