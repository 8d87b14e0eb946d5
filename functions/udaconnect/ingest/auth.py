"""Who is reporting, and whether they may: ingest's one authentication seam.

- A device reports with its bearer token (a JWT from POST /api/persons/{id}/devices, signed with UdaConnect's
  key): verified here with no database round trip, the signature proving the device and its person (verified
  tokens are cached: udaconnect.auth.tokens). Every event it sends (each fix of a multi-fix event too) must be
  its own person's, with its own source /devices/<device_id>; else 403 naming each such event and field.
- An organizer may report for anyone, with any source (imports); an attendee's token is 403; none or a bad one 401.
- Each person is rate limited by the fixes they report, all their devices together (Settings.ingest_rate fixes/s,
  bursts of ingest_burst; an organizer's token ten times that): what costs is a fix, not a request, so one request
  of 10,000 fixes is no cheaper than 10,000 requests. A phone taking a fix every few seconds never meets it; a
  spray or a stolen token flooding ingest does. An empty bucket is refused before the body is read.
- Revocation: the token stays valid until it expires (365 days), so ingest keeps the set of revoked devices,
  refreshed from the persons function every few seconds (udaconnect.ingest.revocations): a revoked device gets
  401 within about 5 s. The guarantee is where rows are written: persist re-checks, in the transaction that
  stores them, that each /devices/<uuid> source is an enrolled device that is not revoked, and drops (counts,
  logs, 204) the events of any other (udaconnect.persist.store), including those accepted before ingest knew.
- UDACONNECT_AUTH=open: every caller is an organizer (legacy clients), and nothing is limited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from udaconnect.errors import FieldError, Forbidden

if TYPE_CHECKING:
    from udaconnect.auth.tokens import Principal
    from udaconnect.ingest.validation import Report
    from udaconnect.settings import Settings


def authenticate(settings: Settings, headers: Mapping[str, str]) -> Principal:
    """The caller, once allowed to report at all and within its rate; else Unauthorized, Forbidden or
    TooManyRequests. Checked before the body is read: a refused caller costs no parsing."""
    from udaconnect.auth.policy import Access, authorize, principal_of

    principal = principal_of(settings, headers)
    authorize(principal, Access.DEVICE)
    if principal.device_id is not None:
        from udaconnect.ingest import revocations

        revocations.for_settings(settings).check(principal.device_id)
    if not settings.open:
        _limiter(settings).ensure(_key(principal, headers), scale=_scale(principal))
    return principal


def charge(settings: Settings, principal: Principal, headers: Mapping[str, str], fixes: int) -> None:
    """Spend `fixes` from the reporter's bucket, or TooManyRequests naming the limit (nothing is published)."""
    if not settings.open:
        _limiter(settings).take(_key(principal, headers), cost=fixes, scale=_scale(principal))


def _key(principal: Principal, headers: Mapping[str, str]) -> str:
    # a person's devices share one bucket (at most UDACONNECT_MAX_DEVICES of them); an organizer's tokens each
    # have their own
    if principal.person_id is not None and principal.role == "device":
        return f"person:{principal.person_id}"
    return "token:" + (headers.get("authorization") or "").rpartition(".")[2]


def _scale(principal: Principal) -> float:
    from udaconnect.auth.ratelimit import ORGANIZER_SCALE

    return ORGANIZER_SCALE if principal.organizer else 1.0


def _limiter(settings: Settings):  # noqa: ANN202 - a udaconnect.auth.ratelimit.Limiter
    from udaconnect.auth.ratelimit import limiter

    return limiter(settings.ingest_rate, settings.ingest_burst, "fixes")


def admit(principal: Principal, reports: Sequence[Report], batch: bool) -> None:
    """Forbidden naming each event (by index in a batch) whose person or source is not the device's own."""
    if principal.role != "device":
        return
    source, person_id = principal.source, principal.person_id
    errors: list[FieldError] = []
    refused: list[int] = []
    for index, report in enumerate(reports):
        prefix = f"[{index}]." if batch else ""
        found = []
        if report.payload.person_id != person_id:
            found.append(FieldError(f"{prefix}data.person_id",
                                    f"{report.payload.person_id} is not this device's person ({person_id})"))
        if report.event.attributes.get("source") != source:
            found.append(FieldError(f"{prefix}source", f"must be this device's own source {source}"))
        if found:
            refused.append(index)
            errors.extend(found)
    if not errors:
        return
    if batch:
        named = ", ".join(str(i) for i in refused[:20]) + (" ..." if len(refused) > 20 else "")
        detail = (f"{len(refused)} of {len(reports)} events are not this device's own (events {named}): a device "
                  f"reports only its person's fixes, with its own source; none was accepted")
    else:
        detail = "the event is not this device's own: a device reports only its person's fixes, with its own source"
    raise Forbidden(detail, errors)


def source_of(principal: Principal, default: str) -> str:
    """The source a legacy POST /api/locations report carries: the device's own, else `default`."""
    return principal.source or default
