import keras
import pytest

from kerascnn.errors import InputTooSmallError, KerasCNNError
from kerascnn.models import build, get_model_info, list_models
from kerascnn.models.smallest_input import describe_too_small, first_empty_layer
from kerascnn.summary import build_uninitialized


def test_alexnet_at_32_names_the_layer_and_the_smallest_input():
    with pytest.raises(InputTooSmallError) as info:
        build("alexnet", input_shape=(32, 32, 1))
    message = str(info.value)
    assert "'pool2'" in message and "67x67x1" in message and "32x32x1" in message
    assert "\n" not in message
    assert isinstance(info.value, KerasCNNError)


# One model per facts declaration: depth variants share their family's (the same pools, other block
# counts); a variant whose smallest input differs (alexnet_tv, googlenet_tv, mnist_cnn_wide) declares its own.
ONE_PER_FACTS = sorted({id(get_model_info(name).facts): name for name in reversed(list_models())}.values())


@pytest.mark.parametrize("name", ONE_PER_FACTS)
def test_the_reported_smallest_input_is_the_smallest_that_builds(name):
    # The registry's facts: the smallest square input that builds with the family's test setting.
    facts = get_model_info(name).facts
    smallest, hyperparameters = facts.smallest_input, dict(facts.test_hyperparameters)
    assert facts.test_input >= smallest
    build_uninitialized(name, (smallest, smallest, 1), **hyperparameters)
    if smallest == 1:  # any size builds
        return
    message = describe_too_small(name, (smallest - 1, smallest - 1, 1), 10, hyperparameters)
    assert f"{smallest}x{smallest}x1" in message
    with pytest.raises(InputTooSmallError):
        build_uninitialized(name, (smallest - 1, smallest - 1, 1), **hyperparameters)


def test_first_empty_layer_finds_a_zero_sized_output():
    inputs = keras.Input((0, 4, 2), name="images")
    model = keras.Model(inputs, keras.layers.Activation("relu", name="relu")(inputs))
    layer, shape = first_empty_layer(model)
    assert layer.name == "images" and shape == (0, 4, 2)


def test_first_empty_layer_is_none_for_a_working_model():
    assert first_empty_layer(build_uninitialized("lenet")) is None


def test_models_without_valid_windows_work_at_any_size():
    build_uninitialized("resnet18", (1, 1, 3))
    build_uninitialized("googlenet", (1, 1, 3))
