"""The architecture diagram: its source names every part, and the committed PNG is a rendering of it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from udaconnect.routes import TARGETS
from udaconnect.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def test_the_diagram_shows_every_part() -> None:
    source = (DOCS / "architecture.dot").read_text()
    nodes = set(re.findall(r"^\s*([a-z_]+) \[label=", source, re.M))
    assert set(TARGETS) <= nodes
    assert {"devices", "browser", "broker", "trigger", "postgis", "kafka"} <= nodes
    trigger = (PROJECT_ROOT / "eventing" / "triggers.yaml").read_text()
    name = re.search(r"^  name: (\S+)", trigger, re.M).group(1)  # type: ignore[union-attr]
    assert name in source


def test_the_committed_png_is_a_png() -> None:
    data = (DOCS / "architecture.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_the_render_script_renders_the_source(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (apt-get install graphviz)")
    out = tmp_path / "architecture.png"
    subprocess.run(["dot", "-Tpng", "-o", str(out), str(DOCS / "architecture.dot")], check=True, timeout=60)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "dot -Tpng" in (PROJECT_ROOT / "scripts" / "render_docs.sh").read_text()
