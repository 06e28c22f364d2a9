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
from kerascnn.serving.metrics import PATH as METRICS_PATH
from kerascnn.serving.repository import ModelConfig, ModelRegistry, scan_versions
from kerascnn.serving.servable import is_saved_model_dir

log = logging.getLogger("kerascnn.serve")


# How `kerascnn serve` spells each option on its command line (for error messages); `kerascnn-model-server`
# passes TF Serving's spellings instead.
SERVE_FLAGS = {
    "port": "--port",
    "grpc_port": "--grpc-port",
    "poll_seconds": "--poll-seconds",
    "num_threads": "--num-batch-threads",
    "max_request_bytes": "--max-request-bytes",
    "header_timeout": "--header-timeout",
    "body_timeout": "--body-timeout",
    "max_image_pixels": "--max-image-pixels",
    "intra_op_threads": "--tensorflow-intra-op-parallelism",
    "inter_op_threads": "--tensorflow-inter-op-parallelism",
    "config_poll_seconds": "--model-config-file-poll-seconds",
}


@dataclasses.dataclass
class ServerOptions:
    """Everything the server can be told (``kerascnn serve``'s flags and ``kerascnn-model-server``'s), checked here.

    Raises:
        KerasCNNError: a value out of range, naming the flag as ``flag_names`` spells it.
    """

    models: list  # of ModelConfig
    host: str = "127.0.0.1"
    port: int | None = 8501  # REST; None: no REST server
    grpc_port: int | None = 8500  # None: no gRPC server on TCP
    grpc_socket_path: str | None = None  # gRPC on this Unix domain socket as well
    grpc_channel_arguments: tuple = ()  # (name, value) gRPC server options
    poll_seconds: float = 1.0  # > 0: poll every N s; 0: only at start-up (as TF Serving)
    model_config_file: str | None = None  # where `models` came from, re-read every config_poll_seconds
    config_poll_seconds: float = 0.0  # 0: the config file is read once
    config_base_dir: str | None = None  # relative base paths in it start here (None: the file's folder)
    batching: BatchingOptions | None = dataclasses.field(default_factory=BatchingOptions)  # None: off
    num_threads: int = 2  # TF call threads when batching is off
    max_request_bytes: int = 32 * 1024 * 1024
    access_log: str | None = "-"  # "-": stderr; a path; None: off
    shutdown_timeout: float = 10.0
    warm_up: bool = True
    enable_metrics: bool = False  # GET metrics_path
    metrics_path: str = METRICS_PATH
    header_timeout: float = 10.0  # seconds to send a request head (from connect or the previous answer)
    body_timeout: float = 60.0  # seconds to send a request body once its head arrived
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # encoded images larger than this are refused unread
    # TF Serving's --tensorflow_intra_op_parallelism / --tensorflow_inter_op_parallelism (0: TF decides).
    intra_op_threads: int = 1
    inter_op_threads: int = 0
    method_name_check: bool = True  # Classify/Regress only on signatures whose method name says so
    flag_names: dataclasses.InitVar[dict | None] = None

    def __post_init__(self, flag_names):
        names = self.flag_names = {**SERVE_FLAGS, **(flag_names or {})}

        def fail(field, requirement):
            raise KerasCNNError(f"{names[field]} must be {requirement}. Received: {getattr(self, field)}")

        for field in ("port", "grpc_port"):
            value = getattr(self, field)
            if value is not None and not 0 <= value <= 65535:
                fail(field, "0..65535")
        if self.port is not None and self.port == self.grpc_port and self.port != 0:
            raise KerasCNNError(f"{names['grpc_port']} and {names['port']} must differ (both are {self.port}).")
        if self.port is None and self.grpc_port is None and not self.grpc_socket_path:
            raise KerasCNNError(f"Nothing to listen on: give {names['port']} or {names['grpc_port']}.")
        for field in ("intra_op_threads", "inter_op_threads", "poll_seconds", "config_poll_seconds"):
            if getattr(self, field) < 0:
                fail(field, ">= 0")
        for field in ("header_timeout", "body_timeout"):
            if getattr(self, field) <= 0:
                fail(field, "> 0 seconds")
        if self.max_image_pixels < 1:
            fail("max_image_pixels", "at least 1")
        if self.max_request_bytes < 1024:
            fail("max_request_bytes", "at least 1024")
        if self.num_threads < 1:
            fail("num_threads", "at least 1")
        if not self.metrics_path.startswith("/"):
            raise KerasCNNError(f"The metrics path must start with '/'. Received: {self.metrics_path!r}")


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
            raise KerasCNNError(f"Cannot listen on {host}:{port}: {e.strerror or e}. Choose another {flag}.") from None


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
    flags = options.flag_names
    if options.port is not None:
        check_port_free(options.host, options.port, flag=flags["port"])  # before minutes of loading, not after
    if options.grpc_port is not None:
        check_port_free(options.host, options.grpc_port, flag=flags["grpc_port"])
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
    from kerascnn.serving.context import ServingContext
    from kerascnn.serving.metrics import Metrics

    threads = options.batching.num_batch_threads if options.batching else options.num_threads
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tf")
    loader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader")
    metrics = Metrics(options.enable_metrics, model_names=lambda: registry.models)
    batcher = Batcher(options.batching, executor, metrics) if options.batching else None
    loop = asyncio.get_running_loop()
    flags = options.flag_names

    async def reload_config(configs):
        await loop.run_in_executor(loader, reconfigure_and_freeze, registry, configs)

    ctx = ServingContext(
        registry,
        executor=executor,
        batcher=batcher,
        max_message_bytes=options.max_request_bytes,
        metrics=metrics,
        reload_config=reload_config,
        max_image_pixels=options.max_image_pixels,
        method_name_check=options.method_name_check,
        metrics_path=options.metrics_path,
    )
    app_runner = None
    if options.port is not None:
        app = create_app(
            registry,
            executor=executor,
            batcher=batcher,
            max_request_bytes=options.max_request_bytes,
            context=ctx,
            body_timeout=options.body_timeout,
        )
        logger_options = {"access_log": None}
        if access_log is not None:
            logger_options = {"access_log": log, "access_log_class": access_logger_class(access_log)}
        # aiohttp's keep-alive timer runs from the moment a connection opens and from each answer, and closes
        # the connection if no complete request head arrived by then: that is the header timeout.
        app_runner = JSONErrorRunner(
            app,
            handle_signals=False,
            shutdown_timeout=options.shutdown_timeout,
            keepalive_timeout=options.header_timeout,
            **logger_options,
        )
        await app_runner.setup()
        site = web.TCPSite(app_runner, options.host, options.port, backlog=1024)
        try:
            await site.start()
        except OSError as e:
            await app_runner.cleanup()
            raise KerasCNNError(
                f"Cannot listen on {options.host}:{options.port}: {e.strerror or e}. Choose another {flags['port']}."
            ) from None
    port = app_runner.addresses[0][1] if app_runner and app_runner.addresses else options.port
    grpc_server = None
    if options.grpc_port is not None or options.grpc_socket_path:
        from kerascnn.serving.grpc_api import create_server

        try:
            grpc_server, grpc_port = create_server(
                ctx,
                options.host,
                options.grpc_port,
                socket_path=options.grpc_socket_path,
                channel_arguments=options.grpc_channel_arguments,
            )
        except RuntimeError as e:  # grpc raises RuntimeError when it cannot bind
            if app_runner is not None:
                await app_runner.cleanup()
            where = f"{options.host}:{options.grpc_port}" + (
                f" or {options.grpc_socket_path}" if options.grpc_socket_path else ""
            )
            raise KerasCNNError(f"Cannot listen on {where}: {e}. Choose another {flags['grpc_port']}.") from None
        await grpc_server.start()
    names = ", ".join(registry.models)
    batching = (
        f"batching on (max_batch_size={options.batching.max_batch_size}, "
        f"batch_timeout_micros={options.batching.batch_timeout_micros})"
        if options.batching
        else "batching off"
    )
    if app_runner is not None:
        print(f"kerascnn serve: REST API at http://{options.host}:{port}/v1/models/ ({names}; {batching})", flush=True)
    if grpc_server is not None:
        where = [f"{options.host}:{grpc_port}"] if grpc_port is not None else []
        where += [f"unix:{options.grpc_socket_path}"] if options.grpc_socket_path else []
        print(
            f"kerascnn serve: gRPC API at {' and '.join(where)} (tensorflow.serving.PredictionService, ModelService)",
            flush=True,
        )
    if options.enable_metrics and app_runner is not None:
        print(f"kerascnn serve: metrics at http://{options.host}:{port}{options.metrics_path}", flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def poll_forever():
        while options.poll_seconds > 0:
            await asyncio.sleep(options.poll_seconds)
            await loop.run_in_executor(loader, poll_and_freeze, registry)

    async def reread_config_forever():
        """TF Serving's --model_config_file_poll_wait_seconds: serve what the file says now."""
        from kerascnn.serving.config import load_model_config

        last = _read_text(options.model_config_file)
        while options.model_config_file and options.config_poll_seconds > 0:
            await asyncio.sleep(options.config_poll_seconds)
            text = _read_text(options.model_config_file)
            if text is None or text == last:
                continue
            last = text
            try:
                configs = load_model_config(options.model_config_file, base_dir=options.config_base_dir)
            except KerasCNNError as e:  # a half-written or broken file: keep serving what was served
                log.error("%s; still serving the previous model config", e)
                continue
            log.info(
                "model config %s changed: now serving %s", options.model_config_file, ", ".join(c.name for c in configs)
            )
            try:
                await reload_config(configs)
            except KerasCNNError as e:
                log.error("%s; still serving the previous model config", e)

    async def flush_forever():
        while access_log is not None:
            await asyncio.sleep(0.5)
            access_log.flush()

    background = [
        loop.create_task(poll_forever()),
        loop.create_task(flush_forever()),
        loop.create_task(reread_config_forever()),
    ]
    await stop.wait()
    log.info("stopping: no new connections; waiting for requests in flight")
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    # Both servers stop taking new calls at once; calls in flight finish (up to shutdown_timeout).
    stops = [app_runner.cleanup()] if app_runner is not None else []  # waits for handlers in flight
    if grpc_server is not None:
        stops.append(grpc_server.stop(options.shutdown_timeout))
    await asyncio.gather(*stops)
    if batcher is not None:
        await batcher.close()
        if batcher.batches:
            log.info(
                "batching: %d batches, %.1f examples per batch on average",
                batcher.batches,
                batcher.examples / batcher.batches,
            )
    executor.shutdown(wait=True)
    loader.shutdown(wait=False, cancel_futures=True)
    print("kerascnn serve: stopped", flush=True)
    return 0


def _read_text(path) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text()
    except OSError:
        return None
