"""The functions inside exported graphs compute exactly what training computed."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascnn.data.spec import DataSpec, preprocess
from kerascnn.export.graph import decode_images_fn, inference_model, resize_matrix, tflite_preprocess


@pytest.mark.parametrize(
    "image_shape, input_shape, channel_order",
    [
        ((8, 8, 1), (28, 28, 1), "RGB"),  # digits -> LeNet: upsampling
        ((28, 28, 1), (28, 28, 1), "RGB"),  # MNIST -> LeNet: nothing to resize
        ((32, 32, 3), (20, 20, 3), "RGB"),  # downsampling: antialiased, as a matrix product
        ((10, 7, 3), (5, 21, 1), "RGB"),  # down in one axis, up in the other, RGB -> gray
        ((28, 28, 1), (67, 67, 3), "RGB"),  # MNIST -> AlexNet: gray -> RGB
        ((32, 32, 3), (32, 32, 3), "BGR"),  # keras.applications' caffe weights: channels reversed
        ((28, 28, 1), (32, 32, 3), "BGR"),  # gray -> BGR
    ],
)
def test_tflite_preprocess_equals_training_preprocess(image_shape, input_shape, channel_order):
    c = input_shape[2]
    spec = DataSpec(
        "t", ["a", "b"], image_shape, input_shape, [0.2, 0.3, 0.4][:c], [0.5, 0.6, 0.7][:c], channel_order=channel_order
    )
    images = np.random.default_rng(0).integers(0, 256, (3, *image_shape), dtype=np.uint8)
    expected = preprocess(images, spec).numpy()
    got = tflite_preprocess(tf.constant(images), spec).numpy()
    assert got.shape == expected.shape == (3, *input_shape)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_resize_matrix_rows_are_interpolation_weights():
    for n_in, n_out in [(8, 28), (32, 20), (7, 7)]:
        r = resize_matrix(n_in, n_out)
        assert r.shape == (n_out, n_in)
        np.testing.assert_allclose(r.sum(axis=1), 1.0, atol=1e-6)
        assert (r >= -1e-7).all()


def _png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_images_fn_gives_native_uint8_images():
    spec = DataSpec("t", ["a", "b"], (8, 8, 1), (28, 28, 1), [0.5], [0.5])
    rng = np.random.default_rng(1)
    native = rng.integers(0, 256, (8, 8, 1), dtype=np.uint8)
    rgb_large = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    out = decode_images_fn(spec)(tf.constant([_png(native), _png(rgb_large)])).numpy()
    assert out.dtype == np.uint8 and out.shape == (2, 8, 8, 1)
    np.testing.assert_array_equal(out[0], native)  # lossless PNG at the native size: bit exact
    gray = tf.image.rgb_to_grayscale(rgb_large).numpy().astype(np.float32)
    expected = tf.image.resize(gray, (8, 8), antialias=True).numpy()
    assert np.abs(out[1].astype(np.float32) - expected).max() <= 1.5  # decoder's integer luma + rounding


def test_inference_model_keeps_only_the_main_output():
    inputs = keras.Input((4,))
    main = keras.layers.Dense(3, name="main")(inputs)
    aux = keras.layers.Dense(3, name="aux")(inputs)
    model = keras.Model(inputs, [main, aux])
    single = inference_model(model)
    assert len(single.outputs) == 1
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(single(x), model(x)[0])
    assert inference_model(single) is single
