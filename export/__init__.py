"""Export a trained model for serving (SavedModel, TF Serving layout), devices (TFLite) and ONNX runtimes.

    from kerascnn.export import export
    result = export("runs/lenet", "models/lenet", format="saved_model",
                    test_images=x_test, test_labels=y_test)           # models/lenet/1/
    result = export("runs/lenet", "models/lenet_int8.tflite", format="tflite", quantize="int8",
                    calibration_images=x_train, test_images=x_test, test_labels=y_test)
    print(result.parity)                                             # agreement, accuracies, size
    export("runs/lenet", "models/lenet.onnx", format="onnx", test_images=x_test)  # ONNX Runtime, OpenVINO

Images are raw uint8 ``[N, h, w, c]`` at the data's native size everywhere; every export takes them as
they are and preprocesses inside its graph (a TFLite export of a grayscale model takes RGB frames by
default and converts them inside). One module per format: ``saved_model``, ``tflite`` (with
``tflite_metadata``, what MediaPipe Tasks read), ``onnx``; ``parity`` measures and bounds them against
the Keras model; ``graph`` holds the functions they run.
"""

from __future__ import annotations

from kerascnn.export.artifacts import MARKER_FILE, ExportResult, load_source  # noqa: F401
from kerascnn.export.parity import BOUNDS, ParityError, format_table  # noqa: F401
from kerascnn.export.saved_model import existing_versions, export_saved_model, latest_version  # noqa: F401
from kerascnn.export.tflite import QUANTIZE_MODES, export_tflite, sidecar_path  # noqa: F401
from kerascnn.export.tflite_metadata import read_metadata  # noqa: F401

FORMATS = ("saved_model", "tflite", "onnx")


def export(source, out, format: str = "saved_model", quantize: str = "none", **kwargs) -> ExportResult:
    """Export ``source`` (run directory, ``.keras`` file, or ``keras.Model`` with ``spec=``) to ``out``.

    ``format="saved_model"`` writes the next version folder of the model base folder ``out``;
    ``format="tflite"`` writes the ``.tflite`` file ``out`` and its ``.json``; ``format="onnx"`` the
    ``.onnx`` file and its ``.json``. Other keyword arguments go to :func:`export_saved_model`,
    :func:`export_tflite` or :func:`export_onnx`; those a format has no use for (``quantize`` and
    ``calibration_images`` but for TFLite, ``overwrite=True`` for a SavedModel) are refused, not ignored.
    """
    from kerascnn.errors import KerasCNNError

    if format == "saved_model":
        if quantize not in (None, "none"):
            raise KerasCNNError(
                f"A SavedModel is float32; quantize is for format='tflite'. Received: quantize={quantize!r}"
            )
        if kwargs.pop("calibration_images", None) is not None:
            raise KerasCNNError("A SavedModel is float32: calibration_images is for format='tflite', quantize='int8'.")
        if kwargs.pop("overwrite", False):
            raise KerasCNNError(
                "A SavedModel export never replaces one: it adds the next version folder of out "
                "(overwrite is for format='tflite')."
            )
        return export_saved_model(source, out, **kwargs)
    if format == "tflite":
        return export_tflite(source, out, quantize or "none", **kwargs)
    if format == "onnx":
        if quantize not in (None, "none"):
            raise KerasCNNError(
                f"An ONNX export is float32; quantize is for format='tflite'. Received: quantize={quantize!r}"
            )
        if kwargs.pop("calibration_images", None) is not None:
            raise KerasCNNError(
                "An ONNX export is float32: calibration_images is for format='tflite', quantize='int8'."
            )
        from kerascnn.export.onnx import export_onnx

        return export_onnx(source, out, **kwargs)
    raise KerasCNNError(f"format must be one of {', '.join(FORMATS)}. Received: {format!r}")
