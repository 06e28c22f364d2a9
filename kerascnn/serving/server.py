"""Run the server: load models, listen, poll for new versions, log each request, stop cleanly.

``serve(ServerOptions(...))`` is what ``kerascnn serve`` calls; it blocks until SIGTERM or SIGINT, then
stops accepting connections, lets requests in flight finish (up to ``shutdown_timeout`` seconds) and
returns 0.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import logging
import signal
import socket
import sys
from pathlib import Path

from kerascnn.data.image_policy import DEFAULT_MAX_PIXELS
from kerascnn.errors import KerasCNNError
from kerascnn.serving.access_log import AccessLogWriter, access_logger_class
from kerascnn.serving.batching import Batcher, BatchingOptions
from kerascnn.serving.repository import ModelConfig, ModelRegistry, scan_versions
from kerascnn.serving.servable import is_saved_model_dir

log = logging.getLogger("kerascnn.serve")



@dataclasses.dataclass
class ServerOptions:
    """Everything ``kerascnn serve`` can be told (its flags, one to one)."""

    models: list  # of ModelConfig
    host: str = "127.0.0.1"
    port: int = 8501
    grpc_port: int | None = 8500  # None: no gRPC server
    poll_seconds: float = 1.0  # > 0: poll every N s; 0: only at start-up (as TF Serving)
    batching: BatchingOptions | None = dataclasses.field(default_factory=BatchingOptions)  # None: off
    num_threads: int = 2  # TF call threads when batching is off
    max_request_bytes: int = 32 * 1024 * 1024
    access_log: str | None = "-"  # "-": stderr; a path; None: off
    shutdown_timeout: float = 10.0
    warm_up: bool = True
    enable_metrics: bool = False  # GET /monitoring/prometheus/metrics
    header_timeout: float = 10.0  # seconds to send a request head (from connect or the previous answer)
    body_timeout: float = 60.0  # seconds to send a request body once its head arrived
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # encoded images larger than this are refused unread
    # TF Serving's --tensorflow_intra_op_parallelism / --tensorflow_inter_op_parallelism (0: TF decides).
    intra_op_threads: int = 1
    inter_op_threads: int = 0


def check_base_path(config: ModelConfig) -> None:
    """Fail early on the mistakes a user makes most: a missing folder or a version folder itself."""
    path = Path(config.base_path)
    if not path.is_dir():
        raise KerasCNNError(
            f"Model base path {path} (model {config.name!r}) does not exist or is not a folder. "
            "It should hold numbered SavedModel versions: BASE/1/saved_model.pb, BASE/2/..."
        )
    if is_saved_model_dir(path) and not scan_versions(path):
        raise KerasCNNError(
            f"{path} is a SavedModel, not a model base path: TF Serving expects numbered versions under it. "
            f"Serve its parent folder if that is a version folder, or move it to {path}/1."
        )


def poll_and_freeze(registry: ModelRegistry) -> None:
    if registry.poll():
        freeze_loaded_objects()


def reconfigure_and_freeze(registry: ModelRegistry, configs) -> None:
    """Serve exactly ``configs`` from now on (ModelService.HandleReloadConfigRequest), then load them."""
    registry.reconfigure(configs)
    poll_and_freeze(registry)


def freeze_loaded_objects() -> None:
    """Keep the garbage collector away from the models' objects.

    A loaded TensorFlow model is hundreds of thousands of long-lived Python objects; a full collection
    walks them all (about 0.4 s here), stalling every request in flight. ``gc.freeze`` moves them out of
    the collector's reach; objects created by requests are still collected as usual. (Cycles among the
    objects of a version unloaded later are not reclaimed: a small, bounded cost per version swap.)
    """
    gc.collect()
    gc.freeze()


def _exit_cleanly(signum, frame):
    print("kerascnn serve: stopped while loading models", flush=True)
    raise SystemExit(0)


def check_port_free(host: str, port: int, flag: str = "--port") -> None:
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise KerasCNNError(f"Cannot listen on {host}:{port}: {e.strerror or e}. Check --host.") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            probe.bind(address)
        except OSError as e:
            raise KerasCNNError(
                f"Cannot listen on {host}:{port}: {e.strerror or e}. Choose another {flag}."
            ) from None


def configure_tensorflow_threads(options: ServerOptions) -> None:
    """TensorFlow's thread pools, set before its runtime starts.

    One thread per op by default: the models served here are small per request, TensorFlow's pools
    spin while they wait for work (a single-image LeNet call used 429 us of CPU with the default pools,
    226 us with one thread per op, measured here), and parallelism comes from the batch threads, each
    running its own model call. The inter-op pool gets one thread per batch thread unless told.
    """
    import tensorflow as tf

    threads = options.batching.num_batch_threads if options.batching else options.num_threads
    if options.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(options.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(options.inter_op_threads or threads)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    server_log = logging.getLogger("kerascnn.serve")
    server_log.handlers[:] = [handler]
    server_log.setLevel(logging.INFO)
    server_log.propagate = False


def serve(options: ServerOptions) -> int:
    """Load the models and serve until SIGTERM/SIGINT. Returns the exit status (0 on a clean stop)."""
    configure_logging()
    for config in options.models:
        check_base_path(config)
    check_port_free(options.host, options.port)  # before minutes of model loading, not after
    if options.grpc_port is not None:
        if options.grpc_port == options.port and options.port != 0:
            raise KerasCNNError(f"--grpc-port and --port must differ (both are {options.port}).")
        check_port_free(options.host, options.grpc_port, flag="--grpc-port")
    access_log = None  # opened after the checks: a start that fails on them leaves no empty log file
    if options.access_log is not None:
        try:
            access_log = AccessLogWriter(options.access_log)
        except OSError as e:
            raise KerasCNNError(f"Cannot open the access log {options.access_log}: {e.strerror or e}") from None
    try:
        configure_tensorflow_threads(options)
        registry = ModelRegistry(options.models, warm_up=options.warm_up)
        # A SIGTERM while the first models load (before the event loop takes the signal over) still ends
        # the process cleanly, with status 0.
        previous = signal.signal(signal.SIGTERM, _exit_cleanly)
        try:
            registry.poll()  # the first load happens before the port opens, as in TF Serving
        finally:
            signal.signal(signal.SIGTERM, previous)
        freeze_loaded_objects()
        for repository in registry.models.values():
            print(f"kerascnn serve: model {repository.describe()}", flush=True)
        return asyncio.run(_serve(options, registry, access_log))
    finally:
        if access_log is not None:
            access_log.close()


async def _serve(options: ServerOptions, registry: ModelRegistry, access_log) -> int:
    from aiohttp import web

    from kerascnn.serving.app import JSONErrorRunner, create_app
    from kerascnn.serving.grpc_api import ServingContext
    from kerascnn.serving.metrics import Metrics

    threads = options.batching.num_batch_threads if options.batching else options.num_threads
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tf")
    loader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader")
    metrics = Metrics(options.enable_metrics, model_names=lambda: registry.models)
    batcher = Batcher(options.batching, executor, metrics) if options.batching else None
    loop = asyncio.get_running_loop()

    async def reload_config(configs):
        await loop.run_in_executor(loader, reconfigure_and_freeze, registry, configs)

    ctx = ServingContext(registry, executor=executor, batcher=batcher, max_message_bytes=options.max_request_bytes,
                         metrics=metrics, reload_config=reload_config, max_image_pixels=options.max_image_pixels)
    app = create_app(registry, executor=executor, batcher=batcher, max_request_bytes=options.max_request_bytes,
                     context=ctx, body_timeout=options.body_timeout)
    logger_options = {"access_log": None}
    if access_log is not None:
        logger_options = {"access_log": log, "access_log_class": access_logger_class(access_log)}
    # aiohttp's keep-alive timer runs from the moment a connection opens and from each answer, and closes
    # the connection if no complete request head arrived by then: that is the header timeout.
    app_runner = JSONErrorRunner(app, handle_signals=False, shutdown_timeout=options.shutdown_timeout,
                                 keepalive_timeout=options.header_timeout, **logger_options)
    await app_runner.setup()
    site = web.TCPSite(app_runner, options.host, options.port, backlog=1024)
    try:
        await site.start()
    except OSError as e:
        await app_runner.cleanup()
        raise KerasCNNError(
            f"Cannot listen on {options.host}:{options.port}: {e.strerror or e}. Choose another --port."
        ) from None
    port = app_runner.addresses[0][1] if app_runner.addresses else options.port
    grpc_server = None
    if options.grpc_port is not None:
        from kerascnn.serving.grpc_api import create_server

        try:
            grpc_server, grpc_port = create_server(ctx, options.host, options.grpc_port)
        except RuntimeError as e:  # grpc raises RuntimeError when it cannot bind
            await app_runner.cleanup()
            raise KerasCNNError(
                f"Cannot listen on {options.host}:{options.grpc_port}: {e}. Choose another --grpc-port."
            ) from None
        await grpc_server.start()
    names = ", ".join(registry.models)
    batching = (
        f"batching on (max_batch_size={options.batching.max_batch_size}, "
        f"batch_timeout_micros={options.batching.batch_timeout_micros})" if options.batching else "batching off"
    )
    print(f"kerascnn serve: REST API at http://{options.host}:{port}/v1/models/ ({names}; {batching})", flush=True)
    if grpc_server is not None:
        print(f"kerascnn serve: gRPC API at {options.host}:{grpc_port} "
              "(tensorflow.serving.PredictionService, ModelService)", flush=True)
    if options.enable_metrics:
        print(f"kerascnn serve: metrics at http://{options.host}:{port}/monitoring/prometheus/metrics", flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def poll_forever():
        while options.poll_seconds > 0:
            await asyncio.sleep(options.poll_seconds)
            await loop.run_in_executor(loader, poll_and_freeze, registry)

    async def flush_forever():
        while access_log is not None:
            await asyncio.sleep(0.5)
            access_log.flush()

    background = [loop.create_task(poll_forever()), loop.create_task(flush_forever())]
    await stop.wait()
    log.info("stopping: no new connections; waiting for requests in flight")
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    # Both servers stop taking new calls at once; calls in flight finish (up to shutdown_timeout).
    stops = [app_runner.cleanup()]  # waits for handlers in flight
    if grpc_server is not None:
        stops.append(grpc_server.stop(options.shutdown_timeout))
    await asyncio.gather(*stops)
    if batcher is not None:
        await batcher.close()
        if batcher.batches:
            log.info("batching: %d batches, %.1f examples per batch on average",
                     batcher.batches, batcher.examples / batcher.batches)
    executor.shutdown(wait=True)
    loader.shutdown(wait=False, cancel_futures=True)
    print("kerascnn serve: stopped", flush=True)
    return 0
