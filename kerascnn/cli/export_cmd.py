"""``kerascnn export``: a trained run as a SavedModel for TF Serving, or a .tflite file for devices."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  kerascnn export runs/lenet --format saved_model --out models/lenet
      writes models/lenet/1/ (then 2/, 3/, ... on later exports): TF Serving's layout, served by
      `kerascnn serve models/lenet` or tensorflow/serving as is
  kerascnn export runs/lenet --format tflite --quantize int8
      writes models/lenet_int8.tflite and models/lenet_int8.json (class names, input spec, parity)
  kerascnn predict models/lenet_int8.tflite digit.png

Every export is checked against the Keras model on the run's test set and refused (nothing written)
if it misses its bound: float32/float16 agree on >= 99.9% of test images; dynamic and int8 on >= 99%,
losing at most 0.5 points of accuracy; an int8 file is at most 30% of the float32 file. Int8 is
calibrated on 300 training images. All exports take raw uint8 images at the data's native size and
preprocess inside the graph.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained model (SavedModel for serving, TFLite for devices) with a parity report",
        description="Export a trained run (or .keras file) as a versioned SavedModel or a .tflite file, "
        "and measure it against the Keras model on the test set.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="RUN_DIR|MODEL.keras", help="a run directory from `kerascnn fit`, or a .keras file in one")
    parser.add_argument("--format", choices=("saved_model", "tflite"), default="saved_model",
                        help="saved_model: a version folder for TF Serving; tflite: one file for LiteRT (default: %(default)s)")
    parser.add_argument("--quantize", choices=("none", "float16", "dynamic", "int8"), default="none",
                        help="TFLite only: none (float32), float16 weights, dynamic-range int8 weights, or full int8 "
                        "with uint8 input (default: %(default)s)")
    parser.add_argument("--out", metavar="PATH",
                        help="saved_model: the model folder that holds the versions (default models/MODEL); "
                        "tflite: the .tflite file (default models/MODEL.tflite, models/MODEL_QUANTIZE.tflite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="TFLite only: replace an existing kerascnn .tflite export at --out "
                        "(a SavedModel export always adds a new version)")
    parser.add_argument("--dataset", metavar="NAME",
                        help="take calibration and test images from this dataset instead of the run's")
    parser.add_argument("--data-dir", metavar="DIR", help="TFDS data directory (default: the run's)")
    parser.add_argument("--parity-samples", type=int, metavar="N",
                        help="measure parity on the first N test images (default: all of them)")
    parser.set_defaults(func=run)


def default_out(model_name: str, fmt: str, quantize: str) -> str:
    if fmt == "saved_model":
        return f"models/{model_name}"
    return f"models/{model_name}.tflite" if quantize == "none" else f"models/{model_name}_{quantize}.tflite"


def run(args) -> int:
    from kerascnn.errors import KerasCNNError
    from kerascnn.export import existing_versions, export, format_table
    from kerascnn.export.artifacts import folder_size, load_source
    from kerascnn.export.tflite import check_target

    if args.format == "saved_model" and args.quantize != "none":
        raise KerasCNNError("--quantize is for --format tflite; a SavedModel is float32.")
    if args.format == "saved_model" and args.overwrite:
        raise KerasCNNError("--overwrite is for --format tflite; a SavedModel export never replaces one, it adds "
                            "the next version folder.")
    if args.parity_samples is not None and args.parity_samples < 1:
        raise KerasCNNError(f"--parity-samples must be at least 1. Received: {args.parity_samples}")
    def check(out):  # refuse a bad target before the slow part (loading TensorFlow, data, converting)
        if args.format == "saved_model":
            existing_versions(out)
        else:
            check_target(out, args.overwrite)

    if args.out:
        check(args.out)
    model, spec, name = load_source(args.source)
    out = args.out or default_out(name, args.format, args.quantize)
    check(out)
    from kerascnn.models.pretrained.imagenet import is_published_weights_spec, parity_images

    data = parity_images(spec) if is_published_weights_spec(spec) and not args.dataset else load_export_data(args)
    test_images, test_labels = data.x_test, data.y_test
    if args.parity_samples:
        test_images = test_images[:args.parity_samples]
        test_labels = None if test_labels is None else test_labels[:args.parity_samples]
    result = export(
        model, out, format=args.format, quantize=args.quantize, spec=spec,
        calibration_images=data.x_train if args.quantize == "int8" else None,
        test_images=test_images, test_labels=test_labels,
        **({"overwrite": args.overwrite} if args.format == "tflite" else {}),
    )
    size = folder_size(result.path) if result.path.is_dir() else result.path.stat().st_size
    what = "SavedModel" if args.format == "saved_model" else f"TFLite ({args.quantize})"
    print(f"Exported {name} to {result.path} ({what}, {size / 1024:.1f} KB)")
    print(f"Parity with the Keras model on {result.parity['images']} test images of {data.name}:")
    print(format_table({result.kind: result.parity}))
    report_at = result.path / "parity.json" if result.path.is_dir() else result.path.with_suffix(".json")
    print(f"Report: {report_at}")
    return 0


def load_export_data(args):
    """The run's dataset (raw uint8 train/test arrays), as split for training."""
    from kerascnn.runs.dataset import load_run_dataset

    return load_run_dataset(args.source, dataset=args.dataset, data_dir=args.data_dir)
