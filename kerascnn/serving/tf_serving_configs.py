"""TF Serving's ``--batching_parameters_file`` and ``--monitoring_config_file``, read with TF Serving's schemas.

The messages are ``tensorflow.serving.BatchingParameters`` (``servables/tensorflow/session_bundle_config.proto``)
and ``tensorflow.serving.MonitoringConfig`` (``config/monitoring_config.proto``). ``tensorflow-serving-api``
does not ship them, so their descriptors are declared here, field for field (names, numbers, types), and the
files are parsed by ``google.protobuf.text_format`` as TF Serving's own parser reads them: a misspelt field
is an error with its line and column, not a silent default.
"""

from __future__ import annotations

import functools
from pathlib import Path

from kerascnn.errors import KerasCNNError

# BatchingParameters: (field, number, wrapper type); allowed_batch_sizes and pad_variable_length_inputs below.
_BATCHING_FIELDS = [
    ("max_batch_size", 1, "Int64Value"),
    ("batch_timeout_micros", 2, "Int64Value"),
    ("max_enqueued_batches", 3, "Int64Value"),
    ("num_batch_threads", 4, "Int64Value"),
    ("thread_pool_name", 5, "StringValue"),
    ("enable_large_batch_splitting", 8, "BoolValue"),
    ("max_execution_batch_size", 9, "Int64Value"),
]


@functools.cache
def _message_classes() -> dict:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    F = descriptor_pb2.FieldDescriptorProto
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    schema = descriptor_pb2.FileDescriptorProto(
        name="kerascnn/tf_serving_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    batching = schema.message_type.add(name="BatchingParameters")
    for name, number, wrapper in _BATCHING_FIELDS:
        batching.field.add(
            name=name,
            number=number,
            type=F.TYPE_MESSAGE,
            label=F.LABEL_OPTIONAL,
            type_name=f".google.protobuf.{wrapper}",
        )
    batching.field.add(name="allowed_batch_sizes", number=6, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    batching.field.add(name="pad_variable_length_inputs", number=7, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    prometheus = schema.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    monitoring = schema.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=F.TYPE_MESSAGE,
        label=F.LABEL_OPTIONAL,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool.Add(schema)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
        for name in ("BatchingParameters", "MonitoringConfig")
    }


def read(path, message: str):
    """Parse the text-format file ``path`` as the TF Serving message ``message``.

    Raises:
        KerasCNNError: unreadable, or TF Serving's "Error parsing text-format tensorflow.serving.<message>".
    """
    from google.protobuf import text_format

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise KerasCNNError(f"Cannot read {path}: {e.strerror or e}") from None
    proto = _message_classes()[message]()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        raise KerasCNNError(f"Error parsing text-format tensorflow.serving.{message} in {path}: {e}") from None
    return proto


def batching_options(path, default_threads: int):
    """The :class:`~kerascnn.serving.batching.BatchingOptions` of a BatchingParameters file (None: defaults).

    Fields the file leaves out take TF Serving's defaults (1000 examples, no timeout, 10 batches queued);
    ``num_batch_threads`` defaults to ``default_threads``. ``allowed_batch_sizes``, ``pad_variable_length_inputs``
    and batch splitting shape TF Serving's padding of batches; batches here are never padded, so they are
    accepted and change nothing in the answers.
    """
    from kerascnn.serving.batching import BatchingOptions

    values = {**BATCHING_DEFAULTS, "num_batch_threads": default_threads}
    if path:
        proto = read(path, "BatchingParameters")
        for name in values:
            if proto.HasField(name):
                values[name] = getattr(proto, name).value
    try:
        return BatchingOptions(**values)
    except ValueError as e:
        raise KerasCNNError(f"{path or 'batching parameters'}: {e}") from None


BATCHING_DEFAULTS = {"max_batch_size": 1000, "batch_timeout_micros": 0, "max_enqueued_batches": 10}


def monitoring(path) -> tuple:
    """``(enabled, path)`` of a MonitoringConfig file's ``prometheus_config``."""
    from kerascnn.serving.metrics import PATH

    config = read(path, "MonitoringConfig").prometheus_config
    return config.enable, (config.path or PATH)
