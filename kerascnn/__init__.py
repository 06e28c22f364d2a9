"""kerascnn: the classic convolutional networks from textbook to deployment (Keras 3 / TensorFlow).

    import kerascnn
    model = kerascnn.build("lenet")                # a keras.Model that outputs logits
    run = kerascnn.fit("lenet", dataset="digits")  # trains, writes a run directory
    kerascnn.evaluate(run.path)
    kerascnn.predict(run.path, "seven.png").labels  # ['7']: files, folders, arrays of any size

``dir(kerascnn)`` lists the public names. Heavy imports are lazy: ``import kerascnn`` loads no TensorFlow,
so that it and ``kerascnn --help`` stay fast; a name's module is imported when the name is first used.
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
    "load_dataset": "kerascnn.data",
    "predict": "kerascnn.inference",
    "Predictions": "kerascnn.inference",
    "load_predictor": "kerascnn.inference",
    "tune": "kerascnn.tuning",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __dir__():
    # (kerascnn.export is the export package: ``from kerascnn.export import export``.)
    return sorted(set(__all__) | {"versions"})


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")
