import keras
import numpy as np
import pytest
import torch

from kerascnn.models.layers import ceil_mode_padding, symmetric_padding


@pytest.mark.parametrize("size", [8, 9])  # even sizes are where Keras' "same" and PyTorch differ
@pytest.mark.parametrize("kernel, stride", [(7, 2), (3, 2), (3, 1), (1, 2)])
def test_symmetric_padding_gives_pytorchs_convolution(size, kernel, stride):
    inputs = keras.Input((size, size, 2))
    x, padding = symmetric_padding(inputs, kernel, stride, name="pad")
    outputs = keras.layers.Conv2D(3, kernel, strides=stride, padding=padding, use_bias=False, name="conv")(x)
    model = keras.Model(inputs, outputs)
    reference = torch.nn.Conv2d(2, 3, kernel, stride=stride, padding=kernel // 2, bias=False)
    model.get_layer("conv").set_weights([reference.weight.detach().numpy().transpose(2, 3, 1, 0)])
    images = np.random.default_rng(0).normal(size=(1, size, size, 2)).astype("float32")
    expected = reference(torch.from_numpy(images.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(model(images), expected, atol=1e-5)
    # Stride-1 odd kernels keep "same" and add no layer: layer names stay as they were.
    assert (padding == "same") == (stride == 1 and kernel > 1)


@pytest.mark.parametrize("pool, stride", [(3, 2), (2, 2), (3, 1)])
def test_ceil_mode_padding_gives_pytorchs_ceil_mode_pooling(pool, stride):
    for size in (3, 4, 5, 14, 15, 56):
        _check_ceil_mode(size, pool, stride)


def _check_ceil_mode(size, pool, stride):
    inputs = keras.Input((size, size, 1))
    x = ceil_mode_padding(inputs, pool, stride, name="pad")
    model = keras.Model(inputs, keras.layers.MaxPooling2D(pool, strides=stride)(x))
    images = np.random.default_rng(1).uniform(0, 1, (1, size, size, 1)).astype("float32")  # >= 0, as after a ReLU
    expected = (
        torch.nn.functional.max_pool2d(torch.from_numpy(images.transpose(0, 3, 1, 2)), pool, stride, ceil_mode=True)
        .numpy()
        .transpose(0, 2, 3, 1)
    )
    np.testing.assert_array_equal(model(images), expected)
