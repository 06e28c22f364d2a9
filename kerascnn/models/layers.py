"""Padding as PyTorch (and keras.applications) does it, so weights trained there give the same function here.

Keras' ``padding="same"`` puts the odd pixel of padding *after* the input (TensorFlow's rule), so a
strided layer on an even-sized input pads less before than after: a 7x7/2 convolution pads (2, 3), a
3x3/2 one (0, 1). PyTorch's ``Conv2d(padding=p)`` and ``MaxPool2d(padding=p)`` pad ``p`` on both sides.
Weights trained with one rule and run with the other see every feature map shifted by a pixel
(torchvision's ResNet-18 in Keras' "same" padding: 6-12% relative error on the logits).

``symmetric_padding`` writes PyTorch's rule as ``keras.applications`` does: an explicit
``ZeroPadding2D`` named ``<name>_pad``, then the layer with ``padding="valid"``. Where "same" already
pads symmetrically (stride 1, odd kernel) nothing is added. Zero padding before a max pooling equals
PyTorch's -inf padding only on non-negative inputs (after a ReLU), which is where these networks pool.

``ceil_mode_padding`` gives PyTorch's ``MaxPool2d(ceil_mode=True)``: the extra pixels after the input
that make the last, partial window count (torchvision's GoogLeNet pools this way).
"""

from __future__ import annotations

import math

from keras import layers


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def symmetric_padding(x, kernel_size, strides=1, *, name: str):
    """Pad ``x`` for a ``kernel_size``/``strides`` layer the way PyTorch pads ``kernel_size // 2`` on each side.

    Returns ``(x, padding)``: give ``padding`` to the Conv2D/pooling layer that follows. Stride-1 layers
    with odd kernels keep ``"same"`` (identical, no extra layer); strided ones get a ``ZeroPadding2D``
    named ``name`` and ``"valid"``. A 1x1 kernel needs no padding in either framework.

        x, padding = symmetric_padding(x, 7, 2, name="conv1_pad")
        x = layers.Conv2D(64, 7, strides=2, padding=padding, name="conv1_conv")(x)
    """
    kernel, stride = _pair(kernel_size), _pair(strides)
    if all(k == 1 for k in kernel):
        return x, "valid"
    if all(s == 1 for s in stride) and all(k % 2 == 1 for k in kernel):
        return x, "same"
    pad = tuple((k // 2, k // 2) for k in kernel)
    return layers.ZeroPadding2D(pad, name=name)(x), "valid"


def ceil_mode_padding(x, pool_size, strides, *, name: str):
    """Pad after ``x`` so a "valid" pooling counts partial last windows, as PyTorch's ``ceil_mode=True``.

    PyTorch's rule (no explicit padding): ``out = ceil((n - k) / s) + 1``, the last window starting
    inside the input. Returns ``x`` unchanged when no partial window exists at this input size.
    """
    kernel, stride = _pair(pool_size), _pair(strides)
    sizes = x.shape[1:3]
    extra = []
    for n, k, s in zip(sizes, kernel, stride):
        if n is None or n < k:
            extra.append(0)
            continue
        out = math.ceil((n - k) / s) + 1
        if (out - 1) * s >= n:  # a window may not start past the input
            out -= 1
        extra.append(max(0, (out - 1) * s + k - n))
    if not any(extra):
        return x
    return layers.ZeroPadding2D(((0, extra[0]), (0, extra[1])), name=name)(x)
