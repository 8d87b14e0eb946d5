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
        command = command[command.index("Ce-Type:"):]  # the event's curl (one before it may enrol a device)
        quoted = re.search(r"-d '(\{.*?\})'", command, re.S) or re.search(r'-d "(\{.*?\})"\s*$', command, re.S)
        assert quoted, command
        # a double-quoted body: the shell's \" and the $(date ...) it fills in
        text = re.sub(r"\$\(date [^)]*\)", "2026-12-01T10:00:00Z", quoted.group(1).replace('\\"', '"'))
        body = json.loads(text)
        EVENT_TYPES[event_type].model_validate(body)
        assert str(body["person_id"]) == "5"


NUMBERS = {word: n for n, word in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                             "nine", "ten", "eleven", "twelve"])}


def test_the_docs_count_the_functions_the_manifests_deploy(rendered) -> None:
    """'the six functions' outlived two new ones: every 'the N functions' counts them all, unless a clause
    ('that check tokens', 'which ...') says which of them it means."""
    services = {d["metadata"]["name"] for d in rendered["base"]
                if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev")}
    wrong = []
    for path in [PROJECT_ROOT / "README.md", *DOCS.glob("*.md")]:
        for match in re.finditer(r"\bthe (\w+) functions\b(\s*\w*)", path.read_text(), re.I):
            count = NUMBERS.get(match.group(1).lower())
            if count is not None and count != len(services) and match.group(2).strip() not in ("that", "which"):
                wrong.append(f"{path.name}: {match.group(0)!r}")
    assert not wrong, f"{len(services)} functions are deployed ({', '.join(sorted(services))}): {wrong}"
