"""The one routing table: which function target answers which HTTP path, locally and on the cluster."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Every function target served from functions/main.py, in the order the local stack starts them.
TARGETS = ("persons", "connections", "ingest", "persist", "web", "gateway")


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    target: str


def _route(methods: str, pattern: str, target: str) -> Route:
    return Route(frozenset(methods.split()), re.compile(pattern), target)


#: First match wins. The gateway target (local stack and cluster alike) proxies by this table.
ROUTES: tuple[Route, ...] = (
    _route("GET HEAD OPTIONS", r"^/api/persons/[^/]+/connection/?$", "connections"),
    _route("GET HEAD OPTIONS", r"^/api/persons/[^/]+/locations/?$", "connections"),
    _route("GET HEAD OPTIONS", r"^/api/locations/[^/]+/?$", "connections"),
    _route("POST OPTIONS", r"^/api/locations/?$", "ingest"),
    _route("POST OPTIONS", r"^/api/events/?$", "ingest"),
    _route("GET HEAD POST OPTIONS", r"^/api/persons(/[^/]+)?/?$", "persons"),
    _route("GET HEAD OPTIONS", r"^/api/(docs|openapi\.json)(/.*)?$", "persons"),
)


def target_for(method: str, path: str) -> str | None:
    """The target that serves `method path`, or None when no route matches."""
    for route in ROUTES:
        if route.pattern.match(path) and method.upper() in route.methods:
            return route.target
    return None
