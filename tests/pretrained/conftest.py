"""A weights server on 127.0.0.1 (the tests' stand-in for download.pytorch.org), a private cache and registry."""

from __future__ import annotations

import collections
import copy
import http.server
import threading
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    """Tests marked ``heavy`` run only when asked for (``-m heavy``): the default run stays within its budget."""
    if "heavy" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="heavy: run with -m heavy")
    for item in items:
        if item.get_closest_marker("heavy"):
            item.add_marker(skip)


class WeightsServer:
    """Serves the files of ``folder`` over HTTP; counts requests per file; can cut a response short."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.requests = collections.Counter()
        self.truncate = set()  # file names sent with their full Content-Length but half their bytes
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                server.requests[name] += 1
                path = server.folder / name
                if not path.is_file():
                    self.send_error(404, "Not Found")
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if name in server.truncate else data)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def weights_server(tmp_path):
    server = WeightsServer(tmp_path / "served")
    server.folder.mkdir()
    yield server
    server.close()


@pytest.fixture
def kerascnn_home(tmp_path, monkeypatch):
    """A private KERASCNN_HOME (the cache) and a registry restored after the test."""
    from kerascnn.models import weights

    home = tmp_path / "home"
    monkeypatch.setenv("KERASCNN_HOME", str(home))
    monkeypatch.delenv("KERASCNN_WEIGHTS_MIRROR", raising=False)
    saved = copy.deepcopy(weights._WEIGHTS)
    yield home
    weights._WEIGHTS.clear()
    weights._WEIGHTS.update(saved)


@pytest.fixture(scope="session")
def mobilenet_v2_file(tmp_path_factory):
    """(torch reference, its state dict saved as torchvision names its files: name-<sha256[:8]>.pth, sha256)."""
    import hashlib

    torch = pytest.importorskip("torch")
    from kerascnn_testing.torch_reference import torchvision_model

    reference = torchvision_model("mobilenet_v2")
    folder = tmp_path_factory.mktemp("published")
    path = folder / "mobilenet_v2.pth"
    torch.save(reference.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    named = path.rename(folder / f"mobilenet_v2-{digest[:8]}.pth")
    return reference, named, digest
