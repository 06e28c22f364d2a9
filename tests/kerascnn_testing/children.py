"""Run code in a child process forked from a server that has imported TensorFlow, not in a new interpreter.

A new ``python`` process spends ~5 s importing TensorFlow. ``kerascnn tune`` already keeps a fork
server for its trials (``kerascnn.tuning.trial_process``: TensorFlow, Keras and kerascnn imported, no
TensorFlow op run, so that a forked child starts TensorFlow afresh, as a new ``kerascnn`` process
does); the tests fork their children from the same server. Each child is a real process: it can be
SIGKILLed at any step, be one of several workers of a cluster, choose TensorFlow's threads or logical
devices before TensorFlow starts, and start processes of its own. Tests keep a new interpreter only
where that is what they test (``tests/cli/test_fit_cmd.py``: what a fresh process prints).

Coverage: ``[tool.coverage.run] patch`` includes "fork" and "_exit", so a forked child is measured and
saves its data when it exits (a SIGKILLed child saves nothing, as a SIGKILLed interpreter would not).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path


@dataclasses.dataclass
class Child:
    """A process started by :func:`start_child`; its output goes to files in ``folder``."""

    process: multiprocessing.Process
    args: tuple
    folder: tempfile.TemporaryDirectory

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def start_child(target, *args, daemon=True, env=None, **kwargs) -> Child:
    """Run ``target(*args, **kwargs)`` in a process forked from the preloaded fork server; see :func:`finished`.

    ``target`` and its arguments must be picklable (``target`` importable from ``tests/``). The child's exit
    status is what ``target`` passes to ``sys.exit`` (0 when it returns), or minus the killing signal.
    Its output goes to temporary files, so several children can run at once without one blocking on a
    full pipe. A daemon child is killed when this process exits; only a non-daemon one may start
    processes of its own (``kerascnn tune``'s trials).
    """
    from kerascnn import compat
    from kerascnn.tuning import trial_process

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(trial_process.PRELOAD)  # the same server as tune's trials
    folder = tempfile.TemporaryDirectory(prefix="kerascnn-child-")
    process = context.Process(target=_child_main, args=(folder.name, env or {}, target, args, kwargs), daemon=daemon)
    with compat.main_module_not_rerun():
        process.start()
    return Child(process, (target.__name__, *args), folder)


def finished(child: Child, *, timeout=600) -> subprocess.CompletedProcess:
    """Wait for a child of :func:`start_child`; its exit status and output as a CompletedProcess."""
    try:
        child.process.join(timeout=timeout)
        if child.process.exitcode is None:  # not to be mistaken for a child killed where it should be
            raise subprocess.TimeoutExpired(child.args, timeout)
    finally:
        child.kill()  # no-op when it has exited
    folder = Path(child.folder.name)
    output = [(folder / name).read_text(errors="replace") for name in ("stdout", "stderr")]
    child.folder.cleanup()
    return subprocess.CompletedProcess(child.args, child.process.exitcode, *output)


def _child_main(folder, env, target, args, kwargs) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, name in ((1, "stdout"), (2, "stderr")):
        file = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(file, fd)
        os.close(file)
    os.environ.update(env)
    result = target(*args, **kwargs)
    sys.exit(result if isinstance(result, int) else 0)


def run_child(target, *args, timeout=600, env=None, **kwargs) -> subprocess.CompletedProcess:
    """``target(*args, **kwargs)`` in a child (:func:`start_child`), waited for (:func:`finished`)."""
    return finished(start_child(target, *args, env=env, **kwargs), timeout=timeout)


def program(argv) -> int:
    """``kerascnn ARGV`` as the ``kerascnn`` program runs it (``main()`` reading ``sys.argv``)."""
    from kerascnn.cli.main import main

    sys.argv = ["kerascnn", *map(str, argv)]
    return main()


def python_c(source: str, *argv) -> None:
    """What ``python -c SOURCE ARGV`` runs, in this process (for :func:`start_child`)."""
    sys.argv = ["-c", *map(str, argv)]
    exec(compile(source, "<string>", "exec"), {"__name__": "__main__"})
