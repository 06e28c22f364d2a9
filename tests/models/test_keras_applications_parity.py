"""The zoo's MobileNet v1, MobileNetV2 and DenseNet compute keras.applications' function, given its weights.

MobileNet v1's only published weights are keras.applications' (torchvision has no v1), so its padding
(one pixel after the input on strided layers) and BatchNorm epsilon must be Keras': checked here at an
odd and an even input size, where a padding rule that differs shifts every feature map. DenseNet's Keras
padding is PyTorch's symmetric one (ZeroPadding2D 3 and 1), so the same model matches both references.
MobileNetV2 follows torchvision (symmetric padding): keras.applications pads strided layers after the
input on even sizes (``correct_pad``), so the two agree on odd sizes only, which this pins down.

The weights are random (BatchNorm statistics too), copied layer by layer by name; keras.applications'
classifier is a Dense ``predictions`` (a 1x1 Conv ``conv_preds`` in MobileNet v1), the zoo's ``logits``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascnn.models import build


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape),
                    rng.normal(0, 0.1, beta.shape),
                    rng.normal(0, 0.1, mean.shape),
                    rng.uniform(0.5, 1.5, variance.shape),
                ]
            )
        elif layer.weights:
            # He-like scale, fan-in k*k for a depthwise kernel (one input channel per output), so the signal
            # neither dies nor saturates ReLU6 through 17 blocks: the logits must depend on the image.
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            layer.set_weights(
                [
                    rng.normal(
                        0,
                        (np.prod(w.shape[:2] if depthwise else w.shape[:-1]) or 1) ** -0.5
                        * (1.4 if w.ndim > 1 else 0.1),
                        w.shape,
                    )
                    for w in layer.get_weights()
                ]
            )


def _copy_into(ours, reference):
    """Every weighted layer of ``reference`` into the zoo layer of the same name (the head into ``logits``)."""
    copied = 0
    for layer in reference.layers:
        if not layer.weights:
            continue
        weights = layer.get_weights()
        if layer.name in ("predictions", "conv_preds"):
            kernel, bias = weights
            ours.get_layer("logits").set_weights([kernel.reshape(-1, kernel.shape[-1]), bias])
        else:
            ours.get_layer(layer.name).set_weights(weights)
        copied += 1
    assert copied == sum(1 for layer in ours.layers if layer.weights)


def _relative_error(ours, reference, size, layer):
    """max |difference| of ``layer``'s output (the last feature map, before pooling: with random weights
    the pooled logits hardly depend on the image) over the spread of the reference's values."""
    images = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    expected = np.asarray(keras.Model(reference.inputs[0], reference.get_layer(layer).output)(images, training=False))
    got = np.asarray(keras.Model(ours.inputs[0], ours.get_layer(layer).output)(images, training=False))
    assert expected.std() > 1e-3  # a live signal, not a dead (all-zero) map
    return float(np.abs(got - expected).max() / expected.std())


@pytest.mark.parametrize("size", [33, 32])
def test_mobilenet_v1_is_keras_applications_mobilenet(size):
    reference = keras.applications.MobileNet(
        input_shape=(size, size, 3), alpha=0.25, weights=None, classes=7, classifier_activation=None
    )
    ours = build("mobilenet", (size, size, 3), 7, alpha=0.25)
    _randomize(reference)
    _copy_into(ours, reference)
    assert _relative_error(ours, reference, size, "conv_pw_13_relu") <= 1e-3


def test_densenet_is_keras_applications_densenet():
    from keras.src.applications import densenet  # the public module has only the 121/169/201 constructors

    reference = densenet.DenseNet(
        [1, 2, 1, 1], input_shape=(33, 33, 3), weights=None, classes=7, classifier_activation=None
    )
    ours = build("densenet121", (33, 33, 3), 7, blocks=(1, 2, 1, 1))
    _randomize(reference)
    _copy_into(ours, reference)
    # keras.applications' BatchNorm epsilon is 1.001e-5, torchvision's (ours) 1e-5: a 1e-8 difference.
    assert _relative_error(ours, reference, 33, "relu") <= 1e-3


def test_mobilenet_v2_agrees_with_keras_applications_on_odd_sizes_only():
    errors = {}
    for size in (33, 32):
        reference = keras.applications.MobileNetV2(
            input_shape=(size, size, 3), alpha=0.35, weights=None, classes=7, classifier_activation=None
        )
        ours = build("mobilenet_v2", (size, size, 3), 7, alpha=0.35)
        # Same names but for the head; Keras' BN epsilon is 1e-3 where torchvision's is 1e-5.
        for layer in ours.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.epsilon = 1e-3
        _randomize(reference)
        _copy_into(ours, reference)
        errors[size] = _relative_error(ours, reference, size, "out_relu")
    assert errors[33] <= 1e-3
    assert errors[32] > 0.1  # keras.applications pads (0, 1) on even inputs, torchvision (1, 1)


def test_keras_applications_mobilenet_h5_loads_with_its_conv_head(tmp_path):
    """A keras.applications MobileNet .h5 (legacy format, by layer name, as published) loads through
    ``build(..., weights=)``: its 1x1 Conv head ``conv_preds`` fills the Dense ``logits``."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format  # how keras.applications' files were written

    reference = keras.applications.MobileNet(
        input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=7, classifier_activation=None
    )
    _randomize(reference)
    path = tmp_path / "mobilenet_2_5_224_tf.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    ours = build("mobilenet", (32, 32, 3), 7, alpha=0.25, weights=path)
    assert ours.load_report.reinitialized == []
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(ours(images, training=False), reference(images, training=False), rtol=1e-4, atol=1e-4)
