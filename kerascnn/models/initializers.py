"""Weight initialization as a hyperparameter of every model: ``kernel_initializer`` and ``bias_initializer``.

Every registered builder takes both (``build("vgg11", kernel_initializer="he_normal")``): any Keras
initializer name (``"he_normal"``, ``"glorot_uniform"``, ``"lecun_normal"``, ``"orthogonal"``, ...) or a
Keras initializer config (``{"class_name": "RandomNormal", "config": {"stddev": 0.01}}``). The default is
Keras' ``glorot_uniform`` kernels and ``zeros`` biases, unless the family declares its own in its
``variant(...)`` calls (``variant(build_x, "x", kernel_initializer="he_normal")``), beside its builder.

Implemented once, the way torchvision's ``ResNet.__init__`` does it: the family builder builds the model
as always, then every layer with a kernel (``Conv2D``, ``Dense``; ``DepthwiseConv2D``'s and
``SeparableConv2D``'s depthwise and pointwise kernels) draws it again from the chosen initializer and
records that initializer in its config, so ``kerascnn summary``, ``config.json`` and a saved ``.keras``
file all show it. BatchNorm's scale and offset keep their ones and zeros. Fans are PyTorch's: a grouped
``Conv2D`` kernel already has ``c_in / groups`` input channels; a depthwise kernel is drawn with fan-in
``k * k`` (see ``_draw``).
"""

from __future__ import annotations

import json

from kerascnn.errors import HyperparameterError

# Keras' own defaults for every Conv2D/Dense: what all families use unless a variant declares otherwise.
INITIALIZER_DEFAULTS = {"kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}

# hyperparameter -> (layer attribute holding the initializer, layer attribute holding the weight)
_TARGETS = {
    # Conv2D/Dense; DepthwiseConv2D (its kernel is drawn by depthwise_initializer); SeparableConv2D.
    "kernel_initializer": (
        ("kernel_initializer", "kernel"),
        ("depthwise_initializer", "kernel"),
        ("depthwise_initializer", "depthwise_kernel"),
        ("pointwise_initializer", "pointwise_kernel"),
    ),
    "bias_initializer": (("bias_initializer", "bias"),),
}


def get_initializer(name: str, value):
    """A fresh ``keras.initializers.Initializer`` for ``value``; a one-line HyperparameterError otherwise."""
    import keras

    if isinstance(value, (list, tuple)) or value is None or isinstance(value, bool):
        value = "__invalid__"
    try:
        if isinstance(value, dict):
            return keras.initializers.deserialize(json.loads(json.dumps(value)))
        return keras.initializers.get(value)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise HyperparameterError(
            f"{name} must be a Keras initializer name (e.g. 'he_normal', 'glorot_uniform', 'lecun_normal', "
            f"'orthogonal') or an initializer config. Received: {name}={value!r}"
        ) from None


def _same(a, b) -> bool:
    import keras

    def key(init):
        return json.dumps(keras.initializers.serialize(init), sort_keys=True, default=str)

    return key(a) == key(b)


def describe(value) -> str:
    """A short name for an initializer value: ``he_normal``, or ``RandomNormal(mean=0.0, stddev=0.01)``."""
    if isinstance(value, str):
        return value
    import keras

    init = value if isinstance(value, keras.initializers.Initializer) else get_initializer("initializer", value)
    # The seed is noise here; Glorot/He/... have no other setting worth printing.
    config = {k: v for k, v in init.get_config().items() if v is not None and k != "seed"}
    if set(config) <= {"scale", "mode", "distribution"} and type(init).__name__ != "VarianceScaling":
        config = {}
    return type(init).__name__ + (f"({', '.join(f'{k}={v}' for k, v in config.items())})" if config else "")


def split_initializers(hyperparameters: dict, accepted_by_builder) -> tuple[dict, dict]:
    """(the initializer hyperparameters the family builder does not take itself, the rest)."""
    chosen = {k: v for k, v in hyperparameters.items() if k in INITIALIZER_DEFAULTS and k not in accepted_by_builder}
    rest = {k: v for k, v in hyperparameters.items() if k not in chosen}
    return chosen, rest


def _layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # a nested model or Sequential
            yield from _layers(layer)


def _draw(init, weight, *, depthwise: bool):
    """New values for ``weight`` from ``init``.

    A depthwise kernel ``(k, k, channels, multiplier)`` connects each output to the k*k pixels of ONE
    input channel, but Keras' fan computation counts all ``channels`` (He's std would come out
    sqrt(channels) times too small). It is drawn as ``(k, k, 1, channels * multiplier)``, whose fan-in is
    the true k*k (PyTorch counts a grouped convolution's fans the same way), and reshaped.
    """
    import keras

    shape = tuple(weight.shape)
    if depthwise and len(shape) == 4:
        values = init((shape[0], shape[1], 1, shape[2] * shape[3]), dtype=weight.dtype)
        return keras.ops.reshape(values, shape)
    return init(shape, dtype=weight.dtype)


def apply_initializers(model, chosen: dict):
    """Draw every kernel/bias of ``model`` again from ``chosen`` where it differs from Keras' default.

    Args:
        model: a freshly built model whose layers use Keras' default initializers (INITIALIZER_DEFAULTS).
        chosen: ``{"kernel_initializer": value, "bias_initializer": value}`` (either may be missing).
    Returns:
        ``model`` (the same object).
    """
    import keras

    # kerascnn.summary builds without drawing any weights (a StatelessScope): record the initializers only.
    from kerascnn.compat import in_stateless_scope

    drawing_skipped = in_stateless_scope()
    for hyperparameter, value in chosen.items():
        wanted = get_initializer(hyperparameter, value)
        if _same(wanted, get_initializer(hyperparameter, INITIALIZER_DEFAULTS[hyperparameter])):
            continue  # the layers were built so: keep their weights (and the random stream) as they are
        for layer in _layers(model):
            for init_attribute, weight_attribute in _TARGETS[hyperparameter]:
                weight = getattr(layer, weight_attribute, None)
                if not isinstance(weight, keras.Variable) or not hasattr(layer, init_attribute):
                    continue
                # A fresh instance per layer: an unseeded initializer then draws new numbers for each.
                init = get_initializer(hyperparameter, value)
                setattr(layer, init_attribute, init)
                if not drawing_skipped:
                    weight.assign(_draw(init, weight, depthwise=init_attribute == "depthwise_initializer"))
    return model
