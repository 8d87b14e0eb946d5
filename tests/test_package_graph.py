"""The runtime's package graph has no cycle, counting every import: module-level, function-level and
TYPE_CHECKING ones alike (a lazy import hides an arrow from the reader, not from the design). Packages are
udaconnect's subpackages and its root modules; the wire contracts import nothing from the HTTP edge."""

from __future__ import annotations

import ast
from pathlib import Path

import udaconnect

ROOT = Path(udaconnect.__file__).parent
EDGE = {"udaconnect.flask_edge", "udaconnect.asgi", "udaconnect.gateway"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _edges() -> dict[str, dict[str, str]]:
    """package -> package it imports -> one place that does (module:line)."""
    modules = _modules()
    edges: dict[str, dict[str, str]] = {}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name in modules and _package(name) != _package(module):
                    edges.setdefault(_package(module), {}).setdefault(_package(name), f"{module}:{node.lineno}")
    return edges


def _cycle(edges: dict[str, dict[str, str]]) -> list[str]:
    """One cycle of the graph (its packages in order), or []."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, {}):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_the_finder_finds_a_cycle() -> None:
    """The check itself can fail: a made-up graph with a loop through three packages."""
    assert _cycle({"a": {"b": "a:1"}, "b": {"c": "b:1"}, "c": {"a": "c:1"}, "d": {"a": "d:1"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b": "a:1"}, "b": {"c": "b:1"}}) == []


def test_the_runtime_package_graph_has_no_cycle() -> None:
    edges = _edges()
    assert len(edges) > 10  # the walk found the house, not an empty directory
    cycle = _cycle(edges)
    assert not cycle, "a cycle: " + " -> ".join(
        f"{a} ({edges[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)) + f" -> {cycle[-1]}"


def test_the_wire_contracts_import_nothing_from_the_edge() -> None:
    reached = _edges().get("udaconnect.contracts", {})
    assert not set(reached) & EDGE, {k: v for k, v in reached.items() if k in EDGE}
