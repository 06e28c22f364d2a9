"""kerascnn: the classic convolutional networks from textbook to deployment (Keras 3 / TensorFlow).

    import kerascnn
    model = kerascnn.build("lenet")                # a keras.Model that outputs logits
    run = kerascnn.fit("lenet", dataset="digits")  # trains, writes a run directory
    kerascnn.evaluate(run.path)

Heavy imports are lazy so that ``import kerascnn`` and ``kerascnn --help`` stay fast.
"""

from kerascnn.versions import __version__  # noqa: F401

_LAZY = {
    "build": "kerascnn.models",
    "list_models": "kerascnn.models",
    "get_model_info": "kerascnn.models",
    "fit": "kerascnn.training",
    "evaluate": "kerascnn.training",
    "TrainConfig": "kerascnn.training",
    "DataSpec": "kerascnn.data",
    "KerasCNNError": "kerascnn.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")
