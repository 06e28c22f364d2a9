"""Every family exports in every format and runs (untrained weights, the registry's narrow test version).

Driven by the registry (timm's pattern): a family is tested the day it is registered, at the test
setup its facts declare (``ModelFacts.test_input`` / ``test_hyperparameters``). What a converter can
get wrong is an op, not a depth: VGG-13/16/19 or ResNet-34 add nothing over VGG-11 or ResNet-18 here,
so a model whose test version differs from an earlier one in depth only is not exported again. Parity
bounds are checked on the trained LeNet (test_tflite.py, test_saved_model.py); untrained random logits
have no meaningful top-1 to agree on, so here the exports only have to load, run and give probabilities.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

import kerascnn.models
from kerascnn.data.spec import DataSpec
from kerascnn.export import QUANTIZE_MODES
from kerascnn.export.graph import inference_model
from kerascnn.export.saved_model import saved_model_probabilities, write_saved_model
from kerascnn.export.tflite import convert_saved_model, tflite_probabilities, write_convertible_saved_model
from kerascnn_testing.zoo import distinct_models, small_setup

NUM_CLASSES = 3


def tiny_model(name):
    """``name``'s test version at its test input, with the channels it was published for."""
    size, hp = small_setup(name)
    channels = kerascnn.models.get_model_info(name).default_input_shape[2]
    return inference_model(kerascnn.models.build(name, (size, size, channels), NUM_CLASSES, **hp))


# Depth variants (VGG-13/16/19, ResNet-34, DenseNet-169/201 at their test setup) add no op; every other
# variant stays: googlenet_tv's int8 graph, for one, is refused by XNNPACK and loads through the builtin
# kernels (export/tflite.py interpreter), which no other model's export reaches.
EXPORTED = distinct_models()


def test_every_family_is_exported_and_depth_variants_once():
    families = {kerascnn.models.get_model_info(n).family for n in kerascnn.models.list_models()}
    assert {kerascnn.models.get_model_info(n).family for n in EXPORTED} == families
    assert {"googlenet_tv", "resnext50_32x4d", "alexnet_tv"} <= set(EXPORTED)
    assert "vgg16" not in EXPORTED and "resnet34" not in EXPORTED


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPORTED)
def test_every_family_exports_in_every_format(name):
    model = tiny_model(name)
    h, w, c = model.inputs[0].shape[1:]
    # Raw images at half the model's size, in the other channel count when it has 3: the exported
    # graphs resize and convert channels themselves.
    image_shape = (max(h // 2, 8), max(w // 2, 8), 1)
    spec = DataSpec("random", ["a", "b", "c"], image_shape, (h, w, c), [0.5] * c, [0.25] * c)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, *image_shape), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        write_saved_model(model, spec, f"{tmp}/saved_model")
        probabilities = saved_model_probabilities(f"{tmp}/saved_model", images)
        assert probabilities.shape == (4, NUM_CLASSES)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        write_convertible_saved_model(model, spec, f"{tmp}/convertible")
        for quantize in QUANTIZE_MODES:
            content = convert_saved_model(f"{tmp}/convertible", quantize, calibration_images=images, what=name)
            tflite = tflite_probabilities(content, images)
            assert tflite.shape == (4, NUM_CLASSES), quantize
            np.testing.assert_allclose(tflite.sum(axis=1), 1.0, atol=0.02, err_msg=quantize)
            if quantize == "none":
                np.testing.assert_allclose(tflite, probabilities, atol=1e-4)
