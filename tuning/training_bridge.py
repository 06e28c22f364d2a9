"""The one place where tuning meets ``kerascnn.training`` and ``kerascnn.data``.

A search must train exactly as ``kerascnn fit`` does: the same split, DataSpec and tf.data pipeline,
the same strategy, the same compile helper (optimizer by name, schedule, ``jit_compile=False``,
``steps_per_execution``) and the same per-model defaults. These functions call fit's own helpers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# Training settings a search may vary (names as in a --hparams file of `kerascnn fit`).
TRAINING_HYPERPARAMETERS = ("lr", "optimizer", "weight_decay", "label_smoothing", "schedule")


class SearchData(NamedTuple):
    """What every trial trains and validates on, built once per search."""

    train: object  # tf.data.Dataset of (images, labels) batches
    val: object  # same, or None without validation
    spec: object  # DataSpec
    input_shape: tuple
    num_classes: int
    steps_per_epoch: int
    raw: object  # the RawDataset it came from (trial processes start from it: no reading files again)
    new_head: bool = False  # --init-from a run trained on other classes: its head is not loaded


def defaults(model: str) -> dict:
    """fit's per-model defaults: epochs, batch_size and the training hyperparameters."""
    from kerascnn.training import get_training_defaults

    d = get_training_defaults(model)
    return {
        "epochs": d.epochs, "batch_size": d.batch_size, "lr": d.lr, "optimizer": d.optimizer,
        "schedule": d.schedule, "weight_decay": d.weight_decay, "label_smoothing": d.label_smoothing,
    }


def strategy(name: str = "auto"):
    """The tf.distribute strategy ``kerascnn fit`` trains under (``--strategy auto`` by default)."""
    from kerascnn.training import get_strategy

    return get_strategy(name)


def load_data(model: str, dataset, *, batch_size: int, val_split: float, test_split: float, data_dir, seed: int,
              pipelines: bool = True, init_from=None) -> SearchData:
    """Split and pipeline ``dataset`` for ``model`` as fit does (train and validation parts only).

    ``dataset`` may be a loaded ``RawDataset``. With ``pipelines=False`` (a search whose trials train
    elsewhere) only the raw arrays and the DataSpec are computed.
    """
    from kerascnn.data.prepare import prepare_data
    from kerascnn.training import transfer

    source = None
    if init_from is not None:  # as fit --init-from: the weights' input shape and preprocessing
        from kerascnn.models.pretrained import read_weights
        from kerascnn.models.pretrained.load import source_preprocessing

        source = read_weights(init_from)
    # fit's own preparation: the same split, statistics, in-memory/streaming choice and pipelines
    data = prepare_data(dataset, lambda channels: transfer.source_input(source, model, None, channels),
                        data_dir=data_dir, val_split=val_split, test_split=test_split, seed=seed)
    spec, input_shape = data.spec, tuple(data.spec.input_shape)
    new_head = False
    if source is not None:
        source_classes = transfer.source_class_names(source)
        new_head = source_classes is not None and source_classes != list(data.class_names)
        spec = spec.with_pretrained_preprocessing(source_preprocessing(model, source))
        data.spec = spec
    steps = math.ceil(len(data.train) / batch_size)
    # Trial processes start from the arrays when the set is in memory; a streamed set they open again.
    handle = data.raw if data.raw is not None else dataset
    if not pipelines:
        return SearchData(None, None, spec, input_shape, data.num_classes, steps, handle, new_head)
    train, val, _ = data.pipelines(batch_size=int(batch_size), seed=seed)
    return SearchData(train, val, spec, input_shape, data.num_classes, steps, handle, new_head)


def compile_fn(model_name: str, *, epochs: int, steps_per_epoch: int):
    """``compile_model(model, **training_hyperparameters)``: fit's compile with fit's defaults."""
    from kerascnn.training import compile_model
    from kerascnn.training.compile import steps_per_execution as fits_rule

    base = defaults(model_name)
    # fit's rule: a whole epoch per tf.function call, capped (one replica: trials train on one device).
    steps_per_execution = fits_rule(None, steps_per_epoch)

    def compile_trial_model(model, **training):
        settings = {**base, **training}
        compile_model(
            model, optimizer=settings["optimizer"], lr=float(settings["lr"]),
            schedule=settings["schedule"], epochs=epochs, steps_per_epoch=steps_per_epoch,
            label_smoothing=float(settings["label_smoothing"]), weight_decay=float(settings["weight_decay"]),
            steps_per_execution=steps_per_execution, jit_compile=False,
        )

    return compile_trial_model


def labels_for(dataset, model):
    """``dataset`` with its labels repeated once per output of ``model`` (GoogLeNet's auxiliary heads)."""
    from kerascnn.training import with_multi_output_labels

    return None if dataset is None else with_multi_output_labels(dataset, len(model.outputs))


def accuracy_key(model) -> str:
    from kerascnn.training import accuracy_key as key

    return key(model)


def callbacks() -> list:
    """Callbacks of fit that belong in every trial: stop a diverged trial at once."""
    import keras

    return [keras.callbacks.TerminateOnNaN()]
