"""Give the memory of a large request back to the system once it is answered.

Decoding a request of tens of megabytes (JSON lists, NumPy copies, TensorFlow's tensors) leaves that much
freed memory inside glibc's allocator, in the arenas of the threads that touched it; glibc keeps it for
reuse, so a server that once answered a maximum-size request stays that large. ``malloc_trim(0)`` returns
the free pages of every arena. It costs a few milliseconds, so it runs only after requests of at least
:data:`TRIM_AFTER_BYTES`, in a thread, and never twice at once. Where glibc is absent it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger("kerascnn.serve")

TRIM_AFTER_BYTES = 4 * 1024 * 1024


def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()
_busy = threading.Lock()


def release_memory() -> None:
    """Return the allocator's free memory to the system now (no-op without glibc or when already running)."""
    if _TRIM is None or not _busy.acquire(blocking=False):
        return
    try:
        _TRIM(0)
    finally:
        _busy.release()


def after_request(request_bytes: int) -> None:
    """Call when a request of ``request_bytes`` was answered: trims in a thread if it was a large one."""
    if request_bytes >= TRIM_AFTER_BYTES and _TRIM is not None:
        try:
            asyncio.get_running_loop().run_in_executor(None, release_memory)
        except RuntimeError:  # no event loop: trim here
            release_memory()
