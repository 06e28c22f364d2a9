"""Execute every lesson notebook in ``notebooks/`` top to bottom, as a learner would.

A failing cell fails the test (with the cell's traceback). The notebooks assert their own claims (the
from-scratch cross-correlation, the output-size formula, 1x1 conv == dense, ...), so running them is
testing them. Cells tagged ``plot`` must display a PNG figure.

The committed notebooks carry the outputs of a full run (``python notebooks/_build.py --execute``); the
tests here check they are their current sources executed, and execute each again in the small mode below.
``pytest -m notebooks_full tests/notebooks`` executes every lesson in full mode, every assertion on.

Each notebook runs in a fresh kernel of this interpreter (a kernelspec written to a temporary
JUPYTER_PATH), so it runs against the same installed kerascnn on any machine, with
``KERASCNN_NOTEBOOK_SMALL=1`` (tiny data and few epochs), in its own temporary working directory (files it
writes never land in the repository). They start when collection ends and run beside the other tests
(tests/conftest.py, kerascnn_testing/notebooks.py): each test here checks its notebook's finished run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOKS_DIR}"


def _build():
    sys.path.insert(0, str(NOTEBOOKS_DIR))
    try:
        import _build
    finally:
        sys.path.remove(str(NOTEBOOKS_DIR))
    return _build


def test_every_notebook_has_a_source():
    build = _build()
    assert {p.name for p in NOTEBOOKS} == {build.target_for(s).name for s in build.sources()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_its_source_executed_in_full(path):
    """The committed notebook holds its source's cells with the outputs of a full run of that very source."""
    build = _build()
    source = build.SOURCES_DIR / (path.stem + ".py")
    found = build.problems(source)
    assert not found, "; ".join(found) + " (run: python notebooks/_build.py --execute)"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kerascnn"]["mode"] == "full"
    plots = [c for c in nb.cells if "plot" in c.metadata.get("tags", [])]
    assert all(any("image/png" in out.get("data", {}) for out in c.outputs) for c in plots), (
        f"{path.name}: a cell tagged 'plot' shows no figure in the committed notebook"
    )
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    for machine_path in ("/tmp/", "/work/", "/home/", "/root/", ".venv", "../shared"):
        assert machine_path not in text, f"{path.name}: an output shows a path of the machine that ran it"


def test_lessons_name_no_issue_and_no_machine_path():
    """What a learner reads (the sources' cells, the README) holds no tracker reference and no path of this
    machine or of the project's shared folder."""
    sources = sorted((NOTEBOOKS_DIR / "src").glob("*.py"))
    texts = {p.name: p.read_text() for p in [*sources, NOTEBOOKS_DIR / "README.md"]}
    found = [
        (name, m.group(0))
        for name, text in texts.items()
        for m in re.finditer(r"(?i)\bissues? \d+|(?<![\w&])#\d+\b|\.\./shared|/work/|\.venv\b", text)
    ]
    assert not found, found


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, request):
    from kerascnn_testing.notebooks import RUNNER

    nb, seconds, error = request.config.stash[RUNNER].result(path)
    print(f"{path.name}: {seconds:.1f} s")
    if error is not None:
        raise error  # the failing cell and its traceback

    missing_plots = [
        i
        for i, cell in enumerate(nb.cells)
        if "plot" in cell.metadata.get("tags", [])
        and not any("image/png" in out.get("data", {}) for out in cell.outputs)
    ]
    assert not missing_plots, f"{path.name}: cells {missing_plots} are tagged 'plot' but displayed no PNG"
    errors = [
        out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"
    ]
    assert not errors
