"""Registry-driven tests: every registered model, the day it is registered (timm's pattern).

Each model is built for real at the small input with the narrow hyperparameters its facts declare
(``ModelFacts.test_input`` / ``test_hyperparameters``: the architecture is the same, only narrower), run
forward, saved as .keras and loaded back; a model that differs from another in depth only is tested
once (its depth shows in its parameter count). Output shapes at the default input and the published
parameter counts (``ReferenceCount``) are checked on builds without weight initialization, which are
exact for shapes and parameter counts.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
import pytest

from kerascnn.models import build, default_hyperparameters, get_model_info, list_models
from kerascnn.summary import build_uninitialized
from kerascnn_testing.zoo import distinct_models, small_setup

# Models that test something no other does (not VGG-13 after VGG-11: kerascnn_testing.zoo.distinct_models).
DISTINCT = distinct_models()
COUNTED = [name for name in list_models() if get_model_info(name).reference_counts]


CLASSES = 1000  # ImageNet's, which most published counts are for


@functools.cache
def default_build(name):
    """``name`` at its default input with ``CLASSES`` classes, without weight initialization: one build
    shared by the tests below, which only read it."""
    return build_uninitialized(name, num_classes=CLASSES)


def test_depth_variants_are_tested_once():
    assert {"vgg11", "resnet18", "resnet50", "densenet121", "densenet_d2l"} <= set(DISTINCT)
    assert not {"vgg13", "vgg16", "vgg19", "resnet34", "densenet169", "densenet201"} & set(DISTINCT)


@pytest.mark.parametrize("name", COUNTED)
def test_published_parameter_counts(name):
    """Every count a registry entry cites (torchvision, keras.applications, the textbook) is the zoo's."""
    models = {}  # one build per (input shape, classes, hyperparameters): a total and a trainable count share it
    for count in get_model_info(name).reference_counts:
        key = (count.input_shape, count.num_classes, tuple(sorted(count.hyperparameters.items())))
        if key not in models:
            default = (count.input_shape, count.num_classes, count.hyperparameters) == (
                get_model_info(name).default_input_shape,
                CLASSES,
                {},
            )
            models[key] = (
                default_build(name)
                if default
                else build_uninitialized(name, count.input_shape, count.num_classes, **count.hyperparameters)
            )
        model = models[key]
        if count.trainable_only:
            assert sum(math.prod(w.shape) for w in model.trainable_weights) == count.params, count.source
        else:
            assert model.count_params() == count.params, count.source


def test_every_family_cites_a_published_count():
    uncounted = {get_model_info(n).family for n in list_models()} - {get_model_info(n).family for n in COUNTED}
    assert uncounted <= {"nin"}, uncounted  # NiN (paper, d2l) publishes no ImageNet count


@pytest.mark.parametrize("name", DISTINCT)
def test_default_input_shapes(name):
    info = get_model_info(name)
    model = default_build(name)
    assert tuple(model.inputs[0].shape) == (None, *info.default_input_shape)
    assert model.inputs[0].name == "images"
    assert [tuple(o.shape) for o in model.outputs] == [(None, CLASSES)]
    assert model.outputs[0].name.startswith("logits") or model.layers[-1].name == "logits"
    assert info.description and info.reference


@pytest.mark.parametrize("name", DISTINCT)
def test_forward_pass_and_keras_round_trip(name, tmp_path):
    size, hp = small_setup(name)
    keras.utils.set_random_seed(0)  # the same weights whatever ran before
    model = build(name, input_shape=(size, size + 3, 2), num_classes=5, **hp)
    images = np.random.default_rng(0).uniform(0, 1, (2, size, size + 3, 2)).astype("float32")
    outputs = model(images, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for out in outputs:
        assert tuple(out.shape) == (2, 5)
        assert np.all(np.isfinite(out))
    # Logits, not probabilities: a softmax would give non-negative rows that sum to one. (A row of logits
    # can sum to one by chance, as lenet_bn's did at one seed; NiN's final ReLU makes its logits >= 0.)
    logits = np.asarray(outputs[0])
    assert not (np.all(logits >= 0) and np.allclose(logits.sum(axis=1), 1.0, atol=1e-3))

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    reloaded = loaded(images, training=False)
    reloaded = reloaded if isinstance(reloaded, (list, tuple)) else [reloaded]
    for a, b in zip(outputs, reloaded):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", DISTINCT)
def test_defaults_are_the_builders_defaults(name):
    """Passing every listed default explicitly builds the same model: the list a tuner reads is right."""
    plain = default_build(name)
    explicit = build_uninitialized(name, num_classes=CLASSES, **default_hyperparameters(name))
    assert explicit.count_params() == plain.count_params()
    assert [layer.name for layer in explicit.layers] == [layer.name for layer in plain.layers]


def test_channels_come_from_the_data():
    gray = build_uninitialized("resnet18", input_shape=(64, 64, 1))
    rgb = build_uninitialized("resnet18", input_shape=(64, 64, 3))
    # Only the stem's kernel grows: 7 * 7 * 64 weights per extra channel.
    assert rgb.count_params() - gray.count_params() == 2 * 7 * 7 * 64


def test_uninitialized_build_counts_like_a_real_build():
    real = build("resnet18", input_shape=(32, 32, 3), num_classes=10)
    assert (
        build_uninitialized("resnet18", input_shape=(32, 32, 3), num_classes=10).count_params() == real.count_params()
    )
    assert all(v.value is not None for v in real.weights)


def _batch_norm_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("name", DISTINCT)
def test_batch_norm_momentum_is_pytorchs_by_default_and_a_hyperparameter(name):
    """Every BatchNorm in the zoo keeps 0.9 of its moving statistics per step (PyTorch's momentum 0.1), not
    Keras' 0.99, which after one short epoch still tests with near-initial statistics; ``bn_momentum``
    changes it and parameter counts stay the published ones."""
    hp = {"batch_norm": True} if "batch_norm" in default_hyperparameters(name) else {}
    model = build_uninitialized(name, num_classes=CLASSES, **hp) if hp else default_build(name)
    norms = _batch_norm_layers(model)
    if not norms:
        assert "bn_momentum" not in default_hyperparameters(name)
        return
    assert default_hyperparameters(name)["bn_momentum"] == 0.9
    assert {layer.momentum for layer in norms} == {0.9}
    changed = build_uninitialized(name, num_classes=CLASSES, bn_momentum=0.99, **hp)
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


# The layer kinds ResNeXt, the MobileNets and DenseNet bring to the zoo: grouped (ResNeXt), depthwise and inverted
# residual (MobileNetV2: v1's depthwise-separable blocks add no layer kind to it), dense concatenation.
GROUPED_DEPTHWISE_DENSE = ["densenet_d2l", "mobilenet_v2", "resnext50_32x4d"]


@pytest.mark.parametrize("name", GROUPED_DEPTHWISE_DENSE)
def test_training_steps_fit_a_fixed_batch(name):
    """A few SGD steps on one batch lower its loss: gradients flow through every new kind of layer."""
    size, hp = small_setup(name)
    keras.utils.set_random_seed(0)
    model = build(name, input_shape=(size, size, 1), num_classes=3, **hp)
    # Plain SGD: tracing Adam's update for every variable took 3 times as long (7 s against 2 s for the three).
    model.compile(
        optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (8, size, size, 1)).astype("float32")
    labels = rng.integers(0, 3, 8)
    before = [np.array(w) for w in model.trainable_weights]
    first = model.train_on_batch(images, labels)
    for _ in range(4):
        last = model.train_on_batch(images, labels)
    assert np.isfinite(first) and last < first
    # Every trainable weight moved: no layer's gradient is missing or zero.
    unchanged = [w.path for w, b in zip(model.trainable_weights, before) if np.array_equal(np.array(w), b)]
    assert not unchanged, unchanged
