"""``build(name, ...)``: look a model up in the registry and build it, with errors a user can act on."""

from __future__ import annotations

from kerascnn.errors import InputTooSmallError, KerasCNNError
from kerascnn.models.registry import get_model_info


def resolve_input_shape(name: str, input_shape=None, channels: int | None = None) -> tuple:
    """The (H, W, C) to build ``name`` at: ``input_shape`` if given, else the model's default.

    ``channels``, when given, replaces the default's channel count (channels come from the data).
    """
    info = get_model_info(name)
    if input_shape is None:
        shape = list(info.default_input_shape)
        if channels is not None:
            shape[2] = int(channels)
    else:
        shape = [int(d) for d in input_shape]
        if len(shape) == 2:
            shape.append(int(channels) if channels is not None else info.default_input_shape[2])
    if len(shape) != 3 or any(d <= 0 for d in shape):
        raise KerasCNNError(f"Input shape must be three positive integers H,W,C. Received: input_shape={input_shape}")
    return tuple(shape)


def build(
    name: str,
    input_shape=None,
    num_classes: int | None = None,
    *,
    weights=None,
    include_top: bool = True,
    **hyperparameters,
):
    """Build the registered model ``name`` for ``input_shape`` (H, W, C) and ``num_classes`` (default 10, or
    the class count of the published weights named by ``weights``: 1000 for ImageNet, as keras.applications).

    ``weights``: published weights by name, downloaded once (``"imagenet"``, or a tag such as
    ``"torchvision:IMAGENET1K_V2"``: ``kerascnn.models.list_weights(name)``), or a weights file or kerascnn
    run to start from (see :func:`kerascnn.models.load_weights`: torchvision ``.safetensors``/``.pth``,
    keras.applications ``.h5``, ``.keras``, a run directory); a head with another class count is
    re-initialized. The load report is ``model.load_report``. Published weights also set the
    hyperparameters they were trained with (vgg11's BatchNorm weights: ``batch_norm=True``).

    ``include_top=False``: a feature extractor, the model up to its last feature map (keras.applications'
    meaning), then ``pooling`` None (the 4-D map), ``"avg"`` or ``"max"`` (one vector per image); with
    ``weights`` a keras.applications "notop" file is used where one is published. (A model whose builder
    has a ``pooling`` hyperparameter of its own, LeNet's subsampling, keeps that meaning.)

    The model is not compiled. Unknown names raise ``UnknownModelError``; an input too small for the
    architecture raises ``InputTooSmallError`` naming the first layer whose output would be empty.
    """
    info = get_model_info(name)
    pooling = None
    if "pooling" in hyperparameters and "pooling" not in _builder_parameters(name):
        pooling = hyperparameters.pop("pooling")
        if include_top:
            raise KerasCNNError(
                f"pooling applies to feature extractors: pass include_top=False. Received: pooling={pooling!r}"
            )
    resolved = None
    if weights is not None:
        from kerascnn.models.pretrained.resolve import check_hyperparameters, resolve_weights

        resolved = resolve_weights(name, weights, include_top=include_top, hyperparameters=hyperparameters)
        hyperparameters = check_hyperparameters(resolved.entry, hyperparameters)
    if num_classes is None:
        num_classes = resolved.entry.num_classes if resolved is not None and resolved.entry is not None else 10
    shape = resolve_input_shape(name, input_shape)
    if int(num_classes) < 1:
        raise KerasCNNError(f"num_classes must be at least 1. Received: num_classes={num_classes}")
    try:
        model = info.builder(shape, int(num_classes), **hyperparameters)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            from kerascnn.models.hyperparameters import unknown_hyperparameter_message

            raise KerasCNNError(unknown_hyperparameter_message(name, hyperparameters)) from None
        raise
    except ValueError as e:
        if _is_empty_output_error(e):
            raise InputTooSmallError(_too_small_message(name, shape, int(num_classes), hyperparameters)) from None
        raise
    # Keras's convolutions and pools refuse empty outputs, not every layer does: check them all.
    from kerascnn.models.smallest_input import first_empty_layer

    if first_empty_layer(model) is not None:
        raise InputTooSmallError(_too_small_message(name, shape, int(num_classes), hyperparameters))
    if resolved is None:
        return model if include_top else _features(model, pooling)
    from kerascnn.models.pretrained import load_weights

    if resolved.notop:  # the file has no classifier: cut first, then load
        model = _features(model, pooling)
        report = load_weights(model, resolved.path, entry=resolved.entry)
    else:
        report = load_weights(model, resolved.path, entry=resolved.entry)
        if not include_top:
            model = _features(model, pooling)
    model.load_report = report
    return model


def _builder_parameters(name: str) -> set:
    from kerascnn.models.hyperparameters import default_hyperparameters

    return set(default_hyperparameters(name))


def _features(model, pooling):
    from kerascnn.models.pretrained.features import feature_extractor

    return feature_extractor(model, pooling)


def _is_empty_output_error(e: Exception) -> bool:
    text = str(e)
    return "output size would be" in text or "negative dimension" in text.lower() or "Negative dimension" in text


def _too_small_message(name, shape, num_classes, hyperparameters) -> str:
    # The message names the first layer left with an empty map and the smallest input that works.
    from kerascnn.models.smallest_input import describe_too_small

    return describe_too_small(name, shape, num_classes, hyperparameters)
