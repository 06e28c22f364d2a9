"""Execute every lesson notebook in ``notebooks/`` top to bottom, as a learner would.

A failing cell fails the test (with the cell's traceback). The notebooks assert their own claims (the
from-scratch cross-correlation, the output-size formula, 1x1 conv == dense, ...), so running them is
testing them. Cells tagged ``plot`` must display a PNG figure.

The kernel is this interpreter (a kernelspec written to a temporary JUPYTER_PATH), so the notebooks run
against the same installed kerascnn on any machine, whatever kernels the user has installed. The kernel
gets ``KERASCNN_NOTEBOOK_SMALL=1``: tiny data and few epochs. Each notebook runs in its own kernel and
its own temporary working directory, so files it writes (runs, exports) never land in the repository.

Two kernels run side by side: most of a small-mode notebook is one-threaded Python (importing
TensorFlow, tracing, plotting), so the second core would otherwise idle.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
KERNEL_NAME = "kerascnn-notebook-test"
CELL_TIMEOUT_S = 600  # a stuck cell fails the test instead of hanging CI
KERNELS_AT_ONCE = 2


@pytest.fixture(scope="session")
def test_kernel(tmp_path_factory):
    """A kernelspec that starts ipykernel on this very Python, with the small-size switch on."""
    jupyter_dir = tmp_path_factory.mktemp("jupyter")
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "kerascnn notebook tests",
        "language": "python",
        "env": {"KERASCNN_NOTEBOOK_SMALL": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    with pytest.MonkeyPatch.context() as mp:
        # JUPYTER_PATH comes first in jupyter's search path: our spec wins over any installed one.
        mp.setenv("JUPYTER_PATH", str(jupyter_dir) + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
        yield KERNEL_NAME


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


@pytest.fixture(scope="session")
def executed(test_kernel, request, tmp_path_factory):
    """The notebooks this session tests, executed two kernels at a time: path -> (notebook, seconds, error)."""
    wanted = sorted({item.callspec.params["path"] for item in request.session.items
                     if getattr(item, "originalname", None) == "test_notebook_runs_top_to_bottom"}, reverse=True)

    async def execute(path, slots):
        async with slots:
            nb = nbformat.read(path, as_version=4)
            client = nbclient.NotebookClient(
                nb,
                kernel_name=test_kernel,
                timeout=CELL_TIMEOUT_S,
                resources={"metadata": {"path": str(tmp_path_factory.mktemp(path.stem))}},  # the kernel's cwd
            )
            start = time.perf_counter()
            try:
                await client.async_execute()
            except Exception as error:  # CellExecutionError names the cell and carries its traceback
                return path, nb, time.perf_counter() - start, error
            return path, nb, time.perf_counter() - start, None

    async def execute_all():
        slots = asyncio.Semaphore(KERNELS_AT_ONCE)  # the later notebooks (the longer ones) start first
        return await asyncio.gather(*(execute(path, slots) for path in wanted))

    return {path: result for path, *result in asyncio.run(execute_all())}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, executed):
    nb, seconds, error = executed[path]
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
