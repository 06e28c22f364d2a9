"""ONNX export: one ``.onnx`` file plus a ``.json`` beside it, for ONNX Runtime, OpenVINO, TensorRT, Windows ML.

    models/lenet.onnx     raw uint8 images [N, h, w, c] in, probabilities float32 [N, K] out
    models/lenet.onnx.json  the marker: class names, input/output spec, DataSpec, sha256, parity

The graph is the TFLite one (:func:`kerascnn.export.graph.tflite_preprocess`: preprocessing made of
plain ops, then the model, then softmax), converted by ``tf2onnx`` (opset 17), the converter Keras' own
``model.export(format="onnx")`` calls on the TensorFlow backend (that call exports the bare model,
without preprocessing or softmax). Grouped convolutions, which Keras compiles with XLA on the CPU,
are inlined first (:func:`_convert_function`). The class names are in the model too: ``metadata_props["class_names"]``
(a JSON list), beside the DataSpec (``metadata_props["data_spec"]``).

Parity is measured with ONNX Runtime against the Keras model: the float32 bound (>= 99.9% top-1
agreement) plus ``max |dp| <= 1e-4``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from kerascnn.errors import ArtifactError, KerasCNNError
from kerascnn.export.artifacts import (
    ExportResult,
    check_images,
    load_source,
    make_readable,
    marker,
    reference_probabilities,
)
from kerascnn.export.tflite import check_target, sidecar_path

FORMAT = "onnx"
OPSET = 17  # ONNX Runtime >= 1.14, OpenVINO, TensorRT 8.6 all read it
INSTALL_HINT = "pip install 'kerascnn[onnx]' (tf2onnx and onnxruntime)"


def converter():
    """``tf2onnx``, or a one-line error if it is missing.

    tf2onnx 1.17.0 runs on numpy 2 as it is (Keras still patches its older releases before converting).
    """
    try:
        import tf2onnx
    except ImportError as e:
        raise KerasCNNError(f"ONNX export needs tf2onnx ({e.name or e} is missing): {INSTALL_HINT}.") from None
    return tf2onnx


def runtime():
    try:
        import onnxruntime
    except ImportError:
        raise KerasCNNError(f"Checking an ONNX export needs onnxruntime: {INSTALL_HINT}.") from None
    return onnxruntime


def convert(model, spec, what: str = "the model") -> bytes:
    """The serialized ONNX model: uint8 images ``[N, h, w, c]`` -> ``probabilities`` float32 ``[N, K]``."""
    import tensorflow as tf

    from kerascnn.export.graph import probabilities_fn, tflite_preprocess
    from kerascnn.quiet import captured_stderr

    tf2onnx = converter()
    h, w, c = spec.image_shape
    serve = probabilities_fn(model, lambda images: tflite_preprocess(images, spec))
    signature = [tf.TensorSpec([None, h, w, c], tf.uint8, name="images")]

    @tf.function(input_signature=signature)
    def fn(images):
        return {"probabilities": serve(images)["probabilities"]}

    error = None
    with captured_stderr():  # tf2onnx logs every op it maps, and an error per op it cannot
        try:
            onnx_model = _convert_function(tf2onnx, fn.get_concrete_function())
        except Exception as e:  # tf2onnx raises plain Exceptions, ValueErrors and friends for what it cannot map
            error = e
    if error is not None:
        first = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise ArtifactError(f"Cannot convert {what} to ONNX: {first.strip()[:300]}") from None
    import onnx

    # tf2onnx keeps the ops it cannot map as TensorFlow ops (logging an error): no ONNX runtime runs those.
    unsupported = sorted(
        {
            node.op_type
            for node in onnx_model.graph.node
            if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, "")
        }
    )
    if {"StatefulPartitionedCall", "PartitionedCall"} & set(unsupported):
        raise ArtifactError(
            f"Cannot convert {what} to ONNX: it calls a TensorFlow function that could not be "
            "inlined, which tf2onnx does not convert."
        )
    if unsupported:
        raise ArtifactError(f"Cannot convert {what} to ONNX: no ONNX equivalent for {', '.join(unsupported)}.")
    onnx_model.doc_string = f"{what}: raw uint8 images in, class probabilities (softmax) out."
    for key, value in (("class_names", json.dumps(list(spec.class_names))), ("data_spec", json.dumps(spec.to_dict()))):
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    return onnx_model.SerializeToString()


def _convert_function(tf2onnx, concrete):
    """``tf2onnx.convert.from_function``'s steps, with XLA-compiled functions made inlinable in between.

    Keras runs grouped convolutions (ResNeXt) on the CPU inside a ``tf.function(jit_compile=True)``;
    TensorFlow's optimizer never inlines such a function, so tf2onnx would keep it as a call no ONNX
    runtime runs. For conversion the compile request means nothing: it is cleared, the graph optimized
    again (inlining it), and the grouped convolution becomes an ONNX ``Conv`` with ``group``.
    """
    import tensorflow as tf

    input_names = [t.name for t in concrete.inputs if t.dtype != tf.dtypes.resource]
    output_names = [t.name for t in concrete.outputs if t.dtype != tf.dtypes.resource]
    renames = tf2onnx.convert.tensor_names_from_structed(concrete, input_names, output_names)
    with tf.device("/cpu:0"):
        graph_def = tf2onnx.tf_loader.from_function(concrete, input_names, output_names)
        attributes = [function.attr for function in graph_def.library.function]  # the functions' own, and
        attributes += [node.attr for node in graph_def.node]  # their calls' (at top level, in functions)
        attributes += [node.attr for function in graph_def.library.function for node in function.node_def]
        for attr in attributes:
            for key in ("_XlaMustCompile", "_noinline"):
                if key in attr:
                    attr[key].b = False
        onnx_model, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=input_names, output_names=output_names, opset=OPSET, tensors_to_rename=renames
        )
    return onnx_model


def session(model_content: bytes, what: str = "the ONNX model"):
    """An ONNX Runtime CPU session, or ``ArtifactError`` if the runtime refuses the model."""
    ort = runtime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model_content, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own exception classes (Fail, InvalidGraph, NotImplemented)
        raise ArtifactError(f"ONNX Runtime cannot load {what}: {str(e).splitlines()[0][:300]}") from None


def onnx_probabilities(sess, images, batch_size: int = 256) -> np.ndarray:
    """float32 probabilities ``[N, K]`` of a kerascnn ONNX session on uint8 ``images``."""
    name = sess.get_inputs()[0].name
    return np.concatenate(
        [sess.run(None, {name: images[i : i + batch_size]})[0] for i in range(0, len(images), batch_size)]
    )


def export_onnx(
    source, out, *, spec=None, test_images=None, test_labels=None, check_parity: bool = True, overwrite: bool = False
) -> ExportResult:
    """Export a trained model to ``out`` (a ``.onnx`` path) with ``out``'s ``.json`` beside it.

    Args:
        source: a run directory, a ``.keras`` file, or a ``keras.Model`` (with ``spec``).
        out: the ``.onnx`` file to write.
        spec: the DataSpec when ``source`` is a ``keras.Model``.
        test_images: raw uint8 ``[N, h, w, c]`` test images for the parity report (run on ONNX Runtime).
        test_labels: their labels, for the accuracies.
        check_parity: measure parity and refuse an export that misses its bound (needs ``test_images``).
        overwrite: replace an existing kerascnn ``.onnx`` export at ``out``.

    Raises:
        KerasCNNError: tf2onnx or onnxruntime is not installed; nothing is written.
        ArtifactError: the target exists, or the model has an op ONNX cannot express.
        ParityError: the export misses its bound; nothing is written.
    """
    from kerascnn.export import parity
    from kerascnn.fsutil import atomic_write_bytes, atomic_write_json, remove_stale_temporaries

    out = check_target(out, overwrite, suffix=".onnx", fmt=FORMAT)
    converter()
    if check_parity:
        runtime()
    model, spec, name = load_source(source, spec)
    remove_stale_temporaries(out.parent, "|".join(re.escape(p.name) for p in (out, sidecar_path(out))))
    if check_parity:
        if test_images is None:
            raise KerasCNNError("A parity report needs test_images (raw uint8); or pass check_parity=False.")
        test_images = check_images(test_images, spec, "test_images")
    content = convert(model, spec, what=name)
    sess = session(content, what=f"the ONNX export of {name}")
    report = None
    if check_parity:
        report = parity.compare(
            reference_probabilities(model, spec, test_images),
            onnx_probabilities(sess, test_images),
            test_labels,
            size_bytes=len(content),
        )
        parity.check(report, FORMAT, what=f"ONNX export of {name}")
    h, w, c = spec.image_shape
    metadata = marker(
        FORMAT,
        name,
        spec,
        file=out.name,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        opset=OPSET,
        input={
            "name": sess.get_inputs()[0].name,
            "dtype": "uint8",
            "shape": [-1, h, w, c],
            "note": "raw pixels 0..255; preprocessing is inside the model",
        },
        output={"name": sess.get_outputs()[0].name, "dtype": "float32", "shape": [-1, spec.num_classes]},
        parity=report,
    )
    atomic_write_json(sidecar_path(out), metadata)
    atomic_write_bytes(out, content)
    make_readable(sidecar_path(out), out)
    return ExportResult(path=Path(out), format=FORMAT, quantize="none", parity=report, metadata=metadata)
