"""``kerascnn``: train, tune, export and serve the classic convolutional networks.

Each subcommand lives in its own module with ``register(subparsers)``, which adds its parser and sets
``func(args) -> int``. Library imports (TensorFlow) happen inside ``func`` so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from kerascnn.quiet import import_tensorflow_quietly

# (module, ...) in the order `kerascnn --help` lists them.
COMMAND_MODULES = (
    "kerascnn.cli.models_cmd",  # models, summary
    "kerascnn.cli.fit_cmd",  # fit, evaluate
    "kerascnn.cli.data_cmd",  # data prepare
    "kerascnn.cli.tune_cmd",  # tune
    "kerascnn.cli.export_cmd",  # export
    "kerascnn.cli.predict_cmd",  # predict
    "kerascnn.cli.serve_cmd",  # serve
)

EPILOG = """\
Start here:
  kerascnn models                      list the model zoo
  kerascnn summary lenet               per-layer shapes, parameters, multiply-adds, receptive fields
  kerascnn fit lenet                   train LeNet on the bundled digits (offline, seconds on a laptop)
  kerascnn export runs/lenet --format saved_model --out models/lenet
  kerascnn serve models/lenet          TF Serving's REST API on 127.0.0.1:8501

Every command has --help. Set KERASCNN_DEBUG=1 to see tracebacks.
"""


class CommandParser(argparse.ArgumentParser):
    """argparse without abbreviated flags (``--epoch`` would silently mean ``--epochs``, and stop meaning it
    when a flag sharing the prefix is added), naming the flag meant when one is misspelled."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        if message.startswith("unrecognized arguments:"):
            import difflib

            flags = [flag for action in self._actions for flag in action.option_strings if flag.startswith("--")]
            for word in message.split(":", 1)[1].split():
                close = word.startswith("--") and difflib.get_close_matches(word.split("=", 1)[0], flags, 1, 0.75)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        super().error(message)


def _command_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The (sub)command parser ``args`` were parsed by: ``kerascnn data check`` -> the ``check`` parser."""
    while True:
        choices = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, choices[0].dest, None) if choices else None
        if name not in (choices[0].choices if choices else {}):
            return parser
        parser = choices[0].choices[name]


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="kerascnn",
        description="Classic convolutional networks (LeNet to ResNet) from textbook to deployment.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from kerascnn.versions import __version__

    parser.add_argument("--version", action="version", version=f"kerascnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ INFO/WARNING lines drown the output a user asked for.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main(argv=None) -> int:
    """Run ``kerascnn ARGV``; returns the exit status (argparse exits 2 itself on a usage error).

    ``argv=None`` is the ``kerascnn`` program (``sys.argv``): the process is the command's, so a command may
    set what TensorFlow reads once per process (fit's core-split threads). Called from Python with a list,
    main leaves those settings of the calling process alone.
    """
    _quiet_tensorflow()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # told by the command's own parser: its usage, and the flag meant
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    args.owns_process = argv is None
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "needs_tensorflow", True):  # `predict x.tflite` runs on LiteRT alone (0.5 s, not 5)
        import_tensorflow_quietly()
    from kerascnn.errors import KerasCNNError
    from kerascnn.settings import command_line_wording

    try:
        with command_line_wording():  # errors name settings as flags: --overwrite, not overwrite=True
            return int(args.func(args) or 0)
    except KerasCNNError as e:
        if os.environ.get("KERASCNN_DEBUG"):
            raise
        print(f"kerascnn {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"kerascnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `kerascnn models | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # an OS error (a full disk, a read-only folder...): one line naming the path and the cause
        from kerascnn.fsutil import os_error_line

        line = os_error_line(e)
        if line is None or os.environ.get("KERASCNN_DEBUG"):
            raise
        print(f"kerascnn {args.command}: error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
