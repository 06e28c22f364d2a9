"""Search spaces: every zoo model has a valid default space; bad spaces fail in one line, before any trial."""

from __future__ import annotations

import json

import keras_tuner
import pytest

from kerascnn.models import list_models
from kerascnn.models.hyperparameters import default_hyperparameters
from kerascnn.tuning.spaces import (
    TRAINING_HYPERPARAMETERS,
    SearchSpaceError,
    default_space,
    load_space_file,
    resolve_space,
    variant_overrides,
)


@pytest.mark.parametrize("model", list_models())
def test_default_space_of_every_model_names_only_its_builder_arguments(model):
    space = resolve_space(model)
    known = set(default_hyperparameters(model)) | set(TRAINING_HYPERPARAMETERS)
    assert space.params, "a default space must search something"
    assert {p.arg for p in space.params} <= known
    assert {"lr", "optimizer"} <= {p.arg for p in space.params}
    lr = next(p for p in space.params if p.arg == "lr")
    assert lr.sampling == "log"
    # Declaring on keras-tuner and resolving give builder kwargs of the published shape.
    hp = keras_tuner.HyperParameters()
    model_kwargs, training = space.declare(hp)
    assert set(model_kwargs) <= set(default_hyperparameters(model))
    for arg, value in model_kwargs.items():
        published = default_hyperparameters(model)[arg]
        if isinstance(published, tuple):
            assert len(value) == len(published), arg
    assert space.resolve(hp.values) == (model_kwargs, training)


def test_variant_arguments_are_not_searched_by_default():
    assert variant_overrides("lenet_bn") == {"batch_norm": True}
    assert "batch_norm" in default_space("lenet") and "batch_norm" not in default_space("lenet_bn")
    model_kwargs, _ = resolve_space("lenet_bn").resolve({})
    assert "batch_norm" not in model_kwargs  # the variant's own True stays in force


def test_published_defaults_are_the_space_defaults():
    space = resolve_space("lenet", training_defaults={"lr": 0.01, "optimizer": "adam"})
    model_kwargs, training = space.resolve({})
    assert model_kwargs["kernel_sizes"] == [5, 5] and model_kwargs["filters"] == [6, 16]
    assert model_kwargs["activation"] == "sigmoid" and model_kwargs["batch_norm"] is False
    assert training == {"lr": 0.01, "optimizer": "adam"}


def test_a_space_file_may_name_the_learning_rate_as_keras_does():
    space = resolve_space("lenet", {"learning_rate": {"values": [0.01, 0.1]}})
    lr = next(p for p in space.params if p.arg == "lr")
    assert "learning_rate" not in {p.arg for p in space.params}
    assert lr.kind == "choice" and list(lr.values) == [0.01, 0.1]


def test_overrides_narrow_fix_and_search_single_elements():
    space = resolve_space(
        "lenet",
        {
            "kernel_sizes": [{"values": [3, 7]}, 5],
            "activation": "relu",
            "dense_units": {"values": [[120, 84], [256, 128]]},
            "dropout": {"min": 0.0, "max": 0.5, "step": 0.25, "default": 0.25},
        },
    )
    names = {p.name for p in space.params}
    assert "kernel_sizes[0]" in names and "kernel_sizes[1]" not in names and "activation" not in names
    hp = keras_tuner.HyperParameters()
    hp.Fixed("kernel_sizes[0]", 7)
    hp.values["dense_units"] = "json:[256, 128]"
    model_kwargs, _ = space.declare(hp)
    assert model_kwargs["kernel_sizes"] == [7, 5]
    assert model_kwargs["activation"] == "relu"
    assert model_kwargs["dense_units"] == [256, 128]
    assert model_kwargs["dropout"] == 0.25
    # Booleans come back as booleans, not keras-tuner's ints.
    assert resolve_space("lenet").resolve({"batch_norm": 1})[0]["batch_norm"] is True
    # The written space reads back to the same space.
    again = resolve_space("lenet", space.to_dict())
    assert [p.name for p in again.params] == [p.name for p in space.params]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"kernel_size": {"values": [3]}}, "Unknown hyperparameter 'kernel_size' for model lenet"),
        ({"dropout": {"min": 0.5, "max": 0.1}}, "dropout: min 0.5 is greater than max 0.1"),
        ({"kernel_sizes": [{"min": 7, "max": 3}, 5]}, "kernel_sizes[0]: min 7 is greater than max 3"),
        ({"activation": {"values": []}}, 'activation: "values" must be a non-empty list'),
        ({"activation": {"values": ["relu", "relu"]}}, "lists a value twice"),
        ({"activation": {"values": ["relu", 3]}}, "activation: A `Choice` can contain only one type"),
        ({"lr": {"min": 0, "max": 1, "sampling": "log"}}, "log sampling needs min > 0"),
        ({"kernel_sizes": [{"values": [3, 5]}]}, "1 element specs given but lenet takes 2 values"),
        ({"dropout": {"min": 0.0, "max": 0.5, "default": 0.9}}, "default 0.9 is outside"),
        ({"dropout": {"low": 0.0}}, "unknown key 'low'"),
        (
            {
                k: 1
                for k in [
                    "filters",
                    "kernel_sizes",
                    "dense_units",
                    "activation",
                    "pooling",
                    "batch_norm",
                    "dropout",
                    "lr",
                    "optimizer",
                ]
            },
            "has nothing to search",
        ),
    ],
)
def test_bad_spaces_are_one_line_errors(overrides, message):
    with pytest.raises(SearchSpaceError) as e:
        resolve_space("lenet", overrides)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_space_files_json_and_yaml(tmp_path):
    (tmp_path / "s.yaml").write_text("kernel_sizes: [{values: [3, 5, 7]}, 5]\noptimizer: {values: [sgd, adam]}\n")
    data = load_space_file(tmp_path / "s.yaml")
    assert data["kernel_sizes"][0] == {"values": [3, 5, 7]}
    (tmp_path / "s.json").write_text(json.dumps({"dropout": {"min": 0.0, "max": 0.2, "step": 0.1}}))
    space = resolve_space("lenet", tmp_path / "s.json")
    assert next(p for p in space.params if p.arg == "dropout").max == 0.2
    for name, text, message in [
        ("empty.yaml", "", "is empty"),
        ("empty.json", "{}", "is empty"),
        ("list.json", "[1, 2]", "must hold a mapping"),
        ("broken.json", '{"a": ', "is not valid JSON"),
        ("broken.yaml", "a: [1, 2", "is not valid YAML"),
    ]:
        (tmp_path / name).write_text(text)
        with pytest.raises(SearchSpaceError, match=message):
            load_space_file(tmp_path / name)
    with pytest.raises(SearchSpaceError, match="not found"):
        load_space_file(tmp_path / "missing.yaml")


def test_a_space_file_can_search_the_initializer():
    from kerascnn.training import TrainConfig
    from kerascnn.training.assembly import prepare
    from kerascnn.tuning.hypermodels import ZooHyperModel

    space = resolve_space("lenet", {"kernel_initializer": {"values": ["glorot_uniform", "he_normal", "lecun_normal"]}})
    hp = keras_tuner.HyperParameters()
    hp.Fixed("kernel_initializer", "he_normal")
    config = TrainConfig(model="lenet", epochs=1).resolve()
    model = ZooHyperModel(space, config, prepare(config)).build(hp)
    assert {type(layer.kernel_initializer).__name__ for layer in model.layers if hasattr(layer, "kernel")} == {
        "HeNormal"
    }
    param = next(p for p in space.params if p.arg == "kernel_initializer")
    assert list(param.values) == ["glorot_uniform", "he_normal", "lecun_normal"]
