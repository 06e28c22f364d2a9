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
to its working directory; absolute paths behave the same in both). The schema is a subset of
``tensorflow_serving/config/model_server_config.proto`` (same field numbers), built at run time so no
TF Serving package is needed; fields kerascnn does not use (``logging_config``, ...) are rejected with
the line they are on, rather than silently ignored.
"""

from __future__ import annotations

from pathlib import Path

from kerascnn.errors import KerasCNNError
from kerascnn.serving.repository import ModelConfig, VersionPolicy

_PACKAGE = "kerascnn.serving.tfs_config"
_MESSAGE_CLASS = None


def _message_class():
    """ModelServerConfig, defined from a FileDescriptorProto with TF Serving's field names and numbers."""
    global _MESSAGE_CLASS
    if _MESSAGE_CLASS is not None:
        return _MESSAGE_CLASS
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    file_proto = descriptor_pb2.FileDescriptorProto(name="kerascnn_tfs_config.proto", package=_PACKAGE, syntax="proto3")

    def message(name, fields, nested=(), oneofs=()):
        msg = file_proto.message_type.add(name=name)
        for n in oneofs:
            msg.oneof_decl.add(name=n)
        for field in fields:
            msg.field.add(**field)
        for nested_msg in nested:
            msg.nested_type.add().CopyFrom(nested_msg)
        return msg

    def field(name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, oneof_index=None):
        d = {"name": name, "number": number, "type": ftype, "label": label}
        if type_name:
            d["type_name"] = f".{_PACKAGE}.{type_name}"
        if oneof_index is not None:
            d["oneof_index"] = oneof_index
        return d

    latest = descriptor_pb2.DescriptorProto(name="Latest")
    latest.field.add(**field("num_versions", 1, F.TYPE_UINT32))
    all_ = descriptor_pb2.DescriptorProto(name="All")
    specific = descriptor_pb2.DescriptorProto(name="Specific")
    specific.field.add(**field("versions", 1, F.TYPE_INT64, F.LABEL_REPEATED))
    message(
        "ServableVersionPolicy",
        [
            field("latest", 100, F.TYPE_MESSAGE, type_name="ServableVersionPolicy.Latest", oneof_index=0),
            field("all", 101, F.TYPE_MESSAGE, type_name="ServableVersionPolicy.All", oneof_index=0),
            field("specific", 102, F.TYPE_MESSAGE, type_name="ServableVersionPolicy.Specific", oneof_index=0),
        ],
        nested=(latest, all_, specific),
        oneofs=("policy_choice",),
    )
    labels_entry = descriptor_pb2.DescriptorProto(name="VersionLabelsEntry")
    labels_entry.field.add(**field("key", 1, F.TYPE_STRING))
    labels_entry.field.add(**field("value", 2, F.TYPE_INT64))
    labels_entry.options.map_entry = True
    message(
        "ModelConfig",
        [
            field("name", 1, F.TYPE_STRING),
            field("base_path", 2, F.TYPE_STRING),
            field("model_platform", 4, F.TYPE_STRING),
            field("model_version_policy", 7, F.TYPE_MESSAGE, type_name="ServableVersionPolicy"),
            field("version_labels", 8, F.TYPE_MESSAGE, F.LABEL_REPEATED, type_name="ModelConfig.VersionLabelsEntry"),
        ],
        nested=(labels_entry,),
    )
    message("ModelConfigList", [field("config", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, type_name="ModelConfig")])
    message("ModelServerConfig", [field("model_config_list", 1, F.TYPE_MESSAGE, type_name="ModelConfigList")])

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    _MESSAGE_CLASS = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.ModelServerConfig"))
    return _MESSAGE_CLASS


def parse_model_config(text: str, base_dir=".") -> list:
    """Parse TF Serving's model config text into :class:`ModelConfig` objects.

    Raises:
        KerasCNNError: a syntax error or unknown field (with its line and column), a model without a
            name or base path, or a platform other than ``tensorflow``.
    """
    from google.protobuf import text_format

    config = _message_class()()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise KerasCNNError(f"Model config is not valid TF Serving model_config_list text: {e}") from None
    models = []
    for i, c in enumerate(config.model_config_list.config):
        if not c.name or not c.base_path:
            raise KerasCNNError(f"Model config entry {i + 1} needs both name and base_path.")
        if c.model_platform not in ("", "tensorflow"):
            raise KerasCNNError(
                f"Model {c.name!r}: model_platform {c.model_platform!r} is not supported (only \"tensorflow\")."
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


def load_model_config(path) -> list:
    """Read and parse a model config file (see :func:`parse_model_config`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise KerasCNNError(f"Cannot read model config file {path}: {e.strerror or e}") from None
    return parse_model_config(text, base_dir=path.parent)
