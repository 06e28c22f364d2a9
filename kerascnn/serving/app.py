"""The REST API of TF Serving on aiohttp: routes, request handling and errors.

Routes (case-insensitive, as TF Serving's regular expressions)::

    GET  /v1/models/{M}[/versions/{V} | /labels/{L}]            model status
    GET  /v1/models/{M}[/versions/{V} | /labels/{L}]/metadata   signature defs
    POST /v1/models/{M}[/versions/{V} | /labels/{L}]:predict    predict (row or columnar JSON)
    POST ...:classify, ...:regress                              tf.Examples ({"examples": [...]}) -> {"results": ...}
    GET  /monitoring/prometheus/metrics                         Prometheus metrics (when enabled)

Every answer is JSON; failures are ``{"error": "..."}`` with TF Serving's status -> HTTP mapping, also
those aiohttp writes itself (a malformed request line, an unknown HTTP method). Bodies may be sent
gzip- or deflate-compressed (``Content-Encoding``); a body that does not decompress is a 400. JSON
parsing and input validation run on the event loop for small bodies and in a thread for large ones;
model calls always run in the TF thread pool, so the loop keeps answering while models compute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from urllib.parse import unquote

from aiohttp import web, web_protocol, web_server

from kerascnn.serving import core, json_codec, json_fast_path, memory
from kerascnn.serving import examples as example_api
from kerascnn.serving.context import ServingContext
from kerascnn.serving.servable import CLASSIFY_METHOD, REGRESS_METHOD
from kerascnn.serving.status import ServingError, invalid_argument

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
CONTEXT = web.AppKey("context", object)
BODY_TIMEOUT = web.AppKey("body_timeout", float)


def create_app(
    registry,
    *,
    executor,
    batcher=None,
    max_request_bytes: int = 32 * 1024 * 1024,
    context=None,
    body_timeout: float = 60.0,
) -> web.Application:
    """The aiohttp application serving ``registry``'s models.

    Args:
        registry: a :class:`~kerascnn.serving.repository.ModelRegistry`.
        executor: thread pool for TF calls (and parsing of large bodies).
        batcher: a :class:`~kerascnn.serving.batching.Batcher`, or None to run each request alone.
        max_request_bytes: larger bodies (after decompression) are refused with 413.
        context: the :class:`~kerascnn.serving.context.ServingContext` shared with the gRPC API (its
            metrics are recorded and served); made from the other arguments when None.
        body_timeout: seconds a client has to send a request body; slower ones get 408.
    """
    app = web.Application(client_max_size=max_request_bytes)
    app[REGISTRY] = registry
    app[BATCHER] = batcher
    app[EXECUTOR] = executor
    app[MAX_BYTES] = max_request_bytes
    app[CONTEXT] = context or ServingContext(
        registry, executor=executor, batcher=batcher, max_message_bytes=max_request_bytes
    )
    app[BODY_TIMEOUT] = body_timeout
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


class _JSONErrorHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering the errors it writes itself in TF Serving's JSON format
    (a malformed request line or header, an unknown HTTP method such as ``FOO``: 400 ``{"error": ...}``)."""

    def handle_error(self, request, status: int = 500, exc=None, message=None):
        response = super().handle_error(request, status, exc, message)  # logs, and checks nothing was sent
        if status >= 500:
            text = "Internal error"
        else:
            text = (getattr(exc, "message", None) or message or str(exc or "") or "Bad request").strip()
            text = f"Malformed request: {text.splitlines()[0] if text else 'Bad request'}"
        body = json.dumps({"error": text}).encode()
        answer = web.Response(body=body, status=status, content_type="application/json")
        answer.force_close()
        del response
        return answer


class _JSONErrorServer(web_server.Server):
    def __call__(self):
        return _JSONErrorHandler(self, loop=self._loop, **self._kwargs)


class JSONErrorRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer even aiohttp's own errors in JSON."""

    async def _make_server(self):
        server = await super()._make_server()
        server.__class__ = _JSONErrorServer  # same object and state; only the handler class differs
        return server


def json_response(obj, status: int = 200) -> web.Response:
    return web.Response(body=json_codec.dumps(obj), status=status, content_type="application/json")


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
            {
                "error": f"Request body is larger than the server's limit of {request.app[MAX_BYTES]} bytes "
                "(kerascnn serve --max-request-bytes sets it)"
            },
            status=413,
        )
    except BodyTimeout as e:
        answer = json_response({"error": str(e)}, status=408)
        answer.force_close()
        return answer
    except web.RequestPayloadError as e:  # a gzip/deflate body that does not decompress, a broken chunk
        answer = json_response({"error": f"Malformed request body: {_cause(e)}"}, status=400)
        answer.force_close()
        return answer
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # noqa: BLE001 - a bug: log it, answer 500 in TF Serving's format
        log.exception("internal error on %s %s", request.method, request.path)
        return json_response({"error": f"Internal error: {type(e).__name__}: {e}"}, status=500)


def _cause(error: BaseException) -> str:
    text = str(error.__cause__ or error).strip() or type(error).__name__
    return text.splitlines()[0]


class BodyTimeout(Exception):
    """The client did not send its body within the body timeout (answered 408, connection closed)."""


async def read_body(request: web.Request) -> bytes:
    """The (decompressed) body, or 408 if the client takes longer than the body timeout to send it."""
    try:
        return await asyncio.wait_for(request.read(), request.app[BODY_TIMEOUT])
    except asyncio.TimeoutError:
        raise BodyTimeout(
            f"Request body not received within {request.app[BODY_TIMEOUT]:g} s (kerascnn serve --body-timeout sets it)"
        ) from None


async def _dispatch(request: web.Request) -> web.Response:
    path = request.raw_path.split("?", 1)[0]
    if path == request.app[CONTEXT].metrics_path and request.method in ("GET", "HEAD"):
        metrics = request.app[CONTEXT].metrics
        if metrics.enabled:  # rendered in a thread: a scrape never holds up the requests the loop answers
            page = await asyncio.get_running_loop().run_in_executor(None, metrics.exposition)
            return web.Response(body=page, headers={"Content-Type": "text/plain; version=0.0.4"})
    if not V1_PATH.fullmatch(path):
        return json_response({"error": f"Not found: {request.method} {path} (the API is under /v1/models/)"}, 404)
    malformed = invalid_argument(f"Malformed request: {request.method} {path}")
    if request.method == "POST":
        match = PREDICT_PATH.fullmatch(path)
        if not match:
            raise malformed
        name, version, label, verb = match.groups()
        name, version, label = _model_spec(name, version, label)
        verb = verb.lower()
        async with core.recorded(request.app[CONTEXT], name, verb.capitalize(), "REST"):
            if verb == "predict":
                return await predict(request, name, version, label)
            return await classify_or_regress(request, name, version, label, verb)
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
    body = await read_body(request)
    ctx = request.app[CONTEXT]
    loop = asyncio.get_running_loop()
    decoded = None
    simple = json_fast_path.match_simple_request(body) if len(body) <= INLINE_PARSE_BYTES else None
    if simple is not None:  # {"instances": <integers>}: read straight into NumPy
        signature_name, key, array_text = simple
        servable = core.servable(ctx, name, version, label)
        decoded = json_fast_path.decode_simple_inputs(key, array_text, servable.signature(signature_name).inputs)
    if decoded is None:
        if len(body) <= INLINE_PARSE_BYTES:
            doc = json_codec.parse_json(body)
        else:
            doc = await loop.run_in_executor(ctx.executor, json_codec.parse_json, body)
        servable = core.servable(ctx, name, version, label)
        signature_name = json_codec.signature_name(doc)
        inputs = servable.signature(signature_name).inputs
        if len(body) <= INLINE_PARSE_BYTES:
            decoded = json_codec.decode_inputs(doc, inputs)
        else:
            decoded = await loop.run_in_executor(ctx.executor, json_codec.decode_inputs, doc, inputs)
        del doc
    request_format, arrays = decoded
    del decoded
    outputs = await core.predict(ctx, servable, signature_name, arrays)
    del arrays
    answer = json_response(json_codec.encode_outputs(outputs, request_format))
    memory.after_request(len(body))
    return answer


async def classify_or_regress(request: web.Request, name: str, version, label, verb: str) -> web.Response:
    """``{"signature_name", "context", "examples"}`` -> ``{"results": ...}`` (TF Serving's REST Classify/Regress)."""
    body = await read_body(request)
    ctx = request.app[CONTEXT]
    if len(body) <= INLINE_PARSE_BYTES:
        doc = json_codec.parse_json(body)
    else:
        doc = await asyncio.get_running_loop().run_in_executor(ctx.executor, json_codec.parse_json, body)
    servable = core.servable(ctx, name, version, label)
    method = CLASSIFY_METHOD if verb == "classify" else REGRESS_METHOD
    signature_name = doc.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid_argument("'signature_name' key must be a string value.")
    core.example_signature(ctx, servable, signature_name, method)  # before the examples are read, as TF Serving
    serialized = example_api.serialized_examples_from_json(doc)
    del doc
    results = await core.run_examples(ctx, servable, signature_name, method, serialized)
    memory.after_request(len(body))
    if method == CLASSIFY_METHOD:
        return json_response(example_api.classify_json(results))
    return json_response(example_api.regress_json(results))
