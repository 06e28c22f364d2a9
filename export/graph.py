"""The functions that exported graphs run: raw uint8 images in, class probabilities out.

Every export format wraps the trained Keras model in the same two steps, so a server or a device feeds
the images the data came as (uint8 ``[N, h, w, c]`` at the DataSpec's ``image_shape``):

    images uint8 [N, h, w, c] -> preprocess (DataSpec) -> model -> logits [N, K] -> softmax [N, K]

The SavedModel uses :func:`kerascnn.data.spec.preprocess` itself. TFLite has no kernel for TensorFlow's
antialiased resize (``ScaleAndTranslate``), so :func:`tflite_preprocess` computes the same numbers with
TFLite builtins: plain bilinear resize when the model's input is larger (identical to the antialiased
one when upsampling) and, when it is smaller, the antialiased resize written as two constant matrix
products (resizing is linear and separable; the matrices are taken from ``tf.image.resize`` itself).
"""

from __future__ import annotations

import numpy as np


def inference_model(model):
    """The model with only its main output (auxiliary heads, e.g. GoogLeNet's, never reach an export)."""
    import keras

    if len(model.outputs) > 1:
        return keras.Model(model.inputs, model.outputs[0], name=model.name)
    return model


def probabilities_fn(model, preprocess_fn):
    """``fn(images_uint8) -> {"probabilities": float32 [N, K], "classes": int64 [N]}``."""
    import tensorflow as tf

    def fn(images):
        logits = model(preprocess_fn(images), training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1, output_type=tf.int64)}

    return fn


def decode_images_fn(spec):
    """``fn(image_bytes tf.string [N]) -> uint8 [N, h, w, c]``: decode PNG/JPEG/GIF/BMP at the data's size.

    Channels are converted by the decoder (grayscale<->RGB, alpha dropped); an image of another size is
    resized (antialiased bilinear) to the native ``image_shape`` first, the way ``kerascnn predict`` does.
    """
    import tensorflow as tf

    h, w, c = spec.image_shape

    def decode_one(data):
        image = tf.io.decode_image(data, channels=c, expand_animations=False)  # uint8 [?, ?, c]
        size = tf.shape(image)[:2]

        def resized():
            x = tf.image.resize(tf.cast(image, tf.float32), (h, w), method="bilinear", antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)

        image = tf.cond(tf.reduce_all(tf.equal(size, [h, w])), lambda: image, resized)
        return tf.ensure_shape(image, (h, w, c))

    def fn(image_bytes):
        return tf.map_fn(decode_one, image_bytes, fn_output_signature=tf.TensorSpec((h, w, c), tf.uint8))

    return fn


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """float32 ``[n_out, n_in]`` matrix ``R`` with ``resize(x) == R @ x`` along one axis.

    Taken from ``tf.image.resize(..., antialias=True)`` applied to the unit vectors, so it is exactly the
    resize :func:`kerascnn.data.spec.preprocess` does, whatever the direction.
    """
    import tensorflow as tf

    unit_images = tf.reshape(tf.eye(n_in), [n_in, n_in, 1, 1])  # n_in images of height n_in, width 1
    columns = tf.image.resize(unit_images, (n_out, 1), method="bilinear", antialias=True)
    return tf.transpose(tf.reshape(columns, [n_in, n_out])).numpy()


def tflite_preprocess(images, spec):
    """:func:`kerascnn.data.spec.preprocess` made of TFLite builtin ops (same numbers, to float rounding)."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32) / 255.0
    in_c, out_c = spec.image_shape[2], spec.input_shape[2]
    # Grayscale -> RGB needs no op: the normalization below broadcasts 1 channel against 3 means.
    # (grayscale_to_rgb is a TILE, which XNNPACK cannot run quantized.)
    if in_c == 3 and out_c == 1:
        x = tf.image.rgb_to_grayscale(x)
    (h, w), (H, W) = spec.image_shape[:2], spec.input_shape[:2]
    if (h, w) != (H, W):
        if H >= h and W >= w:
            # Upsampling: the antialiasing filter is a no-op, and RESIZE_BILINEAR is a TFLite builtin.
            x = tf.image.resize(x, (H, W), method="bilinear", antialias=False)
        else:
            rows = tf.constant(resize_matrix(h, H))  # [H, h]
            cols = tf.constant(resize_matrix(w, W))  # [W, w]
            x = tf.einsum("Hh,nhwc,Ww->nHWc", rows, x, cols)
    if spec.channel_order == "BGR" and in_c == 3 and out_c == 3:  # (gray broadcast to BGR is still gray)
        x = tf.reverse(x, axis=[-1])
    mean = tf.constant(spec.mean, tf.float32)
    std = tf.constant(spec.std, tf.float32)
    return (x - mean) / std  # [N, H, W, out_c]
