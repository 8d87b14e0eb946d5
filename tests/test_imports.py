"""The runtime never imports dev tooling, and no function imports another function's package (static: ast).

The runtime is functions/udaconnect (what the image holds); the tooling is functions/udaconnect_dev (the local
broker, the local stack, the simulator, the benchmarks), which may import the runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
PACKAGE = FUNCTIONS_DIR / "udaconnect"
TOOLING = FUNCTIONS_DIR / "udaconnect_dev"
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


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("path", [*sorted(PACKAGE.rglob("*.py")), FUNCTIONS_DIR / "main.py"],
                         ids=lambda p: str(p.relative_to(FUNCTIONS_DIR)))
def test_the_runtime_does_not_import_dev_tooling(path: Path) -> None:
    assert {name for name in _imports(path) if _under(name, "udaconnect_dev")} == set()


def test_no_tooling_is_left_in_the_runtime_package() -> None:
    for gone in ("broker", "bench", "localstack.py", "simulator.py"):
        assert not (PACKAGE / gone).exists(), f"{gone} belongs in udaconnect_dev"
    assert "udaconnect_dev" not in "".join(p.read_text() for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_does_not_import_another_function(function: str) -> None:
    others = [f"udaconnect.{other}" for other in FUNCTIONS if other != function]
    found = {f"{path.relative_to(PACKAGE)}: {name}" for path in (PACKAGE / function).rglob("*.py")
             for name in _imports(path) if any(_under(name, other) for other in others)}
    assert not found


def test_the_guard_sees_imports_at_any_depth() -> None:
    found = _imports(TOOLING / "broker" / "kafka_adapter.py")  # module level, and inside functions (lazy imports)
    assert "udaconnect.events.kafka_client.offsets" in found and "aiokafka.AIOKafkaConsumer" in found
    assert "kafka" in _imports(PACKAGE / "events" / "kafka_client.py")
