"""Shared test set-up: quiet TensorFlow, no GPU surprises, helpers to run the CLI in-process or for real."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

from kerascnn_testing import artifacts  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"


def run_kerascnn(*args, cwd=None, env=None, timeout=600, check=False) -> subprocess.CompletedProcess:
    """Run ``kerascnn ARGS`` in a fresh Python process, as a user would, and capture its output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "kerascnn.cli.main", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kerascnn {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


NOTEBOOK_TEST = "test_notebook_runs_top_to_bottom"  # tests/notebooks/test_notebooks.py


def pytest_collection_finish(session):
    """Start the selected notebooks now, beside the other tests (kerascnn_testing.notebooks says why)."""
    paths = {
        item.callspec.params["path"] for item in session.items if getattr(item, "originalname", None) == NOTEBOOK_TEST
    }
    if paths and not session.config.option.collectonly:
        from kerascnn_testing.notebooks import RUNNER, NotebookRunner

        session.config.stash[RUNNER] = NotebookRunner(paths).start()


def pytest_collection_modifyitems(items):
    # The notebooks run from the start of the session (above): their tests come last, when the notebooks
    # have had every other test's time to finish, instead of holding the session up in the middle.
    items.sort(key=lambda item: getattr(item, "originalname", None) == NOTEBOOK_TEST)  # stable: order kept


def pytest_sessionfinish(session):
    from kerascnn_testing.notebooks import RUNNER

    runner = session.config.stash.get(RUNNER, None)
    if runner is not None:
        runner.stop()


@pytest.fixture
def kerascnn_cli():
    """Call as ``kerascnn_cli("fit", "lenet", ...)``; returns the CompletedProcess.

    A fresh process costs ~5 s of TensorFlow import: use it only where the process boundary is what is
    tested (exit on a signal, a kill, several workers, what a fresh process prints); else ``kerascnn_main``.
    """
    return run_kerascnn


@dataclasses.dataclass
class CliResult:
    """What ``kerascnn ARGS`` returned and printed, like a CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def kerascnn_main(capsys, monkeypatch):
    """``kerascnn_main("export", run, ...)``: ``kerascnn.cli.main.main`` in this process -> CliResult.

    The same argument parsing, error handling and exit codes as the ``kerascnn`` command (argparse's
    SystemExit becomes the return code); ``cwd=`` runs it from another working directory.
    """

    def run(*args, cwd=None) -> CliResult:
        capsys.readouterr()
        with monkeypatch.context() as mp:
            if cwd is not None:
                mp.chdir(cwd)
            code = _main_exit_code(args)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture(scope="session")
def kerascnn_main_shared():
    """``kerascnn_main`` for fixtures of any scope (module-scoped runs shared by several tests).

    The output is taken with ``contextlib.redirect_stdout``/``redirect_stderr`` instead of ``capsys``,
    which only function-scoped fixtures may use.
    """

    def run(*args) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = _main_exit_code(args)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def _main_exit_code(args) -> int:
    """``kerascnn.cli.main.main(args)``'s exit code, as the ``kerascnn`` command exits (argparse's SystemExit too)."""
    from kerascnn.cli.main import main

    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)


@pytest.fixture(scope="session")
def shared_mnist() -> Path:
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found at {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A tiny ``kerascnn.fit`` LeNet run directory on the digits, made once per session."""
    return artifacts.trained_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """The trained run's digits as it split them: {x_train, y_train, x_test, y_test}, raw uint8."""
    return artifacts.digits_arrays(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``exported("saved_model")`` -> model base folder; ``exported("tflite-int8")`` -> .tflite path."""
    return lambda kind: artifacts.exported(tmp_path_factory.getbasetemp(), kind)
