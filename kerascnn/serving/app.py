"""The REST API of TF Serving on aiohttp: routes, request handling and errors.

Routes (case-insensitive, as TF Serving's regular expressions)::

    GET  /v1/models/{M}[/versions/{V} | /labels/{L}]            model status
    GET  /v1/models/{M}[/versions/{V} | /labels/{L}]/metadata   signature defs
    POST /v1/models/{M}[/versions/{V} | /labels/{L}]:predict    predict (row or columnar JSON)
    POST ...:classify, ...:regress                              501 (tf.Example APIs are not implemented)

Every answer is JSON; failures are ``{"error": "..."}`` with TF Serving's status -> HTTP mapping. JSON
parsing and input validation run on the event loop for small bodies and in a thread for large ones;
model calls always run in the TF thread pool, so the loop keeps answering while models compute.
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import unquote

from aiohttp import web

from kerascnn.serving import tensors
from kerascnn.serving.batching import run_servable
from kerascnn.serving.status import ServingError, invalid_argument, unimplemented

log = logging.getLogger("kerascnn.serve")

_VERSION_OR_LABEL = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
PREDICT_PATH = re.compile(r"/v1/models/([^/:]+)" + _VERSION_OR_LABEL + r":(classify|regress|predict)", re.I)
STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?" + _VERSION_OR_LABEL + r"(?:/(metadata))?", re.I)
V1_PATH = re.compile(r"/v1/.*", re.I | re.S)

# Bodies larger than this are parsed in a thread so that one big request cannot stall the others.
INLINE_PARSE_BYTES = 256 * 1024

REGISTRY = web.AppKey("registry", object)
BATCHER = web.AppKey("batcher", object)
EXECUTOR = web.AppKey("executor", object)
MAX_BYTES = web.AppKey("max_request_bytes", int)


def create_app(registry, *, executor, batcher=None, max_request_bytes: int = 32 * 1024 * 1024) -> web.Application:
    """The aiohttp application serving ``registry``'s models.

    Args:
        registry: a :class:`~kerascnn.serving.repository.ModelRegistry`.
        executor: thread pool for TF calls (and parsing of large bodies).
        batcher: a :class:`~kerascnn.serving.batching.Batcher`, or None to run each request alone.
        max_request_bytes: larger bodies are refused with 413.
    """
    app = web.Application(client_max_size=max_request_bytes)
    app[REGISTRY] = registry
    app[BATCHER] = batcher
    app[EXECUTOR] = executor
    app[MAX_BYTES] = max_request_bytes
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def json_response(obj, status: int = 200) -> web.Response:
    return web.Response(body=tensors.dumps(obj), status=status, content_type="application/json")


def error_response(error: ServingError) -> web.Response:
    return json_response({"error": error.message}, status=error.http_status)


async def handle(request: web.Request) -> web.Response:
    """Dispatch every request; nothing a client sends can produce a traceback or a 5xx from parsing."""
    try:
        return await _dispatch(request)
    except ServingError as e:
        return error_response(e)
    except web.HTTPRequestEntityTooLarge:
        return json_response(
            {"error": f"Request body is larger than the server's limit of {request.app[MAX_BYTES]} bytes "
                      "(kerascnn serve --max-request-bytes sets it)"},
            status=413,
        )
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # noqa: BLE001 - a bug: log it, answer 500 in TF Serving's format
        log.exception("internal error on %s %s", request.method, request.path)
        return json_response({"error": f"Internal error: {type(e).__name__}: {e}"}, status=500)


async def _dispatch(request: web.Request) -> web.Response:
    path = request.raw_path.split("?", 1)[0]
    if not V1_PATH.fullmatch(path):
        return json_response({"error": f"Not found: {request.method} {path} (the API is under /v1/models/)"}, 404)
    malformed = invalid_argument(f"Malformed request: {request.method} {path}")
    if request.method == "POST":
        match = PREDICT_PATH.fullmatch(path)
        if not match:
            raise malformed
        name, version, label, verb = match.groups()
        name, version, label = _model_spec(name, version, label)
        if verb.lower() != "predict":
            raise unimplemented(
                f"The :{verb.lower()} API (tf.Example inputs, classify/regress signatures) is not implemented "
                "by kerascnn serve; use :predict"
            )
        return await predict(request, name, version, label)
    if request.method in ("GET", "HEAD"):
        match = STATUS_PATH.fullmatch(path)
        if not match:
            raise malformed
        name, version, label, metadata = match.groups()
        if not name:
            raise invalid_argument("Missing model name in request.")
        name, version, label = _model_spec(name, version, label)
        registry = request.app[REGISTRY]
        if metadata:
            return json_response(registry.servable(name, version, label).metadata())
        return json_response(registry.status(name, version, label))
    raise malformed


def _model_spec(name: str, version: str | None, label: str | None) -> tuple:
    if version is not None and label is not None:  # the regex allows only one, but keep TF's message
        raise invalid_argument(f"Both model version ({version}) and model version label ({label}) cannot be supplied.")
    try:
        number = int(version) if version is not None else None
    except ValueError:
        raise invalid_argument(f"Failed to convert version: {version} to numeric.") from None
    if number is not None and number >= 2**63:
        raise invalid_argument(f"Failed to convert version: {version} to numeric.")
    return unquote(name), number, (unquote(label) if label is not None else None)


async def predict(request: web.Request, name: str, version, label) -> web.Response:
    body = await request.read()
    registry, executor = request.app[REGISTRY], request.app[EXECUTOR]
    loop = asyncio.get_running_loop()
    decoded = None
    simple = tensors.match_simple_request(body) if len(body) <= INLINE_PARSE_BYTES else None
    if simple is not None:  # {"instances": <integers>}: read straight into NumPy
        signature_name, key, array_text = simple
        servable = registry.servable(name, version, label)
        decoded = tensors.decode_simple_inputs(key, array_text, servable.signature(signature_name).inputs)
    if decoded is None:
        if len(body) <= INLINE_PARSE_BYTES:
            doc = tensors.parse_json(body)
        else:
            doc = await loop.run_in_executor(executor, tensors.parse_json, body)
        servable = registry.servable(name, version, label)
        signature_name = tensors.signature_name(doc)
        inputs = servable.signature(signature_name).inputs
        if len(body) <= INLINE_PARSE_BYTES:
            decoded = tensors.decode_inputs(doc, inputs)
        else:
            decoded = await loop.run_in_executor(executor, tensors.decode_inputs, doc, inputs)
        del doc
    request_format, arrays = decoded
    batcher = request.app[BATCHER]
    if batcher is not None:
        outputs = await batcher.run(servable, signature_name, arrays)
    else:
        outputs = await loop.run_in_executor(executor, run_servable, servable, signature_name, arrays)
    return json_response(tensors.encode_outputs(outputs, request_format))
