"""The `ingest` target: POST / and /api/events (CloudEvents), POST /api/locations (the original body).

A request is all-or-nothing: when any event of a batch is invalid none is published, and the problem
names each bad event by index and id, so a client fixes or drops those and resends the whole batch. So is a
multi-fix event (io.udaconnect.locations.reported.v1): one bad fix refuses it whole, the fix named by its index.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from udaconnect import asgi
from udaconnect.errors import FieldError, Forbidden, InvalidInput
from udaconnect.ingest import envelope, legacy
from udaconnect.ingest.auth import admit, authenticate, source_of
from udaconnect.ingest.validation import Report, check

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
    if path in _LOCATIONS:
        return await _legacy(request, principal)
    body = await asgi.read_body(request, envelope.MAX_BODY_BYTES, envelope.TooLarge)
    raws, batch = envelope.read(dict(request.headers.items()), body)  # items(): linear, dict() is not
    reports, invalid = [], []
    max_fixes = settings.max_fixes
    for index, raw in enumerate(raws):
        result = check(raw, max_fixes=max_fixes)
        if isinstance(result, Report):
            reports.append(result)
        else:
            invalid.append((index, raw.attributes.get("id"), result))
    if invalid:
        return _refused(invalid, len(raws), batch)
    admit(principal, reports, batch)
    await _publisher().publish_async([r.event for r in reports])
    return asgi.json_response({"accepted": len(reports), "ids": [r.id for r in reports]}, 202)


async def _legacy(request: Request, principal) -> Response:  # noqa: ANN001 - a udaconnect.auth.Principal
    raw = legacy.to_event(await asgi.json_body(request), source=source_of(principal, legacy.LEGACY_SOURCE))
    result = check(raw)
    if not isinstance(result, Report):
        raise InvalidInput("invalid location", [FieldError(legacy.field_name(e.field), e.message) for e in result])
    try:
        admit(principal, [result], batch=False)
    except Forbidden as refused:
        raise Forbidden(refused.detail, [FieldError(legacy.field_name(e.field), e.message)
                                         for e in refused.errors]) from None
    await _publisher().publish_async([result.event])
    # Storage is asynchronous now: the id names the report (the CloudEvent id), not a database row.
    return asgi.json_response({"id": result.id}, 202)


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
