"""Every lesson executed as a learner runs it: full mode (the real epochs and data sizes), every claim asserted.

Not in the default run (about ten minutes on two cores): ``pytest -m notebooks_full tests/notebooks``.
``python notebooks/_build.py --execute`` runs the same executions and writes their outputs into the
committed notebooks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("nbclient")

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
SOURCES = sorted((NOTEBOOKS_DIR / "src").glob("[0-9][0-9]_*.py"))


@pytest.mark.notebooks_full
@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_lesson_holds_in_full_mode(source):
    sys.path.insert(0, str(NOTEBOOKS_DIR))
    try:
        import _build
    finally:
        sys.path.remove(str(NOTEBOOKS_DIR))
    nb, seconds = _build.execute(source)  # a failing cell or assertion raises, naming the cell
    print(f"{source.stem}: {seconds:.0f} s in full mode")
    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
