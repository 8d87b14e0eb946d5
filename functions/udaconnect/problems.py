"""Problem answers without a web framework: what every target says for each error, in whichever server it runs.

Imported by udaconnect.flask_edge (Flask targets) and udaconnect.asgi (ASGI targets); it imports neither Flask nor
pydantic, so a target's /health (its readiness probe, its cold start) never pays for them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from udaconnect.errors import (
    Conflict,
    FieldError,
    InfrastructureError,
    InvalidInput,
    PayloadTooLarge,
    SearchTimeout,
    UdaConnectError,
)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
#: The largest JSON body an API call takes (a person is a few hundred bytes).
MAX_BODY = 64 * 1024
#: At most this many request headers, of at most this many bytes in all (431 beyond): a CloudEvent's
#: extensions travel as headers, and every header costs work in every function that reads the event.
MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 * 1024
#: The problem type of a search (or another read) stopped at its deadline: 504, and asking again will not help.
SEARCH_TIMEOUT_TYPE = "urn:udaconnect:problem:search-timeout"
SEARCH_TIMEOUT_TITLE = "Search took too long"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict", 413: "Payload Too Large",
          415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
          431: "Request Header Fields Too Large", 503: "Service Unavailable", 504: "Gateway Timeout"}


def error_answer(error: Exception) -> tuple[int, str, list[FieldError], dict[str, str]] | None:
    """(status, detail, field errors, headers) of the problem answering `error`; None for a bug (a 500)."""
    if isinstance(error, InvalidInput):
        return error.status, error.detail, error.errors, dict(getattr(error, "headers", {}))
    if isinstance(error, Conflict):
        return 409, str(error), [], {}
    if isinstance(error, SearchTimeout):
        return 504, Detail(error.detail, SEARCH_TIMEOUT_TYPE, SEARCH_TIMEOUT_TITLE), [], {}
    if _cancelled(error):  # another read past its statement_timeout
        return 504, Detail("the database did not answer within the budget of this request: ask for less",
                           SEARCH_TIMEOUT_TYPE, SEARCH_TIMEOUT_TITLE), [], {}
    if isinstance(error, InfrastructureError):
        log.warning("infrastructure failure: %s", error)
        return 503, "a backing service is unavailable, try again", [], {"Retry-After": "1"}
    if isinstance(error, UdaConnectError):  # pragma: no cover - every subclass is mapped above
        return 400, str(error), [], {}
    if _database_unavailable(error):
        log.warning("database unavailable: %s", error)
        return 503, "the database is unavailable, try again", [], {"Retry-After": "1"}
    return None


def headers_problem(headers: list[tuple[bytes, bytes]]) -> str:
    """Why these request headers are refused (431), or "" when they are within MAX_HEADERS and MAX_HEADER_BYTES."""
    if len(headers) > MAX_HEADERS:
        return f"at most {MAX_HEADERS} request headers are taken, got {len(headers)}"
    size = sum(len(name) + len(value) + 4 for name, value in headers)
    if size > MAX_HEADER_BYTES:
        return f"the request headers exceed {MAX_HEADER_BYTES} bytes ({size})"
    return ""


class Detail(str):
    """A problem's detail that also names its own type and title (RFC 9457), where about:blank and the status
    phrase would say too little; every answer path passes it on to problem_body unchanged."""

    def __new__(cls, text: str, type_: str, title: str) -> Detail:
        detail = super().__new__(cls, text)
        detail.problem_type, detail.problem_title = type_, title
        return detail

    problem_type: str
    problem_title: str


def problem_body(status: int, detail: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    kind = getattr(detail, "problem_type", "about:blank")
    title = getattr(detail, "problem_title", TITLES.get(status, "Error"))
    return {"type": kind, "title": title, "status": status, "detail": str(detail),
            "errors": [{"field": e.field, "message": e.message} for e in errors or []]}


def _cancelled(error: Exception) -> bool:
    """PostgreSQL cancelled the statement (SQLSTATE 57014: statement_timeout or a cancel request)."""
    return getattr(getattr(error, "orig", error), "pgcode", None) == "57014"


def _database_unavailable(error: Exception) -> bool:
    """A lost or refused database connection (checked by name: the web target never imports a driver)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    module = type(error).__module__
    return module.startswith(("sqlalchemy", "psycopg2")) and bool(
        names & {"OperationalError", "InterfaceError", "TimeoutError", "DisconnectionError"})


def decode_json(mimetype: str, data: bytes) -> Any:
    """A JSON request body of at most MAX_BODY bytes, or InvalidInput / PayloadTooLarge naming the problem."""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise InvalidInput("the body must be application/json", [FieldError("body", f"content type {mimetype!r}")])
    if len(data) > MAX_BODY:  # chunked bodies carry no Content-Length
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes", [FieldError("body", "too large")])
    try:
        return json.loads(data or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise InvalidInput("the body is not valid JSON", [FieldError("body", str(error)[:200])]) from None
