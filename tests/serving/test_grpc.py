"""The gRPC API end to end, called exactly as TF Serving's own clients call it.

``grpc.insecure_channel`` + ``prediction_service_pb2_grpc.PredictionServiceStub`` + ``predict_pb2.PredictRequest``
with ``tf.make_tensor_proto`` (TF Serving's ``mnist_client.py`` / ``resnet_client_grpc.py``), against
``kerascnn serve`` in a subprocess (the session's ``server`` fixture, shared with the REST tests); answers
are compared with the SavedModel called directly.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from .conftest import copy_version, png
from .test_app import wait_for

pytestmark = pytest.mark.slow  # the session's server process, shared with the REST tests


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def predict_request(images, model="lenet", signature="", version=None, label=None, key="images"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs[key].CopyFrom(tf.make_tensor_proto(images))
    return request


def test_predict_as_tf_servings_clients_do(stub, images, reference):
    response = stub.Predict(predict_request(images[:5]), 10.0)
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    np.testing.assert_allclose(probabilities, reference(2, images[:5]), rtol=1e-5, atol=1e-6)
    # mnist_client.py reads the typed field directly, as TF Serving writes answers.
    np.testing.assert_allclose(np.array(response.outputs["probabilities"].float_val).reshape(5, 10), probabilities)
    assert list(response.outputs["classes"].int64_val) == list(probabilities.argmax(axis=1))
    assert response.model_spec.name == "lenet" and response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"


@pytest.mark.parametrize("version, label, expected", [(1, None, 1), (None, "stable", 1), (None, "canary", 2)])
def test_predict_versions_and_labels(stub, images, reference, version, label, expected):
    response = stub.Predict(predict_request(images[:2], version=version, label=label), 10.0)
    assert response.model_spec.version.value == expected
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["probabilities"]), reference(expected, images[:2]), rtol=1e-5, atol=1e-6
    )


def test_predict_png_bytes_and_output_filter(stub, images, reference):
    request = predict_request(
        np.array([png(images[0]), png(images[1])], dtype=object), signature="serving_bytes", key="image_bytes"
    )
    request.output_filter.append("probabilities")
    response = stub.Predict(request, 10.0)
    assert list(response.outputs) == ["probabilities"]
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["probabilities"]), reference(2, images[:2]), rtol=1e-5, atol=1e-6
    )


def test_tensor_content_and_typed_values_give_the_same_answer(stub, images):
    typed = predict_request(images[:1])
    typed.inputs["images"].ClearField("tensor_content")
    typed.inputs["images"].int_val.extend(images[:1].reshape(-1).tolist())
    first, second = stub.Predict(typed, 10.0), stub.Predict(predict_request(images[:1]), 10.0)
    assert first.outputs["probabilities"].float_val == second.outputs["probabilities"].float_val


def test_concurrent_calls_each_get_their_own_answer(channel, images, reference):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    futures = [stub.Predict.future(predict_request(images[i : i + 1]), 30.0) for i in range(24)]
    got = np.concatenate([tf.make_ndarray(f.result().outputs["probabilities"]) for f in futures])
    np.testing.assert_allclose(got, reference(2, images[:24]), rtol=1e-5, atol=1e-6)


def test_model_metadata_is_the_saved_models_signature_defs(stub, exports):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "lenet"
    request.model_spec.version.value = 1
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, 10.0)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    loaded = tf.saved_model.load(str(exports[1]))
    assert set(signature_map.signature_def) >= set(loaded.signatures)
    images_info = signature_map.signature_def["serving_default"].inputs["images"]
    assert images_info.dtype == tf.uint8.as_datatype_enum
    assert [d.size for d in images_info.tensor_shape.dim] == [-1, 28, 28, 1]
    assert response.model_spec.version.value == 1


def test_model_status(channel):
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "lenet"
    response = models.GetModelStatus(request, 10.0)
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0),
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0),
    ]
    request.model_spec.version.value = 7
    with pytest.raises(grpc.RpcError) as caught:
        models.GetModelStatus(request, 10.0)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _bad_dtype(images):
    return predict_request(images[:1].astype(np.float32))


def _bad_shape(images):
    return predict_request(images[:1, :27])


def _extra_input(images):
    request = predict_request(images[:1])
    request.inputs["extra"].CopyFrom(tf.make_tensor_proto(images[:1]))
    return request


def _short_content(images):
    request = predict_request(images[:2])
    request.inputs["images"].tensor_content = request.inputs["images"].tensor_content[:-1]
    return request


def _huge_claim(images):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lenet"
    proto = request.inputs["images"]
    proto.dtype = tf.uint8.as_datatype_enum
    for size in (100000, 28, 28, 1):
        proto.tensor_shape.dim.add(size=size)  # 78 MB claimed by a message of a few bytes
    return request


def _unknown_output(images):
    request = predict_request(images[:1])
    request.output_filter.append("logits")
    return request


def _repeated_output(images):
    request = predict_request(images[:1])
    request.output_filter.extend(["classes", "classes"])
    return request


def _too_large(images):
    return predict_request(np.zeros((2, 28, 28, 1000), np.uint8))  # 1.5 MB > --max-request-bytes 1000000


def _broken_png(images):
    return predict_request(
        np.array([b"\x89PNG\r\n\x1a\n not really"], dtype=object), signature="serving_bytes", key="image_bytes"
    )


def _too_many_pixels(images):
    big = np.zeros((101, 100, 1), np.uint8)  # 10,100 pixels > --max-image-pixels 10000
    return predict_request(np.array([png(big)], dtype=object), signature="serving_bytes", key="image_bytes")


@pytest.mark.parametrize(
    "make, code, message",
    [
        (lambda im: predict_request(im[:1], model="nope"), "NOT_FOUND", "Servable not found for request: Latest(nope)"),
        (lambda im: predict_request(im[:1], version=99), "NOT_FOUND", "Specific(lenet, 99)"),
        (lambda im: predict_request(im[:1], label="nope"), "INVALID_ARGUMENT", "Unrecognized servable version label"),
        (
            lambda im: predict_request(im[:1], signature="nope"),
            "FAILED_PRECONDITION",
            'Serving signature key "nope" not found.',
        ),
        (_bad_dtype, "INVALID_ARGUMENT", "to be uint8 but float is provided"),
        (_bad_shape, "INVALID_ARGUMENT", "has shape [1,27,28,1]"),
        (_extra_input, "INVALID_ARGUMENT", "input size does not match signature: 2!=1"),
        (
            lambda im: predict_request(im[:1], key="pixels"),
            "INVALID_ARGUMENT",
            "input tensor alias not found in signature: pixels",
        ),
        (_short_content, "INVALID_ARGUMENT", "tensor parsing error: images"),
        (_huge_claim, "INVALID_ARGUMENT", "tensor parsing error: images"),
        (_unknown_output, "INVALID_ARGUMENT", "output tensor alias not found in signature: logits"),
        (_repeated_output, "INVALID_ARGUMENT", "duplicate output tensor alias: classes"),
        (_too_large, "RESOURCE_EXHAUSTED", "larger than max"),
        (_broken_png, "INVALID_ARGUMENT", ""),
        (_too_many_pixels, "INVALID_ARGUMENT", "is 100x101 = 10,100 pixels, over the limit of 10,000"),
    ],
)
def test_predict_errors_have_tf_servings_status_codes(stub, images, make, code, message):
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(make(images), 10.0)
    assert caught.value.code() == grpc.StatusCode[code], caught.value.details()
    assert message in caught.value.details()


def test_a_message_that_does_not_parse_is_internal(channel):
    predict = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    with pytest.raises(grpc.RpcError) as caught:
        predict(b"\xff" * 64, timeout=10.0)
    assert caught.value.code() == grpc.StatusCode.INTERNAL


def test_metadata_and_example_api_errors(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "lenet"
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetModelMetadata(request, 10.0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "lenet"
    classify.input.example_list.examples.add()
    with pytest.raises(grpc.RpcError) as caught:  # serving_default is a predict signature
        stub.Classify(classify, 10.0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expected classification signature method_name to be tensorflow/serving/classify" in caught.value.details()
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "lenet"
    regress.input.example_list.examples.add()
    with pytest.raises(grpc.RpcError) as caught:
        stub.Regress(regress, 10.0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    request.metadata_field.append("warmup")
    no_input = classification_pb2.ClassificationRequest()  # neither example_list nor example_list_with_context
    no_input.model_spec.name, no_input.model_spec.signature_name = "lenet", "classification"
    for call, message in [
        (lambda: stub.GetModelMetadata(request, 10.0), "Metadata field warmup is not supported"),
        (lambda: stub.Classify(no_input, 10.0), "Input is empty."),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in caught.value.details()


def classify_request(examples, context=None, signature="classification"):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "lenet"
    request.model_spec.signature_name = signature
    if context is None:
        request.input.example_list.examples.extend(examples)
    else:
        request.input.example_list_with_context.examples.extend(examples)
        request.input.example_list_with_context.context.CopyFrom(context)
    return request


def image_example(image=None, encoded=None) -> tf.train.Example:
    feature = {}
    if encoded is not None:
        feature["image/encoded"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))
    if image is not None:
        feature["image/pixels"] = tf.train.Feature(int64_list=tf.train.Int64List(value=image.reshape(-1).tolist()))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def expected_classes(probabilities):
    order = np.argsort(-probabilities, axis=1, kind="stable")
    return [[(str(c), p) for c, p in zip(o, np.take(row, o))] for o, row in zip(order, probabilities)]


def test_classify_with_tf_examples(stub, images, reference):
    examples = [image_example(encoded=png(images[0])), image_example(image=images[1])]
    response = stub.Classify(classify_request(examples), 10.0)
    assert response.model_spec.version.value == 2 and response.model_spec.signature_name == "classification"
    got = [[(c.label, c.score) for c in row.classes] for row in response.result.classifications]
    for got_row, want_row in zip(got, expected_classes(reference(2, images[:2])), strict=True):
        assert [label for label, _ in got_row] == [label for label, _ in want_row]
        np.testing.assert_allclose([s for _, s in got_row], [s for _, s in want_row], rtol=1e-5, atol=1e-6)


def test_classify_with_context_features(stub, images, reference):
    context = image_example(image=images[3])  # the examples' own features win over the context's
    response = stub.Classify(classify_request([image_example(), image_example(image=images[4])], context), 10.0)
    labels = [[c.label for c in row.classes] for row in response.result.classifications]
    assert labels == [[label for label, _ in row] for row in expected_classes(reference(2, images[3:5]))]


@pytest.mark.parametrize(
    "examples, message",
    [
        ([], "Input is empty."),
        ([image_example()], "Each tf.Example needs 'image/encoded'"),
        ([image_example(encoded=b"\xff\xd8\xff not a jpeg")], ""),
        ([image_example(encoded=png(np.zeros((101, 100, 1), np.uint8)))], "over the limit of 10,000"),
    ],
)
def test_classify_errors(stub, examples, message):
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(classify_request(examples), 10.0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()


def test_regress_where_a_signature_allows_it(server, stub):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "regressor"
    for x in (0.5, -2.0):
        request.input.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    response = stub.Regress(request, 10.0)
    assert [r.value for r in response.result.regressions] == [2.0, -3.0]
    status, body = server.request("POST", "/v1/models/regressor:regress", {"examples": [{"x": 0.5}, {"x": 3}]})
    assert status == 400 and "expected type: float" in body["error"]  # 3 is an int64 feature, as in TF Serving
    status, body = server.request("POST", "/v1/models/regressor:regress", {"examples": [{"x": 0.5}, {"x": 3.0}]})
    assert (status, body) == (200, {"results": [2.0, 7.0]})
    status, body = server.request("POST", "/v1/models/regressor:classify", {"examples": [{"x": 0.5}]})
    assert status == 400 and "Expected classification signature method_name" in body["error"]


def test_a_new_version_is_seen_over_grpc(server, channel, stub, exports, images, reference):
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "grpc_hot"

    def states():
        return {s.version: s.state for s in models.GetModelStatus(request, 10.0).model_version_status}

    assert stub.Predict(predict_request(images[:1], model="grpc_hot"), 10.0).model_spec.version.value == 1
    copy_version(exports[2], server.grpc_hot_base, 2)
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    wait_for(lambda: states().get(2) == available and states().get(1) == get_model_status_pb2.ModelVersionStatus.END)
    response = stub.Predict(predict_request(images[:3], model="grpc_hot"), 10.0)
    assert response.model_spec.version.value == 2
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["probabilities"]), reference(2, images[:3]), rtol=1e-5, atol=1e-6
    )


def test_reload_config_over_grpc(server, channel, exports):
    """ModelService.HandleReloadConfigRequest: the new model list is served when the call returns."""
    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2
    from tensorflow_serving.config import model_server_config_pb2

    models = model_service_pb2_grpc.ModelServiceStub(channel)
    request = model_management_pb2.ReloadConfigRequest()
    config = request.config.model_config_list.config.add()
    config.name, config.base_path, config.model_platform = "again", str(server.grpc_hot_base), "tensorflow"
    config.model_version_policy.all.SetInParent()
    lenet = request.config.model_config_list.config.add()
    lenet.name, lenet.base_path = "lenet", str(exports["base"])
    lenet.model_version_policy.all.SetInParent()
    assert isinstance(request.config, model_server_config_pb2.ModelServerConfig)
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "lenet"
    before = models.GetModelStatus(status_request, 10.0)
    response = models.HandleReloadConfigRequest(request, 60.0)
    assert response.status.error_code == 0
    try:
        status_request.model_spec.name = "again"
        states = {s.version: s.state for s in models.GetModelStatus(status_request, 10.0).model_version_status}
        assert states[1] == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        status_request.model_spec.name = "lenet"  # kept: same base path, its versions stay loaded
        assert models.GetModelStatus(status_request, 10.0) == before
        status_request.model_spec.name = "grpc_hot"  # dropped
        with pytest.raises(grpc.RpcError) as caught:
            models.GetModelStatus(status_request, 10.0)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

        bad = model_management_pb2.ReloadConfigRequest()
        bad.config.model_config_list.config.add(name="x")  # no base_path
        with pytest.raises(grpc.RpcError) as caught:
            models.HandleReloadConfigRequest(bad, 10.0)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "needs both name and base_path" in caught.value.details()
        custom = model_management_pb2.ReloadConfigRequest()
        custom.config.custom_model_config.type_url = "type.googleapis.com/my.Config"
        with pytest.raises(grpc.RpcError) as caught:
            models.HandleReloadConfigRequest(custom, 10.0)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "cannot reload with other config types" in caught.value.details()
    finally:  # the server is the session's: give the other tests their models back
        restore = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(server.config_path.read_text(), restore.config)
        for entry in restore.config.model_config_list.config:
            entry.base_path = str(server.config_path.parent / entry.base_path)
        assert models.HandleReloadConfigRequest(restore, 60.0).status.error_code == 0


def test_a_string_tensor_claiming_30_million_elements_is_refused_at_once_with_flat_memory(single_model_server, images):
    """A 52-byte DT_STRING TensorProto claiming shape [30,000,000] with one value, under the default 32 MB limit.

    Decoded as Tensor::FromProto reads it (the value repeated) it would take about 1 GB of pointers and
    TensorFlow strings; the claim is judged from the message alone, before anything is allocated.
    """
    import psutil

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.model_spec.signature_name = "serving_bytes"
    proto = request.inputs["image_bytes"]
    proto.dtype = tf.string.as_datatype_enum
    proto.tensor_shape.dim.add(size=30_000_000)
    proto.string_val.append(b"x")
    assert request.ByteSize() < 64
    process = psutil.Process(single_model_server.proc.pid)
    with grpc.insecure_channel(single_model_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        stub.GetModelMetadata(_metadata_request("digits"), 30.0)  # connected and warm before measuring
        before = process.memory_info().rss
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request, 30.0)
        grown_mb = (process.memory_info().rss - before) / 2**20
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "larger than the server's limit of 33554432 bytes" in caught.value.details()
        assert grown_mb < 20, f"server RSS grew {grown_mb:.0f} MB"
        # The rule it is judged by is TF's: fewer values than elements repeat the last one.
        request.inputs["image_bytes"].tensor_shape.dim[0].size = 3
        request.inputs["image_bytes"].string_val[:] = [png(images[0]), png(images[1])]
        answer = tf.make_ndarray(stub.Predict(request, 30.0).outputs["probabilities"])
        assert answer.shape == (3, 10)
        np.testing.assert_allclose(answer[2], answer[1], rtol=1e-6)


def _metadata_request(name: str):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = name
    request.metadata_field.append("signature_def")
    return request


def test_200_streams_through_a_version_swap_never_see_not_found(server, channel, stub, exports, images):
    """Version 2 appears and version 1's folder disappears within one poll: 200 calls kept in flight
    throughout are all answered, first by version 1, then by version 2 (TF Serving loads the new version
    before it unloads the old)."""
    import os
    import shutil
    import time

    base = server.swap_base
    request = predict_request(images[:1], model="swap")
    versions, failures = [], []

    def collect(call):
        try:
            versions.append(call.result().model_spec.version.value)
        except grpc.RpcError as e:
            failures.append((e.code(), e.details()))

    def stream_until(condition, timeout=60.0):
        deadline = time.monotonic() + timeout
        calls = [stub.Predict.future(request, 30.0) for _ in range(200)]
        while not condition():
            assert time.monotonic() < deadline, "the swap did not happen in time"
            for i, call in enumerate(calls):
                if call.done():
                    collect(call)
                    calls[i] = stub.Predict.future(request, 30.0)
            time.sleep(0.002)
        for call in calls:
            collect(call)

    stream_until(lambda: len(versions) >= 400)  # all 200 streams running on version 1
    shutil.copytree(exports[2], base / ".2.tmp")
    os.rename(base / "1", base / ".1.old")  # both changes between two polls
    os.rename(base / ".2.tmp", base / "2")
    served = len(versions)
    stream_until(lambda: len(versions) > served and versions[-1] == 2 and _status(channel, "swap").get(1) == "END")
    shutil.rmtree(base / ".1.old")
    assert not failures, failures[:3]
    assert versions[0] == 1 and versions[-1] == 2 and set(versions) == {1, 2}


def _status(channel, name: str) -> dict:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    answer = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, 10.0)
    return {s.version: get_model_status_pb2.ModelVersionStatus.State.Name(s.state) for s in answer.model_version_status}


def test_the_config_file_is_reread_while_serving(server, channel):
    """--model-config-file-poll-seconds: an added model is served, a broken file changes nothing, the
    original file gives the original models back."""
    import time

    original = server.config_path.read_text()

    def served(name: str) -> bool:
        try:
            return bool(_status(channel, name))
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND
            return False

    def wait_until(condition, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "the server did not follow its config file"
            time.sleep(0.1)

    try:
        server.config_path.write_text(
            original.rstrip().rstrip("}") + '  config { name: "added" base_path: "hot" }\n}\n'
        )
        wait_until(lambda: served("added"))
        assert served("lenet") and served("swap")
        server.config_path.write_text("model_config_list { config { name: ")  # half-written
        time.sleep(1.0)  # three polls
        assert served("added") and served("lenet")
        assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in server.stderr()
    finally:
        server.config_path.write_text(original)
    wait_until(lambda: not served("added"))
    assert served("lenet") and served("hot") and served("regressor")
