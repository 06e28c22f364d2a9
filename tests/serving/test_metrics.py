"""``GET /monitoring/prometheus/metrics`` of a running ``kerascnn serve``: TF Serving's names, and counts that add up.

Real REST and gRPC requests against the session's servers (conftest.py): ``server`` batches (one batch
thread, 2 ms timeout), ``single_model_server`` does not, so both of ``run_request``'s paths are read back.
"""

from __future__ import annotations

import base64
import urllib.request

import grpc
import pytest
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc, regression_pb2

from .test_app import instances

pytestmark = pytest.mark.slow  # the session's server processes

RUNTIME = ":tensorflow:serving:runtime_latency"


def scrape(server) -> dict:
    """``{(sample name, sorted label items): value}`` of the server's metrics page."""
    with urllib.request.urlopen(server.url + "/monitoring/prometheus/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def runtime(samples: dict, model: str, api: str, field: str) -> float:
    """``count`` or ``sum`` of runtime_latency for (model, API), with TF Serving's label for its runtime."""
    return samples.get((f"{RUNTIME}_{field}", (("API", api), ("model_name", model), ("runtime", "TF1"))), 0.0)


def added(before: dict, after: dict, model: str, api: str) -> tuple:
    """(observations, microseconds) added to runtime_latency for (model, API) between two scrapes."""
    return tuple(runtime(after, model, api, f) - runtime(before, model, api, f) for f in ("count", "sum"))


def predict_request(model: str, images) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
    return request


def test_prometheus_metrics_have_tf_servings_names(server, images):
    server.request("POST", "/v1/models/lenet:predict", instances(images[:1]))
    server.request("POST", "/v1/models/nope:predict", instances(images[:1]))
    samples = scrape(server)
    assert samples[(":tensorflow:serving:request_count", (("model_name", "lenet"), ("status", "OK")))] >= 1
    assert samples[(":tensorflow:serving:request_count", (("model_name", "<unknown>"), ("status", "NOT_FOUND")))] >= 1
    assert not any(dict(labels).get("model_name") == "nope" for _, labels in samples)
    count = (
        ":tensorflow:serving:request_latency_count",
        (("API", "Predict"), ("entrypoint", "REST"), ("model_name", "lenet")),
    )
    assert samples[count] >= 1
    assert any(name == ":tensorflow:serving:batching_session:processed_batch_size_bucket" for name, _ in samples)


def test_runtime_latency_counts_each_answered_request_through_the_batcher(server, images):
    before = scrape(server)
    # REST: two predicts, one classify, one regress; a predict that fails in the model is not counted
    assert server.request("POST", "/v1/models/lenet:predict", instances(images[:1]))[0] == 200
    assert server.request("POST", "/v1/models/lenet/versions/1:predict", instances(images[:3]))[0] == 200
    bad = {"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(b"not an image").decode()}]}
    assert server.request("POST", "/v1/models/lenet:predict", bad)[0] == 400
    assert (
        server.request(
            "POST",
            "/v1/models/lenet:classify",
            {"signature_name": "classification", "examples": [{"image/pixels": images[0].reshape(-1).tolist()}]},
        )[0]
        == 200
    )
    assert server.request("POST", "/v1/models/regressor:regress", {"examples": [{"x": 0.5}]})[0] == 200
    # gRPC: six predicts at once (they share the batch queue), one classify, one regress
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name, classify.model_spec.signature_name = "lenet", "classification"
    classify.input.example_list.examples.add().features.feature["image/pixels"].int64_list.value.extend(
        images[1].reshape(-1).tolist()
    )
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "regressor"
    regress.input.example_list.examples.add().features.feature["x"].float_list.value.append(2.0)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        calls = [stub.Predict.future(predict_request("lenet", images[i : i + 1]), 10.0) for i in range(6)]
        assert all(call.result().outputs["classes"].int64_val for call in calls)
        assert len(stub.Classify(classify, 10.0).result.classifications) == 1
        assert [r.value for r in stub.Regress(regress, 10.0).result.regressions] == [5.0]
    after = scrape(server)
    for model, api, requests in [("lenet", "Predict", 2 + 6), ("lenet", "Classify", 2), ("regressor", "Regress", 2)]:
        count, microseconds = added(before, after, model, api)
        assert count == requests and microseconds > 0, (model, api, count, microseconds)


def test_runtime_latency_counts_each_request_without_batching(single_model_server, images):
    before = scrape(single_model_server)
    assert single_model_server.request("POST", "/v1/models/digits:predict", instances(images[:2]))[0] == 200
    with grpc.insecure_channel(single_model_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert len(stub.Predict(predict_request("digits", images[:1]), 10.0).outputs["classes"].int64_val) == 1
    count, microseconds = added(before, scrape(single_model_server), "digits", "Predict")
    assert count == 2 and microseconds > 0


def test_unknown_model_names_do_not_grow_the_page_or_the_server(server, images):
    """5,000 requests to 5,000 different unknown names: one ``<unknown>`` series, the page and RSS stay put."""
    import uuid

    import psutil

    def page_bytes() -> int:
        with urllib.request.urlopen(server.url + "/monitoring/prometheus/metrics", timeout=10) as response:
            return len(response.read())

    process = psutil.Process(server.proc.pid)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        stub.Predict.future(predict_request("warm-up-" + uuid.uuid4().hex, images[:1]), 10.0).exception()
        before_page, before_rss, before = page_bytes(), process.memory_info().rss, scrape(server)
        for _ in range(25):
            calls = [stub.Predict.future(predict_request(uuid.uuid4().hex, images[:1]), 30.0) for _ in range(200)]
            assert all(call.exception().code() == grpc.StatusCode.NOT_FOUND for call in calls)
    after = scrape(server)
    grown_mb = (process.memory_info().rss - before_rss) / 2**20
    unknown = (":tensorflow:serving:request_count", (("model_name", "<unknown>"), ("status", "NOT_FOUND")))
    assert after[unknown] - before[unknown] == 5000
    assert page_bytes() - before_page < 200  # digits of counts may grow; no new series
    assert grown_mb < 30, f"server RSS grew {grown_mb:.0f} MB"


def test_a_scrape_does_not_hold_up_requests():
    """While a scrape renders (a collector made to take 1.5 s), the event loop answers other requests."""
    import asyncio
    import concurrent.futures
    import time

    import aiohttp
    from aiohttp import web

    from kerascnn.serving.app import create_app
    from kerascnn.serving.context import ServingContext
    from kerascnn.serving.metrics import Metrics
    from kerascnn.serving.repository import ModelRegistry

    class SlowCollector:
        def collect(self):
            time.sleep(1.5)
            return []

    async def scenario():
        registry = ModelRegistry([])
        metrics = Metrics(True, model_names=lambda: registry.models)
        metrics.registry.register(SlowCollector())
        executor = concurrent.futures.ThreadPoolExecutor(1)
        app = create_app(
            registry, executor=executor, context=ServingContext(registry, executor=executor, metrics=metrics)
        )
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        finished = []
        try:
            async with aiohttp.ClientSession() as session:

                async def scrape_page():
                    async with session.get(url + "/monitoring/prometheus/metrics") as response:
                        assert response.status == 200 and b"queuing_latency" in await response.read()
                    finished.append("scrape")

                async def predict():
                    await asyncio.sleep(0.3)  # the scrape is rendering by now
                    async with session.post(url + "/v1/models/nope:predict", json={"instances": [1]}) as response:
                        assert response.status == 404
                    finished.append("predict")

                await asyncio.gather(scrape_page(), predict())
        finally:
            await runner.cleanup()
            executor.shutdown()
        return finished

    assert asyncio.run(scenario()) == ["predict", "scrape"]
