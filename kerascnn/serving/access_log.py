"""One line per request, cheaply:
``2026-11-23 16:02:43 127.0.0.1 "POST /v1/models/lenet:predict HTTP/1.1" 200 215 0.001234``
(time, client, request line, status, body bytes, seconds).

aiohttp's default access logger formats through ``logging`` and flushes every line, which costs as
much as decoding a request; this one formats one f-string, reuses the timestamp within a second, and
writes through a buffer that the server flushes every half second and at shutdown.
"""

from __future__ import annotations

import io
import sys
import time

from aiohttp.abc import AbstractAccessLogger


class AccessLogWriter:
    """A buffered text sink: stderr (``"-"``) or a file opened for appending."""

    def __init__(self, target: str):
        self._owned = True
        if target != "-":
            self._stream = open(target, "a", buffering=1 << 16, encoding="utf-8")
        else:
            try:
                self._stream = open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False, encoding="utf-8")
            except (AttributeError, OSError, ValueError):  # a notebook's stderr has no file descriptor
                self._stream, self._owned = sys.stderr, False
        self._second = -1
        self._stamp = ""

    def write(self, remote, request_line: str, status: int, size: int, seconds: float) -> None:
        now = int(time.time())
        if now != self._second:
            self._second, self._stamp = now, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        self._stream.write(f'{self._stamp} {remote} "{request_line}" {status} {size} {seconds:.6f}\n')

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError, io.UnsupportedOperation):  # a closed or vanished stderr must not stop serving
            pass

    def close(self) -> None:
        self.flush()
        if self._owned:
            self._stream.close()


def access_logger_class(writer: AccessLogWriter):
    """An aiohttp access-logger class that writes to ``writer`` (aiohttp instantiates it itself)."""

    class AccessLogger(AbstractAccessLogger):
        def log(self, request, response, time: float) -> None:
            version = request.version
            writer.write(
                request.remote,
                f"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}",
                response.status,
                response.content_length or 0,
                time,
            )

    return AccessLogger
