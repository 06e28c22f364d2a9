"""SavedModel export: TF Serving layout, signatures, plain-TensorFlow loading, atomicity, bad targets."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kerascnn.errors import ArtifactError
from kerascnn.export import ParityError, existing_versions, export_saved_model
from kerascnn.export import saved_model as saved_model_module
from kerascnn.export.artifacts import reference_probabilities
from kerascnn.runs import load_trained


def test_export_writes_version_1_with_assets_marker_and_parity(exported, digits):
    base = exported("saved_model")
    assert existing_versions(base) == [1]
    version = base / "1"
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    assert (version / "assets" / "labels.txt").read_text().splitlines() == [str(i) for i in range(10)]
    spec = json.loads((version / "assets" / "data_spec.json").read_text())
    assert spec["image_shape"] == [8, 8, 1] and spec["input_shape"] == [28, 28, 1]
    marker = json.loads((version / "kerascnn_export.json").read_text())
    assert marker["format"] == "saved_model" and marker["model"] == "lenet" and marker["version"] == 1
    assert set(marker["signatures"]) == {"serving_default", "serving_bytes", "classification"}
    assert {"kerascnn", "keras", "tensorflow"} <= set(marker["versions"])
    report = json.loads((version / "parity.json").read_text())
    assert report["passed"] and report["images"] == len(digits["x_test"])
    assert report["agreement"] >= 0.999 and report["max_abs_prob_diff"] < 1e-4
    assert report["accuracy_export"] == report["accuracy_keras"] > 0.8
    # Readable by a server running as another user (temporary files start private).
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(version.stat().st_mode) == 0o755 & ~umask
    assert stat.S_IMODE((version / "saved_model.pb").stat().st_mode) == 0o644 & ~umask
    # Nothing half-written is left beside the version.
    assert [p.name for p in base.iterdir() if not p.name.startswith(".")] == ["1"]
    assert not [p for p in base.iterdir() if ".tmp-" in p.name]


SUBPROCESS_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf

loaded = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])
default = loaded.signatures["serving_default"]
by_bytes = loaded.signatures["serving_bytes"]
out = default(images=tf.constant(images))
pngs = tf.constant([tf.io.encode_png(image).numpy() for image in images])
out_bytes = by_bytes(image_bytes=pngs)
print(json.dumps({
    "kerascnn_imported": any(name.startswith("kerascnn") for name in sys.modules),
    "inputs": {name: [spec.dtype.name, spec.shape.as_list()]
               for name, spec in default.structured_input_signature[1].items()},
    "bytes_inputs": {name: [spec.dtype.name, spec.shape.as_list()]
                     for name, spec in by_bytes.structured_input_signature[1].items()},
    "outputs": {name: [t.dtype.name, t.shape.as_list()] for name, t in out.items()},
    "probabilities": out["probabilities"].numpy().tolist(),
    "classes": out["classes"].numpy().tolist(),
    "bytes_probabilities": out_bytes["probabilities"].numpy().tolist(),
}))
"""


def test_loads_and_runs_in_a_process_without_kerascnn(exported, trained_run, digits, tmp_path):
    version = exported("saved_model") / "1"
    images = digits["x_test"][:16]
    np.save(tmp_path / "images.npy", images)
    (tmp_path / "load.py").write_text(SUBPROCESS_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "load.py"), str(version), str(tmp_path / "images.npy")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["kerascnn_imported"] is False
    assert result["inputs"] == {"images": ["uint8", [None, 8, 8, 1]]}
    assert result["bytes_inputs"] == {"image_bytes": ["string", [None]]}
    assert result["outputs"] == {"probabilities": ["float32", [16, 10]], "classes": ["int64", [16]]}
    model, spec = load_trained(trained_run)
    expected = reference_probabilities(model, spec, images)
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-5)
    assert result["classes"] == expected.argmax(axis=1).tolist()
    # PNG is lossless and the images are at the native size: the bytes signature gives the same answer.
    np.testing.assert_allclose(result["bytes_probabilities"], expected, atol=1e-5)


def test_next_export_is_version_2_and_leaves_version_1_alone(exported, trained_run, tmp_path):
    base = tmp_path / "lenet"
    shutil.copytree(exported("saved_model"), base)
    before = (base / "1" / "saved_model.pb").read_bytes()
    result = export_saved_model(trained_run, base, check_parity=False)
    assert result.path == base / "2"
    assert existing_versions(base) == [1, 2]
    assert (base / "1" / "saved_model.pb").read_bytes() == before
    assert json.loads((base / "2" / "kerascnn_export.json").read_text())["version"] == 2


def test_interrupted_export_leaves_no_version_folder(trained_run, digits, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(saved_model_module, "saved_model_probabilities", interrupted)
    base = tmp_path / "models" / "lenet"
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(trained_run, base, test_images=digits["x_test"], test_labels=digits["y_test"])
    assert list(base.iterdir()) == []  # no "1", no temporary sibling


def test_a_killed_exports_temporary_folder_is_removed_by_the_next_export(trained_run, tmp_path):
    # `kerascnn export` SIGKILLed just before renaming its finished version folder.
    from kerascnn_testing.kill import run_killed_at

    base = tmp_path / "lenet"
    proc = run_killed_at("rename", "1", 1, ["export", trained_run, "--out", base, "--parity-samples", "20"])
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert [p.name.split(".tmp-")[0] for p in base.iterdir()] == [".1"]  # what a kill leaves
    result = export_saved_model(trained_run, base, check_parity=False)
    assert result.path == base / "1" and sorted(p.name for p in base.iterdir()) == ["1"]


def test_export_missing_its_parity_bound_fails_with_the_numbers(trained_run, digits, tmp_path, monkeypatch):
    real = saved_model_module.saved_model_probabilities

    def shifted(directory, images):
        return np.roll(real(directory, images), 1, axis=1)  # every top-1 moves to the next class

    monkeypatch.setattr(saved_model_module, "saved_model_probabilities", shifted)
    base = tmp_path / "lenet"
    n = len(digits["x_test"])  # the run's test split
    with pytest.raises(ParityError, match=rf"top-1 agreement 0\.00% < 99\.9% \({n} of {n} images differ\)"):
        export_saved_model(trained_run, base, test_images=digits["x_test"], test_labels=digits["y_test"])
    assert list(base.iterdir()) == []


def test_refuses_a_target_that_is_not_a_kerascnn_export(trained_run, tmp_path):
    notes = tmp_path / "mine" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("keep me")
    with pytest.raises(ArtifactError, match=r"is not a kerascnn export folder \('notes.txt'"):
        export_saved_model(trained_run, notes.parent, check_parity=False)
    assert [p.name for p in notes.parent.iterdir()] == ["notes.txt"] and notes.read_text() == "keep me"

    foreign = tmp_path / "foreign"
    (foreign / "1").mkdir(parents=True)
    (foreign / "1" / "saved_model.pb").write_bytes(b"not ours")
    with pytest.raises(ArtifactError, match="'1' is not a kerascnn SavedModel version"):
        export_saved_model(trained_run, foreign, check_parity=False)
    with pytest.raises(ArtifactError, match="is a SavedModel version folder"):
        export_saved_model(trained_run, foreign / "1", check_parity=False)
    assert sorted(p.name for p in foreign.rglob("*")) == ["1", "saved_model.pb"]


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"quantize": "int8"}, "quantize is for format='tflite'"),
        ({"calibration_images": np.zeros((1, 8, 8, 1), np.uint8)}, "calibration_images is for format='tflite'"),
        ({"overwrite": True}, "never replaces one: it adds the next version"),
    ],
)
def test_export_refuses_what_a_saved_model_has_no_use_for(trained_run, tmp_path, setting, message):
    from kerascnn.errors import KerasCNNError
    from kerascnn.export import export

    with pytest.raises(KerasCNNError, match=message):
        export(trained_run, tmp_path / "lenet", format="saved_model", check_parity=False, **setting)
    assert not (tmp_path / "lenet").exists()


def test_serving_bytes_resizes_and_converts_other_images(exported, trained_run, digits):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(exported("saved_model") / "1"))
    image = digits["x_test"][0]
    big_rgb = np.repeat(
        np.asarray(Image.fromarray(image[..., 0]).resize((32, 32), Image.Resampling.NEAREST))[..., None], 3, -1
    )
    buffer = io.BytesIO()
    Image.fromarray(big_rgb).save(buffer, format="JPEG", quality=95)
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant([buffer.getvalue()]))
    assert out["probabilities"].shape == (1, 10)
    model, spec = load_trained(trained_run)
    assert int(out["classes"][0]) == int(reference_probabilities(model, spec, image[None]).argmax())
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_bytes"](image_bytes=tf.constant([b"not an image"]))


def test_classification_signature_is_tf_servings_classify(exported, digits):
    """TF Serving's classify method, tf.Examples with an encoded image or raw pixels, every class best first."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    version = exported("saved_model") / "1"
    saved_model = saved_model_pb2.SavedModel.FromString((version / "saved_model.pb").read_bytes())
    signature_def = saved_model.meta_graphs[0].signature_def["classification"]
    assert signature_def.method_name == "tensorflow/serving/classify"
    assert set(signature_def.inputs) == {"inputs"} and set(signature_def.outputs) == {"classes", "scores"}

    loaded = tf.saved_model.load(str(version))
    images = digits["x_test"][:3]

    def example(feature):
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    encoded = [
        example(
            {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(image).numpy()]))}
        )
        for image in images
    ]
    pixels = [
        example({"image/pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=image.reshape(-1).tolist()))})
        for image in images
    ]
    expected = loaded.signatures["serving_default"](images=tf.constant(images))["probabilities"].numpy()
    for inputs in (encoded, pixels):
        out = loaded.signatures["classification"](inputs=tf.constant(inputs))
        order = np.argsort(-expected, axis=1, kind="stable")
        np.testing.assert_allclose(out["scores"].numpy(), np.take_along_axis(expected, order, 1), rtol=1e-5, atol=1e-6)
        assert out["classes"].numpy()[:, 0].tolist() == [str(c).encode() for c in order[:, 0]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="image/encoded.*or.*image/pixels"):
        loaded.signatures["classification"](inputs=tf.constant([example({})]))
