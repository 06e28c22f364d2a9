import keras

from kerascnn.models import build
from kerascnn.models.vgg import VGG_BLOCKS
from kerascnn.summary import summarize, uninitialized_variables


def test_vgg16_matches_keras_applications_vgg16():
    with uninitialized_variables():
        ours = build("vgg16", input_shape=(224, 224, 3), num_classes=1000)
        reference = keras.applications.VGG16(weights=None, input_shape=(224, 224, 3), classes=1000)
    assert ours.count_params() == reference.count_params() == 138_357_544
    # Same layer names up to the classifier (ours ends in logits instead of predictions).
    conv_names = [layer.name for layer in reference.layers if layer.name.startswith("block")]
    assert conv_names == [layer.name for layer in ours.layers if layer.name.startswith("block")]


def test_vgg16_receptive_fields():
    with uninitialized_variables():
        summary = summarize(build("vgg16", input_shape=(224, 224, 3), num_classes=1000))
    assert summary.layer("block5_conv3").receptive_field == (196, 196)
    assert summary.layer("block5_pool").receptive_field == (212, 212)


def test_vgg_depths_follow_the_block_spec():
    for name, blocks in VGG_BLOCKS.items():
        with uninitialized_variables():
            model = build(name)
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        assert len(convs) == sum(n for n, _ in blocks) == int(name[3:]) - 3


def test_width_divisor_divides_conv_channels_only():
    model = build("vgg11", input_shape=(32, 32, 1), width_divisor=4)
    assert model.get_layer("block1_conv1").filters == 16
    assert model.get_layer("block5_conv2").filters == 128
    assert model.get_layer("fc1").units == 4096


def test_custom_block_spec_and_batch_norm():
    model = build("vgg11", input_shape=(8, 8, 1), blocks=[[1, 4], [2, 8]], dense_units=[16], batch_norm=True)
    assert model.get_layer("block2_conv2_bn") and model.get_layer("block2_pool").output.shape[1:] == (2, 2, 8)
