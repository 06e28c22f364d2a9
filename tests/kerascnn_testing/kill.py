"""Kill a ``kerascnn`` child process at a named step, as ``kill -9`` at the worst moment would.

The child runs the CLI with one standard function wrapped: on the N-th call that touches a path whose
name is ``name``, it SIGKILLs itself before (or, for a rename, instead of) that call, so no cleanup
code runs, exactly like ``strace -e inject=...:signal=KILL:when=N -P PATH`` (used where strace exists).

    "rename" ``os.replace``/``os.rename`` onto ``name`` (e.g. the commit of a file written then renamed)
    "write"  ``zipfile.ZipFile.writestr`` of a member named ``name`` (a .keras file half-written)

Children are forked (:func:`start_child`) from the fork server that ``kerascnn tune`` starts for its
trials (``kerascnn.tuning.trial_process``: TensorFlow, Keras and kerascnn imported, no TensorFlow op
run, so a child starts TensorFlow afresh, as a new ``kerascnn`` process does) instead of being new
interpreters: each is a real process, killed for real, without ~5 s of importing TensorFlow. A killed
child writes no coverage data either way.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import zipfile
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


def start_child(target, *args, daemon=True, **kwargs) -> Child:
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
    process = context.Process(target=_child_main, args=(folder.name, target, args, kwargs),
                              daemon=daemon)
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


def _child_main(folder, target, args, kwargs) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, name in ((1, "stdout"), (2, "stderr")):
        file = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(file, fd)
        os.close(file)
    result = target(*args, **kwargs)
    sys.exit(result if isinstance(result, int) else 0)


def killed_cli(kind: str, name: str, nth: int, argv) -> int:
    """``kerascnn ARGV`` as the program runs it, SIGKILLed at the ``nth`` ``kind`` of ``name`` (see top)."""
    calls = [0]

    def hit(path):
        if os.path.basename(os.fspath(path)) == name:
            calls[0] += 1
            if calls[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)

    if kind == "rename":
        real_replace, real_rename = os.replace, os.rename

        def replace(src, dst, *a, **k):
            hit(dst)
            return real_replace(src, dst, *a, **k)

        def rename(src, dst, *a, **k):
            hit(dst)
            return real_rename(src, dst, *a, **k)

        os.replace, os.rename = replace, rename
    elif kind == "write":
        real_writestr = zipfile.ZipFile.writestr

        def writestr(self, member, data, *a, **k):
            hit(getattr(member, "filename", member))
            return real_writestr(self, member, data, *a, **k)

        zipfile.ZipFile.writestr = writestr
    else:
        raise ValueError(f"kind must be 'rename' or 'write', not {kind!r}")
    return program(argv)


def program(argv) -> int:
    """``kerascnn ARGV`` as the ``kerascnn`` program runs it (``main()`` reading ``sys.argv``)."""
    from kerascnn.cli.main import main

    sys.argv = ["kerascnn", *map(str, argv)]
    return main()


def start_killed_at(kind: str, name: str, nth: int, argv) -> Child:
    """Start ``kerascnn ARGV`` in a child killed at the ``nth`` ``kind`` ("rename"/"write") of ``name``."""
    return start_child(killed_cli, kind, name, nth, [str(a) for a in argv])


def run_killed_at(kind: str, name: str, nth: int, argv, *, timeout=600) -> subprocess.CompletedProcess:
    """Run ``kerascnn ARGV`` in a child killed at the ``nth`` ``kind`` ("rename"/"write") of ``name``."""
    return finished(start_killed_at(kind, name, nth, argv), timeout=timeout)
