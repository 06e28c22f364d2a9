"""Write-then-rename helpers: nothing a user has is left half-written or overwritten by accident."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_directory(final_path: str | os.PathLike, *, overwrite: bool = False):
    """Yield a temporary sibling directory that is renamed to ``final_path`` only on success.

    The temporary directory sits beside ``final_path`` so that the rename stays on one filesystem and is
    atomic: a server polling the parent never sees a partial directory. On any exception the temporary
    directory is removed and ``final_path`` is untouched.
    """
    final_path = Path(final_path)
    if final_path.exists() and not overwrite:
        raise FileExistsError(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_path.name}.tmp-", dir=final_path.parent))
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
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


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: str | os.PathLike, obj, *, durable: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", durable=durable)
