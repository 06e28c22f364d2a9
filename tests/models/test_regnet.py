"""RegNet: the design rule, torchvision's other sizes, d2l's RegNetX-32, SE, MACs (1000-class counts: test_zoo.py)."""

import keras
import numpy as np
import pytest

from kerascnn.models import HyperparameterError, build
from kerascnn.models.regnet import published_design, regnet_stages
from kerascnn.summary import build_uninitialized, summarize


def test_quantized_linear_widths_give_torchvisions_stages():
    # RegNetX-400MF: the paper's (d, w_0, w_a, w_m) = (22, 24, 24.48, 2.54) before and after the group rounding.
    assert regnet_stages(22, 24, 24.48, 2.54) == ((1, 2, 7, 12), (24, 64, 152, 392))
    assert published_design("regnet_x_400mf") == {
        "depths": (1, 2, 7, 12),
        "widths": (32, 64, 160, 400),
        "group_width": 16,
        "se_ratio": 0.0,
    }
    with pytest.raises(HyperparameterError, match="Unknown RegNet design 'regnet_z'"):
        published_design("regnet_z")
    with pytest.raises(HyperparameterError, match="w_m > 1"):
        regnet_stages(10, 24, 10.0, 1.0)


def test_other_published_sizes_through_hyperparameters():
    """torchvision's RegNetX-800MF is regnet_x_400mf with another design: its published parameter count."""
    model = build_uninitialized("regnet_x_400mf", num_classes=1000, **published_design("regnet_x_800mf"))
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 7_259_656


@pytest.mark.parametrize("name, published", [("regnet_x_400mf", 0.41e9), ("regnet_y_400mf", 0.40e9)])
def test_macs_at_224_are_the_published_ones(name, published):
    summary = summarize(build_uninitialized(name, (224, 224, 3), 1000))
    assert abs(summary.total_macs - published) / published <= 0.02
    # The grouped 3x3 of stage 1: RegNetX's 32 channels in groups of 16, RegNetY's 48 in groups of 8.
    conv = summary.layer("s1_b1_b_conv")
    assert conv.groups == {"regnet_x_400mf": 2, "regnet_y_400mf": 6}[name]


def test_regnet_y_gates_channels_with_squeeze_excitation():
    x = build_uninitialized("regnet_x_400mf", (64, 64, 3), 10)
    y = build_uninitialized("regnet_y_400mf", (64, 64, 3), 10)
    assert not [layer for layer in x.layers if isinstance(layer, keras.layers.Multiply)]
    # SE width is 0.25 of the block's input width: stage 2's first block takes stage 1's 48 channels.
    assert y.get_layer("s2_b1_se_reduce").output.shape[-1] == 12
    assert y.get_layer("s2_b1_se_expand").output.shape[-1] == 104
    assert len([layer for layer in y.layers if isinstance(layer, keras.layers.Multiply)]) == 16


def test_d2l_regnetx32_is_the_books_network():
    """d2l.ai 8.8's RegNetX-32, written out in torch as the book builds it (its convs have biases): the same
    layers, so the zoo's count is the book's minus the conv biases plus BatchNorm's moving statistics."""
    pytest.importorskip("torch")
    from torch import nn

    def resnext_block(c_in, channels, groups, bot_mul, use_1x1conv, strides):
        bot = int(round(channels * bot_mul))
        block = [
            nn.Conv2d(c_in, bot, 1),
            nn.BatchNorm2d(bot),
            nn.Conv2d(bot, bot, 3, strides, 1, groups=bot // groups),
            nn.BatchNorm2d(bot),
            nn.Conv2d(bot, channels, 1),
            nn.BatchNorm2d(channels),
        ]
        if use_1x1conv:
            block += [nn.Conv2d(c_in, channels, 1, strides), nn.BatchNorm2d(channels)]
        return block

    modules = [nn.Conv2d(1, 32, 3, 2, 1), nn.BatchNorm2d(32)]  # stem
    c_in = 32
    for depth, channels in ((4, 32), (6, 80)):  # stages (depth, channels, groups 16, bot_mul 1)
        for i in range(depth):
            modules += resnext_block(c_in, channels, 16, 1, i == 0, 2 if i == 0 else 1)
            c_in = channels
    modules.append(nn.Linear(80, 10))
    book = nn.ModuleList(modules)
    params = sum(p.numel() for p in book.parameters())
    conv_biases = sum(m.bias.numel() for m in book if isinstance(m, nn.Conv2d))
    statistics = sum(2 * m.num_features for m in book if isinstance(m, nn.BatchNorm2d))

    model = build_uninitialized("regnet_d2l", num_classes=10)
    assert tuple(model.inputs[0].shape) == (None, 96, 96, 1)  # d2l trains it on Fashion-MNIST resized to 96
    assert model.count_params() == params - conv_biases + statistics
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Add)]) == 10


def test_group_width_must_divide_the_bottleneck():
    with pytest.raises(HyperparameterError) as info:
        build("regnet_d2l", (32, 32, 1), group_width=24)
    message = str(info.value)
    assert "group_width=24 does not divide stage 1's bottleneck width 32" in message and "\n" not in message
    with pytest.raises(HyperparameterError, match="widths takes 2 values"):
        build("regnet_d2l", (32, 32, 1), widths=(32, 64, 128))


def test_bottleneck_ratio_narrows_the_inner_convolutions():
    model = build_uninitialized("regnet_d2l", (32, 32, 1), 10, bottleneck_ratio=0.5, group_width=8)
    assert model.get_layer("s2_b1_a_conv").output.shape[-1] == 40
    assert model.get_layer("s2_b1_c_conv").output.shape[-1] == 80
