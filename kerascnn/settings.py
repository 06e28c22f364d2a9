"""Settings declared once: a dataclass field carries its default, help, choices and command-line form.

    epochs: int | None = setting(None, "epochs", default_help="the model's default", metavar="N", parse=int)

``kerascnn.cli.settings_args`` builds the ``fit`` and ``tune`` flags from these declarations (Hugging Face's
``HfArgumentParser`` pattern: field metadata -> argparse), and the Python API checks keyword arguments
against the same fields. Errors name a setting the way the caller gave it: ``--fine-tune-epochs`` on the
command line, ``fine_tune_epochs=`` in Python (:func:`caller_name`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import difflib

from kerascnn.errors import KerasCNNError

_ON_COMMAND_LINE = contextvars.ContextVar("kerascnn_on_command_line", default=False)
_NO_VALUE = object()


def setting(
    default=None,
    help: str = "",
    *,
    factory=None,
    parse=None,
    metavar=None,
    choices=None,
    default_help=None,
    cli: bool = True,
):
    """A dataclass field declaring one setting.

    Args:
        default: the value when not given (``factory`` instead for a mutable one).
        help: what the setting does, one sentence, for ``--help`` and the docs.
        parse: text -> value for the command line (``int``, ``float``, a parser raising
            ``argparse.ArgumentTypeError``); a ``bool`` default of False is a switch (``--flag``).
        metavar, choices: as argparse's.
        default_help: how ``--help`` states the default ("the model's default"); else the default itself.
        cli: False for settings that have no flag of their own (set by the program, or by ``--hparams``).
    """
    metadata = {
        "help": help,
        "parse": parse,
        "metavar": metavar,
        "choices": choices,
        "default_help": default_help,
        "cli": cli,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def setting_names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def check_known(given, known, what: str = "setting") -> None:
    """Raise one line naming every unknown key of ``given``, each with the closest known name."""
    unknown = [name for name in given if name not in known]
    if not unknown:
        return
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
        parts.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    raise KerasCNNError(f"Unknown {what}{'s' if len(unknown) > 1 else ''}: {', '.join(parts)}.")


@contextlib.contextmanager
def command_line_wording():
    """Within it, errors name settings as flags (``--overwrite``); the CLI runs every command inside it."""
    token = _ON_COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _ON_COMMAND_LINE.reset(token)


def on_command_line() -> bool:
    """True inside :func:`command_line_wording` (a ``kerascnn`` command is running)."""
    return _ON_COMMAND_LINE.get()


def caller_name(name: str, value=_NO_VALUE) -> str:
    """``name`` as the caller writes it: ``--fine-tune-epochs 3`` on the command line, ``fine_tune_epochs=3``
    in Python; without a value ``--fine-tune-epochs`` / ``fine_tune_epochs=``. ``value=True`` for a switch:
    ``--overwrite`` / ``overwrite=True``."""
    if _ON_COMMAND_LINE.get():
        flag = "--" + name.replace("_", "-")
        return flag if value is _NO_VALUE or value is True else f"{flag} {value}"
    return f"{name}=" if value is _NO_VALUE else f"{name}={value!r}"
