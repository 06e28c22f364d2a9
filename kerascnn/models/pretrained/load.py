"""``load_weights(model, path)``: fill a zoo model from torchvision, keras.applications or kerascnn weights.

Every tensor is matched by name and shape before anything is written into the model, so a file for
another architecture, a missing or an extra tensor is a one-line error and the model is left as it was
(no partial, silent load). The one tolerated difference is the head: a ``logits`` layer (or an auxiliary
``*_logits``) whose class count differs from the file's is left freshly initialized and reported, which
is how a network trained on 1000 ImageNet classes starts on 10 new ones.

Conversions from torchvision: OIHW -> HWIO kernels (depthwise: [C*m, 1, kh, kw] -> [kh, kw, C, m]),
``Linear`` [out, in] -> Dense [in, out]; the first Dense after a Flatten reads PyTorch's NCHW flatten
order and absorbs torchvision's adaptive average pooling before the classifier (both linear, so folding
them into the kernel is exact at any input size); BatchNorm's running statistics and torchvision's epsilon;
a conv bias that Keras leaves out before a BatchNorm is folded into the BatchNorm's moving mean.

Nothing here knows a family: which torchvision tensor fills which layer, torchvision's epsilon and what
the weights expect of the input are the model's facts (``facts.torchvision``,
``facts.keras_applications_preprocessing``: :mod:`kerascnn.models.facts`), declared beside its builder.
"""

from __future__ import annotations

import dataclasses
import re

import keras
import numpy as np

from kerascnn.models.facts import TORCHVISION_IMAGENET, ModelFacts
from kerascnn.models.heads import is_head as _is_head
from kerascnn.models.pretrained.files import WeightsError, WeightSource, read_weights


@dataclasses.dataclass
class LoadReport:
    """What ``load_weights`` did: which layers came from the file, which were re-initialized and why."""

    source: str
    kind: str  # "torchvision", "keras_h5", "kerascnn"
    sha256: str
    loaded: list  # Keras layer names filled from the file
    reinitialized: list  # "logits (file: 1000 classes, model: 10)"
    skipped: list  # file tensors the model does not use, by group ("aux1.*: auxiliary head not built")
    adjusted: list  # e.g. "BatchNorm epsilon 0.001 -> 1e-05 on 20 layers"
    preprocessing: dict | None  # what the weights expect of the input: name, mean, std, channel_order
    loaded_params: int = 0
    tag: str | None = None  # the registered weights' tag ("torchvision:IMAGENET1K_V1"), None for a file given by path

    def summary(self) -> str:
        """One line for a terminal."""
        text = f"Loaded {len(self.loaded)} layers ({self.loaded_params:,} parameters) from {self.source}"
        if self.tag:
            text += f" ({self.tag})"
        if self.reinitialized:
            text += f"; re-initialized {', '.join(self.reinitialized)}"
        if self.skipped:
            text += f"; not used: {', '.join(self.skipped)}"
        if self.preprocessing:
            text += f"; input preprocessing: {self.preprocessing['name']}"
        return text + "."

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_weights(
    model: keras.Model, path, *, source: WeightSource | None = None, new_head: bool = False, entry=None
) -> LoadReport:
    """Load the weights at ``path`` into the zoo ``model``; returns a :class:`LoadReport`.

    ``path``: a torchvision state dict (``.safetensors``, or ``.pth`` when torch is installed), a Keras
    weights file (``.weights.h5`` from ``save_weights`` or a keras.applications ``.h5``), a ``.keras``
    file or a kerascnn run directory. Raises :class:`WeightsError` (one line) if anything does not fit.
    ``new_head``: leave the head layers freshly initialized even when their shapes match (the same class
    count, other classes: ``fit`` sets it when a source run's class names differ from the data's).
    ``entry``: the registered weights the file is (:class:`kerascnn.models.weights.PretrainedWeights`), whose
    stated preprocessing and tag the report then carries.
    """
    source = source or read_weights(path)
    if source.kind == "torchvision":
        assignments, report = _plan_torchvision(model, source)
    else:
        assignments, report = _plan_keras(model, source)
    if new_head:
        heads = [layer for layer, _ in assignments if _is_head(layer)]
        report.reinitialized += [f"{layer.name} (new classes)" for layer in heads]
        assignments = [(layer, weights) for layer, weights in assignments if not _is_head(layer)]
    for layer, weights in assignments:  # every check passed: now write
        layer.set_weights(weights)
    if entry is not None:
        report.preprocessing, report.tag = dict(entry.preprocessing), entry.tag
    report.loaded = [layer.name for layer, _ in assignments]
    report.loaded_params = int(sum(np.size(w) for _, weights in assignments for w in weights))
    return report


# ------------------------------------------------------------------------------------------ helpers


def _facts(model) -> ModelFacts:
    from kerascnn.errors import UnknownModelError
    from kerascnn.models.registry import get_model_info

    try:
        return get_model_info(model.name).facts
    except UnknownModelError:
        raise WeightsError(
            f"Model {model.name!r} is not a registered zoo model: build it with kerascnn.models.build(...)."
        ) from None


def _head_or_mismatch(model, layer, wanted_shapes, got_shapes, label, report) -> bool:
    """True if ``layer`` is a head with another class count (then reported); else a one-line error."""
    if _is_head(layer) and len(wanted_shapes) == len(got_shapes) and wanted_shapes[0][:-1] == got_shapes[0][:-1]:
        report.reinitialized.append(f"{layer.name} (file: {got_shapes[0][-1]} classes, model: {wanted_shapes[0][-1]})")
        return True
    raise WeightsError(
        f"{report.source} does not fit {model.name}: {label} has shape "
        f"{' + '.join(map(_shape_text, got_shapes))}, layer {layer.name!r} needs "
        f"{' + '.join(map(_shape_text, wanted_shapes))}."
    )


def _shape_text(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _consumers(model, layer):
    return [other for other in model.layers if any(_producer(t) is layer for t in _inputs_of(other))]


def _inputs_of(layer):
    try:
        inputs = layer.input
    except (AttributeError, ValueError):
        return []
    return inputs if isinstance(inputs, (list, tuple)) else [inputs]


def _adaptive_pool_matrix(out_size: int, in_size: int) -> np.ndarray:
    """PyTorch's ``adaptive_avg_pool`` along one axis as a matrix [out, in]."""
    matrix = np.zeros((out_size, in_size))
    for i in range(out_size):
        start, end = (i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _dense_after_flatten(model, layer, weight: np.ndarray) -> np.ndarray:
    """A torch Linear weight [out, C*h'*w'] read by a Keras Dense after Flatten of (h, w, C).

    torch flattened (C, h', w') after pooling adaptively to (h', w'); both steps are linear, so the
    Keras kernel [h*w*C, out] is the torch weight pulled back through them. Raises on a size mismatch.
    """
    flatten = _producer(_inputs_of(layer)[0])
    if not isinstance(flatten, keras.layers.Flatten):
        return weight.T
    h, w, channels = flatten.input.shape[1:]
    out, fan_in = weight.shape
    if fan_in % channels:
        return None
    pooled = fan_in // channels
    side = int(round(pooled**0.5))
    if side * side != pooled:
        return None
    rows, cols = _adaptive_pool_matrix(side, h), _adaptive_pool_matrix(side, w)  # [h', h], [w', w]
    w4 = weight.reshape(out * channels, side, side)  # [out*C, h', w'] (VGG: 4096*512 x 7x7 in float32)
    kernel = np.matmul(np.matmul(rows.T.astype(np.float32), w4), cols.astype(np.float32))  # [out*C, h, w]
    kernel = kernel.reshape(out, channels, h, w).transpose(2, 3, 1, 0)  # [h, w, C, out]
    return kernel.reshape(h * w * channels, out).astype(np.float32)


# -------------------------------------------------------------------------------------- torchvision


def _plan_torchvision(model, source: WeightSource):
    torchvision = _facts(model).torchvision
    if torchvision is None:
        raise WeightsError(f"{model.name} has no torchvision counterpart: cannot read {source.path.name}.")
    names = torchvision.names(model)
    state = _current_torchvision_keys(source.tensors)
    report = LoadReport(str(source.path), source.kind, source.sha256, [], [], [], [], torchvision.preprocessing)
    used, assignments, bias_folds = set(), [], {}

    def take(key, layer):
        if key not in state:
            raise WeightsError(
                f"{source.path.name} does not fit {model.name}: it has no tensor {key!r} (for layer {layer.name!r})."
            )
        used.add(key)
        return state[key]

    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = names.get(layer.name)
        if prefix is None:
            raise WeightsError(f"{model.name}'s layer {layer.name!r} has no torchvision counterpart to load.")
        wanted = [tuple(w.shape) for w in layer.get_weights()]
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            weight = take(f"{prefix}.weight", layer)  # [C*m, 1, kh, kw]
            c, m = wanted[0][2], wanted[0][3]
            converted = (
                [weight.reshape(c, m, *weight.shape[2:]).transpose(2, 3, 0, 1)]
                if weight.ndim == 4 and weight.shape[0] == c * m
                else [weight]
            )
            if layer.use_bias:
                converted.append(take(f"{prefix}.bias", layer))
        elif isinstance(layer, keras.layers.Conv2D):
            weight = take(f"{prefix}.weight", layer)
            converted = [weight.transpose(2, 3, 1, 0) if weight.ndim == 4 else weight]
            if layer.use_bias:
                converted.append(take(f"{prefix}.bias", layer))
            elif f"{prefix}.bias" in state:  # torchvision's vgg*_bn: conv bias then BN
                bias = take(f"{prefix}.bias", layer)
                following = [c for c in _consumers(model, layer) if isinstance(c, keras.layers.BatchNormalization)]
                if not following:
                    raise WeightsError(
                        f"{source.path.name} has a bias {prefix}.bias that {model.name}'s layer {layer.name!r} lacks."
                    )
                bias_folds[following[0].name] = bias
        elif isinstance(layer, keras.layers.BatchNormalization):
            converted = [take(f"{prefix}.{k}", layer) for k in ("weight", "bias", "running_mean", "running_var")]
            if f"{prefix}.num_batches_tracked" in state:
                used.add(f"{prefix}.num_batches_tracked")
        elif isinstance(layer, keras.layers.Dense):
            weight = take(f"{prefix}.weight", layer)
            kernel = _dense_after_flatten(model, layer, weight) if weight.ndim == 2 else None
            converted = [kernel if kernel is not None else weight.T]
            if layer.use_bias:
                converted.append(take(f"{prefix}.bias", layer))
        else:
            raise WeightsError(f"Cannot load torchvision weights into {type(layer).__name__} layer {layer.name!r}.")
        got = [tuple(np.shape(a)) for a in converted]
        if got != wanted:
            if _head_or_mismatch(model, layer, wanted, got, f"{prefix}.weight", report):
                continue
        assignments.append((layer, converted))

    for layer, weights in assignments:  # a conv bias before a BN shifts what the BN subtracts
        if layer.name in bias_folds:
            weights[2] = weights[2] - bias_folds[layer.name]

    extra = sorted(set(state) - used)
    optional = tuple(torchvision.optional_prefixes)
    skipped = sorted({key.split(".")[0] for key in extra if key.startswith(optional)})
    extra = [key for key in extra if not key.startswith(optional)]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise WeightsError(
            f"{source.path.name} does not fit {model.name}: it has tensor {extra[0]!r}{more} that the model has no "
            "layer for (another architecture or other hyperparameters?)."
        )
    report.skipped = [f"{group}.* (not built in this model)" for group in skipped]

    _use_file_epsilon(assignments, torchvision.bn_epsilon, report)
    return assignments, report


def _use_file_epsilon(assignments, epsilon: float, report) -> None:
    """The BatchNorm layers being loaded take the epsilon their file's statistics were computed with."""
    for layer, _ in assignments:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.epsilon != epsilon:
            report.adjusted.append(f"{layer.name}: BatchNorm epsilon {layer.epsilon:g} -> {epsilon:g}")
            layer.epsilon = epsilon  # read at call time and saved by get_config


# torchvision's published DenseNet files predate its module names: "denselayer1.norm.1.weight" is today's
# "denselayer1.norm1.weight" (torchvision.models.densenet._load_state_dict renames them with this pattern).
_LEGACY_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _current_torchvision_keys(state: dict) -> dict:
    renamed = {}
    for key, value in state.items():
        match = _LEGACY_DENSENET_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


# -------------------------------------------------------------------------------------------- Keras


def _generic_keys(model) -> dict:
    """Keras 3's ``save_weights`` paths of each layer: the snake-case class name, numbered by order."""
    from kerascnn.compat import to_snake_case

    keys, counts = {}, {}
    for layer in model.layers:
        base = to_snake_case(type(layer).__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        keys[base if n == 0 else f"{base}_{n}"] = layer
    return keys


def _plan_keras(model, source: WeightSource):
    if source.by_position:
        layers_by_key = _generic_keys(model)
    else:
        # Keras 2 names with a slash ("conv1/conv" in keras.applications' DenseNet files) are Keras 3's "_".
        source.tensors = {key.replace("/", "_"): arrays for key, arrays in source.tensors.items()}
        layers_by_key = {layer.name: layer for layer in model.layers}
        # keras.applications' head: a Dense "predictions" ("fc1000" in its DenseNet files), or MobileNet v1's
        # 1x1 Conv "conv_preds".
        head = next((key for key in ("predictions", "fc1000", "conv_preds") if key in source.tensors), None)
        if head and "logits" in layers_by_key:
            layers_by_key[head] = layers_by_key.pop("logits")
    wanted_layers = {key: layer for key, layer in layers_by_key.items() if layer.weights}
    label = source.path.name
    facts = _facts(model)
    report = LoadReport(
        str(source.path), source.kind, source.sha256, [], [], [], [], _keras_preprocessing(facts, source)
    )
    input_normalization = _take_input_normalization(model, source, wanted_layers, facts, report)
    missing = sorted(set(wanted_layers) - set(source.tensors))
    extra = sorted(set(source.tensors) - set(wanted_layers))
    if missing and not source.by_position and not extra:
        # keras.applications' "notop" files hold the backbone only: the classifier starts fresh, reported.
        from kerascnn.models.pretrained.features import top_layer_names

        top = set(top_layer_names(model))
        if all(wanted_layers[key].name in top for key in missing):
            report.reinitialized += [
                f"{wanted_layers[key].name} (not in the file: a backbone-only file)" for key in missing
            ]
            for key in missing:
                del wanted_layers[key]
            missing = []
    if missing:
        raise WeightsError(
            f"{label} does not fit {model.name}: it has no weights for layer {wanted_layers[missing[0]].name!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "."
        )
    if extra:
        raise WeightsError(
            f"{label} does not fit {model.name}: it has weights for layer {extra[0]!r}"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
            + " that the model does not have."
        )
    assignments = []
    for key, layer in wanted_layers.items():
        arrays = source.tensors[key]
        if (
            isinstance(layer, keras.layers.Dense)
            and arrays
            and np.ndim(arrays[0]) == 4
            and np.shape(arrays[0])[:2] == (1, 1)
        ):
            arrays = [np.reshape(arrays[0], np.shape(arrays[0])[2:]), *arrays[1:]]  # a 1x1 conv head is a Dense
        wanted = [tuple(w.shape) for w in layer.get_weights()]
        got = [tuple(np.shape(a)) for a in arrays]
        if got != wanted and _head_or_mismatch(model, layer, wanted, got, f"layer {key!r}", report):
            continue
        assignments.append((layer, [np.asarray(a) for a in arrays]))
    if input_normalization:
        _use_file_epsilon(assignments, facts.keras_applications_normalization["bn_epsilon"], report)
    return assignments, report


_INPUT_NORMALIZATION = re.compile(r"normalization(_\d+)?")


def _take_input_normalization(model, source: WeightSource, wanted_layers, facts: ModelFacts, report) -> bool:
    """keras.applications' EfficientNet files hold their input Normalization layer's statistics: checked
    against the preprocessing these weights are given (``facts.keras_applications_normalization``) and
    taken out of ``source``, never loaded (the zoo model leaves normalization to the data). True if found."""
    expected = facts.keras_applications_normalization
    keys = [k for k in source.tensors if _INPUT_NORMALIZATION.fullmatch(k) and k not in wanted_layers]
    if expected is None or len(keys) != 1 or len(source.tensors[keys[0]]) != 3:
        return False
    mean, variance, _ = (np.ravel(a) for a in source.tensors.pop(keys[0]))
    label = source.path.name
    if not (np.allclose(mean, expected["mean"], atol=1e-4) and np.allclose(variance, expected["variance"], rtol=1e-3)):
        raise WeightsError(
            f"{label} normalizes its input with mean {np.round(mean, 4).tolist()} and variance "
            f"{np.round(variance, 4).tolist()}, not the ImageNet statistics keras.applications' {model.name} files "
            "hold; kerascnn would feed it wrongly normalized images."
        )
    if any(isinstance(layer, keras.layers.ZeroPadding2D) for layer in model.layers):
        raise WeightsError(
            f"{label} is a keras.applications file, trained with TensorFlow's 'same' padding: build "
            f"{model.name} with padding='same' (kerascnn fit: --hparam padding=same) to load it."
        )
    report.skipped.append(f"{keys[0]} (the input normalization: done by the data preprocessing)")
    return True


def source_preprocessing(model_name: str, source: WeightSource) -> dict | None:
    """What ``source``'s weights expect of the input, for zoo model ``model_name`` (None: the data's own)."""
    from kerascnn.models.registry import get_model_info

    facts = get_model_info(model_name).facts
    if source.kind == "torchvision":
        # A model without a torchvision counterpart cannot load the file (load_weights says so).
        return facts.torchvision.preprocessing if facts.torchvision else TORCHVISION_IMAGENET
    return _keras_preprocessing(facts, source)


def _keras_preprocessing(facts: ModelFacts, source: WeightSource):
    if source.kind == "keras_h5":
        return facts.keras_applications_preprocessing
    from kerascnn.data.spec import SPEC_FILENAME, DataSpec

    spec_dir = source.run_dir or source.path.parent
    if not (spec_dir / SPEC_FILENAME).is_file():
        return None
    spec = DataSpec.load(spec_dir)
    return {
        "name": f"as the source run ({spec.dataset})",
        "mean": spec.mean,
        "std": spec.std,
        "channel_order": getattr(spec, "channel_order", "RGB"),
    }
