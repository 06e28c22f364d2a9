"""Dynamic batching with a real SavedModel: batches form, answers go back to the right request."""

from __future__ import annotations

import asyncio
import concurrent.futures

import numpy as np
import pytest

from kerascnn.serving.batching import Batcher, BatchingOptions
from kerascnn.serving.metrics import Metrics
from kerascnn.serving.servable import Servable
from kerascnn.serving.status import ServingError

from .conftest import png


@pytest.fixture(scope="module")
def servable(exports):
    return Servable("lenet", 1, exports[1])


def run_concurrently(options, servable, requests, metrics=None, apis=None):
    """Submit (signature, arrays) requests at once; returns results or ServingErrors, and the batcher."""
    apis = apis or ["Predict"] * len(requests)

    async def main():
        with concurrent.futures.ThreadPoolExecutor(options.num_batch_threads) as pool:
            batcher = Batcher(options, pool, metrics)
            results = await asyncio.gather(
                *(batcher.run(servable, sig, arrays, api) for (sig, arrays), api in zip(requests, apis)),
                return_exceptions=True,
            )
            await batcher.close()
            return results, batcher

    return asyncio.run(main())


def runtime_latency(metrics: Metrics, api: str) -> tuple:
    """(count, sum) of the ``runtime_latency`` histogram of model "lenet" and ``api``."""
    labels = {"model_name": "lenet", "API": api, "runtime": "TF1"}
    value = metrics.registry.get_sample_value
    return (
        value(":tensorflow:serving:runtime_latency_count", labels) or 0,
        value(":tensorflow:serving:runtime_latency_sum", labels) or 0,
    )


def test_concurrent_requests_share_batches_and_get_their_own_rows(servable, images):
    requests = [("serving_default", {"images": images[i : i + 1 + i % 2]}) for i in range(24)]
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=20000, num_batch_threads=1)
    metrics = Metrics(enabled=True)
    apis = ["Classify" if i % 3 == 0 else "Predict" for i in range(24)]  # both share the signature's queue
    results, batcher = run_concurrently(options, servable, requests, metrics, apis)
    assert batcher.batches < len(requests) and batcher.examples == sum(1 + i % 2 for i in range(24))
    # one runtime_latency observation per request, under its own API, though requests shared calls
    (predicts, predict_us), (classifies, classify_us) = (
        runtime_latency(metrics, api) for api in ("Predict", "Classify")
    )
    assert (predicts, classifies) == (16, 8) and predict_us > 0 and classify_us > 0
    for (_, arrays), result in zip(requests, results):
        expected = servable.run("serving_default", arrays)
        assert result["probabilities"].shape == expected["probabilities"].shape
        np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(result["classes"], expected["classes"])


def test_a_bad_request_fails_alone(servable, images):
    good = [("serving_bytes", {"image_bytes": np.array([png(images[i])], dtype=object)}) for i in range(5)]
    bad = ("serving_bytes", {"image_bytes": np.array([b"not an image"], dtype=object)})
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=20000, num_batch_threads=1)
    metrics = Metrics(enabled=True)
    results, batcher = run_concurrently(options, servable, good[:2] + [bad] + good[2:], metrics)
    assert isinstance(results[2], ServingError) and results[2].http_status == 400
    assert batcher.batches == 1 and runtime_latency(metrics, "Predict")[0] == 5  # answered requests only
    for (_, arrays), result in zip(good, results[:2] + results[3:]):
        expected = servable.run("serving_bytes", arrays)["probabilities"]
        np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5, atol=1e-6)


def test_requests_larger_than_a_batch_run_alone(servable, images):
    options = BatchingOptions(max_batch_size=4)
    metrics = Metrics(enabled=True)
    (result,), batcher = run_concurrently(options, servable, [("serving_default", {"images": images[:10]})], metrics)
    assert result["probabilities"].shape == (10, 10) and batcher.batches == 0
    assert runtime_latency(metrics, "Predict")[0] == 1


def test_full_queue_answers_unavailable(servable, images):
    options = BatchingOptions(max_batch_size=1, max_enqueued_batches=2, num_batch_threads=1)
    results, _ = run_concurrently(
        options, servable, [("serving_default", {"images": images[i : i + 1]}) for i in range(12)]
    )
    refused = [r for r in results if isinstance(r, ServingError)]
    assert refused and all(r.http_status == 503 and "queue" in r.message for r in refused)
    assert any(isinstance(r, dict) for r in results)


@pytest.mark.parametrize("kwargs", [{"max_batch_size": 0}, {"num_batch_threads": 0}, {"batch_timeout_micros": -1}])
def test_batching_options_are_checked(kwargs):
    with pytest.raises(ValueError):
        BatchingOptions(**kwargs)


def test_a_request_larger_than_a_model_call_is_split_and_answered_whole(servable, images, monkeypatch):
    """More examples than MAX_ROWS_PER_CALL: several model calls, one answer equal to a single call's."""
    from kerascnn.serving import batching

    whole = servable.run("serving_default", {"images": images})
    calls = []
    run = servable.run
    monkeypatch.setattr(servable, "run", lambda name, arrays: calls.append(len(arrays["images"])) or run(name, arrays))
    monkeypatch.setattr(batching, "MAX_ROWS_PER_CALL", 16)
    outputs, _ = batching.call_model(servable, "serving_default", {"images": images})
    assert calls == [16, 16, 8]
    np.testing.assert_allclose(outputs["probabilities"], whole["probabilities"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs["classes"], whole["classes"])
