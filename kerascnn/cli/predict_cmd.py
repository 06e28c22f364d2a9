"""``kerascnn predict``: classify image files with a .tflite, a SavedModel export or a .keras checkpoint."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  kerascnn predict models/lenet.tflite seven.png two.jpg
  kerascnn predict models/lenet digits.npy --top-k 3        latest SavedModel version in models/lenet
  kerascnn predict runs/lenet/best.keras seven.png
  kerascnn predict runs/lenet photos/                       every image in the folder (subfolders too)
  kerascnn predict models/lenet_int8.tflite seven.png --benchmark 1000

Images are decoded (PNG, JPEG, BMP, GIF, or .npy uint8 arrays [h, w], [h, w, c], [n, h, w, c]),
converted between grayscale and RGB if needed, resized to the data's native size, and preprocessed as
the model was trained. Transparency (RGBA, LA), 16-bit and CMYK images are refused, and so is an image
over --max-image-pixels (read from its header, before decoding): the rule of training folders and of
`kerascnn serve` too. .tflite files run on LiteRT (ai_edge_litert) without importing TensorFlow.
"""


from kerascnn.data import image_policy  # noqa: E402  (numpy only: the --help text)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify images with an exported or trained model; --benchmark for latency",
        description="Print the top-k classes of each image, with probabilities.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="a .tflite file, a SavedModel export folder (version or model folder), a .keras file or a run directory",
    )
    parser.add_argument(
        "images",
        metavar="IMAGE",
        nargs="+",
        help="PNG/JPEG/BMP/GIF files, .npy arrays, or folders of them (searched with their subfolders)",
    )
    parser.add_argument(
        "--top-k", type=int, default=3, metavar="K", help="classes to show per image (default: %(default)s)"
    )
    parser.add_argument(
        "--benchmark",
        type=int,
        metavar="N",
        help="also time N single-image predictions on the first image: p50/p99 latency, images/s",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="T",
        help="LiteRT threads for .tflite (default: %(default)s, fastest for one small image)",
    )
    parser.add_argument("--max-image-pixels", type=int, metavar="N", help=image_policy.MAX_PIXELS_HELP)
    # TensorFlow is imported by run() only when the model is not a .tflite file.
    parser.set_defaults(func=run, needs_tensorflow=False)


def run(args) -> int:
    from kerascnn.errors import KerasCNNError

    if args.top_k < 1:
        raise KerasCNNError(f"--top-k must be at least 1. Received: {args.top_k}")
    if args.benchmark is not None and args.benchmark < 1:
        raise KerasCNNError(f"--benchmark must be at least 1. Received: {args.benchmark}")
    if args.threads < 1:
        raise KerasCNNError(f"--threads must be at least 1. Received: {args.threads}")
    with image_policy.pixel_limit(args.max_image_pixels):
        return _predict(args)


def _predict(args) -> int:
    from kerascnn.inference import benchmark, load_image, load_predictor, top_k
    from kerascnn.inference.images import expand_image_paths

    if not str(args.model).endswith(".tflite"):
        from kerascnn.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
    predictor = load_predictor(args.model, num_threads=args.threads)
    # Decode everything first: a bad file stops the command before any output.
    names, batches = [], []
    for path in map(str, expand_image_paths(args.images)):
        batch = load_image(path, predictor.image_shape)
        batches.append(batch)
        names += [path] if len(batch) == 1 else [f"{path}[{i}]" for i in range(len(batch))]
    import numpy as np

    images = np.concatenate(batches)
    probabilities = predictor.predict(images)
    print(f"{predictor.path}: {predictor.description}, {len(predictor.class_names)} classes")
    width = max(len(n) for n in names)
    for name, ranked in zip(names, top_k(probabilities, predictor.class_names, args.top_k)):
        print(f"{name:<{width}}  " + "  ".join(f"{label} {p:6.2%}" for label, p in ranked))
    if args.benchmark:
        stats = benchmark(predictor, images[0], runs=args.benchmark)
        print(
            f"benchmark ({predictor.kind}, {stats['runs']} single-image runs): "
            f"p50 {_time(stats['p50_us'])}, p99 {_time(stats['p99_us'])}, "
            f"{stats['images_per_second']:,.0f} images/s"
        )
    return 0


def _time(micros: float) -> str:
    return f"{micros:.1f} us" if micros < 1000 else f"{micros / 1000:.2f} ms"
