"""Every registered model exports in every format and runs (untrained weights, tiny inputs).

Driven by the registry (timm's pattern): a model is tested the day it is registered. Parity bounds are
checked on the trained LeNet (test_tflite.py, test_saved_model.py); untrained random logits have no
meaningful top-1 to agree on, so here the exports only have to load, run and give probabilities.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

import kerascnn.models
from kerascnn.data.spec import DataSpec
from kerascnn.errors import InputTooSmallError
from kerascnn.export import QUANTIZE_MODES
from kerascnn.export.graph import inference_model
from kerascnn.export.saved_model import saved_model_probabilities, write_saved_model
from kerascnn.export.tflite import convert_saved_model, tflite_probabilities, write_convertible_saved_model

# Few channels keep conversion and calibration fast; keys are model families (registry module names),
# or a model's name where its variant needs other settings.
TINY = {
    "alexnet": dict(filters=(8, 8, 8, 8, 8), dense_units=(16, 16)),
    "vgg": dict(width_divisor=16, dense_units=(16, 16)),
    "nin": dict(filters=(8, 8, 8)),
    "googlenet": dict(width_divisor=16, aux_classifiers=True),  # aux heads must not reach the export
    # ResNet-18/34/50 differ in depth and block type; one block per stage keeps every op (basic or
    # bottleneck blocks, projection shortcuts) at a quarter of the conversion time.
    "resnet": dict(filters=(8, 8, 8, 8), stem_filters=8, blocks_per_stage=(1, 1, 1, 1)),
    # One dense layer per block keeps every op (concat, transitions); alpha shrinks the MobileNets, whose
    # depthwise convolutions, ReLU6 and inverted residual adds are what the converter must handle.
    # Grouped 3x3 convs: 4 groups of 2 channels at these widths.
    "resnext50_32x4d": dict(filters=(8, 8, 8, 8), stem_filters=8, blocks_per_stage=(1, 1, 1, 1), groups=4,
                            width_per_group=16),
    "densenet": dict(blocks=(1, 1, 1, 1), growth_rate=8, stem_filters=8),
    "mobilenet": dict(alpha=0.25, blocks=((64, 1), (128, 2), (128, 1))),
    "mobilenet_v2": dict(alpha=0.25, stages=((1, 16, 1, 1), (6, 24, 2, 2)), last_filters=32),
}
# With TINY's one layer per block these are densenet121's ops again (d2l's only lacks the 1x1): exported once.
SAME_OPS_AS_ANOTHER = {"densenet169", "densenet201", "densenet_d2l"}
SIZES = (16, 32, 48, 64, 67, 96, 128, 224)
NUM_CLASSES = 3


# The smallest square input each family builds at (a failed build costs a search for it).
SMALLEST = {"alexnet": 67, "nin": 67, "googlenet": 65, "vgg": 32, "resnet": 32, "densenet": 32, "mobilenet": 32,
            "mobilenet_v2": 32}


def tiny_model(name):
    info = kerascnn.models.get_model_info(name)
    channels = info.default_input_shape[2]
    if info.family in SMALLEST:
        size = SMALLEST[info.family]
        return kerascnn.models.build(name, (size, size, channels), NUM_CLASSES, **TINY.get(name, TINY.get(info.family, {})))
    for size in SIZES:
        try:
            return kerascnn.models.build(name, (size, size, channels), NUM_CLASSES, **TINY.get(name, TINY.get(info.family, {})))
        except InputTooSmallError:
            continue
    pytest.fail(f"{name} builds at none of the sizes {SIZES}")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in kerascnn.models.list_models() if n not in SAME_OPS_AS_ANOTHER])
def test_every_model_exports_in_every_format(name):
    model = inference_model(tiny_model(name))
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
