"""Load test of ``kerascnn serve`` on loopback: LeNet single-image predicts from concurrent clients.

    .venv/bin/python benchmarks/bench_serve.py                 # full run (about 3 minutes)
    .venv/bin/python benchmarks/bench_serve.py --requests 3000 --rounds 1 --quick
    .venv/bin/python benchmarks/bench_serve.py --quick --requests 2000 --rounds 2 --fuzz 60 --slow-clients 20 \
        --out benchmarks/results/bench_serve_quick.json

It starts two servers as subprocesses (batching on and off, access log on, to a file) and, in
``--rounds`` alternating rounds, sends ``--requests`` single-image predicts from ``--clients``
concurrent clients: REST row-format JSON over keep-alive connections to both servers, and gRPC
``PredictionService/Predict`` (one channel per client, the request a ``tf.make_tensor_proto`` of the
image) to the batching server, so REST and gRPC are measured side by side in the same run. The clients
run in this process (aiohttp, grpc.aio), so the load generator shares the CPU with the server, as it
must on 2 cores. It reports the best round's requests/s and latency percentiles, the median requests/s,
errors, and the CPU the server and the client used per request.

Then the hostile part, against the batching server, with its memory (RSS) before and after:
``--fuzz`` malformed REST requests (each must be a 4xx with a JSON error; among them gzip and deflate
bodies that do not decompress, unknown HTTP methods, and real gzip/deflate bodies that must be answered
200), ``--fuzz`` malformed gRPC calls (each must get the status code TF Serving returns: wrong dtype
or shape, unknown model/version/label/signature, oversized messages, garbage in tf.Examples, a PNG that
decodes to 20000x20000 pixels, ...), and ``--slow-clients`` slow-loris connections that never finish
their request head, which the server must close. The server must still answer afterwards, its RSS be
back within 10%, and SIGTERM end both servers with status 0. Each load phase stops after
``--max-seconds`` whatever happens.

Last, one maximum-size gRPC Predict (31 MB of uint8 images, just under the 32 MB message limit) and the
server's RSS before it, once it is answered and 3 s later: the memory a large request leaves behind.
With ``--out`` every figure, the command, the versions, the CPU model and the load average go to a JSON file.

Targets: REST >= 2,000 requests/s and p99 <= 50 ms, gRPC >= 3,000 requests/s and p99 <= 30 ms, zero
errors (batching on); every fuzz answer as expected; RSS within 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RPS, TARGET_P99_MS = 2000, 50.0
GRPC_TARGET_RPS, GRPC_TARGET_P99_MS = 3000, 30.0
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


def write_lenet_export(base_path: Path) -> Path:
    """Version 1 of an untrained LeNet, exported as ``kerascnn export`` does (speed needs no training)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerascnn.data.spec import DataSpec
    from kerascnn.export.saved_model import write_saved_model
    from kerascnn.models.build import build

    spec = DataSpec("digits", [str(d) for d in range(10)], (28, 28, 1), (28, 28, 1), [0.5], [0.25])
    write_saved_model(build("lenet", (28, 28, 1), 10), spec, base_path / "1")
    return base_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, in seconds."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


class Server:
    def __init__(self, base_path: Path, extra_args, log_dir: Path, name: str):
        self.port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.log = open(log_dir / f"{name}.stderr", "w")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kerascnn.cli.main",
                "serve",
                str(base_path),
                "--model-name",
                "lenet",
                "--port",
                str(self.port),
                "--grpc-port",
                str(self.grpc_port),
                "--header-timeout",
                "3",
                "--access-log",
                str(log_dir / f"{name}.access.log"),
                *extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=env,
            cwd=REPO,
        )

    def wait_ready(self, timeout=120.0):
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models/lenet", timeout=2) as r:
                    if b"AVAILABLE" in r.read():
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("server did not become ready")

    def stop(self, timeout=30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9
        finally:
            self.log.close()


def _load_summary(latencies: list, errors: int, elapsed: float) -> dict:
    """Requests, errors, req/s and p50/p99/max latency (ms) of one load round, REST or gRPC alike."""
    latencies = sorted(latencies)

    def pct(p):
        return 1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50": pct(50),
        "p99": pct(99),
        "max": pct(100),
    }


async def load(url: str, body: bytes, requests: int, clients: int, max_seconds: float) -> dict:
    import aiohttp

    latencies, errors = [], 0
    remaining = [requests]
    deadline = time.monotonic() + max_seconds
    headers = {"Content-Type": "application/json"}

    async def client(session):
        nonlocal errors
        while remaining[0] > 0 and time.monotonic() < deadline:
            remaining[0] -= 1
            start = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    payload = await response.read()
                    if response.status != 200 or b"predictions" not in payload:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return _load_summary(latencies, errors, elapsed)


async def load_grpc(target: str, request: bytes, requests: int, clients: int, max_seconds: float) -> dict:
    """The same load over gRPC: ``clients`` channels, each calling Predict with the serialized request."""
    import grpc

    latencies, errors = [], 0
    remaining = [requests]
    deadline = time.monotonic() + max_seconds

    async def client():
        nonlocal errors
        async with grpc.aio.insecure_channel(target) as channel:
            predict = channel.unary_unary(PREDICT_METHOD)  # bytes in, bytes out: the client's CPU stays low
            while remaining[0] > 0 and time.monotonic() < deadline:
                remaining[0] -= 1
                start = time.perf_counter()
                try:
                    answer = await predict(request, timeout=30)
                    if b"probabilities" not in answer:
                        errors += 1
                except grpc.RpcError:
                    errors += 1
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    return _load_summary(latencies, errors, elapsed)


def max_size_request(limit_bytes: int = 32 * 1024 * 1024) -> bytes:
    """A PredictRequest of as many 28x28x1 uint8 images as fit under the server's default message limit."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    count = (limit_bytes - 1024 * 1024) // (28 * 28)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lenet"
    pixels = np.random.default_rng(0).integers(0, 256, (count, 28, 28, 1), dtype=np.uint8)
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(pixels))
    return request.SerializeToString()


async def one_call(target: str, request: bytes) -> bool:
    import grpc

    options = [
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        answer = await channel.unary_unary(PREDICT_METHOD)(request, timeout=300)
    return b"probabilities" in answer


def machine_facts() -> dict:
    import platform

    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for module in ("tensorflow", "grpc", "aiohttp", "numpy"):
        try:
            versions[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "versions": versions}


def grpc_predict_request(image) -> bytes:
    """A serialized PredictRequest as TF Serving's clients build it (tf.make_tensor_proto of uint8 pixels)."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lenet"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(np.asarray([image], dtype=np.uint8)))
    return request.SerializeToString()


def huge_png(side: int = 20000) -> bytes:
    """A valid grayscale PNG of side x side black pixels (~400 KB; 400 MB once decoded), made row by row."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + pixels
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def grpc_fuzz_cases(n: int, image, big_png: bytes, seed: int = 0) -> list:
    """(description, method, serialized request, expected status code name) for ``n`` malformed calls."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import classification_pb2, get_model_metadata_pb2, predict_pb2

    rng = random.Random(seed)
    pixels = np.asarray([image], dtype=np.uint8)

    def predict(model="lenet", version=None, label=None, signature="", inputs=None, output_filter=()):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        if label is not None:
            request.model_spec.version_label = label
        for key, proto in (inputs if inputs is not None else {"images": tf.make_tensor_proto(pixels)}).items():
            request.inputs[key].CopyFrom(proto)
        request.output_filter.extend(output_filter)
        return PREDICT_METHOD, request.SerializeToString()

    def classify(features):
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name = "lenet"
        request.model_spec.signature_name = "classification"
        example = request.input.example_list.examples.add()
        for key, value in features.items():
            example.features.feature[key].bytes_list.value.append(value)
        return "/tensorflow.serving.PredictionService/Classify", request.SerializeToString()

    def raw(shape, dtype, content=b"", **typed):
        proto = tf.make_tensor_proto(np.zeros([0], np.uint8))
        proto.Clear()
        proto.dtype = dtype
        for size in shape:
            proto.tensor_shape.dim.add(size=size)
        proto.tensor_content = content
        for field, values in typed.items():
            getattr(proto, field).extend(values)
        return proto

    u8 = tf.uint8.as_datatype_enum
    metadata = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata.model_spec.name = "lenet"
    fixed = [
        (
            "wrong dtype (float32)",
            *predict(inputs={"images": tf.make_tensor_proto(pixels.astype(np.float32))}),
            "INVALID_ARGUMENT",
        ),
        (
            "wrong dtype (int64)",
            *predict(inputs={"images": tf.make_tensor_proto(pixels.astype(np.int64))}),
            "INVALID_ARGUMENT",
        ),
        ("wrong shape", *predict(inputs={"images": tf.make_tensor_proto(pixels[:, :20])}), "INVALID_ARGUMENT"),
        ("wrong rank", *predict(inputs={"images": tf.make_tensor_proto(pixels[0])}), "INVALID_ARGUMENT"),
        (
            "content shorter than shape",
            *predict(inputs={"images": raw([1, 28, 28, 1], u8, b"\0" * 10)}),
            "INVALID_ARGUMENT",
        ),
        ("4 GB claimed", *predict(inputs={"images": raw([2**20, 64, 64, 1], u8)}), "INVALID_ARGUMENT"),
        ("negative dimension", *predict(inputs={"images": raw([-1, 28, 28, 1], u8)}), "INVALID_ARGUMENT"),
        ("unknown dtype number", *predict(inputs={"images": raw([1], 77)}), "INVALID_ARGUMENT"),
        (
            "too many typed values",
            *predict(inputs={"images": raw([1, 1, 1, 1], u8, int_val=[1, 2])}),
            "INVALID_ARGUMENT",
        ),
        (
            "int_val out of uint8 range",
            *predict(inputs={"images": raw([1, 28, 28, 1], u8, int_val=[300])}),
            "INVALID_ARGUMENT",
        ),
        ("unknown model", *predict(model="nope"), "NOT_FOUND"),
        ("empty model name", *predict(model=""), "NOT_FOUND"),
        ("unknown version", *predict(version=99), "NOT_FOUND"),
        ("unknown label", *predict(label="nope"), "INVALID_ARGUMENT"),
        ("unknown signature", *predict(signature="nope"), "FAILED_PRECONDITION"),
        ("unknown input", *predict(inputs={"pixels": tf.make_tensor_proto(pixels)}), "INVALID_ARGUMENT"),
        ("no inputs", *predict(inputs={}), "INVALID_ARGUMENT"),
        ("unknown output", *predict(output_filter=["logits"]), "INVALID_ARGUMENT"),
        ("duplicate output", *predict(output_filter=["classes", "classes"]), "INVALID_ARGUMENT"),
        (
            "oversized message (40 MB)",
            *predict(inputs={"images": tf.make_tensor_proto(np.zeros((52, 28, 28, 1000), np.uint8))}),
            "RESOURCE_EXHAUSTED",
        ),
        (
            "garbage PNG bytes",
            *predict(
                signature="serving_bytes", inputs={"image_bytes": tf.make_tensor_proto([b"\x89PNG\r\n\x1a\ngarbage"])}
            ),
            "INVALID_ARGUMENT",
        ),
        (
            "20000x20000 PNG (predict)",
            *predict(signature="serving_bytes", inputs={"image_bytes": tf.make_tensor_proto([big_png])}),
            "INVALID_ARGUMENT",
        ),
        ("20000x20000 PNG (classify)", *classify({"image/encoded": big_png}), "INVALID_ARGUMENT"),
        ("garbage image in a tf.Example", *classify({"image/encoded": b"\xff\xd8\xffgarbage"}), "INVALID_ARGUMENT"),
        ("tf.Example without an image", *classify({"label": b"7"}), "INVALID_ARGUMENT"),
        (
            "metadata without field",
            "/tensorflow.serving.PredictionService/GetModelMetadata",
            metadata.SerializeToString(),
            "INVALID_ARGUMENT",
        ),
        ("not a protobuf", PREDICT_METHOD, b"\xff" * 64, "INTERNAL"),
    ]
    cases = []
    for i in range(n):
        if i < len(fixed):
            cases.append(fixed[i])
            continue
        # Random malformed tensors: a random dtype that is not uint8, or a random wrong shape.
        if rng.random() < 0.5:
            dtype = rng.choice([np.float32, np.float64, np.int32, np.int64, np.int8, np.uint16, np.bool_])
            proto = tf.make_tensor_proto(pixels.astype(dtype))
            cases.append(
                (f"random dtype {np.dtype(dtype).name}", *predict(inputs={"images": proto}), "INVALID_ARGUMENT")
            )
        else:
            shape = [rng.randrange(1, 4), rng.randrange(1, 40), rng.randrange(1, 40), rng.randrange(1, 4)]
            if shape[1:] == [28, 28, 1]:
                shape[3] = 2
            proto = tf.make_tensor_proto(np.zeros(shape, np.uint8))
            cases.append((f"random shape {shape}", *predict(inputs={"images": proto}), "INVALID_ARGUMENT"))
    return cases


async def fuzz_grpc(target: str, cases: list, good: bytes) -> dict:
    import grpc

    counts = {"right code": 0, "wrong code": 0, "still_up": False, "wrong": []}
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        for description, method, request, expected in cases:
            call = channel.unary_unary(method)
            try:
                await call(request, timeout=60)
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name
            if code == expected:
                counts["right code"] += 1
            else:
                counts["wrong code"] += 1
                counts["wrong"].append(f"{description}: {code} (expected {expected})")
        answer = await channel.unary_unary(PREDICT_METHOD)(good, timeout=30)
        counts["still_up"] = b"probabilities" in answer
    return counts


async def slow_loris(host: str, port: int, connections: int, seconds: float) -> dict:
    """Open ``connections`` that send a partial request head and then a byte now and then; count how
    many the server closed within ``seconds``."""
    streams = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /v1/models/lenet:predict HTTP/1.1\r\nHost: x\r\n")
        streams.append((reader, writer))
    deadline = time.monotonic() + seconds
    closed = set()
    while time.monotonic() < deadline and len(closed) < connections:
        for i, (reader, writer) in enumerate(streams):
            if i in closed:
                continue
            try:
                writer.write(b"X")  # one more byte of a header that never ends
                await writer.drain()
                data = await asyncio.wait_for(reader.read(1), 0.001)
                if data == b"":
                    closed.add(i)
            except asyncio.TimeoutError:
                pass
            except (ConnectionError, OSError):
                closed.add(i)
        await asyncio.sleep(0.5)
    for _, writer in streams:
        writer.close()
    return {"connections": connections, "closed": len(closed)}


def fuzz_requests(n: int, image: list, seed: int = 0) -> list:
    """(method, path, body) triples that a correct server must answer with 4xx."""
    rng = random.Random(seed)
    good = json.dumps({"instances": [image]})
    cases = [
        ("POST", "/v1/models/lenet:predict", b"{not json"),
        ("POST", "/v1/models/lenet:predict", b""),
        ("POST", "/v1/models/lenet:predict", b"[1, 2, 3]"),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": [image], "inputs": [image]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": []}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": [[[[300]] * 28] * 28]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": [[[[-1]] * 28] * 28]}).encode()),
        ("POST", "/v1/models/lenet:predict", good.replace("0", "NaN", 1).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": [[[[0.5]] * 28] * 28]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": [[[[0]] * 27] * 28]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": [[[0] * 28] * 28]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": [[1, [2]]]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"instances": ["text"]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"signature_name": "nope", "instances": [image]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"signature_name": 5, "instances": [image]}).encode()),
        (
            "POST",
            "/v1/models/lenet:predict",
            json.dumps({"signature_name": "serving_bytes", "instances": [{"b64": "!!!"}]}).encode(),
        ),
        (
            "POST",
            "/v1/models/lenet:predict",
            json.dumps(
                {"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(b"junk").decode()}]}
            ).encode(),
        ),
        ("POST", "/v1/models/lenet:predict", b"[" * 100000),
        ("POST", "/v1/models/lenet:predict", b"\xff\xfe\x00garbage"),
        ("POST", "/v1/models/lenet:predict", b"x" * (40 * 1024 * 1024)),  # over --max-request-bytes
        ("POST", "/v1/models/nope:predict", good.encode()),
        ("POST", "/v1/models/lenet/versions/99:predict", good.encode()),
        ("POST", "/v1/models/lenet/labels/nope:predict", good.encode()),
        ("POST", "/v1/models/lenet:explode", good.encode()),
        ("GET", "/v1/models/lenet:predict", b""),
        ("GET", "/v1/models/nope", b""),
        ("GET", "/v1/models/lenet/versions/99", b""),
        ("GET", "/v1/models", b""),
        ("PUT", "/v1/models/lenet", b""),
        ("GET", "/elsewhere", b""),
        ("FOO", "/v1/models/lenet", b""),  # an unknown HTTP method: still TF Serving's JSON error
        ("POST", "/v1/models/lenet:predict", ("gzip", good.encode())),  # not gzip at all
        ("POST", "/v1/models/lenet:predict", ("deflate", b"\x00garbage")),
        ("POST", "/v1/models/lenet:predict", ("gzip", gzip.compress(good.encode())[:-12])),  # truncated
    ]
    out = []
    for i in range(n):
        if i < len(cases):
            out.append(cases[i])
            continue
        # Random mutations of a good body: truncation, byte flips, wrong nesting.
        raw = bytearray(good.encode())
        choice = rng.randrange(3)
        if choice == 0:
            raw = raw[: rng.randrange(1, len(raw) - 1)]
        elif choice == 1:
            for _ in range(rng.randrange(1, 8)):
                raw[rng.randrange(len(raw))] = rng.choice(b'{}[],:"x.e')  # never a valid number
        else:
            raw = bytearray(json.dumps({"instances": [image[: rng.randrange(0, 28)]]}).encode())
        if bytes(raw) == good.encode():  # a flip that put back the same byte
            raw = raw[:-1]
        out.append(("POST", "/v1/models/lenet:predict", bytes(raw)))
    return out


async def fuzz(url: str, cases: list, good_body: bytes) -> dict:
    import aiohttp

    counts = {"4xx": 0, "2xx": 0, "5xx": 0, "failed": 0}
    async with aiohttp.ClientSession() as session:
        for method, path, body in cases:
            headers = {}
            if isinstance(body, tuple):  # (Content-Encoding, body)
                headers["Content-Encoding"], body = body
            try:
                async with session.request(method, url + path, data=body, headers=headers) as response:
                    payload = await response.read()
                    kind = f"{response.status // 100}xx"
                    if kind == "4xx" and b'"error"' not in payload:
                        kind = "failed"  # 4xx but not TF Serving's JSON error
                    counts[kind] = counts.get(kind, 0) + 1
            except aiohttp.ClientError:
                counts["failed"] += 1
        compressed = {"gzip": gzip.compress(good_body), "deflate": zlib.compress(good_body)}
        counts["compressed_ok"] = 0
        for encoding, body in compressed.items():  # real compressed bodies, as TF Serving clients send them
            async with session.post(
                url + "/v1/models/lenet:predict", data=body, headers={"Content-Encoding": encoding}
            ) as response:
                counts["compressed_ok"] += response.status == 200 and b"predictions" in await response.read()
        async with session.post(url + "/v1/models/lenet:predict", data=good_body) as response:
            counts["still_up"] = response.status == 200
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000, help="predicts per round and configuration")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the configurations")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--fuzz", type=int, default=200, help="malformed requests (REST, and as many gRPC calls)")
    parser.add_argument("--slow-clients", type=int, default=200, help="slow-loris connections")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time limit per load phase")
    parser.add_argument("--model-base-path", help="serve this export instead of a fresh untrained LeNet")
    parser.add_argument("--quick", action="store_true", help="batching on only")
    parser.add_argument("--server-args", default="", help="extra flags for kerascnn serve (batching on)")
    parser.add_argument("--out", help="write every figure to this JSON file (e.g. benchmarks/results/...)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()

    workdir = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    base = Path(args.model_base_path) if args.model_base_path else write_lenet_export(workdir / "lenet")
    rng = random.Random(0)
    image = [[[rng.randrange(256)] for _ in range(28)] for _ in range(28)]
    body = json.dumps({"instances": [image]}).encode()
    grpc_body = grpc_predict_request(image)

    server_configs = [("batching on", args.server_args.split())]
    if not args.quick:
        server_configs.append(("batching off", ["--no-batching"]))
    # Both servers run at once and the rounds alternate between the configurations, so that the load
    # other processes put on the CPUs falls on all of them alike; each row is the best round.
    servers = {label: Server(base, extra, workdir, label.replace(" ", "_")) for label, extra in server_configs}
    on = servers["batching on"]
    phases = [("REST, batching on", "batching on", "rest"), ("gRPC, batching on", "batching on", "grpc")]
    if not args.quick:
        phases.append(("REST, batching off", "batching off", "rest"))
    rounds = {label: [] for label, _, _ in phases}
    cpu = {label: [0.0, 0.0, 0] for label, _, _ in phases}  # server s, client s, requests

    def run_phase(server, kind, requests):
        if kind == "rest":
            return asyncio.run(
                load(f"{server.url}/v1/models/lenet:predict", body, requests, args.clients, args.max_seconds)
            )
        return asyncio.run(load_grpc(server.grpc_target, grpc_body, requests, args.clients, args.max_seconds))

    fuzz_counts, grpc_counts, loris, exits, rss, large = {}, {}, {}, {}, {}, {}
    try:
        for server in servers.values():
            server.wait_ready()
        for label, server_label, kind in phases:  # warm-up
            run_phase(servers[server_label], kind, 300)
        for _ in range(args.rounds):
            for label, server_label, kind in phases:
                server = servers[server_label]
                cpu_server, cpu_client = cpu_seconds(server.proc.pid), time.process_time()
                result = run_phase(server, kind, args.requests)
                cpu[label][0] += cpu_seconds(server.proc.pid) - cpu_server
                cpu[label][1] += time.process_time() - cpu_client
                cpu[label][2] += result["requests"]
                rounds[label].append(result)
        big_png = huge_png()
        rss["before"] = rss_mb(on.proc.pid)
        fuzz_counts = asyncio.run(fuzz(on.url, fuzz_requests(args.fuzz, image), body))
        rss["after REST fuzz"] = rss_mb(on.proc.pid)
        grpc_counts = asyncio.run(fuzz_grpc(on.grpc_target, grpc_fuzz_cases(args.fuzz, image, big_png), grpc_body))
        rss["after gRPC fuzz"] = rss_mb(on.proc.pid)
        loris = asyncio.run(slow_loris("127.0.0.1", on.port, args.slow_clients, 10.0))
        loris["still_up"] = asyncio.run(load(f"{on.url}/v1/models/lenet:predict", body, 50, 4, 30))["errors"] == 0
        time.sleep(1.0)
        rss["after"] = rss_mb(on.proc.pid)
        big = max_size_request()
        large["request MB"] = len(big) / 2**20
        large["RSS before MB"] = rss_mb(on.proc.pid)
        started = time.perf_counter()
        large["answered"] = asyncio.run(one_call(on.grpc_target, big))
        large["seconds"] = time.perf_counter() - started
        large["RSS once answered MB"] = rss_mb(on.proc.pid)
        time.sleep(3.0)
        large["RSS 3 s later MB"] = rss_mb(on.proc.pid)
    finally:
        for label, server in servers.items():
            exits[label] = server.stop()

    print(
        f"\nLeNet 28x28x1 single-image predict, {args.clients} concurrent clients, loopback, "
        f"{os.cpu_count()} CPUs shared by server and client; best of {args.rounds} rounds of {args.requests}"
    )
    print(
        "| configuration | req/s (best) | req/s (median) | p50 ms | p99 ms | max ms | errors (all rounds) "
        "| server CPU ms/req | client CPU ms/req | CPU-bound req/s on 2 idle cores | mean batch | SIGTERM exit |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    best = {}
    for label, server_label, _ in phases:
        results = rounds[label]
        best[label] = r = max(results, key=lambda x: x["rps"]) if results else {"rps": 0.0, "p99": float("inf")}
        server_ms, client_ms = (1000 * cpu[label][i] / max(1, cpu[label][2]) for i in (0, 1))
        capacity = 2000 / (server_ms + client_ms) if server_ms + client_ms else 0
        batch_line = [
            line
            for line in Path(servers[server_label].log.name).read_text().splitlines()
            if "examples per batch" in line
        ]
        mean_batch = batch_line[-1].split(", ")[-1].split()[0] if batch_line else "-"
        median = sorted(x["rps"] for x in results)[len(results) // 2] if results else 0.0
        r["errors_all"] = sum(x["errors"] for x in results)
        print(
            f"| {label} | {r['rps']:.0f} | {median:.0f} | {r.get('p50', float('nan')):.1f} | {r['p99']:.1f} "
            f"| {r.get('max', float('nan')):.1f} | {r['errors_all']} | {server_ms:.2f} | {client_ms:.2f} "
            f"| {capacity:.0f} | {mean_batch} | {exits[server_label]} |"
        )
    rest, grpc_best = best["REST, batching on"], best["gRPC, batching on"]
    if "REST, batching off" in best:
        print(
            f"batching on / off throughput (REST, best rounds): "
            f"{rest['rps'] / max(best['REST, batching off']['rps'], 1e-9):.2f}x"
        )
    rest_ok = rest["rps"] >= TARGET_RPS and rest["p99"] <= TARGET_P99_MS and rest["errors_all"] == 0
    grpc_ok = (
        grpc_best["rps"] >= GRPC_TARGET_RPS and grpc_best["p99"] <= GRPC_TARGET_P99_MS and grpc_best["errors_all"] == 0
    )
    print(
        f"target REST (>= {TARGET_RPS} req/s, p99 <= {TARGET_P99_MS:.0f} ms, 0 errors): "
        f"{'met' if rest_ok else 'NOT met'}"
    )
    print(
        f"target gRPC (>= {GRPC_TARGET_RPS} req/s, p99 <= {GRPC_TARGET_P99_MS:.0f} ms, 0 errors): "
        f"{'met' if grpc_ok else 'NOT met'}"
    )
    fz = fuzz_counts
    n_rest = len(fuzz_requests(args.fuzz, image))
    fuzz_ok = fz.get("4xx") == n_rest and fz.get("still_up") is True and fz.get("compressed_ok") == 2
    print(
        f"fuzz REST: {n_rest} malformed requests -> 4xx with JSON error: {fz.get('4xx')}, 2xx: {fz.get('2xx')}, "
        f"5xx: {fz.get('5xx')}, failed: {fz.get('failed')}; real gzip and deflate bodies answered: "
        f"{fz.get('compressed_ok')}/2; server still up: {fz.get('still_up')} ({'ok' if fuzz_ok else 'FAILED'})"
    )
    gz = grpc_counts
    grpc_fuzz_ok = gz.get("wrong code") == 0 and gz.get("still_up") is True
    print(f"gRPC / REST (batching on, best rounds): {grpc_best['rps'] / max(rest['rps'], 1e-9):.2f}x req/s")
    print(
        f"fuzz gRPC: {args.fuzz} malformed calls -> TF Serving's status code: {gz.get('right code')}, "
        f"other code: {gz.get('wrong code')}; server still up: {gz.get('still_up')} "
        f"({'ok' if grpc_fuzz_ok else 'FAILED'})"
    )
    for line in gz.get("wrong", [])[:10]:
        print(f"  wrong code: {line}")
    loris_ok = loris.get("closed") == loris.get("connections") and loris.get("still_up")
    print(
        f"slow loris: {loris.get('closed')}/{loris.get('connections')} connections closed by the server within 10 s "
        f"(--header-timeout 3); server still answering: {loris.get('still_up')} ({'ok' if loris_ok else 'FAILED'})"
    )
    growth = rss["after"] / rss["before"] - 1 if rss.get("before") else float("nan")
    rss_ok = growth <= 0.10
    print(
        "server RSS: "
        + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items())
        + f" ({growth:+.1%}; {'ok' if rss_ok else 'FAILED'}: within 10%)"
    )
    ok = (
        rest_ok and grpc_ok and fuzz_ok and grpc_fuzz_ok and loris_ok and rss_ok and all(c == 0 for c in exits.values())
    )
    if large:
        kept = large["RSS 3 s later MB"] - large["RSS before MB"]
        print(
            f"maximum-size gRPC Predict ({large['request MB']:.1f} MB): answered {large['answered']} in "
            f"{large['seconds']:.1f} s; server RSS {large['RSS before MB']:.0f} MB before, "
            f"{large['RSS once answered MB']:.0f} MB once answered, {large['RSS 3 s later MB']:.0f} MB 3 s later "
            f"({kept:+.0f} MB kept)"
        )
    print(f"load average at the end (other processes share these CPUs): {os.getloadavg()[0]:.1f}")
    print(f"logs: {workdir}")
    if args.out:
        report = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine_facts(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "settings": {k: v for k, v in vars(args).items() if k != "out"},
            "phases": {
                label: {
                    "best": best[label],
                    "rounds": rounds[label],
                    "server_cpu_ms_per_request": 1000 * cpu[label][0] / max(1, cpu[label][2]),
                    "client_cpu_ms_per_request": 1000 * cpu[label][1] / max(1, cpu[label][2]),
                }
                for label, _, _ in phases
            },
            "grpc_over_rest_rps": grpc_best["rps"] / max(rest["rps"], 1e-9),
            "grpc_over_rest_server_cpu": (cpu["gRPC, batching on"][0] / max(1, cpu["gRPC, batching on"][2]))
            / max(1e-12, cpu["REST, batching on"][0] / max(1, cpu["REST, batching on"][2])),
            "fuzz_rest": fz,
            "fuzz_grpc": {k: v for k, v in gz.items() if k != "wrong"},
            "slow_loris": loris,
            "rss_mb": rss,
            "max_size_request": large,
            "sigterm_exit": exits,
            "all_ok": ok,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"results: {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
