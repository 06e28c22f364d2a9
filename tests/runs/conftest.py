"""``faults``-marked tests (real processes killed, full and read-only file systems, files changed under a running
fit; a few minutes on 2 cores) run on request only: ``pytest tests/runs -m faults``."""

import pytest


def pytest_collection_modifyitems(config, items):
    if "faults" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="a fault-injection test: run with -m faults")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)
