"""Training: ``fit`` a zoo model on a dataset under tf.distribute, ``evaluate`` a run.

Public API:
    fit(model="lenet", dataset="digits", *, hparams=None, **settings) -> TrainResult
        trains and writes a run directory (kerascnn.runs); settings are TrainConfig fields (an unknown
        name is refused with the closest known one).
    evaluate(run_dir_or_keras, dataset=None, *, data_dir=None) -> dict     test accuracy/loss, per class
    TrainConfig                     every setting of a run, each declared once with its help, choices and
                                    default; `kerascnn fit`'s flags are generated from its fields
    kerascnn.training.assembly      the one assembly of training (weights, data, model, phases, compile,
                                    pipelines) used by fit, its folds and tune's trials
    load_hparams(dict_or_file)      builder hyperparameters from JSON/YAML (keras-tuner winners work)
    get_training_defaults(name)     per-model epochs/batch/optimizer/lr (FACTS.training beside each builder)
    get_strategy(name)              tf.distribute strategy by name (kerascnn.training.strategy)
    compile_model(model, *, optimizer, lr, schedule, epochs, steps_per_epoch, label_smoothing,
                  weight_decay, aux_loss_weight, steps_per_execution, jit_compile=False)
    make_optimizer(name, lr, ...), make_schedule(name, lr, ...), accuracy_key(model),
    with_multi_output_labels(dataset, n_outputs)                        (kerascnn.training.compile)
    predict_logits(model, inputs), predict_images(model, spec, images)  any batch size, any replicas
    patch_keras_for_multi_worker()  the Keras 3.15.1 MultiWorkerMirroredStrategy fix (applied by
                                    get_strategy("multi_worker"); lives in kerascnn.compat)
"""

from kerascnn.training.config import OPTIMIZERS, SCHEDULES, TrainConfig, load_hparams  # noqa: F401
from kerascnn.training.evaluate import evaluate  # noqa: F401
from kerascnn.training.fit import TrainingError, TrainResult, fit  # noqa: F401
from kerascnn.training.predict import predict_images, predict_logits  # noqa: F401
from kerascnn.training.strategy import get_strategy  # noqa: F401

# Keras is imported on first use of these, so that reading the settings (``kerascnn fit --help``) stays instant.
_LAZY = {
    "TrainingDefaults": "kerascnn.training.defaults",
    "get_training_defaults": "kerascnn.training.defaults",
    "DEFAULT_STEPS_PER_EXECUTION": "kerascnn.training.compile",
    "SparseCrossentropy": "kerascnn.training.compile",
    "accuracy_key": "kerascnn.training.compile",
    "compile_model": "kerascnn.training.compile",
    "make_optimizer": "kerascnn.training.compile",
    "make_schedule": "kerascnn.training.compile",
    "with_multi_output_labels": "kerascnn.training.compile",
    "patch_keras_for_multi_worker": "kerascnn.compat",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kerascnn.training' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
