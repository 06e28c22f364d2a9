"""What every benchmark writes: its figures with their provenance, as one JSON file under benchmarks/results/.

    from record import Result
    result = Result("bench_models", "Build time of every model")   # notes the command, load, versions now
    result.table("Build time", ["model", "seconds"], rows)
    result.figure("kerascnn models", 7.2, "s")
    result.save()                                                  # benchmarks/results/bench_models.json

A file holds the figures (tables and single values), the exact command, the library versions, the CPU model,
the core count and the load average before and after: a number never travels without how it was measured.
The documentation's benchmarks page is generated from these files (docs/hooks/benchmarks_page.py).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
# The libraries whose versions decide the figures; those not installed are left out.
VERSIONED = ("kerascnn", "tensorflow", "keras", "keras-tuner", "ai-edge-litert", "numpy", "torch", "aiohttp", "grpcio")


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def command_line(argv=None) -> str:
    """``python benchmarks/NAME.py ARGS`` as typed from the project root, whatever the working directory."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        script = Path("benchmarks") / script.name
    return shlex.join(["python", str(script), *argv[1:]])


def find_data(name: str) -> Path:
    """A data folder (``mnist``, ``mnist-full``) from ``$KERASCNN_DATA`` or a ``shared/data`` beside the checkout.

    The benchmarks read real MNIST as IDX files; set KERASCNN_DATA to the folder that holds ``mnist/`` and
    ``mnist-full/`` if it lives elsewhere.
    """
    candidates = [Path(os.environ["KERASCNN_DATA"]) / name] if os.environ.get("KERASCNN_DATA") else []
    candidates += [parent / "shared" / "data" / name for parent in (ROOT.parent, ROOT.parent.parent)]
    for path in candidates:
        if path.is_dir():
            return path
    raise SystemExit(f"no {name}/ data folder found: set KERASCNN_DATA to the folder that holds {name}/ (IDX files)")


class Result:
    """One benchmark run's figures and provenance; ``save()`` writes them to ``benchmarks/results/NAME.json``."""

    def __init__(self, name: str, title: str, *, quick: bool = False, argv=None):
        self.name = f"{name}-quick" if quick else name
        self.data = {
            "benchmark": name,
            "title": title,
            "command": command_line(argv),
            "quick": quick,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_before": [round(v, 2) for v in os.getloadavg()],
            "figures": {},
            "tables": [],
            "notes": [],
        }
        self._start = time.time()

    def figure(self, name: str, value, unit: str = "") -> None:
        """A single figure: ``figure("slowest build", 2.15, "s")``."""
        self.data["figures"][name] = {"value": value, "unit": unit}

    def table(self, title: str, columns, rows) -> None:
        """A table: column names and rows of values (numbers stay numbers)."""
        self.data["tables"].append({"title": title, "columns": list(columns), "rows": [list(r) for r in rows]})

    def note(self, text: str) -> None:
        """A sentence a reader needs to read the figures (what the reference is, what a ratio compares)."""
        self.data["notes"].append(text)

    def save(self, path=None) -> Path:
        self.data["seconds"] = round(time.time() - self._start, 1)
        self.data["load_after"] = [round(v, 2) for v in os.getloadavg()]
        path = Path(path) if path else RESULTS / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=_plain) + "\n")
        tmp.replace(path)  # a reader never sees half a file
        print(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        return path


def _plain(value):
    """NumPy scalars and arrays as plain JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
