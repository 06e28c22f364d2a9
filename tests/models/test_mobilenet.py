"""MobileNet v1 and v2: published parameter counts, width multipliers, depthwise layers, bad input."""

import math

import keras
import pytest

from kerascnn.models import HyperparameterError, build
from kerascnn.models.mobilenet_v2 import make_divisible
from kerascnn.summary import build_uninitialized, summarize


def _trainable(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def test_mobilenet_v2_has_torchvisions_and_keras_applications_counts():
    model = build_uninitialized("mobilenet_v2", (224, 224, 3), num_classes=1000)
    assert _trainable(model) == 3_504_872  # torchvision.models.mobilenet_v2()
    assert model.count_params() == 3_538_984  # keras.applications.MobileNetV2(weights=None), BN statistics included


def test_mobilenet_v1_has_keras_applications_count():
    model = build_uninitialized("mobilenet", (224, 224, 3), num_classes=1000)
    assert model.count_params() == 4_253_864  # keras.applications.MobileNet(weights=None)


def test_alpha_scales_widths_as_the_reference():
    # keras.applications.MobileNetV2(alpha=0.5, weights=None): 1,987,224 parameters (BN statistics included).
    assert build_uninitialized("mobilenet_v2", (224, 224, 3), 1000, alpha=0.5).count_params() == 1_987_224
    # keras.applications.MobileNet(alpha=0.25, weights=None): 475,544.
    assert build_uninitialized("mobilenet", (224, 224, 3), 1000, alpha=0.25).count_params() == 475_544
    assert [make_divisible(c) for c in (16 * 0.35, 32 * 0.35, 1280 * 1.4)] == [8, 16, 1792]


def test_depthwise_layers_and_their_macs():
    model = build_uninitialized("mobilenet", (224, 224, 3), num_classes=1000)
    summary = summarize(model)
    dw = summary.layer("conv_dw_2")  # 3x3/2 depthwise on 64 channels: 112x112 -> 56x56
    assert dw.output_shape == (56, 56, 64) and dw.params == 9 * 64 and dw.macs == 56 * 56 * 64 * 9
    assert dw.groups == 64
    # The published 569M multiply-adds (paper, table 1).
    assert 560e6 < summary.total_macs < 580e6


def test_depth_multiplier_widens_the_depthwise_convs():
    model = build_uninitialized("mobilenet", (64, 64, 3), 10, depth_multiplier=2)
    assert model.get_layer("conv_dw_1").output.shape[-1] == 64


@pytest.mark.parametrize("name", ["mobilenet", "mobilenet_v2"])
@pytest.mark.parametrize("alpha", [0, -1, "wide", True])
def test_alpha_must_be_positive(name, alpha):
    with pytest.raises(HyperparameterError) as info:
        build(name, (32, 32, 3), alpha=alpha)
    assert "alpha must be a number greater than 0" in str(info.value) and "\n" not in str(info.value)


def test_inverted_residuals_add_only_where_shapes_agree():
    model = build_uninitialized("mobilenet_v2", (224, 224, 3), 1000)
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    # torchvision: 10 of the 17 blocks are stride 1 with equal widths.
    assert len(adds) == 10 and "block_2_add" in adds and "block_1_add" not in adds


def test_receptive_fields_through_depthwise_layers():
    summary = summarize(build_uninitialized("mobilenet_v2", (224, 224, 3), 1000))
    # 3x3/2 stem (RF 3, jump 2), then the first block's 3x3 depthwise: 3 + 2 * 2.
    assert summary.layer("expanded_conv_depthwise").receptive_field == (7, 7)
    # The 1x1 convs and the residual add keep it; block 2's depthwise (jump 4 after block 1's stride) adds 8.
    assert summary.layer("block_2_add").receptive_field == summary.layer("block_2_depthwise").receptive_field == (19, 19)
