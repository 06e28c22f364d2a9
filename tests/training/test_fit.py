"""kerascnn.fit / kerascnn.evaluate in-process: a real run directory, errors before any file, NaN."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

import kerascnn
from kerascnn.errors import ArtifactError, DataError, InputTooSmallError, KerasCNNError, UnknownModelError
from kerascnn.runs import is_finished_run, load_trained, partial_path
from kerascnn.training import TrainConfig, TrainingError, load_hparams

RELU = {"activation": "relu", "pooling": "max"}  # learns digits in two epochs


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "lenet"
    return kerascnn.fit("lenet", epochs=2, batch_size=64, hparams=RELU, out=str(out), verbose=0)


def test_run_directory_is_complete(digits_run):
    path = digits_run.path
    for name in (
        "config.json",
        "data_spec.json",
        "best.keras",
        "last.keras",
        "history.csv",
        "metrics.json",
        "learning_curves.png",
        "confusion_matrix.png",
        "misclassified.png",
    ):
        assert (path / name).is_file(), name
    assert (path / "logs").is_dir() and not (path / "checkpoints").exists()
    assert not (path / "training_state.json").exists()
    assert is_finished_run(path) and not partial_path(path).exists()
    config = json.loads((path / "config.json").read_text())
    assert config["model"] == "lenet" and config["dataset"] == "digits" and config["hparams"] == RELU
    assert config["lr"] == 1e-2 and config["optimizer"] == "adam"  # the model's defaults, resolved
    assert config["model_hyperparameters"]["kernel_initializer"] == "glorot_uniform"  # defaults shown too
    assert config["model_hyperparameters"]["activation"] == "relu" and config["model_hyperparameters"]["filters"] == [
        6,
        16,
    ]
    assert {"tensorflow", "keras", "kerascnn", "numpy"} <= set(config["versions"])
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test_images"] == 359 and metrics["images_per_second"] > 0
    assert set(metrics["per_class_accuracy"]) == {str(i) for i in range(10)}
    assert metrics["test_accuracy"] > 0.8
    rows = list(csv.DictReader(open(path / "history.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1"] and "val_accuracy" in rows[0]


def test_evaluate_reproduces_the_test_accuracy(digits_run):
    result = kerascnn.evaluate(digits_run.path)
    assert result["test_images"] == 359
    assert result["test_accuracy"] == pytest.approx(digits_run.metrics["test_accuracy"], abs=1e-6)
    per_class = np.mean([v for v in result["per_class_accuracy"].values()])
    assert 0.5 < per_class <= 1


def test_the_raw_data_of_a_run_has_its_test_split(digits_run):
    from kerascnn.data import load_dataset
    from kerascnn.runs import load_run_dataset

    raw = load_run_dataset(digits_run.path)
    same = load_dataset("digits")
    assert raw.name == "digits" and len(raw.x_test) == digits_run.metrics["test_images"]
    np.testing.assert_array_equal(raw.x_test, same.x_test)
    assert load_run_dataset(digits_run.path / "best.keras").x_train.shape == same.x_train.shape


def test_best_checkpoint_loads_and_predicts(digits_run):
    from kerascnn.data import load_dataset
    from kerascnn.training import predict_images

    model, spec = load_trained(digits_run.path)
    raw = load_dataset("digits")
    probs = predict_images(model, spec, raw.x_test[0])  # one image, no batch axis
    assert probs.shape == (1, 10) and abs(probs.sum() - 1) < 1e-4


def test_finished_run_is_never_overwritten(digits_run):
    before = (digits_run.path / "metrics.json").read_text()
    with pytest.raises(ArtifactError, match="overwrite=True"):
        kerascnn.fit("lenet", epochs=1, out=str(digits_run.path), verbose=0)
    assert (digits_run.path / "metrics.json").read_text() == before


def test_overwrite_replaces_a_finished_run(digits_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(digits_run.path, out)  # a finished run
    second = kerascnn.fit("lenet", epochs=1, hparams=RELU, out=str(out), verbose=0, overwrite=True, seed=1, val_split=0)
    assert second.path == out and json.loads((out / "config.json").read_text())["seed"] == 1
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1  # the new run's, not the copied one's
    assert not list(tmp_path.glob(".*old*")) and not partial_path(out).exists()


def test_nan_loss_is_one_error_and_leaves_nothing(tmp_path):
    out = tmp_path / "nan"
    with pytest.raises(TrainingError, match="NaN") as info:
        kerascnn.fit("lenet", epochs=2, optimizer="sgd", lr=1e9, hparams=RELU, out=str(out), verbose=0)
    assert "\n" not in str(info.value)
    assert not out.exists() and not partial_path(out).exists()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(model="no_such_model"), UnknownModelError),
        (dict(dataset="no_such_dataset_xyz"), DataError),
        (dict(input_shape=[3, 3]), InputTooSmallError),
        (dict(input_shape=[28, 28, 2]), DataError),
        (dict(optimizer="rmsprop"), KerasCNNError),
        (dict(epochs=0), KerasCNNError),
    ],
)
def test_bad_input_fails_before_any_file(tmp_path, kwargs, error):
    out = tmp_path / "bad"
    model = kwargs.pop("model", "lenet")
    with pytest.raises(error):
        kerascnn.fit(model, out=str(out), verbose=0, **kwargs)
    assert not out.exists() and not partial_path(out).exists()


def test_learning_rate_is_another_name_for_lr(tmp_path):
    # Both names reach the same setting: its check names it lr (refused before any file is written).
    for name in ("lr", "learning_rate"):
        with pytest.raises(KerasCNNError, match=r"lr must be positive. Received: lr=-1"):
            kerascnn.fit("lenet", out=str(tmp_path / "run"), verbose=0, **{name: -1})
    assert not (tmp_path / "run").exists()


def test_hparams_files(tmp_path):
    (tmp_path / "h.json").write_text(json.dumps({"values": {"activation": "relu", "lr": 0.005, "tuner/epochs": 3}}))
    (tmp_path / "h.yaml").write_text("activation: tanh\nfilters: [4, 8]\noptimizer: momentum\n")
    assert load_hparams(tmp_path / "h.json") == {"activation": "relu", "lr": 0.005}
    cfg = TrainConfig(model="lenet", hparams=load_hparams(tmp_path / "h.yaml")).resolve()
    assert cfg.hparams == {"activation": "tanh", "filters": [4, 8]} and cfg.optimizer == "momentum"
    cfg = TrainConfig(model="lenet", lr=0.1, hparams={"lr": 0.005}).resolve()
    assert cfg.lr == 0.1  # an explicit flag wins over the file
    # Keras' name for lr, as in older best_hyperparameters.json files, is read as lr.
    cfg = TrainConfig(model="lenet", hparams={"learning_rate": 0.005, "activation": "relu"}).resolve()
    assert cfg.lr == 0.005 and cfg.hparams == {"activation": "relu"}
    assert TrainConfig.from_dict({"model": "lenet", "learning_rate": 0.02}).lr == 0.02
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(KerasCNNError, match="not valid JSON"):
        load_hparams(tmp_path / "bad.json")


def test_multi_output_model_trains_with_loss_weights():
    import keras
    import tensorflow as tf

    from kerascnn.training import accuracy_key, compile_model, with_multi_output_labels

    inputs = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(3, name="main")(flat), keras.layers.Dense(3, name="aux")(flat)])
    compile_model(
        model,
        optimizer="momentum",
        lr=0.1,
        schedule="cosine",
        epochs=3,
        steps_per_epoch=2,
        label_smoothing=0.1,
        aux_loss_weight=0.3,
    )
    x = np.random.default_rng(0).random((32, 8, 8, 1), dtype=np.float32)
    y = (x[:, 0, 0, 0] * 3).astype(np.int64)
    ds = with_multi_output_labels(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), 2)
    history = model.fit(ds, epochs=3, verbose=0, shuffle=False).history
    assert accuracy_key(model) == "main_accuracy" and "main_accuracy" in history
    assert history["loss"][-1] == pytest.approx(history["main_loss"][-1] + 0.3 * history["aux_loss"][-1], rel=1e-3)


def test_an_unknown_setting_names_the_closest_one():
    with pytest.raises(KerasCNNError) as info:
        kerascnn.fit("lenet", epoch=2, verbose=0)
    assert str(info.value) == "Unknown training setting: 'epoch' (did you mean 'epochs'?)."
    with pytest.raises(KerasCNNError, match=r"'batchsize' \(did you mean 'batch_size'\?\), 'colour'\.$"):
        kerascnn.fit("lenet", batchsize=8, colour=True, verbose=0)


def test_errors_in_python_name_keyword_arguments_not_flags(tmp_path, digits_run):
    with pytest.raises(ArtifactError) as info:
        kerascnn.fit("lenet", epochs=1, out=str(digits_run.path), verbose=0)
    assert "overwrite=True" in str(info.value) and "out=" in str(info.value) and "--" not in str(info.value)
    with pytest.raises(KerasCNNError) as info:
        kerascnn.fit("lenet", freeze="backbone", out=str(tmp_path / "run"), verbose=0)
    assert str(info.value) == "freeze= and fine_tune_epochs= need init_from= (pretrained weights to start from)."
