"""EfficientNet: compound scaling, stochastic depth, MACs, and keras.applications' EfficientNet given its weights.

torchvision parity (the default padding and epsilon) is tests/pretrained/test_torchvision_parity.py; the
published parameter counts (torchvision B0-B3, keras.applications B0) are registry facts checked in
tests/models/test_zoo.py.
"""

import functools

import keras
import numpy as np
import pytest

from kerascnn.models import HyperparameterError, build
from kerascnn.models.efficientnet import KERAS_APPLICATIONS_EFFICIENTNET
from kerascnn.models.pretrained.files import WeightsError
from kerascnn.summary import build_uninitialized, summarize

# keras.applications' block table, three stages (every op of the seven: an unexpanded block, strided 3x3 and
# 5x5 depthwise convs, a stride-1 residual block), and the same table in the zoo's (expansion, kernel,
# stride, in, out, blocks) form.
KERAS_BLOCKS = [
    {
        "kernel_size": 3,
        "repeats": 1,
        "filters_in": 32,
        "filters_out": 16,
        "expand_ratio": 1,
        "id_skip": True,
        "strides": 1,
        "se_ratio": 0.25,
    },
    {
        "kernel_size": 3,
        "repeats": 2,
        "filters_in": 16,
        "filters_out": 24,
        "expand_ratio": 6,
        "id_skip": True,
        "strides": 2,
        "se_ratio": 0.25,
    },
    {
        "kernel_size": 5,
        "repeats": 2,
        "filters_in": 24,
        "filters_out": 40,
        "expand_ratio": 6,
        "id_skip": True,
        "strides": 2,
        "se_ratio": 0.25,
    },
]
ZOO_STAGES = [
    (b["expand_ratio"], b["kernel_size"], b["strides"], b["filters_in"], b["filters_out"], b["repeats"])
    for b in KERAS_BLOCKS
]
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


@functools.cache
def _b0():
    """EfficientNet-B0 at 224x224x3, 1000 classes, without weight initialization (read only, shared)."""
    return build_uninitialized("efficientnet_b0", (224, 224, 3), 1000)


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shapes = [w.shape for w in layer.get_weights()]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, shapes[0]),
                    rng.normal(0, 0.1, shapes[1]),
                    rng.normal(0, 0.1, shapes[2]),
                    rng.uniform(0.5, 1.5, shapes[3]),
                ]
            )
        elif layer.weights and not isinstance(layer, keras.layers.Normalization):
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


def test_padding_same_and_keras_epsilon_compute_keras_applications_efficientnet():
    """keras.applications normalizes inside the model (Rescaling + Normalization); the zoo model, given the
    normalized image, computes the same function with ``padding="same", bn_epsilon=1e-3``. With the
    default (PyTorch's symmetric) padding it does not at an even input size, where TensorFlow's "same"
    pads strided layers one pixel less before than after."""
    from keras.src.applications.efficientnet import EfficientNet

    size = 32

    reference = EfficientNet(
        0.5,
        1.0,
        size,
        blocks_args=KERAS_BLOCKS,
        weights=None,
        input_shape=(size, size, 3),
        classes=7,
        classifier_activation=None,
    )
    ours = build(
        "efficientnet_b0", (size, size, 3), 7, width_coefficient=0.5, stages=ZOO_STAGES, padding="same", bn_epsilon=1e-3
    )
    symmetric = build("efficientnet_b0", (size, size, 3), 7, width_coefficient=0.5, stages=ZOO_STAGES, bn_epsilon=1e-3)
    _randomize(reference)
    normalization = next(layer for layer in reference.layers if isinstance(layer, keras.layers.Normalization))
    normalization.set_weights([MEAN, STD**2, np.array(0)])
    normalization.finalize_state()  # the layer reads its statistics from here, not from its variables
    copied = 0
    for layer in reference.layers:
        if layer.weights and layer is not normalization:
            name = "logits" if layer.name == "predictions" else layer.name
            ours.get_layer(name).set_weights(layer.get_weights())
            symmetric.get_layer(name).set_weights(layer.get_weights())
            copied += 1
    assert copied == sum(1 for layer in ours.layers if layer.weights)

    pixels = np.random.default_rng(1).uniform(0, 255, (2, size, size, 3)).astype("float32")
    normalized = ((pixels / 255 - MEAN) / STD).astype("float32")
    features = "top_activation"  # the last map: with random weights the pooled logits hardly depend on the image
    expected = np.asarray(keras.Model(reference.inputs[0], reference.get_layer(features).output)(pixels))
    got = np.asarray(keras.Model(ours.inputs[0], ours.get_layer(features).output)(normalized))
    assert expected.std() > 1e-3
    assert np.abs(got - expected).max() / expected.std() <= 1e-3
    np.testing.assert_allclose(ours(normalized), reference(pixels), rtol=1e-3, atol=1e-4)
    shifted = np.asarray(keras.Model(symmetric.inputs[0], symmetric.get_layer(features).output)(normalized))
    assert np.abs(shifted - expected).max() / expected.std() > 0.1


def test_keras_applications_imagenet_preprocessing_divides_by_std_to_the_1_5():
    # Its ImageNet weights see (x / 255 - mean) / std / sqrt(std): one standard deviation for the data spec.
    np.testing.assert_allclose(KERAS_APPLICATIONS_EFFICIENTNET["std"], STD**1.5)
    assert KERAS_APPLICATIONS_EFFICIENTNET["mean"] == list(MEAN)


def test_compound_scaling_widths_and_depths():
    b0 = _b0()
    b3 = build_uninitialized("efficientnet_b3", num_classes=10)
    assert tuple(b3.inputs[0].shape) == (None, 300, 300, 3)
    # B3: widths x1.2 rounded to multiples of 8 (stem 32 -> 40, top 1280 -> 1536), stage 6 has ceil(4 x 1.4) = 6
    # blocks (block6a .. block6f).
    assert b3.get_layer("stem_conv").output.shape[-1] == 40 and b3.get_layer("top_conv").output.shape[-1] == 1536
    assert "block6f_dwconv" in {layer.name for layer in b3.layers}
    assert "block6e_dwconv" not in {layer.name for layer in b0.layers}
    assert b3.get_layer("top_dropout").rate == 0.3 and b0.get_layer("top_dropout").rate == 0.2


def test_stochastic_depth_grows_with_depth_and_drops_whole_examples():
    model = _b0()
    drops = [layer for layer in model.layers if layer.name.endswith("_drop")]
    # 16 blocks; the 9 stride-1 blocks with equal widths drop their branch with probability 0.2 * i / 16.
    assert [round(layer.rate * 16 / 0.2) for layer in drops] == [2, 4, 6, 7, 9, 10, 12, 13, 14]
    assert all(tuple(layer.noise_shape) == (None, 1, 1, 1) for layer in drops)
    branch = np.ones((64, 4, 4, 8), "float32")
    drop = keras.layers.Dropout.from_config(drops[-1].get_config())  # a fresh copy has its random state
    out = np.asarray(drop(branch, training=True))
    per_example = out.reshape(64, -1)
    # Each example's branch is either dropped entirely or kept entirely (scaled by 1 / (1 - rate)).
    assert np.all((per_example == 0).all(axis=1) | np.isclose(per_example, 1 / (1 - drops[-1].rate)).all(axis=1))
    assert (per_example == 0).all(axis=1).any()


def test_macs_at_224_are_the_published_ones():
    summary = summarize(_b0())
    assert abs(summary.total_macs - 0.39e9) / 0.39e9 <= 0.02
    dw = summary.layer("block3a_dwconv")  # 5x5/2 depthwise on 144 channels: 56x56 -> 28x28
    assert dw.output_shape == (28, 28, 144) and dw.macs == 28 * 28 * 144 * 25 and dw.groups == 144


@pytest.mark.parametrize(
    "hp, message",
    [
        ({"padding": "valid"}, "padding must be one of ('symmetric', 'same')"),
        ({"width_coefficient": 0}, "width_coefficient must be a number greater than 0"),
        ({"drop_connect_rate": 1.5}, "drop_connect_rate must be a number in [0, 1)"),
        ({"stages": [(6, 3, 2, 16, 24)]}, "stages must be a list of (expansion, kernel, stride"),
    ],
)
def test_bad_hyperparameters_are_one_line_errors(hp, message):
    with pytest.raises(HyperparameterError) as info:
        build("efficientnet_b0", (32, 32, 1), **hp)
    assert message in str(info.value) and "\n" not in str(info.value)


def _keras_applications_file(tmp_path, size=32, classes=7, normalization=(MEAN, STD**2)):
    """keras.applications' EfficientNet (B0's first two stages at half width, random weights) and its
    weights saved as keras.applications publishes them: a legacy HDF5 file by layer name, whose
    Normalization layer holds ImageNet's mean and variance."""
    import h5py
    from keras.src.applications.efficientnet import EfficientNet
    from keras.src.legacy.saving import legacy_h5_format

    reference = EfficientNet(
        0.5,
        1.0,
        size,
        blocks_args=KERAS_BLOCKS,
        weights=None,
        input_shape=(size, size, 3),
        classes=classes,
        classifier_activation=None,
    )
    _randomize(reference)
    norm = next(layer for layer in reference.layers if isinstance(layer, keras.layers.Normalization))
    norm.set_weights([*normalization, np.array(0)])
    norm.finalize_state()
    path = tmp_path / "efficientnetb0.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    return reference, path


def test_keras_applications_efficientnet_files_load_with_their_normalization_as_preprocessing(tmp_path):
    """The file's input Normalization is checked, not loaded: the data preprocessing these weights get does
    it, and the zoo model then computes keras.applications' ImageNet EfficientNet (which also divides by the
    square root of the standard deviation after normalizing)."""
    from kerascnn.data.spec import DataSpec, preprocess

    size = 32
    reference, path = _keras_applications_file(tmp_path, size)
    common = dict(width_coefficient=0.5, stages=ZOO_STAGES)
    with pytest.raises(WeightsError, match="padding='same'"):  # PyTorch's padding: another function
        build("efficientnet_b0", (size, size, 3), 7, **common, weights=path)
    model = build("efficientnet_b0", (size, size, 3), 7, **common, padding="same", weights=path)
    report = model.load_report
    assert report.preprocessing == KERAS_APPLICATIONS_EFFICIENTNET and report.reinitialized == []
    (skipped,) = report.skipped  # "normalization" or "normalization_N", as Keras numbered it
    assert skipped.startswith("normalization") and "done by the data preprocessing" in skipped
    batch_norms = [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert report.adjusted == [f"{name}: BatchNorm epsilon 1e-05 -> 0.001" for name in batch_norms]

    pixels = np.random.default_rng(1).uniform(0, 255, (2, size, size, 3)).astype("float32")
    plain = DataSpec("pixels", [str(i) for i in range(7)], (size, size, 3), (size, size, 3), [0.0] * 3, [1.0] * 3)
    spec = plain.with_pretrained_preprocessing(report.preprocessing)  # what fit and predict use
    got = np.asarray(model(preprocess(pixels, spec)))
    # keras.applications with weights="imagenet" rescales the normalized image by 1/sqrt(std); the reference
    # (weights=None) computes the same on pixels moved to where its plain normalization lands there.
    moved = 255 * (MEAN + (pixels / 255 - MEAN) / np.sqrt(STD))
    expected = np.asarray(reference(moved.astype("float32")))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_a_keras_file_normalizing_with_other_statistics_is_refused(tmp_path):
    _, path = _keras_applications_file(tmp_path, normalization=(np.zeros(3), np.ones(3)))
    with pytest.raises(WeightsError, match="normalizes its input with mean \\[0.0, 0.0, 0.0\\]"):
        build("efficientnet_b0", (32, 32, 3), 7, width_coefficient=0.5, stages=ZOO_STAGES, padding="same", weights=path)
