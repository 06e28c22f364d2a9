"""Checks too long for the default run are skipped unless their marker is selected (``-m onnx_zoo``)."""

from __future__ import annotations

import pytest

OPT_IN_MARKERS = ("onnx_zoo",)


def pytest_collection_modifyitems(config, items):
    selected = config.option.markexpr or ""
    for marker in OPT_IN_MARKERS:
        if marker in selected:
            continue
        skip = pytest.mark.skip(reason=f"long: run with -m {marker}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)
