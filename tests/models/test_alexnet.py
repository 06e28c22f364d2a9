from kerascnn.models import build
from kerascnn.summary import build_uninitialized, summarize


def test_alexnet_flattens_6400_features_at_224x224x1():
    # (The published parameter counts are registry facts: tests/models/test_zoo.py checks them.)
    model = build_uninitialized("alexnet", input_shape=(224, 224, 1), num_classes=10)
    assert model.get_layer("flatten").output.shape[-1] == 6400


def test_alexnet_receptive_field_of_last_pool_is_195():
    summary = summarize(build_uninitialized("alexnet", input_shape=(224, 224, 1)))
    assert summary.layer("pool3").receptive_field == (195, 195)
    assert summary.layer("pool3").jump == (32, 32)


def test_alexnet_local_response_norm_option_adds_two_layers_without_weights():
    plain = build("alexnet", input_shape=(67, 67, 1), dense_units=(8, 8))
    lrn = build("alexnet", input_shape=(67, 67, 1), dense_units=(8, 8), local_response_norm=True)
    assert {"conv1_lrn", "conv2_lrn"} <= {layer.name for layer in lrn.layers}
    assert lrn.count_params() == plain.count_params()


def test_alexnet_tv_flattens_torchvisions_6x6x256():
    model = build_uninitialized("alexnet_tv", input_shape=(224, 224, 3), num_classes=1000)
    assert model.get_layer("flatten").output.shape[-1] == 256 * 6 * 6
