"""Each target loads only what it needs: ingest, the gateway and the web client never import SQLAlchemy (cold start,
memory), checked in a fresh interpreter as functions-framework loads them."""

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
"""


@pytest.mark.parametrize(("target", "module"), [("ingest", "udaconnect.ingest.function"),
                                                ("gateway", "udaconnect.gateway"),
                                                ("web", "udaconnect.web.function")])
def test_a_target_without_a_database_never_imports_sqlalchemy(target: str, module: str) -> None:
    main = str(PROJECT_ROOT / "functions" / "main.py")
    found = subprocess.run([sys.executable, "-c", PROBE.format(target=target, main=main, module=module)],
                           capture_output=True, text=True, timeout=60, check=True, cwd=PROJECT_ROOT / "functions")
    assert found.stdout.strip() == "", f"{target} imported {found.stdout.strip()}"
