"""How long ``kerascnn models`` takes and how wide it prints: the catalog against building every model.

    .venv/bin/python benchmarks/bench_models_cmd.py            # ~1-3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_models_cmd.py --rounds 3

``kerascnn models`` reads the generated catalog (kerascnn/zoo_catalog_rows.py) and imports no TensorFlow.
The reference is what it did before: import TensorFlow and build every model to count its parameters and
multiply-adds (``kerascnn.summary.zoo_table``), in a fresh process as a user's command runs. Rounds alternate
(the reference first in even rounds); medians and the per-round ratio; the load average with every figure.
Writes benchmarks/results/models_cmd.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = "80"
CATALOG = [sys.executable, "-m", "kerascnn.cli.main", "models"]
REFERENCE = [
    sys.executable,
    "-c",
    "from kerascnn.cli.main import _quiet_tensorflow; _quiet_tensorflow(); "
    "from kerascnn.quiet import import_tensorflow_quietly; import_tensorflow_quietly(); "
    "from kerascnn.summary import zoo_table; zoo_table(num_classes=10)",
]


def timed(command) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": COLUMNS}, check=True)
    return time.perf_counter() - start, proc.stdout


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    catalog, reference, ratios, loads = [], [], [], []
    width = 0
    for i in range(args.rounds):
        order = [("reference", REFERENCE), ("catalog", CATALOG)]
        if i % 2:
            order.reverse()
        seconds = {}
        for name, command in order:
            seconds[name], out = timed(command)
            if name == "catalog":
                width = max(len(line) for line in out.splitlines())
        catalog.append(seconds["catalog"])
        reference.append(seconds["reference"])
        ratios.append(seconds["reference"] / seconds["catalog"])
        loads.append(os.getloadavg())
        print(
            f"round {i + 1}: catalog {seconds['catalog']:.2f} s, building every model {seconds['reference']:.2f} s, "
            f"ratio {ratios[-1]:.1f}, load {' '.join(f'{x:.1f}' for x in loads[-1])}",
            flush=True,
        )
    from kerascnn.versions import library_versions

    result = {
        "command": f"COLUMNS={COLUMNS} python -m kerascnn.cli.main models   (= kerascnn models)",
        "reference_command": f"python -c {REFERENCE[2]!r}",
        "rounds": args.rounds,
        "catalog_seconds": [round(s, 3) for s in catalog],
        "reference_seconds": [round(s, 3) for s in reference],
        "median_catalog_seconds": round(statistics.median(catalog), 3),
        "median_reference_seconds": round(statistics.median(reference), 3),
        "median_ratio": round(statistics.median(ratios), 1),
        "widest_line_at_80_columns": width,
        "load_average": [list(map(lambda x: round(x, 2), load)) for load in loads],
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "versions": library_versions(),
        "benchmark": f"benchmarks/bench_models_cmd.py --rounds {args.rounds}",
    }
    path = HERE / "results" / "models_cmd.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"median: catalog {result['median_catalog_seconds']} s, reference {result['median_reference_seconds']} s, "
        f"ratio {result['median_ratio']}; widest line {width} at {COLUMNS} columns; wrote {path}"
    )


if __name__ == "__main__":
    main()
