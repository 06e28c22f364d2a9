"""The serving flow both APIs call, whatever the wire format (TF Serving's predict_util, classifier, regressor
and multi_inference sit under its REST and gRPC APIs the same way).

The REST API (``app.py``) and the gRPC API (``grpc_api.py``) only turn their requests into a model spec and
arrays or serialized tf.Examples, and the results back into their format; finding the servable, choosing
and checking the signature, the image limits, running (batched or not) and the metrics are here.
"""

from __future__ import annotations

import contextlib
import time

from kerascnn.serving import examples as example_api
from kerascnn.serving.batching import run_request
from kerascnn.serving.image_limits import check_examples, check_string_inputs
from kerascnn.serving.servable import CLASSIFY_METHOD, REGRESS_METHOD
from kerascnn.serving.status import ServingError, invalid_argument

API_NAMES = {CLASSIFY_METHOD: "Classify", REGRESS_METHOD: "Regress"}


@contextlib.asynccontextmanager
async def recorded(ctx, model_name: str, api: str, entrypoint: str):
    """Count one Predict/Classify/Regress request and its latency under its final status (TF Serving's
    request_count and request_latency)."""
    started = time.perf_counter()
    try:
        yield
    except ServingError as e:
        ctx.metrics.request(model_name, api, entrypoint, e.code, time.perf_counter() - started)
        raise
    ctx.metrics.request(model_name, api, entrypoint, "OK", time.perf_counter() - started)


def servable(ctx, name: str, version=None, label=None):
    """The loaded servable a request names (NOT_FOUND / INVALID_ARGUMENT as TF Serving says them)."""
    return ctx.registry.servable(name, version, label)


async def predict(ctx, found, signature_name: str, arrays: dict) -> dict:
    """Run a Predict whose inputs are decoded: image limits, then the model (through the batcher)."""
    check_string_inputs(arrays, ctx.max_image_pixels)
    return await run_request(ctx.batcher, ctx.executor, found, signature_name, arrays, "Predict", ctx.metrics)


def example_signature(ctx, found, signature_name: str, method: str):
    """The Classify/Regress signature, checked as TF Serving checks it (method name only if the server does)."""
    return example_api.example_signature(found, signature_name, method, check_method_name=ctx.method_name_check)


async def run_examples(ctx, found, signature_name: str, method: str, serialized: list):
    """Classify or Regress serialized tf.Examples: per example a list of (label, score), or a value."""
    signature = example_signature(ctx, found, signature_name, method)
    check_examples(serialized, ctx.max_image_pixels)
    ctx.metrics.examples(found.model_name, len(serialized))
    outputs = await run_request(
        ctx.batcher,
        ctx.executor,
        found,
        signature.name,
        example_api.examples_tensor(serialized),
        API_NAMES[method],
        ctx.metrics,
    )
    if method == CLASSIFY_METHOD:
        return example_api.classifications(outputs, len(serialized))
    return example_api.regressions(outputs, len(serialized))


def multi_inference_tasks(tasks) -> tuple:
    """``(model name, version, label)`` shared by a MultiInference's tasks, checked as TF Serving checks them.

    Args:
        tasks: ``[(name, version, label, signature_name, method_name)]``.
    """
    if not tasks:
        raise invalid_argument("Expected at least one task")
    specs = {(name, version, label) for name, version, label, _, _ in tasks}
    if len({spec[0] for spec in specs}) > 1:
        raise invalid_argument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
    if len(specs) > 1:
        raise invalid_argument("ModelSpecs in a MultiInferenceRequest must access the same model version.")
    seen = set()
    for _, _, _, signature_name, method in tasks:
        if signature_name in seen:
            raise invalid_argument(f"Duplicate evaluation of signature: {signature_name}")
        seen.add(signature_name)
        if method not in API_NAMES:
            raise invalid_argument(f"Unsupported signature method_name: {method}")
    return specs.pop()


async def multi_inference(ctx, found, tasks, serialized: list) -> list:
    """Each task's results on the same examples (in the order of ``tasks``, see :func:`multi_inference_tasks`)."""
    for _, _, _, signature_name, method in tasks:  # every signature checked before any runs
        example_signature(ctx, found, signature_name, method)
    return [
        await run_examples(ctx, found, signature_name, method, serialized) for _, _, _, signature_name, method in tasks
    ]
