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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    args = parser.parse_args(argv)
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
