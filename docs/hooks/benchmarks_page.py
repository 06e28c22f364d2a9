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


def render(paths) -> str:
    parts = [INTRO]
    results = [(path, json.loads(path.read_text())) for path in paths]
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
        f"load average {load_before} before, {load_after} after",
    ]
    if r.get("seconds") is not None:
        bits.append(f"{r['seconds']:.0f} s")
    text = "; ".join(bits) + "."
    if r.get("quick"):
        text += " A `--quick` run: fewer repeats than the full benchmark."
    if versions:
        text += f" Versions: {_escape(versions)}."
    return f"<small>{text} Result file: `benchmarks/results/{path.name}`.</small>"


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
