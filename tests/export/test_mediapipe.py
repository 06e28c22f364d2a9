"""A kerascnn ``.tflite`` is what an app runtime loads unchanged: MediaPipe Tasks' ImageClassifier (the one
Android, iOS, web and Python share) reads its metadata, returns the run's class names, and agrees with
``kerascnn predict`` on the test images, for a grayscale model (LeNet on the digits, whose graph takes RGB
frames) and an RGB one (BN-LeNet on a folder of RGB PNG images), float32 and int8.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

mp = pytest.importorskip("mediapipe")
from mediapipe.tasks.python import BaseOptions, vision  # noqa: E402

from kerascnn.export import export_tflite, read_metadata, sidecar_path  # noqa: E402
from kerascnn.export.artifacts import reference_probabilities  # noqa: E402
from kerascnn.inference import load_images, load_predictor  # noqa: E402
from kerascnn.runs import load_trained  # noqa: E402

IMAGES = 300  # the test images compared (the digits' test split has 359)
RGB_CLASSES = ("left", "middle", "right")


def classify_with_mediapipe(model_path, frames) -> tuple[np.ndarray, list[list[str]]]:
    """MediaPipe's scores ``[N, K]`` (by class index) and each frame's class names, best first."""
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model_path)))
    scores, names = [], []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for frame in frames:
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame)))
            categories = result.classifications[0].categories
            row = np.zeros(len(categories), np.float32)
            for category in categories:
                row[category.index] = category.score
            scores.append(row)
            names.append([category.category_name for category in categories])
    return np.stack(scores), names


def agreement(a, b) -> float:
    return float((np.asarray(a).argmax(1) == np.asarray(b).argmax(1)).mean())


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_mediapipe_loads_a_grayscale_models_export_and_agrees_with_predict(quantize, exported, digits):
    path = exported(f"tflite-{quantize}")
    frames = np.repeat(digits["x_test"][:IMAGES], 3, axis=-1)  # what a camera app hands over: RGB
    scores, names = classify_with_mediapipe(path, frames)
    predicted = load_predictor(path).predict(digits["x_test"][:IMAGES])  # kerascnn predict's predictor
    assert agreement(scores, predicted) >= 0.99
    # The class names come from the model file itself, best first, with their scores.
    assert all(sorted(row) == [str(i) for i in range(10)] for row in names)
    assert all(row_scores[int(row[0])] == row_scores.max() for row, row_scores in zip(names, scores))
    # Same file, same kernels: the scores are LiteRT's own (to the output's quantization step for int8).
    assert np.abs(scores - predicted).max() <= (1e-5 if quantize == "none" else 1 / 256 + 1e-6)


def test_metadata_names_the_model_its_input_and_its_labels(exported):
    path = exported("tflite-none")
    content = path.read_bytes()
    metadata = read_metadata(content)
    info = json.loads(sidecar_path(path).read_text())
    assert metadata["class_names"] == info["class_names"] == [str(i) for i in range(10)]
    assert metadata["color_space"] == "RGB"
    assert metadata["name"] == "lenet" and "8x8 RGB uint8 images in" in metadata["description"]
    assert "10 classes" in metadata["description"] and "float32" in metadata["description"]
    assert metadata["version"] == info["created"] and metadata["author"] == metadata["license"] == "unspecified"
    # The label file is a stored (uncompressed) zip member after the flatbuffer, as runtimes expect.
    with zipfile.ZipFile(path) as archive:
        (entry,) = archive.infolist()
        assert entry.filename == "labels.txt" and entry.compress_type == zipfile.ZIP_STORED
        assert archive.read("labels.txt").decode().splitlines() == info["class_names"]


def test_rgb_frames_are_converted_to_gray_as_training_converts_them(trained_run, digits, tmp_path):
    # Colored frames of the test digits: the graph's gray must be the pipeline's round(luma) gray.
    model, spec = load_trained(trained_run)
    rng = np.random.default_rng(0)
    gray = digits["x_test"][:64].astype(np.float32)
    tint = rng.uniform(0.4, 1.0, size=(64, 1, 1, 3)).astype(np.float32)
    frames = np.clip(np.round(gray * tint), 0, 255).astype(np.uint8)
    from kerascnn.data.spec import LUMA_WEIGHTS

    as_trained = np.round(frames.astype(np.float32) @ np.array(LUMA_WEIGHTS, np.float32))[..., None].astype(np.uint8)
    result = export_tflite(
        trained_run, tmp_path / "frames.tflite", check_parity=False, author="Ada", license="CC-BY-4.0", version="2.1"
    )
    probabilities = load_predictor(result.path).predict(frames)
    np.testing.assert_allclose(probabilities, reference_probabilities(model, spec, as_trained), atol=1e-5)
    metadata = read_metadata(result.path.read_bytes())
    assert (metadata["author"], metadata["license"], metadata["version"]) == ("Ada", "CC-BY-4.0", "2.1")

    # The 1-channel graph stays available; MediaPipe cannot load it (it needs 3 or 4 channels).
    gray_result = export_tflite(trained_run, tmp_path / "gray.tflite", check_parity=False, gray_input=True)
    predictor = load_predictor(gray_result.path)
    assert predictor.image_shape == (8, 8, 1)
    assert read_metadata(gray_result.path.read_bytes())["color_space"] == "GRAYSCALE"
    np.testing.assert_allclose(predictor.predict(as_trained), probabilities, atol=1e-5)


def write_rgb_folder(root, per_class: int, seed: int):
    """PNG files of 16x16 RGB images: a square of a random bright color on the left, middle or right."""
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


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    """BN-LeNet trained on a folder of RGB PNGs, with its DataSpec, and the test images' paths."""
    import keras

    import kerascnn.models
    from kerascnn.data.pipeline import channel_stats
    from kerascnn.data.spec import DataSpec, preprocess

    root = tmp_path_factory.mktemp("rgb_images")
    train_paths, y_train = write_rgb_folder(root / "train", per_class=100, seed=1)
    test_paths, y_test = write_rgb_folder(root / "test", per_class=IMAGES // 3, seed=2)
    x_train = load_images(train_paths, (16, 16, 3))
    mean, std = channel_stats(x_train, 3)
    spec = DataSpec("rgb_images", list(RGB_CLASSES), (16, 16, 3), (28, 28, 3), mean, std)
    keras.utils.set_random_seed(0)
    model = kerascnn.models.build("lenet_bn", spec.input_shape, len(RGB_CLASSES))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # Enough steps (240) for BatchNormalization's moving statistics (momentum 0.99) to reach the data's.
    model.fit(preprocess(x_train, spec), y_train, epochs=12, batch_size=16, verbose=0)
    return model, spec, x_train, test_paths, y_test


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_mediapipe_loads_an_rgb_models_export_and_agrees_with_predict(quantize, rgb_model, tmp_path):
    model, spec, x_train, test_paths, y_test = rgb_model
    x_test = load_images(test_paths, spec.image_shape)
    result = export_tflite(
        model,
        tmp_path / "colors.tflite",
        quantize,
        spec=spec,
        calibration_images=x_train,
        test_images=x_test,
        test_labels=y_test,
    )
    assert result.parity["passed"] and result.parity["accuracy_keras"] >= 0.9  # a model that learned the task
    # MediaPipe decodes the PNG files itself, as an app would.
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(result.path)), max_results=1)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        top1 = [
            classifier.classify(mp.Image.create_from_file(str(p))).classifications[0].categories[0] for p in test_paths
        ]
    predictor = load_predictor(result.path)
    predicted = predictor.predict(x_test)
    names = [predictor.class_names[i] for i in predicted.argmax(1)]
    assert len(top1) == IMAGES
    assert np.mean([c.category_name == name for c, name in zip(top1, names)]) >= 0.99
    assert {c.category_name for c in top1} == set(RGB_CLASSES)
