"""ONNX export: the trained LeNet and zoo models converted by tf2onnx agree with Keras on ONNX Runtime;
unsupported ops, a missing converter and an existing target fail in one line with nothing written.

Every zoo model's export is checked behind ``-m onnx_zoo`` (minutes: one conversion per model); the
default run converts the trained LeNet, MobileNetV2 (depthwise convolutions, ReLU6, residual adds) and
a grouped convolution (ResNeXt's).
"""

from __future__ import annotations

import json
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

from test_zoo_exports import tiny_model  # noqa: E402

from kerascnn.data.spec import DataSpec  # noqa: E402
from kerascnn.errors import ArtifactError, KerasCNNError  # noqa: E402
from kerascnn.export import ParityError, export, sidecar_path  # noqa: E402
from kerascnn.export import onnx as onnx_export  # noqa: E402
from kerascnn.export.artifacts import reference_probabilities  # noqa: E402
from kerascnn.export.tflite import export_tflite  # noqa: E402
from kerascnn.runs import load_trained  # noqa: E402
from kerascnn_testing.zoo import distinct_models  # noqa: E402


@pytest.fixture(scope="module")
def lenet_onnx(trained_run, digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "lenet.onnx"
    return export(trained_run, out, format="onnx", test_images=digits["x_test"], test_labels=digits["y_test"])


def test_lenet_export_meets_its_bound_on_onnx_runtime(lenet_onnx, trained_run, digits):
    path = lenet_onnx.path
    info = json.loads(sidecar_path(path).read_text())
    report = info["parity"]
    assert info["format"] == "onnx" and report["passed"] and report["images"] == len(digits["x_test"])
    assert report["agreement"] >= 0.999 and report["max_abs_prob_diff"] <= 1e-4
    assert info["input"]["shape"] == [-1, 8, 8, 1] and info["class_names"] == [str(i) for i in range(10)]

    # The file alone, in ONNX Runtime as a user runs it: raw uint8 pixels in, probabilities out.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("images", "tensor(uint8)", [8, 8, 1])
    assert out.name == "probabilities"
    probabilities = session.run(None, {"images": digits["x_test"]})[0]
    model, spec = load_trained(trained_run)
    reference = reference_probabilities(model, spec, digits["x_test"])
    assert np.abs(probabilities - reference).max() == pytest.approx(report["max_abs_prob_diff"], abs=1e-6)
    assert (probabilities.argmax(1) == reference.argmax(1)).mean() >= 0.999
    # Class names travel in the model's metadata_props.
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["class_names"]) == info["class_names"]
    assert json.loads(props["data_spec"])["image_shape"] == [8, 8, 1]


def check_zoo_model(name):
    """``name``'s tiny version, converted and run on 64 images, against Keras: (agreement, max |dp|)."""
    model = tiny_model(name)
    h, w, c = model.inputs[0].shape[1:]
    image_shape = (max(h // 2, 8), max(w // 2, 8), c)  # the graph resizes inside
    spec = DataSpec("random", ["a", "b", "c"], image_shape, (h, w, c), [0.5] * c, [0.25] * c)
    images = np.random.default_rng(0).integers(0, 256, (64, *image_shape), dtype=np.uint8)
    session = onnx_export.session(onnx_export.convert(model, spec, what=name))
    probabilities = onnx_export.onnx_probabilities(session, images)
    reference = reference_probabilities(model, spec, images)
    agreement = float((probabilities.argmax(1) == reference.argmax(1)).mean())
    return agreement, float(np.abs(probabilities - reference).max())


def test_mobilenet_v2_converts_and_agrees():
    agreement, max_diff = check_zoo_model("mobilenet_v2")
    assert agreement == 1.0 and max_diff <= 1e-4


def test_grouped_convolutions_become_onnx_grouped_convs():
    # Keras runs them on the CPU inside an XLA-compiled function, which the export inlines for tf2onnx.
    inputs = keras.Input((8, 8, 8))
    outputs = keras.layers.Dense(3)(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, groups=4, padding="same")(inputs))
    )
    model = keras.Model(inputs, outputs, name="grouped")
    spec = DataSpec("x", ["a", "b", "c"], (8, 8, 8), (8, 8, 8), [0.5] * 8, [0.25] * 8)
    content = onnx_export.convert(model, spec, what="grouped")
    import onnx

    convs = [node for node in onnx.load_from_string(content).graph.node if node.op_type == "Conv"]
    assert [next(a.i for a in node.attribute if a.name == "group") for node in convs] == [4]
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 8), dtype=np.uint8)
    probabilities = onnx_export.onnx_probabilities(onnx_export.session(content), images)
    np.testing.assert_allclose(probabilities, reference_probabilities(model, spec, images), atol=1e-6)


@pytest.mark.onnx_zoo
@pytest.mark.parametrize("name", distinct_models())
def test_every_zoo_model_converts_and_agrees(name):
    agreement, max_diff = check_zoo_model(name)
    print(f"{name}: agreement {agreement:.4f}, max |dp| {max_diff:.2e}")
    assert agreement >= 0.999 and max_diff <= 1e-4


class Shrink(keras.layers.Layer):
    """Lanczos downsampling: TensorFlow's ScaleAndTranslate, which neither TFLite nor ONNX has."""

    def call(self, x):
        return tf.image.resize(x, (4, 4), method="lanczos3", antialias=True)


def test_an_op_without_equivalent_fails_in_one_line_and_writes_nothing(tmp_path):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(Shrink()(inputs)))
    model = keras.Model(inputs, outputs, name="lanczos")
    spec = DataSpec("x", ["a", "b"], (8, 8, 1), (8, 8, 1), [0.5], [0.25])
    with pytest.raises(
        ArtifactError, match=r"^Cannot convert lanczos to ONNX: no ONNX equivalent for ScaleAndTranslate\.$"
    ):
        export(model, tmp_path / "m.onnx", format="onnx", spec=spec, check_parity=False)
    with pytest.raises(
        ArtifactError,
        match=r"^Cannot convert lanczos to TFLite \(quantize=none\): "
        r"no TFLite builtin op for ScaleAndTranslate",
    ):
        export_tflite(model, tmp_path / "m.tflite", spec=spec, check_parity=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_converter_existing_target_and_parity_miss_write_nothing(
    trained_run, digits, lenet_onnx, tmp_path, monkeypatch
):
    existing = tmp_path / "lenet.onnx"
    existing.write_bytes(lenet_onnx.path.read_bytes())
    sidecar_path(existing).write_text(sidecar_path(lenet_onnx.path).read_text())
    before = existing.read_bytes()
    with pytest.raises(ArtifactError, match="lenet.onnx exists: pass --overwrite"):
        export(trained_run, existing, format="onnx", check_parity=False)
    with pytest.raises(KerasCNNError, match="An ONNX export is a file ending in .onnx"):
        export(trained_run, tmp_path / "lenet.bin", format="onnx", check_parity=False)
    with pytest.raises(KerasCNNError, match="An ONNX export is float32; quantize is for format='tflite'"):
        export(trained_run, tmp_path / "q.onnx", format="onnx", quantize="int8")

    real = onnx_export.onnx_probabilities
    monkeypatch.setattr(onnx_export, "onnx_probabilities", lambda s, x: np.roll(real(s, x), 1, axis=1))
    with pytest.raises(ParityError, match=r"ONNX export of lenet \(onnx\) misses its parity bound.*max \|dp\|"):
        export(trained_run, tmp_path / "off.onnx", format="onnx", test_images=digits["x_test"])
    monkeypatch.undo()

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # not installed
    with pytest.raises(KerasCNNError, match=r"ONNX export needs tf2onnx .*pip install 'kerascnn\[onnx\]'"):
        export(trained_run, tmp_path / "new.onnx", format="onnx", check_parity=False)
    assert existing.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.onnx", "lenet.onnx.json"]
