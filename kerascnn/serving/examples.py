"""TF Serving's tf.Example APIs (Classify, Regress): request examples in, classes/scores or values out.

A classification signature (method ``tensorflow/serving/classify``) takes one input, ``inputs``: a
string vector of serialized ``tf.Example`` protos, and returns ``classes`` (string ``[N, K]``) and/or
``scores`` (float ``[N, K]``). A regression signature (``tensorflow/serving/regress``) takes the same
input and returns ``outputs`` (float ``[N]`` or ``[N, 1]``). The checks and their messages are TF
Serving's (``servables/tensorflow/classifier.cc``, ``regressor.cc``), so a client sees the same errors.

Examples with a context (``ExampleListWithContext`` over gRPC, ``"context"`` in REST) are sent to the
model as the context's serialized bytes followed by the example's: protobuf merges concatenated
messages, so the example's own features win, exactly as TF Serving does it.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from kerascnn.serving.json_codec import short_text
from kerascnn.serving.servable import CLASSIFY_METHOD
from kerascnn.serving.status import ServingError, invalid_argument
from kerascnn.serving.tensor_info import DEFAULT_SIGNATURE

CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_OUTPUTS = "outputs"


def example_signature(servable, signature_name: str, method: str, check_method_name: bool = True):
    """The signature a Classify (``method`` classify) or Regress request names, checked as TF Serving checks it.

    ``check_method_name``: refuse a signature whose SignatureDef's method name is not ``method`` (TF Serving's
    ``--enable_signature_method_name_check``; off by default there, so a TF2 signature, whose method name is
    always predict, serves Classify and Regress when its inputs and outputs fit).
    """
    name = signature_name or DEFAULT_SIGNATURE
    signature = servable.signatures.get(name)
    if signature is None:
        raise invalid_argument(f"No signature was found with the name: {name}")
    kind = "classification" if method == CLASSIFY_METHOD else "regression"
    if check_method_name and signature.method_name != method:
        raise invalid_argument(f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if CLASSIFY_INPUTS not in signature.inputs:
        raise invalid_argument(f"No {kind} inputs found in SignatureDef: {name}")
    if method == CLASSIFY_METHOD:
        if len(signature.outputs) not in (1, 2):
            raise invalid_argument(f"Expected one or two output Tensors, found {len(signature.outputs)}")
        if CLASSIFY_CLASSES not in signature.outputs and CLASSIFY_SCORES not in signature.outputs:
            raise invalid_argument(
                'Expected classification signature outputs to contain at least one of "classes" or "scores". '
                f"Signature was: {name}"
            )
    else:
        if len(signature.outputs) != 1:
            raise invalid_argument("Expected one output Tensor.")
        if REGRESS_OUTPUTS not in signature.outputs:
            raise invalid_argument(f"No regression outputs found in SignatureDef: {name}")
    return signature


def examples_tensor(serialized: list) -> dict:
    """``{"inputs": string [N]}`` for the model, from serialized examples."""
    if not serialized:
        raise invalid_argument("Input is empty.")
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return {CLASSIFY_INPUTS: array}


def classifications(outputs: dict, num_examples: int) -> list:
    """Per example, a list of ``(label or None, score or None)``: TF Serving's PostProcessClassificationResult."""
    classes, scores = outputs.get(CLASSIFY_CLASSES), outputs.get(CLASSIFY_SCORES)
    for name, tensor, dtype_ok, dtype_name in (
        ("classes", classes, lambda a: a.dtype.kind in "OSU", "DT_STRING"),
        ("scores", scores, lambda a: a.dtype == np.float32, "DT_FLOAT"),
    ):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise invalid_argument(f"Expected Tensor shape: [batch_size num_classes] but got {list(tensor.shape)}")
        if not dtype_ok(tensor):
            raise invalid_argument(f"Expected {name} Tensor of {dtype_name}. Got: {tensor.dtype}")
        if tensor.shape[0] != num_examples:
            raise invalid_argument(f"Expected {name} output batch size of {num_examples}. Got: {tensor.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    k = (classes if classes is not None else scores).shape[1]
    labels = classes.tolist() if classes is not None else None
    values = scores.tolist() if scores is not None else None
    return [
        [(_text(labels[i][j]) if labels else None, values[i][j] if values else None) for j in range(k)]
        for i in range(num_examples)
    ]


def regressions(outputs: dict, num_examples: int) -> list:
    """Per example, its float value: TF Serving's PostProcessRegressionResult."""
    values = np.asarray(outputs[REGRESS_OUTPUTS])
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise invalid_argument(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got {list(values.shape)}"
        )
    if values.dtype != np.float32:
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {values.dtype}")
    if values.shape[0] != num_examples:
        raise invalid_argument(
            f"Input batch size did not match output batch size: {num_examples} vs. {values.shape[0]}"
        )
    return values.reshape(-1).tolist()


def _text(value) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


# ------------------------------------------------------------------------------------------ REST (JSON)


def serialized_examples_from_json(doc: dict) -> list:
    """Serialized tf.Examples of a REST Classify/Regress request ``{"examples": [...], "context": {...}}``.

    Each example is ``{feature name: value or list}``: whole numbers become an ``int64_list``, other
    numbers a ``float_list``, strings and ``{"b64": ...}`` a ``bytes_list`` (TF Serving's JSON rules).
    """
    if "examples" not in doc:
        raise invalid_argument("Missing 'examples' key")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid_argument("'examples' must be a list of objects")
    if not examples:
        raise invalid_argument("Input is empty.")
    context = b""
    if "context" in doc:
        if not isinstance(doc["context"], dict):
            raise invalid_argument(f"JSON Value: {short_text(doc['context'])} Is not object")
        context = _example_from_json(doc["context"], "context").SerializeToString()
    return [context + _example_from_json(e, f"example {i}").SerializeToString() for i, e in enumerate(examples)]


def _example_from_json(obj, what: str):
    from tensorflow.core.example import example_pb2

    if not isinstance(obj, dict):
        raise invalid_argument(f"{what}: JSON Value: {short_text(obj)} Is not object")
    example = example_pb2.Example()
    for name, value in obj.items():
        values = value if isinstance(value, list) else [value]
        feature = example.features.feature[name]
        if not values:
            feature.float_list.SetInParent()  # an empty list, as TF Serving writes it
            continue
        if all(isinstance(v, bool) for v in values):
            raise invalid_argument(f"{what}: feature '{name}': booleans are not a tf.Example type")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            if any(not -(2**63) <= v < 2**63 for v in values):
                raise invalid_argument(f"{what}: feature '{name}': a value is out of range for int64")
            feature.int64_list.value.extend(values)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            feature.float_list.value.extend(float(v) for v in values)
        elif all(isinstance(v, (str, dict)) for v in values):
            feature.bytes_list.value.extend(_bytes_value(v, what, name) for v in values)
        else:
            raise invalid_argument(
                f"{what}: feature '{name}': values must all be numbers or all be strings/b64 objects, "
                f"got {short_text(value)}"
            )
    return example


def _bytes_value(value, what: str, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if len(value) == 1 and isinstance(value.get("b64"), str):
        text = value["b64"].strip()
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise invalid_argument(f"{what}: feature '{name}': Unable to base64 decode") from None
    raise invalid_argument(
        f"{what}: feature '{name}': JSON Value: {short_text(value)} not formatted correctly for base64 data"
    )


def classify_json(results: list) -> dict:
    """REST answer ``{"results": [[[label, score], ...], ...]}``, as TF Serving writes it (label "", score 0
    when missing)."""
    return {"results": [[[label or "", 0.0 if score is None else score] for label, score in row] for row in results]}


def regress_json(values: list) -> dict:
    """REST answer ``{"results": [value, ...]}``."""
    return {"results": values}


__all__ = ["ServingError", "classifications", "regressions", "example_signature", "examples_tensor"]
