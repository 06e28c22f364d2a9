"""Imported once by the trial server of ``kerascnn.tuning.trial_process`` before it forks any trial.

Importing runs no TensorFlow op, so forking afterwards is safe; TensorFlow's start-up lines on file
descriptor 2 are captured like the CLI's.
"""

from kerascnn.quiet import captured_stderr

with captured_stderr():
    import keras  # noqa: F401
    import keras_tuner  # noqa: F401
    import tensorflow  # noqa: F401

    import kerascnn.data  # noqa: F401
    import kerascnn.models  # noqa: F401
    import kerascnn.training  # noqa: F401
    import kerascnn.training.assembly  # noqa: F401
    import kerascnn.training.compile  # noqa: F401
    import kerascnn.tuning.hypermodels  # noqa: F401
    import kerascnn.tuning.training_bridge  # noqa: F401
    import kerascnn.tuning.trial_process  # noqa: F401
