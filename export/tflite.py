"""TFLite export for devices: one ``.tflite`` file plus a ``.json`` beside it, run by LiteRT and MediaPipe.

    models/lenet_int8.tflite    the model: raw uint8 images in, class probabilities out, with its metadata
    models/lenet_int8.json      the marker: class names, input/output spec, DataSpec, sha256, parity

Every variant takes raw pixels, uint8 ``[N, h, w, c]`` at the data's native size, and does the
preprocessing (scale, channel conversion, resize, normalization) inside the graph, so a device feeds
camera/decoder output as is. A model trained on grayscale images takes RGB frames (``c = 3``) by
default and converts them to gray inside (:func:`kerascnn.export.graph.rgb_frames_to_gray`, the
training pipeline's luma weights): app runtimes such as MediaPipe Tasks only feed 3- or 4-channel
images. ``gray_input=True`` keeps the 1-channel input. The single output ``probabilities`` is float32
``[N, K]``; for ``int8`` it is uint8 with scale 1/256 (``p = q / 256``; the json and the tensor's
quantization parameters say so).

Every file carries TFLite model metadata (:mod:`kerascnn.export.tflite_metadata`): name, description,
version, author, license, the input's color space and the class names as the output's label file.

``quantize``:
    none      float32 weights and activations
    float16   float16 weights (half the size), float32 compute
    dynamic   int8 weights, activations quantized on the fly (dynamic range)
    int8      full integer: int8 weights and activations calibrated on 100-500 training images,
              uint8 input and output (for integer-only accelerators and microcontrollers)

For int8 the in-graph preprocessing was measured against feeding already-normalized int8 input
(trained LeNet on digits, 397 test images): the same agreement (99.75%) and accuracy, a 2% larger file
and no quantization parameters for a device to apply to its input, so it is kept in the graph.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
    read_marker,
    reference_probabilities,
)
from kerascnn.export.tflite_metadata import ModelInfo
from kerascnn.quiet import captured_stderr

FORMAT = "tflite"
QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")
CALIBRATION_SAMPLES = 300  # the TFLite guide's 100-500 representative samples


def sidecar_path(export_path) -> Path:
    """Where a file export keeps its class names, spec and parity: ``model.tflite`` -> ``model.json``,
    ``model.onnx`` -> ``model.onnx.json`` (so the TFLite and ONNX exports of one model never share a report)."""
    path = Path(export_path)
    return path.with_name(path.name + ".json") if path.suffix == ".onnx" else path.with_suffix(".json")


def calibration_subset(images, samples: int = CALIBRATION_SAMPLES, seed: int = 0) -> np.ndarray:
    """At most ``samples`` images drawn without replacement (fixed seed: exports are reproducible)."""
    if len(images) <= samples:
        return images
    index = np.random.default_rng(seed).choice(len(images), samples, replace=False)
    return images[np.sort(index)]


def input_channels(spec, gray_input: bool = False) -> int:
    """Channels of the exported graph's input: 3 (RGB frames, as cameras and decoders give them) unless
    ``gray_input`` keeps a grayscale model's own single channel."""
    if gray_input and spec.image_shape[2] != 1:
        raise KerasCNNError(
            f"gray_input is for models trained on grayscale images; this one takes "
            f"{spec.image_shape[2]}-channel images."
        )
    return 1 if gray_input else 3


def as_input_images(images, channels: int) -> np.ndarray:
    """uint8 images at the data's channels as the graph's input: gray repeated into RGB when it takes RGB."""
    if images.shape[-1] == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    return images


def write_convertible_saved_model(
    model, spec, directory, channels: int | None = None, rounded_gray: bool = True
) -> None:
    """The SavedModel the converter starts from: uint8 images -> TFLite-builtin preprocessing -> softmax.

    ``channels`` (default: the data's) is what the graph takes; a grayscale model given 3 converts the
    RGB frames to gray first (:func:`kerascnn.export.graph.rgb_frames_to_gray`, rounded unless
    ``rounded_gray`` is False). Keras' own litert export goes through a SavedModel too: it freezes the
    variables. Write it once to convert it with several ``quantize`` modes.
    """
    import keras
    import tensorflow as tf

    from kerascnn.export.graph import probabilities_fn, rgb_frames_to_gray, tflite_preprocess

    h, w, c = spec.image_shape
    if channels is not None and channels != c:
        if (c, channels) != (1, 3):
            raise KerasCNNError(f"A {c}-channel model cannot take {channels}-channel input.")
        c = channels
        serve = probabilities_fn(
            model, lambda images: tflite_preprocess(rgb_frames_to_gray(images, rounded_gray), spec)
        )
    else:
        serve = probabilities_fn(model, lambda images: tflite_preprocess(images, spec))
    archive = keras.export.ExportArchive()
    archive.track(model)
    # One output: an int64 argmax would be the only non-quantizable tensor of an int8 model.
    archive.add_endpoint(
        "serving_default",
        lambda images: {"probabilities": serve(images)["probabilities"]},
        input_signature=[tf.TensorSpec([None, h, w, c], tf.uint8, name="images")],
    )
    archive.write_out(str(directory), verbose=False)


def convert_saved_model(directory, quantize: str = "none", calibration_images=None, what: str = "the model") -> bytes:
    """Convert a SavedModel written by :func:`write_convertible_saved_model` with ``quantize``."""
    import tensorflow as tf

    if quantize not in QUANTIZE_MODES:
        raise KerasCNNError(f"quantize must be one of {', '.join(QUANTIZE_MODES)}. Received: {quantize!r}")
    if quantize == "int8" and calibration_images is None:
        raise KerasCNNError("int8 quantization needs calibration_images: raw uint8 images from the training part.")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(directory))
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        samples = calibration_subset(np.asarray(calibration_images))

        def representative_dataset():
            for i in range(len(samples)):
                yield [samples[i : i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_output_type = tf.uint8  # the input is uint8 already: raw pixels
    error = None
    with captured_stderr():  # the converter's MLIR dump: the one line below says what matters
        try:
            content = converter.convert()
        except Exception as e:  # ConverterError and friends: name the model and the mode
            error = e
    if error is not None:
        reason = conversion_error(error)
        raise ArtifactError(f"Cannot convert {what} to TFLite (quantize={quantize}): {reason}") from None
    return content


def conversion_error(error) -> str:
    """One line for a converter error: the ops TFLite has no kernel for, or the first error line."""
    text = str(error)
    ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)))
    if ops:
        return f"no TFLite builtin op for {', '.join(ops)} (a layer the TFLite runtime cannot run)."
    first = next((line for line in text.splitlines() if "error" in line.lower()), text[:200])
    return first.strip()[:300]


def interpreter(model_path=None, model_content=None, num_threads=None, what=None):
    """A LiteRT interpreter; a file that is not a valid TFLite flatbuffer raises ``ArtifactError``."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    what = what or model_path or "the converted model"
    if model_content is None:
        model_content = Path(model_path).read_bytes()
    # LiteRT checks the flatbuffer identifier; a truncated file can still pass it, so the size is
    # checked against the marker by the predictor, and the structure here by building the graph.
    if len(model_content) < 8 or model_content[4:8] != b"TFL3":
        raise ArtifactError(f"{what} is not a TFLite model (no TFL3 identifier): corrupt or not a .tflite file.")
    try:
        with captured_stderr():
            result = Interpreter(model_content=model_content, num_threads=num_threads)
            result.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        if "XNNPACK" not in str(e):
            raise ArtifactError(f"Cannot load {what}: {str(e).splitlines()[0]}") from None
        # XNNPACK (LiteRT's default CPU delegate) refuses some quantized graphs; the builtin kernels run all.
        try:
            result = Interpreter(
                model_content=model_content,
                num_threads=num_threads,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            result.allocate_tensors()
        except (ValueError, RuntimeError) as e2:
            raise ArtifactError(f"Cannot load {what}: {str(e2).splitlines()[0]}") from None
    return result


def run_interpreter(interp, images, batch_size: int = 256) -> np.ndarray:
    """float32 probabilities ``[N, K]`` of a kerascnn ``.tflite`` interpreter on uint8 ``images``."""
    inp = interp.get_input_details()[0]
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = np.ascontiguousarray(images[start : start + batch_size], dtype=inp["dtype"])
        if tuple(interp.get_input_details()[0]["shape"]) != batch.shape:
            interp.resize_tensor_input(inp["index"], batch.shape)
            interp.allocate_tensors()
        interp.set_tensor(inp["index"], batch)
        interp.invoke()
        chunks.append(dequantize_output(interp, interp.get_tensor(interp.get_output_details()[0]["index"])))
    return np.concatenate(chunks)


def dequantize_output(interp, values) -> np.ndarray:
    scale, zero_point = interp.get_output_details()[0]["quantization"]
    if scale:
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32, copy=False)


def tflite_probabilities(model_content: bytes, images) -> np.ndarray:
    """Run a kerascnn ``.tflite`` flatbuffer on uint8 ``images`` with LiteRT."""
    return run_interpreter(interpreter(model_content=model_content), images)


def check_target(out, overwrite: bool, suffix: str = ".tflite", fmt: str = FORMAT) -> Path:
    """The file to write (a ``.tflite`` or, for ONNX, ``.onnx``), or ``ArtifactError`` if writing it
    would overwrite something: a file of another kind, or a kerascnn export without ``overwrite``."""
    out = Path(out)
    if out.suffix != suffix:
        kind = {"tflite": "A TFLite", "onnx": "An ONNX"}.get(fmt, fmt)
        raise KerasCNNError(f"{kind} export is a file ending in {suffix}. Received --out {out}")
    side = sidecar_path(out)
    for path in (out, side):
        if path.is_dir():
            raise ArtifactError(f"{path} is a folder: choose another --out.")
    info = read_marker(side) if side.exists() else None
    if side.exists() and (info is None or info.get("format") != fmt):
        raise ArtifactError(f"{side} exists and is not a kerascnn export: choose another --out.")
    if out.exists():
        if info is None:
            raise ArtifactError(f"{out} exists and is not a kerascnn export: choose another --out.")
        if not overwrite:
            raise ArtifactError(f"{out} exists: pass --overwrite to replace it, or choose another --out.")
    return out


def export_tflite(source, out, quantize: str = "none", **options) -> ExportResult:
    """Export a trained model to ``out`` (a ``.tflite`` path), holding ``out``'s lock: two exports to one path
    never both write it (the second says which process holds it). Arguments: :func:`_export_tflite`."""
    from kerascnn.fsutil import lock_path

    with lock_path(out, advice="wait for that export to finish, or choose another --out"):
        return _export_tflite(source, out, quantize, **options)


def _export_tflite(
    source,
    out,
    quantize: str = "none",
    *,
    spec=None,
    calibration_images=None,
    test_images=None,
    test_labels=None,
    check_parity: bool = True,
    overwrite: bool = False,
    gray_input: bool = False,
    author: str = "unspecified",
    license: str = "unspecified",
    version: str | None = None,
) -> ExportResult:
    """Export a trained model to ``out`` (a ``.tflite`` path) with ``out``'s ``.json`` beside it.

    The ``.tflite`` carries TFLite model metadata (see :mod:`kerascnn.export.tflite_metadata`): MediaPipe
    Tasks' ``ImageClassifier`` and ``kerascnn predict`` load it alone and return class names.

    Args:
        source: a run directory, a ``.keras`` file, or a ``keras.Model`` (with ``spec``).
        out: the ``.tflite`` file to write.
        quantize: "none", "float16", "dynamic" or "int8".
        spec: the DataSpec when ``source`` is a ``keras.Model``.
        calibration_images: raw uint8 training images (int8 only; 300 are drawn).
        test_images: raw uint8 ``[N, h, w, c]`` test images for the parity report.
        test_labels: their labels, for the accuracies.
        check_parity: measure parity and refuse an export that misses its bound (needs ``test_images``).
        overwrite: replace an existing kerascnn ``.tflite`` export at ``out``.
        gray_input: a model trained on grayscale images takes 1-channel images instead of RGB frames
            (by default it takes RGB and converts to gray inside, as camera apps and MediaPipe need).
        author, license, version: the metadata's fields (``version`` defaults to the export's time).

    Returns:
        ExportResult with the ``.tflite`` path and the parity report.

    Raises:
        ParityError: the export misses its bound (see ``kerascnn.export.parity``); nothing is written.
    """
    from kerascnn.export import parity
    from kerascnn.export.tflite_metadata import metadata_buffer, with_metadata
    from kerascnn.fsutil import (
        atomic_write_bytes,
        atomic_write_json,
        locked_temporary_directory,
        remove_stale_temporaries,
    )

    model, spec, name = load_source(source, spec)
    out = check_target(out, overwrite)
    # What exports to this path that were killed left: the half-written .tflite or .json.
    remove_stale_temporaries(out.parent, "|".join(re.escape(p.name) for p in (out, sidecar_path(out))))
    if quantize not in QUANTIZE_MODES:
        raise KerasCNNError(f"quantize must be one of {', '.join(QUANTIZE_MODES)}. Received: {quantize!r}")
    channels = input_channels(spec, gray_input)
    if calibration_images is not None:
        calibration_images = as_input_images(check_images(calibration_images, spec, "calibration_images"), channels)
    if check_parity:
        if test_images is None:
            raise KerasCNNError("A parity report needs test_images (raw uint8); or pass check_parity=False.")
        test_images = check_images(test_images, spec, "test_images")
    with locked_temporary_directory("kerascnn-tflite") as saved_model_dir:
        write_convertible_saved_model(model, spec, saved_model_dir, channels, rounded_gray=quantize != "int8")
        content = convert_saved_model(saved_model_dir, quantize, calibration_images, what=name)
        # The int8 size bound is relative to the float32 file of the same model.
        float32_size = None
        if check_parity and quantize == "int8":
            float32_size = len(convert_saved_model(saved_model_dir, "none", what=name))
    interp = interpreter(model_content=content)
    report = None
    if check_parity:
        report = parity.compare(
            reference_probabilities(model, spec, test_images),
            run_interpreter(interp, as_input_images(test_images, channels)),
            test_labels,
            size_bytes=len(content),
            float32_size_bytes=float32_size,
        )
        if channels != spec.image_shape[2]:
            report["input"] = "gray test images given as RGB (three equal channels)"
        parity.check(report, f"tflite-{quantize}", what=f"TFLite export of {name}")
    h, w, c = spec.image_shape
    color = "RGB" if channels == 3 else "GRAYSCALE"
    created = marker(FORMAT, name, spec)["created"]
    info = ModelInfo(
        name=name,
        description=(
            f"{name} image classifier trained on {spec.dataset}: {h}x{w} {color} uint8 images in, "
            f"probabilities of {spec.num_classes} classes out ({quantize_description(quantize)})."
        ),
        version=version or created,
        author=author,
        license=license,
    )
    graph_size = len(content)  # the parity report's size (and int8 size ratio) is of the graphs alone
    content = with_metadata(content, metadata_buffer(info, spec.class_names, color), spec.class_names)
    out_details = interp.get_output_details()[0]
    scale, zero_point = out_details["quantization"]
    metadata = marker(
        FORMAT,
        name,
        spec,
        quantize=quantize,
        file=out.name,
        size_bytes=len(content),
        metadata_bytes=len(content) - graph_size,
        sha256=hashlib.sha256(content).hexdigest(),
        input={
            "name": "images",
            "dtype": "uint8",
            "shape": [-1, h, w, channels],
            "color": color,
            "note": "raw pixels 0..255; preprocessing is inside the model"
            + ("; RGB is converted to gray inside" if channels != c else ""),
        },
        output={
            "name": "probabilities",
            "dtype": np.dtype(out_details["dtype"]).name,
            "shape": [-1, spec.num_classes],
            "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None,
        },
        tflite_metadata=dataclasses.asdict(info),
        parity=report,
    )
    # The .json first: its sha256 ties the two together (the class names are in the .tflite too).
    atomic_write_json(sidecar_path(out), metadata)
    atomic_write_bytes(out, content)
    make_readable(sidecar_path(out), out)
    return ExportResult(path=out, format=FORMAT, quantize=quantize, parity=report, metadata=metadata)


def quantize_description(quantize: str) -> str:
    return {
        "none": "float32",
        "float16": "float16 weights",
        "dynamic": "int8 weights, dynamic range",
        "int8": "full int8, uint8 output scaled by 1/256",
    }[quantize]


def read_export_info(tflite_path) -> dict:
    """The marker beside a kerascnn ``.tflite`` file, or ``ArtifactError``."""
    side = sidecar_path(tflite_path)
    info = read_marker(side) if side.exists() else None
    if info is None or info.get("format") != FORMAT:
        raise ArtifactError(
            f"{tflite_path} has no kerascnn {side.name} beside it (class names and input spec): "
            "export it with `kerascnn export --format tflite`."
        )
    return info
