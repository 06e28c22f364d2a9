"""``kerascnn serve MODEL_BASE_PATH``: one model, batching off, access log file, SIGTERM.

The server is the session's ``single_model_server``; its stop (SIGTERM, exit 0, every answered request
in the access log file) is checked when the session ends.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_single_model_without_batching(single_model_server, images, reference):
    server = single_model_server
    status, body = server.request("POST", "/v1/models/digits/versions/1:predict", {"instances": images[:2].tolist()})
    assert status == 200
    np.testing.assert_allclose(
        [p["probabilities"] for p in body["predictions"]], reference(1, images[:2]), rtol=1e-5, atol=1e-6
    )
    assert server.request("GET", "/v1/models/digits")[0] == 200
    assert server.request("GET", "/v1/models/lenet")[0] == 404  # served under --model-name only
    assert "batching off" in server.stdout() and f"127.0.0.1:{server.port}" in server.stdout()
