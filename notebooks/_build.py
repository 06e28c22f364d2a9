"""Build the lesson notebooks (``notebooks/*.ipynb``) from their Python sources (``notebooks/src/*.py``).

The sources are plain Python in the "percent" format that Jupytext, VS Code and Spyder understand:

    # %% [markdown]
    # # A title
    # Some *markdown*, every line behind "# ".

    # %% tags=["plot"]
    plt.plot(x, y)

A code cell tagged ``plot`` must display a figure: the notebook test checks it does. The built notebooks
carry no outputs (outputs are never committed); run them in Jupyter, or execute them all with

    pytest tests/notebooks -q

Usage:

    python notebooks/_build.py           # rewrite every notebook whose source changed
    python notebooks/_build.py --check   # exit 1 if a notebook is not what its source builds
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parent
SOURCES_DIR = NOTEBOOKS_DIR / "src"

_CELL_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that every notebook is up to date")
    args = parser.parse_args(argv)
    stale = []
    for source in sources():
        target = target_for(source)
        text = notebook_text(build_notebook(source))
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target)
        if not args.check:
            target.write_text(text)
            print(f"wrote {target.relative_to(NOTEBOOKS_DIR.parent)}")
    orphans = sorted(set(NOTEBOOKS_DIR.glob("*.ipynb")) - {target_for(s) for s in sources()})
    if args.check and (stale or orphans):
        for path in stale:
            print(f"out of date: {path.name} (run: python notebooks/_build.py)", file=sys.stderr)
        for path in orphans:
            print(f"no source in notebooks/src for: {path.name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
