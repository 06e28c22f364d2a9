"""kerascnn.compat: checked on the installed versions, and the only module using private internals."""

from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

import pytest

from kerascnn import compat

ROOT = Path(__file__).resolve().parents[1]
# The installed packages' sources (pyproject's package-dir) and the benchmarks.
SOURCE_DIRS = ("kerascnn", "tuning", "export", "benchmarks")
COMPAT = ROOT / "kerascnn" / "compat.py"

# Reaching into a library's private modules (keras.src, keras_tuner.src, tensorflow.python) or
# multiprocessing's start-method internals.
PRIVATE_MODULES = re.compile(
    r"\b(keras\.src|keras_tuner\.src|tensorflow\.python|tf\.python)\b|\bspawn\.get_preparation_data\b|\b_forkserver\b"
)


def _installed_version(package: str) -> str:
    names = (package, "tensorflow-cpu") if package == "tensorflow" else (package,)
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


@pytest.mark.parametrize("package", sorted(compat.CHECKED_VERSIONS))
def test_installed_versions_are_the_ones_compat_was_checked_on(package):
    checked, installed = compat.CHECKED_VERSIONS[package], _installed_version(package)
    assert installed == checked, (
        f"kerascnn/compat.py was checked on {package} {checked}, but {package} {installed} is installed: "
        "its entries reach into private internals that change without notice. Re-check each entry there "
        "(and its upstream issue: fixed upstream, the entry may go), run the tests, then update CHECKED_VERSIONS."
    )


def _sources():
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if path != COMPAT:
                yield path


def test_no_module_but_compat_imports_private_modules():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if PRIVATE_MODULES.search(line)
    ]
    assert not found, "private modules used outside kerascnn/compat.py (move the use there):\n" + "\n".join(found)


def _private_names_of_keras_and_keras_tuner(tmp_path) -> tuple[set, set]:
    """Private attribute names of real Keras and keras-tuner objects (a model, layer, optimizer, tuner...),
    and the subset that are methods (which a subclass would override)."""
    import keras
    import keras_tuner

    def build(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        return model

    model = build(None)
    tuner = keras_tuner.RandomSearch(build, objective="loss", max_trials=1, directory=str(tmp_path), seed=1)
    objects = [
        model,
        model.layers[0],
        model.optimizer,
        keras.callbacks.History(),
        keras.metrics.Mean(),
        keras.Variable(1.0),
        tuner,
        tuner.oracle,
        keras_tuner.HyperParameters(),
    ]
    names, methods = set(), set()
    for obj in objects:
        for name in set(dir(obj)) | set(getattr(obj, "__dict__", ())):
            if name.startswith("_") and not name.startswith("__"):
                names.add(name)
                if callable(getattr(type(obj), name, None)):
                    methods.add(name)
    return names, methods


def _private_uses(path: Path, names: set, methods: set) -> list:
    """``x._name`` on anything but ``self``/``cls`` (kerascnn's own objects), and ``def _method``
    overriding a Keras/keras-tuner method in a class."""
    tree = ast.parse(path.read_text())
    uses = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in names
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            uses.append((node.lineno, f".{node.attr}"))
        if isinstance(node, ast.ClassDef):
            uses += [
                (f.lineno, f"def {f.name}") for f in node.body if isinstance(f, ast.FunctionDef) and f.name in methods
            ]
    return [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in sorted(uses)]


def test_no_module_but_compat_touches_private_attributes_of_keras_objects(tmp_path):
    names, methods = _private_names_of_keras_and_keras_tuner(tmp_path)
    found = [use for path in _sources() for use in _private_uses(path, names, methods)]
    assert not found, (
        "private Keras/keras-tuner attributes used outside kerascnn/compat.py (add an entry there):\n"
        + "\n".join(found)
    )


def test_the_checks_find_the_private_uses_of_compat_itself(tmp_path):
    # The checks above can fail: they see the uses compat.py makes. (Not seen: `self._x` inside a
    # subclass of a Keras class; kerascnn's subclasses (callbacks, the loss, a layer, ZooHyperModel) use none.)
    assert PRIVATE_MODULES.search(COMPAT.read_text())
    names, methods = _private_names_of_keras_and_keras_tuner(tmp_path)
    uses = " ".join(_private_uses(COMPAT, names, methods))
    assert "._loss_tracker" in uses and "def _build_and_fit_model" in uses and "._maybe_symbolic_build" in uses
