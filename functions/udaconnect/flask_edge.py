"""HTTP edge helpers shared by every function: JSON and problem+json answers, query parsing, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Request, Response
from pydantic import BaseModel, ValidationError

from udaconnect.errors import FieldError, InvalidInput, PayloadTooLarge, field_errors
from udaconnect.headers import API
from udaconnect.problems import MAX_BODY, PROBLEM, decode_json, error_answer, problem_body

if TYPE_CHECKING:
    from udaconnect.routes import Route

__all__ = ["MAX_BODY", "PROBLEM", "decode_json", "error_answer", "field_errors", "problem_body"]

def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> Response:
    text = body if isinstance(body, str) else json.dumps(body, default=str, separators=(",", ":"))
    return Response(text, status=status, headers={**API, **(headers or {})}, content_type=content_type)


def problem(status: int, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    return json_response(problem_body(status, detail, errors), status, headers, PROBLEM)


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


def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Map the error tree to status codes; answer OPTIONS (CORS is the gateway's); never let a client's input
    become a 500."""

    def wrapper(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status=204, headers=API)
        try:
            return handler(request)
        except Exception as error:
            answer = error_answer(error)
            if answer is None:
                raise
            return problem(*answer)

    wrapper.__name__ = getattr(handler, "__name__", "handler")
    return wrapper


def method_not_allowed(allowed: str) -> Response:
    return problem(405, f"use {allowed}", headers={"Allow": allowed})


def not_allowed(route: Route) -> Response:
    """405 naming the route's methods (Flask answers HEAD and this module OPTIONS, so neither is named)."""
    return method_not_allowed(route.allow_except("HEAD", "OPTIONS"))


def health() -> Response:
    return json_response({"status": "ok"})
