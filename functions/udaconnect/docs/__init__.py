"""The API docs page's files (HTML, JS, CSS shipped in the package), looked up by exact name only."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["asset", "names"]

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


@lru_cache(maxsize=1)
def _assets() -> dict[str, tuple[bytes, str]]:
    # a fixed table built from the package's own files: a requested name is looked up, never joined to a
    # path, so "../", absolute paths, encoded separators or NUL bytes cannot reach anything else
    table = {}
    for entry in (resources.files(__name__) / "static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES and not entry.name.startswith("."):
            table[entry.name] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    return table


def names() -> list[str]:
    return sorted(_assets())


def asset(name: str) -> tuple[bytes, str] | None:
    """The bytes and content type of the docs file `name` ("" means the page), or None when there is none."""
    return _assets().get(name or "index.html")
