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


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up lines hidden (shown only if the import fails)."""
    # TF 2.21 prints absl/oneDNN lines from C++ at import, before TF_CPP_MIN_LOG_LEVEL is read.
    # The `tensorflow` wheel also logs "failed call to cuInit" at ERROR level on a machine without a GPU
    # when it first looks for devices: look once here, while stderr is captured. Listing physical devices
    # does not start TensorFlow's runtime, so thread settings made later (core split) still apply.
    with captured_stderr():
        import tensorflow

        tensorflow.config.list_physical_devices()
