import keras
import pytest

from kerascnn.models import HyperparameterError, build
from kerascnn.summary import build_uninitialized, summarize


def test_blocks_and_batch_norm():
    model = build_uninitialized("resnet50")
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 3 + 4 + 6 + 3
    assert model.get_layer("conv5_block3_out").output.shape[1:] == (7, 7, 2048)
    assert all(not layer.use_bias for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


def test_residual_receptive_field_is_the_longer_path():
    summary = summarize(build_uninitialized("resnet18"))
    # Stem 7x7/2 -> 7, pool 3/2 -> 11 (jump 4); two 3x3 convs -> 19, 27; the shortcut stays at 11.
    assert summary.layer("pool1_pool").receptive_field == (11, 11)
    assert summary.layer("conv2_block1_add").receptive_field == (27, 27)


def test_cifar_style_stem():
    model = build(
        "resnet18", input_shape=(8, 8, 3), stem_kernel_size=3, stem_stride=1, stem_pool=False, filters=(4, 4, 4, 4)
    )
    assert model.get_layer("conv5_block2_out").output.shape[1:] == (1, 1, 4)


def test_strided_layers_pad_symmetrically_as_pytorch():
    model = build_uninitialized("resnet18")
    assert model.get_layer("conv1_pad").output.shape[1:] == (230, 230, 3)  # 3 on each side, then "valid"
    assert model.get_layer("conv1_conv").padding == "valid"
    assert model.get_layer("pool1_pad").output.shape[1:] == (114, 114, 64)
    assert model.get_layer("conv3_block1_1_pad").output.shape[1:] == (58, 58, 64)
    assert model.get_layer("conv3_block1_2_conv").padding == "same"  # stride 1: "same" is symmetric already
    assert model.get_layer("conv1_bn").epsilon == 1e-5  # torchvision's


def test_resnext50_32x4d_groups_its_3x3_convolutions():
    # (Its torchvision parameter count is a registry fact: tests/models/test_zoo.py checks it.)
    model = build_uninitialized("resnext50_32x4d", (224, 224, 3), num_classes=1000)
    conv = model.get_layer("conv2_block1_2_conv")
    assert conv.groups == 32 and tuple(conv.kernel.shape) == (3, 3, 4, 128)  # 4 input channels per group


def test_grouped_convolutions_in_summary():
    summary = summarize(build_uninitialized("resnext50_32x4d", (224, 224, 3), num_classes=1000))
    row = summary.layer("conv2_block1_2_conv")
    assert row.groups == 32 and row.params == 3 * 3 * 4 * 128
    assert row.macs == 56 * 56 * 128 * 3 * 3 * 4  # 1/32 of a full 128 -> 128 3x3 conv
    assert summary.layer("conv2_block1_1_conv").groups == 1
    assert "Groups" in summary.format_table().splitlines()[2]
    # Grouping does not change what a layer sees: same receptive fields as ResNet-50.
    plain = summarize(build_uninitialized("resnet50", (224, 224, 3), num_classes=1000))
    assert (
        row.receptive_field == plain.layer("conv2_block1_2_conv").receptive_field == (19, 19)
    )  # 7x7/2, 3x3/2 pool, 3x3
    assert "Groups" not in plain.format_table()


@pytest.mark.parametrize(
    "name, hp, fragment",
    [
        ("resnet18", {"groups": 3}, "groups=3 does not divide the 64 channels of stage 1"),
        ("resnet18", {"width_per_group": 4}, "width_per_group applies to bottleneck blocks only"),
        ("resnext50_32x4d", {"filters": (8, 16, 32, 64)}, "width_per_group=4 leaves a stage of filters 8"),
    ],
)
def test_bad_groups_are_one_line_errors(name, hp, fragment):
    with pytest.raises(HyperparameterError) as info:
        build(name, (32, 32, 3), **hp)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_basic_blocks_take_groups():
    model = build_uninitialized("resnet18", (32, 32, 3), 10, groups=4)
    assert model.get_layer("conv2_block1_2_conv").groups == 4
    assert model.get_layer("conv2_block1_1_conv").groups == 1
