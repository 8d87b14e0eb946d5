"""Who may call what: each route of udaconnect.routes states an Access, and every function that serves data
checks the caller's token against it (the gateway only forwards the Authorization header).

    PUBLIC     anyone: /health, the API docs, the web client's assets
    SIGNED_IN  any attendee or organizer (the venue's places)
    SELF       the person the path names, or an organizer (a person's profile, track, contacts, devices)
    ORGANIZER  organizers only (the directory of everyone, creating persons)
    DEVICE     an enrolled device, for its own person and source; or an organizer (imports)
    REVOCATIONS  the revocation feed: ingest's service token (scope revocations), or an organizer

A service token may use the one route of its scope and nothing else (403 everywhere else).

No token, or a bad one -> 401; a good token that may not -> 403. With UDACONNECT_AUTH=open every caller is an
organizer (for the original frontend), and a warning says so once per process.
"""

from __future__ import annotations

import logging
from typing import Protocol

from udaconnect.auth.tokens import ANONYMOUS, OPEN, Principal, verify
from udaconnect.errors import FieldError, Forbidden, Unauthorized
from udaconnect.routes import Access, access_for
from udaconnect.settings import Settings

log = logging.getLogger(__name__)


_warned: set[str] = set()


class Headers(Protocol):
    """Request headers as Flask (EnvironHeaders) and Starlette (Headers) both offer them."""

    def get(self, key: str, /) -> str | None: ...


def principal_of(settings: Settings, headers: Headers) -> Principal:
    """The caller named by `Authorization: Bearer <token>` (never a token in the URL); ANONYMOUS without one;
    Unauthorized for a token that is not valid."""
    if settings.open:
        if "open" not in _warned:
            _warned.add("open")
            log.warning("UDACONNECT_AUTH=open: authentication is OFF, every caller is an organizer "
                        "(for legacy clients only; never for real attendees)")
        return OPEN
    value = headers.get("authorization") or headers.get("Authorization") or ""
    if not value:
        return ANONYMOUS
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use Authorization: Bearer <token>", [FieldError("Authorization", "not a bearer token")])
    return verify(settings, token.strip())


def authorize(principal: Principal, access: Access, person_id: int | None = None) -> None:
    """Raise Unauthorized (no principal) or Forbidden (not this one) unless `principal` may use a route of
    `access` about `person_id`."""
    if access is Access.PUBLIC:
        return
    if principal.role == "anonymous":
        raise Unauthorized("sign in: this needs a bearer token",
                           [FieldError("Authorization", "missing")])
    if principal.organizer:
        return
    if principal.role == "service":
        if access is Access.REVOCATIONS and principal.scope == "revocations":
            return
        raise Forbidden("a service token serves its one route only", [FieldError("Authorization", "a service")])
    if access is Access.REVOCATIONS:
        raise Forbidden("not allowed: organizers and ingest only", [FieldError("Authorization", "organizers only")])
    if access is Access.DEVICE:
        if principal.role != "device":
            raise Forbidden("only an enrolled device reports locations", [FieldError("Authorization", "not a device")])
        return
    if principal.role == "device":
        raise Forbidden("a device token only reports locations", [FieldError("Authorization", "a device")])
    if access is Access.SIGNED_IN:
        return
    if access is Access.SELF and person_id is not None and principal.person_id == person_id:
        return
    what = "organizers only" if access is Access.ORGANIZER else f"person {person_id} is not you"
    raise Forbidden(f"not allowed: {what}", [FieldError("Authorization", what)])


def reads_someone_else(principal: Principal, person_id: int | None) -> bool:
    """An organizer reading another person's data: what the audit log records."""
    return principal.organizer and principal is not OPEN and person_id is not None \
        and principal.person_id != person_id


def check(settings: Settings, headers: Headers, path: str, person_id: int | None = None) -> Principal:
    """The caller, once allowed to use `path` (about `person_id`) by the route's Access; else 401 or 403."""
    principal = principal_of(settings, headers)
    authorize(principal, access_for(path), person_id)
    return principal
