import keras
import pytest

from kerascnn.errors import InputTooSmallError, KerasCNNError
from kerascnn.models import build
from kerascnn.models.smallest_input import describe_too_small, first_empty_layer
from kerascnn.summary import build_uninitialized


def test_alexnet_at_32_names_the_layer_and_the_smallest_input():
    with pytest.raises(InputTooSmallError) as info:
        build("alexnet", input_shape=(32, 32, 1))
    message = str(info.value)
    assert "'pool2'" in message and "67x67x1" in message and "32x32x1" in message
    assert "\n" not in message
    assert isinstance(info.value, KerasCNNError)


@pytest.mark.parametrize(
    "name, hyperparameters, smallest",
    [
        ("alexnet", {"dense_units": (8, 8)}, 67),
        ("vgg16", {"dense_units": (8, 8), "width_divisor": 16}, 32),
        ("lenet", {}, 12),
        ("mnist_cnn", {}, 16),
        ("nin", {"filters": (4, 4, 4)}, 67),
        ("googlenet", {"aux_classifiers": True, "width_divisor": 16}, 65),
        ("mobilenet", {"alpha": 0.25}, 31),  # Keras padding: a 3x3/2 block (one pixel after) needs 2x2 in
        ("densenet121", {"blocks": (1, 1, 1, 1), "growth_rate": 4}, 29),  # three 2x2 average pools
    ],
)
def test_the_reported_smallest_input_is_the_smallest_that_builds(name, hyperparameters, smallest):
    message = describe_too_small(name, (smallest - 1, smallest - 1, 1), 10, hyperparameters)
    assert f"{smallest}x{smallest}x1" in message
    build_uninitialized(name, (smallest, smallest, 1), **hyperparameters)
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
