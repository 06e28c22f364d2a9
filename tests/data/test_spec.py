"""The preprocessing facts of kerascnn.data.spec agree with the TensorFlow ops that preprocess uses."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerascnn.data.spec import LUMA_WEIGHTS


def test_luma_weights_are_those_of_tf_rgb_to_grayscale():
    rgb = np.random.default_rng(0).uniform(0, 1, (16, 3)).astype(np.float32)
    expected = tf.image.rgb_to_grayscale(rgb[:, None, None, :]).numpy().reshape(-1)
    np.testing.assert_allclose(rgb @ np.array(LUMA_WEIGHTS, np.float32), expected, rtol=1e-6, atol=1e-6)
