import keras

from kerascnn.models import build
from kerascnn.summary import build_uninitialized, summarize


def test_resnet18_parameter_count_is_within_one_percent_of_11_69m():
    params = build_uninitialized("resnet18", input_shape=(224, 224, 3), num_classes=1000).count_params()
    # torchvision's 11,689,512 plus BatchNorm's moving mean and variance (2 x 4,800), which Keras counts.
    assert params == 11_689_512 + 2 * 4_800
    assert abs(params - 11.69e6) / 11.69e6 < 0.01


def test_resnet34_and_50_parameter_counts():
    # torchvision's counts plus Keras's BatchNorm moving statistics.
    assert build_uninitialized("resnet34", num_classes=1000).count_params() == 21_797_672 + 2 * 8_512
    assert build_uninitialized("resnet50", num_classes=1000).count_params() == 25_557_032 + 2 * 26_560


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
    model = build("resnet18", input_shape=(8, 8, 3), stem_kernel_size=3, stem_stride=1, stem_pool=False,
                  filters=(4, 4, 4, 4))
    assert model.get_layer("conv5_block2_out").output.shape[1:] == (1, 1, 4)


def test_strided_layers_pad_symmetrically_as_pytorch():
    model = build_uninitialized("resnet18")
    assert model.get_layer("conv1_pad").output.shape[1:] == (230, 230, 3)  # 3 on each side, then "valid"
    assert model.get_layer("conv1_conv").padding == "valid"
    assert model.get_layer("pool1_pad").output.shape[1:] == (114, 114, 64)
    assert model.get_layer("conv3_block1_1_pad").output.shape[1:] == (58, 58, 64)
    assert model.get_layer("conv3_block1_2_conv").padding == "same"  # stride 1: "same" is symmetric already
    assert model.get_layer("conv1_bn").epsilon == 1e-5  # torchvision's
