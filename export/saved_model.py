"""SavedModel export in TF Serving's layout: ``OUT/<version>/``, one new integer version per export.

    OUT/                        the model base path a TF Serving (or ``kerascnn serve``) points at
      1/                        an older export, never touched again
      2/                        written as .2.tmp-XXXX beside it, renamed when complete
        saved_model.pb, variables/
        assets/labels.txt       class names, one per line, index order
        assets/data_spec.json   the DataSpec the model was trained with
        parity.json             agreement with the Keras model on the test set
        kerascnn_export.json    the marker: format, model, created, library versions, signatures

Signatures (all load with plain ``tf.saved_model.load``, no kerascnn needed):

    serving_default  images       uint8  [N, h, w, c]  raw pixels at the data's native size
    serving_bytes    image_bytes  string [N]           encoded PNG/JPEG/GIF/BMP (REST: {"b64": ...})
        -> probabilities float32 [N, K] (softmax), classes int64 [N]
    classification   inputs       string [N]           serialized tf.Examples: image/encoded or image/pixels
        -> classes string [N, K] (class names, best first), scores float32 [N, K]
        method tensorflow/serving/classify: TF Serving's Classify API (REST :classify, gRPC Classify)

Preprocessing (``kerascnn.data.spec.preprocess``) runs inside the graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn.errors import ArtifactError, KerasCNNError
from kerascnn.export.artifacts import (
    LABELS_FILE,
    MARKER_FILE,
    PARITY_FILE,
    ExportResult,
    check_images,
    folder_size,
    load_source,
    make_readable,
    marker,
    read_marker,
    reference_probabilities,
)

FORMAT = "saved_model"
SIGNATURES = {
    "serving_default": {
        "inputs": {"images": "uint8 [N, h, w, c]"},
        "outputs": {"probabilities": "float32 [N, K]", "classes": "int64 [N]"},
    },
    "serving_bytes": {
        "inputs": {"image_bytes": "string [N] (PNG/JPEG)"},
        "outputs": {"probabilities": "float32 [N, K]", "classes": "int64 [N]"},
    },
    "classification": {
        "inputs": {"inputs": "string [N] (tf.Example: image/encoded or image/pixels)"},
        "outputs": {"classes": "string [N, K] (best first)", "scores": "float32 [N, K]"},
        "method_name": "tensorflow/serving/classify",
    },
}
CLASSIFY_METHOD = "tensorflow/serving/classify"


def existing_versions(base, hint: str = ": choose another --out") -> list[int]:
    """The kerascnn SavedModel versions in the model base folder ``base`` (empty if it does not exist).

    Raises ``ArtifactError`` if ``base`` exists and holds anything else: kerascnn writes only into an
    empty folder or one it made.
    """
    base = Path(base)
    if not base.exists():
        return []
    if not base.is_dir():
        raise ArtifactError(f"{base} is a file, not a kerascnn export folder{hint}.")
    if (base / "saved_model.pb").exists():
        raise ArtifactError(
            f"{base} is a SavedModel version folder; pass the model folder that holds the versions "
            f"(e.g. {base.parent}) or a new one."
        )
    versions = []
    for entry in sorted(base.iterdir()):
        if entry.name.startswith("."):  # unfinished exports being written, editor files
            continue
        info = read_marker(entry / MARKER_FILE) if entry.is_dir() and entry.name.isdigit() else None
        if info is None or info.get("format") != FORMAT:
            raise ArtifactError(
                f"{base} is not a kerascnn export folder ({entry.name!r} is not a kerascnn SavedModel version){hint}."
            )
        versions.append(int(entry.name))
    return versions


def latest_version(base, hint: str = "") -> Path:
    """The highest version folder in the model base folder ``base``."""
    versions = existing_versions(base, hint)
    if not versions:
        raise ArtifactError(f"No kerascnn SavedModel version in {base}.")
    return Path(base) / str(max(versions))


def write_saved_model(model, spec, directory) -> None:
    """Write the SavedModel with both signatures (see the module docstring) into ``directory``."""
    import keras
    import tensorflow as tf

    from kerascnn.data.spec import preprocess
    from kerascnn.export.graph import classification_fn, decode_images_fn, examples_to_images_fn, probabilities_fn

    h, w, c = spec.image_shape
    serve = probabilities_fn(model, lambda images: preprocess(images, spec))
    decode = decode_images_fn(spec)
    classify = classification_fn(serve, examples_to_images_fn(spec), spec.class_names)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", serve, input_signature=[tf.TensorSpec([None, h, w, c], tf.uint8, name="images")]
    )
    archive.add_endpoint(
        "serving_bytes",
        lambda image_bytes: serve(decode(image_bytes)),
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    archive.add_endpoint("classification", classify, input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    archive.write_out(str(directory), verbose=False)
    set_method_name(directory, "classification", CLASSIFY_METHOD)
    assets = Path(directory) / "assets"
    assets.mkdir(exist_ok=True)
    (assets / LABELS_FILE).write_text("".join(f"{name}\n" for name in spec.class_names))
    spec.save(assets)


def set_method_name(directory, signature: str, method_name: str) -> None:
    """Mark a signature as TF Serving's Classify/Regress kind in ``saved_model.pb``.

    TensorFlow 2 writes every signature with the predict method name, and TF Serving's Classify API
    refuses those; the SignatureDef's ``method_name`` is all that differs. The file is rewritten
    through a temporary file and a rename, and its fingerprint written anew.
    """
    import os

    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(directory) / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for graph in saved_model.meta_graphs:
        if signature in graph.signature_def:
            graph.signature_def[signature].method_name = method_name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(saved_model.SerializeToString(deterministic=True))
    os.replace(tmp, path)
    from kerascnn.compat import write_saved_model_fingerprint

    write_saved_model_fingerprint(directory)


def saved_model_probabilities(directory, images, batch_size: int = 256) -> np.ndarray:
    """Run ``serving_default`` of the SavedModel in ``directory`` on uint8 ``images``, as a server would."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(directory)).signatures["serving_default"]
    chunks = [
        serve(images=tf.constant(images[i : i + batch_size]))["probabilities"].numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks)


def export_saved_model(
    source, out, *, spec=None, test_images=None, test_labels=None, check_parity: bool = True
) -> ExportResult:
    """Export a trained model as the next version of the SavedModel base folder ``out``.

    Args:
        source: a run directory, a ``.keras`` file, or a ``keras.Model`` (with ``spec``).
        out: the model base folder (TF Serving's ``--model_base_path``); created if missing.
        spec: the DataSpec when ``source`` is a ``keras.Model``.
        test_images: raw uint8 ``[N, h, w, c]`` test images for the parity report.
        test_labels: their labels (ints), for the accuracies in the report.
        check_parity: measure parity and refuse an export that misses its bound (needs ``test_images``).

    Returns:
        ExportResult with the new version folder and the parity report.

    Raises:
        ArtifactError: ``out`` holds something that is not a kerascnn export, or the source is unusable.
        ParityError: the SavedModel's top-1 agreement with Keras is below 99.9%; nothing is written.
    """
    from kerascnn.export import parity
    from kerascnn.fsutil import atomic_directory, atomic_write_json, remove_stale_temporaries

    model, spec, name = load_source(source, spec)
    base = Path(out)
    versions = existing_versions(base)
    remove_stale_temporaries(base, r"\d+")  # version folders of exports that were killed
    if check_parity:
        if test_images is None:
            raise KerasCNNError("A parity report needs test_images (raw uint8); or pass check_parity=False.")
        test_images = check_images(test_images, spec, "test_images")
    version = max(versions, default=0) + 1
    final = base / str(version)
    report = None
    try:
        with atomic_directory(final) as tmp:
            write_saved_model(model, spec, tmp)
            if check_parity:
                reference = reference_probabilities(model, spec, test_images)
                exported = saved_model_probabilities(tmp, test_images)
                report = parity.compare(reference, exported, test_labels, size_bytes=folder_size(tmp))
                parity.check(report, "saved_model", what=f"SavedModel export of {name}")
                atomic_write_json(tmp / PARITY_FILE, report)
            metadata = marker(FORMAT, name, spec, version=version, signatures=SIGNATURES, parity=report)
            # The marker goes last: a folder with a marker is a complete kerascnn export.
            atomic_write_json(tmp / MARKER_FILE, metadata)
            make_readable(tmp)
    except FileExistsError:
        raise ArtifactError(f"{final} appeared while exporting (another export running?): try again.") from None
    return ExportResult(path=final, format=FORMAT, quantize="none", parity=report, metadata=metadata)


def read_export_info(version_dir) -> dict:
    """The marker of a kerascnn SavedModel version folder, or ``ArtifactError``."""
    info = read_marker(Path(version_dir) / MARKER_FILE)
    if info is None or info.get("format") != FORMAT:
        raise ArtifactError(f"{version_dir} is not a kerascnn SavedModel export (no valid {MARKER_FILE}).")
    return info
