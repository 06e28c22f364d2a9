from kerascnn.models import build
from kerascnn.summary import build_uninitialized, summarize


def test_alexnet_has_d2l_parameter_count_at_224x224x1():
    model = build_uninitialized("alexnet", input_shape=(224, 224, 1), num_classes=10)
    assert model.count_params() == 46_764_746
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


def test_alexnet_tv_has_torchvisions_parameter_count():
    model = build_uninitialized("alexnet_tv", input_shape=(224, 224, 3), num_classes=1000)
    assert model.count_params() == 61_100_840  # torchvision.models.alexnet
    assert model.get_layer("flatten").output.shape[-1] == 256 * 6 * 6
