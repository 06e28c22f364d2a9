"""Errors of the serving API: a canonical status code (as TF Serving's) and its HTTP status.

Every handler failure becomes :class:`ServingError`; the REST layer answers ``{"error": message}`` with
the HTTP status TF Serving uses for the same code (``tensorflow_serving/util/net_http``'s mapping).
"""

from __future__ import annotations

# Canonical (absl / gRPC) status code -> HTTP status, exactly as TF Serving maps them.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A request that cannot be served, with its canonical code (``"NOT_FOUND"``, ...) and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        if code not in HTTP_STATUS:
            raise ValueError(f"Unknown status code {code!r}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def __repr__(self):
        return f"ServingError({self.code}, {self.message!r})"


def invalid_argument(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    return ServingError("NOT_FOUND", message)


def unimplemented(message: str) -> ServingError:
    return ServingError("UNIMPLEMENTED", message)


def unavailable(message: str) -> ServingError:
    return ServingError("UNAVAILABLE", message)


def from_tensorflow(error: Exception) -> ServingError:
    """The ServingError for a ``tf.errors.OpError`` raised while running a model.

    TF's error classes carry the same canonical codes (``error_code`` is the numeric enum), so an
    ``InvalidArgumentError`` from a bad image becomes a 400 as it would in TF Serving.
    """
    names = {
        1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
        6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
        10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
        15: "DATA_LOSS", 16: "UNAUTHENTICATED",
    }
    code = names.get(getattr(error, "error_code", 2), "UNKNOWN")
    message = getattr(error, "message", None) or str(error)
    # TF messages end with a multi-line graph trace ("\n\t [[{{node ...}}]]"); the first line says it all.
    return ServingError(code, message.strip().split("\n")[0])
