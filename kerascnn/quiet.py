"""Silencing C++ libraries that write to file descriptor 2 behind Python's back."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def captured_stderr():
    """Capture file descriptor 2 for the block; show what was captured only if the block fails.

    TensorFlow prints absl/oneDNN lines at import and LiteRT prints "Created TensorFlow Lite XNNPACK
    delegate" from C++, before any Python log level applies. They tell a user nothing unless
    something went wrong.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
