"""Which layer an input is too small for, and the smallest input that works.

Keras's convolutions and pools raise "Computed output size would be zero or negative" without saying
which layer of the model failed or what would work; other layers may not check at all, so ``build``
also checks every layer's output with :func:`first_empty_layer`. :func:`describe_too_small` builds
the same model (same hyperparameters, no weight initialization) at a size that works, replays the
layer shapes at the size asked for with each layer's own ``compute_output_shape``, and bisects for the
smallest square input whose every layer is non-empty.
"""

from __future__ import annotations

import keras

# Square sizes tried to find an input that works when even the default size does not.
_LARGEST_SIZE = 4096


def first_empty_layer(model: keras.Model):
    """The first layer (in graph order) with an empty output, as ``(layer, output_shape)``, or None."""
    for layer in model.layers:
        for tensor in _as_list(layer.output):
            if _is_empty(tensor.shape):
                return layer, tuple(tensor.shape[1:])
    return None


def describe_too_small(name: str, shape, num_classes: int, hyperparameters: dict) -> str:
    """One line naming the first layer whose output would be empty at ``shape`` and the smallest
    square input (same channels) that works, e.g. for ``alexnet`` at 32x32x1::

        Input 32x32x1 is too small for alexnet: layer 'pool2' (MaxPooling2D) would output 0x0x256.
        The smallest input that works is 67x67x1 (default 224x224x3).
    """
    from kerascnn.models.registry import get_model_info

    h, w, c = (int(d) for d in shape)
    default = get_model_info(name).default_input_shape
    received = f"Input {h}x{w}x{c} is too small for {name}"
    reference = _reference_model(name, (h, w, c), num_classes, hyperparameters)
    if reference is None:
        return f"{received} (with these hyperparameters no input up to {_LARGEST_SIZE}x{_LARGEST_SIZE} works)."
    culprit = replay_shapes(reference, (h, w, c))
    where = (
        ""
        if culprit is None
        else f": layer {culprit[0].name!r} ({type(culprit[0]).__name__}) would output {culprit[1]}"
    )
    smallest = smallest_square_input(reference, c)
    return (
        f"{received}{where}. The smallest input that works is {smallest}x{smallest}x{c} "
        f"(default {'x'.join(map(str, default))})."
    )


def replay_shapes(model: keras.Model, input_shape):
    """Propagate ``input_shape`` (H, W, C) through ``model``'s layers with their ``compute_output_shape``.

    Returns the first layer whose output would be empty or invalid as ``(layer, description)``, or
    None when every layer has a non-empty output. ``model`` is any build of the same architecture.
    """
    shapes: dict[int, tuple] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            out_shapes = [(None, *input_shape)]
        else:
            in_shapes = [shapes[id(t)] for t in _as_list(layer.input)]
            try:
                result = layer.compute_output_shape(in_shapes if len(in_shapes) > 1 else in_shapes[0])
            except (ValueError, TypeError):  # Keras refuses sizes that would be negative
                return layer, _too_small_for_window(layer, in_shapes[0])
            out_shapes = _shape_list(result)
        for tensor, out in zip(_as_list(layer.output), out_shapes):
            if _is_empty(out):
                return layer, "x".join(str(max(0, d)) for d in out[1:])
            shapes[id(tensor)] = tuple(out)
    return None


def smallest_square_input(model: keras.Model, channels: int, largest: int | None = None) -> int:
    """The smallest S such that an SxSx``channels`` input gives every layer a non-empty output.

    Output sizes never shrink when the input grows, so bisection finds it.
    """
    lo, hi = 1, largest or int(model.inputs[0].shape[1])
    while lo < hi:
        mid = (lo + hi) // 2
        if replay_shapes(model, (mid, mid, channels)) is None:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _reference_model(name, shape, num_classes, hyperparameters):
    """The model built (without initializing weights) at the first size that works, or None."""
    from kerascnn.compat import uninitialized_variables
    from kerascnn.models.registry import get_model_info

    h, w, c = shape
    default = get_model_info(name).default_input_shape
    size = max(default[0], default[1], h, w)
    while size <= _LARGEST_SIZE:
        try:
            with uninitialized_variables():
                model = get_model_info(name).builder((size, size, c), num_classes, **hyperparameters)
        except ValueError:
            model = None
        if model is not None and first_empty_layer(model) is None:
            return model
        size *= 2
    return None


def _too_small_for_window(layer, in_shape) -> str:
    window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    got = "x".join(str(d) for d in in_shape[1:])
    if window:
        return f"an empty map: its {'x'.join(map(str, window))} window is larger than its {got} input"
    return f"an empty map from its {got} input"


def _is_empty(shape) -> bool:
    return any(d is not None and d <= 0 for d in tuple(shape)[1:])


def _shape_list(result) -> list:
    # compute_output_shape returns one shape tuple, or a list/tuple of them for several outputs.
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], (list, tuple)):
        return [tuple(s) for s in result]
    return [tuple(result)]


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]
