"""The runtime never imports dev tooling, and no function imports another function's package (static: ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "functions" / "udaconnect"
#: Dev tooling, to move to udaconnect_dev (issue 12): it may import the runtime, never the reverse.
TOOLING = ("broker", "bench", "localstack.py", "simulator.py")
FORBIDDEN = ("udaconnect.broker", "udaconnect.bench", "udaconnect.localstack", "udaconnect.simulator")
#: Known exceptions until the tooling moves: the CLI's `dev` and `send` commands start the local stack and the
#: simulator (they move with them to udaconnect_dev; the mover empties this).
PENDING = {"cli.py": {"udaconnect.localstack", "udaconnect.simulator"}}
#: The function packages: none imports another's.
FUNCTIONS = ("ingest", "persist", "encounters", "retention")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _runtime() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in TOOLING)


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("path", _runtime(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_runtime_does_not_import_dev_tooling(path):
    found = {name for name in _imports(path) if any(_under(name, bad) for bad in FORBIDDEN)}
    pending = PENDING.get(str(path.relative_to(PACKAGE)), set())
    assert {name for name in found if not any(_under(name, known) for known in pending)} == set()
    assert all(any(_under(name, known) for name in found) for known in pending), "drop it from PENDING"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_does_not_import_another_function(function):
    others = [f"udaconnect.{other}" for other in FUNCTIONS if other != function]
    found = {f"{path.relative_to(PACKAGE)}: {name}" for path in (PACKAGE / function).rglob("*.py")
             for name in _imports(path) if any(_under(name, other) for other in others)}
    assert not found


def test_the_guard_sees_imports_at_any_depth():
    found = _imports(PACKAGE / "broker" / "consumer.py")  # module level, and inside functions (lazy imports)
    assert "udaconnect.events.kafka_client.event_of" in found and "kafka" in _imports(
        PACKAGE / "events" / "kafka_client.py")
