"""Errors of the serving API: a canonical status code (as TF Serving's) and its HTTP status.

Every handler failure becomes :class:`ServingError`; the REST layer answers ``{"error": message}`` with
the HTTP status TF Serving uses for the same code (``tensorflow_serving/util/net_http``'s mapping).
"""

from __future__ import annotations

import re

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
    from tensorflow.core.protobuf import error_codes_pb2  # TF is loaded already: ``error`` is one of its errors

    try:
        code = error_codes_pb2.Code.Name(getattr(error, "error_code", error_codes_pb2.UNKNOWN))
    except ValueError:  # a number the enum does not have
        code = "UNKNOWN"
    if code == "OK" or code not in HTTP_STATUS:  # OK and the enum's reserved value are no failure
        code = "UNKNOWN"
    message = getattr(error, "message", None) or str(error)
    return ServingError(code, tensorflow_message(message))


def tensorflow_message(message: str) -> str:
    """The line of a TF error that says what went wrong.

    Graph errors read "Graph execution error:", "Detected at node ...", "<stack traces unavailable>",
    then the reason, then "\t [[{{node ...}}]]"; eager ones may start with "{{function_node ...}}".
    """
    lines = [line.strip() for line in message.strip().splitlines()]
    skip = ("Graph execution error", "Detected at node", "<stack traces", "[[{{", "File ")
    for line in lines:
        if line and not line.startswith(skip):
            line = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", line).replace("\\'", "'")
            # tf.debugging asserts: "assertion failed: [the message] [Condition x == y ...] [x (...) = ] ..."
            assertion = re.match(r"assertion failed: \[(.*?)\] \[Condition", line)
            return assertion.group(1) if assertion else line
    return lines[0] if lines else "TensorFlow error"
