"""Parity numbers and bounds."""

from __future__ import annotations

import numpy as np
import pytest

from kerascnn.export import parity


def _probs(top, k=4, confidence=0.7):
    p = np.full((len(top), k), (1 - confidence) / (k - 1), np.float32)
    p[np.arange(len(top)), top] = confidence
    return p


def test_compare_counts_agreement_accuracy_and_size():
    labels = np.array([0, 1, 2, 3] * 250)
    reference = _probs(labels)
    export_top = labels.copy()
    export_top[:3] = (export_top[:3] + 1) % 4  # three disagreements, all on correct reference answers
    report = parity.compare(reference, _probs(export_top), labels, size_bytes=300, float32_size_bytes=1000)
    assert report["images"] == 1000
    assert report["disagreements"] == 3
    assert report["agreement"] == pytest.approx(0.997)
    assert report["max_abs_prob_diff"] == pytest.approx(0.6)
    assert report["accuracy_keras"] == 1.0
    assert report["accuracy_export"] == pytest.approx(0.997)
    assert report["accuracy_drop"] == pytest.approx(0.003)
    assert report["size_ratio"] == pytest.approx(0.3)


def test_bounds_of_each_kind():
    labels = np.arange(1000) % 4
    reference = _probs(labels)
    two_off = labels.copy()
    two_off[:2] += 1
    two_off %= 4
    report = parity.compare(reference, _probs(two_off), labels)  # 99.8% agreement, 0.2 points lost
    assert parity.violations(report, "tflite-int8") == []
    assert parity.violations(report, "tflite-dynamic") == []
    missed = parity.violations(report, "tflite-none")
    assert len(missed) == 1 and "99.80% < 99.9%" in missed[0] and "2 of 1000" in missed[0]
    with pytest.raises(parity.ParityError, match=r"misses its parity bound.*99\.80% < 99\.9%"):
        parity.check(dict(report), "saved_model")
    checked = parity.check(dict(report), "tflite-int8")
    assert checked["passed"] is True and checked["bounds"]["min_agreement"] == 0.99


def test_int8_accuracy_and_size_bounds():
    labels = np.arange(1000) % 4
    six_off = labels.copy()
    six_off[:6] += 1
    six_off %= 4
    report = parity.compare(_probs(labels), _probs(six_off), labels, size_bytes=310, float32_size_bytes=1000)
    missed = parity.violations(report, "tflite-int8")
    assert any("0.60 points lost > 0.5" in m for m in missed)
    assert any("31.0% of float32's" in m for m in missed)


def test_compare_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        parity.compare(np.zeros((3, 4)), np.zeros((3, 5)))


def test_format_table_has_a_row_per_report():
    labels = np.arange(8) % 4
    report = parity.check(parity.compare(_probs(labels), _probs(labels), labels, size_bytes=2048), "tflite-none")
    table = parity.format_table({"float32": report, "int8": dict(report, passed=False)})
    lines = table.splitlines()
    assert len(lines) == 3 and lines[0].startswith("export")
    assert "100.00%" in lines[1] and "2.0 KB" in lines[1] and lines[1].endswith("yes")
    assert lines[2].endswith("NO")
