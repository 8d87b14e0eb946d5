"""A small blocking keep-alive HTTP POST client (one connection per thread and origin) for publishers and tools;
the dispatcher uses the asyncio http_pool."""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

_local = threading.local()


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def post(url: str, headers: dict[str, str], body: bytes, timeout: float) -> Response:
    """POST and read the whole answer; OSError (timeouts included) when no answer came."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = (parts.scheme, parts.netloc)
    pool: dict[tuple[str, str], http.client.HTTPConnection] = _local.__dict__.setdefault("pool", {})
    reused = key in pool
    for attempt in (0, 1):
        conn = pool.get(key) or _connect(parts.scheme, parts.netloc, timeout)
        pool[key] = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        except (http.client.HTTPException, OSError) as exc:
            pool.pop(key, None)
            conn.close()
            # A kept-alive connection the server closed meanwhile fails before any answer: try once afresh.
            if (
                reused
                and attempt == 0
                and isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
            ):
                continue
            if isinstance(exc, OSError):
                raise
            raise ConnectionError(str(exc)) from exc
        if answer.will_close:
            pool.pop(key, None)
            conn.close()
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
    raise ConnectionError("unreachable")  # pragma: no cover - the loop always returns or raises


def _connect(scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(netloc, timeout=timeout)
    return http.client.HTTPConnection(netloc, timeout=timeout)
