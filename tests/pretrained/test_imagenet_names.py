"""An ImageNet-weights model predicts with class names; `kerascnn models --pretrained`; `fit --init-from imagenet`.

The weights are a served random-weights MobileNetV2 state dict (torchvision's layout), registered as the model's
default weights; the expected top class comes from the torch reference on the same preprocessed image.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from kerascnn.models import imagenet_class_names, register_weights

torch = pytest.importorskip("torch")

PUBLISHER = "https://download.pytorch.org/models/"


@pytest.fixture
def served_default(kerascnn_home, weights_server, mobilenet_v2_file, monkeypatch):
    """mobilenet_v2's weights="imagenet" is the served random-weights file."""
    reference, path, digest = mobilenet_v2_file
    (weights_server.folder / path.name).write_bytes(path.read_bytes())
    register_weights(
        "mobilenet_v2", "kerascnn:TEST", url=PUBLISHER + path.name, sha256=digest[:8], source="kerascnn", default=True
    )
    monkeypatch.setenv("KERASCNN_WEIGHTS_MIRROR", weights_server.url)
    return reference


def test_saved_imagenet_model_predicts_class_names(served_default, kerascnn_main, tmp_path):
    listing = kerascnn_main("models", "--pretrained", "mobilenet_v2")
    assert listing.returncode == 0
    assert "kerascnn:TEST *" in listing.stdout and "torchvision:IMAGENET1K_V2" in listing.stdout
    assert "72.154" in listing.stdout and "  no  " in listing.stdout  # not cached yet
    saved = kerascnn_main("models", "--pretrained", "mobilenet_v2", "--save", tmp_path / "imagenet")
    assert saved.returncode == 0, saved.stderr
    assert "(kerascnn:TEST)" in saved.stdout and "1000 ImageNet classes" in saved.stdout
    spec = json.loads((tmp_path / "imagenet" / "data_spec.json").read_text())
    assert spec["class_names"] == imagenet_class_names() and spec["normalization"] == "imagenet (torchvision)"
    listed = json.loads(kerascnn_main("models", "--pretrained", "mobilenet_v2", "--json").stdout)
    assert [row["cached"] for row in listed if row["tag"] == "kerascnn:TEST"] == [True]

    pixels = np.random.default_rng(3).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    result = kerascnn_main("predict", tmp_path / "imagenet", tmp_path / "photo.png")
    assert result.returncode == 0, result.stderr
    assert "1000 classes" in result.stdout
    normalized = (pixels / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.no_grad():
        logits = served_default(torch.from_numpy(normalized.transpose(2, 0, 1)[None].astype("float32"))).numpy()[0]
    expected = imagenet_class_names()[int(np.argmax(logits))]
    line = next(line for line in result.stdout.splitlines() if line.startswith(str(tmp_path / "photo.png")))
    assert line.split("  ", 1)[1].strip().startswith(f"{expected} "), (expected, line)
    # Nothing is overwritten: saving again into the same directory is refused.
    again = kerascnn_main("models", "--pretrained", "mobilenet_v2", "--save", tmp_path / "imagenet")
    assert again.returncode != 0 and "exists" in again.stderr


@pytest.mark.heavy  # a whole fit (build, two training steps, evaluation, plots): too long for the default run
def test_fit_init_from_imagenet(served_default, kerascnn_main, tmp_path):
    out = tmp_path / "run"
    result = kerascnn_main(
        "fit",
        "mobilenet_v2",
        "--init-from",
        "imagenet",
        "--input-shape",
        "32,32",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--eval-steps",
        "1",
        "--batch-size",
        "16",
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["init_from"]["path"].endswith(".pth") and config["init_from"]["loaded_layers"] > 100
    assert config["init_from"]["tag"] == "kerascnn:TEST"
    assert config["init_from"]["reinitialized"] == ["logits (file: 1000 classes, model: 10)"]
    spec = json.loads((out / "data_spec.json").read_text())
    assert spec["normalization"] == "imagenet (torchvision)" and spec["mean"] == [0.485, 0.456, 0.406]


@pytest.mark.heavy  # a SavedModel export, its parity check and two predicts: too long for the default run
def test_export_of_an_imagenet_model_writes_its_class_names(served_default, kerascnn_main, tmp_path):
    from kerascnn.models import build, save_pretrained_run

    model = build("mobilenet_v2", (64, 64, 3), weights="imagenet")  # 1000 classes: the weights' own
    assert model.output.shape == (None, 1000)
    save_pretrained_run(model, tmp_path / "run")
    result = kerascnn_main("export", tmp_path / "run", "--out", tmp_path / "models" / "imagenet")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "synthetic images" in result.stdout  # no test set behind published weights: agreement only
    labels = (tmp_path / "models" / "imagenet" / "1" / "assets" / "labels.txt").read_text().splitlines()
    assert labels == imagenet_class_names()
    pixels = np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    keras_run = kerascnn_main("predict", tmp_path / "run", tmp_path / "photo.png")
    exported = kerascnn_main("predict", tmp_path / "models" / "imagenet", tmp_path / "photo.png")
    assert keras_run.returncode == exported.returncode == 0
    ranked = [r.stdout.splitlines()[-1].split("  ", 1)[1].strip() for r in (keras_run, exported)]
    assert ranked[0] == ranked[1]  # the same top-3 names and probabilities from the export
    assert any(ranked[0].startswith(f"{name} ") for name in imagenet_class_names())
