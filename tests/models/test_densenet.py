"""DenseNet: growth of the channels, compression, bad input (published parameter counts: test_zoo.py)."""

import pytest

from kerascnn.models import HyperparameterError, build
from kerascnn.summary import build_uninitialized


def test_each_dense_layer_adds_growth_rate_channels_and_transitions_compress():
    model = build_uninitialized("densenet121", (224, 224, 3), 1000, growth_rate=12, compression=0.5)
    assert model.get_layer("conv2_block6_concat").output.shape[-1] == 64 + 6 * 12
    assert model.get_layer("pool2_conv").output.shape[-1] == (64 + 6 * 12) // 2
    assert model.get_layer("pool2_pool").output.shape[1:3] == (28, 28)


def test_d2l_densenet_has_no_bottleneck():
    model = build_uninitialized("densenet_d2l", num_classes=10)
    names = {layer.name for layer in model.layers}
    assert "conv2_block1_2_conv" in names and "conv2_block1_1_conv" not in names
    assert model.get_layer("conv5_block4_concat").output.shape[-1] == 248  # d2l: 248 channels at the end


@pytest.mark.parametrize(
    "hp, fragment",
    [
        ({"compression": 0}, "compression must be a number in (0, 1]"),
        ({"growth_rate": 0}, "growth_rate must be a positive integer"),
        ({"blocks": []}, "blocks must not be empty"),
    ],
)
def test_bad_hyperparameters_are_one_line(hp, fragment):
    with pytest.raises(HyperparameterError) as info:
        build("densenet121", (64, 64, 3), **hp)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_receptive_fields_through_dense_concatenations():
    from kerascnn.summary import summarize

    summary = summarize(build_uninitialized("densenet121", (224, 224, 3), 1000))
    # A concatenation sees as far as its widest input: the new 3x3 layer's (stem 7, pool 3: 11; + 2 * 4).
    assert summary.layer("conv2_block1_concat").receptive_field == (19, 19)
    assert summary.layer("conv2_block2_concat").receptive_field == (27, 27)
