"""JSON Schemas of every CloudEvent payload, generated from the pydantic models into schema/events/<type>.json."""

from __future__ import annotations

import json
from pathlib import Path

from udaconnect.settings import PROJECT_ROOT

DIRECTORY = PROJECT_ROOT / "schema" / "events"


def render() -> dict[str, str]:
    """File name -> JSON Schema text (stable: sorted keys, trailing newline)."""
    from udaconnect.contracts.events import EVENT_TYPES

    out = {}
    for event_type, model in sorted(EVENT_TYPES.items()):
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$id": f"https://udaconnect.io/schema/events/{event_type}.json",
                  **model.model_json_schema(mode="validation")}
        out[f"{event_type}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write(directory: Path = DIRECTORY) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def stale(directory: Path = DIRECTORY) -> list[str]:
    """Names of schema files that are missing or differ from the models (empty when up to date)."""
    wanted = render()
    present = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    return sorted(name for name, text in wanted.items()
                  if not (directory / name).exists() or (directory / name).read_text() != text) + sorted(
        present - set(wanted))
