"""Build the lesson notebooks (``notebooks/*.ipynb``) from their Python sources (``notebooks/src/*.py``).

The sources are plain Python in the "percent" format that Jupytext, VS Code and Spyder understand:

    # %% [markdown]
    # # A title
    # Some *markdown*, every line behind "# ".

    # %% tags=["plot"]
    plt.plot(x, y)

A code cell tagged ``plot`` must display a figure: the notebook test checks it does. The committed
notebooks carry the outputs and figures of a full run (the lesson as a learner runs it, not the tests'
small mode), so they read with their results on GitHub and in the documentation; each records the
SHA-256 of the source it was executed from, and the tests fail when a source changed after its notebook
was executed.

Usage:

    python notebooks/_build.py --execute           # execute every notebook whose source changed, write outputs
    python notebooks/_build.py --execute 03 06     # execute these (by number or name) again
    python notebooks/_build.py --execute --all     # execute every notebook again
    python notebooks/_build.py --check             # exit 1 if a notebook is not its source's executed build
    python notebooks/_build.py                     # rebuild the cells only (outputs dropped): for a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parent
SOURCES_DIR = NOTEBOOKS_DIR / "src"

_CELL_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
CELL_TIMEOUT_S = 1800  # a full-mode cell trains for minutes, never for half an hour
# The environment a full run executes in: the lessons' own settings, quiet TensorFlow, a fixed hash seed.
EXECUTION_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0", "KERASCNN_NOTEBOOK_SMALL": "0"}


def parse_cells(text: str) -> list[dict]:
    """Split a percent-format source into ``[{"type": "markdown"|"code", "source": str, "tags": [...]}]``."""
    cells: list[dict] = []
    current: dict | None = None
    for line in text.splitlines():
        match = _CELL_MARKER.match(line)
        if match:
            current = _new_cell(match.group("rest"))
            cells.append(current)
            continue
        if current is None:
            # Text before the first marker (e.g. a module docstring for linters) is not part of the notebook.
            continue
        current["lines"].append(line)
    for cell in cells:
        lines = cell.pop("lines")
        if cell["type"] == "markdown":
            lines = [_uncomment(line) for line in lines]
        cell["source"] = "\n".join(lines).strip("\n")
    return [cell for cell in cells if cell["source"]]


def _new_cell(rest: str) -> dict:
    rest = rest.strip()
    kind = "markdown" if rest.startswith("[markdown]") else "code"
    tags_match = re.search(r"tags=(\[.*?\])", rest)
    tags = json.loads(tags_match.group(1)) if tags_match else []
    return {"type": kind, "tags": tags, "lines": []}


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    if line.strip() in ("#", ""):
        return ""
    raise ValueError(f"Markdown lines must start with '# ' (or be a lone '#'). Received: {line!r}")


def build_notebook(source: Path) -> nbformat.NotebookNode:
    """The notebook (no outputs, no execution counts) that ``source`` describes."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": dict(_KERNELSPEC),
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(parse_cells(source.read_text())):
        make = nbformat.v4.new_markdown_cell if cell["type"] == "markdown" else nbformat.v4.new_code_cell
        node = make(cell["source"])
        # Stable ids keep diffs small: the position in the notebook, not a random uuid.
        node["id"] = f"cell-{i:03d}"
        if cell["tags"]:
            node.metadata["tags"] = cell["tags"]
        nb.cells.append(node)
    nbformat.validate(nb)
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def target_for(source: Path) -> Path:
    return NOTEBOOKS_DIR / (source.stem + ".ipynb")


def sources() -> list[Path]:
    return sorted(SOURCES_DIR.glob("[0-9][0-9]_*.py"))


def source_digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def executed_from(nb) -> str | None:
    """The SHA-256 of the source a notebook was executed from (None: never executed)."""
    return nb.metadata.get("kerascnn", {}).get("source_sha256")


def same_cells(built, committed) -> bool:
    """Whether two notebooks have the same cells (type, source, tags), whatever their outputs."""

    def cells(nb):
        return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]

    return cells(built) == cells(committed)


def problems(source: Path) -> list[str]:
    """What is wrong with ``source``'s committed notebook: missing, other cells, not executed from this source."""
    target = target_for(source)
    if not target.exists():
        return [f"{target.name}: missing"]
    try:
        committed = nbformat.read(target, as_version=4)
    except ValueError as error:  # not a notebook, e.g. a merge left conflict markers in it
        return [f"{target.name}: unreadable ({type(error).__name__})"]
    out = []
    if not same_cells(build_notebook(source), committed):
        out.append(f"{target.name}: its cells differ from src/{source.name}")
    if executed_from(committed) != source_digest(source):
        out.append(f"{target.name}: not executed from the current src/{source.name}")
    elif any(c.cell_type == "code" and c.source.strip() and c.execution_count is None for c in committed.cells):
        out.append(f"{target.name}: some code cells were not executed")
    return out


# Machine noise on a kernel's stderr, not part of the lesson: TensorFlow's C++ start-up log (absl's
# "I0000 00:00:... port.cc:153] oneDNN ...", "failed call to cuInit"), its Python INFO log ("Assets written
# to: <a temporary folder>") and the TFLite converter's settings line ("fully_quantize: 0, ...").
_NOISE_LINE = re.compile(
    r"^([IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\]|WARNING: All log messages before absl"
    r"|INFO:(tensorflow|absl):|fully_quantize: \d)"
)
# A warning raised in a cell names the cell's temporary file: <tmp>/ipykernel_<pid>/<hash>.py.
_CELL_FILE = re.compile(r"\S*ipykernel_\d+[/\\]\d+\.py")


def _machine_prefixes(workdir: Path | None) -> list[str]:
    """Folders of this machine that outputs may name, longest first: the lesson's working folder (files it
    wrote are named relative to it), the installed packages' and the standard library's folders (a warning
    names ``keras/src/...``), this checkout, the interpreter's prefix and the temporary folder."""
    import sysconfig

    folders = [
        *(() if workdir is None else (workdir, workdir.resolve())),
        *(Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib", "stdlib", "platstdlib")),
        NOTEBOOKS_DIR.parent,
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(tempfile.gettempdir()),
    ]
    variants = {str(f) for f in folders} | {str(f.resolve()) for f in folders}
    return sorted({v + os.sep for v in variants} | variants, key=len, reverse=True)


def scrub(nb, workdir: Path | None = None) -> None:
    """Outputs name files relative to the lesson's folder and the installed packages, no path of the
    machine that executed them, and carry none of TensorFlow's log lines."""
    prefixes = _machine_prefixes(workdir)

    def clean(text):
        text = _CELL_FILE.sub("<cell>", text)
        for prefix in prefixes:
            text = text.replace(prefix, "")
        return text

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.get("name") == "stderr":
                out["text"] = "".join(
                    line for line in out["text"].splitlines(keepends=True) if not _NOISE_LINE.match(line)
                )
        cell.outputs = [out for out in cell.outputs if not (out.get("name") == "stderr" and not out["text"].strip())]
        for out in cell.outputs:
            if "text" in out:
                out["text"] = clean(out["text"])
            for key, value in out.get("data", {}).items():
                if key.startswith("text/") and isinstance(value, str):
                    out["data"][key] = clean(value)
            if "traceback" in out:
                out["traceback"] = [clean(line) for line in out["traceback"]]


def _kernel_spec(folder: Path) -> str:
    """A kernelspec for this interpreter in ``folder`` (first on JUPYTER_PATH): the lesson runs against the
    kerascnn installed here, whatever kernels the machine has."""
    name = "kerascnn-lesson"
    spec = folder / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "kerascnn lesson",
                "language": "python",
            }
        )
    )
    return name


def execute(source: Path, *, env: dict | None = None):
    """Run ``source``'s notebook top to bottom in a fresh kernel, in a temporary folder; (notebook, seconds).

    Raises nbclient's ``CellExecutionError`` (naming the cell, with its traceback) when a cell fails: a
    lesson whose claim does not hold (its ``assert``) is never written.
    """
    import nbclient

    nb = build_notebook(source)
    with (
        tempfile.TemporaryDirectory(prefix="kerascnn-jupyter-") as jupyter,
        tempfile.TemporaryDirectory(prefix="kerascnn-lesson-") as work,
    ):
        kernel = _kernel_spec(Path(jupyter))
        environment = {
            **EXECUTION_ENV,
            **(env or {}),
            "JUPYTER_PATH": jupyter + os.pathsep + os.environ.get("JUPYTER_PATH", ""),
        }
        saved = {k: os.environ.get(k) for k in environment}
        os.environ.update(environment)  # the kernel inherits this process's environment
        try:
            client = nbclient.NotebookClient(
                nb, timeout=CELL_TIMEOUT_S, kernel_name=kernel, resources={"metadata": {"path": work}}
            )
            start = time.perf_counter()
            client.execute()
            seconds = time.perf_counter() - start
            scrub(nb, Path(work))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    nb.metadata["kernelspec"] = dict(_KERNELSPEC)  # the reader's default kernel, not the one it ran in
    nb.metadata["kerascnn"] = {"source_sha256": source_digest(source), "mode": "full", "seconds": round(seconds, 1)}
    nbformat.validate(nb)
    return nb, seconds


def _select(names: list[str]) -> list[Path]:
    if not names:
        return sources()
    chosen = [s for s in sources() if any(s.stem == n or s.stem.startswith(n.rstrip("_") + "_") for n in names)]
    unknown = [n for n in names if not any(s.stem == n or s.stem.startswith(n.rstrip("_") + "_") for s in sources())]
    if unknown:
        raise SystemExit(
            f"no notebook source matches {', '.join(unknown)} (sources: {', '.join(s.stem for s in sources())})"
        )
    return chosen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="numbers or names (01, 06_transfer_learning); default: all")
    parser.add_argument(
        "--execute", action="store_true", help="execute in full mode and write the notebooks with their outputs"
    )
    parser.add_argument("--all", action="store_true", help="with --execute: also the notebooks already up to date")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 unless every notebook is its current source, executed"
    )
    args = parser.parse_args(argv)
    chosen = _select(args.notebooks)
    if args.check:
        found = [p for s in chosen for p in problems(s)]
        orphans = sorted(set(NOTEBOOKS_DIR.glob("*.ipynb")) - {target_for(s) for s in sources()})
        found += [f"{p.name}: no source in notebooks/src" for p in orphans]
        for line in found:
            print(f"{line} (run: python notebooks/_build.py --execute)", file=sys.stderr)
        return 1 if found else 0
    if args.execute:
        import nbclient.exceptions

        todo = [s for s in chosen if args.all or args.notebooks or problems(s)]
        failed = []
        for source in todo:  # a failing lesson is reported and left as it was; the others still run
            print(f"executing {source.name} ...", flush=True)
            try:
                nb, seconds = execute(source)
            except nbclient.exceptions.CellExecutionError as error:
                failed.append(source.name)
                print(f"FAILED {source.name} (its notebook is left as it was):\n{error}", file=sys.stderr, flush=True)
                continue
            target_for(source).write_text(notebook_text(nb))
            print(f"wrote {target_for(source).relative_to(NOTEBOOKS_DIR.parent)} ({seconds:.0f} s)", flush=True)
        if failed:
            print(f"{len(failed)} lesson(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0
    for source in chosen:
        target = target_for(source)
        text = notebook_text(build_notebook(source))
        if not (target.exists() and target.read_text() == text):
            target.write_text(text)
            print(f"wrote {target.relative_to(NOTEBOOKS_DIR.parent)} (cells only, no outputs: run --execute)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
