"""One loaded version of a SavedModel: its signatures (read from the model itself) and a way to run them.

Nothing here knows about kerascnn's own exports: input and output names, dtypes and shapes come from the
SavedModel, so any SavedModel that TF Serving can serve is served the same way:

* a TF2 SavedModel (``tf.saved_model.save``, Keras' export) is loaded with ``tf.saved_model.load`` and its
  signatures are its functions; their input specs are checked before a call (a function refuses other
  shapes anyway, and the check says which input was wrong);
* a TF1 SavedModel (a graph with placeholders, ``tf.compat.v1.saved_model.builder``; no object graph) is
  loaded into a ``Session`` and a signature is a callable feeding its placeholders, as TF Serving runs it:
  the SignatureDef's declared shapes are not checked, the graph decides (``half_plus_two``, declared
  ``[-1, 1]``, answers a ``[3]`` request). Graphs that ``tf.saved_model.load`` cannot prune (a
  ``ParseExample`` fed from a scalar placeholder) load this way too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np

from kerascnn.serving.status import ServingError, from_tensorflow, invalid_argument
from kerascnn.serving.tensor_info import TensorInfo

log = logging.getLogger("kerascnn.serve")

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


@dataclasses.dataclass
class Signature:
    """A callable signature and what it takes and returns (``{name: TensorInfo}``)."""

    name: str
    inputs: dict
    outputs: dict
    call: object  # fn({input name: np.ndarray}) -> {output name: np.ndarray}
    method_name: str = PREDICT_METHOD  # tensorflow/serving/{predict,classify,regress}, from the SignatureDef


def is_saved_model_dir(path) -> bool:
    return any((Path(path) / f).is_file() for f in SAVED_MODEL_FILES)


class Servable:
    """A SavedModel version loaded with ``tf.saved_model.load``.

    Args:
        model_name: the name clients use in URLs.
        version: the integer version (the folder's name).
        path: the version folder.

    Raises:
        Exception: whatever TensorFlow raises for an unreadable SavedModel; the repository records it
            as the version's status.
    """

    def __init__(self, model_name: str, version: int, path):
        self.model_name = model_name
        self.version = int(version)
        self.path = Path(path)
        meta_graph = _read_meta_graph(self.path)
        self.signature_defs = dict(meta_graph.signature_def.items())  # {name: SignatureDef proto}, all of them
        if meta_graph.object_graph_def.nodes:
            self.signatures = _function_signatures(self.path)
        else:
            self.signatures = _session_signatures(self.path, meta_graph, self.signature_defs)
        if not self.signatures:
            raise ValueError(f"SavedModel at {self.path} has no serving signatures")
        for name, signature in self.signatures.items():
            if name in self.signature_defs:
                signature.method_name = self.signature_defs[name].method_name or PREDICT_METHOD
        self._signature_defs_json = _signature_defs_json(self.signature_defs)

    def signature(self, name: str) -> Signature:
        try:
            return self.signatures[name]
        except KeyError:
            raise invalid_argument(
                f'Serving signature name: "{name}" not found in signature def '
                f"(this model has: {', '.join(sorted(self.signatures))})"
            ) from None

    def run(self, signature_name: str, arrays: dict) -> dict:
        """Run a signature on validated input arrays; returns ``{output name: np.ndarray}``.

        Raises:
            ServingError: the TF error's code (INVALID_ARGUMENT for, e.g., an undecodable image).
        """
        import tensorflow as tf

        signature = self.signature(signature_name)
        try:
            return signature.call(arrays)
        except tf.errors.OpError as e:
            raise from_tensorflow(e) from None
        except (ValueError, TypeError) as e:
            # Inputs that pass the signature's spec but not the function's own checks.
            raise invalid_argument(str(e).strip().split("\n")[0]) from None

    def warm_up(self) -> None:
        """Call each all-numeric, fully-defined signature once on zeros, so the first request is fast."""
        for signature in self.signatures.values():
            infos = signature.inputs.values()
            if not infos or any(i.dtype == "DT_STRING" or i.shape is None for i in infos):
                continue
            if any(d is None for i in infos for d in i.shape[1:]):
                continue
            arrays = {
                k: np.zeros((1, *i.shape[1:]) if i.shape else (), dtype=i.numpy_dtype)
                for k, i in signature.inputs.items()
            }
            try:
                self.run(signature.name, arrays)
            except (ServingError, ValueError):  # a model that dislikes zeros is still servable
                log.debug("warm-up of %s/%s failed", self.model_name, signature.name, exc_info=True)

    def metadata(self) -> dict:
        """TF Serving's ``GetModelMetadata`` answer (as its REST API prints it)."""
        return {
            "model_spec": {"name": self.model_name, "signature_name": "", "version": str(self.version)},
            "metadata": {"signature_def": {"signature_def": self._signature_defs_json}},
        }


def _function_signatures(path: Path) -> dict:
    """The signatures of a TF2 SavedModel, as ``tf.saved_model.load`` gives them."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signatures = {}
    for name, function in loaded.signatures.items():
        _, kwargs = function.structured_input_signature
        inputs = {key: _tensor_info(spec) for key, spec in kwargs.items()}
        outputs = function.structured_outputs
        if not isinstance(outputs, dict):  # a signature always returns a dict, but be defensive
            outputs = {"output_0": outputs}
        signatures[name] = Signature(
            name, inputs, {key: _tensor_info(spec) for key, spec in outputs.items()}, _function_call(function, loaded)
        )
    return signatures


def _function_call(function, owner):
    import tensorflow as tf

    def call(arrays: dict) -> dict:
        result = function(**{k: tf.constant(v) for k, v in arrays.items()})
        return {k: v.numpy() for k, v in result.items()}

    call.owner = owner  # the loaded object owns the function's variables: keep it alive with the signature
    return call


def _session_signatures(path: Path, meta_graph, signature_defs: dict) -> dict:
    """The signatures of a TF1 SavedModel, each a Session callable feeding its inputs' tensors by name.

    The session's thread pools are sized as the server set TensorFlow's (``tf.config.threading``)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2

    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=tf.config.threading.get_intra_op_parallelism_threads(),
        inter_op_parallelism_threads=tf.config.threading.get_inter_op_parallelism_threads(),
    )
    session = tf.compat.v1.Session(graph=graph, config=config)
    tags = list(meta_graph.meta_info_def.tags)
    tf.compat.v1.saved_model.loader.load(session, tags, str(path))
    signatures = {}
    for name, signature_def in signature_defs.items():
        if name.startswith("__"):  # __saved_model_init_op and the like: run by the loader, not by clients
            continue
        inputs = {alias: _info_from_proto(info, check_shape=False) for alias, info in signature_def.inputs.items()}
        outputs = {alias: _info_from_proto(info) for alias, info in signature_def.outputs.items()}
        feeds, fetches = sorted(signature_def.inputs), sorted(signature_def.outputs)
        options = config_pb2.CallableOptions()
        options.feed.extend(signature_def.inputs[alias].name for alias in feeds)
        options.fetch.extend(signature_def.outputs[alias].name for alias in fetches)
        # Session.run would check each fed value against the placeholder's shape; a callable made from
        # CallableOptions runs the graph on what it is given, as TF Serving's Session::Run does.
        runner = session._make_callable_from_options(options)  # noqa: SLF001 - TF's own public make_callable uses it
        signatures[name] = Signature(name, inputs, outputs, _session_call(runner, feeds, fetches, session))
    return signatures


def _session_call(runner, feeds: list, fetches: list, session):
    def call(arrays: dict) -> dict:
        results = runner(*[arrays[alias] for alias in feeds])
        return {alias: np.asarray(value) for alias, value in zip(fetches, results)}

    call.owner = session
    return call


def _info_from_proto(info, check_shape: bool = True) -> TensorInfo:
    """A SignatureDef's TensorInfo; ``check_shape=False`` leaves the shape for the graph to judge (rank unknown)."""
    from tensorflow.core.framework import types_pb2

    dtype = types_pb2.DataType.Name(info.dtype)
    if not check_shape or info.tensor_shape.unknown_rank:
        return TensorInfo(dtype, None)
    return TensorInfo(dtype, tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim))


def _tensor_info(spec) -> TensorInfo:
    from tensorflow.core.framework import types_pb2

    dtype = types_pb2.DataType.Name(spec.dtype.as_datatype_enum)
    shape = None if spec.shape.rank is None else tuple(spec.shape.as_list())
    return TensorInfo(dtype, shape)


def _read_meta_graph(path: Path):
    """The ``serve`` MetaGraph of a SavedModel (the first one if none is tagged ``serve``)."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    if (path / "saved_model.pb").is_file():
        saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    else:
        text_format.Parse((path / "saved_model.pbtxt").read_text(), saved_model)
    graphs = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags] or list(saved_model.meta_graphs)
    if not graphs:
        raise ValueError(f"SavedModel at {path} has no MetaGraph")
    return graphs[0]


def _signature_defs_json(signature_defs: dict) -> dict:
    """SignatureDefs as JSON, printed as TF Serving's REST API prints them."""
    from google.protobuf import json_format

    return {
        name: json_format.MessageToDict(
            signature_def, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        for name, signature_def in signature_defs.items()
    }


def folder_fingerprint(path) -> tuple:
    """(number of files, total size, newest mtime) of a folder tree: changes when anything is rewritten."""
    count = size = newest = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                st = os.stat(os.path.join(root, f))
            except OSError:
                continue
            count, size, newest = count + 1, size + st.st_size, max(newest, st.st_mtime_ns)
    return count, size, newest
