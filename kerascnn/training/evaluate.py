"""``evaluate``: test accuracy and loss of a trained run (or ``.keras`` file) on its test split."""

from __future__ import annotations

import numpy as np

from kerascnn.errors import DataError


def per_class_accuracy(y_true, y_pred, class_names) -> dict:
    """``{class name: accuracy}`` over the test images of each class (None for a class with none)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {}
    for i, name in enumerate(class_names):
        mask = y_true == i
        out[str(name)] = round(float((y_pred[mask] == i).mean()), 6) if mask.any() else None
    return out


def evaluate(run, dataset=None, *, data_dir=None, batch_size: int = 256, strategy: str = "auto", verbose: int = 0) -> dict:
    """Evaluate a trained model on the test part of its dataset (or of ``dataset``).

    Args:
        run: a run directory, a ``TrainResult``, or a ``.keras`` file inside a run directory.
        dataset: evaluate on this dataset's test part instead (same number of classes); default: the
            dataset the run was trained on, split as in training.
        data_dir: TFDS data directory.
        batch_size: evaluation batch size.
        strategy: see :func:`kerascnn.training.strategy.get_strategy`.
        verbose: Keras verbosity.

    Returns:
        ``{"test_accuracy", "test_loss", "test_images", "per_class_accuracy", "dataset", "checkpoint"}``.
    """
    from kerascnn.runs.dataset import prepare_run_data
    from kerascnn.data.streaming import reporting_bad_images
    from kerascnn.runs import load_trained, resolve_checkpoint
    from kerascnn.training.compile import compile_model
    from kerascnn.training.strategy import get_strategy

    run = getattr(run, "path", run)
    checkpoint, _ = resolve_checkpoint(run)
    strat = get_strategy(strategy)
    with strat.scope():
        model, spec = load_trained(run, inference_only=True)
        compile_model(model)
    data = prepare_run_data(run, dataset=dataset, data_dir=data_dir, spec=spec)
    if data.num_classes != spec.num_classes:
        raise DataError(
            f"The model predicts {spec.num_classes} classes but dataset {data.name} has {data.num_classes}; "
            "evaluate on a dataset with the same classes."
        )
    if data.spec.image_shape[2] not in (1, 3):
        raise DataError(f"Dataset {data.name} has {data.spec.image_shape[2]}-channel images; only 1 or 3 are supported.")
    test = data.test.dataset(data.spec, batch_size=batch_size, training=False)
    y_test = data.test.labels
    with reporting_bad_images():
        result = model.evaluate(test, verbose=verbose, return_dict=True)
        y_pred = predict_part(model, data.test, data.spec, batch_size=batch_size).argmax(axis=1)
    return {
        "test_accuracy": float(result["accuracy"]),
        "test_loss": float(result["loss"]),
        "test_images": int(len(y_test)),
        "per_class_accuracy": per_class_accuracy(y_test, y_pred, spec.class_names),
        "dataset": data.name,
        "checkpoint": str(checkpoint),
    }


def predict_part(model, part, spec, *, batch_size: int = 256) -> np.ndarray:
    """Main-output logits ``[N, classes]`` of ``model`` over a data part, in its order (streamed batch by batch)."""
    from kerascnn.data.spec import preprocess
    from kerascnn.training.predict import predict_logits

    if not part.streaming:
        return predict_logits(model, preprocess(part.x, spec).numpy(), batch_size=batch_size)
    out = [predict_logits(model, x, batch_size=batch_size)
           for x, _ in part.dataset(spec, batch_size=batch_size, training=False).as_numpy_iterator()]
    return np.concatenate(out) if out else np.zeros((0, spec.num_classes), np.float32)
