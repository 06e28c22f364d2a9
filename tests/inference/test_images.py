"""Decoding images for prediction: formats, channel conversion, resizing, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascnn.errors import DataError
from kerascnn.inference import load_image, load_images

RNG = np.random.default_rng(0)


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_grayscale_png_at_native_size_is_bit_exact(tmp_path):
    image = RNG.integers(0, 256, (8, 8), dtype=np.uint8)
    out = load_image(_save(tmp_path / "g.png", image), (8, 8, 1))
    assert out.dtype == np.uint8 and out.shape == (1, 8, 8, 1)
    np.testing.assert_array_equal(out[0, ..., 0], image)


def test_rgb_becomes_grayscale_like_tensorflow_and_back(tmp_path):
    rgb = RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    path = _save(tmp_path / "c.png", rgb)
    gray = load_image(path, (8, 8, 1))[0]
    expected = tf.image.rgb_to_grayscale(rgb).numpy()
    assert np.abs(gray.astype(int) - expected.astype(int)).max() <= 1
    np.testing.assert_array_equal(load_image(path, (8, 8, 3))[0], rgb)
    gray_file = _save(tmp_path / "g.jpg", rgb[..., 0])
    as_rgb = load_image(gray_file, (8, 8, 3))[0]
    assert as_rgb.shape == (8, 8, 3) and (as_rgb[..., 0] == as_rgb[..., 2]).all()


def test_other_sizes_are_resized_to_the_native_size(tmp_path):
    big = np.zeros((64, 48), np.uint8)
    big[:, 24:] = 255
    out = load_image(_save(tmp_path / "big.png", big), (8, 8, 1))[0, ..., 0]
    assert out.shape == (8, 8)
    assert (out[:, :3] == 0).all() and (out[:, 5:] == 255).all()


@pytest.mark.parametrize("mode, channels", [("RGBA", 4), ("LA", 2)])
def test_other_channel_counts_are_refused(tmp_path, mode, channels):
    array = RNG.integers(0, 256, (8, 8, channels), dtype=np.uint8)
    path = _save(tmp_path / "x.png", array, mode=mode)
    with pytest.raises(
        DataError, match=rf"x.png has {channels} channels \({mode}\); kerascnn takes grayscale \(1\) or RGB \(3\)"
    ):
        load_image(path, (8, 8, 1))


def test_non_images_and_truncated_files_are_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(DataError, match="notes.png is not an image kerascnn can read"):
        load_image(text, (8, 8, 1))
    good = _save(tmp_path / "ok.png", RNG.integers(0, 256, (64, 64), dtype=np.uint8))
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="cut.png is not an image kerascnn can read"):
        load_image(truncated, (8, 8, 1))
    with pytest.raises(DataError, match="No such image file"):
        load_image(tmp_path / "missing.png", (8, 8, 1))


def test_npy_arrays_one_image_or_a_batch(tmp_path):
    batch = RNG.integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    np.save(tmp_path / "batch.npy", batch)
    np.save(tmp_path / "one.npy", batch[0, ..., 0])
    np.save(tmp_path / "wide.npy", batch[0].astype(np.int16))
    out = load_images([tmp_path / "batch.npy", tmp_path / "one.npy", tmp_path / "wide.npy"], (8, 8, 1))
    assert out.shape == (7, 8, 8, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:5], batch)
    np.testing.assert_array_equal(out[5], batch[0])
    np.testing.assert_array_equal(out[6], batch[0])


def test_npy_refusals(tmp_path):
    np.save(tmp_path / "float.npy", np.random.rand(8, 8).astype(np.float32))
    with pytest.raises(DataError, match=r"float32 values in \[0\..*raw uint8 pixels 0\.\.255"):
        load_image(tmp_path / "float.npy", (8, 8, 1))
    np.save(tmp_path / "rgba.npy", np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(DataError, match="has 4 channels"):
        load_image(tmp_path / "rgba.npy", (8, 8, 1))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="objects.npy is not a readable .npy array"):
        load_image(tmp_path / "objects.npy", (8, 8, 1))
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY junk")
    with pytest.raises(DataError, match="junk.npy is not a readable .npy array"):
        load_image(tmp_path / "junk.npy", (8, 8, 1))
