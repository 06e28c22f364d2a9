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

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from kerascnn.serving import core, memory, tensor_protos
from kerascnn.serving.context import ServingContext
from kerascnn.serving.servable import CLASSIFY_METHOD, REGRESS_METHOD
from kerascnn.serving.status import ServingError, invalid_argument
from kerascnn.serving.tensor_info import DEFAULT_SIGNATURE

log = logging.getLogger("kerascnn.serve")

_STATE_NUMBERS = dict(get_model_status_pb2.ModelVersionStatus.State.items())


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
        try:
            async with core.recorded(self.ctx, request.model_spec.name, "Predict", "GRPC"):
                return await self._predict(request)
        except ServingError as e:
            await _fail(context, e)

    async def _predict(self, request):
        ctx = self.ctx
        name, version, label = model_spec_args(request.model_spec)
        servable = core.servable(ctx, name, version, label)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = servable.signatures.get(signature_name)
        if signature is None:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{signature_name}" not found.')
        arrays = decode_predict_inputs(request, signature, ctx.max_message_bytes)
        wanted = output_filter(request, signature)
        outputs = await core.predict(ctx, servable, signature_name, arrays)
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
        try:
            async with core.recorded(self.ctx, request.model_spec.name, core.API_NAMES[method], "GRPC"):
                name, version, label = model_spec_args(request.model_spec)
                servable = core.servable(self.ctx, name, version, label)
                signature_name = request.model_spec.signature_name
                results = await core.run_examples(
                    self.ctx, servable, signature_name, method, serialized_examples(request.input)
                )
        except ServingError as e:
            await _fail(context, e)
        if method == CLASSIFY_METHOD:
            response = classification_pb2.ClassificationResponse()
            _classification_result(response.result, results)
        else:
            response = regression_pb2.RegressionResponse()
            _regression_result(response.result, results)
        # TF Serving echoes the signature name as requested (empty stays empty) for these APIs.
        _response_spec(response.model_spec, name, servable.version, signature_name)
        return response

    async def MultiInference(self, request, context):
        """Several Classify/Regress signatures of one model on the same examples (TF Serving's MultiInference)."""
        tasks = [
            (*model_spec_args(task.model_spec), task.model_spec.signature_name, task.method_name)
            for task in request.tasks
        ]
        model_name = request.tasks[0].model_spec.name if request.tasks else ""
        response = inference_pb2.MultiInferenceResponse()
        try:
            async with core.recorded(self.ctx, model_name, "MultiInference", "GRPC"):
                name, version, label = core.multi_inference_tasks(tasks)
                servable = core.servable(self.ctx, name, version, label)
                answers = await core.multi_inference(self.ctx, servable, tasks, serialized_examples(request.input))
        except ServingError as e:
            await _fail(context, e)
        for task, results in zip(request.tasks, answers):
            result = response.results.add()
            _response_spec(result.model_spec, name, servable.version, task.model_spec.signature_name)
            if task.method_name == CLASSIFY_METHOD:
                _classification_result(result.classification_result, results)
            else:
                _regression_result(result.regression_result, results)
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
                raise invalid_argument(
                    "ServerCore is configured with model_config_list, cannot reload with other config types"
                )
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


def _classification_result(target, rows) -> None:
    for row in rows:
        classifications = target.classifications.add()
        for label_text, score in row:
            item = classifications.classes.add()
            if label_text is not None:
                item.label = label_text
            if score is not None:
                item.score = score


def _regression_result(target, values) -> None:
    for value in values:
        target.regressions.add().value = value


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


def create_server(
    ctx: ServingContext, host: str, port: int | None, *, socket_path: str | None = None, channel_arguments: tuple = ()
):
    """A ``grpc.aio`` server with both services; returns ``(server, bound TCP port or None)``.

    Args:
        ctx: what the services serve.
        host, port: the TCP address (``port`` None: none).
        socket_path: also listen on this Unix domain socket (TF Serving's ``--grpc_socket_path``).
        channel_arguments: more ``(name, value)`` gRPC server options (TF Serving's ``--grpc_channel_arguments``).
    """
    from tensorflow_serving.apis import model_service_pb2, prediction_service_pb2

    limit = ctx.max_message_bytes
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.so_reuseport", 0),
            *channel_arguments,
        ]
    )
    server.add_generic_rpc_handlers(
        [
            _service_handler(prediction_service_pb2, "PredictionService", PredictionServicer(ctx)),
            _service_handler(model_service_pb2, "ModelService", ModelServicer(ctx)),
        ]
    )
    bound = None
    if port is not None:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        bound = server.add_insecure_port(address)
    if socket_path and _socket_in_use(socket_path):
        # gRPC would unlink the path and bind anew, silently taking the socket from the server answering on
        # it; leave that server its clients.
        log.warning("%s is in use by another server: gRPC is not served on it", socket_path)
    elif socket_path:
        server.add_insecure_port(f"unix:{socket_path}")
    return server, bound


def _socket_in_use(path: str) -> bool:
    """True if a process accepts connections on the Unix domain socket ``path``."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


__all__ = ["ModelServicer", "PredictionServicer", "ServingContext", "create_server"]
