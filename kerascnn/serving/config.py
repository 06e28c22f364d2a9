"""Several models from one file: TF Serving's ``--model_config_file`` (protobuf text format).

The same file works for ``kerascnn serve --model-config-file`` and for the real TF Serving::

    model_config_list {
      config {
        name: "lenet"
        base_path: "/models/lenet"
        model_platform: "tensorflow"
        model_version_policy { all {} }          # or latest { num_versions: 2 }, specific { versions: 1 }
        version_labels { key: "stable" value: 1 }
      }
      config { name: "resnet" base_path: "/models/resnet" }
    }

Relative base paths are taken relative to the config file's folder (TF Serving would take them relative
to its working directory; absolute paths behave the same in both). The file is parsed with TF Serving's own
schema (``tensorflow_serving.config.model_server_config_pb2`` from ``tensorflow-serving-api``) by
``google.protobuf.text_format``; the fields of that schema kerascnn does not act on (``logging_config``,
``model_type``, ``custom_model_config``) are rejected with the line they are on, rather than silently ignored.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerascnn.errors import KerasCNNError
from kerascnn.serving.repository import ModelConfig, VersionPolicy

# The ModelConfig fields kerascnn serve acts on; a config setting any other field would not do what it says.
USED_FIELDS = frozenset({"name", "base_path", "model_platform", "model_version_policy", "version_labels"})
UNUSED_FIELDS = frozenset(
    {f.name for f in model_server_config_pb2.ModelConfig.DESCRIPTOR.fields} - USED_FIELDS | {"custom_model_config"}
)


def parse_model_config(text: str, base_dir=".") -> list:
    """Parse TF Serving's model config text into :class:`ModelConfig` objects.

    Raises:
        KerasCNNError: a syntax error, unknown or unsupported field (with its line and column), a model
            without a name or base path, or a platform other than ``tensorflow``.
    """
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        # TF Serving's words for it, which scripts written for it look for.
        raise KerasCNNError(f"Error parsing text-format tensorflow.serving.ModelServerConfig: {e}") from None
    unused = _first_unused_field(text)
    if unused is not None:
        raise KerasCNNError(f"Model config {unused}")
    return model_configs(config, base_dir)


def model_configs(config, base_dir=".") -> list:
    """:class:`ModelConfig` objects of a ``ModelServerConfig`` message (a parsed file or a gRPC reload).

    Raises:
        KerasCNNError: as :func:`parse_model_config`, naming an unsupported field without a line.
    """
    if config.WhichOneof("config") == "custom_model_config":
        raise KerasCNNError(
            "Model config: custom_model_config is not supported by kerascnn serve (use model_config_list)."
        )
    models = []
    for i, c in enumerate(config.model_config_list.config):
        unused = [field.name for field, _ in c.ListFields() if field.name in UNUSED_FIELDS]
        if unused:
            raise KerasCNNError(f"Model config entry {i + 1}: {unused[0]} is not supported by kerascnn serve.")
        if not c.name or not c.base_path:
            raise KerasCNNError(f"Model config entry {i + 1} needs both name and base_path.")
        if c.model_platform not in ("", "tensorflow"):
            raise KerasCNNError(
                f'Model {c.name!r}: model_platform {c.model_platform!r} is not supported (only "tensorflow").'
            )
        choice = c.model_version_policy.WhichOneof("policy_choice")
        if choice == "all":
            policy = VersionPolicy("all")
        elif choice == "specific":
            if not c.model_version_policy.specific.versions:
                raise KerasCNNError(f"Model {c.name!r}: a specific version policy needs at least one version.")
            policy = VersionPolicy("specific", versions=tuple(sorted(c.model_version_policy.specific.versions)))
        else:
            policy = VersionPolicy("latest", max(1, c.model_version_policy.latest.num_versions or 1))
        base_path = Path(c.base_path).expanduser()
        if not base_path.is_absolute():
            base_path = Path(base_dir) / base_path
        models.append(ModelConfig(c.name, str(base_path), policy, dict(c.version_labels)))
    if not models:
        raise KerasCNNError("Model config lists no models (expected model_config_list { config { ... } }).")
    return models


def _first_unused_field(text: str):
    """The first field of :data:`UNUSED_FIELDS` in ``text`` as a ParseError ("line:column : ..."), or None."""
    tokens = text_format.Tokenizer(text.splitlines())
    while not tokens.AtEnd():
        if tokens.token in UNUSED_FIELDS:
            at = tokens.ParseError("")  # the tokenizer's public way to say where its current token is
            message = f"{tokens.token} is not supported by kerascnn serve."
            return text_format.ParseError(message, at.GetLine(), at.GetColumn())
        tokens.NextToken()
    return None


def load_model_config(path, base_dir=None) -> list:
    """Read and parse a model config file (see :func:`parse_model_config`).

    ``base_dir``: where relative base paths start (default: the file's folder; TF Serving's: the working
    directory)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise KerasCNNError(f"Cannot read model config file {path}: {e.strerror or e}") from None
    return parse_model_config(text, base_dir=path.parent if base_dir is None else base_dir)
