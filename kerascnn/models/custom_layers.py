"""Layers the classic papers used that Keras does not ship, written to save, load and convert.

Each is registered with ``keras.saving.register_keras_serializable`` so a ``.keras`` file that contains
it loads again once ``kerascnn.models`` is imported, and each maps to a TFLite builtin op (no Lambda).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerascnn")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (AlexNet, section 3.3; GoogLeNet).

    ``b = a / (bias + alpha * sum(a_j^2 over depth_radius neighbours on each side))^beta``, computed by
    ``tf.nn.local_response_normalization`` (TFLite's LOCAL_RESPONSE_NORMALIZATION). The defaults are
    AlexNet's k=2, n=5 (depth_radius=2), alpha=1e-4, beta=0.75. It mixes channels only, so it does not
    change the spatial receptive field.
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        return tf.nn.local_response_normalization(
            inputs, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
