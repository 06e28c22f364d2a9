"""TF Serving's gRPC API (port 8500) with the generated stubs of ``tensorflow-serving-api``.

``tensorflow.serving.PredictionService``: Predict, Classify, Regress, GetModelMetadata;
``tensorflow.serving.ModelService``: GetModelStatus, HandleReloadConfigRequest. The servicers run on
``grpc.aio`` in the same event loop as the REST server and share its model registry (versions, labels,
version policy), its batcher and its thread pool, so a REST and a gRPC request can share one batch.

Failures are gRPC status codes with TF Serving's messages: an unknown model or version NOT_FOUND, an
unknown Predict signature FAILED_PRECONDITION, inputs that do not fit INVALID_ARGUMENT, a full batch
queue UNAVAILABLE, a message over ``max_message_bytes`` RESOURCE_EXHAUSTED (from gRPC itself).
"""

from __future__ import annotations

import logging
import time

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from kerascnn.serving import examples as example_api
from kerascnn.serving import memory
from kerascnn.serving import tensor_protos
from kerascnn.serving.batching import run_request
from kerascnn.serving.image_limits import DEFAULT_MAX_PIXELS, check_examples, check_string_inputs
from kerascnn.serving.servable import CLASSIFY_METHOD, REGRESS_METHOD
from kerascnn.serving.status import ServingError, invalid_argument
from kerascnn.serving.tensors import DEFAULT_SIGNATURE

log = logging.getLogger("kerascnn.serve")

_STATE_NUMBERS = dict(get_model_status_pb2.ModelVersionStatus.State.items())


class ServingContext:
    """What both APIs share: the registry, the batcher (or None), the TF thread pool, limits and metrics."""

    def __init__(self, registry, *, executor, batcher=None, max_message_bytes: int = 32 * 1024 * 1024,
                 metrics=None, reload_config=None, max_image_pixels: int = DEFAULT_MAX_PIXELS):
        from kerascnn.serving.metrics import DISABLED

        self.registry = registry
        self.max_image_pixels = max_image_pixels
        self.executor = executor
        self.batcher = batcher
        self.max_message_bytes = max_message_bytes
        self.metrics = metrics or DISABLED
        self.reload_config = reload_config  # fn(list of ModelConfig) or None


def model_spec_args(spec) -> tuple:
    """``(name, version or None, label or None)`` of a ``ModelSpec``."""
    choice = spec.WhichOneof("version_choice")
    version = spec.version.value if choice == "version" else None
    label = spec.version_label if choice == "version_label" else None
    return spec.name, version, label


def _response_spec(target, name: str, version: int, signature_name: str | None) -> None:
    target.name = name
    target.version.value = version
    if signature_name is not None:
        target.signature_name = signature_name


async def _fail(context, error: ServingError):
    await context.abort(grpc.StatusCode[error.code], error.message)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, ctx: ServingContext):
        self.ctx = ctx

    async def Predict(self, request, context):
        started = time.perf_counter()
        name = request.model_spec.name
        try:
            response = await self._predict(request)
        except ServingError as e:
            self.ctx.metrics.request(name, "Predict", "GRPC", e.code, time.perf_counter() - started)
            await _fail(context, e)
        self.ctx.metrics.request(name, "Predict", "GRPC", "OK", time.perf_counter() - started)
        return response

    async def _predict(self, request):
        ctx = self.ctx
        name, version, label = model_spec_args(request.model_spec)
        servable = ctx.registry.servable(name, version, label)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = servable.signatures.get(signature_name)
        if signature is None:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{signature_name}" not found.')
        arrays = decode_predict_inputs(request, signature, ctx.max_message_bytes)
        check_string_inputs(arrays, ctx.max_image_pixels)
        wanted = output_filter(request, signature)
        outputs = await run_request(ctx.batcher, ctx.executor, servable, signature_name, arrays, "Predict", ctx.metrics)
        response = predict_pb2.PredictResponse()
        _response_spec(response.model_spec, name, servable.version, signature_name)
        for alias in wanted or sorted(outputs):
            tensor_protos.fill(response.outputs[alias], outputs[alias])
        return response

    async def Classify(self, request, context):
        return await self._examples(request, context, CLASSIFY_METHOD)

    async def Regress(self, request, context):
        return await self._examples(request, context, REGRESS_METHOD)

    async def _examples(self, request, context, method: str):
        api = "Classify" if method == CLASSIFY_METHOD else "Regress"
        started = time.perf_counter()
        name = request.model_spec.name
        try:
            response = await self._run_examples(request, method)
        except ServingError as e:
            self.ctx.metrics.request(name, api, "GRPC", e.code, time.perf_counter() - started)
            await _fail(context, e)
        self.ctx.metrics.request(name, api, "GRPC", "OK", time.perf_counter() - started)
        return response

    async def _run_examples(self, request, method: str):
        ctx = self.ctx
        name, version, label = model_spec_args(request.model_spec)
        servable = ctx.registry.servable(name, version, label)
        signature = example_api.example_signature(servable, request.model_spec.signature_name, method)
        serialized = serialized_examples(request.input)
        check_examples(serialized, ctx.max_image_pixels)
        ctx.metrics.examples(name, len(serialized))
        api = "Classify" if method == CLASSIFY_METHOD else "Regress"
        outputs = await run_request(ctx.batcher, ctx.executor, servable, signature.name,
                                    example_api.examples_tensor(serialized), api, ctx.metrics)
        if method == CLASSIFY_METHOD:
            response = classification_pb2.ClassificationResponse()
            for row in example_api.classifications(outputs, len(serialized)):
                classifications = response.result.classifications.add()
                for label_text, score in row:
                    item = classifications.classes.add()
                    if label_text is not None:
                        item.label = label_text
                    if score is not None:
                        item.score = score
        else:
            response = regression_pb2.RegressionResponse()
            for value in example_api.regressions(outputs, len(serialized)):
                response.result.regressions.add().value = value
        # TF Serving echoes the signature name as requested (empty stays empty) for these APIs.
        _response_spec(response.model_spec, name, servable.version, request.model_spec.signature_name)
        return response

    async def GetModelMetadata(self, request, context):
        try:
            return self._metadata(request)
        except ServingError as e:
            await _fail(context, e)

    def _metadata(self, request):
        fields = list(request.metadata_field)
        if not fields:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in fields:
            if field != "signature_def":
                raise invalid_argument(f"Metadata field {field} is not supported")
        name, version, label = model_spec_args(request.model_spec)
        servable = self.ctx.registry.servable(name, version, label)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature_def in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _response_spec(response.model_spec, name, servable.version, None)
        response.metadata["signature_def"].Pack(signature_map)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, ctx: ServingContext):
        self.ctx = ctx

    async def GetModelStatus(self, request, context):
        try:
            name, version, label = model_spec_args(request.model_spec)
            answer = self.ctx.registry.status(name, version, label)
        except ServingError as e:
            await _fail(context, e)
        response = get_model_status_pb2.GetModelStatusResponse()
        for entry in answer["model_version_status"]:
            status = response.model_version_status.add()
            status.version = int(entry["version"])
            status.state = _STATE_NUMBERS.get(entry["state"], 0)
            status.status.error_code = _error_code_number(entry["status"]["error_code"])
            status.status.error_message = entry["status"]["error_message"]
        return response

    async def HandleReloadConfigRequest(self, request, context):
        import os

        from kerascnn.serving.config import model_configs

        response = model_management_pb2.ReloadConfigResponse()
        try:
            if self.ctx.reload_config is None:
                raise ServingError("UNIMPLEMENTED", "This server does not accept configuration reloads")
            if request.config.WhichOneof("config") != "model_config_list":
                raise invalid_argument("ServerCore is configured with model_config_list, cannot reload with other config types")
            # The same checks as --model-config-file (paths relative to the server's working directory,
            # as in TF Serving).
            configs = model_configs(request.config, base_dir=os.getcwd())
            await self.ctx.reload_config(configs)
        except ServingError as e:
            await _fail(context, e)
        except Exception as e:  # noqa: BLE001 - a bad config is the client's problem: say what was wrong
            await _fail(context, invalid_argument(str(e)))
        response.status.error_code = 0
        return response


def _error_code_number(name: str) -> int:
    from tensorflow.core.protobuf import error_codes_pb2

    try:
        return error_codes_pb2.Code.Value(name)
    except ValueError:
        return error_codes_pb2.Code.Value("UNKNOWN")


def decode_predict_inputs(request, signature, max_bytes: int) -> dict:
    """Arrays for a signature from a PredictRequest's TensorProtos (TF Serving's PreProcessPrediction)."""
    inputs = signature.inputs
    if len(request.inputs) != len(inputs):
        sent, wanted = set(request.inputs), set(inputs)
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{','.join(sorted(sent))}}}) "
            f"!= len({{{','.join(sorted(wanted))}}}). Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
            f"Missing but required: {{{','.join(sorted(wanted - sent))}}}."
        )
    arrays = {}
    for index, alias in enumerate(sorted(request.inputs)):
        info = inputs.get(alias)
        if info is None:
            raise invalid_argument(
                f"input tensor alias not found in signature: {alias}. Inputs expected to be in the set "
                f"{{{','.join(sorted(inputs))}}}."
            )
        proto = request.inputs[alias]
        array = tensor_protos.to_array(proto, alias, max_bytes)
        expected = tensor_protos.short_dtype(info.dtype)
        got = tensor_protos.short_dtype(tensor_protos.DTYPE_NAMES[proto.dtype])
        if expected != got:
            raise invalid_argument(f"Expects arg[{index}] ('{alias}') to be {expected} but {got} is provided")
        if not info.accepts_shape(array.shape):
            raise invalid_argument(
                f"input '{alias}' has shape [{','.join(map(str, array.shape))}] but the signature expects "
                f"{info.shape_text()} (-1 = any size)"
            )
        arrays[alias] = array
    return arrays


def output_filter(request, signature) -> list:
    wanted, seen = [], set()
    for alias in request.output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
        wanted.append(alias)
    return wanted


def serialized_examples(input_proto) -> list:
    """Serialized tf.Examples of an ``Input`` (TF Serving's InputToSerializedExampleTensor)."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in input_proto.example_list.examples]
    if kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        return [context + e.SerializeToString() for e in with_context.examples]
    raise invalid_argument("Input is empty.")


def _parsing(method, request_class):
    """``method`` taking the raw request bytes: a message that does not parse is INTERNAL, as TF Serving's
    C++ gRPC server answers it (Python's gRPC would say UNKNOWN)."""
    from google.protobuf.message import DecodeError

    async def handler(raw: bytes, context):
        try:
            request = request_class.FromString(raw)
        except DecodeError as e:
            await context.abort(grpc.StatusCode.INTERNAL, f"Failed to parse the {request_class.__name__}: {e}")
        try:
            return await method(request, context)
        finally:
            del request
            memory.after_request(len(raw))

    return handler


def _service_handler(module, service: str, servicer):
    """The generic handler of one service, its methods and messages taken from the generated descriptors."""
    descriptor = module.DESCRIPTOR.services_by_name[service]
    handlers = {}
    for method in descriptor.methods:
        request_class = _message_class(method.input_type)
        response_class = _message_class(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _parsing(getattr(servicer, method.name), request_class),
            response_serializer=response_class.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(descriptor.full_name, handlers)


def _message_class(descriptor):
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def create_server(ctx: ServingContext, host: str, port: int):
    """A ``grpc.aio`` server with both services, bound to ``host:port``; returns ``(server, bound port)``."""
    from tensorflow_serving.apis import model_service_pb2, prediction_service_pb2

    limit = ctx.max_message_bytes
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        ("grpc.so_reuseport", 0),
    ])
    server.add_generic_rpc_handlers([
        _service_handler(prediction_service_pb2, "PredictionService", PredictionServicer(ctx)),
        _service_handler(model_service_pb2, "ModelService", ModelServicer(ctx)),
    ])
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    return server, bound


__all__ = ["ModelServicer", "PredictionServicer", "ServingContext", "create_server"]
