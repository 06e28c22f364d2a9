"""``--hparams FILE`` and ``--hparam KEY=VALUE``: how ``fit`` and ``summary`` both take hyperparameters.

A file (JSON or YAML, e.g. ``kerascnn tune``'s ``best_hyperparameters.json``) and single values given on
the command line combine; a ``--hparam`` wins over the same key in the file.
"""

from __future__ import annotations


def add_hparams_arguments(parser, *, training: bool) -> None:
    """Add ``--hparams FILE`` and the repeatable ``--hparam KEY=VALUE`` to ``parser``."""
    also = " and optionally training settings (lr, optimizer, batch_size, ...)" if training else ""
    parser.add_argument(
        "--hparams",
        metavar="FILE",
        help=f"JSON/YAML mapping of builder hyperparameters{also}, e.g. a tuning's best_hyperparameters.json",
    )
    parser.add_argument(
        "--hparam",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one hyperparameter, VALUE in YAML (4, 0.3, relu, true, [64, 128]); repeatable; wins over --hparams",
    )


def parse_hparam_pairs(items) -> dict:
    """``["width_divisor=4", "blocks=[[1, 64]]"]`` -> ``{"width_divisor": 4, "blocks": [[1, 64]]}`` (YAML values)."""
    import yaml

    from kerascnn.errors import KerasCNNError

    hyperparameters = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise KerasCNNError(f"--hparam takes KEY=VALUE, e.g. width_divisor=4. Received: {item!r}")
        try:
            hyperparameters[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise KerasCNNError(f"--hparam {key.strip()}: {value!r} is not a valid YAML value") from None
    return hyperparameters


def hparams_from_args(args) -> dict:
    """The file's hyperparameters (if ``--hparams``), updated with each ``--hparam``."""
    from kerascnn.training.config import load_hparams

    return {**load_hparams(args.hparams), **parse_hparam_pairs(args.hparam)}
