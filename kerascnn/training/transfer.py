"""Transfer learning in ``fit``: start from pretrained weights, train the new head, then fine-tune.

    phase 1  epochs [0, epochs)                       the backbone frozen (``--freeze``), lr
    phase 2  epochs [epochs, epochs + fine_tune_epochs) everything trainable, fine_tune_lr (lr / 10)

Frozen layers are ``trainable=False``; a frozen BatchNorm then runs in inference mode (its moving
statistics are used and kept), as the Keras transfer-learning guide does: batch statistics of a small
new dataset would otherwise overwrite what the pretrained network learned. Each phase compiles a fresh
optimizer (the trainable set changes), both write into the one run directory and one history, and a
resumed run restores a checkpoint in the phase it was written in before switching.
"""

from __future__ import annotations

import dataclasses

from kerascnn.errors import KerasCNNError
from kerascnn.models.heads import is_head
from kerascnn.settings import caller_name

FREEZE_MODES = ("backbone", "none")


@dataclasses.dataclass(frozen=True)
class Phase:
    number: int  # 1 or 2
    first_epoch: int  # epochs done before it
    end_epoch: int  # epochs done after it
    lr: float
    freeze: str  # what is frozen during it: backbone | none | a layer name


def phases(cfg) -> list[Phase]:
    """The training phases of a resolved config (one phase without ``fine_tune_epochs``)."""
    first = Phase(1, 0, int(cfg.epochs), float(cfg.lr), cfg.freeze or "none")
    if not cfg.fine_tune_epochs:
        return [first]
    return [
        first,
        Phase(2, first.end_epoch, first.end_epoch + int(cfg.fine_tune_epochs), float(cfg.fine_tune_lr), "none"),
    ]


def phase_of_checkpoint(all_phases: list[Phase], epochs_done: int) -> Phase:
    """The phase that wrote the checkpoint after ``epochs_done`` epochs (phase 1 for its own last epoch)."""
    for phase in all_phases:
        if epochs_done <= phase.end_epoch:
            return phase
    return all_phases[-1]


def check_freeze(model, freeze: str | None) -> None:
    """Raise a one-line error for a ``--freeze`` value the model cannot take."""
    if freeze is None or freeze in FREEZE_MODES:
        return
    names = [layer.name for layer in model.layers]
    if freeze not in names:
        weighted = [layer.name for layer in model.layers if layer.weights]
        shown = ", ".join(weighted[:4] + ["..."] + weighted[-3:]) if len(weighted) > 8 else ", ".join(weighted)
        raise KerasCNNError(
            f"{caller_name('freeze', freeze)}: {model.name} has no layer of that name. "
            "Use backbone, none, or a layer name "
            f"(kerascnn summary {model.name}), e.g. {shown}."
        )
    if names.index(freeze) >= len(names) - 1:
        raise KerasCNNError(
            f"{caller_name('freeze', freeze)} would freeze every layer of {model.name}: nothing would train."
        )


def apply_freeze(model, freeze: str) -> list[str]:
    """Set ``trainable`` on every layer for ``freeze``; returns the names of the frozen layers with weights."""
    if freeze == "none":
        frozen_names = set()
    elif freeze == "backbone":
        frozen_names = {layer.name for layer in model.layers if not is_head(layer)}
    else:
        names = [layer.name for layer in model.layers]
        frozen_names = set(names[: names.index(freeze) + 1])
    for layer in model.layers:
        layer.trainable = layer.name not in frozen_names
    return [layer.name for layer in model.layers if layer.name in frozen_names and layer.weights]


def source_input(source, model_name: str, input_shape, data_channels: int):
    """The input shape to build with when starting from ``source`` (a WeightSource, or None).

    ImageNet weights (torchvision, keras.applications) take RGB: 3 channels, whatever the data has
    (grayscale is converted by the preprocessing). A kerascnn source fixes the channels and, unless given,
    the size it was trained at.
    """
    from kerascnn.models import resolve_input_shape

    if source is None:
        return resolve_input_shape(model_name, input_shape, channels=data_channels)
    if source.kind == "kerascnn":
        source_shape = tuple(source.keras_model.inputs[0].shape[1:])
        shape = list(input_shape) if input_shape is not None else list(source_shape[:2])
        return resolve_input_shape(model_name, shape[:2], channels=source_shape[2])
    shape = list(input_shape)[:2] if input_shape is not None else None
    return resolve_input_shape(model_name, shape, channels=3)


def source_class_names(source) -> list | None:
    """The class names a kerascnn source run was trained on (None for other sources)."""
    from kerascnn.data.spec import SPEC_FILENAME, DataSpec

    if source is None or source.kind != "kerascnn":
        return None
    folder = source.run_dir or source.path.parent
    if not (folder / SPEC_FILENAME).is_file():
        return None
    return list(DataSpec.load(folder).class_names)
