"""Execute every lesson notebook in ``notebooks/`` top to bottom, as a learner would.

A failing cell fails the test (with the cell's traceback). The notebooks assert their own claims (the
from-scratch cross-correlation, the output-size formula, 1x1 conv == dense, ...), so running them is
testing them. Cells tagged ``plot`` must display a PNG figure.

Each notebook runs in a fresh kernel of this interpreter (a kernelspec written to a temporary
JUPYTER_PATH), so it runs against the same installed kerascnn on any machine, with
``KERASCNN_NOTEBOOK_SMALL=1`` (tiny data and few epochs), in its own temporary working directory (files it
writes never land in the repository). They start when collection ends and run beside the other tests
(tests/conftest.py, kerascnn_testing/notebooks.py): each test here checks its notebook's finished run.
"""

from __future__ import annotations

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


def test_notebooks_are_built_from_their_sources():
    sys.path.insert(0, str(NOTEBOOKS_DIR))
    try:
        import _build
    finally:
        sys.path.remove(str(NOTEBOOKS_DIR))
    assert _build.main(["--check"]) == 0, "a notebook differs from notebooks/src: run python notebooks/_build.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; rebuild with python notebooks/_build.py"


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
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"]
    assert not errors
