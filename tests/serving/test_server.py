"""``kerascnn serve MODEL_BASE_PATH``: one model, batching off, access log file, SIGTERM."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_single_model_without_batching_then_sigterm(start_server, exports, images, reference, tmp_path):
    access_log = tmp_path / "access.log"
    server = start_server(exports["base"], "--model-name", "digits", "--no-batching", "--access-log", access_log,
                          "--model-version-policy", "all", model="digits")
    status, body = server.request("POST", "/v1/models/digits/versions/1:predict", {"instances": images[:2].tolist()})
    assert status == 200
    np.testing.assert_allclose([p["probabilities"] for p in body["predictions"]], reference(1, images[:2]),
                               rtol=1e-5, atol=1e-6)
    assert "batching off" in server.stdout() and f"127.0.0.1:{server.port}" in server.stdout()

    assert server.stop() == 0
    assert "kerascnn serve: stopped" in server.stdout()
    log = access_log.read_text()
    assert '"POST /v1/models/digits/versions/1:predict HTTP/1.1" 200' in log
    assert '"GET /v1/models/digits HTTP/1.1" 200' in log
