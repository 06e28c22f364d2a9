"""kernel_initializer / bias_initializer: every family takes them and its built weights follow them.

Registry-driven (one model per family, at the zoo tests' small setup): a family registered tomorrow is
covered the day it is registered.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascnn.models import HyperparameterError, build, default_hyperparameters, get_model_info, list_models
from kerascnn.models.initializers import get_initializer
from kerascnn_testing.zoo import small_setup

ONE_PER_FAMILY = sorted({get_model_info(n).family: n for n in reversed(list_models())}.values())
KERNELS = (
    ("kernel_initializer", "kernel"),
    ("depthwise_initializer", "kernel"),
    ("depthwise_initializer", "depthwise_kernel"),
    ("pointwise_initializer", "pointwise_kernel"),
)


def _kernels(model):
    """(layer, initializer attribute, initializer, weight) of every kernel in ``model``."""
    for layer in model.layers:
        for init_attribute, weight_attribute in KERNELS:
            weight = getattr(layer, weight_attribute, None)
            if isinstance(weight, keras.Variable) and hasattr(layer, init_attribute):
                yield layer, init_attribute, getattr(layer, init_attribute), weight


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_he_kernels_have_the_he_standard_deviation(name):
    size, hp = small_setup(name)
    model = build(
        name, input_shape=(size, size, 1), num_classes=10, kernel_initializer="he_normal", bias_initializer="ones", **hp
    )
    normalized = []  # every Conv2D/Dense kernel divided by its expected He std
    for layer, init_attribute, init, weight in _kernels(model):
        assert type(init).__name__ == "HeNormal", layer.name
        kernel = keras.ops.convert_to_numpy(weight)
        # Conv2D (k, k, c_in / groups, c_out) and Dense (in, out): fan_in is every axis but the last.
        # (Depthwise kernels: test_depthwise_kernels_get_their_true_fan_in.)
        if init_attribute == "kernel_initializer":
            expected = np.sqrt(2.0 / np.prod(kernel.shape[:-1]))
            normalized.append((kernel / expected).ravel())
            if kernel.size >= 2000:  # enough weights for this layer's sample std to be within ~2%
                assert abs(kernel.std() / expected - 1) < 0.10, (layer.name, kernel.std(), expected)
    pooled = np.concatenate(normalized)
    assert pooled.size >= 2000, f"{name}: too few kernel weights to check"
    assert abs(pooled.std() - 1) < 0.10 and abs(pooled.mean()) < 0.1
    biases = [
        keras.ops.convert_to_numpy(layer.bias)
        for layer in model.layers
        if isinstance(getattr(layer, "bias", None), keras.Variable)
    ]
    assert biases and all(np.all(b == 1.0) for b in biases)


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_the_default_is_what_the_family_builds_with(name):
    size, hp = small_setup(name)
    defaults = default_hyperparameters(name)
    native = type(get_initializer("kernel_initializer", defaults["kernel_initializer"]))
    keras.utils.set_random_seed(0)
    plain = build(name, input_shape=(size, size, 1), num_classes=10, **hp)
    assert all(isinstance(init, native) for _, _, init, _ in _kernels(plain))
    keras.utils.set_random_seed(0)
    explicit = build(
        name,
        input_shape=(size, size, 1),
        num_classes=10,
        **hp,
        kernel_initializer=defaults["kernel_initializer"],
        bias_initializer=defaults["bias_initializer"],
    )
    # Naming the default changes nothing, not even the random draws.
    for a, b in zip(plain.weights, explicit.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_any_keras_initializer_by_config_and_it_survives_saving(tmp_path):
    normal = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.01}}
    model = build("vgg11", input_shape=(32, 32, 1), width_divisor=16, dense_units=(64, 64), kernel_initializer=normal)
    kernel = keras.ops.convert_to_numpy(model.get_layer("fc1").kernel)
    assert abs(kernel.std() - 0.01) < 0.001
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    init = loaded.get_layer("block3_conv1").kernel_initializer
    assert type(init).__name__ == "RandomNormal" and init.stddev == 0.01


@pytest.mark.parametrize("value", ["no_such_initializer", 3, ["he_normal"], None])
def test_a_bad_initializer_is_one_line(value):
    with pytest.raises(HyperparameterError) as info:
        build("lenet", kernel_initializer=value)
    assert "\n" not in str(info.value) and "kernel_initializer" in str(info.value)


def test_summary_shows_the_initializers(capsys):
    from kerascnn.cli.main import main

    assert main(["summary", "lenet", "--hparam", "kernel_initializer=he_normal"]) == 0
    out = capsys.readouterr().out
    assert "Initializers: kernel HeNormal (5 layers); bias Zeros (5 layers)" in out
    assert "kernel_initializer" in out.splitlines()[-1]  # listed among the tunable hyperparameters
    assert main(["summary", "lenet", "--hparam", "kernel_initializer=nope"]) == 1


def test_depthwise_kernels_get_their_true_fan_in():
    from kerascnn.models.initializers import apply_initializers

    inputs = keras.Input((16, 16, 64))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise")(inputs)
    x = keras.layers.SeparableConv2D(32, 3, name="separable")(x)
    model = keras.Model(inputs, x)
    apply_initializers(model, {"kernel_initializer": "he_normal"})
    # each depthwise output sees 3 * 3 pixels of one channel: He's std is sqrt(2 / 9), whatever the channels
    for kernel in (model.get_layer("depthwise").kernel, model.get_layer("separable").depthwise_kernel):
        kernel = keras.ops.convert_to_numpy(kernel)
        assert abs(kernel.std() / np.sqrt(2 / 9) - 1) < 0.1, kernel.shape
    pointwise = keras.ops.convert_to_numpy(model.get_layer("separable").pointwise_kernel)  # (1, 1, 128, 32)
    assert abs(pointwise.std() / np.sqrt(2 / 128) - 1) < 0.1


def test_a_family_can_declare_its_own_default_beside_its_builder():
    from kerascnn.models.hyperparameters import variant
    from kerascnn.models.lenet import build_lenet

    he_lenet = variant(build_lenet, "he_lenet", kernel_initializer="he_normal")
    assert {type(init).__name__ for _, _, init, _ in _kernels(he_lenet((28, 28, 1), 10))} == {"HeNormal"}
    chosen = he_lenet((28, 28, 1), 10, kernel_initializer="glorot_uniform")  # the caller's value wins
    assert {type(init).__name__ for _, _, init, _ in _kernels(chosen)} == {"GlorotUniform"}


def test_grouped_kernels_use_the_fan_in_of_one_group():
    # ResNeXt's grouped 3x3 conv: each output sees k * k * (c_in / groups) inputs, as PyTorch counts it.
    model = build(
        "resnext50_32x4d",
        input_shape=(32, 32, 3),
        filters=(16, 16, 16, 16),
        stem_filters=8,
        blocks_per_stage=(1, 1, 1, 1),
        width_per_group=64,
        kernel_initializer="he_normal",
    )
    grouped = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.groups > 1]
    assert grouped
    for layer in grouped:
        kernel = keras.ops.convert_to_numpy(layer.kernel)  # (3, 3, c_in / groups, c_out)
        assert abs(kernel.std() / np.sqrt(2 / (9 * layer.input.shape[-1] / layer.groups)) - 1) < 0.1, layer.name
