"""Weight import from keras.applications files and kerascnn runs; every bad file is one line and loads nothing."""

from __future__ import annotations

import sys

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format
from safetensors.numpy import save_file

from kerascnn.models import WeightsError, build, load_weights


@pytest.fixture(scope="module")
def keras_vgg16():
    # keras.applications' own VGG16 at 32x32 (its classifier then reads 512 features), random weights.
    keras.utils.set_random_seed(0)
    return keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=1000, classifier_activation=None)


def _logits(model, seed=0):
    images = np.random.default_rng(seed).normal(size=(2, 32, 32, 3)).astype("float32")
    return np.asarray(model(images, training=False))


@pytest.mark.parametrize("layout", ["weights.h5", "legacy.h5"])
def test_keras_applications_vgg16_files(keras_vgg16, layout, tmp_path):
    path = tmp_path / f"vgg16.{layout}"
    if layout == "weights.h5":
        keras_vgg16.save_weights(path)  # Keras 3: layers by class and position
    else:
        with h5py.File(path, "w") as f:  # the published files' layout: layers by name
            legacy_h5_format.save_weights_to_hdf5_group(f, keras_vgg16)
    model = build("vgg16", (32, 32, 3), 1000, weights=path)
    expected = _logits(keras_vgg16)
    assert np.abs(_logits(model) - expected).max() / np.abs(expected).max() <= 1e-5
    assert model.load_report.preprocessing["channel_order"] == "BGR"  # keras.applications' "caffe" mode
    # And with a new 5-class head: all but the head.
    model = build("vgg16", (32, 32, 3), 5, weights=path)
    assert model.load_report.reinitialized == ["logits (file: 1000 classes, model: 5)"]
    assert len(model.load_report.loaded) == 15


def test_another_kerascnn_model_file(tmp_path):
    source = build("resnet18", (16, 16, 1), 4, filters=(4, 4, 8, 8), stem_filters=4)
    source.save(tmp_path / "best.keras")
    model = build("resnet18", (16, 16, 1), 4, filters=(4, 4, 8, 8), stem_filters=4, weights=tmp_path)
    np.testing.assert_allclose(model(np.ones((1, 16, 16, 1))), source(np.ones((1, 16, 16, 1))), atol=1e-6)
    assert model.load_report.kind == "kerascnn" and len(model.load_report.sha256) == 64
    other = build("resnet18", (16, 16, 1), 7, filters=(4, 4, 8, 8), stem_filters=4, weights=tmp_path / "best.keras")
    assert other.load_report.reinitialized == ["logits (file: 4 classes, model: 7)"]


def _assert_untouched_after(error_match, model, path):
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightsError, match=error_match) as info:
        load_weights(model, path)
    assert "\n" not in str(info.value)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing half-loaded


def test_bad_files_are_one_line_and_load_nothing(tmp_path, keras_vgg16, monkeypatch):
    model = build("resnet18", (32, 32, 3), 10)
    # Another architecture's weights.
    keras_vgg16.save_weights(tmp_path / "vgg.weights.h5")
    _assert_untouched_after("does not fit resnet18", model, tmp_path / "vgg.weights.h5")
    # A torchvision state dict with a missing, an extra and a mis-shaped tensor.
    from kerascnn_testing.torch_reference import torchvision_model

    state = {k: v.numpy() for k, v in torchvision_model("resnet18").state_dict().items()}
    save_file(
        {k: v for k, v in state.items() if k != "layer2.0.bn1.running_var"}, str(tmp_path / "missing.safetensors")
    )
    _assert_untouched_after("no tensor 'layer2.0.bn1.running_var'", model, tmp_path / "missing.safetensors")
    save_file(
        {**state, "layer5.0.conv1.weight": np.zeros((1, 1, 1, 1), "float32")}, str(tmp_path / "extra.safetensors")
    )
    _assert_untouched_after("'layer5.0.conv1.weight'", model, tmp_path / "extra.safetensors")
    save_file(
        {**state, "layer1.0.conv2.weight": np.zeros((64, 64, 5, 5), "float32")}, str(tmp_path / "shape.safetensors")
    )
    _assert_untouched_after("layer1.0.conv2.weight has shape 5x5x64x64", model, tmp_path / "shape.safetensors")
    # A truncated file.
    data = (tmp_path / "missing.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    _assert_untouched_after("not a readable .safetensors", model, tmp_path / "cut.safetensors")
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04 truncated")
    _assert_untouched_after("not a readable PyTorch", model, tmp_path / "cut.pth")
    # A .pth without torch installed: as if the import failed.
    monkeypatch.setitem(sys.modules, "torch", None)
    _assert_untouched_after(r"needs PyTorch: pip install 'kerascnn\[torch\]'", model, tmp_path / "cut.pth")
    # Unknown formats, missing files, directories that are not runs.
    (tmp_path / "w.npz").write_bytes(b"")
    _assert_untouched_after("Unknown weights format", model, tmp_path / "w.npz")
    _assert_untouched_after("No weights file", model, tmp_path / "nope.safetensors")
    _assert_untouched_after("not a finished kerascnn run", model, tmp_path)


def test_the_weights_preprocessing_is_keras_applications_and_torchvisions(keras_vgg16, tmp_path):
    from kerascnn.data.spec import DataSpec, preprocess
    from kerascnn.models.facts import TORCHVISION_IMAGENET

    images = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    keras_vgg16.save_weights(tmp_path / "v.weights.h5")
    report = build("vgg16", (32, 32, 3), 1000, weights=tmp_path / "v.weights.h5").load_report
    spec = DataSpec("t", ["a"], (32, 32, 3), (32, 32, 3), [0.5] * 3, [0.5] * 3)
    caffe = spec.with_pretrained_preprocessing(report.preprocessing)
    expected = keras.applications.vgg16.preprocess_input(images.astype("float32"))  # BGR, minus caffe's mean
    np.testing.assert_allclose(preprocess(images, caffe), expected, atol=1e-3)
    imagenet = spec.with_pretrained_preprocessing(TORCHVISION_IMAGENET)
    expected = (images / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]  # torchvision's Normalize
    np.testing.assert_allclose(preprocess(images, imagenet), expected, atol=1e-5)
    assert DataSpec.from_dict(caffe.to_dict()) == caffe  # data_spec.json keeps it
