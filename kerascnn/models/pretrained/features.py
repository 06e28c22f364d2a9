"""Feature extractors: a zoo model without its classifier, as keras.applications' ``include_top=False``.

The classifier ("top") is everything between the last feature map (the last 4-D tensor on the way to the
output) and the logits: VGG's Flatten and fc1/fc2, a ResNet's global pooling and ``logits``. Cutting
there works for every family without a list of layer names, and ``pooling`` adds what keras.applications
adds: nothing (the 4-D map), ``"avg"`` or ``"max"`` (global pooling to one vector per image).
"""

from __future__ import annotations

import keras

from kerascnn.errors import KerasCNNError

POOLINGS = (None, "avg", "max")


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _top_path(model) -> tuple[object, list]:
    """``(feature map tensor, top layers from the output back)`` of ``model``'s main output."""
    tensor, top = model.outputs[0], []
    while len(tensor.shape) != 4:
        layer = _producer(tensor)
        inputs = getattr(layer, "_inbound_nodes", None) and layer.input
        if layer is None or isinstance(layer, keras.layers.InputLayer) or isinstance(inputs, (list, tuple)):
            raise KerasCNNError(f"{model.name} has no single feature map before its classifier to cut at.")
        top.append(layer)
        tensor = inputs
    return tensor, top


def top_layer_names(model) -> list[str]:
    """The classifier's layers (those a keras.applications "notop" file has no weights for)."""
    return [layer.name for layer in _top_path(model)[1]]


def feature_extractor(model, pooling: str | None = None):
    """``model`` cut before its classifier (same layers, shared weights, same name), pooled as asked."""
    if pooling not in POOLINGS:
        raise KerasCNNError(f"pooling must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    features, _ = _top_path(model)
    if pooling == "avg":
        features = keras.layers.GlobalAveragePooling2D(name="features_avg_pool")(features)
    elif pooling == "max":
        features = keras.layers.GlobalMaxPooling2D(name="features_max_pool")(features)
    return keras.Model(model.inputs, features, name=model.name)
