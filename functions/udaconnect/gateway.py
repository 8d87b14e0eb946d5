"""The `gateway` target: one origin for the API, proxying each path to its function by the routing table.

Knative Serving does not route by path, so the cluster and the local stack both put this function in front;
upstreams come from UDACONNECT_UPSTREAM_<TARGET> (a Knative Service URL, or a local process).

It is an ASGI function (functions_framework.aio under uvicorn) and each upstream call is a coroutine on one
httpx2 client, so slow searches or slow clients hold a socket each, never a thread: with a thread per request
(8 threads) eight slow searches froze every other route. Rules:
- the path and query go upstream exactly as sent (bytes outside printable ASCII percent-encoded, which every
  server decodes the same), so the function sees what the client wrote, not the gateway's decoding of it;
- a request is never sent twice: only an idempotent one whose connection failed before it was sent is retried;
- each route has its own timeout (a search may take a minute, a lookup 15 s) and largest body, refused with
  413 from Content-Length or at the limit while reading, never buffered whole;
- every answer of the gateway's own is application/problem+json;
- every answer leaves with the security headers (udaconnect.headers), and CORS is decided here alone: an Origin
  listed in UDACONNECT_CORS_ORIGINS is echoed, any Access-Control-* header a function sent is dropped.
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from udaconnect import asgi, headers
from udaconnect.errors import FieldError, InvalidInput, PayloadTooLarge
from udaconnect.routes import Route, route_for, timeout
from udaconnect.settings import Settings
from udaconnect.telemetry import metrics, tracing

#: Hop-by-hop headers (RFC 9110 7.6.1) are never forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length"})
#: Not copied from a function's answer: hop-by-hop ones, and those the gateway's own server writes.
_NOT_RETURNED = (HOP_BY_HOP - {"content-length"}) | {"date", "server"}
#: Seconds to open a connection to a function (a client's body: UDACONNECT_GATEWAY_BODY_TIMEOUT).
CONNECT_TIMEOUT = 5.0
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
#: Path bytes a request line may carry as they are (RFC 3986 pchar, '/', '?', '%'); others are percent-encoded.
_UNSAFE_PATH = re.compile(rb"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


class RequestTimeout(InvalidInput):
    status = 408


@lru_cache(maxsize=1)
def _client() -> Any:
    """One client per process: connections to each function are kept alive and shared by every request."""
    import httpx2

    limits = httpx2.Limits(max_connections=2048, max_keepalive_connections=256, keepalive_expiry=30)
    return httpx2.AsyncClient(limits=limits, follow_redirects=False, trust_env=False)


def _settings() -> Settings:
    from udaconnect.bootstrap import context

    return context().settings


@lru_cache(maxsize=1)
def _origins() -> frozenset[str]:
    return frozenset(_settings().cors_origins)


async def handle(request: Request) -> Response:
    try:
        response = await _handle(request)
    except InvalidInput as error:
        response = asgi.problem(error.status, error.detail, error.errors)
    return secured(request, response, _origins())


def secured(request: Request, response: Response, origins: frozenset[str]) -> Response:
    """`response` with the security headers it lacks, HSTS over https, and CORS as this gateway decides it."""
    raw = [(k, v) for k, v in response.raw_headers if not k.startswith(b"access-control-")]
    have = {k for k, _ in raw}
    wanted = dict(headers.API)
    if headers.over_https(request.url.scheme, request.headers.get("x-forwarded-proto", "")):
        wanted.update(headers.HSTS)
    origin = request.headers.get("origin", "")
    if request.method == "OPTIONS" and response.status_code == 204 and request.headers.get(
            "access-control-request-method"):
        allow = dict(response.headers).get("allow", "")
        wanted.update(headers.cors_preflight(origin, origins, allow, request.headers.get(
            "access-control-request-headers", "")))
    else:
        wanted.update(headers.cors(origin, origins))
    if origins:  # the answer depends on the Origin: a shared cache must not hand one origin's answer to another
        vary = [v for k, v in raw if k == b"vary"]
        raw = [(k, v) for k, v in raw if k != b"vary"]
        raw.append((b"vary", b", ".join([*vary, b"Origin"])))
    for name, value in wanted.items():
        key = name.lower().encode("latin-1")
        if key not in have or key.startswith(b"access-control-"):
            raw.append((key, value.encode("latin-1")))
    response.raw_headers = raw
    return response


async def _handle(request: Request) -> Response:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1")
    if path == "/health":
        return asgi.health()
    asgi.check_headers(request)
    route = route_for(path)
    if route is None:
        return asgi.problem(404, f"no such resource: {path[:200]}")
    if request.method == "OPTIONS":  # a CORS preflight is answered here, without a hop
        return asgi.preflight(request, route.allow)
    if request.method not in route.methods:
        return asgi.method_not_allowed(route.allow)
    base = _settings().upstream(route.target)
    if not base:
        return asgi.problem(503, f"no upstream configured for {route.target}")
    return await _forward(base, route, request, raw_path)


def target(prefix: bytes, raw_path: bytes, query: bytes) -> bytes:
    """The request target sent upstream: the client's path and query, only bytes no request line may carry
    (controls, spaces, non-ASCII) percent-encoded."""
    line = prefix + raw_path + (b"?" + query if query else b"")
    return _UNSAFE_PATH.sub(lambda m: b"%%%02X" % m.group()[0], line)


async def _body(request: Request, route: Route) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > route.max_body:
        raise PayloadTooLarge(f"the body exceeds {route.max_body} bytes", [FieldError("body", "too large")])
    seconds = _settings().gateway_body_timeout
    try:
        async with asyncio.timeout(seconds):
            return await asgi.read_body(request, route.max_body)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {seconds:.0f} s",
                             [FieldError("body", "too slow")]) from None


async def _forward(base: str, route: Route, request: Request, raw_path: bytes) -> Response:
    import httpx2

    body = await _body(request, route) if request.method not in ("GET", "HEAD") else b""
    headers = [(k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP and not k.startswith("x-forwarded-")]
    headers += [("x-forwarded-host", request.headers.get("host", "")), ("x-forwarded-proto", request.url.scheme)]
    if context := tracing.current():  # the function's span a child of the gateway's (tracing off: as it came)
        headers = [(k, v) for k, v in headers if k not in ("traceparent", "tracestate")]
        headers += [("traceparent", context[0])] + ([("tracestate", context[1])] if context[1] else [])
    parts = httpx2.URL(base)
    prefix = parts.raw_path.split(b"?")[0].rstrip(b"/")
    client = _client()
    seconds = httpx2.Timeout(timeout(route, _settings()), connect=CONNECT_TIMEOUT)
    outgoing = client.build_request(request.method, parts.copy_with(raw_path=b"/"), headers=headers, content=body,
                                    timeout=seconds,
                                    extensions={"target": target(prefix, raw_path, request.scope["query_string"])})
    reply = await _send(client, outgoing, route, request.method)
    if isinstance(reply, Response):
        return reply
    out = [(k, v) for k, v in reply.headers.multi_items() if k.lower() not in _NOT_RETURNED]
    response = StreamingResponse(reply.aiter_raw(), status_code=reply.status_code,
                                 background=BackgroundTask(reply.aclose))
    response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out]
    return response


async def _send(client: Any, outgoing: Any, route: Route, method: str) -> Any:
    """The function's reply (headers read, body still streaming), or the problem answering its failure."""
    import httpx2

    failure = ""
    for _ in (1, 2):
        try:
            return await client.send(outgoing, stream=True)
        except (httpx2.ConnectError, httpx2.ConnectTimeout):  # it never reached the function: safe to try again
            failure = f"the {route.target} function is unavailable, try again"
        except httpx2.TimeoutException:
            metrics.UPSTREAM_FAILURES.labels(route.target, "timeout").inc()
            seconds = timeout(route, _settings())
            return asgi.problem(504, f"the {route.target} function did not answer within {seconds:g} s")
        except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError):
            # e.g. a kept-alive connection the function had closed: only an idempotent request is sent again;
            # a POST that may have reached the function never is (a retried POST /api/persons created twice).
            failure = f"the connection to the {route.target} function failed"
            if method not in IDEMPOTENT:
                break
    metrics.UPSTREAM_FAILURES.labels(route.target, "unavailable").inc()
    return asgi.problem(503, failure, headers={"Retry-After": "1"})
