"""Executing the lesson notebooks beside the rest of the test session.

A small-mode notebook keeps about one core busy: its kernel's main thread does 75-98% of the kernel's
work (measured per thread in /proc: importing TensorFlow, tracing, plotting, small-batch training), and
pytest's own process is the same. On two cores, tests/conftest.py therefore starts the selected
notebooks when collection ends, one kernel at a time, while the other tests run; the notebook tests
come last, and when they are reached :meth:`NotebookRunner.result` lets a second kernel start for what
is left, and waits. Each notebook runs top to bottom in a fresh kernel of this interpreter, in its own temporary
working directory, exactly as it would alone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

RUNNER = pytest.StashKey()  # config.stash[RUNNER]: the session's NotebookRunner (tests/conftest.py)
KERNEL_NAME = "kerascnn-notebook-test"
# Tiny data and few epochs (the notebooks read KERASCNN_NOTEBOOK_SMALL); quiet TensorFlow.
KERNEL_ENV = {"KERASCNN_NOTEBOOK_SMALL": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}
CELL_TIMEOUT_S = 600  # a stuck cell fails its test instead of hanging CI


class NotebookRunner:
    """Executes ``paths`` in a background thread; ``result(path)`` -> (executed notebook, seconds, error)."""

    def __init__(self, paths):
        self.paths = sorted(paths, reverse=True)  # the later lessons are the longer ones: first
        self._results = {path: concurrent.futures.Future() for path in self.paths}
        self._workdir = tempfile.TemporaryDirectory(prefix="kerascnn-notebooks-")
        self._thread = threading.Thread(target=self._run, name="notebooks", daemon=True)
        self._loop = self._slots = self._tasks = None
        self._started = threading.Event()
        self._hurried = False

    def start(self) -> NotebookRunner:
        root = Path(self._workdir.name)
        spec_dir = root / "jupyter" / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "kerascnn notebook tests",
                    "language": "python",
                    "env": KERNEL_ENV,
                }
            )
        )
        # JUPYTER_PATH comes first in jupyter's search path: this spec wins over any installed kernel.
        os.environ["JUPYTER_PATH"] = str(root / "jupyter") + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        self._thread.start()
        self._started.wait()
        return self

    def result(self, path):
        """Wait for ``path``'s run (a second kernel now joins in); (notebook, seconds, exception or None)."""
        if not self._hurried and self._loop is not None:
            self._hurried = True
            try:
                self._loop.call_soon_threadsafe(self._slots.release)
            except RuntimeError:  # the loop has finished: every notebook has run
                pass
        return self._results[path].result()

    def stop(self) -> None:
        """Cancel what has not finished (its kernel is shut down) and remove the working directories."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(lambda: [task.cancel() for task in self._tasks])
            self._thread.join(timeout=60)
        self._workdir.cleanup()

    def _run(self) -> None:
        try:
            asyncio.run(self._execute_all())
        except BaseException as error:  # noqa: BLE001 -- every waiting test must hear of it
            for future in self._results.values():
                if not future.done():
                    future.set_exception(error)
        finally:
            self._started.set()

    async def _execute_all(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(1)
        self._tasks = [asyncio.create_task(self._execute(path)) for path in self.paths]
        self._started.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _execute(self, path) -> None:
        import nbclient
        import nbformat

        async with self._slots:
            cwd = Path(self._workdir.name) / path.stem
            cwd.mkdir()
            nb = nbformat.read(path, as_version=4)
            client = nbclient.NotebookClient(
                nb, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(cwd)}}
            )
            start = time.perf_counter()
            # The kernel's own output (TensorFlow's C++ lines) goes to a file, not to pytest's capture.
            with open(cwd / "kernel.log", "wb") as log:
                try:
                    await client.async_execute(stdout=log, stderr=log)
                    error = None
                except Exception as e:  # CellExecutionError names the cell and carries its traceback
                    error = e
            self._results[path].set_result((nb, time.perf_counter() - start, error))
