"""``kerascnn-model-server``: the server under TF Serving's own command line.

A Dockerfile, Helm chart or systemd unit written for ``tensorflow_model_server`` runs with only the program's
name changed: the flags are TF Serving's (``main.cc``), with its spellings, defaults and meanings. ``--port``
is gRPC (0: none), ``--rest_api_port`` REST (0, the default: none), ``--model_name`` defaults to ``default``;
``--batching_parameters_file`` (``BatchingParameters``) and ``--monitoring_config_file`` (``MonitoringConfig``)
are read as TF Serving reads them, text-format protos of its own schema; relative base paths in
``--model_config_file`` are taken from the working directory, as TF Serving takes them.

Flags that only tune TF Serving's C++ internals (load threads, filesystem caches, TFLite pools, ...) are
accepted and have nothing to tune here; flags asking for something this server does not do (TLS, CORS,
TFLite models, the profiler, platform configs) are refused with one line rather than silently ignored.
Errors (a bad flag, a missing model path, a config file that does not parse) are one line on stderr and
exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys

PROG = "kerascnn-model-server"

DESCRIPTION = """\
Serve SavedModels with TF Serving's command line: the flags of tensorflow_model_server, spelled as it
spells them (--flag=value; booleans as --flag, --flag=true or --flag=false). gRPC on --port (8500),
REST on --rest_api_port (off unless given), the same APIs, metrics and config files as TF Serving."""

EPILOG = """\
examples:
  kerascnn-model-server --port=8500 --rest_api_port=8501 --model_name=lenet --model_base_path=/models/lenet
  kerascnn-model-server --rest_api_port=8501 --model_config_file=/models/models.config \\
      --model_config_file_poll_wait_seconds=60 --monitoring_config_file=/models/monitoring.config
  kerascnn-model-server --model_base_path=/models/lenet --enable_batching \\
      --batching_parameters_file=/models/batching.config --grpc_socket_path=/tmp/serving.sock

batching parameters (TF Serving's BatchingParameters, text format):
  max_batch_size { value: 32 }  batch_timeout_micros { value: 2000 }
  max_enqueued_batches { value: 64 }  num_batch_threads { value: 2 }

monitoring config (TF Serving's MonitoringConfig):
  prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }
"""


# How TF Serving spells the ServerOptions fields, for their error messages.
FLAG_NAMES = {
    "port": "--rest_api_port",
    "grpc_port": "--port",
    "poll_seconds": "--file_system_poll_wait_seconds",
    "num_threads": "--rest_api_num_threads",
    "max_request_bytes": "--grpc_channel_arguments",
    "header_timeout": "--rest_api_timeout_in_ms",
    "body_timeout": "--rest_api_timeout_in_ms",
    "max_image_pixels": "KERASCNN_MAX_IMAGE_PIXELS",
    "intra_op_threads": "--tensorflow_intra_op_parallelism",
    "inter_op_threads": "--tensorflow_inter_op_parallelism",
    "config_poll_seconds": "--model_config_file_poll_wait_seconds",
}


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("true", "1", "t", "yes"):
        return True
    if value in ("false", "0", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line with exit status 1, as the rest of the server's errors."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def flag(name, kind=str, default=None, help="", group=p):
        if kind is bool:
            group.add_argument(
                f"--{name}", type=parse_bool, nargs="?", const=True, default=default, metavar="BOOL", help=help
            )
        else:
            group.add_argument(f"--{name}", type=kind, default=default, help=help)

    models = p.add_argument_group("models")
    flag("model_name", default="default", group=models, help="name of the model (ignored with --model_config_file)")
    flag(
        "model_base_path",
        default="",
        group=models,
        help="folder of numbered SavedModel versions (ignored with --model_config_file)",
    )
    flag("model_config_file", default="", group=models, help="ModelServerConfig text file: several models")
    flag(
        "model_config_file_poll_wait_seconds",
        int,
        0,
        group=models,
        help="re-read --model_config_file every N seconds (0: read once)",
    )
    flag(
        "file_system_poll_wait_seconds",
        int,
        1,
        group=models,
        help="look for new or removed versions every N seconds (0: once, at start-up)",
    )
    flag("saved_model_tags", default="serve", group=models, help="MetaGraph tags to load (only 'serve')")
    flag("enable_model_warmup", bool, True, group=models, help="call each model once before serving it")
    flag(
        "enable_signature_method_name_check",
        bool,
        False,
        group=models,
        help="Classify/Regress only on signatures whose method name is classify/regress",
    )
    flag(
        "allow_version_labels_for_unavailable_models",
        bool,
        False,
        group=models,
        help="accepted; labels here may always name any version",
    )
    listen = p.add_argument_group("listening")
    flag("port", int, 8500, group=listen, help="gRPC port (0: no gRPC on TCP)")
    flag("grpc_socket_path", default="", group=listen, help="also serve gRPC on this Unix domain socket")
    flag(
        "grpc_channel_arguments",
        default="",
        group=listen,
        help="gRPC server arguments: name=value,name=value (e.g. grpc.max_receive_message_length=...)",
    )
    flag("rest_api_port", int, 0, group=listen, help="REST port (0: no REST API)")
    flag("rest_api_timeout_in_ms", int, 30000, group=listen, help="time a client has to send a REST request body")
    flag(
        "monitoring_config_file",
        default="",
        group=listen,
        help="MonitoringConfig text file: Prometheus metrics on the REST port",
    )
    batching = p.add_argument_group("batching")
    flag("enable_batching", bool, False, group=batching, help="group concurrent requests into one model call")
    flag("batching_parameters_file", default="", group=batching, help="BatchingParameters text file")
    threads = p.add_argument_group("TensorFlow")
    flag("tensorflow_intra_op_parallelism", int, 0, group=threads, help="threads per op (0: TensorFlow decides)")
    flag("tensorflow_inter_op_parallelism", int, 0, group=threads, help="ops run at once (0: TensorFlow decides)")
    flag(
        "tensorflow_session_parallelism",
        int,
        0,
        group=threads,
        help="both of the above when they are 0 (0: TensorFlow decides)",
    )
    accepted = p.add_argument_group("accepted for compatibility (they tune TF Serving's C++ internals)")
    for name, kind, default in [
        ("rest_api_num_threads", int, 0),
        ("num_load_threads", int, 0),
        ("num_unload_threads", int, 0),
        ("max_num_load_retries", int, 5),
        ("load_retry_interval_micros", int, 60_000_000),
        ("flush_filesystem_caches", bool, True),
        ("grpc_max_threads", int, 0),
        ("num_request_iterations_for_warmup", int, 1),
        ("remove_unused_fields_from_bundle_metagraph", bool, True),
        ("enable_serialization_as_tensor_content", bool, False),
        ("skip_initialize_tpu", bool, False),
        ("num_tflite_pools", int, 1),
        ("num_tflite_interpreters_per_pool", int, 1),
        ("per_process_gpu_memory_fraction", float, 0.0),
        ("enable_per_model_batching_parameters", bool, False),
    ]:
        flag(name, kind, default, group=accepted)
    refused = p.add_argument_group("refused when set (this server does not do it)")
    for name, kind, default in [
        ("rest_api_enable_cors_support", bool, False),
        ("use_alts_credentials", bool, False),
        ("ssl_config_file", str, ""),
        ("platform_config_file", str, ""),
        ("prefer_tflite_model", bool, False),
        ("enable_profiler", bool, False),
        ("tensorflow_session_config_file", str, ""),
        ("thread_pool_factory_config_file", str, ""),
        ("mixed_precision", str, ""),
        ("enable_grpc_healthcheck_service", bool, False),
    ]:
        flag(name, kind, default, group=refused)
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


REFUSED = (
    "rest_api_enable_cors_support",
    "use_alts_credentials",
    "ssl_config_file",
    "platform_config_file",
    "prefer_tflite_model",
    "enable_profiler",
    "tensorflow_session_config_file",
    "thread_pool_factory_config_file",
    "mixed_precision",
    "enable_grpc_healthcheck_service",
)


def channel_arguments(text: str) -> tuple:
    """``name=value,name=value`` -> ``((name, int or str value), ...)`` (TF Serving's --grpc_channel_arguments)."""
    from kerascnn.errors import KerasCNNError

    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise KerasCNNError(f"--grpc_channel_arguments: expected name=value, got {item!r}")
        try:
            pairs.append((name, int(value)))
        except ValueError:
            pairs.append((name, value))
    return tuple(pairs)


def options_from_args(args):
    """The :class:`~kerascnn.serving.server.ServerOptions` TF Serving's flags ask for."""
    from kerascnn.errors import KerasCNNError
    from kerascnn.serving import tf_serving_configs
    from kerascnn.serving.config import load_model_config
    from kerascnn.serving.repository import ModelConfig
    from kerascnn.serving.server import ServerOptions

    for name in REFUSED:
        if getattr(args, name):
            raise KerasCNNError(f"--{name} is not supported by {PROG}.")
    if {t.strip() for t in args.saved_model_tags.split(",")} != {"serve"}:
        raise KerasCNNError(f"--saved_model_tags: only 'serve' is supported. Received: {args.saved_model_tags!r}")
    if args.model_config_file:
        models = load_model_config(args.model_config_file, base_dir=os.getcwd())
    elif args.model_base_path:
        models = [ModelConfig(args.model_name, os.path.abspath(os.path.expanduser(args.model_base_path)))]
    else:
        raise KerasCNNError("Both --model_base_path and --model_config_file are empty: give one of them.")
    batching = None
    if args.enable_batching:
        batching = tf_serving_configs.batching_options(args.batching_parameters_file, default_threads())
    elif args.batching_parameters_file:
        raise KerasCNNError("--batching_parameters_file is read only with --enable_batching.")
    metrics_enabled, metrics_path = False, None
    if args.monitoring_config_file:
        metrics_enabled, metrics_path = tf_serving_configs.monitoring(args.monitoring_config_file)
    intra = args.tensorflow_intra_op_parallelism or args.tensorflow_session_parallelism
    inter = args.tensorflow_inter_op_parallelism or args.tensorflow_session_parallelism
    extra = {"metrics_path": metrics_path} if metrics_path else {}
    return ServerOptions(
        models=models,
        host="0.0.0.0",
        port=args.rest_api_port or None,
        grpc_port=args.port or None,
        grpc_socket_path=args.grpc_socket_path or None,
        grpc_channel_arguments=channel_arguments(args.grpc_channel_arguments),
        poll_seconds=max(0, args.file_system_poll_wait_seconds),
        model_config_file=args.model_config_file or None,
        config_poll_seconds=max(0, args.model_config_file_poll_wait_seconds),
        config_base_dir=os.getcwd(),
        batching=batching,
        num_threads=default_threads(),
        access_log=None,
        warm_up=args.enable_model_warmup,
        enable_metrics=metrics_enabled,
        body_timeout=args.rest_api_timeout_in_ms / 1000,
        intra_op_threads=intra,
        inter_op_threads=inter,
        method_name_check=args.enable_signature_method_name_check,
        flag_names=FLAG_NAMES,
        **extra,
    )


def default_threads() -> int:
    """Model calls at once: one per core but one, which the event loop (HTTP, gRPC, JSON) keeps."""
    return max(1, (os.cpu_count() or 2) - 1)


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    args = build_parser().parse_args(argv)
    if args.version:
        from kerascnn import __version__

        print(f"{PROG} {__version__} (TensorFlow Serving's APIs and command line)")
        return 0
    from kerascnn.errors import KerasCNNError

    try:
        options = options_from_args(args)
        from kerascnn.serving.server import serve

        return serve(options)
    except KerasCNNError as e:
        if os.environ.get("KERASCNN_DEBUG"):
            raise
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
