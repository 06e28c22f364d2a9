"""``kerascnn models`` (the zoo at a glance) and ``kerascnn summary NAME`` (one model, layer by layer)."""

from __future__ import annotations

import argparse
import json

from kerascnn.cli.hparams_args import add_hparams_arguments, hparams_from_args

MODELS_EPILOG = """\
examples:
  kerascnn models                  the zoo in a table as wide as the terminal
  kerascnn models --json           every column in full, as JSON
  kerascnn summary vgg16           one model layer by layer
  kerascnn models --pretrained     published ImageNet weights by name: tag, top-1/top-5, source, cached
  kerascnn models --pretrained resnet50 --save imagenet/resnet50
                                   download them once and write a run directory that predict, export and
                                   serve use as it is (ImageNet class names included)

columns:
  Input     the input the model was published at (its channels follow the data: 1 for MNIST, 3 for RGB)
  Min       the smallest square input its default build takes (1: any size); smaller fails with a message
  Params    parameters, MACs multiply-adds per image, both at the default input, for --num-classes classes
  Weights   who publishes weights for it (kerascnn models --pretrained NAME lists them); - when nobody
  Reference, Description    shortened or left out on a narrow terminal (--json has them in full)

Every model outputs logits.
"""

SUMMARY_EPILOG = """\
examples:
  kerascnn summary lenet
  kerascnn summary alexnet --input-shape 224,224,1 --num-classes 10
  kerascnn summary vgg11 --hparam width_divisor=4 --input-shape 96,96,1
  kerascnn summary googlenet --hparam aux_classifiers=true --json

columns:
  Output shape  HxWxC without the batch axis
  Params        weights of the layer (BatchNorm's moving statistics included)
  MACs          multiply-adds per image (convolutions and dense layers)
  RF            receptive field: the input pixels one output value can see (HxW when they differ);
                through Inception and residual branches the largest over the inputs
  Jump          input pixels between neighbouring outputs (the product of the strides so far)
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the model zoo",
        description="List every model in the zoo with its default input, size, cost and reference.",
        epilog=MODELS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--num-classes",
        type=int,
        default=10,
        metavar="N",
        help="classes of the last layer when counting parameters (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--pretrained",
        nargs="?",
        const="",
        metavar="MODEL",
        help="list the published weights (of MODEL) that build(..., weights=TAG) and "
        "`fit --init-from TAG` download by name; cached in $KERASCNN_HOME (default ~/.kerascnn)",
    )
    p.add_argument(
        "--weights",
        default="imagenet",
        metavar="TAG",
        help="with --pretrained MODEL --save: which weights (default: %(default)s, the model's default)",
    )
    p.add_argument(
        "--save",
        metavar="DIR",
        help="with --pretrained MODEL: download the weights and write MODEL with them as a run directory",
    )
    # The zoo table is read from the catalog (no model is built); --pretrained imports TensorFlow itself.
    p.set_defaults(func=run_models, needs_tensorflow=False)

    s = subparsers.add_parser(
        "summary",
        help="one model layer by layer: shapes, parameters, multiply-adds, receptive fields",
        description="Show one model layer by layer: output shape, parameters, multiply-adds, receptive\n"
        "field size and jump, then the totals. The model is built without initializing its weights.",
        epilog=SUMMARY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("name", help="a model name from `kerascnn models`")
    s.add_argument(
        "--input-shape",
        metavar="H,W,C",
        help="input height, width and channels, e.g. 224,224,1 (default: the model's own)",
    )
    s.add_argument(
        "--num-classes", type=int, default=10, metavar="N", help="units of the last layer (default: %(default)s)"
    )
    add_hparams_arguments(s, training=False)
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=run_summary)


def run_models(args) -> int:
    import shutil

    from kerascnn.zoo_catalog import catalog, format_count

    _check_num_classes(args.num_classes)
    if args.pretrained is not None or args.save:
        from kerascnn.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
        return run_pretrained(args)
    table = catalog(num_classes=args.num_classes)
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    header = ("Model", "Input", "Min", "Params", "MACs", "Weights", "Reference", "Description")
    rows = [
        (
            r["name"],
            "x".join(map(str, r["default_input_shape"])),
            str(r["smallest_input"] or "?"),
            format_count(r["params"]),
            format_count(r["macs"]),
            "+".join(r["weights"]) or "-",
            r["reference"],
            r["description"],
        )
        for r in table
    ]
    columns = fit_columns([header, *rows], shutil.get_terminal_size().columns, right_aligned=(2, 3, 4))
    for i, line in enumerate(columns):
        print(line)
    print(
        f"\nParams and MACs (multiply-adds per image) at the default input with {args.num_classes} classes.\n"
        "Details: kerascnn summary NAME; every column in full: kerascnn models --json"
    )
    return 0


def fit_columns(rows, width: int, *, right_aligned=(), gap: int = 2, shortest: int = 16) -> list[str]:
    """``rows`` (the first is the header) as aligned lines no wider than ``width``.

    The last two columns give way: the last is shortened (``...``) down to ``shortest`` characters, then
    the one before it is left out, then the last is shortened further or left out too.
    """
    rows = [list(r) for r in rows]
    widths = [max(len(c) for c in column) for column in zip(*rows)]
    fixed = len(widths) - 2

    def total(ws):
        return sum(ws) + gap * (len(ws) - 1)

    keep = len(widths)
    last = widths[-1]
    if total(widths) > width:
        last = max(shortest, width - total(widths[:-1]) - gap)
    if total(widths[:-1] + [last]) > width:  # leave out the second last column
        keep = fixed + 1
        last = width - total(widths[:fixed]) - gap
        if last < len(rows[0][-1]) + 3:
            keep, last = fixed, 0
    lines = []
    for i, cells in enumerate(rows):
        cells = cells[:fixed] + ([cells[-2]] if keep == len(widths) else []) + ([cells[-1]] if keep > fixed else [])
        ws = widths[:fixed] + ([widths[-2]] if keep == len(widths) else []) + ([last] if keep > fixed else [])
        out = []
        for j, (c, w) in enumerate(zip(cells, ws)):
            if len(c) > w:
                c = c[: w - 3] + "..."
            out.append(c.rjust(w) if j in right_aligned else c.ljust(w))
        lines.append((" " * gap).join(out).rstrip())
        if i == 0:
            lines.append((" " * gap).join("-" * w for w in ws))
    return lines


def run_pretrained(args) -> int:
    """``kerascnn models --pretrained [MODEL] [--save DIR]``: the weights registry, or one model saved with them."""
    from kerascnn.errors import KerasCNNError
    from kerascnn.models.pretrained.catalog import weights_table

    if args.save:
        if not args.pretrained:
            raise KerasCNNError("--save needs --pretrained MODEL: the model to save with its published weights.")
        from kerascnn.models import build, save_pretrained_run

        model = build(args.pretrained, num_classes=1000, weights=args.weights)
        save_pretrained_run(model, args.save)
        print(
            f"{model.load_report.summary()}\nSaved {args.pretrained} with 1000 ImageNet classes to {args.save}: "
            f"kerascnn predict {args.save} IMAGE"
        )
        return 0
    rows = weights_table(args.pretrained or None)
    if not rows and not args.json:
        print(f"No published weights are registered for {args.pretrained}.")
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("Model", "Weights", "Top-1", "Top-5", "Input", "Preprocessing", "Cached", "File")
    table = [
        (
            r["model"],
            r["tag"] + (" *" if r["default"] else ""),
            f"{r['top1']:.3f}" if r["top1"] else "-",
            f"{r['top5']:.3f}" if r["top5"] else "-",
            str(r["input_size"]),
            r["preprocessing"]["name"],
            "yes" if r["cached"] else "no",
            r["file_name"],
        )
        for r in rows
    ]
    widths = [max(len(c) for c in column) for column in zip(header, *table)]
    for i, cells in enumerate([header, *table]):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(
        '\n* weights="imagenet" (the model\'s default). ImageNet-1k top-1/top-5 (%) as each publisher states '
        f"them; files are downloaded once into {rows[0]['cache_dir']}.\n"
        "Licences and URLs: --json. Use: build(NAME, weights=TAG), kerascnn fit NAME --init-from TAG"
    )
    return 0


def run_summary(args) -> int:
    from kerascnn.models import default_hyperparameters
    from kerascnn.summary import summarize_model

    _check_num_classes(args.num_classes)
    from kerascnn.training.config import split_training_settings

    # A tuning's best_hyperparameters.json also holds training settings (lr, optimizer): not the builder's.
    hyperparameters, _ = split_training_settings(hparams_from_args(args))
    summary = summarize_model(args.name, parse_input_shape(args.input_shape), args.num_classes, **hyperparameters)
    if args.json:
        print(
            json.dumps(
                {
                    **summary.to_dict(),
                    "hyperparameters": _jsonable({**default_hyperparameters(args.name), **hyperparameters}),
                },
                indent=2,
            )
        )
        return 0
    print(summary.format_table())
    if hyperparameters:
        print("Hyperparameters set: " + ", ".join(f"{k}={v!r}" for k, v in hyperparameters.items()))
    print(
        "Tunable hyperparameters (--hparam KEY=VALUE or --hparams FILE): "
        + ", ".join(sorted(default_hyperparameters(args.name)))
    )
    return 0


def parse_input_shape(text):
    """``"224,224,1"`` (or ``224x224x1``; ``H,W`` keeps the model's channels) -> a tuple, or None."""
    from kerascnn.errors import KerasCNNError

    if text is None:
        return None
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) not in (2, 3) or any(d <= 0 for d in shape):
        raise KerasCNNError(
            f"--input-shape takes H,W,C (or H,W) as positive integers, e.g. 224,224,3. Received: {text!r}"
        )
    return shape


def _check_num_classes(n) -> None:
    from kerascnn.errors import KerasCNNError

    if n < 1:
        raise KerasCNNError(f"--num-classes must be at least 1. Received: {n}")


def _jsonable(values: dict) -> dict:
    return json.loads(json.dumps(values, default=str))
