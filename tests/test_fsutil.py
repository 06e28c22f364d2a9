"""Write-then-rename helpers: the leftovers of a killed writer are found and removed, a live writer's never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from kerascnn.fsutil import atomic_directory, atomic_write_bytes, remove_stale_temporaries

KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from kerascnn.fsutil import atomic_directory, atomic_write_bytes
    folder = Path(sys.argv[1])
    os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # killed just before its rename
    os.rename = os.replace
    if sys.argv[2] == "dir":
        with atomic_directory(folder / "3") as tmp:
            (tmp / "saved_model.pb").write_bytes(b"x" * 1000)
    else:
        atomic_write_bytes(folder / "model.tflite", b"x" * 1000)
""")


def _killed_writer(folder, kind):
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(folder), kind], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_a_killed_writers_temporaries_are_removed_a_live_ones_kept(tmp_path):
    _killed_writer(tmp_path, "dir")
    _killed_writer(tmp_path, "file")
    stale = sorted(p.name.split(".tmp-")[0] for p in tmp_path.iterdir())
    assert stale == [".3", ".model.tflite"]
    (tmp_path / ".notes.txt").write_text("mine")  # not a name these helpers make: never touched
    with atomic_directory(tmp_path / "4") as live:
        removed = remove_stale_temporaries(tmp_path)
        assert live.is_dir()
        assert sorted(p.name.split(".tmp-")[0] for p in removed) == [".3", ".model.tflite"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt", "4"]


def test_cleanup_can_be_limited_to_some_names(tmp_path):
    _killed_writer(tmp_path, "dir")
    _killed_writer(tmp_path, "file")
    assert [p.name.split(".tmp-")[0] for p in remove_stale_temporaries(tmp_path, r"\d+")] == [".3"]
    atomic_write_bytes(tmp_path / "model.tflite", b"ok")  # writing still works beside a stale temporary
    assert (tmp_path / "model.tflite").read_bytes() == b"ok"


def test_os_errors_are_one_line_naming_the_path_and_the_cause_bugs_are_not():
    import errno

    from kerascnn.fsutil import os_error_line

    full = OSError(errno.ENOSPC, "No space left on device", "runs/x/checkpoints/epoch-0001.keras")
    assert os_error_line(full).startswith("runs/x/checkpoints/epoch-0001.keras: No space left on device (free some")
    try:
        try:
            raise full
        except OSError as e:
            raise RuntimeError("a library's wrapper") from e
    except RuntimeError as wrapped:
        assert os_error_line(wrapped) == os_error_line(full)
    loop = OSError(errno.ELOOP, "Too many levels of symbolic links", "data/cat/a.png")
    assert os_error_line(loop) == "data/cat/a.png: Too many levels of symbolic links"
    assert os_error_line(ValueError("a bug keeps its traceback")) is None


def test_a_failed_atomic_write_names_its_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    import errno

    from kerascnn import fsutil

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fd, mode):
            self.f = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")  # as a full disk's write(2) reports it: no name

    monkeypatch.setattr(fsutil.os, "fdopen", Full)
    with pytest.raises(OSError) as e:
        fsutil.atomic_write_text(tmp_path / "history.csv", "epoch\n")
    assert e.value.filename == str(tmp_path / "history.csv") and list(tmp_path.iterdir()) == []


def test_a_path_lock_is_exclusive_even_within_one_process_and_removed_on_release(tmp_path):
    from kerascnn.fsutil import InUseError, lock_path

    first = lock_path(tmp_path / "run")
    with pytest.raises(InUseError, match=rf"run is in use by process {os.getpid()} \(.*\); choose another --out"):
        lock_path(tmp_path / "run", advice="choose another --out")  # the advice is the refused caller's
    first.release()
    with lock_path(tmp_path / "run"):
        assert (tmp_path / ".run.kerascnn.lock").is_file()
    assert list(tmp_path.iterdir()) == []
