"""The one routing table: which function target answers which HTTP path, locally and on the cluster.

Each route also says who may call it (udaconnect.auth.policy.Access: every function checks it), how long its
function may take to answer and how large a body it takes, so the gateway gives a search the time it needs without
letting a person lookup wait as long, and refuses a body larger than the function would take before reading it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from udaconnect.auth.policy import Access

#: Every function target served from functions/main.py, in the order the local stack starts them.
TARGETS = ("persons", "connections", "ingest", "persist", "encounters", "retention", "web", "gateway")
#: Seconds a search may take at the gateway (beyond the search's own deadline, which answers 504 itself).
SEARCH_TIMEOUT = float(os.environ.get("UDACONNECT_GATEWAY_TIMEOUT", "60"))
#: Seconds a live encounter stream may go without a byte at the gateway: it sends a keep-alive every 15 s.
LIVE_TIMEOUT = 60.0
#: Seconds any other call may take.
DEFAULT_TIMEOUT = float(os.environ.get("UDACONNECT_GATEWAY_CALL_TIMEOUT", "15"))
#: Bodies: the API's JSON bodies are a few hundred bytes (the functions take 64 KiB); ingest takes 1 MiB batches.
API_BODY = 64 * 1024
INGEST_BODY = 1024 * 1024


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    target: str
    access: Access
    timeout: float = DEFAULT_TIMEOUT
    max_body: int = API_BODY

    @property
    def allow(self) -> str:
        """The Allow header of a path this route serves."""
        return ", ".join(sorted(self.methods))


def _route(methods: str, pattern: str, target: str, access: Access, timeout: float = DEFAULT_TIMEOUT,
           max_body: int = API_BODY) -> Route:
    return Route(frozenset(methods.split()), re.compile(pattern), target, access, timeout, max_body)


#: First match wins. The gateway target (local stack and cluster alike) proxies by this table. Patterns are
#: matched against the path as sent (percent-encoding kept), so `%2F` never splits a segment.
ROUTES: tuple[Route, ...] = (
    _route("GET HEAD OPTIONS", r"^/api/persons/[^/]+/connection/?$", "connections", Access.SELF, SEARCH_TIMEOUT),
    _route("GET HEAD OPTIONS", r"^/api/persons/[^/]+/locations/?$", "connections", Access.SELF, SEARCH_TIMEOUT),
    _route("GET HEAD OPTIONS", r"^/api/persons/[^/]+/encounters/?$", "encounters", Access.SELF),
    _route("GET OPTIONS", r"^/api/persons/[^/]+/encounters/live/?$", "encounters", Access.SELF, LIVE_TIMEOUT),
    _route("GET HEAD POST OPTIONS", r"^/api/persons/[^/]+/devices/?$", "persons", Access.SELF),
    _route("DELETE OPTIONS", r"^/api/persons/[^/]+/devices/[^/]+/?$", "persons", Access.SELF),
    _route("GET HEAD OPTIONS", r"^/api/devices/revoked/?$", "persons", Access.ORGANIZER),
    _route("GET HEAD OPTIONS", r"^/api/locations/[^/]+/?$", "connections", Access.SELF),
    _route("GET HEAD OPTIONS", r"^/api/places/?$", "connections", Access.SIGNED_IN),
    _route("POST OPTIONS", r"^/api/locations/?$", "ingest", Access.DEVICE, max_body=INGEST_BODY),
    _route("POST OPTIONS", r"^/api/events/?$", "ingest", Access.DEVICE, max_body=INGEST_BODY),
    _route("GET HEAD POST OPTIONS", r"^/api/persons/?$", "persons", Access.ORGANIZER),
    _route("GET HEAD DELETE OPTIONS", r"^/api/persons/[^/]+/?$", "persons", Access.SELF),
    _route("GET HEAD OPTIONS", r"^/api/(docs|openapi\.json)(/.*)?$", "persons", Access.PUBLIC),
)


def route_for(path: str) -> Route | None:
    """The route whose pattern matches `path`, whatever the method."""
    for route in ROUTES:
        if route.pattern.match(path):
            return route
    return None


def target_for(method: str, path: str) -> str | None:
    """The target that serves `method path`, or None when no route matches."""
    route = route_for(path)
    return route.target if route is not None and method.upper() in route.methods else None


def access_for(path: str) -> Access:
    """Who may call `path` (a function's own /health and unknown paths are public: they answer nothing private)."""
    route = route_for(path)
    return route.access if route is not None else Access.PUBLIC
