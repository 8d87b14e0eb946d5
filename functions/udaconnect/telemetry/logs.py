"""The functions' logs: one handler on stderr, readable text by default, one JSON object a line when
UDACONNECT_LOG_FORMAT=json; fields given as `extra={"fields": {...}}` are written as key=value (or JSON keys).

functions-framework configures no logging and gunicorn only its own loggers, so before this every INFO line of
ours was dropped and the function logs stayed empty. What is logged is chosen where it is logged: route names,
statuses, durations, counts and event ids, never a token, a query string or a coordinate.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
from typing import Any

#: The access log: one line per request answered.
ACCESS = logging.getLogger("udaconnect.access")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        line = f"{_when(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if fields:
            line += " " + " ".join(f"{key}={_text(value)}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": _when(record), "level": record.levelname, "logger": record.name,
                               "message": record.getMessage(), **(getattr(record, "fields", None) or {})}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def _when(record: logging.LogRecord) -> str:
    return f"{_second(int(record.created))}.{int(record.msecs):03d}Z"


@functools.lru_cache(maxsize=2)
def _second(at: int) -> str:  # one strftime a second, not one a line
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))


_PLAIN = re.compile(r'[^ "=\n\\]+')


def _text(value: Any) -> str:
    if type(value) in (int, float):
        return str(value)
    text = str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text)


def configure(level: str, form: str) -> None:
    """Our loggers to stderr at `level` (INFO: one line per request), as text or JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if form == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # libraries: warnings and worse
    # What no line of ours shows, not gathered for each record (the logging HOWTO's "Optimization"): about a
    # third of an access line's cost.
    logging._srcfile = None  # the caller's file and line
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.getLogger("udaconnect").setLevel(level.upper())
