"""The layout's rules, read from the source: no import circles among sadbench's modules, no module over 500
lines, numba-cuda imported by one module only."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Package name -> folder, as pyproject.toml installs them.
PACKAGES = {"sadbench": ROOT / "sadbench", "sadbench_plugins": ROOT / "plugins"}
MAX_LINES = 500
#: Modules over MAX_LINES whose split is under way on another branch; each entry must still be needed.
PENDING_SPLITS = {}  # path -> the issue that splits it, while a split is under way


def _modules():
    """{dotted name: path} of every module of the packages."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()


def _module_level(tree):
    """The import statements that run when the module is imported: at its top level, also inside
    module-level ``if`` and ``try`` blocks, never inside functions or classes."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            stack.extend(ast.iter_child_nodes(node))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def _imported(name, node):
    """The modules of the packages that an import statement in module ``name`` loads by name."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in MODULES]
    base = node.module or ""
    if node.level:
        package = name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            package = package.rsplit(".", 1)[0]
        base = f"{package}.{base}" if base else package
    found = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    if len(found) < len(node.names) and base in MODULES:
        found.append(base)
    return found


def import_graph():
    """{module: set of modules it imports at module level}."""
    return {name: {target for node in _module_level(ast.parse(path.read_text())) for target in _imported(name, node)}
            for name, path in MODULES.items()}


def cycles(graph):
    """Every import circle of the graph, each as the list of modules around it (Tarjan's strongly connected
    components with more than one module, or one that imports itself)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_is_read_from_the_source():
    graph = import_graph()
    assert "sadbench.model.layout" in graph["sadbench.model.gradient"]  # from sadbench.model.layout import ...
    assert "sadbench.signatures" in graph["sadbench.model.gradient"]  # from sadbench import signatures as sig
    assert "sadbench.model.vmath" in graph["sadbench_plugins.losses"]  # from sadbench.model import vmath
    assert "sadbench" in graph["sadbench_plugins.detectors"]  # from sadbench import Detector, ...
    assert "sadbench.cuda" not in graph["sadbench.integrate"]  # imported inside a function: on demand


def test_the_cycle_finder_finds_circles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_500_lines(name):
    path = MODULES[name]
    lines = len(path.read_text().splitlines())
    relative = path.relative_to(ROOT).as_posix()
    if relative in PENDING_SPLITS:
        assert lines > MAX_LINES, f"{relative} is {lines} lines now: remove it from PENDING_SPLITS"
        pytest.skip(f"{relative}: {lines} lines, {PENDING_SPLITS[relative]}")
    assert lines <= MAX_LINES, f"{relative} has {lines} lines; split it into modules of one job"


def test_numba_cuda_is_imported_by_one_module():
    """A switch of GPU library starts in one file; ``import sadbench`` never needs a GPU (test_cuda.py)."""
    importers = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(a.name.startswith("numba.cuda") for a in node.names):
                importers.add(name)
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.startswith("numba.cuda") or (node.module == "numba" and any(
                        a.name == "cuda" for a in node.names))):
                importers.add(name)
    assert importers == {"sadbench.cuda.device"}


def test_the_lazy_public_names_match_the_imports_static_tools_read():
    """``sadbench`` loads its public names on first use; the API docs (griffe) and type checkers read the
    ``if TYPE_CHECKING`` imports instead: both must name the same objects."""
    import sadbench

    static = {}
    for node in ast.parse(Path(sadbench.__file__).read_text()).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                static.update({alias.asname or alias.name: statement.module for alias in statement.names})
    assert static == sadbench._LAZY
    for name, module in static.items():
        assert getattr(sadbench, name) is getattr(importlib.import_module(module), name)
    assert callable(sadbench.integrate) and sadbench.integrate.__name__ == "integrate"
