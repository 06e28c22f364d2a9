"""Command-line flags generated from settings declared with :func:`kerascnn.settings.setting`.

A field ``cache_budget_mb`` becomes ``--cache-budget-mb MB`` with the field's help, choices, parser and
default (Hugging Face's ``HfArgumentParser`` does the same from dataclass fields). ``fit`` and ``tune``
both build their flags here, so a setting's flag, help and default are written once, in its declaration.
"""

from __future__ import annotations

import dataclasses


def _default_text(field, meta) -> str | None:
    if meta["default_help"] is not None:
        return meta["default_help"]
    if field.default is dataclasses.MISSING or field.default is None:
        return None
    return str(field.default)


def add_setting_arguments(parser_or_group, cls, *, only=None, exclude=(), unset_is_none: bool = False) -> list[str]:
    """Add a flag for every command-line setting of dataclass ``cls``; returns their names.

    ``only``: those names alone (in the declaration's order); ``exclude``: all but these.
    ``unset_is_none``: a flag not given leaves ``None`` in the namespace (``settings_from_args`` then leaves
    the setting to the declaration's default), so a caller can tell a value given from the default.
    """
    names = []
    for field in dataclasses.fields(cls):
        meta = field.metadata
        if not meta.get("cli", False) or field.name in exclude or (only is not None and field.name not in only):
            continue
        flag = "--" + field.name.replace("_", "-")
        default_text = _default_text(field, meta)
        help_text = meta["help"] + (f" (default: {default_text})" if default_text else "")
        kwargs = dict(help=help_text.replace("%", "%%"), dest=field.name)
        if field.default is False:  # a switch
            kwargs["action"] = "store_true"
            kwargs["default"] = None if unset_is_none else False
        else:
            if meta["parse"] is not None:
                kwargs["type"] = meta["parse"]
            if meta["choices"] is not None:
                kwargs["choices"] = meta["choices"]
            if meta["metavar"] is not None:
                kwargs["metavar"] = meta["metavar"]
            kwargs["default"] = None if unset_is_none else _field_default(field)
        parser_or_group.add_argument(flag, **kwargs)
        names.append(field.name)
    return names


def _field_default(field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def settings_from_args(args, names, *, given_only: bool = False) -> dict:
    """``{name: value}`` of the flags ``names`` in ``args``; ``given_only``: only those given (not None)."""
    values = {name: getattr(args, name) for name in names}
    if given_only:
        values = {name: value for name, value in values.items() if value is not None}
    return values


def as_flags(settings: dict) -> str:
    """``{"input_shape": [32, 32, 1], "skip_bad_images": True}`` -> ``--input-shape 32,32,1 --skip-bad-images``:
    settings written back as the flags that give them (to print a command a user can run)."""
    import shlex

    words = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        elif value is not False and value is not None:
            text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            words += [flag, shlex.quote(text)]
    return " ".join(words)
