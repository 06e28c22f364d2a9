"""Load test of ``kerascnn serve`` on loopback: LeNet single-image predicts from concurrent clients.

    .venv/bin/python benchmarks/bench_serve.py                 # full run (about 2 minutes)
    .venv/bin/python benchmarks/bench_serve.py --requests 3000 --rounds 1 --quick

It starts two servers as subprocesses (batching on and off, access log on, to a file) and, in
``--rounds`` alternating rounds, sends ``--requests`` single-image row-format predicts to each from
``--clients`` concurrent keep-alive connections (an aiohttp client in this process, so the load
generator shares the CPU with the server, as it must on 2 cores). It reports the best round's
requests/s and latency percentiles, the median requests/s, errors, and the CPU the server and the client
used per request. Then ``--fuzz`` malformed or hostile requests, each of which must be answered 4xx,
with the server still answering a normal predict afterwards; and SIGTERM must end both servers with
status 0. Each load phase stops after ``--max-seconds`` whatever happens. Targets: >= 2,000 requests/s, p99 <= 50 ms,
zero errors (batching on); all fuzz answers 4xx.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RPS, TARGET_P99_MS = 2000, 50.0


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, base_path: Path, extra_args, log_dir: Path, name: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"{name}.stderr", "w")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kerascnn.cli.main", "serve", str(base_path), "--model-name", "lenet",
             "--port", str(self.port), "--access-log", str(log_dir / f"{name}.access.log"), *extra_args],
            stdout=subprocess.DEVNULL, stderr=self.log, env=env, cwd=REPO,
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
    latencies.sort()

    def pct(p):
        return 1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    return {"requests": len(latencies), "errors": errors, "seconds": elapsed,
            "rps": len(latencies) / elapsed if elapsed else 0.0, "p50": pct(50), "p99": pct(99), "max": pct(100)}


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
        ("POST", "/v1/models/lenet:predict", json.dumps({"signature_name": "serving_bytes",
                                                          "instances": [{"b64": "!!!"}]}).encode()),
        ("POST", "/v1/models/lenet:predict", json.dumps({"signature_name": "serving_bytes",
                                                          "instances": [{"b64": base64.b64encode(b"junk").decode()}]}).encode()),
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
            try:
                async with session.request(method, url + path, data=body) as response:
                    payload = await response.read()
                    kind = f"{response.status // 100}xx"
                    if kind == "4xx" and b'"error"' not in payload:
                        kind = "failed"  # 4xx but not TF Serving's JSON error
                    counts[kind] = counts.get(kind, 0) + 1
            except aiohttp.ClientError:
                counts["failed"] += 1
        async with session.post(url + "/v1/models/lenet:predict", data=good_body) as response:
            counts["still_up"] = response.status == 200
    return counts


def png_bytes(image) -> bytes:
    from PIL import Image
    import numpy as np

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype="uint8")[..., 0]).save(buffer, format="PNG")
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000, help="predicts per round and configuration")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the configurations")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--fuzz", type=int, default=200, help="malformed requests")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time limit per load phase")
    parser.add_argument("--model-base-path", help="serve this export instead of a fresh untrained LeNet")
    parser.add_argument("--quick", action="store_true", help="batching on only")
    parser.add_argument("--server-args", default="", help="extra flags for kerascnn serve (batching on)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    base = Path(args.model_base_path) if args.model_base_path else write_lenet_export(workdir / "lenet")
    rng = random.Random(0)
    image = [[[rng.randrange(256)] for _ in range(28)] for _ in range(28)]
    body = json.dumps({"instances": [image]}).encode()

    configs = [("batching on", args.server_args.split())]
    if not args.quick:
        configs.append(("batching off", ["--no-batching"]))
    # Both servers run at once and the rounds alternate between them, so that the load other
    # processes put on the CPUs falls on both configurations alike; each row is the best round.
    servers = {label: Server(base, extra, workdir, label.replace(" ", "_")) for label, extra in configs}
    rounds = {label: [] for label, _ in configs}
    cpu = {label: [0.0, 0.0, 0] for label, _ in configs}  # server s, client s, requests
    fuzz_counts, exits = {}, {}
    try:
        for label, server in servers.items():
            server.wait_ready()
            asyncio.run(load(f"{server.url}/v1/models/lenet:predict", body, 300, args.clients, 30))  # warm-up
        for _ in range(args.rounds):
            for label, server in servers.items():
                cpu_server, cpu_client = cpu_seconds(server.proc.pid), time.process_time()
                result = asyncio.run(load(f"{server.url}/v1/models/lenet:predict", body, args.requests,
                                          args.clients, args.max_seconds))
                cpu[label][0] += cpu_seconds(server.proc.pid) - cpu_server
                cpu[label][1] += time.process_time() - cpu_client
                cpu[label][2] += result["requests"]
                rounds[label].append(result)
        fuzz_counts = asyncio.run(fuzz(servers["batching on"].url, fuzz_requests(args.fuzz, image), body))
    finally:
        for label, server in servers.items():
            exits[label] = server.stop()

    print(f"\nLeNet 28x28x1 single-image predict, {args.clients} concurrent keep-alive clients, loopback, "
          f"{os.cpu_count()} CPUs shared by server and client; best of {args.rounds} rounds of {args.requests}")
    print("| configuration | req/s (best) | req/s (median) | p50 ms | p99 ms | max ms | errors (all rounds) "
          "| server CPU ms/req | client CPU ms/req | CPU-bound req/s on 2 idle cores | mean batch | SIGTERM exit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    best = {}
    for label, _ in configs:
        results = rounds[label]
        best[label] = r = max(results, key=lambda x: x["rps"]) if results else {"rps": 0.0, "p99": float("inf")}
        server_ms, client_ms = (1000 * cpu[label][i] / max(1, cpu[label][2]) for i in (0, 1))
        capacity = 2000 / (server_ms + client_ms) if server_ms + client_ms else 0
        batch_line = [line for line in Path(servers[label].log.name).read_text().splitlines()
                      if "examples per batch" in line]
        mean_batch = batch_line[-1].split(", ")[-1].split()[0] if batch_line else "-"
        median = sorted(x["rps"] for x in results)[len(results) // 2] if results else 0.0
        r["errors_all"] = sum(x["errors"] for x in results)
        print(f"| {label} | {r['rps']:.0f} | {median:.0f} | {r.get('p50', float('nan')):.1f} | {r['p99']:.1f} "
              f"| {r.get('max', float('nan')):.1f} | {r['errors_all']} | {server_ms:.2f} | {client_ms:.2f} "
              f"| {capacity:.0f} | {mean_batch} | {exits[label]} |")
    on = best["batching on"]
    if "batching off" in best:
        print(f"batching on / off throughput (best rounds): {on['rps'] / max(best['batching off']['rps'], 1e-9):.2f}x")
    verdict = on["rps"] >= TARGET_RPS and on["p99"] <= TARGET_P99_MS and on["errors_all"] == 0
    print(f"target (>= {TARGET_RPS} req/s, p99 <= {TARGET_P99_MS:.0f} ms, 0 errors, batching on): "
          f"{'met' if verdict else 'NOT met'}")
    fz = fuzz_counts
    fuzz_ok = fz.get("4xx") == args.fuzz and fz.get("still_up") is True
    print(f"fuzz: {args.fuzz} malformed requests -> 4xx with JSON error: {fz.get('4xx')}, 2xx: {fz.get('2xx')}, "
          f"5xx: {fz.get('5xx')}, failed: {fz.get('failed')}; server still up: {fz.get('still_up')} "
          f"({'ok' if fuzz_ok else 'FAILED'})")
    ok = verdict and fuzz_ok and all(code == 0 for code in exits.values())
    print(f"load average at the end (other processes share these CPUs): {os.getloadavg()[0]:.1f}")
    print(f"logs: {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
