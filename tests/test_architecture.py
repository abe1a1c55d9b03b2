"""The house's rules (docs/architecture.md): packages in layers, imports only downward, no cycles.

Every import counts, at module level, inside a function or under TYPE_CHECKING alike: a
function-local import is how a cycle hides.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("agent", "exporters", "journeys")

# Lower layers never import higher ones; packages on one layer do not import each other.
LAYERS: dict[str, int] = {
    "agent.core": 0,
    "journeys": 0,
    "agent.expect": 1,
    "agent.journey": 2,
    "agent.config": 3,
    "agent.demo": 3,
    "agent.probe": 4,
    "agent.slo": 5,
    "agent.store": 5,
    "exporters": 6,
    "agent.web": 7,
    "agent.daemon": 8,
    "agent.cli": 9,
    "agent.__main__": 10,
}
FACES = {"agent"}  # the root package face (its version) may be imported from anywhere


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(p for top in SOURCES for p in (ROOT / top).rglob("*.py"))


def imported_modules(path: Path, known: set[str]) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of a module of this project, wherever it stands in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, _nearest(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield node.lineno, full if full in known else _nearest(base, known)


def _nearest(name: str, known: set[str]) -> str:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def layer_of(module: str) -> str | None:
    best = None
    for package in LAYERS:
        if (module == package or module.startswith(package + ".")) and (best is None or len(package) > len(best)):
            best = package
    return best


def import_graph() -> dict[str, dict[str, int]]:
    files = source_files()
    known = {module_name(p) for p in files}
    graph: dict[str, dict[str, int]] = {}
    for path in files:
        edges = graph.setdefault(module_name(path), {})
        for line, target in imported_modules(path, known):
            if target and target != module_name(path):
                edges.setdefault(target, line)
    return graph


def test_every_module_belongs_to_a_layer() -> None:
    strays = [m for m in import_graph() if m not in FACES and layer_of(m) is None]
    assert strays == [], f"modules outside every package of docs/architecture.md: {strays}"


def test_agent_top_level_holds_only_the_package_face_and_the_entry_point() -> None:
    top = sorted(p.name for p in (ROOT / "agent").glob("*.py"))
    assert top == ["__init__.py", "__main__.py"]


def test_imports_only_point_down_the_layers() -> None:
    upward = []
    for module, edges in import_graph().items():
        here = layer_of(module)
        for target, line in edges.items():
            there = layer_of(target)
            if target in FACES or here is None or there is None or here == there:
                continue
            if LAYERS[there] >= LAYERS[here]:
                upward.append(f"{module}:{line} imports {target} ({there} is not below {here})")
    assert upward == [], "\n".join(upward)


def test_there_are_no_import_cycles() -> None:
    graph = import_graph()
    cycles = _cycles(graph)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("graph, expected", [
    pytest.param({"a": {"b": 1}, "b": {"a": 1}}, [["a", "b"]], id="two-module-cycle"),
    pytest.param({"a": {"b": 1}, "b": {"c": 1}, "c": {}}, [], id="chain"),
])
def test_the_cycle_finder_finds_cycles(graph: dict[str, dict[str, int]], expected: list[list[str]]) -> None:
    assert _cycles(graph) == expected


def test_a_function_local_import_is_seen(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from agent.daemon import lifecycle\n")
    assert ("agent.daemon.lifecycle" in
            {m for _, m in imported_modules(source, {"agent.daemon", "agent.daemon.lifecycle"})})


def test_pyproject_lists_every_package() -> None:
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    tree = {module_name(p) for top in ("agent", "exporters") for p in (ROOT / top).rglob("__init__.py")}
    assert listed == tree | {"agent.examples"}
