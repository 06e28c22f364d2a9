"""Write-then-rename helpers: the leftovers of a killed writer are found and removed, a live writer's never."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

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
