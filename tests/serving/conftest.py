"""Fixtures for the serving tests: real SavedModels in the export layout, and real server processes.

The exports are written by ``kerascnn.export`` itself (``NAME/<version>/`` with ``serving_default``:
``images`` uint8 [None, 28, 28, 1] -> ``probabilities`` float32 [None, 10], ``classes`` int64 [None];
and ``serving_bytes``: ``image_bytes`` string [None] of PNG/JPEG -> the same outputs). Versions 1 and 2
are LeNets with different random weights, so the tests can tell which version answered.
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
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kerascnn.cli.main", "serve", *map(str, args), "--port", str(self.port),
             "--grpc-port", str(self.grpc_port)],
            stdout=open(self.stdout_path, "w"), stderr=open(self.stderr_path, "w"), env=env, cwd=REPO_ROOT,
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
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

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


@pytest.fixture
def start_server(tmp_path):
    """``start_server(*args, model=NAME)`` -> a ready :class:`ServerProcess`; stopped after the test."""
    servers = []

    def start(*args, model: str):
        server = ServerProcess(args, tmp_path / f"server{len(servers)}")
        servers.append(server)
        server.wait_ready(model)
        return server

    (tmp_path / "server0").mkdir()
    for i in range(1, 4):
        (tmp_path / f"server{i}").mkdir()
    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.stop()
