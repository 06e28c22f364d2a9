"""TFLite model metadata: what app runtimes (MediaPipe Tasks, the LiteRT support library) read from a ``.tflite``.

A ``.tflite`` file written by kerascnn carries, in the standard metadata schema (``metadata_schema.fbs``,
identifier ``M001``):

    name, description, version, author, license          of the model
    input  "image"          ImageProperties (RGB or GRAYSCALE), value range 0..255
                            (+ NormalizationOptions when the input tensor is float: kerascnn's are uint8
                            and normalize inside the graph)
    output "probability"    FeatureProperties, range 0..1, the class names as labels.txt
                            (an associated file of type TENSOR_AXIS_LABELS)

The metadata flatbuffer is a buffer of the model named ``TFLITE_METADATA``; the label file is stored
(uncompressed) in a zip archive appended to the model, as the support library's MetadataPopulator does,
so MediaPipe's ``ImageClassifier`` returns class names and ``kerascnn predict`` needs no other file.

The schema is written with the ``flatbuffers`` package and the schema's generated classes
(:mod:`kerascnn.export.metadata_schema_py_generated`): ``tflite-support``, the published writer, pins
protobuf < 4, which TensorFlow 2.21 does not run with, and MediaPipe's writer needs C++ modules its
wheel does not ship.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zipfile

import numpy as np

from kerascnn.errors import ArtifactError

METADATA_NAME = "TFLITE_METADATA"  # the model metadata entry MediaPipe and the support library look up
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
LABELS_FILE = "labels.txt"
# Every field written here is in schema 1.0.0; a parser at least that new reads all of it.
MIN_PARSER_VERSION = "1.0.0"


@dataclasses.dataclass
class ModelInfo:
    """The human-facing fields of a model's metadata."""

    name: str
    description: str
    version: str
    author: str
    license: str


def metadata_buffer(info: ModelInfo, class_names, color_space: str, input_dtype=np.uint8, mean=None, std=None) -> bytes:
    """The ``ModelMetadata`` flatbuffer of an image classifier with ``class_names``.

    Args:
        color_space: "RGB" or "GRAYSCALE": the input image the graph takes.
        input_dtype: the input tensor's type; a float input also gets ``NormalizationOptions(mean, std)``
            (in the tensor's units, ``(pixel - mean) / std``), which runtimes apply before feeding it.
    """
    import flatbuffers

    from kerascnn.export import metadata_schema_py_generated as fb

    image = fb.ImagePropertiesT()
    image.colorSpace = {"RGB": fb.ColorSpaceType.RGB, "GRAYSCALE": fb.ColorSpaceType.GRAYSCALE}[color_space]
    input_md = fb.TensorMetadataT()
    input_md.name = "image"
    input_md.content = fb.ContentT()
    input_md.content.contentPropertiesType = fb.ContentProperties.ImageProperties
    input_md.content.contentProperties = image
    input_md.stats = fb.StatsT()
    if np.dtype(input_dtype).kind == "f":
        if mean is None or std is None:
            raise ValueError("A float input needs the mean and std that map pixels 0..255 to it.")
        normalization = fb.NormalizationOptionsT()
        normalization.mean, normalization.std = [float(m) for m in mean], [float(s) for s in std]
        unit = fb.ProcessUnitT()
        unit.optionsType = fb.ProcessUnitOptions.NormalizationOptions
        unit.options = normalization
        input_md.processUnits = [unit]
        input_md.stats.min = [(0.0 - m) / s for m, s in zip(normalization.mean, normalization.std)]
        input_md.stats.max = [(255.0 - m) / s for m, s in zip(normalization.mean, normalization.std)]
        input_md.description = f"{color_space} image, normalized as (pixel - mean) / std."
    else:
        input_md.stats.min, input_md.stats.max = [0.0], [255.0]
        input_md.description = (
            f"{color_space} image, uint8 pixels 0..255 at the model's input size; scaling, "
            "color conversion and normalization are inside the model."
        )

    labels = fb.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "Class names, one per line, in output order."
    labels.type = fb.AssociatedFileType.TENSOR_AXIS_LABELS
    output_md = fb.TensorMetadataT()
    output_md.name = "probability"
    output_md.description = f"Probabilities of the {len(class_names)} classes (softmax)."
    output_md.content = fb.ContentT()
    output_md.content.contentPropertiesType = fb.ContentProperties.FeatureProperties
    output_md.content.contentProperties = fb.FeaturePropertiesT()
    output_md.stats = fb.StatsT()
    output_md.stats.min, output_md.stats.max = [0.0], [1.0]
    output_md.associatedFiles = [labels]

    subgraph = fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [input_md]
    subgraph.outputTensorMetadata = [output_md]
    model = fb.ModelMetadataT()
    model.name, model.description, model.version = info.name, info.description, info.version
    model.author, model.license = info.author, info.license
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def with_metadata(model_content: bytes, metadata: bytes, class_names) -> bytes:
    """``model_content`` with ``metadata`` as its ``TFLITE_METADATA`` buffer and ``labels.txt`` appended.

    Any metadata and associated files the model had are replaced.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_content), 0)  # an appended zip is ignored
    entries = [m for m in (model.metadata or []) if _text(m.name) != METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    model.buffers = list(model.buffers or []) + [buffer]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = entries + [entry]
    builder = flatbuffers.Builder(1024 + len(model_content))
    builder.Finish(model.Pack(builder), MODEL_IDENTIFIER)
    packed = io.BytesIO()
    packed.write(bytes(builder.Output()))
    # Stored, not compressed: runtimes hand out associated files as views into the model's memory.
    with zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_FILE, "".join(f"{name}\n" for name in class_names))
    return packed.getvalue()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def read_metadata(model_content: bytes) -> dict | None:
    """What a ``.tflite`` file's metadata says, or None if it has none.

    Returns:
        dict with name, description, version, author, license, color_space ("RGB"/"GRAYSCALE"/None) and
        class_names (from the output's TENSOR_AXIS_LABELS file; None if it has none).
    """
    from ai_edge_litert import schema_py_generated as schema

    from kerascnn.export import metadata_schema_py_generated as fb

    try:
        model = schema.Model.GetRootAs(model_content, 0)
        index = next(
            (
                model.Metadata(i).Buffer()
                for i in range(model.MetadataLength())
                if _text(model.Metadata(i).Name()) == METADATA_NAME
            ),
            None,
        )
        if index is None:
            return None
        data = model.Buffers(index).DataAsNumpy()
        if isinstance(data, int) or not len(data):  # no inline data: the buffer lies outside the flatbuffer
            return None
        data = data.tobytes()
        if not fb.ModelMetadata.ModelMetadataBufferHasIdentifier(data, 0):
            return None
        md = fb.ModelMetadataT.InitFromPackedBuf(bytearray(data), 0)
    except (IndexError, ValueError, TypeError, AttributeError, struct.error) as e:  # a corrupt flatbuffer
        raise ArtifactError(f"Cannot read the model's metadata: {e}") from None
    result = {key: _text(getattr(md, key)) for key in ("name", "description", "version", "author", "license")}
    result["color_space"] = None
    result["class_names"] = None
    subgraph = (md.subgraphMetadata or [None])[0]
    if subgraph is None:
        return result
    inputs, outputs = subgraph.inputTensorMetadata or [], subgraph.outputTensorMetadata or []
    if (
        inputs
        and inputs[0].content is not None
        and isinstance(inputs[0].content.contentProperties, fb.ImagePropertiesT)
    ):
        space = inputs[0].content.contentProperties.colorSpace
        result["color_space"] = {fb.ColorSpaceType.RGB: "RGB", fb.ColorSpaceType.GRAYSCALE: "GRAYSCALE"}.get(space)
    labels = (
        next(
            (
                _text(f.name)
                for f in (outputs[0].associatedFiles or [])
                if outputs and f.type == fb.AssociatedFileType.TENSOR_AXIS_LABELS
            ),
            None,
        )
        if outputs
        else None
    )
    if labels:
        result["class_names"] = associated_file(model_content, labels).decode().splitlines()
    return result


def associated_file(model_content: bytes, name: str) -> bytes:
    """The associated file ``name`` packed after the model, or ``ArtifactError``."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_content)) as archive:
            return archive.read(name)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ArtifactError(f"The model's metadata names {name!r}, but it is not packed in the model: {e}") from None
