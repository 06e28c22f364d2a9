"""MkDocs hook: the benchmarks page, generated from ``benchmarks/results/*.json`` at build time.

Each result file was written by a benchmark script (``benchmarks/record.py``) with its figures, the exact
command, the library versions, the CPU and the machine's load; the page shows every figure with all of that
beside it, so a number never appears without how it was measured.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from mkdocs.structure.files import File

PAGE = "benchmarks.md"
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"

INTRO = """# Benchmarks

Every figure below comes from a result file in `benchmarks/results/`, written by the benchmark script named
under it: the command that produced it, the library versions, the CPU and the load average of the machine
before and after are shown with it. Absolute times depend on the machine and on what else it was running (the
load average tells); the ratios a benchmark measures within one run, alternating the compared paths, are what
carries over. To measure on your machine, run the command shown (benchmarks that read MNIST look for it in
`$KERASCNN_DATA`, a folder holding `mnist/` and `mnist-full/` as IDX files); `--quick` variants take about a
minute.
"""


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=render(sorted(RESULTS.glob("*.json")))))
    return files


# What a benchmark that writes its own JSON (rather than through benchmarks/record.py) calls the same facts.
ALIASES = {
    "cpu": (("machine", "cpu"),),
    "cores": (("cpus",), ("machine", "cpus")),
    "versions": (("machine", "versions"),),
    "load_before": (("load_average_before",),),
    "load_after": (("load_average_after",), ("load_average",), ("load_average_at_writing",)),  # read at the end
    "seconds": (("wall_seconds",),),
}
# record.py's own keys, and the provenance keys read through ALIASES: everything else is a recorded value.
KNOWN = {
    "title",
    "command",
    "started",
    "notes",
    "figures",
    "tables",
    "benchmark",
    "quick",
    "machine",
    "what",
    *ALIASES,
    *(path[0] for paths in ALIASES.values() for path in paths),
}


def load(path: Path) -> dict:
    """A result file with its provenance under record.py's names, whichever names its benchmark wrote."""
    result = json.loads(path.read_text())
    for key, alternatives in ALIASES.items():
        for keys in alternatives:
            value = result
            for k in keys:
                value = value.get(k) if isinstance(value, dict) else None
            if key not in result and value is not None:
                result[key] = value
    readings = result.get("load_average")
    if readings and isinstance(readings[0], list):  # one reading after each round: the last is at the end
        result["load_after"] = readings[-1]
    return result


def render(paths) -> str:
    parts = [INTRO]
    results = [(path, load(path)) for path in paths]
    if results:
        parts.append("| result | benchmark | measured |\n|---|---|---|")
        parts += [
            f"| [{_escape(r['title'])}](#{_anchor(p)}) | `{p.name}` | {r.get('started', '')[:10]} |" for p, r in results
        ]
        parts.append("")
    for path, result in results:
        parts.append(section(path, result))
    return "\n".join(parts) + "\n"


def section(path: Path, r: dict) -> str:
    lines = [f"## {_escape(r['title'])} {{ #{_anchor(path)} }}", ""]
    lines += ["```bash", r["command"], "```", ""]
    lines.append(provenance(path, r))
    lines.append("")
    for note in r.get("notes", []):
        lines += [_escape(note), ""]
    figures = r.get("figures") or {}
    if figures:
        lines += ["| figure | value |", "|---|---:|"]
        for name, figure in figures.items():
            value = _value(figure["value"])
            lines.append(f"| {_escape(name)} | {value} {_escape(figure.get('unit', ''))} |")
        lines.append("")
    if r.get("what"):
        lines += [_escape(r["what"]), ""]
    other = {k: v for k, v in r.items() if k not in KNOWN}
    if other:  # a benchmark that writes its own JSON: its values as written
        lines += ['??? note "The recorded values"', "", "    ```json"]
        lines += ["    " + line for line in json.dumps(other, indent=2).splitlines()]
        lines += ["    ```", ""]
    for table in r.get("tables", []):
        lines += [f"**{_escape(table['title'])}**", ""]
        lines.append("| " + " | ".join(_escape(c) for c in table["columns"]) + " |")
        lines.append("|" + "---|" * len(table["columns"]))
        for row in table["rows"]:
            lines.append("| " + " | ".join(_value(v) for v in row) + " |")
        lines.append("")
    return "\n".join(lines)


def provenance(path: Path, r: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items())
    load_before = (r.get("load_before") or [None])[0]
    load_after = (r.get("load_after") or [None])[0]
    bits = [
        f"Measured {r.get('started', 'on an unrecorded date')[:16].replace('T', ' ')}",
        f"on {_escape(r.get('cpu', 'an unrecorded CPU'))}, {r.get('cores', '?')} cores",
        f"load average {_load(load_before)} before, {_load(load_after)} after",
    ]
    if r.get("seconds") is not None:
        bits.append(f"{r['seconds']:.0f} s")
    text = "; ".join(bits) + "."
    if r.get("quick"):
        text += " A `--quick` run: fewer repeats than the full benchmark."
    if versions:
        text += f" Versions: {_escape(versions)}."
    return f"<small>{text} Result file: `benchmarks/results/{path.name}`.</small>"


def _load(value) -> str:
    return "unrecorded" if value is None else f"{value:.2f}"


def _anchor(path: Path) -> str:
    return path.stem.replace("_", "-").replace(".", "-").lower()


def _value(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.3g}"
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return _escape(str(v))


def _escape(text: str) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|")
