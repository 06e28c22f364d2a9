"""Encoded images and pixel values through ``kerascnn serve``: the rule of ``kerascnn predict``.

A server process, real HTTP requests: a decompression bomb through ``serving_bytes`` gets 400 without its
pixels being decoded (the server's memory stays flat), images ``predict`` refuses (transparency, 16-bit)
get 400 with the same reason, and ``true``/``false`` are not pixels.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import psutil
import pytest
from PIL import Image

from kerascnn_testing.data_files import png_bomb

from .conftest import png

pytestmark = pytest.mark.slow  # the session's single_model_server (a server process)


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def _encoded(array, mode) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes(mode, (array.shape[1], array.shape[0]), array.tobytes()).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def server(single_model_server):
    return single_model_server


def _predict_bytes(server, *images):
    return server.request(
        "POST", "/v1/models/digits:predict", {"signature_name": "serving_bytes", "instances": [_b64(i) for i in images]}
    )


def test_a_decompression_bomb_is_refused_from_its_header_and_memory_stays_flat(server, images):
    bomb = png_bomb()  # 388,871 bytes, 20000x20000 pixels: 400 MB decoded
    assert _predict_bytes(server, png(images[0]))[0] == 200
    before = _rss_mb(server.proc.pid)
    for _ in range(3):
        status, body = _predict_bytes(server, png(images[0]), bomb)
        assert status == 400, body
        assert (
            "'image_bytes' element 1 is 20000x20000 = 400,000,000 pixels, over the limit of 40,000,000" in body["error"]
        )
    grown_mb = _rss_mb(server.proc.pid) - before
    print(f"server RSS before {before:.0f} MB, after 3 bombs +{grown_mb:.0f} MB")
    assert grown_mb < 100  # decoding even one would add 400 MB
    assert _predict_bytes(server, png(images[1]))[0] == 200  # and it still serves


@pytest.mark.parametrize(
    "mode, channels, reason",
    [
        ("RGBA", 4, "has 4 channels (RGBA)"),
        ("I;16", None, "is a 16-bit image"),
    ],
)
def test_images_predict_refuses_are_refused_with_the_same_reason(server, mode, channels, reason):
    rng = np.random.default_rng(0)
    array = (
        rng.integers(0, 256, (28, 28, channels), dtype=np.uint8)
        if channels
        else rng.integers(0, 65536, (28, 28), dtype=np.uint16)
    )
    status, body = _predict_bytes(server, _encoded(array, mode))
    assert status == 400 and reason in body["error"], body


@pytest.mark.parametrize(
    "pixels",
    [
        [[[[True]] * 28] * 28],  # all booleans
        [[[[0]] * 28] * 27 + [[[False]] + [[0]] * 27]],  # one false among integers (NumPy would read it as 0)
    ],
)
def test_booleans_are_not_pixels(server, pixels):
    status, body = server.request("POST", "/v1/models/digits:predict", {"instances": pixels})
    assert status == 400 and "not of expected type: DT_UINT8" in body["error"], body
