"""The `encounters` target: the Trigger's subscriber for stored fixes, and a person's encounters over HTTP.

- `POST /` (the Trigger io.udaconnect.location.stored.v1): 204 with an empty body once the fix's contacts are
  merged into encounters and committed (also for a fix seen before: nothing changes); 503 when the database
  failed (the broker retries); 4xx for an event that can never be taken into account (dead-lettered).
- `GET /api/persons/{id}/encounters?start_date=&end_date=`: the encounters with a contact in the range.
- `GET /api/persons/{id}/encounters/live`: Server-Sent Events, one `encounter` event per new encounter of that
  person (id = the encounter id, increasing in detection order), resumed after `Last-Event-ID`. A stream ends
  after UDACONNECT_LIVE_TIMEOUT (240 s), inside Knative's request timeout (the Service sets 300 s), and asks
  the client to reconnect after 1 s (`retry:`); EventSource then resumes from the last id it received.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from udaconnect import asgi
from udaconnect.errors import FieldError, InvalidInput, NotFound
from udaconnect.events import InvalidEvent
from udaconnect.events.http_binding import from_http
from udaconnect.headers import API
from udaconnect.routes import match
from udaconnect.telemetry import metrics, tracing

_ID = re.compile(r"^[0-9]{1,10}$")
_EVENT_ID = re.compile(r"^[0-9]{1,18}$")
MAX_BODY_BYTES = 64 * 1024


class Undetectable(InvalidInput):
    status = 422


@asgi.guarded
async def handle(request: Request) -> Response:
    path = request.url.path
    if path == "/health":
        return asgi.health()
    if path == "/":
        if request.method != "POST":
            return asgi.method_not_allowed("POST")
        return await _delivery(request)
    routed = match(path)
    if routed is None or routed.route.target != "encounters":
        return asgi.problem(404, f"no such resource: {path[:200]}")
    if request.method not in routed.route.methods:  # HEAD named: Starlette does not answer it for us
        return asgi.method_not_allowed(routed.route.allow_except("OPTIONS"))
    person_id = _person_id(routed.params[0])
    if routed.name == "live-encounters":
        if "access_token" in request.query_params:
            # a token in a URL ends up in logs, proxies and histories: the stream takes Authorization as every
            # route does (the web client reads it over fetch, not EventSource)
            raise InvalidInput("a token in the URL is refused: send it as Authorization: Bearer <token>",
                               [FieldError("access_token", "tokens are not taken from the URL")])
        await _allowed(request, path, person_id, "watch encounters")
        return await _live(request, person_id)
    await _allowed(request, path, person_id, "read encounters")
    return await _list(request, person_id)


async def _allowed(request: Request, path: str, person_id: int, action: str) -> None:
    """401/403 unless the caller may read `person_id`'s encounters; an organizer's read is audited."""
    from udaconnect.auth import audit, policy

    principal = policy.check(_context().settings, request.headers, path, person_id)
    if policy.reads_someone_else(principal, person_id):
        await asyncio.to_thread(audit.record, _context().engine, principal, action, person_id)


def _person_id(value: str) -> int:
    if not _ID.match(value) or not 0 < int(value) <= 2**31 - 1:
        raise NotFound(f"person {value[:50]!r} does not exist")
    return int(value)


async def _delivery(request: Request) -> Response:
    from pydantic import ValidationError

    from udaconnect.contracts.events import LOCATION_STORED, LocationStored
    from udaconnect.encounters import detector
    from udaconnect.errors import field_errors

    body = await asgi.read_body(request, MAX_BODY_BYTES)
    try:
        event = from_http(dict(request.headers.items()), body)
    except InvalidEvent as error:
        raise InvalidInput(f"not a CloudEvent: {error}") from None
    except RecursionError:
        raise InvalidInput("not a CloudEvent: its JSON is nested too deeply") from None
    if event.attributes["type"] != LOCATION_STORED:
        raise Undetectable(f"encounters takes {LOCATION_STORED} only", [FieldError("type", event.attributes["type"])])
    try:
        stored = LocationStored.model_validate_json(event.data or b"")
    except ValidationError as error:
        raise Undetectable("invalid stored-location event", field_errors(error, "data.")) from None
    with tracing.child("encounters detect"):
        await detector.for_settings(_context().settings).detect(
            (stored.report_source, stored.report_id, stored.report_index))
    return Response(status_code=204)  # never a body: the dispatcher would count it as a failed delivery


def _context() -> Any:
    from udaconnect.bootstrap import context

    return context()


async def _read(fn: Any, *args: Any) -> Any:
    """Run a read on the pooled engine (the replica's once it has caught up: udaconnect.storage.replica) in a
    thread: the event loop keeps serving streams meanwhile."""
    def run() -> Any:
        with _context().reader().connect() as conn:
            return fn(conn, *args)

    return await asyncio.to_thread(run)


def _bounds(first: date | datetime, last: date | datetime) -> tuple[datetime, datetime]:
    """As the connection search: a day is all of itself in the venue's zone, an instant includes itself."""
    from udaconnect.contracts.api import day_range
    from udaconnect.places.store import days_zone

    settings = _context().settings
    try:
        return day_range(first, last, days_zone(_context().engine, settings.venue_time_zone))
    except ValueError:
        raise InvalidInput("end_date is before start_date",
                           [FieldError("end_date", "must not be before start_date")]) from None


async def _list(request: Request, person_id: int) -> Response:
    from udaconnect.contracts.api import EncounterQuery
    from udaconnect.encounters import store
    from udaconnect.flask_edge import parse

    args: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in args:
            raise InvalidInput(f"query parameter {key} given more than once", [FieldError(key, "given twice")])
        args[key] = value
    query = parse(EncounterQuery, args, "query")
    start, end = await asyncio.to_thread(_bounds, query.start_date, query.end_date)  # the venue: a query a minute

    def read(conn: Any) -> list[dict[str, Any]]:
        if not store.person_exists(conn, person_id):
            raise NotFound(f"person {person_id} does not exist")
        return store.of_person(conn, person_id, start, end, query.limit)

    return asgi.json_response(await _read(read))


async def _live(request: Request, person_id: int) -> Response:
    from udaconnect.encounters import live, store

    header = request.headers.get("last-event-id", "").strip()
    if header and not _EVENT_ID.match(header):
        raise InvalidInput("Last-Event-ID must be an encounter id", [FieldError("Last-Event-ID", "not an id")])
    if not await _read(store.person_exists, person_id):
        raise NotFound(f"person {person_id} does not exist")
    hub = live.hub_for(_dsn())
    subscription = hub.subscribe(person_id)  # before the first read: nothing committed after it is missed
    try:
        sent = int(header) if header else await _read(store.latest_id)
    except BaseException:
        hub.unsubscribe(subscription)
        raise
    timeout = _context().settings.live_timeout

    async def events() -> AsyncIterator[bytes]:
        nonlocal sent
        metrics.LIVE_STREAMS.inc()
        try:
            yield (f"retry: 1000\n: encounters of person {person_id}; this stream ends after {timeout:g} s, "
                   f"reconnect with Last-Event-ID\n\n").encode()
            if not header:  # an id to resume from even before the first encounter
                yield f"event: ready\nid: {sent}\ndata: {{}}\n\n".encode()
            deadline = time.monotonic() + timeout
            while True:
                subscription.wake.clear()
                found = await _read(store.after, person_id, sent)
                for encounter in found:
                    sent = encounter["id"]
                    yield f"event: encounter\nid: {sent}\ndata: {json.dumps(encounter)}\n\n".encode()
                if len(found) == 100:
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(subscription.wake.wait(), min(live.HEARTBEAT, remaining))
                except TimeoutError:
                    yield b": keep-alive\n\n"
        finally:
            metrics.LIVE_STREAMS.dec()
            hub.unsubscribe(subscription)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={**API, "X-Accel-Buffering": "no"})


@lru_cache(maxsize=1)
def _dsn() -> str:
    from udaconnect.storage.urls import database_url, libpq

    return libpq(database_url(_context().settings))
