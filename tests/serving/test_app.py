"""The REST API end to end: ``kerascnn serve`` in a subprocess, real HTTP requests, real SavedModels.

The server is the session's ``server`` fixture (conftest.py), shared with the gRPC tests.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import shutil
import time

import numpy as np
import pytest

from .conftest import copy_version, png

pytestmark = pytest.mark.slow  # the session's server process


def instances(images) -> dict:
    return {"instances": np.asarray(images).tolist()}


def probabilities(predictions) -> np.ndarray:
    return np.array([p["probabilities"] for p in predictions], dtype=np.float32)


# ------------------------------------------------------------------------------------------------ status


def test_status_lists_every_version_newest_first(server):
    status, body = server.request("GET", "/v1/models/lenet")
    assert status == 200
    assert body == {
        "model_version_status": [
            {"version": v, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            for v in ("2", "1")
        ]
    }


@pytest.mark.parametrize(
    "path, version",
    [
        ("/v1/models/lenet/versions/1", "1"),
        ("/v1/models/lenet/labels/stable", "1"),
        ("/v1/models/lenet/labels/canary", "2"),
        ("/V1/MODELS/lenet/VERSIONS/2", "2"),
    ],
)
def test_status_of_one_version(server, path, version):
    status, body = server.request("GET", path)
    assert status == 200
    assert [s["version"] for s in body["model_version_status"]] == [version]


# ---------------------------------------------------------------------------------------------- metadata


def test_metadata_has_tf_servings_layout(server):
    status, body = server.request("GET", "/v1/models/lenet/versions/1/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "lenet", "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    images = default["inputs"]["images"]
    assert images["dtype"] == "DT_UINT8"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    assert default["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in default["outputs"]["probabilities"]["tensor_shape"]["dim"]] == ["-1", "10"]
    assert default["outputs"]["classes"]["dtype"] == "DT_INT64"
    assert signatures["serving_bytes"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    _, latest = server.request("GET", "/v1/models/lenet/metadata")
    assert latest["model_spec"]["version"] == "2"


# ------------------------------------------------------------------------------------------------ predict


def test_predict_row_format(server, images, reference):
    status, body = server.request("POST", "/v1/models/lenet:predict", instances(images[:3]))
    assert status == 200
    predictions = body["predictions"]
    assert len(predictions) == 3 and set(predictions[0]) == {"probabilities", "classes"}
    np.testing.assert_allclose(probabilities(predictions), reference(2, images[:3]), rtol=1e-5, atol=1e-6)
    assert [p["classes"] for p in predictions] == reference(2, images[:3]).argmax(-1).tolist()


def test_predict_columnar_format(server, images, reference):
    for inputs in (images[:2].tolist(), {"images": images[:2].tolist()}):
        status, body = server.request("POST", "/v1/models/lenet:predict", {"inputs": inputs})
        assert status == 200
        outputs = body["outputs"]
        np.testing.assert_allclose(outputs["probabilities"], reference(2, images[:2]), rtol=1e-5, atol=1e-6)
        assert outputs["classes"] == reference(2, images[:2]).argmax(-1).tolist()


def test_predict_named_instances_and_signature_name(server, images, reference):
    request = {"signature_name": "serving_default", "instances": [{"images": images[0].tolist()}]}
    status, body = server.request("POST", "/v1/models/lenet:predict", request)
    assert status == 200
    np.testing.assert_allclose(probabilities(body["predictions"]), reference(2, images[:1]), rtol=1e-5, atol=1e-6)


def test_predict_b64_png(server, images, reference):
    encoded = [{"b64": base64.b64encode(png(image)).decode()} for image in images[:2]]
    expected = reference(2, images[:2])
    requests = [
        {"signature_name": "serving_bytes", "instances": encoded},
        {"signature_name": "serving_bytes", "instances": [{"image_bytes": e} for e in encoded]},
        {"signature_name": "serving_bytes", "inputs": {"image_bytes": encoded}},
    ]
    for request in requests:
        status, body = server.request("POST", "/v1/models/lenet:predict", request)
        assert status == 200, body
        got = body["predictions"] if "predictions" in body else body["outputs"]
        got = probabilities(got) if isinstance(got, list) else np.array(got["probabilities"])
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)  # PNG is lossless


@pytest.mark.parametrize(
    "path, version",
    [
        ("/v1/models/lenet:predict", 2),
        ("/v1/models/lenet/versions/1:predict", 1),
        ("/v1/models/lenet/versions/2:predict", 2),
        ("/v1/models/lenet/labels/stable:predict", 1),
        ("/v1/models/lenet/labels/canary:predict", 2),
    ],
)
def test_predict_versions_and_labels(server, images, reference, path, version):
    status, body = server.request("POST", path, instances(images[:2]))
    assert status == 200
    np.testing.assert_allclose(probabilities(body["predictions"]), reference(version, images[:2]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(reference(1, images[:2]), reference(2, images[:2]))  # the versions do differ


def test_concurrent_clients_each_get_their_own_answer(server, images, reference):
    """32 clients at once: batches form, and each slice goes back to the request it came from."""
    bad = {"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(b"not an image").decode()}]}

    def client(i):
        if i % 8 == 7:  # an undecodable image in the same queue must fail alone
            return i, server.request("POST", "/v1/models/lenet:predict", bad)
        if i % 2:
            encoded = {"b64": base64.b64encode(png(images[i])).decode()}
            request = {"signature_name": "serving_bytes", "instances": [encoded]}
        else:
            request = instances(images[i : i + 1])
        return i, server.request("POST", "/v1/models/lenet:predict", request)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(client, range(40)))
    for i, (status, body) in results:
        if i % 8 == 7:
            assert status == 400 and "error" in body, body
        else:
            assert status == 200, body
            np.testing.assert_allclose(
                probabilities(body["predictions"]), reference(2, images[i : i + 1]), rtol=1e-4, atol=1e-5
            )


# ------------------------------------------------------------------------------------------------- errors

GOOD = {"instances": [[[[0]] * 28] * 28]}
ERRORS = [
    # (method, path, body, HTTP status, part of the message)
    ("POST", "/v1/models/lenet:predict", b"{not json", 400, "JSON Parse error"),
    ("POST", "/v1/models/lenet:predict", b"", 400, "empty"),
    ("POST", "/v1/models/lenet:predict", b"[1]", 400, "Is not object"),
    ("POST", "/v1/models/lenet:predict", {"instances": [1], "inputs": [1]}, 400, "only one of 'inputs' or 'instances'"),
    ("POST", "/v1/models/lenet:predict", {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances'"),
    ("POST", "/v1/models/lenet:predict", {"instances": []}, 400, "No values in 'instances'"),
    ("POST", "/v1/models/lenet:predict", {"instances": [[[[0]] * 27] * 28]}, 400, "expects [-1,28,28,1]"),
    ("POST", "/v1/models/lenet:predict", {"instances": [[[0] * 28] * 28]}, 400, "has shape [1,28,28]"),
    ("POST", "/v1/models/lenet:predict", {"instances": [[[[300]] * 28] * 28]}, 400, "out of range for DT_UINT8"),
    ("POST", "/v1/models/lenet:predict", {"instances": [[[[-1]] * 28] * 28]}, 400, "out of range for DT_UINT8"),
    ("POST", "/v1/models/lenet:predict", {"instances": [[[[0.5]] * 28] * 28]}, 400, "not of expected type: DT_UINT8"),
    ("POST", "/v1/models/lenet:predict", b'{"instances": [[[[NaN]]]]}', 400, "not of expected type: DT_UINT8"),
    ("POST", "/v1/models/lenet:predict", {"instances": [[1, [2]]]}, 400, "not a tensor"),
    ("POST", "/v1/models/lenet:predict", {"instances": ["text"]}, 400, "DT_UINT8"),
    ("POST", "/v1/models/lenet:predict", {"signature_name": "nope", **GOOD}, 400, 'signature name: "nope" not found'),
    ("POST", "/v1/models/lenet:predict", {"signature_name": 5, **GOOD}, 400, "must be a string"),
    (
        "POST",
        "/v1/models/lenet:predict",
        {"signature_name": "serving_bytes", "instances": [{"b64": "%%%"}]},
        400,
        "base64",
    ),
    ("POST", "/v1/models/lenet:predict", {"signature_name": "serving_bytes", "instances": [5]}, 400, "DT_STRING"),
    ("POST", "/v1/models/lenet:predict", b"[" * 50000, 400, "JSON Parse error"),
    ("POST", "/v1/models/lenet:predict", b"\xff\xfe\x00x", 400, "JSON Parse error"),
    ("POST", "/v1/models/lenet:predict", b"x" * 1_100_000, 413, "larger than the server's limit"),
    ("POST", "/v1/models/nope:predict", GOOD, 404, "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/lenet/versions/7:predict", GOOD, 404, "Specific(lenet, 7)"),
    ("POST", "/v1/models/lenet/labels/nope:predict", GOOD, 400, "Unrecognized servable version label: nope"),
    (
        "POST",
        "/v1/models/lenet:classify",
        {"examples": [{}]},
        400,
        "Expected classification signature method_name to be tensorflow/serving/classify",
    ),
    (
        "POST",
        "/v1/models/lenet:regress",
        {"examples": [{}]},
        400,
        "Expected regression signature method_name to be tensorflow/serving/regress",
    ),
    ("POST", "/v1/models/lenet:explode", GOOD, 400, "Malformed request"),
    ("GET", "/v1/models/lenet:predict", None, 400, "Malformed request"),
    ("PUT", "/v1/models/lenet", b"", 400, "Malformed request"),
    ("GET", "/v1/models", None, 400, "Missing model name"),
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/lenet/versions/7", None, 404, "Could not find version 7 of model lenet"),
    ("GET", "/v1/models/lenet/versions/7/metadata", None, 404, "Specific(lenet, 7)"),
    ("GET", "/elsewhere", None, 404, "Not found"),
]


@pytest.mark.parametrize("method, path, body, status, message", ERRORS, ids=[f"{e[3]}-{e[4][:30]}" for e in ERRORS])
def test_bad_requests_get_json_errors(server, method, path, body, status, message):
    got_status, got = server.request(method, path, body)
    assert (got_status, set(got)) == (status, {"error"}), got
    assert message in got["error"]


def test_server_survives_bad_requests_and_logs_every_request(server, images):
    status, _ = server.request("POST", "/v1/models/lenet:predict", instances(images[:1]))
    assert status == 200
    log = wait_for(
        lambda: (lambda text: text if '" 400 ' in text else None)(server.stderr()), timeout=10
    )  # flushed twice a second
    assert '"POST /v1/models/lenet:predict HTTP/1.1" 200' in log
    assert '"POST /v1/models/lenet:predict HTTP/1.1" 400' in log
    assert "Traceback" not in log


# -------------------------------------------------------------------------------------------- hot loading


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def states(server, model="hot") -> dict:
    status, body = server.request("GET", f"/v1/models/{model}")
    return {s["version"]: s for s in body["model_version_status"]} if status == 200 else {}


def test_new_broken_and_removed_versions_are_handled_without_restart(server, exports, images, reference):
    base = server.hot_base
    assert states(server)["1"]["state"] == "AVAILABLE"

    copy_version(exports[2], base, 2)  # a new version appears: loaded, then version 1 is unloaded
    wait_for(lambda: states(server).get("2", {}).get("state") == "AVAILABLE" and states(server)["1"]["state"] == "END")
    status, body = server.request("POST", "/v1/models/hot:predict", instances(images[:2]))
    assert status == 200
    np.testing.assert_allclose(probabilities(body["predictions"]), reference(2, images[:2]), rtol=1e-5, atol=1e-6)

    broken = base / ".3.tmp"  # a broken newer version: reported, and version 2 keeps serving
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"this is not a protobuf")
    broken.rename(base / "3")
    failed = wait_for(lambda: states(server).get("3") if states(server).get("3", {}).get("state") == "END" else None)
    assert failed["status"]["error_code"] != "OK" and failed["status"]["error_message"]
    assert states(server)["2"]["state"] == "AVAILABLE"
    status, body = server.request("POST", "/v1/models/hot:predict", instances(images[:1]))
    assert status == 200
    np.testing.assert_allclose(probabilities(body["predictions"]), reference(2, images[:1]), rtol=1e-5, atol=1e-6)

    shutil.rmtree(base / "3")
    shutil.rmtree(base / "2")  # the served version disappears: version 1 is loaded again
    wait_for(lambda: states(server).get("1", {}).get("state") == "AVAILABLE" and states(server)["2"]["state"] == "END")
    status, body = server.request("POST", "/v1/models/hot:predict", instances(images[:1]))
    assert status == 200
    np.testing.assert_allclose(probabilities(body["predictions"]), reference(1, images[:1]), rtol=1e-5, atol=1e-6)
    status, body = server.request("POST", "/v1/models/hot/versions/2:predict", instances(images[:1]))
    assert status == 404


# ------------------------------------------------------------------------------------------- :classify


def test_classify_over_rest(server, images, reference):
    encoded = base64.b64encode(png(images[0])).decode()
    status, body = server.request(
        "POST",
        "/v1/models/lenet/versions/1:classify",
        {
            "signature_name": "classification",
            "examples": [{"image/encoded": {"b64": encoded}}, {"image/pixels": images[1].reshape(-1).tolist()}],
        },
    )
    assert status == 200, body
    expected = reference(1, images[:2])
    for row, probabilities in zip(body["results"], expected, strict=True):
        order = np.argsort(-probabilities, kind="stable")
        assert [label for label, _ in row] == [str(c) for c in order]
        np.testing.assert_allclose([score for _, score in row], probabilities[order], rtol=1e-5, atol=1e-6)


def test_classify_over_rest_with_context_and_errors(server, images, reference):
    status, body = server.request(
        "POST",
        "/v1/models/lenet/versions/1:classify",
        {
            "signature_name": "classification",
            "context": {"image/pixels": images[5].reshape(-1).tolist()},
            "examples": [{}, {"label": "ignored"}],
        },
    )
    assert status == 200, body
    assert [row[0][0] for row in body["results"]] == [str(reference(1, images[5:6]).argmax())] * 2
    for doc, message in [
        ({"signature_name": "classification", "examples": []}, "Input is empty."),
        ({"signature_name": "classification", "examples": [{}]}, "image/encoded"),
        ({"signature_name": "classification", "examples": [{"image/encoded": {"b64": "!!"}}]}, "base64"),
        ({"signature_name": "classification", "examples": [{"x": [True]}]}, "booleans"),
        ({"signature_name": "classification"}, "Missing 'examples' key"),
    ]:
        status, body = server.request("POST", "/v1/models/lenet:classify", doc)
        assert status == 400 and message in body["error"], (doc, body)


# --------------------------------------------------------------- raw HTTP: encodings, methods, timeouts


def raw_exchange(server, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes on a fresh TCP connection and read until the server closes it or answers."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and b"Content-Length" in b"".join(chunks):
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(rest) >= length:
                    break
        return b"".join(chunks)


def http_post(path: str, body: bytes, headers: dict) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: x",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_and_json(answer: bytes):
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_decoded_and_broken_ones_are_400(server, images, reference, encoding):
    import gzip
    import zlib

    body = json.dumps(instances(images[:2])).encode()
    compressed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    status, answer = status_and_json(
        raw_exchange(
            server, http_post("/v1/models/lenet/versions/1:predict", compressed, {"Content-Encoding": encoding})
        )
    )
    assert status == 200
    np.testing.assert_allclose(probabilities(answer["predictions"]), reference(1, images[:2]), rtol=1e-5, atol=1e-6)
    for broken in (body, b"\x1f\x8b\x08garbage"):
        status, answer = status_and_json(
            raw_exchange(server, http_post("/v1/models/lenet:predict", broken, {"Content-Encoding": encoding}))
        )
        assert status == 400 and "Malformed request body" in answer["error"], answer
    # A truncated stream decodes to truncated JSON (aiohttp does not check the end of the stream): still 400.
    status, answer = status_and_json(
        raw_exchange(
            server,
            http_post("/v1/models/lenet:predict", compressed[: len(compressed) // 2], {"Content-Encoding": encoding}),
        )
    )
    assert status == 400 and answer["error"]


def test_a_compressed_body_is_limited_after_decompression(server):
    import gzip

    bomb = gzip.compress(b" " * 5_000_000)  # 5 KB on the wire, 5 MB decoded, over --max-request-bytes 1 MB
    status, answer = status_and_json(
        raw_exchange(server, http_post("/v1/models/lenet:predict", bomb, {"Content-Encoding": "gzip"}))
    )
    assert status == 413 and "larger than the server's limit" in answer["error"]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"FOO /v1/models/lenet HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/models/lenet HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /v1/models/lenet HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain-HTTP port
    ],
)
def test_every_error_is_json_even_those_aiohttp_writes(server, request_bytes):
    answer = raw_exchange(server, request_bytes)
    status, body = status_and_json(answer)
    assert 400 <= status < 500 and body["error"], answer
    assert b"application/json" in answer.partition(b"\r\n\r\n")[0]


def test_slow_loris_connections_are_closed(server):
    """200 connections that never finish their request head are closed after --header-timeout (2 s)."""
    import socket

    sockets = []
    for _ in range(200):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"POST /v1/models/lenet:predict HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    start = time.monotonic()
    closed = 0
    for sock in sockets:
        try:
            sock.sendall(b"X-Slow: 1")  # still sending, never finishing
            closed += sock.recv(1024) == b""  # blocks until the server closes the connection
        except (TimeoutError, ConnectionError):
            closed += 1
        finally:
            sock.close()
    assert closed == 200
    assert time.monotonic() - start < 9
    assert server.request("GET", "/v1/models/lenet")[0] == 200


def test_a_body_that_never_arrives_is_408(server):
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/lenet:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    status, body = status_and_json(answer)
    assert status == 408, answer
    assert "not received within 2 s" in body["error"]
