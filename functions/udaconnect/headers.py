"""Security and CORS headers: what every answer carries, and which other origins a browser may call the API from.

Each function sends the security headers on its own answers. The gateway, the browser's only way to the API on
the cluster and locally, alone decides CORS: it echoes an Origin listed in UDACONNECT_CORS_ORIGINS (with
Vary: Origin), answers preflights, and drops any Access-Control-* header a function sent. No origin is listed
by default: the web client on the cluster shares the API's origin (the edge sends /api/ to the gateway), and the
local stack lists its own web client's origin.
"""

from __future__ import annotations

import re
from collections.abc import Collection

#: Every answer: a browser must take the declared content type, never guess a script out of a JSON body.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
#: Every API answer carries personal data: no cache keeps it, no Referer carries its URL (a person's id) on.
API = {**NOSNIFF, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
#: The web client's pages: no other site may frame them (clickjacking); the CSP's frame-ancestors says it again.
PAGE = {**NOSNIFF, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
#: A browser that reached us over https keeps to https for a year (RFC 6797). Sent on answers to https requests
#: only: browsers ignore it over http anyway, and a developer's http://localhost must never be pinned.
HSTS = {"Strict-Transport-Security": "max-age=31536000"}

#: Request headers a browser may send: the API's, and every CloudEvents binary-mode header (ce-<attribute>;
#: a preflight naming other ce-* extensions gets them echoed by cors_preflight).
CORS_HEADERS = ("Content-Type", "Accept", "Authorization", "ce-id", "ce-source", "ce-type", "ce-specversion",
                "ce-time", "ce-subject", "ce-dataschema", "ce-partitionkey", "ce-traceparent", "ce-tracestate")
EXPOSED = "Location, Link, X-Total-Count, Retry-After"
MAX_AGE = "600"
#: At most this many names are read from a preflight's Access-Control-Request-Headers.
MAX_REQUESTED = 100
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


def parse_origins(value: str) -> tuple[str, ...]:
    """UDACONNECT_CORS_ORIGINS: comma-separated origins (scheme://host[:port]); '*' is refused on purpose."""
    origins = tuple(item.strip().rstrip("/") for item in value.split(",") if item.strip())
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ValueError(f"UDACONNECT_CORS_ORIGINS: {origin!r} is not an origin such as https://app.example.org")
    return origins


def over_https(scheme: str, forwarded_proto: str) -> bool:
    """Whether the browser's request came over https: to us, or to the TLS edge that says so in X-Forwarded-Proto."""
    return scheme == "https" or forwarded_proto.split(",")[0].strip().lower() == "https"


def cors(origin: str, allowed: Collection[str]) -> dict[str, str]:
    """Headers letting a page of `origin` read this answer, when `origin` is one of `allowed`; else none."""
    if not origin or origin not in allowed:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED}


def cors_preflight(origin: str, allowed: Collection[str], methods: str, requested: str) -> dict[str, str]:
    """Headers answering a preflight from `origin` (none unless allowed): the route's methods, and every header it
    asks for that is ours or a CloudEvents ce-* one."""
    if not cors(origin, allowed):
        return {}
    names = [name.strip() for name in requested.split(",") if name.strip()][:MAX_REQUESTED]
    known = {name.lower() for name in CORS_HEADERS}
    extra = [name for name in names if name.lower() not in known and name.lower().startswith("ce-")
             and _TOKEN.match(name)]
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": ", ".join([*CORS_HEADERS, *extra]), "Access-Control-Max-Age": MAX_AGE}
