"""One assembly of training from a :class:`TrainConfig`: weights, data, model, phases, compile, pipelines.

``fit`` (each run, and each fold of a cross-validation) and every trial of ``tune`` assemble training here,
so a trial trains exactly as ``kerascnn fit`` would with the trial's values:

    strategy = get_strategy(cfg.strategy)           # first: multi-worker needs it before any other TF op
    keras.utils.set_random_seed(cfg.seed)
    prepared = prepare(cfg, raw, strategy=strategy)  # weights read, data split and checked, the DataSpec
    with strategy.scope():
        assembly = assemble(cfg, prepared)           # built at cfg.precision, weights loaded, phase 1 compiled
    train, val, test = pipelines(cfg, prepared, n_outputs=len(assembly.model.outputs))

Everything a user can get wrong (the weights file, the dataset, an input the preprocessing cannot resize,
the model's hyperparameters, ``freeze``) fails in ``prepare`` or ``assemble``, before any file is written.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kerascnn.training.config import TrainConfig, cache_budget_bytes


@dataclasses.dataclass
class Prepared:
    """What every model trained on one dataset with one config shares (a search's trials too)."""

    data: object  # kerascnn.data.prepare.PreparedData; its spec in the convention of the weights started from
    source: object  # the WeightSource of cfg.init_from, or None
    weights_entry: object  # the registry entry when cfg.init_from named published weights, else None
    new_head: bool  # the source's head means other classes: it is not loaded
    steps_per_epoch: int
    steps_per_execution: int
    # Streams repeat (every worker takes exactly steps_per_epoch steps, even from uneven shards); arrays
    # repeat only when cfg.steps_per_epoch bounds the epochs. Keras' fit then needs steps_per_epoch.
    repeat_train: bool

    @property
    def spec(self):
        return self.data.spec


@dataclasses.dataclass
class Assembly:
    """A model ready to train: built, weights loaded, frozen and compiled for ``phases[0]``."""

    model: object  # keras.Model
    phases: list  # kerascnn.training.transfer.Phase, one or two
    load_report: object  # kerascnn.models.pretrained.LoadReport, or None
    frozen: list  # names of the layers the configured phase keeps fixed
    configured_phase: object


def prepare(cfg: TrainConfig, raw=None, *, strategy=None) -> Prepared:
    """Read ``cfg.init_from`` and prepare ``raw`` (a RawDataset) or ``cfg.dataset`` as ``cfg`` says."""
    from kerascnn.data.prepare import prepare_data
    from kerascnn.models.heads import needs_new_head
    from kerascnn.training import transfer
    from kerascnn.training.compile import steps_per_execution

    source = entry = None
    if cfg.init_from:  # read (and check) the weights before anything is written
        from kerascnn.models.pretrained import read_weights, resolve_weights

        # A path, or published weights by name (downloaded once), which may need hyperparameters set.
        weights = resolve_weights(cfg.model, cfg.init_from, hyperparameters=cfg.hparams, complete=True)
        source, entry = read_weights(weights.path), weights.entry
    data = prepare_data(
        raw if raw is not None else cfg.dataset,
        lambda channels: transfer.source_input(source, cfg.model, cfg.input_shape, channels),
        data_dir=cfg.data_dir,
        val_split=cfg.val_split,
        test_split=cfg.test_split,
        fold=cfg.fold,
        folds=cfg.folds,
        cache_budget_bytes=cache_budget_bytes(cfg),
        skip_bad_images=cfg.skip_bad_images,
        seed=cfg.seed,
    )
    check_resizable(data.spec)
    new_head = False
    if source is not None:
        from kerascnn.models.pretrained.load import source_preprocessing

        new_head = needs_new_head(transfer.source_class_names(source), data.class_names)
        # The pipelines normalize with the data's spec: make it the weights' convention.
        data = dataclasses.replace(
            data, spec=data.spec.with_pretrained_preprocessing(source_preprocessing(cfg.model, source))
        )
    steps = int(cfg.steps_per_epoch or math.ceil(len(data.train) / cfg.batch_size))
    spe = steps_per_execution(cfg.steps_per_execution, steps, strategy)
    return Prepared(data, source, entry, new_head, steps, spe, repeat_train=data.streaming or bool(cfg.steps_per_epoch))


def check_resizable(spec) -> None:
    """Run the preprocessing on one image now, so a shape it cannot handle fails before any file."""
    from kerascnn.data.spec import preprocess
    from kerascnn.errors import DataError

    try:
        out = preprocess(np.zeros((1, *spec.image_shape), np.uint8), spec)
    except Exception as e:
        raise DataError(
            f"Cannot resize {spec.image_shape} images to the model input {spec.input_shape}: "
            f"{str(e).splitlines()[0][:200]}"
        ) from None
    if tuple(out.shape[1:]) != tuple(spec.input_shape):
        raise DataError(f"Preprocessing gives {tuple(out.shape[1:])}, the model needs {spec.input_shape}.")


def build_model(cfg: TrainConfig, prepared: Prepared):
    """The zoo model of ``cfg`` for the prepared data, at ``cfg.precision`` (call in the strategy's scope)."""
    import keras

    from kerascnn.models import build

    # Keras' dtype policy is global; layers take it when they are created, so set it for the build only.
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(cfg.precision)
    try:
        return build(cfg.model, prepared.spec.input_shape, prepared.data.num_classes, **cfg.hparams)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def load_initial_weights(model, cfg: TrainConfig, prepared: Prepared):
    """Fill ``model`` from ``cfg.init_from`` (a new head for other classes); the LoadReport, or None."""
    if prepared.source is None:
        return None
    from kerascnn.models.pretrained import load_weights

    return load_weights(
        model, cfg.init_from, source=prepared.source, new_head=prepared.new_head, entry=prepared.weights_entry
    )


def assemble(cfg: TrainConfig, prepared: Prepared) -> Assembly:
    """Build, load, check ``freeze``, and compile for the first phase (in the strategy's scope)."""
    from kerascnn.training import transfer

    model = build_model(cfg, prepared)
    report = load_initial_weights(model, cfg, prepared)
    transfer.check_freeze(model, cfg.freeze)
    assembly = Assembly(model, transfer.phases(cfg), report, [], None)
    configure(assembly, cfg, prepared, assembly.phases[0])
    return assembly


def configure(assembly: Assembly, cfg: TrainConfig, prepared: Prepared, phase) -> None:
    """Freeze for ``phase`` and compile a fresh optimizer at its learning rate, over its epochs."""
    from kerascnn.training.compile import compile_model
    from kerascnn.training.transfer import apply_freeze

    net = assembly.model
    assembly.frozen = apply_freeze(net, phase.freeze) if cfg.init_from else []
    with net.distribute_strategy.scope():
        compile_model(
            net,
            optimizer=cfg.optimizer,
            lr=phase.lr,
            schedule=cfg.schedule,
            epochs=phase.end_epoch - phase.first_epoch,
            steps_per_epoch=prepared.steps_per_epoch,
            label_smoothing=cfg.label_smoothing,
            weight_decay=cfg.weight_decay,
            aux_loss_weight=cfg.aux_loss_weight,
            steps_per_execution=prepared.steps_per_execution,
            jit_compile=cfg.jit_compile,
        )
    assembly.configured_phase = phase


def pipelines(
    cfg: TrainConfig, prepared: Prepared, *, n_outputs: int = 1, start_epoch: int = 0, shard=None, with_test=True
):
    """``(train, val, test)`` tf.data pipelines; the training one starts after ``start_epoch`` epochs' data.

    ``shard``: ``(workers, index)`` when each worker of a multi-worker run reads its own share of the files.
    ``with_test=False``: test is None, not built (fit and tune's trials evaluate their test part on their own).
    Labels are repeated once per model output (``n_outputs``: main + auxiliary heads).
    """
    from kerascnn.data.augmentation import augmentation_layers
    from kerascnn.training.compile import with_multi_output_labels

    data, spec = prepared.data, prepared.spec
    per_worker_batch = cfg.batch_size // (shard[0] if shard else 1)
    skip = start_epoch * prepared.steps_per_epoch * per_worker_batch if prepared.repeat_train else 0
    train, val, test = data.pipelines(
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        augment=augmentation_layers(cfg.augment, spec, cfg.seed),
        shard=shard,
        repeat_train=prepared.repeat_train,
        skip_train=skip,
        cache_budget_bytes=cache_budget_bytes(cfg),
        with_test=with_test,
    )
    return (
        with_multi_output_labels(train, n_outputs),
        with_multi_output_labels(val, n_outputs) if val is not None else None,
        with_multi_output_labels(test, n_outputs) if test is not None else None,
    )
