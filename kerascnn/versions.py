"""kerascnn's version, and the versions a run or an export was made with (config.json, export markers)."""

from __future__ import annotations

__version__ = "0.1.0"


def library_versions() -> dict:
    """{library: version} of kerascnn, Python, TensorFlow, Keras, NumPy, and TFDS and scikit-learn if present."""
    import platform

    import keras
    import numpy as np
    import tensorflow as tf

    versions = {
        "kerascnn": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    for name in ("tensorflow_datasets", "sklearn"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return versions
