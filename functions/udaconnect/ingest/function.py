"""The `ingest` target: POST / and /api/events (CloudEvents), POST /api/locations (the original body).

A request is all-or-nothing: when any event of a batch is invalid none is published, and the problem
names each bad event by index and id, so a client fixes or drops those and resends the whole batch. So is a
multi-fix event (io.udaconnect.locations.reported.v1): one bad fix refuses it whole, the fix named by its index.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from udaconnect import asgi
from udaconnect.errors import FieldError, Forbidden, InfrastructureError, InvalidInput
from udaconnect.ingest import envelope, legacy
from udaconnect.ingest.auth import admit, authenticate, charge, source_of
from udaconnect.ingest.validation import Report, check
from udaconnect.plausibility import is_late
from udaconnect.problems import error_answer
from udaconnect.telemetry import metrics, tracing

_EVENTS = ("/", "/api/events", "/api/events/")
_LOCATIONS = ("/api/locations", "/api/locations/")
_FIX = re.compile(r"^data\.fixes\[(\d+)\]")


@asgi.guarded
async def handle(request: Request) -> Response:
    path = request.url.path
    if path == "/health":
        return asgi.health()
    if path not in _EVENTS + _LOCATIONS:
        return asgi.problem(404, f"no such resource: {path}")
    if request.method != "POST":
        return asgi.method_not_allowed("POST")
    settings = _settings()
    principal = authenticate(settings, request.headers)
    now = datetime.now(UTC)
    if path in _LOCATIONS:
        return await _legacy(request, principal, settings, now)
    body = await asgi.read_body(request, envelope.MAX_BODY_BYTES, envelope.TooLarge)
    raws, batch = envelope.read(dict(request.headers.items()), body)  # items(): linear, dict() is not
    reports, invalid = [], []
    max_fixes = settings.max_fixes
    for index, raw in enumerate(raws):
        result = check(raw, now, max_fixes)
        if isinstance(result, Report):
            reports.append(result)
        else:
            invalid.append((index, raw.attributes.get("id"), result))
    fixes = sum(len(report.fixes) for report in reports)
    if invalid:
        metrics.FIXES_REFUSED.labels("invalid").inc(fixes)  # the valid events' fixes go with the batch
        return _refused(invalid, len(raws), batch)
    async with _counted(fixes) as counted:
        admit(principal, reports, batch)
        counted.late = _charged(settings, principal, request, reports, now)
        await _publisher().publish_async(_traced(_proved(settings, principal, reports)))
    return asgi.json_response({"accepted": len(reports), "ids": [r.id for r in reports], "late": counted.late}, 202)


class _Counted:
    late = 0


@contextlib.asynccontextmanager
async def _counted(fixes: int) -> AsyncIterator[_Counted]:
    """Count a request's valid fixes: accepted (and how many late) once published, else refused by the reason
    its problem names (udaconnect.telemetry.metrics)."""
    counted = _Counted()
    try:
        yield counted
    except Exception as error:
        answer = error_answer(error)
        metrics.FIXES_REFUSED.labels(metrics.refusal_reason(answer[0] if answer else 500)).inc(fixes)
        raise
    metrics.FIXES_ACCEPTED.inc(fixes)
    metrics.FIXES_LATE.inc(counted.late)


def _charged(settings, principal, request: Request, reports: list[Report], now: datetime) -> int:  # noqa: ANN001
    """The request's fixes counted against its bound and the reporter's rate; how many of them arrived late
    (older than UDACONNECT_MAX_FIX_AGE: stored, but kept apart as untrusted by persist)."""
    fixes = [fix for report in reports for fix in report.fixes]
    if len(fixes) > settings.max_fixes:
        raise envelope.TooLarge(f"a request holds at most {settings.max_fixes} fixes (UDACONNECT_MAX_FIXES), got "
                                f"{len(fixes)}: send smaller batches", [FieldError("data.fixes", "too many fixes")])
    charge(settings, principal, request.headers, len(fixes))
    rules = settings.plausibility
    return sum(is_late(fix.recorded_at, now, rules) for fix in fixes)


async def _legacy(request: Request, principal, settings, now: datetime) -> Response:  # noqa: ANN001
    raw = legacy.to_event(await asgi.json_body(request), source=source_of(principal, legacy.LEGACY_SOURCE))
    result = check(raw, now)
    if not isinstance(result, Report):
        raise InvalidInput("invalid location", [FieldError(legacy.field_name(e.field), e.message) for e in result])
    try:
        admit(principal, [result], batch=False)
    except Forbidden as refused:
        raise Forbidden(refused.detail, [FieldError(legacy.field_name(e.field), e.message)
                                         for e in refused.errors]) from None
    async with _counted(1) as counted:
        counted.late = _charged(settings, principal, request, [result], now)
        await _publisher().publish_async(_traced(_proved(settings, principal, [result])))
    # Storage is asynchronous now: the id names the report (the CloudEvent id), not a database row.
    return asgi.json_response({"id": result.id, "late": counted.late}, 202)


def _traced(events: list) -> list:  # noqa: ANN001 - Events
    """The events carrying this request's trace context (udaconnect.telemetry.tracing), when it has one."""
    context = tracing.current()
    return [tracing.stamped(event, context) for event in events] if context else events


def _proved(settings, principal, reports: list[Report]) -> list:  # noqa: ANN001
    """Each report with ingest's delivery proof (udaconnect.events.proof): persist stores nothing without one.
    Only an organizer's report is an import (any source); a device's is checked again by persist against the
    database (its device, of its person, not revoked)."""
    if not settings.delivery_key_file:
        if settings.open:  # the original frontend's mode: persist checks nothing either
            return [r.event for r in reports]
        raise InfrastructureError("UDACONNECT_DELIVERY_KEY_FILE is unset: ingest cannot prove the reports it "
                                  "accepts, and persist stores none without a proof (docs/security.md)")
    from udaconnect.events import Event, proof

    key = proof.key_of(settings.delivery_key_file)
    reported_by = "device" if principal.role == "device" else "organizer"
    return [Event(proof.stamped(key, r.event.attributes, r.event.data or b"", reported_by), r.event.data)
            for r in reports]


def _settings():  # noqa: ANN202 - a udaconnect.settings.Settings
    # Once per process, from the composition root (which imports no SQLAlchemy until a target asks for the
    # engine): Settings.from_env read per request was ~6 % of ingest's CPU per single event (py-spy).
    from udaconnect.bootstrap import context

    return context().settings


def _publisher():  # noqa: ANN202 - the context's Publisher
    from udaconnect.bootstrap import context

    return context().publisher


def _refused(invalid: list[tuple[int, object, list[FieldError]]], total: int, batch: bool) -> Response:
    errors = [{"field": f"[{index}].{e.field}" if batch else e.field, "message": e.message}
              for index, _, found in invalid for e in found]
    fixes = {index: sorted({int(m[1]) for e in found if (m := _FIX.match(e.field))}) for index, _, found in invalid}
    if batch:
        named = ", ".join(f"{index} (id {event_id!r}{_fixes_named(fixes[index], ', ')})"
                          for index, event_id, _ in invalid)
        detail = f"{len(invalid)} of {total} events are invalid: {named}; none was accepted"
    else:
        detail = f"the event is invalid{_fixes_named(fixes[invalid[0][0]], ': ')}; it was not accepted"
    body = {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail, "errors": errors,
            "invalid": [{"index": index, "id": event_id, **({"fixes": fixes[index]} if fixes[index] else {})}
                        for index, event_id, _ in invalid]}
    return asgi.json_response(body, 400, content_type=asgi.PROBLEM)


def _fixes_named(indexes: list[int], joiner: str) -> str:
    if not indexes:
        return ""
    return f"{joiner}{'fix' if len(indexes) == 1 else 'fixes'} {', '.join(map(str, indexes))} (none of its fixes " \
           f"was accepted)"
