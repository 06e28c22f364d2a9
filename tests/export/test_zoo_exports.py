"""Every family exports in every format and runs (untrained weights, the registry's narrow test version).

Driven by the registry (timm's pattern): a family is tested the day it is registered, at the test
setup its facts declare (``ModelFacts.test_input`` / ``test_hyperparameters``). What a converter can
get wrong is an op, not a depth, so one model per family is exported, plus any variant whose exported
graph has a layer kind no earlier model had (a grouped convolution in ResNeXt, padding layers in
torchvision's AlexNet): VGG-13/16/19 or ResNet-34 add nothing over VGG-11 or ResNet-18 here. Parity
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
from kerascnn.summary import build_uninitialized
from kerascnn_testing.zoo import distinct_models, small_setup

NUM_CLASSES = 3


def tiny_model(name, *, uninitialized=False):
    """``name``'s test version at its test input, with the channels it was published for."""
    size, hp = small_setup(name)
    channels = kerascnn.models.get_model_info(name).default_input_shape[2]
    build = build_uninitialized if uninitialized else kerascnn.models.build
    return inference_model(build(name, (size, size, channels), NUM_CLASSES, **hp))


def layer_kinds(model) -> set:
    """What a converter sees of each layer: its class, activation and whether its convolution is grouped."""
    kinds = set()
    for layer in model.layers:
        config = layer.get_config()
        kinds.add((type(layer).__name__, config.get("activation"), config.get("max_value"),
                   (config.get("groups") or 1) > 1))
    return kinds


def models_to_export() -> list[str]:
    """One model per family, plus the variants whose exported graph has a layer kind not seen before."""
    families, seen, chosen = set(), set(), []
    for name in distinct_models():
        family = kerascnn.models.get_model_info(name).family
        kinds = layer_kinds(tiny_model(name, uninitialized=True))
        if family not in families or kinds - seen:
            chosen.append(name)
        families.add(family)
        seen |= kinds
    return chosen


EXPORTED = models_to_export()


def test_every_family_is_exported():
    families = {kerascnn.models.get_model_info(n).family for n in kerascnn.models.list_models()}
    assert {kerascnn.models.get_model_info(n).family for n in EXPORTED} == families
    assert "resnext50_32x4d" in EXPORTED  # grouped convolutions are a kind of their own
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
