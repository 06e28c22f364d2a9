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


def decode_image_fn(spec):
    """``fn(data tf.string scalar) -> uint8 [h, w, c]``: decode one PNG/JPEG/GIF/BMP at the data's size.

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

    return decode_one


def decode_images_fn(spec):
    """``fn(image_bytes tf.string [N]) -> uint8 [N, h, w, c]`` (see :func:`decode_image_fn`)."""
    import tensorflow as tf

    h, w, c = spec.image_shape
    decode_one = decode_image_fn(spec)

    def fn(image_bytes):
        return tf.map_fn(decode_one, image_bytes, fn_output_signature=tf.TensorSpec((h, w, c), tf.uint8))

    return fn


# The tf.Example features a classification request may carry: an encoded image, or raw pixels.
ENCODED_FEATURE = "image/encoded"  # bytes: PNG/JPEG/GIF/BMP (any size; converted as serving_bytes does)
PIXELS_FEATURE = "image/pixels"  # int64 list: h*w*c uint8 values in row-major [h, w, c] order


def examples_to_images_fn(spec):
    """``fn(serialized tf.Example strings [N]) -> uint8 [N, h, w, c]``.

    Each example holds ``image/encoded`` (an image file) or ``image/pixels`` (``h*w*c`` values in
    0..255); an example with neither, pixels of the wrong count or range, or an undecodable image fails
    with InvalidArgumentError (a 400 / INVALID_ARGUMENT in a server).
    """
    import tensorflow as tf

    h, w, c = spec.image_shape
    decode_one = decode_image_fn(spec)
    features = {
        ENCODED_FEATURE: tf.io.FixedLenFeature([], tf.string, default_value=""),
        PIXELS_FEATURE: tf.io.RaggedFeature(tf.int64),
    }

    def fn(serialized):
        parsed = tf.io.parse_example(serialized, features)
        encoded, pixels = parsed[ENCODED_FEATURE], parsed[PIXELS_FEATURE]

        def one(i):
            def from_pixels():
                values = pixels[i]
                checks = [
                    tf.debugging.assert_equal(
                        tf.size(values),
                        h * w * c,
                        message=f"Each tf.Example needs '{ENCODED_FEATURE}' (an image file) or '{PIXELS_FEATURE}' "
                        f"({h * w * c} values for {h}x{w}x{c} pixels)",
                    ),
                    tf.debugging.assert_less_equal(
                        tf.reduce_max(values), tf.constant(255, tf.int64), message=f"'{PIXELS_FEATURE}' above 255"
                    ),
                    tf.debugging.assert_non_negative(values, message=f"'{PIXELS_FEATURE}' below 0"),
                ]
                # Padded/cut to size, so that only the checks above can fail, whatever order ops run in.
                fitted = tf.concat([values, tf.zeros([h * w * c], tf.int64)], 0)[: h * w * c]
                with tf.control_dependencies(checks):
                    return tf.reshape(tf.cast(fitted, tf.uint8), (h, w, c))

            return tf.cond(tf.strings.length(encoded[i]) > 0, lambda: decode_one(encoded[i]), from_pixels)

        return tf.map_fn(one, tf.range(tf.shape(serialized)[0]), fn_output_signature=tf.TensorSpec((h, w, c), tf.uint8))

    return fn


def classification_fn(probabilities_of_images, examples_to_images, class_names):
    """TF Serving's classification signature: serialized tf.Examples -> every class, best first.

    ``fn(inputs string [N]) -> {"classes": string [N, K] (class names), "scores": float32 [N, K]}``.
    """
    import tensorflow as tf

    names = tf.constant(list(class_names))

    def fn(inputs):
        probabilities = probabilities_of_images(examples_to_images(inputs))["probabilities"]
        scores, order = tf.math.top_k(probabilities, k=len(class_names))
        return {"classes": tf.gather(names, order), "scores": scores}

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


def rgb_frames_to_gray(images, rounded: bool = True):
    """uint8 RGB ``[N, h, w, 3]`` -> float32 gray ``[N, h, w, 1]`` in 0..255, as training converts RGB to gray.

    The ITU-R 601 luma weights of :data:`kerascnn.data.spec.LUMA_WEIGHTS` (``tf.image.rgb_to_grayscale``),
    rounded to whole pixel values as the data pipeline does when it reads an RGB image for a grayscale
    dataset; a gray image given as three equal channels comes out unchanged. A full-integer graph skips
    the rounding (ROUND has no int8 kernel; its activations are quantized more coarsely anyway).
    """
    import tensorflow as tf

    from kerascnn.data.spec import LUMA_WEIGHTS

    x = tf.cast(images, tf.float32)
    gray = tf.reduce_sum(x * tf.constant(LUMA_WEIGHTS, tf.float32), axis=-1, keepdims=True)
    return tf.round(gray) if rounded else gray


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
