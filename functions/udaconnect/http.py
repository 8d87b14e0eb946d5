"""HTTP edge helpers shared by every function: JSON and problem+json answers, query parsing, CORS, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Request, Response
from pydantic import BaseModel, ValidationError

from udaconnect.errors import (
    Conflict,
    FieldError,
    InfrastructureError,
    InvalidInput,
    PayloadTooLarge,
    UdaConnectError,
)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
#: The largest JSON body an API call takes (a person is a few hundred bytes).
MAX_BODY = 64 * 1024
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Accept, Authorization, ce-id, ce-source, ce-type, ce-specversion",
    "Access-Control-Expose-Headers": "Location, Link, X-Total-Count",
    "Access-Control-Max-Age": "600",
}
TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
          409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
          503: "Service Unavailable"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> Response:
    text = body if isinstance(body, str) else json.dumps(body, default=str, separators=(",", ":"))
    return Response(text, status=status, headers={**CORS, **(headers or {})}, content_type=content_type)


def problem(status: int, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    return json_response(problem_body(status, detail, errors), status, headers, PROBLEM)


def field_errors(error: ValidationError, prefix: str = "") -> list[FieldError]:
    out = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"]) or "body"
        message = str(item["msg"]).removeprefix("Value error, ")
        out.append(FieldError(prefix + name, message))
    return out


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, what: str) -> M:
    """Validate `data` against `model`, raising InvalidInput that names each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(f"invalid {what}", field_errors(error)) from None


def query_args(request: Request) -> dict[str, str]:
    """Query parameters, refusing repeated ones instead of silently taking the first."""
    args: dict[str, str] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise InvalidInput(f"query parameter {key} given more than once", [FieldError(key, "given twice")])
        args[key] = values[0]
    return args


def json_body(request: Request) -> Any:
    if (request.content_length or 0) > MAX_BODY:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes", [FieldError("body", "too large")])
    return decode_json(request.mimetype or "", request.get_data(cache=True))


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


def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Map the error tree to status codes; answer CORS preflights; never let a client's input become a 500."""

    def wrapper(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status=204, headers=CORS)
        try:
            return handler(request)
        except Exception as error:
            answer = error_answer(error)
            if answer is None:
                raise
            return problem(*answer)

    wrapper.__name__ = getattr(handler, "__name__", "handler")
    return wrapper


def error_answer(error: Exception) -> tuple[int, str, list[FieldError], dict[str, str]] | None:
    """(status, detail, field errors, headers) of the problem answering `error`; None for a bug (a 500)."""
    if isinstance(error, InvalidInput):
        return error.status, error.detail, error.errors, {}
    if isinstance(error, Conflict):
        return 409, str(error), [], {}
    if isinstance(error, InfrastructureError):
        log.warning("infrastructure failure: %s", error)
        return 503, "a backing service is unavailable, try again", [], {"Retry-After": "1"}
    if isinstance(error, UdaConnectError):  # pragma: no cover - every subclass is mapped above
        return 400, str(error), [], {}
    if _database_unavailable(error):
        log.warning("database unavailable: %s", error)
        return 503, "the database is unavailable, try again", [], {"Retry-After": "1"}
    return None


def problem_body(status: int, detail: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    return {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail,
            "errors": [{"field": e.field, "message": e.message} for e in errors or []]}


def _database_unavailable(error: Exception) -> bool:
    """A lost or refused database connection (checked by name: the web target never imports a driver)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    module = type(error).__module__
    return module.startswith(("sqlalchemy", "psycopg2")) and bool(
        names & {"OperationalError", "InterfaceError", "TimeoutError", "DisconnectionError"})


def method_not_allowed(allowed: str) -> Response:
    return problem(405, f"use {allowed}", headers={"Allow": allowed})


def health() -> Response:
    return json_response({"status": "ok"})
