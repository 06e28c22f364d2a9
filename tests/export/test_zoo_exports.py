"""Every model converts to TFLite; every op kind is quantized to int8; BatchNorm, depthwise and grouped
convolutions run in a SavedModel.

Driven by the registry (timm's pattern): a model is tested the day it is registered, at the test setup
its facts declare (``ModelFacts.test_input`` / ``test_hyperparameters``). What an export can get wrong
depends on the layers a model has, not on its depth: VGG-13/16/19 or ResNet-34 add nothing over VGG-11
or ResNet-18 here, so depth variants are left out (``distinct_models``). Parity bounds are checked on the
trained LeNet (test_tflite.py, test_saved_model.py); untrained random logits have no meaningful top-1 to
agree on, so here every export is compared with the Keras model's own probabilities.

What each part depends on, and so where it runs:
- float32 TFLite (the converter's op mapping, the in-graph preprocessing): every model.
- full int8: every op gets an integer kernel and XNNPACK may refuse a graph, so it is op-dependent: the
  models in ``COVERING`` between them have every op kind of every model's float graph, which each
  model's test checks; googlenet_tv is also the only int8 graph XNNPACK refuses, so it loads through the
  builtin kernels (export/tflite.py ``interpreter``), a path no other export reaches.
- SavedModel: what it adds to the model is model-independent (preprocessing, image decoding, the
  classification signature; all checked on the trained LeNet in test_saved_model.py). What a model can
  get wrong there (a variable not tracked, a layer that does not trace, a graph TensorFlow cannot load
  back) would break the convertible SavedModel that every model writes and the converter loads. So the
  serving SavedModel runs, in TensorFlow, on the ``COVERING`` models but googlenet_tv (7 s of SavedModel
  alone; its other op kinds, concatenation and local response normalization, are TensorFlow kernels its
  Keras forward pass in tests/models/test_zoo.py runs).
- float16 and dynamic only change how weights are stored (float16 constants; int8 weights of conv and
  dense kernels, measured: depthwise kernels stay float32): both run on the trained LeNet in
  test_tflite.py, and here on ResNeXt, for the weights of its grouped convolutions.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

import kerascnn.models
from kerascnn.data.spec import DataSpec
from kerascnn.export.artifacts import reference_probabilities
from kerascnn.export.graph import inference_model
from kerascnn.export.saved_model import saved_model_probabilities, write_saved_model
from kerascnn.export.tflite import convert_saved_model, tflite_probabilities, write_convertible_saved_model
from kerascnn_testing.tflite_graph import op_kinds
from kerascnn_testing.zoo import distinct_models, small_setup

NUM_CLASSES = 3
EXPORTED = distinct_models()

# Quantized to full int8, with the op kinds (of the float32 TFLite graph) each
# adds to the ones before it.
COVERING = {
    "googlenet_tv": {
        "CAST",
        "CONCATENATION",
        "CONV_2D",
        "FULLY_CONNECTED",
        "LOCAL_RESPONSE_NORMALIZATION",
        "MAX_POOL_2D",
        "MEAN",
        "MUL",
        "PAD",
        "RESIZE_BILINEAR",
        "SOFTMAX",
        "SUB",
    },
    "resnext50_32x4d": {"ADD", "CONV_2D/grouped"},
    "lenet": {"AVERAGE_POOL_2D", "LOGISTIC", "PACK", "RESHAPE", "SHAPE", "STRIDED_SLICE"},
    "mobilenet_v2": {"DEPTHWISE_CONV_2D"},
}
COVERED_KINDS = set().union(*COVERING.values())
SAVED_MODEL = ("lenet", "mobilenet_v2", "resnext50_32x4d")
WEIGHT_ONLY = {"resnext50_32x4d": ("float16", "dynamic")}


def quantize_modes(name) -> tuple[str, ...]:
    return ("none", *WEIGHT_ONLY.get(name, ()), *(("int8",) if name in COVERING else ()))


def tiny_model(name):
    """``name``'s test version at its test input, with the channels it was published for."""
    size, hp = small_setup(name)
    channels = kerascnn.models.get_model_info(name).default_input_shape[2]
    return inference_model(kerascnn.models.build(name, (size, size, channels), NUM_CLASSES, **hp))


def test_every_family_is_exported_and_depth_variants_once():
    families = {kerascnn.models.get_model_info(n).family for n in kerascnn.models.list_models()}
    assert {kerascnn.models.get_model_info(n).family for n in EXPORTED} == families
    assert {"googlenet_tv", "resnext50_32x4d", "alexnet_tv"} <= set(EXPORTED)
    assert "vgg16" not in EXPORTED and "resnet34" not in EXPORTED
    assert set(COVERING) | set(WEIGHT_ONLY) | set(SAVED_MODEL) <= set(EXPORTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPORTED)
def test_every_model_exports(name):
    model = tiny_model(name)
    h, w, c = model.inputs[0].shape[1:]
    # Raw images at half the model's size, in the other channel count when it has 3: the exported
    # graphs resize and convert channels themselves.
    image_shape = (max(h // 2, 8), max(w // 2, 8), 1)
    spec = DataSpec("random", ["a", "b", "c"], image_shape, (h, w, c), [0.5] * c, [0.25] * c)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, *image_shape), dtype=np.uint8)
    reference = reference_probabilities(model, spec, images)
    assert reference.shape == (4, NUM_CLASSES)
    with tempfile.TemporaryDirectory() as tmp:
        if name in SAVED_MODEL:
            write_saved_model(model, spec, f"{tmp}/saved_model")
            probabilities = saved_model_probabilities(f"{tmp}/saved_model", images)
            np.testing.assert_allclose(probabilities, reference, atol=1e-5)
        write_convertible_saved_model(model, spec, f"{tmp}/convertible")
        for quantize in quantize_modes(name):
            content = convert_saved_model(f"{tmp}/convertible", quantize, calibration_images=images, what=name)
            tflite = tflite_probabilities(content, images)
            assert tflite.shape == (4, NUM_CLASSES), quantize
            np.testing.assert_allclose(tflite.sum(axis=1), 1.0, atol=0.02, err_msg=quantize)
            if quantize == "none":
                np.testing.assert_allclose(tflite, reference, atol=1e-4)
                missing = op_kinds(content) - COVERED_KINDS
                assert not missing, f"no model in COVERING has {name}'s {sorted(missing)}: add {name} to it"
            if quantize == "int8":
                assert COVERING[name] <= op_kinds(content), sorted(COVERING[name] - op_kinds(content))
