"""The package's modules import each other without cycles, function-level imports included.

An import inside a function hides a cycle from Python (it only runs later) but not from a reader: the two
modules still depend on each other, and the cycle surfaces as an ImportError the day someone moves the
import to the top. The graph is read from the source with ``ast``: every ``import``/``from ... import``
anywhere in a module (top level, functions, ``if TYPE_CHECKING``), relative imports resolved, and the
module names a module hands to ``importlib.import_module`` as string literals (the CLI's subcommands,
``kerascnn``'s lazy attributes). Importing ``a.b.c`` is an edge to ``a.b.c`` only: Python also runs the
packages ``a`` and ``a.b`` first, but that is how packages work, not a dependency a module chose.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Package name -> source folder (pyproject.toml maps tuning/ and export/ into the kerascnn package).
PACKAGE_DIRS = {"kerascnn": REPO / "kerascnn", "kerascnn.tuning": REPO / "tuning", "kerascnn.export": REPO / "export"}


def package_modules(package_dirs=PACKAGE_DIRS) -> dict[str, Path]:
    """Dotted module name -> source file, for every .py file of the packages."""
    modules = {}
    for package, folder in package_dirs.items():
        for path in sorted(folder.rglob("*.py")):
            if ".venv" in path.parts:
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def _imported_modules(module: str, path: Path, modules) -> set[str]:
    """The package's modules that ``module`` names in its imports: ``from a.b import c`` is ``a.b.c`` when
    that is a module, else ``a.b``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    names = set()
    uses_import_module = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.update(
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names
            )
        elif isinstance(node, ast.Attribute) and node.attr == "import_module":
            uses_import_module = True
    if uses_import_module:
        names.update(
            node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
        )
    return {name for name in names if name in modules}


def _packages_of(name: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages Python runs before the module ``a.b.c``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(package_dirs=PACKAGE_DIRS) -> dict[str, set[str]]:
    """Module -> the package's modules that importing it runs.

    Importing ``a.b.c`` also runs the packages ``a`` and ``a.b`` (their ``__init__``, which may import
    more): those are edges too, except the importer's own packages, which Python has already run by then.
    """
    modules = package_modules(package_dirs)
    graph = {}
    for module, path in modules.items():
        own_packages = set(_packages_of(module))
        targets = set()
        for name in _imported_modules(module, path, modules):
            targets.add(name)
            targets.update(p for p in _packages_of(name) if p in modules and p not in own_packages)
        targets.discard(module)
        graph[module] = targets
    return graph


def entangled_groups(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan): each holds at least one cycle."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def connect(start):
        # Iterative Tarjan: (node, iterator over its successors) frames.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return components


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle per group of entangled modules, from the group's first module (by name)."""
    return [_shortest_cycle(graph, min(group), group) for group in entangled_groups(graph)]


def _shortest_cycle(graph, start, component) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``component`` (breadth first)."""
    parents, frontier = {start: None}, [start]
    while frontier:
        next_frontier = []
        for node in frontier:
            for successor in sorted(graph[node] & component):
                if successor == start:
                    path = [node]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if successor not in parents:
                    parents[successor] = node
                    next_frontier.append(successor)
        frontier = next_frontier
    raise AssertionError(f"{start} is in a cycle but no path leads back to it")


def test_the_graph_sees_function_level_relative_and_importlib_imports(tmp_path):
    files = {
        "pkg/__init__.py": "from pkg.a import f\n",
        "pkg/a.py": "def f():\n    from .sub import b  # function level, relative\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "import importlib\nCOMMANDS = ('pkg.c',)\nimportlib.import_module(COMMANDS[0])\n",
        "pkg/c.py": "from pkg import a\n",
        "pkg/d.py": "from pkg.sub import b\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph({"pkg": tmp_path / "pkg"})
    assert graph["pkg"] == {"pkg.a"}
    assert graph["pkg.a"] == {"pkg.sub.b", "pkg.sub"}  # importing pkg.sub.b runs pkg/sub/__init__.py too
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.d"] == {"pkg.sub.b", "pkg.sub"}  # not "pkg": d's own package has run already
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_the_real_graph_covers_the_mapped_packages():
    graph = import_graph()
    # runs/trained.py imports the zoo's custom layers inside load_trained().
    assert "kerascnn.models.custom_layers" in graph["kerascnn.runs.trained"]
    # cli/main.py finds its subcommands with importlib.import_module.
    assert "kerascnn.cli.fit_cmd" in graph["kerascnn.cli.main"]
    # tuning/ and export/ are kerascnn.tuning and kerascnn.export.
    assert "kerascnn.tuning" in graph and "kerascnn.export.tflite" in graph


def test_find_cycles_names_each_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert sorted(find_cycles(graph)) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "Import cycles (function-level imports included):\n" + "\n".join(
        "  " + " -> ".join(cycle) for cycle in cycles
    )
