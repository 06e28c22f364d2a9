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

from kerascnn.errors import ArtifactError

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
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        named = naming(e, path) if isinstance(e, OSError) else e
        if named is not e:
            raise named from e
        raise
    finally:
        os.close(lock)


def naming(error: OSError, path) -> OSError:
    """``error`` with ``path`` as its file name when it had none (a failed write names the file it was for)."""
    if isinstance(error, OSError) and error.errno is not None and error.filename is None:
        return type(error)(error.errno, error.strerror or os.strerror(error.errno), str(path))
    return error


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: str | os.PathLike, obj, *, durable: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", durable=durable)


# ---------------------------------------------------------------------------------------------- locks


class InUseError(ArtifactError):
    """Another process holds the lock on a path (its pid and command are in the message)."""


def _command_line() -> str:
    try:
        with open("/proc/self/cmdline", "rb") as f:
            parts = f.read().split(b"\0")
        text = " ".join(p.decode(errors="replace") for p in parts if p)
    except OSError:
        import sys

        text = " ".join(sys.argv)
    return " ".join(text.split())[:200]  # one line, whatever the command held


class PathLock:
    """An exclusive ``flock`` on ``path`` for as long as a writer works on it (a run directory, a prepared
    dataset, an export target, a tuning folder), held on the sibling file ``.NAME.kerascnn.lock``.

    A second process trying the same path fails at once with :class:`InUseError` naming the holder (pid and
    command, which the holder writes into the lock file). The kernel drops the lock when its holder dies, even
    by SIGKILL, so a killed writer never blocks the next one; the lock file is removed on release.
    """

    def __init__(self, path, *, advice: str = ""):
        self.path = Path(path)
        self.lock_file = self.path.parent / f".{self.path.name}.kerascnn.lock"
        self.advice = advice
        self._fd: int | None = None

    def acquire(self) -> PathLock:
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 512, 0).decode(errors="replace").strip()
                os.close(fd)
                pid, _, command = holder.partition(" ")
                who = f"process {pid} ({command})" if pid else "another process"
                raise InUseError(
                    f"{self.path} is in use by {who}" + (f"; {self.advice}" if self.advice else "")
                ) from None
            except OSError:
                os.close(fd)  # a filesystem without locks: nothing to hold
                return self
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.lock_file))
            except FileNotFoundError:
                same = False
            if same:  # not a file its previous holder removed while we waited for it
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {_command_line()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.lock_file)  # while still held: a waiter then sees the file gone and retries
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self if self.held else self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False

    def __del__(self):  # a lock object dropped without release (an exception path): free it now
        with contextlib.suppress(Exception):
            self.release()


def lock_path(path, *, advice: str = "") -> PathLock:
    """Take the exclusive lock of ``path`` (see :class:`PathLock`); raises :class:`InUseError` if it is held."""
    return PathLock(path, advice=advice).acquire()


# ---------------------------------------------------------------------------------------------- OS errors

# What an OS error's text says, also inside TensorFlow's errors (its file system layer reports errno's text).
OS_ERROR_TEXTS = (
    "No space left on device",
    "Disk quota exceeded",
    "Read-only file system",
    "File name too long",
    "Too many levels of symbolic links",
    "Permission denied",
    "Input/output error",
    "Operation not permitted",
    "Is a directory",
    "Not a directory",
    "No such file or directory",
    "Stale file handle",
)


def os_error_line(error: BaseException) -> str | None:
    """One line naming the path and the cause of an OS error (Python's, or TensorFlow's about a file), or None
    when ``error`` is no OS error (a bug keeps its traceback)."""
    for _ in range(5):  # an OS error wrapped by a library (Keras' saving) is still that OS error
        if isinstance(error, OSError) or (error.__cause__ or error.__context__) is None:
            break
        error = error.__cause__ or error.__context__
    if isinstance(error, OSError) and error.errno is not None:
        paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
        cause = error.strerror or os.strerror(error.errno)
        where = " -> ".join(paths) if paths else "a file"
        return f"{where}: {cause}" + _advice(error.errno)
    text = str(error)
    module = type(error).__module__ or ""
    if module.startswith("tensorflow") and any(t in text for t in OS_ERROR_TEXTS):
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        errno_of = {os.strerror(e): e for e in (28, 30, 36, 40, 13, 5)}
        code = next((errno_of[t] for t in errno_of if t in text), None)
        return first[:300] + (_advice(code) if code else "")
    return None


def _advice(code: int) -> str:
    import errno

    return {
        errno.ENOSPC: " (free some space and rerun: a run resumes from its last finished epoch)",
        errno.EDQUOT: " (free some space and rerun: a run resumes from its last finished epoch)",
        errno.EROFS: " (write to another folder)",
        errno.ENAMETOOLONG: " (choose a shorter name)",
    }.get(code, "")
