"""The architecture diagram: its source names every part, and the committed PNG is a rendering of it."""

from __future__ import annotations

import json
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


def test_the_test_events_in_the_guide_are_valid_location_reports() -> None:
    from udaconnect.contracts.events import EVENT_TYPES

    guide = (PROJECT_ROOT / "docs" / "cluster.md").read_text()
    commands = re.findall(r"```sh\n(.*?)```", guide, re.S)
    sent = [c for c in commands if "Ce-Type:" in c]
    assert len(sent) >= 2
    for command in sent:
        event_type = re.search(r"Ce-Type: ([\w.]+)", command).group(1)  # type: ignore[union-attr]
        assert re.search(r"Ce-Source: /devices/", command) and "Ce-Partitionkey: 5" in command
        body = json.loads(re.search(r"-d '(\{.*?\})'", command, re.S).group(1))  # type: ignore[union-attr]
        EVENT_TYPES[event_type].model_validate(body)
        assert str(body["person_id"]) == "5"
