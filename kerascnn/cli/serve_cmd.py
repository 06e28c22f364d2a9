"""``kerascnn serve``: TF Serving's REST API for exported SavedModels."""

from __future__ import annotations

import argparse
import os

DESCRIPTION = """\
Serve SavedModels over TF Serving's REST API (port 8501: same URLs, JSON and errors) and its gRPC API
(port 8500: tensorflow.serving.PredictionService and ModelService, the tensorflow-serving-api stubs),
so a client written for TF Serving works unchanged, and the folder you serve here works in TF Serving.

MODEL_BASE_PATH holds numbered versions (MODEL_BASE_PATH/1/saved_model.pb, .../2/...). The highest
version is served; a new version folder is picked up without a restart, and a version that fails to
load is reported in the model's status while the previous one keeps serving. Concurrent requests are
batched into one model call (--no-batching turns it off). Stop with Ctrl-C or SIGTERM."""

EPILOG = """\
examples:
  kerascnn serve models/lenet                        # http://127.0.0.1:8501/v1/models/lenet
  kerascnn serve models/lenet --model-name digits --port 9000
  kerascnn serve --model-config-file models.config   # several models (TF Serving's config format)

  curl http://127.0.0.1:8501/v1/models/lenet                      # version status
  curl http://127.0.0.1:8501/v1/models/lenet/metadata             # signatures, dtypes, shapes
  curl -d '{"instances": [[[[0], ...]]]}' http://127.0.0.1:8501/v1/models/lenet:predict
  curl -d '{"signature_name": "classification", "examples": [{"image/encoded": {"b64": "..."}}]}' \\
       http://127.0.0.1:8501/v1/models/lenet:classify
  kerascnn serve models/lenet --enable-metrics      # + GET /monitoring/prometheus/metrics

gRPC, as with TF Serving (pip package tensorflow-serving-api):
  stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel("127.0.0.1:8500"))
  request = predict_pb2.PredictRequest(); request.model_spec.name = "lenet"
  request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))   # uint8 [N, 28, 28, 1]
  stub.Predict(request, 10.0).outputs["probabilities"]

the config file (also accepted by tensorflow_model_server --model_config_file):
  model_config_list {
    config { name: "lenet" base_path: "/abs/models/lenet" model_platform: "tensorflow"
             model_version_policy { all {} }  version_labels { key: "stable" value: 1 } }
  }
"""


def register(subparsers):
    p = subparsers.add_parser(
        "serve",
        help="TF Serving-compatible REST server for exported SavedModels",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument(
        "model_base_path",
        nargs="?",
        metavar="MODEL_BASE_PATH",
        help="folder of numbered SavedModel versions (omit with --model-config-file)",
    )
    p.add_argument("--model-name", help="name in the URLs (default: the base path's folder name)")
    p.add_argument(
        "--model-config-file", metavar="FILE", help="serve several models: TF Serving's model_config_list text format"
    )
    p.add_argument(
        "--model-config-file-poll-seconds",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="re-read --model-config-file this often and serve what it says then (0: read once); "
        "a file that does not parse is reported and the models served stay as they were",
    )
    p.add_argument(
        "--model-version-policy",
        default="latest",
        metavar="POLICY",
        help="versions kept loaded: latest, latest:N, all, or specific:1,2",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 to accept other machines)")
    p.add_argument("--port", type=int, default=8501, help="REST port (0 picks a free one)")
    p.add_argument("--grpc-port", type=int, default=8500, help="gRPC port (0 picks a free one)")
    p.add_argument("--no-grpc", action="store_true", help="serve REST only")
    p.add_argument(
        "--enable-metrics",
        action="store_true",
        help="serve Prometheus metrics at /monitoring/prometheus/metrics (TF Serving's names)",
    )
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="how often to look for new or removed versions; 0 only at start-up",
    )
    batching = p.add_argument_group("dynamic batching (TF Serving's --enable_batching parameters)")
    batching.add_argument(
        "--batching",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="group concurrent requests into one model call",
    )
    batching.add_argument("--max-batch-size", type=int, default=32, help="examples per model call")
    batching.add_argument(
        "--batch-timeout-micros", type=int, default=0, help="how long a request may wait for others to fill its batch"
    )
    batching.add_argument(
        "--max-enqueued-batches", type=int, default=64, help="queue bound in batches; requests beyond it get 503"
    )
    batching.add_argument(
        "--num-batch-threads",
        type=int,
        default=None,
        help="model calls run at once (also the thread count without batching); default: one "
        "per core but one, which is left to the event loop (1 on 2 cores)",
    )
    p.add_argument(
        "--tensorflow-intra-op-parallelism",
        type=int,
        default=1,
        metavar="N",
        help="threads per TensorFlow op (0: one per core). 1 suits small models under batching; "
        "raise it for large models served to few clients",
    )
    p.add_argument(
        "--tensorflow-inter-op-parallelism",
        type=int,
        default=0,
        metavar="N",
        help="TensorFlow ops run at once (0: one per batch thread)",
    )
    p.add_argument(
        "--max-request-bytes",
        type=int,
        default=32 * 1024 * 1024,
        help="larger request bodies (decompressed) get 413; larger gRPC messages RESOURCE_EXHAUSTED",
    )
    p.add_argument(
        "--max-image-pixels",
        type=int,
        metavar="N",
        help="refuse encoded images (PNG/JPEG/GIF/BMP inputs, tf.Example bytes) of more pixels, "
        "judged from their header before anything is decoded (default: $KERASCNN_MAX_IMAGE_PIXELS "
        "or 40,000,000, as for predict and training folders)",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close a connection that sends no complete request head within this time of connecting "
        "or of its previous answer (slow or idle clients)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="answer 408 to a request whose body takes longer than this to arrive",
    )
    p.add_argument(
        "--access-log", default="-", metavar="PATH", help="one line per request: '-' for stderr, a file path, or 'off'"
    )
    p.set_defaults(func=run)


def default_batch_threads() -> int:
    """One core runs the event loop (HTTP, gRPC, JSON); the others run one batch each.

    Measured on 2 cores with the load generator beside the server: 1 batch thread gave batches of ~5
    and 0.43 ms of server CPU per gRPC request, 2 threads batches of ~2.4 and 0.65 ms.
    """
    return max(1, (os.cpu_count() or 2) - 1)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):
        if action.default is None or "default" in (action.help or ""):
            return action.help  # nothing useful to show
        return super()._get_help_string(action)


def _refuse_training_run(base) -> None:
    """A run directory from `kerascnn fit` is not an export: say so instead of waiting for versions."""
    from kerascnn.data.spec import SPEC_FILENAME
    from kerascnn.errors import KerasCNNError
    from kerascnn.runs import CONFIG_FILE, check_finished

    check_finished(base)
    if os.path.isfile(os.path.join(base, CONFIG_FILE)) and os.path.isfile(os.path.join(base, SPEC_FILENAME)):
        raise KerasCNNError(
            f"{base} is a training run, not an export; serve its SavedModel: `kerascnn export {base} "
            "--out models/NAME`, then `kerascnn serve models/NAME`."
        )


def run(args) -> int:
    from kerascnn.errors import KerasCNNError
    from kerascnn.serving.batching import BatchingOptions
    from kerascnn.serving.config import load_model_config
    from kerascnn.serving.repository import ModelConfig, VersionPolicy
    from kerascnn.serving.server import ServerOptions, serve

    if args.model_config_file and args.model_base_path:
        raise KerasCNNError("Give either MODEL_BASE_PATH or --model-config-file, not both.")
    if args.model_config_file:
        models = load_model_config(args.model_config_file)
    elif args.model_base_path:
        base = os.path.abspath(os.path.expanduser(args.model_base_path))
        _refuse_training_run(base)
        name = args.model_name or os.path.basename(base.rstrip(os.sep)) or "default"
        models = [ModelConfig(name, base, VersionPolicy.parse(args.model_version_policy))]
    else:
        raise KerasCNNError("Give the folder to serve (MODEL_BASE_PATH) or --model-config-file. See --help.")
    from kerascnn.data import image_policy

    limit = image_policy.max_pixels() if args.max_image_pixels is None else args.max_image_pixels
    if args.num_batch_threads is None:
        args.num_batch_threads = default_batch_threads()
    batching = None
    if args.batching:
        try:
            batching = BatchingOptions(
                max_batch_size=args.max_batch_size,
                batch_timeout_micros=args.batch_timeout_micros,
                max_enqueued_batches=args.max_enqueued_batches,
                num_batch_threads=args.num_batch_threads,
            )
        except ValueError as e:
            raise KerasCNNError(str(e)) from None
    options = ServerOptions(
        models=models,
        host=args.host,
        port=args.port,
        poll_seconds=args.poll_seconds,
        batching=batching,
        model_config_file=args.model_config_file,
        config_poll_seconds=args.model_config_file_poll_seconds,
        num_threads=args.num_batch_threads,
        max_request_bytes=args.max_request_bytes,
        access_log=None if args.access_log == "off" else args.access_log,
        grpc_port=None if args.no_grpc else args.grpc_port,
        enable_metrics=args.enable_metrics,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        max_image_pixels=limit,
        intra_op_threads=args.tensorflow_intra_op_parallelism,
        inter_op_threads=args.tensorflow_inter_op_parallelism,
    )
    return serve(options)
