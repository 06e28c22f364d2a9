"""TF Serving's JSON <-> tensor rules, in-process (no server, no model)."""

from __future__ import annotations

import base64
import json
import random

import numpy as np
import pytest

from kerascnn.serving import json_codec as T
from kerascnn.serving import json_fast_path
from kerascnn.serving.status import ServingError

IMAGES = {"images": T.TensorInfo("DT_UINT8", (None, 2, 2, 1))}
TWO_INPUTS = {"a": T.TensorInfo("DT_FLOAT", (None, 2)), "b": T.TensorInfo("DT_INT64", (None,))}
BYTES = {"image_bytes": T.TensorInfo("DT_STRING", (None,))}


def error(fn, *args) -> ServingError:
    with pytest.raises(ServingError) as e:
        fn(*args)
    return e.value


def test_row_and_columnar_single_input():
    image = [[[1], [2]], [[3], [255]]]
    fmt, arrays = T.decode_inputs({"instances": [image, image]}, IMAGES)
    assert fmt == T.ROW and arrays["images"].dtype == np.uint8 and arrays["images"].shape == (2, 2, 2, 1)
    assert arrays["images"][0, 1, 1, 0] == 255
    for inputs in ([image], {"images": [image]}):
        fmt, arrays = T.decode_inputs({"inputs": inputs}, IMAGES)
        assert fmt == T.COLUMNAR and arrays["images"].shape == (1, 2, 2, 1)


def test_named_instances_with_several_inputs():
    doc = {"instances": [{"a": [1, 2.5], "b": 3}, {"a": [float("nan"), 0], "b": -4}]}
    fmt, arrays = T.decode_inputs(doc, TWO_INPUTS)
    assert fmt == T.ROW and arrays["a"].dtype == np.float32
    # NaN stays NaN in its own place (assert_array_equal counts NaNs in the same positions as equal)
    np.testing.assert_array_equal(arrays["a"], np.array([[1, 2.5], [np.nan, 0]], np.float32))
    assert arrays["b"].tolist() == [3, -4] and arrays["b"].dtype == np.int64
    assert "keys must be equal to: a,b" in error(T.decode_inputs, {"instances": [{"a": [1, 2]}]}, TWO_INPUTS).message
    assert "expecting list of objects" in error(T.decode_inputs, {"instances": [[1, 2]]}, TWO_INPUTS).message
    assert "Missing named input: b" in error(T.decode_inputs, {"inputs": {"a": [[1, 2]]}}, TWO_INPUTS).message


def test_booleans_are_not_numbers():
    info = {"x": T.TensorInfo("DT_FLOAT", (None, 2))}
    for value in ([[0.5, True]], [[1, 2], [3, False]], [[True, False]]):
        assert "not of expected type: DT_FLOAT" in error(T.decode_inputs, {"inputs": value}, info).message
    assert T.decode_inputs({"inputs": [[True, False]]}, {"x": T.TensorInfo("DT_BOOL", (None, 2))})[1]["x"].dtype == bool


def test_b64_and_text_strings():
    payload = bytes(range(256))
    for encoded in (base64.b64encode(payload).decode(), base64.urlsafe_b64encode(payload).decode().rstrip("=")):
        _, arrays = T.decode_inputs({"instances": [{"b64": encoded}, "plain"]}, BYTES)
        assert arrays["image_bytes"].tolist() == [payload, b"plain"]
    _, arrays = T.decode_inputs({"instances": [{"image_bytes": {"b64": "AAE="}}]}, BYTES)
    assert arrays["image_bytes"].tolist() == [b"\x00\x01"]
    assert "base64" in error(T.decode_inputs, {"instances": [{"b64": "%%"}]}, BYTES).message
    assert "DT_STRING" in error(T.decode_inputs, {"instances": [1]}, BYTES).message
    assert (
        "not a tensor"
        in error(T.decode_inputs, {"inputs": [["a"], ["b", "c"]]}, {"s": T.TensorInfo("DT_STRING", None)}).message
    )


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"instances": [1], "inputs": [1]}, "only one of 'inputs' or 'instances'"),
        ({}, "Missing 'inputs' or 'instances' key"),
        ({"instances": {}}, "to be an list/array"),
        ({"instances": []}, "No values in 'instances' array"),
        ({"instances": [[[[256]] * 2] * 2]}, "out of range for DT_UINT8"),
        ({"instances": [[[[-1]] * 2] * 2]}, "out of range for DT_UINT8"),
        ({"instances": [[[[1.5]] * 2] * 2]}, "JSON value 1.5 is not of expected type: DT_UINT8"),
        ({"instances": [[[[float("nan")]] * 2] * 2]}, "JSON value NaN is not of expected type: DT_UINT8"),
        ({"instances": [[[[True]] * 2] * 2]}, "not of expected type: DT_UINT8"),
        ({"instances": [[[[None]] * 2] * 2]}, "not of expected type: DT_UINT8"),
        ({"instances": [[[[2**70]] * 2] * 2]}, "not of expected type: DT_UINT8"),
        ({"instances": [[[1, 2], [3, 4]]]}, "has shape [1,2,2] but the signature expects [-1,2,2,1]"),
        ({"instances": [[[[1]], [[2]]], [[[3]]]]}, "not a tensor"),
        ({"instances": [[[]]]}, "has shape [1,1,0]"),
    ],
)
def test_invalid_requests(doc, message):
    e = error(T.decode_inputs, doc, IMAGES)
    assert e.code == "INVALID_ARGUMENT" and e.http_status == 400
    assert message in e.message


def test_float_overflow_and_unknown_dims():
    info = T.TensorInfo("DT_FLOAT", (None, None))
    assert T.to_array([[1, 2, 3]], info).shape == (1, 3)
    assert "loss of precision" in error(T.to_array, [[1e300]], info).message
    assert T.to_array(5, T.TensorInfo("DT_FLOAT", None)).shape == ()


def test_parse_json_accepts_nan_and_rejects_garbage():
    assert np.isnan(T.parse_json(b'{"x": NaN}')["x"])
    for body, message in [
        (b"", "empty"),
        (b"{", "JSON Parse error"),
        (b"[1]", "Is not object"),
        (b"[" * 100000, "JSON Parse error"),
        (b"\xff\xfe", "JSON Parse error"),
    ]:
        assert message in error(T.parse_json, body).message
    assert T.signature_name({}) == "serving_default" and T.signature_name({"signature_name": "x"}) == "x"
    assert "must be a string" in error(T.signature_name, {"signature_name": 1}).message


def test_encode_outputs_follows_tf_servings_single_and_multiple_output_rules():
    probs = np.array([[0.25, 0.75], [1.0, 0.0]], np.float32)
    classes = np.array([1, 0], np.int64)
    assert T.encode_outputs({"p": probs}, T.ROW) == {"predictions": [[0.25, 0.75], [1.0, 0.0]]}
    assert T.encode_outputs({"p": probs}, T.COLUMNAR) == {"outputs": [[0.25, 0.75], [1.0, 0.0]]}
    assert T.encode_outputs({"p": probs, "c": classes}, T.ROW) == {
        "predictions": [{"c": 1, "p": [0.25, 0.75]}, {"c": 0, "p": [1.0, 0.0]}]
    }
    assert T.encode_outputs({"p": probs, "c": classes}, T.COLUMNAR) == {
        "outputs": {"c": [1, 0], "p": [[0.25, 0.75], [1.0, 0.0]]}
    }
    text = np.array([b"seven", b"\xff"], dtype=object)
    assert T.encode_outputs({"label": text}, T.ROW) == {"predictions": ["seven", "\ufffd"]}
    assert T.encode_outputs({"png_bytes": text}, T.ROW) == {
        "predictions": [{"b64": base64.b64encode(b"seven").decode()}, {"b64": "/w=="}]
    }
    assert "inconsistent batch size" in error(T.encode_outputs, {"a": probs, "b": classes[:1]}, T.ROW).message
    assert "no shape information" in error(T.encode_outputs, {"a": np.float32(1)}, T.ROW).message
    assert T.dumps({"x": [float("nan"), float("inf")]}) == b'{"x":[NaN,Infinity]}'


def test_tensor_info_shape_text():
    assert T.TensorInfo("DT_UINT8", (None, 28, 28, 1)).shape_text() == "[-1,28,28,1]"
    assert T.TensorInfo("DT_UINT8", None).shape_text() == "[?]"
    assert error(lambda: T.TensorInfo("DT_BFLOAT16", (None,)).numpy_dtype).code == "UNIMPLEMENTED"


# --------------------------------------------------------------------- the NumPy fast path == general path

MNIST = {"images": T.TensorInfo("DT_UINT8", (None, 28, 28, 1))}


def general(body: bytes, inputs):
    try:
        return T.decode_inputs(T.parse_json(body), inputs)
    except ServingError as e:
        return e.message


def fast(body: bytes, inputs):
    match = json_fast_path.match_simple_request(body)
    if match is None:
        return None
    try:
        return json_fast_path.decode_simple_inputs(match[1], match[2], inputs)
    except ServingError as e:
        return e.message


def same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return (
        a[0] == b[0]
        and a[1].keys() == b[1].keys()
        and all(a[1][k].dtype == b[1][k].dtype and np.array_equal(a[1][k], b[1][k]) for k in a[1])
    )


def test_fast_path_takes_plain_requests():
    image = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1)).tolist()
    for doc in (
        {"instances": image},
        {"inputs": image},
        {"signature_name": "x", "instances": image},
        {"instances": image, "signature_name": "x"},
    ):
        body = json.dumps(doc).encode()
        got = fast(body, MNIST)
        assert got is not None and same(got, general(body, MNIST))
    named = json.dumps({"instances": image, "signature_name": "x"}).encode()
    assert json_fast_path.match_simple_request(named)[0] == "x"
    compact = json.dumps({"instances": image}, separators=(",", ":")).encode()
    assert same(fast(compact, MNIST), general(compact, MNIST))


@pytest.mark.parametrize(
    "text",
    [
        "[[[[01]]]]",
        "[[[[-0]]]]",
        "[[[[- 1]]]]",
        "[[[[1 2]]]]",
        "[[[[1-2]]]]",
        "[[[[99999999999999999999]]]]",
        "[[[[1]],[[2]]]]",
        "[[[1]]]",
        "[[[[1]]],]",
        "[[[[1],]]]",
        "[]",
        "[[]]",
        "[[[[1.0]]]]",
        "[[[[1e2]]]]",
        "[[[[--1]]]]",
        "[[[[1]]]",
        "[[[[256]]]]",
        "[[[[-5]]]]",
    ],
)
def test_fast_path_never_disagrees_with_the_general_path(text):
    info = {"images": T.TensorInfo("DT_UINT8", (None, 1, 1, 1))}
    body = b'{"instances": ' + text.encode() + b"}"
    got = fast(body, info)
    if got is not None:
        assert same(got, general(body, info)), (got, general(body, info))


def test_fast_path_agrees_on_random_mutations():
    rng = random.Random(1)
    info = {"images": T.TensorInfo("DT_INT8", (None, 2, 3))}
    good = json.dumps({"inputs": [[[1, -2, 3], [4, 5, -128]]]})
    taken = 0
    for _ in range(3000):
        raw = bytearray(good.encode())
        for _ in range(rng.randrange(1, 3)):
            raw[rng.randrange(len(raw))] = rng.choice(b"0123456789-,[] ")
        got = fast(bytes(raw), info)
        if got is not None:
            taken += 1
            assert same(got, general(bytes(raw), info)), bytes(raw)
    assert taken > 100  # the comparison did run on many bodies
