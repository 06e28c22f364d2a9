"""User-facing errors.

Anything a user can cause (an unknown model, malformed data, a corrupt file, a bad request) raises a
subclass of :class:`KerasCNNError` with a one-line message. The CLI prints that line and exits non-zero;
anything else is a bug and keeps its traceback.
"""


class KerasCNNError(Exception):
    """An error caused by the user's input, with a message that says what to do about it."""


class UnknownModelError(KerasCNNError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputTooSmallError(KerasCNNError, ValueError):
    """An input shape for which some layer's output would be empty."""


class HyperparameterError(KerasCNNError, ValueError):
    """A builder hyperparameter with a value the architecture cannot take."""


class DataError(KerasCNNError, ValueError):
    """A dataset that cannot be read or does not fit the model."""


class ArtifactError(KerasCNNError, ValueError):
    """A run directory, checkpoint or export that is missing, corrupt, or would be overwritten."""


class WeightsError(KerasCNNError, ValueError):
    """Weights that cannot be found, downloaded, read, or do not fit the model."""
