"""Registry-driven tests: every registered model, the day it is registered (timm's pattern).

Each model is built for real at a small input with small hyperparameters (the architecture is the
same, only narrower), run forward, saved as .keras and loaded back. Output shapes at the default input
are checked on a build without weight initialization, which is exact for shapes and parameter counts.
"""

from __future__ import annotations

import numpy as np
import pytest

import keras

from kerascnn.models import build, default_hyperparameters, get_model_info, list_models
from kerascnn.summary import build_uninitialized

# Narrow versions of each family so a forward pass and a .keras round trip take well under a second.
SMALL_HYPERPARAMETERS = {
    "lenet": {},
    "mnist_cnn": {},
    "alexnet": {"filters": (8, 8, 8, 8, 8), "dense_units": (16, 16), "local_response_norm": True},
    "vgg": {"width_divisor": 16, "dense_units": (16, 16)},
    "nin": {"filters": (8, 8, 8)},
    "googlenet": {"width_divisor": 16, "stem_filters": (8, 8, 8), "aux_classifiers": True,
                  "local_response_norm": True},
    "resnet": {"filters": (4, 4, 8, 8), "stem_filters": 4},
    "densenet": {"blocks": (1, 2, 1, 1), "growth_rate": 4, "stem_filters": 8},
    "mobilenet": {"alpha": 0.5, "blocks": ((64, 1), (128, 2), (128, 1), (256, 2))},
    "mobilenet_v2": {"alpha": 0.5, "stages": ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 1, 2)), "last_filters": 64},
}
# Small inputs the families accept with these settings (the smallest, for most: see test_smallest_input.py).
SMALL_INPUTS = {"lenet": 12, "mnist_cnn": 16, "alexnet": 67, "vgg": 32, "nin": 67, "googlenet": 65, "resnet": 8,
                "densenet": 32, "mobilenet": 8, "mobilenet_v2": 8}

# Deeper variants of another registered model (only ``blocks`` differs) that take seconds to build: tests
# about the family's hyperparameters run once, on the shallower model; shapes, forward passes and
# parameter counts (test_densenet.py) still cover them.
DEPTH_VARIANTS = {"densenet169": "densenet121", "densenet201": "densenet121"}
NOT_DEPTH_VARIANTS = [n for n in list_models() if n not in DEPTH_VARIANTS]


# Models whose variant settings do not fit their family's narrow setup (32 groups of 4 need wider stages).
SMALL_MODEL_HYPERPARAMETERS = {
    "resnext50_32x4d": {"filters": (4, 4, 8, 8), "stem_filters": 4, "groups": 2, "width_per_group": 32},
}


def small_setup(name):
    family = get_model_info(name).family
    return SMALL_INPUTS[family], SMALL_MODEL_HYPERPARAMETERS.get(name, SMALL_HYPERPARAMETERS[family])


def test_every_family_has_a_small_setup():
    families = {get_model_info(n).family for n in list_models()}
    assert families <= set(SMALL_HYPERPARAMETERS), families - set(SMALL_HYPERPARAMETERS)
    assert len(list_models()) >= 14


@pytest.mark.parametrize("name", list_models())
def test_default_input_shapes(name):
    info = get_model_info(name)
    model = build_uninitialized(name, num_classes=7)
    assert tuple(model.inputs[0].shape) == (None, *info.default_input_shape)
    assert model.inputs[0].name == "images"
    assert [tuple(o.shape) for o in model.outputs] == [(None, 7)]
    assert model.outputs[0].name.startswith("logits") or model.layers[-1].name == "logits"
    assert info.description and info.reference


@pytest.mark.parametrize("name", list_models())
def test_forward_pass_and_keras_round_trip(name, tmp_path):
    size, hp = small_setup(name)
    model = build(name, input_shape=(size, size + 3, 2), num_classes=5, **hp)
    images = np.random.default_rng(0).uniform(0, 1, (2, size, size + 3, 2)).astype("float32")
    outputs = model(images, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for out in outputs:
        assert tuple(out.shape) == (2, 5)
        assert np.all(np.isfinite(out))
    # Logits, not probabilities: rows need not sum to one, and can be negative (unless NiN's final ReLU).
    assert not np.allclose(np.sum(outputs[0], axis=1), 1.0, atol=1e-3)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    reloaded = loaded(images, training=False)
    reloaded = reloaded if isinstance(reloaded, (list, tuple)) else [reloaded]
    for a, b in zip(outputs, reloaded):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", NOT_DEPTH_VARIANTS)
def test_defaults_are_the_builders_defaults(name):
    """Passing every listed default explicitly builds the same model: the list a tuner reads is right."""
    plain = build_uninitialized(name, num_classes=3)
    explicit = build_uninitialized(name, num_classes=3, **default_hyperparameters(name))
    assert explicit.count_params() == plain.count_params()
    assert [layer.name for layer in explicit.layers] == [layer.name for layer in plain.layers]


def test_channels_come_from_the_data():
    gray = build_uninitialized("resnet18", input_shape=(64, 64, 1))
    rgb = build_uninitialized("resnet18", input_shape=(64, 64, 3))
    # Only the stem's kernel grows: 7 * 7 * 64 weights per extra channel.
    assert rgb.count_params() - gray.count_params() == 2 * 7 * 7 * 64


def test_uninitialized_build_counts_like_a_real_build():
    real = build("resnet18", input_shape=(32, 32, 3), num_classes=10)
    assert build_uninitialized("resnet18", input_shape=(32, 32, 3), num_classes=10).count_params() == real.count_params()
    assert all(v.value is not None for v in real.weights)


def _batch_norm_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("name", NOT_DEPTH_VARIANTS)
def test_batch_norm_momentum_is_pytorchs_by_default_and_a_hyperparameter(name):
    """Every BatchNorm in the zoo keeps 0.9 of its moving statistics per step (PyTorch's momentum 0.1), not
    Keras' 0.99, which after one short epoch still tests with near-initial statistics; ``bn_momentum``
    changes it and parameter counts stay the published ones."""
    hp = {"batch_norm": True} if "batch_norm" in default_hyperparameters(name) else {}
    model = build_uninitialized(name, num_classes=3, **hp)
    norms = _batch_norm_layers(model)
    if not norms:
        assert "bn_momentum" not in default_hyperparameters(name)
        return
    assert default_hyperparameters(name)["bn_momentum"] == 0.9
    assert {layer.momentum for layer in norms} == {0.9}
    changed = build_uninitialized(name, num_classes=3, bn_momentum=0.99, **hp)
    assert {layer.momentum for layer in _batch_norm_layers(changed)} == {0.99}
    assert changed.count_params() == model.count_params()


def test_moving_statistics_follow_the_momentum_in_training():
    """One training step with bn_momentum 0.9 moves the moving mean 10% of the way to the batch mean."""
    model = build("lenet_bn", input_shape=(12, 12, 1), num_classes=3)
    bn = model.get_layer("block1_bn")
    images = np.random.default_rng(0).uniform(0, 1, (8, 12, 12, 1)).astype("float32")
    conv_out = keras.Model(model.inputs, model.get_layer("block1_conv").output)(images)
    batch_mean = np.mean(np.asarray(conv_out), axis=(0, 1, 2))
    model(images, training=True)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), 0.1 * batch_mean, rtol=1e-4, atol=1e-6)


# The layers new to the zoo with issue 15: grouped (ResNeXt), depthwise (MobileNets), dense concatenation.
GROUPED_DEPTHWISE_DENSE = ["densenet_d2l", "mobilenet", "mobilenet_v2", "resnext50_32x4d"]


@pytest.mark.parametrize("name", GROUPED_DEPTHWISE_DENSE)
def test_training_steps_fit_a_fixed_batch(name):
    """A few SGD steps on one batch lower its loss: gradients flow through every new kind of layer."""
    size, hp = small_setup(name)
    if name == "resnext50_32x4d":  # one block per stage: the grouped convs' gradients are slow on CPU
        hp = {**hp, "blocks_per_stage": (1, 1, 1, 1)}
    keras.utils.set_random_seed(0)
    model = build(name, input_shape=(size, size, 1), num_classes=3, **hp)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (8, size, size, 1)).astype("float32")
    labels = rng.integers(0, 3, 8)
    first = model.train_on_batch(images, labels)
    for _ in range(4):
        last = model.train_on_batch(images, labels)
    assert np.isfinite(first) and last < first
