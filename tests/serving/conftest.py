"""Fixtures for the serving tests: real SavedModels in the export layout, and real server processes.

The exports are written by ``kerascnn.export`` itself (``NAME/<version>/`` with ``serving_default``:
``images`` uint8 [None, 28, 28, 1] -> ``probabilities`` float32 [None, 10], ``classes`` int64 [None];
and ``serving_bytes``: ``image_bytes`` string [None] of PNG/JPEG -> the same outputs). Versions 1 and 2
are LeNets with different random weights, so the tests can tell which version answered.

A server process costs 10-20 s of TensorFlow import and model loading on 2 cores, so the session starts
two, together (their imports overlap), and shares them: ``server`` (a model config file: REST in test_app, gRPC in
test_grpc) and ``single_model_server`` (one model base path, batching off: test_server, test_image_requests,
test_metrics). Both are stopped with SIGTERM at the end of the session and must exit 0 having finished their work.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_export(version_dir: Path, seed: int) -> None:
    """An untrained LeNet exported exactly as ``kerascnn export`` writes a SavedModel version."""
    import keras

    from kerascnn.data.spec import DataSpec
    from kerascnn.export.saved_model import write_saved_model
    from kerascnn.models.build import build

    keras.utils.set_random_seed(seed)
    model = build("lenet", (28, 28, 1), 10)
    spec = DataSpec("digits", [str(d) for d in range(10)], (28, 28, 1), (28, 28, 1), [0.5], [0.25])
    write_saved_model(model, spec, version_dir)


def write_regressor(directory: Path) -> None:
    """A tiny SavedModel with TF Serving's regression signature: tf.Examples with float "x" -> 2x + 1."""
    import tensorflow as tf

    from kerascnn.export.saved_model import set_method_name

    class Regressor(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            x = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([], tf.float32)})["x"]
            return {"outputs": 2.0 * x + 1.0}

    module = Regressor()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.regress})
    set_method_name(directory, "serving_default", "tensorflow/serving/regress")


def copy_version(source: Path, base_path: Path, version: int) -> Path:
    """Copy a version folder into place atomically (write a hidden sibling, then rename)."""
    tmp = base_path / f".{version}.tmp"
    shutil.copytree(source, tmp)
    os.replace(tmp, base_path / str(version))
    return base_path / str(version)


@pytest.fixture(scope="session")
def exports(tmp_path_factory) -> dict:
    """``{"root": folder, 1: version-1 folder, 2: version-2 folder}`` under ``root/lenet/``."""
    root = tmp_path_factory.mktemp("exports")
    base = root / "lenet"
    write_export(base / "1", seed=1)
    write_export(base / "2", seed=2)
    return {"root": root, "base": base, 1: base / "1", 2: base / "2"}


@pytest.fixture(scope="session")
def reference(exports):
    """``reference(version, images_uint8) -> probabilities`` computed in-process with TensorFlow."""
    import tensorflow as tf

    loaded = {v: tf.saved_model.load(str(exports[v])) for v in (1, 2)}

    def predict(version, images):
        out = loaded[version].signatures["serving_default"](images=tf.constant(np.asarray(images, np.uint8)))
        return out["probabilities"].numpy()

    return predict


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    """40 random uint8 28x28x1 images (untrained models: any input tells versions apart)."""
    return np.random.default_rng(0).integers(0, 256, size=(40, 28, 28, 1), dtype=np.uint8)


def png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)[..., 0]).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``kerascnn serve ARGS --port P`` as a subprocess, with small HTTP helpers."""

    def __init__(self, args, tmp_path: Path):
        self.port = free_port()
        self.grpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.stdout_path, self.stderr_path = tmp_path / "serve.stdout", tmp_path / "serve.stderr"
        self.answered = []  # (method, path, HTTP status) of every request answered through request()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kerascnn.cli.main",
                "serve",
                *map(str, args),
                "--port",
                str(self.port),
                "--grpc-port",
                str(self.grpc_port),
            ],
            stdout=open(self.stdout_path, "w"),
            stderr=open(self.stderr_path, "w"),
            env=env,
            cwd=REPO_ROOT,
        )

    def wait_ready(self, model: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.stderr()[-3000:]}")
            try:
                status, _ = self.request("GET", f"/v1/models/{model}")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.stderr()[-3000:]}")

    def request(self, method: str, path: str, body=None, timeout: float = 30.0):
        """(HTTP status, parsed JSON body) of one request."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                status, answer = response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            status, answer = e.code, json.loads(e.read())
        self.answered.append((method, path, status))
        return status, answer

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not stop within 30 s of SIGTERM") from None

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()


CONFIG = """
# Every version of lenet (with labels), the latest version of "hot" (REST), "grpc_hot" and "swap" (gRPC),
# which the hot-loading tests change on disk, and a regressor.
model_config_list {
  config {
    name: "lenet"
    base_path: "%(lenet)s"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config { name: "hot" base_path: "hot" }
  config { name: "grpc_hot" base_path: "grpc_hot" }
  config { name: "swap" base_path: "swap" }
  config { name: "regressor" base_path: "regressor" }
}
"""


@pytest.fixture(scope="session")
def server_processes(exports, tmp_path_factory) -> dict:
    """Both session servers, started together so that their TensorFlow imports overlap (not yet ready).

    ``"config"``: ``kerascnn serve --model-config-file`` for the REST and gRPC tests: short polling (of the
    version folders and of the config file), small
    batches behind one batch thread, small body (1 MB) and image (10,000 pixels) limits, metrics on, 2 s
    header and body timeouts; ``hot_base``/``grpc_hot_base`` are the folders of the models the
    hot-loading tests change, ``config_path`` the config file (relative base paths).
    ``"single"``: ``kerascnn serve MODEL_BASE_PATH --model-name digits``: every version, batching off,
    metrics on, an access log file (``access_log``).
    """
    # the single-model server first: it needs only the exports, and imports TF while the rest is written
    single_folder = tmp_path_factory.mktemp("single_model_server")
    access_log = single_folder / "access.log"
    single = ServerProcess(
        [
            exports["base"],
            "--model-name",
            "digits",
            "--no-batching",
            "--access-log",
            access_log,
            "--model-version-policy",
            "all",
            "--enable-metrics",
        ],
        single_folder,
    )
    single.access_log = access_log
    try:
        folder = tmp_path_factory.mktemp("server")
        for name in ("hot", "grpc_hot", "swap"):
            (folder / name).mkdir()
            copy_version(exports[1], folder / name, 1)
        write_regressor(folder / "regressor" / "1")
        config = folder / "models.config"
        config.write_text(CONFIG % {"lenet": exports["base"]})
        config_server = ServerProcess(
            [
                "--model-config-file",
                config,
                "--model-config-file-poll-seconds",
                "0.3",
                "--poll-seconds",
                "0.3",
                "--max-batch-size",
                "8",
                "--batch-timeout-micros",
                "2000",
                "--num-batch-threads",
                "1",
                "--max-request-bytes",
                "1000000",
                "--max-image-pixels",
                "10000",
                "--enable-metrics",
                "--header-timeout",
                "2",
                "--body-timeout",
                "2",
            ],
            folder,
        )
        config_server.config_path, config_server.hot_base, config_server.grpc_hot_base = (
            config,
            folder / "hot",
            folder / "grpc_hot",
        )
        config_server.swap_base = folder / "swap"
    except BaseException:  # no server left behind by a failed set-up
        single.proc.kill()
        raise
    servers = {"config": config_server, "single": single}
    yield servers
    for process in servers.values():  # a server no test asked for; the others are stopped already
        if process.proc.poll() is None:
            process.stop()


@pytest.fixture(scope="session")
def server(server_processes):
    """The config-file server (see :func:`server_processes`), shared by the REST and gRPC tests.

    At the end of the session: calls in flight at SIGTERM are answered, exit 0, "stopped" printed.
    """
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    server = server_processes["config"]
    server.wait_ready("lenet")
    yield server
    # Graceful stop: calls in flight when SIGTERM arrives are answered, then the server exits 0. 16 calls
    # of 1,000 images (~50 ms each) queue up behind one batch thread; SIGTERM goes once the first is
    # answered, so the server has received the others (a call still on its way may rightly be refused).
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lenet"
    request.model_spec.version.value = 1
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((1000, 28, 28, 1), np.uint8)))
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        calls = [stub.Predict.future(request, 60.0) for _ in range(16)]
        calls[0].result()
        in_flight = sum(not call.done() for call in calls)
        assert server.stop() == 0, server.stderr()[-2000:]
        assert in_flight > 0  # else this checked nothing
        assert all(call.result().outputs["classes"].tensor_shape.dim[0].size == 1000 for call in calls)
    assert "kerascnn serve: stopped" in server.stdout()


@pytest.fixture(scope="session")
def single_model_server(server_processes):
    """The one-model server (see :func:`server_processes`), for test_server and test_image_requests.

    At the end of the session: SIGTERM, exit 0, "stopped" printed, and every answered request in the access log.
    """
    server = server_processes["single"]
    server.wait_ready("digits")
    yield server
    assert server.stop() == 0, server.stderr()[-2000:]
    assert "kerascnn serve: stopped" in server.stdout()
    log = server.access_log.read_text()
    missing = [
        f'"{method} {path} HTTP/1.1" {status}'
        for method, path, status in server.answered
        if f'"{method} {path} HTTP/1.1" {status}' not in log
    ]
    assert server.answered and not missing, f"requests missing from the access log: {missing[:5]}"


def pytest_collection_modifyitems(config, items):
    """TF Serving's own integration test (about 4 minutes on 2 cores) runs when asked for: ``-m tf_serving_suite``."""
    if "tf_serving_suite" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="TF Serving's integration suite: run with -m tf_serving_suite")
    for item in items:
        if "tf_serving_suite" in item.keywords:
            item.add_marker(skip)
