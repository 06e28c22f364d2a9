"""Predictors over .tflite, SavedModel and .keras give the trained model's answers; bad models are refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kerascnn.errors import ArtifactError, DataError
from kerascnn.export.artifacts import reference_probabilities
from kerascnn.inference import (
    KerasPredictor,
    SavedModelPredictor,
    TFLitePredictor,
    load_predictor,
    top_k,
)
from kerascnn.runs import load_trained


@pytest.fixture(scope="module")
def reference(trained_run, digits):
    model, spec = load_trained(trained_run)
    return reference_probabilities(model, spec, digits["x_test"])


def test_every_kind_predicts_like_the_keras_model(exported, trained_run, digits, reference):
    images = digits["x_test"]
    predictors = {
        "tflite": load_predictor(exported("tflite-none")),
        "saved_model": load_predictor(exported("saved_model")),  # the model folder: latest version
        "keras": load_predictor(trained_run / "best.keras"),
        "run": load_predictor(trained_run),
    }
    assert isinstance(predictors["tflite"], TFLitePredictor)
    assert isinstance(predictors["saved_model"], SavedModelPredictor) and predictors["saved_model"].path.name == "1"
    assert isinstance(predictors["keras"], KerasPredictor) and isinstance(predictors["run"], KerasPredictor)
    for kind, predictor in predictors.items():
        assert predictor.class_names == [str(i) for i in range(10)], kind
        # The .tflite of a grayscale model takes RGB frames (and gray images, as three equal channels).
        assert predictor.image_shape == ((8, 8, 3) if kind == "tflite" else (8, 8, 1)), kind
        np.testing.assert_allclose(predictor.predict(images), reference, atol=1e-5, err_msg=kind)
        # One image at a time (the benchmark's path) gives the same numbers as a batch.
        np.testing.assert_allclose(predictor.predict(images[3:4])[0], reference[3], atol=1e-5, err_msg=kind)


def test_int8_predictor_returns_dequantized_probabilities(exported, digits, reference):
    predictor = load_predictor(exported("tflite-int8"))
    probabilities = predictor.predict(digits["x_test"])
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.03)
    assert (probabilities.argmax(1) == reference.argmax(1)).mean() >= 0.99
    assert "quantize=int8" in predictor.description


def test_model_folder_means_its_latest_version(exported, tmp_path):
    base = tmp_path / "lenet"
    shutil.copytree(exported("saved_model"), base)
    shutil.copytree(base / "1", base / "7")
    assert load_predictor(base).path == base / "7"
    assert load_predictor(base / "1").path == base / "1"


def test_wrong_images_are_refused(exported, digits):
    predictor = load_predictor(exported("tflite-none"))
    with pytest.raises(DataError, match=r"images holds float32 values in .* kerascnn takes raw uint8 pixels 0..255"):
        predictor.predict(digits["x_test"][:2].astype(np.float32))
    with pytest.raises(DataError, match=r"images has 2 channels; kerascnn takes grayscale \(1\) or RGB \(3\)"):
        predictor.predict(np.zeros((1, 8, 8, 2), np.uint8))


def test_one_image_or_images_of_other_sizes_are_converted_as_the_cli_does(exported, digits):
    from kerascnn.inference import fit_to_shape

    predictor = load_predictor(exported("tflite-none"))
    batch = digits["x_test"][:3]
    expected = predictor.predict(batch)
    assert np.allclose(predictor.predict(batch[0]), expected[:1])  # [h, w, c]: one image
    assert np.allclose(predictor.predict(batch[..., 0]), expected)  # [n, h, w]: grayscale without a channel axis
    big = [np.kron(image, np.ones((4, 4, 1), np.uint8)) for image in batch]  # 32x32
    rgb = np.repeat(big[0], 3, axis=2)
    got = predictor.predict([big[0], big[1], rgb])
    converted = np.stack(
        [fit_to_shape(big[0], (8, 8, 1)), fit_to_shape(big[1], (8, 8, 1)), fit_to_shape(rgb, (8, 8, 1))]
    )
    assert got.shape == (3, 10) and np.allclose(got, predictor.predict(converted))
    assert np.allclose(got[0], got[2], atol=1e-6)  # gray and its RGB copy are one image


def test_corrupt_or_foreign_tflite_files_are_refused(exported, tmp_path):
    good = exported("tflite-none")
    content = good.read_bytes()
    info = json.loads(good.with_suffix(".json").read_text())

    # The class names travel in the file's metadata: a copy without its .json predicts alike.
    alone = tmp_path / "alone.tflite"
    alone.write_bytes(content)
    predictor = load_predictor(alone)
    assert predictor.class_names == info["class_names"] and predictor.image_shape == (8, 8, 3)
    assert predictor.description == "lenet (TFLite)"

    # A model with neither metadata nor a .json has no class names to show.
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    bare_model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    bare_model.metadata = [m for m in bare_model.metadata if m.name != b"TFLITE_METADATA"]
    builder = flatbuffers.Builder(0)
    builder.Finish(bare_model.Pack(builder), b"TFL3")
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(bytes(builder.Output()))
    with pytest.raises(
        ArtifactError,
        match="bare.tflite has no class names: no label file in its TFLite metadata "
        "and no kerascnn bare.json beside it",
    ):
        load_predictor(bare)

    truncated = tmp_path / "cut.tflite"
    truncated.write_bytes(content[: len(content) // 2])
    truncated.with_suffix(".json").write_text(json.dumps(info))
    with pytest.raises(ArtifactError, match=r"cut.tflite \(\d+ bytes\) does not match its cut.json .*truncated"):
        load_predictor(truncated)

    # Without a checksum to compare against, LiteRT's flatbuffer verification still refuses it.
    truncated.with_suffix(".json").write_text(json.dumps({**info, "sha256": None}))
    with pytest.raises(ArtifactError, match="not a valid Flatbuffer"):
        load_predictor(truncated)

    text = tmp_path / "text.tflite"
    text.write_text("definitely not a model")
    text.with_suffix(".json").write_text(json.dumps({**info, "sha256": None}))
    with pytest.raises(ArtifactError, match="is not a TFLite model"):
        load_predictor(text)


def test_corrupt_or_foreign_saved_models_are_refused(exported, tmp_path):
    version = exported("saved_model") / "1"
    corrupt = tmp_path / "corrupt"
    shutil.copytree(version, corrupt)
    pb = corrupt / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:5000])
    with pytest.raises(ArtifactError, match="Cannot load the SavedModel in .*corrupt"):
        load_predictor(corrupt)

    foreign = tmp_path / "foreign"
    shutil.copytree(version, foreign)
    (foreign / "kerascnn_export.json").unlink()
    with pytest.raises(ArtifactError, match="is not a kerascnn SavedModel export"):
        load_predictor(foreign)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ArtifactError, match="No kerascnn SavedModel version in"):
        load_predictor(empty)
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="Expected a .tflite or .keras file"):
        load_predictor(tmp_path / "model.onnx")
    with pytest.raises(ArtifactError, match="No such model"):
        load_predictor(tmp_path / "nothing.tflite")


def test_top_k_orders_classes_by_probability():
    probabilities = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]], np.float32)
    assert top_k(probabilities, ["a", "b", "c"], k=2) == [
        [("b", pytest.approx(0.6)), ("c", pytest.approx(0.3))],
        [("a", pytest.approx(0.5)), ("c", pytest.approx(0.3))],
    ]
    assert len(top_k(probabilities, ["a", "b", "c"], k=10)[0]) == 3


def test_tflite_prediction_never_imports_tensorflow(exported, digits, tmp_path):
    np.save(tmp_path / "x.npy", digits["x_test"][:3])
    code = (
        "import sys, numpy as np\n"
        "from kerascnn.inference import load_predictor\n"
        f"p = load_predictor({str(exported('tflite-int8'))!r})\n"
        f"print(p.predict(np.load({str(tmp_path / 'x.npy')!r})).argmax(1).tolist())\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(eval(lines[0])) == 3
    assert lines[1] == "False False"
