"""Prediction that works under any number of replicas, for any number of images (including one).

Keras' ``predict`` under a strategy with R replicas fails on a batch smaller than R (a replica gets no
data). ``predict_logits`` pads the inputs to a multiple of R (with copies of the last image) and the
batch size to a multiple of R, so that every batch splits evenly, then drops the padding.
"""

from __future__ import annotations

import numpy as np


def _replicas(model) -> int:
    strategy = getattr(model, "distribute_strategy", None)
    return int(getattr(strategy, "num_replicas_in_sync", 1) or 1)


def predict_logits(model, inputs, *, batch_size: int = 256) -> np.ndarray:
    """Main-output logits ``[N, classes]`` of ``model`` on model-ready float inputs ``[N, H, W, C]``.

    Args:
        model: a Keras model (built under any strategy); a model with auxiliary heads returns its first
            output's logits.
        inputs: preprocessed images (see :func:`kerascnn.data.preprocess`), a numpy array or tensor.
        batch_size: rounded up to a multiple of the replica count.
    """
    x = np.asarray(inputs)
    n = len(x)
    if n == 0:
        return np.zeros((0, int(model.outputs[0].shape[-1])), np.float32)
    r = _replicas(model)
    pad = (-n) % r
    if pad:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    batch = max(r, -(-int(batch_size) // r) * r)
    out = model.predict(x, batch_size=batch, verbose=0)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return np.asarray(out)[:n]


def predict_images(model, spec, images, *, batch_size: int = 256) -> np.ndarray:
    """Class probabilities ``[N, classes]`` for raw uint8 images ``[N, h, w, c]`` (or one ``[h, w, c]``)."""
    import tensorflow as tf

    from kerascnn.data.spec import preprocess

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    logits = predict_logits(model, preprocess(images, spec).numpy(), batch_size=batch_size)
    return tf.nn.softmax(logits).numpy()
