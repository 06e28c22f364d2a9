"""Parity of an export with the Keras model it came from, measured on the test set, and its bounds.

A report compares the export's probabilities with the Keras model's on the same raw test images:

    agreement            share of images where both predict the same class (top-1)
    max_abs_prob_diff    largest |p_export - p_keras| over all images and classes
    accuracy_keras       accuracy of the Keras model on these images
    accuracy_export      accuracy of the export on these images
    accuracy_drop        accuracy_keras - accuracy_export (points / 100)
    size_bytes           size of the exported file (or folder; for TFLite the graph, without its metadata)

Bounds (an export that misses one is not written): float32 (SavedModel, TFLite ``none``, ONNX) and
float16 agree on >= 99.9% of images; ONNX also differs by at most 1e-4 in any probability;
dynamic-range and int8 agree on >= 99%, lose at most 0.5 points of accuracy; an int8 file is at most
30% of the float32 file.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerascnn.errors import KerasCNNError


class ParityError(KerasCNNError):
    """An export whose outputs differ from the Keras model's by more than its bounds allow."""


@dataclasses.dataclass(frozen=True)
class Bounds:
    min_agreement: float
    max_accuracy_drop: float | None = None
    max_size_ratio: float | None = None  # of the float32 TFLite file
    max_abs_prob_diff: float | None = None


BOUNDS = {
    "saved_model": Bounds(min_agreement=0.999),
    "tflite-none": Bounds(min_agreement=0.999),
    "tflite-float16": Bounds(min_agreement=0.999),
    "tflite-dynamic": Bounds(min_agreement=0.99, max_accuracy_drop=0.005),
    "tflite-int8": Bounds(min_agreement=0.99, max_accuracy_drop=0.005, max_size_ratio=0.30),
    "onnx": Bounds(min_agreement=0.999, max_abs_prob_diff=1e-4),
}


def compare(
    reference_probabilities, export_probabilities, labels=None, *, size_bytes=None, float32_size_bytes=None
) -> dict:
    """The parity numbers of ``export_probabilities`` against ``reference_probabilities`` ([N, K] each).

    ``labels`` ([N] ints) adds the accuracies; ``float32_size_bytes`` adds ``size_ratio``.
    """
    ref = np.asarray(reference_probabilities, np.float32)
    out = np.asarray(export_probabilities, np.float32)
    if ref.shape != out.shape or ref.ndim != 2 or len(ref) == 0:
        raise ValueError(f"Expected two [N, K] arrays of the same shape. Received: {ref.shape} and {out.shape}")
    ref_top, out_top = ref.argmax(axis=1), out.argmax(axis=1)
    report = {
        "images": int(len(ref)),
        "agreement": float((ref_top == out_top).mean()),
        "disagreements": int((ref_top != out_top).sum()),
        "max_abs_prob_diff": float(np.abs(ref - out).max()),
    }
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        report["accuracy_keras"] = float((ref_top == labels).mean())
        report["accuracy_export"] = float((out_top == labels).mean())
        report["accuracy_drop"] = report["accuracy_keras"] - report["accuracy_export"]
    if size_bytes is not None:
        report["size_bytes"] = int(size_bytes)
    if float32_size_bytes:
        report["float32_size_bytes"] = int(float32_size_bytes)
        report["size_ratio"] = float(size_bytes) / float(float32_size_bytes)
    return report


def violations(report: dict, kind: str) -> list[str]:
    """The bounds of ``kind`` (a key of ``BOUNDS``) that ``report`` misses, as readable sentences."""
    bounds = BOUNDS[kind]
    missed = []
    if report["agreement"] < bounds.min_agreement:
        missed.append(
            f"top-1 agreement {report['agreement']:.2%} < {bounds.min_agreement:.1%} "
            f"({report['disagreements']} of {report['images']} images differ)"
        )
    if bounds.max_accuracy_drop is not None and "accuracy_drop" in report:
        if report["accuracy_drop"] > bounds.max_accuracy_drop + 1e-12:
            missed.append(
                f"accuracy {report['accuracy_export']:.2%} vs Keras {report['accuracy_keras']:.2%}: "
                f"{report['accuracy_drop'] * 100:.2f} points lost > {bounds.max_accuracy_drop * 100:.1f}"
            )
    if bounds.max_abs_prob_diff is not None and report["max_abs_prob_diff"] > bounds.max_abs_prob_diff:
        missed.append(f"max |dp| {report['max_abs_prob_diff']:.2e} > {bounds.max_abs_prob_diff:.0e}")
    if bounds.max_size_ratio is not None and "size_ratio" in report:
        if report["size_ratio"] > bounds.max_size_ratio:
            missed.append(
                f"file {report['size_bytes']:,} bytes = {report['size_ratio']:.1%} of float32's "
                f"{report['float32_size_bytes']:,} > {bounds.max_size_ratio:.0%}"
            )
    return missed


def check(report: dict, kind: str, what: str = "export") -> dict:
    """Add ``kind``, its bounds and ``passed`` to ``report``; raise ``ParityError`` if a bound is missed."""
    report["kind"] = kind
    report["bounds"] = {k: v for k, v in dataclasses.asdict(BOUNDS[kind]).items() if v is not None}
    missed = violations(report, kind)
    report["passed"] = not missed
    if missed:
        raise ParityError(f"{what} ({kind}) misses its parity bound, nothing written: " + "; ".join(missed) + ".")
    return report


def format_table(reports: dict) -> str:
    """A plain-text table of parity reports, one row per ``{name: report}``."""
    header = ("export", "images", "agree", "max|dp|", "acc keras", "acc export", "drop pts", "size", "passed")
    rows = [header]
    for name, r in reports.items():
        rows.append(
            (
                name,
                str(r.get("images", "")),
                f"{r['agreement']:.2%}" if "agreement" in r else "",
                f"{r['max_abs_prob_diff']:.2e}" if "max_abs_prob_diff" in r else "",
                f"{r['accuracy_keras']:.2%}" if "accuracy_keras" in r else "",
                f"{r['accuracy_export']:.2%}" if "accuracy_export" in r else "",
                f"{r['accuracy_drop'] * 100:+.2f}" if "accuracy_drop" in r else "",
                _size(r.get("size_bytes")) + (f" ({r['size_ratio']:.1%})" if "size_ratio" in r else ""),
                {True: "yes", False: "NO"}.get(r.get("passed"), ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _size(n) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
