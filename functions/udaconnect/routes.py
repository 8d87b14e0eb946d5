"""The one routing table: which function target answers which HTTP path, locally and on the cluster.

Each route also says who may call it (Access: every function checks it, udaconnect.auth.policy), how long its
function may take to answer and how large a body it takes, so the gateway gives a search the time it needs without
letting a person lookup wait as long, and refuses a body larger than the function would take before reading it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from udaconnect.settings import Settings

#: Who may call a route (udaconnect.auth.policy.authorize says what each admits).
class Access(StrEnum):
    PUBLIC = "public"
    SIGNED_IN = "signed-in"
    SELF = "self"
    ORGANIZER = "organizer"
    DEVICE = "device"
    REVOCATIONS = "revocations"


#: Every function target served from functions/main.py, in the order the local stack starts them.
TARGETS = ("persons", "connections", "ingest", "persist", "encounters", "retention", "web", "gateway")
#: How long the gateway waits for a route's function: a search (UDACONNECT_GATEWAY_TIMEOUT, beyond the search's
#: own deadline, which answers 504 itself), a live stream (60 s without a byte: it sends a keep-alive every 15 s),
#: any other call (UDACONNECT_GATEWAY_CALL_TIMEOUT).
SEARCH, LIVE, CALL = "search", "live", "call"
LIVE_TIMEOUT = 60.0
#: Bodies: the API's JSON bodies are a few hundred bytes (the functions take 64 KiB); ingest takes 1 MiB batches.
API_BODY = 64 * 1024
INGEST_BODY = 1024 * 1024
#: The order an Allow header names methods in when a function answers 405 itself.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class Route:
    #: The operation, unique: each function dispatches on it.
    name: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    target: str
    access: Access
    budget: str = CALL
    max_body: int = API_BODY

    @property
    def allow(self) -> str:
        """The Allow header of a path this route serves."""
        return ", ".join(sorted(self.methods))

    def allow_except(self, *methods: str) -> str:
        """The methods but `methods` (those a function leaves to its framework), GET first, as a function's 405
        names them."""
        return ", ".join(m for m in _METHOD_ORDER if m in self.methods and m not in methods)


@dataclass(frozen=True)
class Match:
    """A route and the path parameters its pattern captured, in order (still percent-encoded)."""
    route: Route
    params: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.route.name


def _route(name: str, methods: str, pattern: str, target: str, access: Access, budget: str = CALL,
           max_body: int = API_BODY) -> Route:
    return Route(name, frozenset(methods.split()), re.compile(pattern), target, access, budget, max_body)


#: First match wins. The gateway target (local stack and cluster alike) proxies by this table. Patterns are
#: matched against the path as sent (percent-encoding kept), so `%2F` never splits a segment.
ROUTES: tuple[Route, ...] = (
    _route("connections", "GET HEAD OPTIONS", r"^/api/persons/([^/]+)/connection/?$", "connections", Access.SELF,
           SEARCH),
    _route("track", "GET HEAD OPTIONS", r"^/api/persons/([^/]+)/locations/?$", "connections", Access.SELF, SEARCH),
    _route("encounters", "GET HEAD OPTIONS", r"^/api/persons/([^/]+)/encounters/?$", "encounters", Access.SELF),
    _route("live-encounters", "GET OPTIONS", r"^/api/persons/([^/]+)/encounters/live/?$", "encounters",
           Access.SELF, LIVE),
    _route("devices", "GET HEAD POST OPTIONS", r"^/api/persons/([^/]+)/devices/?$", "persons", Access.SELF),
    _route("device", "DELETE OPTIONS", r"^/api/persons/([^/]+)/devices/([^/]+)/?$", "persons", Access.SELF),
    _route("revoked-devices", "GET HEAD OPTIONS", r"^/api/devices/revoked/?$", "persons", Access.REVOCATIONS),
    _route("location", "GET HEAD OPTIONS", r"^/api/locations/([^/]+)/?$", "connections", Access.SELF),
    _route("places", "GET HEAD OPTIONS", r"^/api/places/?$", "connections", Access.SIGNED_IN),
    _route("report-location", "POST OPTIONS", r"^/api/locations/?$", "ingest", Access.DEVICE,
           max_body=INGEST_BODY),
    _route("report-events", "POST OPTIONS", r"^/api/events/?$", "ingest", Access.DEVICE, max_body=INGEST_BODY),
    _route("persons", "GET HEAD POST OPTIONS", r"^/api/persons/?$", "persons", Access.ORGANIZER),
    _route("person", "GET HEAD DELETE OPTIONS", r"^/api/persons/([^/]+)/?$", "persons", Access.SELF),
    _route("docs", "GET HEAD OPTIONS", r"^/api/(?:docs|openapi\.json)(?:/.*)?$", "persons", Access.PUBLIC),
)


def match(path: str) -> Match | None:
    """The first route whose pattern matches `path` (whatever the method), with its path parameters."""
    for route in ROUTES:
        if found := route.pattern.fullmatch(path):  # not match: a pattern's $ also matches before a final \n
            return Match(route, found.groups())
    return None


def route_for(path: str) -> Route | None:
    """The route whose pattern matches `path`, whatever the method."""
    found = match(path)
    return found.route if found is not None else None


def timeout(route: Route, settings: Settings) -> float:
    """Seconds the gateway waits for `route`'s function."""
    return {SEARCH: settings.gateway_timeout, LIVE: LIVE_TIMEOUT, CALL: settings.gateway_call_timeout}[route.budget]


def target_for(method: str, path: str) -> str | None:
    """The target that serves `method path`, or None when no route matches."""
    route = route_for(path)
    return route.target if route is not None and method.upper() in route.methods else None


def access_for(path: str) -> Access:
    """Who may call `path` (a function's own /health and unknown paths are public: they answer nothing private)."""
    route = route_for(path)
    return route.access if route is not None else Access.PUBLIC
