"""Kill a ``kerascnn`` child process at a named step, as ``kill -9`` at the worst moment would.

The child runs the CLI with one standard function wrapped: on the N-th call that touches a path whose
name is ``name``, it SIGKILLs itself before (or, for a rename, instead of) that call, so no cleanup
code runs, exactly like ``strace -e inject=...:signal=KILL:when=N -P PATH`` (used where strace exists).

    "rename" ``os.replace``/``os.rename`` onto ``name`` (e.g. the commit of a file written then renamed)
    "write"  ``zipfile.ZipFile.writestr`` of a member named ``name`` (a .keras file half-written)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent("""
    import os, signal, sys, zipfile
    kind, name, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
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
    from kerascnn.cli.main import main
    sys.argv = ["kerascnn", *sys.argv[4:]]
    sys.exit(main())  # as the `kerascnn` program runs it
""")


def start_killed_at(kind: str, name: str, nth: int, argv) -> subprocess.Popen:
    """Start ``kerascnn ARGV`` in a child killed at the ``nth`` ``kind`` ("rename"/"write") of ``name``.

    Its output goes to temporary files (read by :func:`finished`), so several children can run at once
    without one blocking on a full pipe.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    output = (tempfile.TemporaryFile(), tempfile.TemporaryFile())
    child = subprocess.Popen([sys.executable, "-c", CHILD, kind, name, str(nth), *map(str, argv)], env=env,
                             stdout=output[0], stderr=output[1])
    child.output_files = output
    return child


def finished(child: subprocess.Popen, *, timeout=600) -> subprocess.CompletedProcess:
    """Wait for a child of :func:`start_killed_at`; its exit status and output as a CompletedProcess."""
    try:
        child.wait(timeout=timeout)
    finally:
        child.kill()  # no-op when it has exited
    output = []
    for stream in child.output_files:
        stream.seek(0)
        output.append(stream.read().decode(errors="replace"))
        stream.close()
    return subprocess.CompletedProcess(child.args, child.returncode, *output)


def run_killed_at(kind: str, name: str, nth: int, argv, *, timeout=600) -> subprocess.CompletedProcess:
    """Run ``kerascnn ARGV`` in a child killed at the ``nth`` ``kind`` ("rename"/"write") of ``name``."""
    return finished(start_killed_at(kind, name, nth, argv), timeout=timeout)
