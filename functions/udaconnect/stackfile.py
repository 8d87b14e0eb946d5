"""The running local stack's address file (Kafka, broker, API, web, metrics, its pid), written by `udaconnect dev`
and read by the CLI. A leaf: standard library only, so any command may read it without pulling in the event path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def stack_file(data_dir: Path) -> Path:
    """Where a running local stack writes its addresses (Kafka, broker, API) for the CLI."""
    return data_dir / "stack.json"


def live_stack(data_dir: Path) -> dict[str, Any]:
    """The addresses a running stack wrote, or {}: no file, or one left by a stack whose process is gone."""
    try:
        found = json.loads(stack_file(data_dir).read_text())
        pid = int(found["pid"])
        if pid <= 0:
            return {}
        os.kill(pid, 0)  # signal 0: only whether the process exists
    except (OSError, ValueError, TypeError, KeyError):
        return {}
    return dict(found)
