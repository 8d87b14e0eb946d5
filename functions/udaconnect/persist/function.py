"""The `persist` target: the Trigger's subscriber for location reports.

Answers, as the Kafka broker's dispatcher reads them: 200 with a reply event, io.udaconnect.location.stored.v1 in
binary mode, once the row is committed (or was already, for a redelivery: the first reply may have been lost);
204 with no reply for a fix kept apart as untrusted (udaconnect.plausibility: stored in location_untrusted,
never announced, so it opens no encounter), for a fix of an erased person, or from a revoked or unknown
device (/devices/<uuid>) while auth is on (dropped and counted, never stored nor dead-lettered);
for io.udaconnect.locations.reported.v1 (a device's buffered fixes), 204 once its rows are committed as one
group and one location.stored.v1 per fix is published (a reply carries one event);
503 when the database failed (retried with backoff); 400/422 with a problem+json
reason for an event that can never be stored (not retried: dead-lettered with the reason), including one the
database itself refuses (422: a value out of a column's range); 431 for more headers than any event carries.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from udaconnect import asgi
from udaconnect.contracts.locations import Fix, InvalidPayload, check_fixes, check_payload
from udaconnect.contracts.names import ARRIVED, LOCATION_REPORTED, LOCATION_STORED, LOCATIONS_REPORTED, PERSIST_SOURCE
from udaconnect.errors import FieldError, InvalidInput
from udaconnect.events import Event, InvalidEvent
from udaconnect.events.http_binding import from_http, to_binary
from udaconnect.persist import group_commit
from udaconnect.persist.store import UNSTORABLE
from udaconnect.telemetry import tracing
from udaconnect.telemetry.serving import note

if TYPE_CHECKING:
    from udaconnect.bootstrap import Context

log = logging.getLogger(__name__)
_PATHS = ("/", "/api/persist")
#: A location report is a few hundred bytes; ingest takes at most 1 MiB per request.
MAX_BODY_BYTES = 1024 * 1024


class Unstorable(InvalidInput):
    status = 422


@asgi.guarded
async def handle(request: Request) -> Response:
    path = request.url.path
    if path == "/health":
        return asgi.health()
    if path not in _PATHS:
        return asgi.problem(404, f"no such resource: {path}")
    if request.method != "POST":
        return asgi.method_not_allowed("POST")
    body = await asgi.read_body(request, MAX_BODY_BYTES)
    try:
        rows = _rows(dict(request.headers.items()), body)  # items(): linear, dict(headers) looks each name up
    except _Unproved as unproved:
        return _unproved(unproved)
    if isinstance(rows, list):
        with tracing.child("persist commit", fixes=len(rows)):
            outcomes = await _writer().write_many_async(rows)
        if group_commit.REVOKED in outcomes:  # one source per report: all of its fixes
            return _revoked(rows[0], len(rows))
        if group_commit.ERASED in outcomes:  # one person per report: all of its fixes
            return _dropped(rows[0], len(rows))
        return await _stored_fixes(rows, outcomes)
    row = rows
    with tracing.child("persist commit", fixes=1):
        outcome = await _writer().write_async(row)
    if outcome == group_commit.ERASED:
        return _dropped(row, 1)
    if outcome == group_commit.REVOKED:
        return _revoked(row, 1)
    if outcome == group_commit.UNKNOWN_PERSON:
        raise Unstorable(f"person {row.person_id} does not exist", [FieldError("data.person_id", "unknown person")])
    if outcome == UNSTORABLE:
        raise Unstorable("the database refused the location report's values",
                         [FieldError("data", "out of what the location table holds")])
    if outcome == group_commit.UNTRUSTED:
        return Response(status_code=204)  # kept apart: no location.stored, so it opens no encounter
    return _stored(row)


def _dropped(row: group_commit.Row, fixes: int) -> Response:
    """An erased person's fixes still in flight: done (a 2xx, so never retried nor dead-lettered), not stored,
    and no location.stored reply (encounters never sees them)."""
    note(delivery="dropped_erased")
    log.warning("dropped %d fix(es) of erased person %d (event %s %s); %d dropped by this process so far",
             fixes, row.person_id, row.event_source, row.event_id, _writer().erased)
    return Response(status_code=204)


class _Unproved(Exception):
    """A report without ingest's valid delivery proof (udaconnect.events.proof)."""

    def __init__(self, source: str, event_id: str, reason: str) -> None:
        super().__init__(reason)
        self.source, self.event_id, self.reason = source, event_id, reason


#: Reports this process dropped for want of a valid delivery proof.
unproved = 0


def _unproved(error: _Unproved) -> Response:
    """A report that did not come through ingest (posted to the broker's ingress or straight to persist, or changed
    on the way): dropped, never stored nor dead-lettered (a 2xx: a 4xx would send a forger's event to the dead
    letters), counted and logged without its data."""
    global unproved
    unproved += 1
    log.warning("dropped a location report without a valid delivery proof (%s; source %.100r, id %.100r): it did "
                "not come through ingest; %d dropped by this process so far", error.reason, error.source,
                error.event_id, unproved)
    return Response(status_code=204)


def _revoked(row: group_commit.Row, fixes: int) -> Response:
    """Fixes from a device that is revoked or was never enrolled: dropped as an erased person's are."""
    note(delivery="dropped_revoked")
    log.warning("dropped %d fix(es) from %s, a revoked or unknown device (event %s); %d dropped by this process "
                "so far", fixes, row.event_source, row.event_id, _writer().revoked)
    return Response(status_code=204)


def _stored(row: group_commit.Row) -> Response:
    """The reply announcing the stored fix. A Knative reply rather than a publish: the dispatcher writes it to the
    broker before it counts the delivery done, so "stored" is announced at least once with no producer here and no
    window between the commit and a publish where a crash would lose it (a failed write means a redelivery, which
    answers this same event: same source and id). The body is the event's data, never anything else: the
    dispatcher counts a non-empty 2xx body that is not a CloudEvent as a failed delivery."""
    headers, body = to_binary(_stored_event(row))
    return Response(body, 200, headers)


def _stored_event(row: group_commit.Row, multi: bool = False) -> Event:
    """io.udaconnect.location.stored.v1 for one fix; a multi-fix report's fix is named by its index too."""
    data = {"person_id": row.person_id, "latitude": row.latitude, "longitude": row.longitude,
            "recorded_at": row.recorded_at.isoformat(), "report_source": row.event_source, "report_id": row.event_id}
    event_id = f"{row.event_source}#{row.event_id}"
    if multi:
        data["report_index"] = row.event_index
        event_id += f"#{row.event_index}"
    body = json.dumps(data, separators=(",", ":")).encode()
    return tracing.stamped(Event({"specversion": "1.0", "id": event_id, "source": PERSIST_SOURCE,
                                  "type": LOCATION_STORED, "datacontenttype": "application/json",
                                  "partitionkey": str(row.person_id)}, body))  # the report's trace goes on


async def _stored_fixes(rows: list[group_commit.Row], outcomes: list[str]) -> Response:
    """A multi-fix report's answer: each fix it holds (stored now or by an earlier delivery) announced, then 204.

    Published here, not replied (a reply is one event), and before the answer, so a delivery is done only once the
    broker holds every announcement: a failed publish is a 503, the broker redelivers, and the fixes, now
    duplicates, are announced again (at least once, as for a single fix's reply)."""
    if group_commit.UNKNOWN_PERSON in outcomes:  # one person per report: all or none of its fixes
        raise Unstorable(f"person {rows[0].person_id} does not exist",
                         [FieldError("data.person_id", "unknown person")])
    # the fixes kept apart as untrusted are stored, not announced: encounters never see them
    held = [row for row, outcome in zip(rows, outcomes, strict=True)
            if outcome not in (UNSTORABLE, group_commit.UNTRUSTED)]
    if held:
        from udaconnect.bootstrap import context

        await context().publisher.publish_async([_stored_event(r, True) for r in held])
    if UNSTORABLE in outcomes:
        raise Unstorable("the database refused some fixes' values (the others are stored)",
                         [FieldError(f"data.fixes[{row.event_index}]", "out of what the location table holds")
                          for row, outcome in zip(rows, outcomes, strict=True) if outcome == UNSTORABLE])
    return Response(status_code=204)  # never a body: the dispatcher would count it as a failed delivery


def _rows(headers: dict[str, str], body: bytes) -> group_commit.Row | list[group_commit.Row]:
    """A single fix's row, or a multi-fix report's rows (a list, one per fix, by index)."""
    try:
        event = from_http(headers, body)
    except InvalidEvent as error:
        raise InvalidInput(f"not a CloudEvent: {error}") from None
    except RecursionError:
        raise InvalidInput("not a CloudEvent: its JSON is nested too deeply") from None
    attributes = event.attributes
    if attributes["type"] not in (LOCATION_REPORTED, LOCATIONS_REPORTED):
        raise Unstorable(f"persist stores {LOCATION_REPORTED} and {LOCATIONS_REPORTED} only",
                         [FieldError("type", attributes["type"])])
    try:
        data = json.loads(event.data or b"")
        payload = check_fixes(data) if attributes["type"] == LOCATIONS_REPORTED else check_payload(data)
    except (ValueError, RecursionError) as error:
        raise Unstorable("the data is not JSON", [FieldError("data", str(error))]) from None
    except InvalidPayload as invalid:
        raise Unstorable("invalid location report", invalid.errors) from None
    if "\x00" in attributes["source"] + attributes["id"]:  # PostgreSQL text cannot hold NUL
        raise Unstorable("source and id must not contain NUL", [FieldError("id", "contains NUL")])
    try:
        (attributes["source"] + attributes["id"]).encode()
    except UnicodeEncodeError:  # a lone surrogate from a structured event's JSON: no text column holds it
        raise Unstorable("source and id must be valid Unicode", [FieldError("id", "lone surrogate")]) from None
    source, event_id = attributes["source"], attributes["id"]
    # vouched for: an organizer's import, or anything with UDACONNECT_AUTH=open (None: nothing is checked there)
    imported = _reported_by(attributes, event.data or b"") in ("organizer", None)
    arrived = _arrived(attributes.get(ARRIVED))
    if isinstance(payload, Fix):
        return group_commit.Row(payload.person_id, payload.longitude, payload.latitude, payload.recorded_at,
                                payload.accuracy, source, event_id, 0, arrived, imported)
    return [group_commit.Row(f.person_id, f.longitude, f.latitude, f.recorded_at, f.accuracy, source, event_id, index,
                             arrived, imported) for index, f in enumerate(payload.fixes)]


def _reported_by(attributes: dict[str, str], data: bytes) -> str | None:
    """Who ingest proved reported it (`device`, `organizer`: an import); _Unproved without a valid proof. With
    UDACONNECT_AUTH=open (the original frontend's mode, refused in production) nothing is checked."""
    from udaconnect.bootstrap import context
    from udaconnect.events import proof

    settings = context().settings
    if settings.open:
        return None
    if not settings.delivery_key_file:
        from udaconnect.errors import InfrastructureError

        raise InfrastructureError("UDACONNECT_DELIVERY_KEY_FILE is unset: persist stores no report it cannot check "
                                  "came through ingest (docs/security.md)")
    reported_by = proof.reporter(proof.key_of(settings.delivery_key_file), attributes, data)
    if reported_by is None:
        reason = "no proof" if proof.PROOF not in attributes else "a proof that does not hold"
        raise _Unproved(attributes["source"], attributes["id"], reason)
    return reported_by


def _arrived(value: str | None) -> datetime | None:
    """When ingest took the report (its `arrivedat`); None (judged as now) when absent or not a time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _writer() -> group_commit.GroupCommitWriter:
    """The process's group commit (one thread, one connection), from the composition root; closed at exit."""
    from udaconnect.bootstrap import context

    return context().shared(_group_commit, group_commit.GroupCommitWriter.close)


def _group_commit(made: Context) -> group_commit.GroupCommitWriter:
    return group_commit.for_url(made.database_url, not made.settings.open, made.settings.plausibility)
