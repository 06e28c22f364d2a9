"""Canonical status codes -> HTTP, and TensorFlow errors -> status codes."""

from __future__ import annotations

import pytest

from kerascnn.serving.status import HTTP_STATUS, ServingError, from_tensorflow, tensorflow_message, unimplemented


@pytest.mark.parametrize(
    "code, http",
    [
        ("INVALID_ARGUMENT", 400),
        ("FAILED_PRECONDITION", 400),
        ("OUT_OF_RANGE", 400),
        ("NOT_FOUND", 404),
        ("ALREADY_EXISTS", 409),
        ("ABORTED", 409),
        ("PERMISSION_DENIED", 403),
        ("UNAUTHENTICATED", 401),
        ("RESOURCE_EXHAUSTED", 429),
        ("CANCELLED", 499),
        ("UNIMPLEMENTED", 501),
        ("UNAVAILABLE", 503),
        ("DEADLINE_EXCEEDED", 504),
        ("UNKNOWN", 500),
        ("INTERNAL", 500),
        ("DATA_LOSS", 500),
    ],
)
def test_tf_serving_http_mapping(code, http):
    assert ServingError(code, "m").http_status == http == HTTP_STATUS[code]


def test_every_canonical_code_has_an_http_status():
    from tensorflow.core.protobuf import error_codes_pb2

    codes = {name for name in error_codes_pb2.Code.keys() if not name.startswith("DO_NOT_USE")}
    assert codes == set(HTTP_STATUS)


def test_unknown_code_is_a_bug():
    with pytest.raises(ValueError):
        ServingError("TEAPOT", "m")
    assert repr(unimplemented("no regress here")) == "ServingError(UNIMPLEMENTED, 'no regress here')"


def test_tensorflow_message_keeps_the_reason():
    graph_error = (
        "Graph execution error:\n\nDetected at node DecodePng defined at (most recent call last):\n"
        "<stack traces unavailable>\nassertion failed: [image too large] [Condition x <= y did not hold]\n"
        "\t [[{{node DecodePng}}]]"
    )
    assert tensorflow_message(graph_error) == "image too large"
    assert tensorflow_message("{{function_node __inference_f_12}} Input is not a PNG\n") == "Input is not a PNG"
    assert tensorflow_message("Graph execution error:") == "Graph execution error:"  # nothing better: the first line
    assert tensorflow_message("  ") == "TensorFlow error"


def test_tensorflow_errors_keep_their_code_and_first_line():
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        tf.io.decode_png(tf.constant(b"not a png"))
    error = from_tensorflow(e.value)
    assert error.code == "INVALID_ARGUMENT" and error.http_status == 400
    assert "\n" not in error.message and error.message
    assert from_tensorflow(tf.errors.NotFoundError(None, None, "gone")).http_status == 404
    assert from_tensorflow(tf.errors.UnauthenticatedError(None, None, "who")).code == "UNAUTHENTICATED"
    for number in (0, 20, 99):  # OK, the enum's reserved value and a number it lacks: not a known failure
        assert from_tensorflow(tf.errors.OpError(None, None, "odd", number)).code == "UNKNOWN"
    assert from_tensorflow(ValueError("not from TensorFlow")).code == "UNKNOWN"
