"""Per-layer analysis of a Keras model: output shape, parameters, multiply-adds, receptive field.

    from kerascnn.summary import summarize_model
    s = summarize_model("vgg16", input_shape=(224, 224, 3), num_classes=1000)
    print(s.format_table())          # or s.to_dict() for JSON

Receptive field (RF) and jump are computed from the layer configs, per axis, through the whole graph:
a kxk layer with stride s and dilation d maps (rf, jump) to (rf + (k - 1) * d * jump, jump * s);
layers that mix inputs (Add, Concatenate) take the largest RF and jump over their inputs (an Inception
block sees as far as its widest path). Padding moves where a field starts, not its size. Flatten and
global pooling see the whole feature map, like a kernel the size of the map; after them the jump has
no meaning and is reported as None.

Multiply-adds (MACs) count convolutions and Dense layers only, as the papers do; BatchNorm, pooling
and activations add little and are not counted. A grouped convolution (``Conv2D(groups=g)``) connects
each output channel to ``c_in / g`` input channels, so its parameters and MACs are 1/g of the full
convolution's; a depthwise convolution is the extreme, one group per input channel (``k * k`` MACs per
output value). The ``groups`` of every convolution is reported (a column when a model has any).
"""

from __future__ import annotations

import dataclasses
import math

import keras

from kerascnn.zoo_catalog import format_count  # noqa: F401  (re-exported: the one K/M/G rule)

_SPATIAL_WINDOW_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)
_WHOLE_MAP_LAYERS = (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)


@dataclasses.dataclass
class LayerSummary:
    """One layer's row. Shapes leave out the batch axis; RF and jump are (height, width) pairs."""

    name: str
    type: str
    output_shape: tuple | list  # one tuple, or a list of tuples for a layer with several outputs
    params: int
    trainable_params: int
    macs: int
    receptive_field: tuple | None  # (h, w) in input pixels; None before any spatial layer is known
    jump: tuple | None  # (h, w) input pixels between neighbouring outputs; None once flattened
    inputs: list  # names of the layers feeding this one
    initializers: dict = dataclasses.field(default_factory=dict)  # {"kernel": "HeNormal", "bias": "Zeros"}, if any
    groups: int = 1  # channel groups of a convolution (depthwise: its input channels); 1 otherwise


@dataclasses.dataclass
class ModelSummary:
    """A model's per-layer rows and totals."""

    model_name: str
    input_shape: tuple
    output_names: list
    layers: list  # of LayerSummary, in topological order

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(row.trainable_params for row in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(row.macs for row in self.layers)

    def layer(self, name: str) -> LayerSummary:
        """The row of the layer called ``name``."""
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"No layer named {name!r} in {self.model_name}.")

    def initializer_counts(self) -> dict:
        """``{"kernel": {"HeNormal": 13}, "bias": {"Zeros": 13}}``: how many layers draw each weight how."""
        counts: dict = {}
        for row in self.layers:
            for weight, name in row.initializers.items():
                counts.setdefault(weight, {})
                counts[weight][name] = counts[weight].get(name, 0) + 1
        return counts

    def to_dict(self) -> dict:
        """A JSON-ready dict: model, input_shape, outputs, layers (list of dicts), totals."""
        return {
            "model": self.model_name,
            "input_shape": list(self.input_shape),
            "outputs": list(self.output_names),
            "layers": [
                {
                    "name": r.name,
                    "type": r.type,
                    "output_shape": _jsonable_shape(r.output_shape),
                    "params": r.params,
                    "trainable_params": r.trainable_params,
                    "macs": r.macs,
                    "receptive_field": list(r.receptive_field) if r.receptive_field else None,
                    "jump": list(r.jump) if r.jump else None,
                    "inputs": list(r.inputs),
                    "initializers": dict(r.initializers),
                    "groups": r.groups,
                }
                for r in self.layers
            ],
            "initializers": self.initializer_counts(),
            "totals": {
                "params": self.total_params,
                "trainable_params": self.trainable_params,
                "non_trainable_params": self.total_params - self.trainable_params,
                "macs": self.total_macs,
            },
        }

    def format_table(self) -> str:
        """A plain-text table, one line per layer, then the totals."""
        grouped = any(r.groups > 1 for r in self.layers)
        header = ("Layer", "Type", "Output shape", "Params", "MACs", "RF", "Jump") + (("Groups",) if grouped else ())
        rows = [
            (
                r.name,
                r.type,
                format_shape(r.output_shape),
                f"{r.params:,}",
                format_count(r.macs) if r.macs else "0",
                _format_pair(r.receptive_field),
                _format_pair(r.jump),
            )
            + ((str(r.groups) if r.groups > 1 else "",) if grouped else ())
            for r in self.layers
        ]
        widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
        right = {3, 4, 5, 6, 7}  # numbers align right

        def line(cells):
            return "  ".join(
                str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        rule = "-" * len(line(header))
        shape = "x".join(map(str, self.input_shape))
        non_trainable = self.total_params - self.trainable_params
        return "\n".join(
            [
                f"Model: {self.model_name}    input: {shape}    outputs: {', '.join(self.output_names)}",
                rule,
                line(header),
                rule,
                *(line(r) for r in rows),
                rule,
                f"Total params: {self.total_params:,} (trainable {self.trainable_params:,}, "
                f"non-trainable {non_trainable:,})",
                f"Multiply-adds per image: {self.total_macs:,} ({format_count(self.total_macs)})",
                "Initializers: "
                + (
                    "; ".join(
                        f"{weight} "
                        + ", ".join(f"{name} ({n} layer{'s' if n > 1 else ''})" for name, n in names.items())
                        for weight, names in self.initializer_counts().items()
                    )
                    or "none"
                ),
                "RF: receptive field in input pixels (HxW when they differ); Jump: input pixels between "
                "neighbouring outputs.",
            ]
            + (
                [
                    "Groups: a grouped convolution splits its channels into that many groups, each output seeing only "
                    "its group's c_in/groups inputs: 1/groups of the parameters and MACs of the full convolution "
                    "(depthwise: groups = input channels, k*k MACs per output value)."
                ]
                if grouped
                else []
            )
        )


def summarize(model: keras.Model) -> ModelSummary:
    """Analyse a built functional ``model`` layer by layer (no forward pass, no weights read)."""
    field: dict[int, tuple] = {}  # id(KerasTensor) -> (rf, jump), each a (h, w) pair or None
    producer: dict[int, str] = {}  # id(KerasTensor) -> name of the layer that made it
    rows = []
    for layer in model.layers:
        inputs = [] if isinstance(layer, keras.layers.InputLayer) else _as_list(layer.input)
        outputs = _as_list(layer.output)
        if isinstance(layer, keras.layers.InputLayer):
            rf, jump = (1, 1), (1, 1)
        else:
            rf, jump = _propagate_field(layer, inputs, [field.get(id(t), (None, None)) for t in inputs])
        for t in outputs:
            field[id(t)] = (rf, jump)
            producer[id(t)] = layer.name
        shapes = [tuple(t.shape[1:]) for t in outputs]
        rows.append(
            LayerSummary(
                name=layer.name,
                type=type(layer).__name__,
                output_shape=shapes[0] if len(shapes) == 1 else shapes,
                params=int(layer.count_params()) if layer.built else 0,
                trainable_params=sum(math.prod(w.shape) for w in layer.trainable_weights),
                macs=layer_macs(layer, inputs, outputs),
                receptive_field=rf,
                jump=jump,
                inputs=[producer[id(t)] for t in inputs if id(t) in producer],
                initializers=_initializers(layer),
                groups=layer_groups(layer, inputs),
            )
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    output_names = [producer.get(id(t), t.name) for t in model.outputs]
    return ModelSummary(model.name, input_shape, output_names, rows)


def summarize_model(name: str, input_shape=None, num_classes: int = 10, **hyperparameters) -> ModelSummary:
    """Build the registered model ``name`` without initializing its weights, and summarize it.

    Arguments are those of :func:`kerascnn.models.build`; errors (unknown name, input too small, bad
    hyperparameters) are the same one-line ``KerasCNNError``s.
    """
    return summarize(build_uninitialized(name, input_shape, num_classes, **hyperparameters))


def _initializers(layer) -> dict:
    """How ``layer`` draws its kernel(s) and bias: ``{"kernel": "HeNormal", "bias": "Zeros"}``."""
    from kerascnn.models.initializers import describe

    found = {}
    for weight, init_attribute, weight_attribute in (
        ("kernel", "kernel_initializer", "kernel"),
        ("depthwise", "depthwise_initializer", "kernel"),  # DepthwiseConv2D
        ("depthwise", "depthwise_initializer", "depthwise_kernel"),  # SeparableConv2D
        ("pointwise", "pointwise_initializer", "pointwise_kernel"),
        ("bias", "bias_initializer", "bias"),
    ):
        init = getattr(layer, init_attribute, None)
        if init is not None and isinstance(getattr(layer, weight_attribute, None), keras.Variable):
            found[weight] = describe(init)
    return found


def build_uninitialized(name: str, input_shape=None, num_classes: int = 10, **hyperparameters) -> keras.Model:
    """``build(...)`` inside a ``keras.StatelessScope``: shapes and parameter counts without drawing
    random weights (VGG-19's 143M weights take seconds to initialize; its graph takes a fraction).

    The model is for inspection only: its variables hold no values.
    """
    from kerascnn.models import build

    with uninitialized_variables():
        return build(name, input_shape, num_classes, **hyperparameters)


def uninitialized_variables():
    """Create Keras variables with shapes but no values inside this block (for inspection only).

    ``StatelessScope(initialize_variables=False)`` defers every initializer; Keras also queues the
    variables for the next scope that does initialize, so they are taken off that queue on the way out
    (``kerascnn.compat``: the queue has no public accessor).
    """
    from kerascnn.compat import uninitialized_variables as scope

    return scope()


def zoo_table(num_classes: int = 10) -> list[dict]:
    """One dict per registered model: name, default input, parameters (all, and trainable: papers
    count only the latter, Keras also counts BatchNorm's moving statistics) and MACs there, reference,
    description. Parameters are counted for ``num_classes`` classes."""
    from kerascnn.models import get_model_info, list_models

    table = []
    for name in list_models():
        info = get_model_info(name)
        summary = summarize_model(name, info.default_input_shape, num_classes)
        table.append(
            {
                "name": name,
                "default_input_shape": list(info.default_input_shape),
                "params": summary.total_params,
                "trainable_params": summary.trainable_params,
                "macs": summary.total_macs,
                "reference": info.reference,
                "description": info.description,
                "family": info.family,
            }
        )
    return table


def layer_groups(layer, inputs) -> int:
    """Channel groups of a convolution: ``groups`` of a Conv2D, the input channels of a depthwise one; else 1."""
    if isinstance(layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)):
        channels = inputs[0].shape[-1] if inputs else None
        return int(channels) if channels else 1
    return int(getattr(layer, "groups", 1) or 1) if isinstance(layer, keras.layers.Conv2D) else 1


def layer_macs(layer, inputs, outputs) -> int:
    """Multiply-adds of one call of ``layer`` per image (convolutions and Dense layers; 0 otherwise)."""
    if not outputs or not inputs:
        return 0
    out_shape = outputs[0].shape[1:]
    in_channels = inputs[0].shape[-1]
    if any(d is None for d in out_shape) or in_channels is None:
        return 0
    positions = math.prod(out_shape[:-1])  # output pixels (or leading axes of a Dense input)
    out_channels = out_shape[-1]
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        depthwise = positions * in_channels * layer.depth_multiplier * kh * kw
        return int(depthwise + positions * in_channels * layer.depth_multiplier * out_channels)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return int(positions * out_channels * kh * kw)
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return int(positions * out_channels * kh * kw * in_channels // layer.groups)
    if isinstance(layer, keras.layers.Dense):
        return int(positions * in_channels * out_channels)
    return 0


def _propagate_field(layer, inputs, input_fields):
    """(rf, jump) of ``layer``'s output from those of its inputs; see the module docstring."""
    known = [(rf, jump) for rf, jump in input_fields if rf is not None]
    if not known:
        return None, None
    rf = tuple(max(f[0][a] for f in known) for a in range(2))
    jumps = [j for _, j in known if j is not None]
    if not jumps:  # already flattened: every later layer sees what the Flatten saw
        return rf, None
    jump = tuple(max(j[a] for j in jumps) for a in range(2))
    if isinstance(layer, _SPATIAL_WINDOW_LAYERS):
        kernel = getattr(layer, "kernel_size", None) or layer.pool_size
        strides = layer.strides
        dilation = getattr(layer, "dilation_rate", (1, 1))
        rf = tuple(rf[a] + (kernel[a] - 1) * dilation[a] * jump[a] for a in range(2))
        return rf, tuple(jump[a] * strides[a] for a in range(2))
    if isinstance(layer, _WHOLE_MAP_LAYERS):
        shape = inputs[0].shape
        if len(shape) == 4 and shape[1] is not None and shape[2] is not None:
            # A map of n positions `jump` apart spans rf + (n - 1) * jump input pixels.
            rf = tuple(rf[a] + (shape[1 + a] - 1) * jump[a] for a in range(2))
            return rf, None
    return rf, jump


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _jsonable_shape(shape):
    if isinstance(shape, list):
        return [list(s) for s in shape]
    return list(shape)


def format_shape(shape) -> str:
    """``(54, 54, 96)`` -> ``"54x54x96"``; a list of shapes -> comma-separated."""
    if isinstance(shape, list):
        return ", ".join(format_shape(s) for s in shape)
    return "x".join("?" if d is None else str(d) for d in shape)


def _format_pair(pair) -> str:
    if pair is None:
        return "-"
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"
