"""``kerascnn export``: a trained run as a SavedModel for TF Serving, a .tflite file for devices, or ONNX."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  kerascnn export runs/lenet --format saved_model --out models/lenet
      writes models/lenet/1/ (then 2/, 3/, ... on later exports): TF Serving's layout, served by
      `kerascnn serve models/lenet` or tensorflow/serving as is
  kerascnn export runs/lenet --format tflite --quantize int8
      writes models/lenet_int8.tflite and models/lenet_int8.json (input spec, parity)
  kerascnn predict models/lenet_int8.tflite digit.png
  kerascnn export runs/lenet --format tflite --author "Ada" --license CC-BY-4.0
  kerascnn export runs/lenet --format onnx
      writes models/lenet.onnx and models/lenet.json, for ONNX Runtime, OpenVINO, TensorRT

A .tflite file carries TFLite model metadata (name, description, version, author, license, input
image properties, the class names as its label file): MediaPipe Tasks' ImageClassifier and
`kerascnn predict` load it alone and return class names. A model trained on grayscale images takes
RGB frames (converted to gray inside, with the training pipeline's luma weights), as cameras give
them and MediaPipe needs; --gray-input keeps its 1-channel input instead.

Every export is checked against the Keras model on the run's test set and refused (nothing written)
if it misses its bound: float32/float16 agree on >= 99.9% of test images (ONNX also within 1e-4 in
every probability, run on ONNX Runtime); dynamic and int8 on >= 99%, losing at most 0.5 points of
accuracy; an int8 file is at most 30% of the float32 file. Int8 is calibrated on 300 training images.
All exports take raw uint8 images at the data's native size and preprocess inside the graph.
ONNX export needs tf2onnx and onnxruntime: pip install 'kerascnn[onnx]'.
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
    parser.add_argument(
        "source", metavar="RUN_DIR|MODEL.keras", help="a run directory from `kerascnn fit`, or a .keras file in one"
    )
    parser.add_argument(
        "--format",
        choices=("saved_model", "tflite", "onnx"),
        default="saved_model",
        help="saved_model: a version folder for TF Serving; tflite: one file for LiteRT and "
        "MediaPipe; onnx: one file for ONNX Runtime and friends (default: %(default)s)",
    )
    parser.add_argument(
        "--quantize",
        choices=("none", "float16", "dynamic", "int8"),
        default="none",
        help="TFLite only: none (float32), float16 weights, dynamic-range int8 weights, or full int8 "
        "with uint8 input (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="saved_model: the model folder that holds the versions (default models/MODEL); "
        "tflite: the .tflite file (default models/MODEL.tflite, models/MODEL_QUANTIZE.tflite); "
        "onnx: the .onnx file (default models/MODEL.onnx)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="TFLite and ONNX: replace an existing kerascnn export at --out "
        "(a SavedModel export always adds a new version)",
    )
    parser.add_argument(
        "--gray-input",
        action="store_true",
        help="TFLite, for a model trained on grayscale images: take 1-channel images instead of "
        "RGB frames (MediaPipe Tasks need RGB)",
    )
    parser.add_argument("--author", default="unspecified", help="TFLite metadata: who made the model")
    parser.add_argument("--license", default="unspecified", help="TFLite metadata: the model's license")
    parser.add_argument(
        "--model-version",
        metavar="TEXT",
        help="TFLite metadata: the model's version (default: the export's date and time)",
    )
    parser.add_argument(
        "--dataset", metavar="NAME", help="take calibration and test images from this dataset instead of the run's"
    )
    parser.add_argument("--data-dir", metavar="DIR", help="TFDS data directory (default: the run's)")
    parser.add_argument(
        "--parity-samples",
        type=int,
        metavar="N",
        help="measure parity on the first N test images (default: all of them)",
    )
    parser.set_defaults(func=run)


def default_out(model_name: str, fmt: str, quantize: str) -> str:
    if fmt == "saved_model":
        return f"models/{model_name}"
    if fmt == "onnx":
        return f"models/{model_name}.onnx"
    return f"models/{model_name}.tflite" if quantize == "none" else f"models/{model_name}_{quantize}.tflite"


TFLITE_ONLY = {
    "quantize": "none",
    "gray_input": False,
    "author": "unspecified",
    "license": "unspecified",
    "model_version": None,
}  # flag -> its default


def run(args) -> int:
    from kerascnn.errors import KerasCNNError
    from kerascnn.export import existing_versions, export, format_table
    from kerascnn.export.artifacts import folder_size, load_source
    from kerascnn.export.tflite import check_target, sidecar_path

    for flag, default in TFLITE_ONLY.items():
        if args.format != "tflite" and getattr(args, flag) != default:
            what = "a SavedModel is float32" if args.format == "saved_model" else "an ONNX export is float32"
            reason = what if flag == "quantize" else "it sets what a .tflite file carries"
            raise KerasCNNError(f"--{flag.replace('_', '-')} is for --format tflite; {reason}.")
    if args.format == "saved_model" and args.overwrite:
        raise KerasCNNError(
            "--overwrite is for --format tflite or onnx; a SavedModel export never replaces one, "
            "it adds the next version folder."
        )
    if args.parity_samples is not None and args.parity_samples < 1:
        raise KerasCNNError(f"--parity-samples must be at least 1. Received: {args.parity_samples}")

    def check(out):  # refuse a bad target before the slow part (loading TensorFlow, data, converting)
        if args.format == "saved_model":
            existing_versions(out)
        elif args.format == "onnx":
            check_target(out, args.overwrite, suffix=".onnx", fmt="onnx")
        else:
            check_target(out, args.overwrite)

    if args.out:
        check(args.out)
    if args.format == "onnx":  # a missing converter is known before anything is loaded
        from kerascnn.export.onnx import converter, runtime

        converter(), runtime()
    model, spec, name = load_source(args.source)
    out = args.out or default_out(name, args.format, args.quantize)
    check(out)
    if args.gray_input and spec.image_shape[2] != 1:
        raise KerasCNNError(
            f"--gray-input is for models trained on grayscale images; {name} takes "
            f"{spec.image_shape[2]}-channel images."
        )
    from kerascnn.models.pretrained.imagenet import is_published_weights_spec, parity_images

    data = parity_images(spec) if is_published_weights_spec(spec) and not args.dataset else load_export_data(args)
    test_images, test_labels = data.x_test, data.y_test
    if args.parity_samples:
        test_images = test_images[: args.parity_samples]
        test_labels = None if test_labels is None else test_labels[: args.parity_samples]
    options = {}
    if args.format == "tflite":
        options = dict(
            overwrite=args.overwrite,
            gray_input=args.gray_input,
            author=args.author,
            license=args.license,
            version=args.model_version,
        )
    elif args.format == "onnx":
        options = dict(overwrite=args.overwrite)
    result = export(
        model,
        out,
        format=args.format,
        quantize=args.quantize,
        spec=spec,
        calibration_images=data.x_train if args.quantize == "int8" else None,
        test_images=test_images,
        test_labels=test_labels,
        **options,
    )
    size = folder_size(result.path) if result.path.is_dir() else result.path.stat().st_size
    what = {"saved_model": "SavedModel", "onnx": "ONNX"}.get(args.format, f"TFLite ({args.quantize})")
    print(f"Exported {name} to {result.path} ({what}, {size / 1024:.1f} KB)")
    if args.format == "tflite":
        shape = result.metadata["input"]["shape"]
        print(
            f"Input: uint8 {result.metadata['input']['color']} images {shape[1]}x{shape[2]}; metadata: "
            f"{len(spec.class_names)} class names, author {args.author!r}, license {args.license!r}"
        )
    print(f"Parity with the Keras model on {result.parity['images']} test images of {data.name}:")
    print(format_table({result.kind: result.parity}))
    report_at = result.path / "parity.json" if result.path.is_dir() else sidecar_path(result.path)
    print(f"Report: {report_at}")
    return 0


def load_export_data(args):
    """The run's dataset (raw uint8 train/test arrays), as split for training."""
    from kerascnn.runs.dataset import load_run_dataset

    return load_run_dataset(args.source, dataset=args.dataset, data_dir=args.data_dir)
