"""What LiteRT's XNNPACK delegate runs of the zoo's RegNets and EfficientNet, float32 and full int8.

    nice -n 10 .venv/bin/python benchmarks/bench_xnnpack_zoo.py

For each model (random weights, 64x64x3, 10 classes; MobileNetV2 as the reference whose int8 graph is
known to run on XNNPACK): the kerascnn export graph (uint8 images -> preprocessing -> model -> softmax)
converted to float32 and to full int8 (16 random calibration images), then loaded by LiteRT with its
default delegate in a child process: how many of the graph's nodes XNNPACK took, in how many partitions,
and the op kinds it left to the builtin kernels. Also: the op kinds of each
graph, the largest |probability difference| of each .tflite against the Keras model, and the wall time of
100 invocations with XNNPACK and with the builtin kernels alone (ratios within one run: the host is shared).
Writes benchmarks/results/xnnpack_zoo.json.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ("mobilenet_v2", "regnet_x_400mf", "regnet_y_400mf", "efficientnet_b0")
SIZE = 64
RESULT = Path(__file__).parent / "results" / "xnnpack_zoo.json"

_CHILD = r"""
import json, sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
content = open(sys.argv[1], "rb").read()
builtin = sys.argv[2] == "builtin"
kwargs = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if builtin else {}
interp = Interpreter(model_content=content, num_threads=1, **kwargs)
interp.allocate_tensors()
# LiteRT appends one DELEGATE node per partition XNNPACK took; the graph's ops it replaced are those between
# the partition's inputs and outputs (walked back from its outputs through their producers).
ops = interp._get_ops_details()
producer = {t: op["index"] for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]}
by_index = {op["index"]: op for op in ops}
delegated, partitions = set(), 0
for op in ops:
    if op["op_name"] != "DELEGATE":
        continue
    partitions += 1
    stop, stack = set(op["inputs"]), list(op["outputs"])
    while stack:
        t = stack.pop()
        if t in stop or t not in producer or producer[t] in delegated:
            continue
        delegated.add(producer[t])
        stack.extend(by_index[producer[t]]["inputs"])
graph = [op for op in ops if op["op_name"] != "DELEGATE"]
left = sorted({op["op_name"] for op in graph if op["index"] not in delegated})
inp = interp.get_input_details()[0]
x = np.random.default_rng(0).integers(0, 256, inp["shape"], dtype=np.uint8)
interp.set_tensor(inp["index"], x)
interp.invoke()
start = time.perf_counter()
for _ in range(100):
    interp.invoke()
print("RESULT", json.dumps({"nodes": len(graph), "xnnpack_nodes": len(delegated), "partitions": partitions,
                            "not_delegated_kinds": left, "seconds_per_100": time.perf_counter() - start}), flush=True)
"""


def _load(path, mode):
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), mode], capture_output=True, text=True)
    m = re.search(r"^RESULT (.*)$", done.stdout, re.M)
    if done.returncode or not m:
        return {"loaded": False, "error": (done.stdout + done.stderr).strip().splitlines()[-1]}
    return {"loaded": True, **json.loads(m[1])}


def main() -> int:
    import numpy as np

    import kerascnn.models
    from kerascnn.data.spec import DataSpec
    from kerascnn.export.artifacts import reference_probabilities
    from kerascnn.export.graph import inference_model
    from kerascnn.export.tflite import convert_saved_model, tflite_probabilities, write_convertible_saved_model

    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from kerascnn_testing.tflite_graph import op_kinds

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, SIZE, SIZE, 3), dtype=np.uint8)
    spec = DataSpec("random", [str(i) for i in range(10)], (SIZE, SIZE, 3), (SIZE, SIZE, 3), [0.5] * 3, [0.25] * 3)
    rows = {}
    for name in MODELS:
        import keras

        keras.utils.set_random_seed(0)
        model = inference_model(kerascnn.models.build(name, (SIZE, SIZE, 3), 10))
        reference = reference_probabilities(model, spec, images)
        row = {}
        with tempfile.TemporaryDirectory() as tmp:
            write_convertible_saved_model(model, spec, f"{tmp}/convertible")
            for quantize in ("none", "int8"):
                start = time.perf_counter()
                content = convert_saved_model(f"{tmp}/convertible", quantize, calibration_images=images, what=name)
                convert_seconds = time.perf_counter() - start
                path = Path(tmp) / f"{name}-{quantize}.tflite"
                path.write_bytes(content)
                probabilities = tflite_probabilities(content, images)
                row[quantize] = {
                    "bytes": len(content),
                    "convert_seconds": round(convert_seconds, 1),
                    "op_kinds": sorted(op_kinds(content)),
                    "max_abs_probability_difference": float(np.abs(probabilities - reference).max()),
                    "top1_agreement": float((probabilities.argmax(1) == reference.argmax(1)).mean()),
                    "xnnpack": _load(path, "default"),
                    "builtin": _load(path, "builtin"),
                }
                print(name, quantize, json.dumps(row[quantize]["xnnpack"]), flush=True)
        rows[name] = row
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    import tensorflow as tf

    result = {
        "command": "nice -n 10 .venv/bin/python benchmarks/bench_xnnpack_zoo.py",
        "input": [SIZE, SIZE, 3],
        "classes": 10,
        "calibration_images": len(images),
        "weights": "random (seed 0)",
        "models": rows,
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "ai_edge_litert": _version("ai-edge-litert"),
            "python": platform.python_version(),
        },
        "cpu": _cpu_model(),
        "load_average": os.getloadavg(),
    }
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print("wrote", RESULT)
    return 0


def _version(distribution):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
