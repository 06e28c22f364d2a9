"""TF Serving's model_config_list text format."""

from __future__ import annotations

import pytest

from kerascnn.errors import KerasCNNError
from kerascnn.serving.config import load_model_config, model_configs, parse_model_config
from kerascnn.serving.repository import ModelConfig, VersionPolicy

TEXT = """
# comments are allowed, as in TF Serving
model_config_list {
  config {
    name: "lenet"
    base_path: "/models/lenet"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config { name: "b" base_path: "rel/b" model_version_policy { specific { versions: 3 versions: 1 } } }
  config { name: "c" base_path: "/c" model_version_policy { latest { num_versions: 2 } } }
  config { name: "d" base_path: "/d" }
}
"""


def test_parses_tf_serving_model_config(tmp_path):
    lenet, b, c, d = parse_model_config(TEXT, base_dir="/etc/serving")
    assert (lenet.name, lenet.base_path, lenet.version_policy) == ("lenet", "/models/lenet", VersionPolicy("all"))
    assert lenet.version_labels == {"stable": 1, "canary": 2}
    assert b.base_path == "/etc/serving/rel/b" and b.version_policy == VersionPolicy("specific", versions=(1, 3))
    assert c.version_policy == VersionPolicy("latest", 2)
    assert d.version_policy == VersionPolicy("latest", 1)
    (tmp_path / "models.config").write_text(TEXT)
    assert load_model_config(tmp_path / "models.config")[1].base_path == str(tmp_path / "rel" / "b")


@pytest.mark.parametrize(
    "text, message",
    [
        ('model_config_list { config { name: "x" bogus: 1 } }', "1:40"),
        ("model_config_list { config { name: ", "Error parsing text-format tensorflow.serving.ModelServerConfig: 1:36"),
        ('model_config_list { config { name: "x" } }', "needs both name and base_path"),
        ('model_config_list { config { name: "x" base_path: "/x" model_platform: "pytorch" } }', "not supported"),
        (
            'model_config_list { config { name: "x" base_path: "/x" model_version_policy { specific {} } } }',
            "at least one version",
        ),
        ("model_config_list { }", "lists no models"),
        # TF Serving's fields that kerascnn serve would ignore: refused where they are
        (
            'model_config_list { config { name: "x" base_path: "/x"\n  logging_config { } } }',
            "2:3 : logging_config is not supported",
        ),
        ('model_config_list { config { name: "x" base_path: "/x" model_type: TENSORFLOW } }', "1:56 : model_type"),
        ("custom_model_config { }", "1:1 : custom_model_config is not supported"),
    ],
)
def test_config_errors_say_what_is_wrong(text, message):
    with pytest.raises(KerasCNNError, match=message):
        parse_model_config(text)


def test_a_reload_message_gets_the_same_checks():
    """What ModelService.HandleReloadConfigRequest receives: a ModelServerConfig message, no text."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add(name="lenet", base_path="rel/lenet")
    entry.model_version_policy.specific.versions.extend([2, 1])
    entry.version_labels["stable"] = 1
    (lenet,) = model_configs(config, base_dir="/srv")
    assert lenet == ModelConfig("lenet", "/srv/rel/lenet", VersionPolicy("specific", versions=(1, 2)), {"stable": 1})
    entry.logging_config.sampling_config.sampling_rate = 0.5
    with pytest.raises(KerasCNNError, match="entry 1: logging_config is not supported"):
        model_configs(config)
    custom = model_server_config_pb2.ModelServerConfig()
    custom.custom_model_config.type_url = "type.googleapis.com/my.Config"
    with pytest.raises(KerasCNNError, match="custom_model_config is not supported"):
        model_configs(custom)


def test_missing_config_file(tmp_path):
    with pytest.raises(KerasCNNError, match="Cannot read model config file"):
        load_model_config(tmp_path / "nope.config")


@pytest.mark.parametrize(
    "text, policy",
    [
        ("latest", VersionPolicy("latest", 1)),
        ("latest:3", VersionPolicy("latest", 3)),
        ("all", VersionPolicy("all")),
        ("specific:2,1", VersionPolicy("specific", versions=(1, 2))),
    ],
)
def test_version_policy_flag(text, policy):
    assert VersionPolicy.parse(text) == policy
    assert VersionPolicy.parse(str(policy)) == policy


@pytest.mark.parametrize("text", ["newest", "latest:0", "latest:x", "specific", "specific:a", "all:2"])
def test_bad_version_policy_flag(text):
    with pytest.raises(KerasCNNError, match="version policy"):
        VersionPolicy.parse(text)
