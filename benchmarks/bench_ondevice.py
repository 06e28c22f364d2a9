"""On-device and ONNX parity: MediaPipe's ImageClassifier vs `kerascnn predict`, ONNX Runtime vs Keras.

    .venv/bin/python benchmarks/bench_ondevice.py [--out benchmarks/results/ondevice_parity.json]

1. MediaPipe Tasks (``mediapipe`` ImageClassifier, Python) loads the float32 and int8 ``.tflite`` of
   - LeNet (ReLU, max pooling) trained by ``kerascnn.fit`` on the bundled 8x8 grayscale digits (its
     graph takes RGB frames; the test digits are given as RGB images), and
   - BN-LeNet trained on a folder of 16x16 RGB PNG images (a bright square left / middle / right),
   and classifies 300 test images; reported: the share whose top-1 equals `kerascnn predict`'s
   (``load_predictor(...).predict``) and whether every category came back with a class name.
2. ONNX (tf2onnx, ONNX Runtime): the trained LeNet on the whole digits test split against the Keras
   model, and every zoo model's test version (untrained, at its test input, 3 classes) on 64 random
   images at half its input size: top-1 agreement and max |dp|; the models tf2onnx cannot convert.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

IMAGES = 300
RGB_CLASSES = ("left", "middle", "right")


def mediapipe_top1(model_path, frames=None, files=None):
    """(top-1 indices, every category named?) of MediaPipe's ImageClassifier on RGB frames or image files."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model_path)))
    top1, named = [], True
    with vision.ImageClassifier.create_from_options(options) as classifier:
        images = (
            [mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(f)) for f in frames]
            if frames is not None
            else [mp.Image.create_from_file(str(p)) for p in files]
        )
        for image in images:
            categories = classifier.classify(image).classifications[0].categories
            top1.append(categories[0].index)
            named = named and all(c.category_name for c in categories)
    return np.array(top1), named


def write_rgb_folder(root: Path, per_class: int, seed: int):
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for k, name in enumerate(RGB_CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 70, (16, 16, 3), dtype=np.uint8)
            image[3:-3, k * 5 : k * 5 + 6] = rng.integers(110, 256, 3)
            paths.append(root / name / f"{i:03d}.png")
            labels.append(k)
            Image.fromarray(image).save(paths[-1])
    return paths, np.array(labels)


def on_device(tmp: Path) -> dict:
    import keras

    import kerascnn
    import kerascnn.models
    from kerascnn.data.pipeline import channel_stats
    from kerascnn.data.spec import DataSpec, preprocess
    from kerascnn.export import export
    from kerascnn.inference import load_images, load_predictor
    from kerascnn.runs import load_run_dataset

    results = {}
    run = kerascnn.fit(
        "lenet",
        "digits",
        hparams={"activation": "relu", "pooling": "max"},
        epochs=4,
        batch_size=64,
        seed=0,
        out=str(tmp / "lenet"),
        verbose=0,
    )
    raw = load_run_dataset(run.path)
    x_test = raw.x_test[:IMAGES]
    for quantize in ("none", "int8"):
        path = tmp / f"lenet_{quantize}.tflite"
        export(
            run.path,
            path,
            format="tflite",
            quantize=quantize,
            calibration_images=raw.x_train,
            test_images=raw.x_test,
            test_labels=raw.y_test,
        )
        top1, named = mediapipe_top1(path, frames=np.repeat(x_test, 3, axis=-1))
        predicted = load_predictor(path).predict(x_test).argmax(1)
        results[f"lenet digits (gray, RGB-frame graph) tflite-{quantize}"] = {
            "images": len(x_test),
            "agreement_with_predict": float((top1 == predicted).mean()),
            "class_names": named,
        }

    train_paths, y_train = write_rgb_folder(tmp / "rgb" / "train", 100, seed=1)
    test_paths, y_test = write_rgb_folder(tmp / "rgb" / "test", IMAGES // 3, seed=2)
    x_train = load_images(train_paths, (16, 16, 3))
    x_rgb = load_images(test_paths, (16, 16, 3))
    mean, std = channel_stats(x_train, 3)
    spec = DataSpec("rgb_images", list(RGB_CLASSES), (16, 16, 3), (28, 28, 3), mean, std)
    keras.utils.set_random_seed(0)
    model = kerascnn.models.build("lenet_bn", spec.input_shape, len(RGB_CLASSES))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(preprocess(x_train, spec), y_train, epochs=12, batch_size=16, verbose=0)
    for quantize in ("none", "int8"):
        path = tmp / f"lenet_bn_{quantize}.tflite"
        result = export(
            model,
            path,
            format="tflite",
            quantize=quantize,
            spec=spec,
            calibration_images=x_train,
            test_images=x_rgb,
            test_labels=y_test,
        )
        top1, named = mediapipe_top1(path, files=test_paths)  # MediaPipe decodes the PNG files itself
        predicted = load_predictor(path).predict(x_rgb).argmax(1)
        results[f"lenet_bn RGB PNG folder tflite-{quantize}"] = {
            "images": len(test_paths),
            "agreement_with_predict": float((top1 == predicted).mean()),
            "class_names": named,
            "accuracy": result.parity["accuracy_export"],
        }
    results["_lenet_run"] = str(run.path)
    return results


def onnx_parity(tmp: Path, lenet_run: str) -> dict:
    import kerascnn.models
    from kerascnn.data.spec import DataSpec
    from kerascnn.errors import ArtifactError
    from kerascnn.export import export
    from kerascnn.export import onnx as onnx_export
    from kerascnn.export.artifacts import reference_probabilities
    from kerascnn.export.graph import inference_model
    from kerascnn.runs import load_run_dataset

    raw = load_run_dataset(lenet_run)
    result = export(lenet_run, tmp / "lenet.onnx", format="onnx", test_images=raw.x_test, test_labels=raw.y_test)
    out = {
        "trained lenet on the digits test split": {
            k: result.parity[k]
            for k in ("images", "agreement", "max_abs_prob_diff", "accuracy_keras", "accuracy_export")
        }
    }
    zoo, refused = {}, {}
    for name in kerascnn.models.list_models():
        facts = kerascnn.models.get_model_info(name).facts
        size, hp = facts.test_input, dict(facts.test_hyperparameters)
        channels = kerascnn.models.get_model_info(name).default_input_shape[2]
        model = inference_model(kerascnn.models.build(name, (size, size, channels), 3, **hp))
        image_shape = (max(size // 2, 8), max(size // 2, 8), channels)
        spec = DataSpec(
            "random", ["a", "b", "c"], image_shape, (size, size, channels), [0.5] * channels, [0.25] * channels
        )
        images = np.random.default_rng(0).integers(0, 256, (64, *image_shape), dtype=np.uint8)
        start = time.perf_counter()
        try:
            session = onnx_export.session(onnx_export.convert(model, spec, what=name))
        except ArtifactError as e:
            refused[name] = str(e)
            print(f"{name}: refused: {e}", flush=True)
            continue
        probabilities = onnx_export.onnx_probabilities(session, images)
        reference = reference_probabilities(model, spec, images)
        zoo[name] = {
            "images": 64,
            "input": [size, size, channels],
            "agreement": float((probabilities.argmax(1) == reference.argmax(1)).mean()),
            "max_abs_prob_diff": float(np.abs(probabilities - reference).max()),
            "convert_seconds": round(time.perf_counter() - start, 1),
        }
        print(f"{name}: {zoo[name]}", flush=True)
    out["zoo (untrained test versions, random images)"] = zoo
    out["not converted"] = refused
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/ondevice_parity.json")
    args = parser.parse_args(argv)
    from importlib.metadata import version

    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        device = on_device(Path(tmp))
        lenet_run = device.pop("_lenet_run")
        for name, row in device.items():
            print(f"{name}: {row}", flush=True)
        onnx = onnx_parity(Path(tmp), lenet_run)
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    report = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "mediapipe_vs_predict": device,
        "onnx_vs_keras": onnx,
        "versions": {
            p: version(p)
            for p in (
                "tensorflow",
                "keras",
                "mediapipe",
                "tf2onnx",
                "onnxruntime",
                "numpy",
                "protobuf",
                "ai-edge-litert",
            )
        },
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "seconds": round(time.time() - started),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
