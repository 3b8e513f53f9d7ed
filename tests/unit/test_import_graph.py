"""The import graph of functions/, recorder/ and local/: no circle, and no arrow up.

Up, here: the recorder image carries `recorder/` alone, the Lambda bundle `functions/` alone,
so neither imports anything else of ours; the core (`hacore`) never imports a handler; and the
core's foundation (the record, the store, the settings, the lifecycle) never imports a feature
(failover, webhooks, standbys, launchers), which build on it. Imports made for type checking
only are not edges: nothing runs them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {ROOT / "functions": "", ROOT / "recorder": "recorder", ROOT / "local": "local"}
HANDLERS = ("api", "detector", "webhook", "relay")
FEATURES = ("hacore.failover", "hacore.webhooks", "hacore.standby", "hacore.launchers")
COMPOSITION = ("hacore.wiring", "hacore.config_check")  # where the features are put together


def modules() -> dict[str, Path]:
    found = {}
    for folder, prefix in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([prefix, *parts] if prefix else parts)
            if name:
                found[name] = path
    return found


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The first-party modules `name` imports, wherever in the file (a deferred import counts)."""
    tree = ast.parse(path.read_text())
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, `level - 1` up
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


GRAPH = {name: set(imports(name, path, set(modules()))) for name, path in modules().items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def arrow_up(source: str, target: str) -> bool:
    if within(source, "recorder"):
        return not within(target, "recorder")
    if within(source, "hacore"):
        if not within(target, "hacore"):
            return True
        foundation = not within(source, *FEATURES, *COMPOSITION)
        return foundation and within(target, *FEATURES)
    if within(source, *HANDLERS):
        return within(target, "local", "recorder")
    return False


def test_the_graph_is_read() -> None:
    """Not vacuous: the modules and edges every later assertion reads are there."""
    assert "hacore.sessions.rules" in GRAPH["hacore.sessions.store"]
    assert "recorder.agent" in GRAPH["recorder.__main__"]
    assert "local.drill.faults" in GRAPH["local.drill.run"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_circle() -> None:
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("source", sorted(GRAPH))
def test_no_arrow_up(source: str) -> None:
    assert sorted(t for t in GRAPH[source] if arrow_up(source, t)) == []
