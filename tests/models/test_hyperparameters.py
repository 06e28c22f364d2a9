import pytest

from kerascnn.errors import KerasCNNError, UnknownModelError
from kerascnn.models import HyperparameterError, build, default_hyperparameters, list_models


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownModelError) as info:
        build("resnet19")
    message = str(info.value)
    assert "'resnet19'" in message and all(name in message for name in list_models())


def test_unknown_hyperparameter_lists_the_known_ones():
    with pytest.raises(KerasCNNError) as info:
        build("vgg11", widht_divisor=4)
    assert "'widht_divisor'" in str(info.value) and "width_divisor" in str(info.value).split("Its")[1]


@pytest.mark.parametrize(
    "name, hyperparameters, fragment",
    [
        ("lenet", {"activation": "swish"}, "activation must be one of"),
        ("alexnet", {"dropout": 1.5}, "dropout must be a number in [0, 1)"),
        ("alexnet", {"filters": (96, 256)}, "filters takes 5 values"),
        ("vgg16", {"width_divisor": 0}, "width_divisor must be a positive integer"),
        ("vgg11", {"blocks": [[1, 64, 3]]}, "blocks must be a list of (num_convs, filters) pairs"),
        ("resnet18", {"block": "dense"}, "block must be one of"),
        ("resnet18", {"blocks_per_stage": []}, "blocks_per_stage must not be empty"),
        ("googlenet", {"width_divisor": 2.5}, "width_divisor must be a positive integer"),
        ("mnist_cnn", {"pool_after": (True,)}, "pool_after takes two booleans"),
        ("nin", {"filters": "96"}, "filters must be a list of positive integers"),
    ],
)
def test_bad_hyperparameters_raise_one_line_errors(name, hyperparameters, fragment):
    with pytest.raises(HyperparameterError) as info:
        build(name, input_shape=(96, 96, 1), **hyperparameters)
    assert fragment in str(info.value) and "Received" in str(info.value)
    assert isinstance(info.value, KerasCNNError) and isinstance(info.value, ValueError)


def test_lists_from_yaml_or_json_are_accepted():
    model = build("lenet", filters=[4, 8], dense_units=[16, 8])
    assert model.get_layer("block2_conv").filters == 8


def test_default_hyperparameters_are_the_published_values():
    assert default_hyperparameters("alexnet")["dropout"] == 0.5
    assert default_hyperparameters("vgg11")["blocks"][0] == (1, 64)
    assert default_hyperparameters("resnet50")["block"] == "bottleneck"
    assert default_hyperparameters("googlenet")["aux_classifiers"] is False
    assert "name" not in default_hyperparameters("lenet")
