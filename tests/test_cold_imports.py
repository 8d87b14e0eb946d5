"""Each target loads only what it needs, checked in a fresh interpreter as functions-framework loads them: none
imports the developer tooling (udaconnect_dev: absent from the image), and ingest, the gateway and the web client
never import SQLAlchemy (cold start, memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from udaconnect.settings import PROJECT_ROOT

PROBE = """
import importlib, sys
from functions_framework import create_app
create_app({target!r}, {main!r})
importlib.import_module({module!r})  # what the target's first request imports
from udaconnect.bootstrap import context
context().settings  # and the composition root it asks its settings from
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic"))))
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] == "udaconnect_dev")))
"""
#: Every target and the module its first request imports.
TARGETS = [("persons", "udaconnect.api.persons"), ("connections", "udaconnect.api.connections"),
           ("ingest", "udaconnect.ingest.function"), ("persist", "udaconnect.persist.function"),
           ("encounters", "udaconnect.encounters.function"), ("retention", "udaconnect.retention.function"),
           ("web", "udaconnect.web.function"), ("gateway", "udaconnect.gateway")]
WITHOUT_DATABASE = ("ingest", "gateway", "web")


def _loaded(target: str, module: str) -> tuple[str, str]:
    main = str(PROJECT_ROOT / "functions" / "main.py")
    found = subprocess.run([sys.executable, "-c", PROBE.format(target=target, main=main, module=module)],
                           capture_output=True, text=True, timeout=60, check=True, cwd=PROJECT_ROOT / "functions")
    database, dev = (found.stdout.splitlines() + ["", ""])[:2]
    return database.strip(), dev.strip()


@pytest.mark.parametrize(("target", "module"), TARGETS)
def test_a_target_never_imports_the_dev_tooling(target: str, module: str) -> None:
    assert _loaded(target, module)[1] == "", f"{target} imported developer tooling"


@pytest.mark.parametrize(("target", "module"), [t for t in TARGETS if t[0] in WITHOUT_DATABASE])
def test_a_target_without_a_database_never_imports_sqlalchemy(target: str, module: str) -> None:
    database, _ = _loaded(target, module)
    assert database == "", f"{target} imported {database}"


def test_every_target_is_probed() -> None:
    from udaconnect.routes import TARGETS as DEFINED

    assert {target for target, _ in TARGETS} == set(DEFINED)
