"""Fixtures of the inference tests: the trained LeNet run and exports of tests/export (shared per session)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _helper():
    name = "kerascnn_tests_trained_run"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "export" / "trained_run.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def digits():
    return _helper().digits_arrays()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    return _helper().trained_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``exported("saved_model")`` -> model base folder; ``exported("tflite-int8")`` -> .tflite path."""
    return lambda kind: _helper().exported(tmp_path_factory.getbasetemp(), kind)
