"""MobileNet v1 and v2: width multipliers, depthwise layers, bad input (published counts: test_zoo.py)."""

import keras
import pytest

from kerascnn.models import HyperparameterError, build
from kerascnn.models.mobilenet_v2 import make_divisible
from kerascnn.summary import build_uninitialized, summarize


def test_alpha_rounds_widths_to_multiples_of_8_as_the_reference():
    # (The published counts, at alpha 1 and other alphas, are registry facts: tests/models/test_zoo.py.)
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
    assert (
        summary.layer("block_2_add").receptive_field == summary.layer("block_2_depthwise").receptive_field == (19, 19)
    )
