"""Build time of every model at its default input, and the wall time of `kerascnn models`.

    python benchmarks/bench_models.py        # about a minute; writes benchmarks/results/bench_models.json

Targets: building any model at its default input under 3 s; `kerascnn models` under 15 s.
The reference measured in the same run is `import tensorflow` in a fresh process, which every command
pays: a slow machine shows up in both columns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BUILD_TARGET_S = 3.0
MODELS_TARGET_S = 15.0


def _wall(argv) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    from record import Result

    result = Result("bench_models", "Model zoo: build time at the default input, and `kerascnn models`")
    import_tf = _wall([sys.executable, "-c", "import tensorflow, keras"])
    models_cmd = _wall([sys.executable, "-m", "kerascnn.cli.main", "models"])

    import keras

    from kerascnn.models import build, get_model_info, list_models
    from kerascnn.summary import build_uninitialized

    build("lenet")  # first-call set-up is not a model's cost
    rows = []
    for name in list_models():
        shape = get_model_info(name).default_input_shape
        start = time.perf_counter()
        model = build(name)
        built = time.perf_counter() - start
        params = model.count_params()
        del model
        keras.backend.clear_session()
        start = time.perf_counter()
        build_uninitialized(name)
        inspected = time.perf_counter() - start
        rows.append((name, "x".join(map(str, shape)), params, built, inspected))

    print(f"{'model':<15} {'input':<10} {'params':>12} {'build s':>8} {'/target':>8} {'no-init s':>9}")
    for name, shape, params, built, inspected in rows:
        print(f"{name:<15} {shape:<10} {params:>12,} {built:>8.2f} {built / BUILD_TARGET_S:>8.2f} {inspected:>9.2f}")
    slowest = max(rows, key=lambda r: r[3])
    print()
    print(
        f"slowest build: {slowest[0]} {slowest[3]:.2f} s "
        f"(target < {BUILD_TARGET_S} s, ratio {slowest[3] / BUILD_TARGET_S:.2f})"
    )
    print(
        f"`kerascnn models`: {models_cmd:.2f} s "
        f"(target < {MODELS_TARGET_S} s, ratio {models_cmd / MODELS_TARGET_S:.2f})"
    )
    print(
        f"reference, `import tensorflow, keras` in a fresh process: {import_tf:.2f} s "
        f"(`kerascnn models` = {models_cmd / import_tf:.2f}x that)"
    )
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = slowest[3] < BUILD_TARGET_S and models_cmd < MODELS_TARGET_S
    result.table(
        "Build time per model (default input, 10 classes)",
        ["model", "input", "parameters", "build s", "build without initializers s"],
        [(n, s, p, round(b, 3), round(i, 3)) for n, s, p, b, i in rows],
    )
    result.figure("slowest build", round(slowest[3], 2), f"s ({slowest[0]}; target < {BUILD_TARGET_S:g} s)")
    result.figure("`kerascnn models`", round(models_cmd, 2), f"s (target < {MODELS_TARGET_S:g} s)")
    result.figure("`import tensorflow, keras` in a fresh process (reference)", round(import_tf, 2), "s")
    result.figure("`kerascnn models` / the import alone", round(models_cmd / import_tf, 2), "x")
    result.save()
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
