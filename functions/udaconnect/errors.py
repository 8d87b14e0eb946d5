"""The error tree shared by every layer.

    UdaConnectError
    ├── InvalidInput          a client sent something we cannot accept (-> 4xx, never retried)
    │   ├── NotFound          it names a person or location that does not exist (-> 404)
    │   ├── PayloadTooLarge   its body is larger than we take (-> 413)
    │   ├── HeadersTooLarge   too many or too large request headers (-> 431)
    │   ├── Unauthorized      no bearer token, or one that is expired, forged or not for us (-> 401)
    │   ├── Forbidden         a valid token that may not do this: not yours, not your role (-> 403)
    │   └── TooManyRequests   this token or device is over its rate limit (-> 429 with Retry-After)
    ├── Conflict              it collides with what exists (-> 409)
    ├── SearchTimeout         a search did not finish within its budget and was cancelled (-> 504)
    └── InfrastructureError   the database or the broker failed (-> 5xx/503, the caller or broker retries)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


@dataclass
class FieldError:
    field: str
    message: str


class UdaConnectError(Exception):
    """Root of every error this package raises on purpose."""


class InvalidInput(UdaConnectError):
    status = 400

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(InvalidInput):
    status = 404


class PayloadTooLarge(InvalidInput):
    status = 413


class HeadersTooLarge(InvalidInput):
    status = 431


class Unauthorized(InvalidInput):
    status = 401
    headers = {"WWW-Authenticate": 'Bearer realm="udaconnect"'}


class Forbidden(InvalidInput):
    status = 403


class TooManyRequests(InvalidInput):
    status = 429

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, round(retry_after + 0.49)))}


class Conflict(UdaConnectError):
    status = 409


class InfrastructureError(UdaConnectError):
    """A dependency (database, broker, binary) failed or is missing."""


class SearchTimeout(UdaConnectError):
    """A search ran past its budget; PostgreSQL cancelled it. Asking less (fewer days, a shorter distance) helps,
    asking again does not."""

    status = 504

    def __init__(self, budget: float) -> None:
        self.budget = budget
        super().__init__(f"the search was stopped after its budget of {budget:g} s: "
                         "try a shorter date range, a shorter distance or a time window")
        self.detail = str(self)


def field_errors(error: ValidationError, prefix: str = "") -> list[FieldError]:
    """Each field a pydantic model refused, named by its path (`data.fixes.3.latitude`), with the reason."""
    out = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"]) or "body"
        message = str(item["msg"]).removeprefix("Value error, ")
        out.append(FieldError(prefix + name, message))
    return out
