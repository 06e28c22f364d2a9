"""Write-then-rename helpers: nothing a user has is left half-written or overwritten by accident.

Every temporary file or folder these helpers create is held under an exclusive ``flock`` by its
writer until the final rename. The kernel drops the lock when the writer dies, even by SIGKILL, so
:func:`remove_stale_temporaries` can tell the leftovers of a killed writer (lock free) from the work of
a running one (locked) without guessing from ages or process ids.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path


TEMPORARY_NAME = re.compile(r"^\..+\.tmp-[A-Za-z0-9_]+$")  # what mkdtemp/mkstemp make from our prefixes


def _lock_new(path: Path) -> int | None:
    """An fd holding the exclusive lock on the just-created ``path``; None if a cleaner removed it first."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks only while a cleaner that got there first removes it
    except OSError:
        pass  # a filesystem without locks: cleaners cannot lock it either, so they leave it alone
    if os.fstat(fd).st_nlink == 0 or not path.exists():
        os.close(fd)
        return None
    return fd


def _locked_temporary(make) -> tuple[Path, int]:
    while True:
        path = Path(make())
        fd = _lock_new(path)
        if fd is not None:
            return path, fd


def remove_stale_temporaries(folder, name_pattern: str = ".*") -> list[Path]:
    """Remove the temporary files and folders that killed writers left in ``folder``; returns them.

    Only names these helpers make (``.NAME.tmp-XXXX`` with NAME matching ``name_pattern``) whose lock
    is free are touched: a writer that is still running holds its lock, so its work is never removed.
    """
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    pattern = re.compile(rf"^\.(?:{name_pattern})\.tmp-[A-Za-z0-9_]+$")
    for path in entries:
        if not (TEMPORARY_NAME.match(path.name) and pattern.match(path.name)):
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # its writer is alive
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def atomic_directory(final_path: str | os.PathLike, *, overwrite: bool = False):
    """Yield a temporary sibling directory that is renamed to ``final_path`` only on success.

    The temporary directory sits beside ``final_path`` so that the rename stays on one filesystem and is
    atomic: a server polling the parent never sees a partial directory. On any exception the temporary
    directory is removed and ``final_path`` is untouched; after a kill it is left locked by nobody, and
    :func:`remove_stale_temporaries` removes it.
    """
    final_path = Path(final_path)
    if final_path.exists() and not overwrite:
        raise FileExistsError(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp, lock = _locked_temporary(lambda: tempfile.mkdtemp(prefix=f".{final_path.name}.tmp-", dir=final_path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide exports from a server run as another user
    try:
        yield tmp
        if overwrite and final_path.exists():
            old = final_path.with_name(f".{final_path.name}.old-{os.getpid()}")
            os.replace(final_path, old)
            os.replace(tmp, final_path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                # Renaming onto a non-empty directory fails, so a concurrent writer that got there
                # first is never replaced.
                os.rename(tmp, final_path)
            except OSError:
                if final_path.exists():
                    raise FileExistsError(final_path) from None
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)


@contextlib.contextmanager
def locked_temporary_directory(prefix: str):
    """Like ``tempfile.TemporaryDirectory`` in the system's temp folder, removed after a kill too.

    It is named ``.PREFIX.tmp-XXXX`` and locked; stale ones of the same prefix (their writer was
    killed) are removed first.
    """
    root = Path(tempfile.gettempdir())
    remove_stale_temporaries(root, re.escape(prefix))
    tmp, lock = _locked_temporary(lambda: tempfile.mkdtemp(prefix=f".{prefix}.tmp-", dir=root))
    try:
        yield str(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.close(lock)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    ``durable`` also fsyncs the data before the rename, so that after a power cut ``path`` holds either
    the old or the new content, never an empty file (for commit records that other files depend on).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fds = []

    def make():
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
        fds.append(fd)
        return name

    tmp, lock = _locked_temporary(make)
    fd = fds[-1]
    for other in fds[:-1]:
        os.close(other)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is stricter than any file the user writes
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        os.close(lock)


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: str | os.PathLike, obj, *, durable: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", durable=durable)
