"""HTTP edge helpers for the targets served by ASGI (ingest, persist): the same answers as udaconnect.flask_edge.

Those targets are `functions_framework.aio` functions: one event loop holds hundreds of concurrent requests
(the broker's deliveries, devices' posts) for the price of a coroutine each, where a thread per request cost
most of the CPU under load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from udaconnect.errors import FieldError, HeadersTooLarge, InvalidInput, PayloadTooLarge
from udaconnect.headers import API
from udaconnect.problems import MAX_BODY, PROBLEM, decode_json, error_answer, headers_problem, problem_body

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> Response:
    text = json.dumps(body, default=str, separators=(",", ":"))
    return Response(text, status, {**API, **(headers or {})}, content_type)


def problem(status: int, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    return json_response(problem_body(status, detail, errors), status, headers, PROBLEM)


def health() -> Response:
    return json_response({"status": "ok"})


def method_not_allowed(allowed: str) -> Response:
    return problem(405, f"use {allowed}", headers={"Allow": allowed})


def check_headers(request: Request) -> None:
    """HeadersTooLarge (431) past MAX_HEADERS or MAX_HEADER_BYTES: checked on the raw list before anything reads
    a header by name (Starlette's Headers looks each name up by a linear scan)."""
    problem_text = headers_problem(request.scope["headers"])
    if problem_text:
        raise HeadersTooLarge(problem_text, [FieldError("headers", "too many or too large")])


def preflight(request: Request, allow: str | None = None) -> Response:
    """204 answering OPTIONS, with the methods this path allows when known (the gateway adds CORS to it)."""
    return Response(status_code=204, headers={**API, "Allow": allow} if allow else API)


def guarded(handler: Handler) -> Handler:
    """As udaconnect.flask_edge.guarded: the error tree to status codes, OPTIONS, no 500 for a client's input;
    requests with too many or too large headers are refused (431) before the handler sees them."""

    async def wrapper(request: Request) -> Response:
        try:
            check_headers(request)
            if request.method == "OPTIONS":
                return preflight(request)
            return await handler(request)
        except Exception as error:
            answer = error_answer(error)
            if answer is None:
                raise
            return problem(*answer)

    wrapper.__name__ = getattr(handler, "__name__", "handler")
    return wrapper


def mimetype(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int, too_large: type[InvalidInput] = PayloadTooLarge) -> bytes:
    """The whole body, refused with `too_large` past `limit` bytes, whether or not a Content-Length said so."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(f"the body exceeds {limit} bytes", [FieldError("body", "too large")])
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked bodies carry no Content-Length
            raise too_large(f"the body exceeds {limit} bytes", [FieldError("body", "too large")])
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> Any:
    """As udaconnect.flask_edge.json_body: JSON of at most MAX_BODY bytes, or a 4xx naming the problem."""
    return decode_json(mimetype(request), await read_body(request, MAX_BODY))
