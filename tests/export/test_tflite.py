"""TFLite export: every quantization from the trained run, parity bounds met, LiteRT runs it, safe writes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from kerascnn.errors import ArtifactError, KerasCNNError
from kerascnn.export import ParityError, export_tflite, sidecar_path
from kerascnn.export import tflite as tflite_module
from kerascnn.export.artifacts import reference_probabilities
from kerascnn.runs import load_trained

QUANTIZE = ("none", "float16", "dynamic", "int8")


@pytest.mark.slow
@pytest.mark.parametrize("quantize", QUANTIZE)
def test_export_meets_its_parity_bound_and_runs_on_litert(quantize, exported, trained_run, digits):
    path = exported(f"tflite-{quantize}")
    info = json.loads(sidecar_path(path).read_text())
    content = path.read_bytes()
    assert info["format"] == "tflite" and info["quantize"] == quantize and info["model"] == "lenet"
    assert info["class_names"] == [str(i) for i in range(10)] and info["image_shape"] == [8, 8, 1]
    assert info["size_bytes"] == len(content) and info["sha256"] == hashlib.sha256(content).hexdigest()
    report = info["parity"]
    assert report["passed"] and report["images"] == len(digits["x_test"])
    assert report["agreement"] >= (0.999 if quantize in ("none", "float16") else 0.99)
    assert report["accuracy_drop"] <= 0.005 + 1e-12
    if quantize == "int8":
        assert report["size_ratio"] <= 0.30

    # The file runs on LiteRT as a device would run it: raw uint8 RGB frames in (the digits are gray: the
    # graph converts RGB to gray inside, and gray given as three equal channels comes back unchanged).
    assert info["input"]["shape"] == [-1, 8, 8, 3] and info["input"]["color"] == "RGB"
    assert report["input"] == "gray test images given as RGB (three equal channels)"
    interpreter = Interpreter(model_path=str(path))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and list(inp["shape_signature"]) == [-1, 8, 8, 3]
    assert inp["quantization"] == (0.0, 0)  # no input quantization to apply: the graph casts
    assert out["dtype"] == (np.uint8 if quantize == "int8" else np.float32)
    images = np.repeat(digits["x_test"], 3, axis=-1)
    interpreter.resize_tensor_input(inp["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], images)
    interpreter.invoke()
    probabilities = interpreter.get_tensor(out["index"]).astype(np.float32)
    if quantize == "int8":
        scale, zero_point = out["quantization"]
        assert info["output"]["quantization"] == {"scale": scale, "zero_point": zero_point}
        probabilities = (probabilities - zero_point) * scale
    model, spec = load_trained(trained_run)
    reference = reference_probabilities(model, spec, digits["x_test"])
    agreement = float((probabilities.argmax(1) == reference.argmax(1)).mean())
    assert agreement == pytest.approx(report["agreement"])
    assert np.abs(probabilities - reference).max() == pytest.approx(report["max_abs_prob_diff"], abs=1e-6)
    tolerance = {"none": 1e-5, "float16": 1e-2, "dynamic": 0.1, "int8": 0.1}[quantize]
    assert report["max_abs_prob_diff"] <= tolerance


def test_quantized_files_are_smaller(exported):
    # The graphs' sizes: every file also carries the same ~1 KB of metadata (names, label file).
    sizes = {}
    for q in QUANTIZE:
        info = json.loads(sidecar_path(exported(f"tflite-{q}")).read_text())
        assert exported(f"tflite-{q}").stat().st_size == info["size_bytes"] and 0 < info["metadata_bytes"] < 2048
        sizes[q] = info["size_bytes"] - info["metadata_bytes"]
    assert sizes["float16"] < 0.55 * sizes["none"]
    assert sizes["dynamic"] < 0.31 * sizes["none"]
    assert sizes["int8"] <= 0.30 * sizes["none"]


def test_existing_export_needs_overwrite_and_foreign_files_are_never_replaced(exported, trained_run, tmp_path):
    target = tmp_path / "model.tflite"
    target.write_bytes(exported("tflite-none").read_bytes())
    sidecar_path(target).write_text(sidecar_path(exported("tflite-none")).read_text())
    with pytest.raises(ArtifactError, match="exists: pass --overwrite"):
        export_tflite(trained_run, target, check_parity=False)
    result = export_tflite(trained_run, target, quantize="float16", check_parity=False, overwrite=True)
    assert json.loads(sidecar_path(target).read_text())["quantize"] == "float16"
    assert result.path == target

    foreign = tmp_path / "theirs.tflite"
    foreign.write_bytes(b"someone else's model")
    with pytest.raises(ArtifactError, match="exists and is not a kerascnn export"):
        export_tflite(trained_run, foreign, check_parity=False, overwrite=True)
    assert foreign.read_bytes() == b"someone else's model" and not sidecar_path(foreign).exists()

    foreign_json = tmp_path / "notes.json"
    foreign_json.write_text('{"mine": 1}')
    with pytest.raises(ArtifactError, match="notes.json exists and is not a kerascnn export"):
        export_tflite(trained_run, tmp_path / "notes.tflite", check_parity=False)
    assert foreign_json.read_text() == '{"mine": 1}'

    with pytest.raises(KerasCNNError, match="ending in .tflite"):
        export_tflite(trained_run, tmp_path / "model.bin", check_parity=False)


def test_int8_needs_calibration_images_and_raw_uint8(trained_run, digits, tmp_path):
    with pytest.raises(KerasCNNError, match="int8 quantization needs calibration_images"):
        export_tflite(trained_run, tmp_path / "m.tflite", quantize="int8", check_parity=False)
    with pytest.raises(KerasCNNError, match="raw uint8 pixels. Received dtype float32"):
        export_tflite(
            trained_run,
            tmp_path / "m.tflite",
            quantize="int8",
            calibration_images=digits["x_train"].astype(np.float32),
            check_parity=False,
        )
    with pytest.raises(KerasCNNError, match=r"must have shape \[N, 8, 8, 1\]"):
        export_tflite(trained_run, tmp_path / "m.tflite", test_images=digits["x_train"][:, :4])
    with pytest.raises(KerasCNNError, match="quantize must be one of"):
        export_tflite(trained_run, tmp_path / "m.tflite", quantize="int4", check_parity=False)
    assert list(tmp_path.iterdir()) == []


def test_export_missing_its_bound_writes_nothing(trained_run, digits, tmp_path, monkeypatch):
    real = tflite_module.run_interpreter

    def one_in_three_wrong(interpreter, images):
        probabilities = real(interpreter, images)
        probabilities[::3] = np.roll(probabilities[::3], 1, axis=1)
        return probabilities

    monkeypatch.setattr(tflite_module, "run_interpreter", one_in_three_wrong)
    with pytest.raises(
        ParityError, match=r"TFLite export of lenet \(tflite-none\) misses its parity bound.*agreement 66\."
    ):
        export_tflite(trained_run, tmp_path / "m.tflite", test_images=digits["x_test"], test_labels=digits["y_test"])
    assert list(tmp_path.iterdir()) == []


def test_calibration_subset_is_bounded_and_reproducible(digits):
    a = tflite_module.calibration_subset(digits["x_train"])
    b = tflite_module.calibration_subset(digits["x_train"])
    assert len(a) == tflite_module.CALIBRATION_SAMPLES and 100 <= len(a) <= 500
    np.testing.assert_array_equal(a, b)
    assert len(tflite_module.calibration_subset(digits["x_train"][:50])) == 50
