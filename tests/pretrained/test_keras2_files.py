"""keras.applications' DenseNet files, written by Keras 2: layers "conv1/conv", "conv1/bn" and a head "fc1000".

keras-applications' densenet.py named its stem and head so (Keras 3 forbids the slash and says "conv1_conv",
"predictions"), and the published .h5 files keep those names. The file here is keras.applications' DenseNet
(random weights) written in that layout by hand with h5py, as Keras 2's ``save_weights`` nested it.
"""

from __future__ import annotations

import h5py
import keras
import numpy as np

from kerascnn.models import build

KERAS2_NAMES = {"conv1_conv": "conv1/conv", "conv1_bn": "conv1/bn", "predictions": "fc1000"}


def _write_keras2_h5(model, path):
    with h5py.File(path, "w") as f:
        names = [KERAS2_NAMES.get(layer.name, layer.name) for layer in model.layers]
        f.attrs["layer_names"] = [n.encode() for n in names]
        f.attrs["backend"] = b"tensorflow"
        for layer, name in zip(model.layers, names):
            group = f.require_group(name)
            weight_names = [f"{name}/{w.name}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in weight_names]
            for weight_name, value in zip(weight_names, layer.get_weights()):
                group.create_dataset(weight_name, data=value)


def test_keras_applications_densenet_h5_with_keras2_names(tmp_path):
    from keras.src.applications import densenet  # the public module has only the 121/169/201 constructors

    keras.utils.set_random_seed(0)
    reference = densenet.DenseNet(
        [1, 2, 1, 1], input_shape=(33, 33, 3), weights=None, classes=1000, classifier_activation=None
    )
    path = tmp_path / "densenet_weights_tf_dim_ordering_tf_kernels.h5"
    _write_keras2_h5(reference, path)
    model = build("densenet121", (33, 33, 3), 1000, blocks=(1, 2, 1, 1), weights=path)
    assert model.load_report.reinitialized == [] and "conv1_conv" in model.load_report.loaded
    images = np.random.default_rng(0).normal(size=(2, 33, 33, 3)).astype("float32")
    expected = np.asarray(reference(images, training=False))
    got = np.asarray(model(images, training=False))
    # BatchNorm epsilon: keras.applications' 1.001e-5, the zoo's (torchvision's) 1e-5.
    assert np.abs(got - expected).max() / np.abs(expected).max() <= 1e-3
