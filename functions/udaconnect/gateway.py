"""The `gateway` target: one origin for the API, proxying each path to its function by the routing table.

Knative Serving does not route by path, so the cluster and the local stack both put this function in front;
upstreams come from UDACONNECT_UPSTREAM_<TARGET> (a Knative Service URL, or a local process).
"""

from __future__ import annotations

import http.client
import os
import threading
from urllib.parse import urlsplit

from flask import Request, Response

from udaconnect import http as edge
from udaconnect.routes import ROUTES, target_for

#: Hop-by-hop headers (RFC 9110 7.6.1) are never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}
TIMEOUT = float(os.environ.get("UDACONNECT_GATEWAY_TIMEOUT", "60"))
_local = threading.local()


def upstream(target: str) -> str | None:
    return os.environ.get(f"UDACONNECT_UPSTREAM_{target.upper()}")


def _connection(base: str) -> http.client.HTTPConnection:
    """A kept-alive connection per thread and upstream."""
    pool = _local.__dict__.setdefault("pool", {})
    if base not in pool:
        parts = urlsplit(base)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        pool[base] = kind(parts.hostname or "localhost", parts.port, timeout=TIMEOUT)
    return pool[base]


def _forward(base: str, request: Request) -> Response:
    path = request.full_path if request.query_string else request.path
    prefix = urlsplit(base).path.rstrip("/")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Proto"] = request.scheme
    body = request.get_data()
    for attempt in (1, 2):  # a kept-alive connection the upstream closed is retried once on a fresh one
        conn = _connection(base)
        try:
            conn.request(request.method, prefix + path, body=body, headers=headers)
            reply = conn.getresponse()
            data = reply.read()
            break
        except (ConnectionError, http.client.HTTPException, OSError):
            conn.close()
            if attempt == 2:
                return edge.problem(503, "the function behind this path is unavailable", headers={"Retry-After": "1"})
    out = [(k, v) for k, v in reply.getheaders() if k.lower() not in HOP_BY_HOP]
    return Response(data, status=reply.status, headers=out)


def handle(request: Request) -> Response:
    if request.path == "/health":
        return edge.health()
    target = target_for(request.method, request.path)
    if target is None:
        if any(route.pattern.match(request.path) for route in ROUTES):
            if request.method == "OPTIONS":
                return Response(status=204, headers=edge.CORS)
            return edge.method_not_allowed(", ".join(sorted({m for r in ROUTES for m in r.methods
                                                             if r.pattern.match(request.path)})))
        return edge.problem(404, f"no such resource: {request.path}")
    base = upstream(target)
    if not base:
        return edge.problem(503, f"no upstream configured for {target}")
    return _forward(base, request)
