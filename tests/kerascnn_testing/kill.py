"""Kill a ``kerascnn`` child process at a named step, as ``kill -9`` at the worst moment would.

The child runs the CLI with one standard function wrapped: on the N-th call that touches a path whose
name is ``name``, it SIGKILLs itself before (or, for a rename, instead of) that call, so no cleanup
code runs, exactly like ``strace -e inject=...:signal=KILL:when=N -P PATH`` (used where strace exists).

    "rename" ``os.replace``/``os.rename`` onto ``name`` (e.g. the commit of a file written then renamed)
    "write"  ``zipfile.ZipFile.writestr`` of a member named ``name`` (a .keras file half-written)

The child is forked without TensorFlow's import (kerascnn_testing.children).
"""

from __future__ import annotations

import os
import signal
import subprocess
import zipfile

from kerascnn_testing.children import Child, finished, program, start_child


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


def start_killed_at(kind: str, name: str, nth: int, argv) -> Child:
    """Start ``kerascnn ARGV`` in a child killed at the ``nth`` ``kind`` ("rename"/"write") of ``name``."""
    return start_child(killed_cli, kind, name, nth, [str(a) for a in argv])


def run_killed_at(kind: str, name: str, nth: int, argv, *, timeout=600) -> subprocess.CompletedProcess:
    """Run ``kerascnn ARGV`` in a child killed at the ``nth`` ``kind`` ("rename"/"write") of ``name``."""
    return finished(start_killed_at(kind, name, nth, argv), timeout=timeout)
