"""The `retention` target: the PingSource's sink. Each tick (dev.knative.sources.ping) runs one bounded sweep.

- `POST /` with a ping CloudEvent: 204 with an empty body once a sweep ran (what it deleted, and whether rows
  are left for the next tick, is logged); 503 when the database failed; 400 for a request that is not a
  CloudEvent, 422 for another type of event.
A sweep deletes only what is past the retention already, so a tick sent twice, or by someone else on the
cluster, changes nothing that the next hourly tick would not; NetworkPolicies decide who reaches it.
"""

from __future__ import annotations

import logging

from flask import Request, Response

from udaconnect import flask_edge
from udaconnect.contracts.names import PING
from udaconnect.errors import FieldError, InvalidInput

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


class NotAPing(InvalidInput):
    status = 422


@flask_edge.guarded
def handle(request: Request) -> Response:
    if request.path == "/health":
        return flask_edge.health()
    if request.path != "/":
        return flask_edge.problem(404, f"no such resource: {request.path[:200]}")
    if request.method != "POST":
        return flask_edge.method_not_allowed("POST")
    event_type = _event_type(request)
    if event_type != PING:
        raise NotAPing(f"retention takes {PING} only", [FieldError("type", event_type)])
    from udaconnect.bootstrap import context
    from udaconnect.retention import sweep

    settings = context().settings
    done = sweep(context().engine, settings.retention_days)
    log.info("retention %g days: deleted %d locations, %d untrusted fixes, %d encounters, %d outbox rows older than "
             "%s in %.1f s%s", settings.retention_days, done.locations, done.untrusted, done.encounters, done.outbox,
             done.cutoff.isoformat(), done.seconds, "; more is left for the next tick" if done.left else "")
    return Response(status=204)  # never a body: a sink's 2xx body is read as a reply event


def _event_type(request: Request) -> str:
    from udaconnect.events import InvalidEvent
    from udaconnect.events.http_binding import from_http

    body = request.get_data(cache=False)
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInput("a ping carries a few bytes", [FieldError("body", "too large")])
    try:
        return str(from_http(dict(request.headers.items()), body).attributes["type"])
    except InvalidEvent as error:
        raise InvalidInput(f"not a CloudEvent: {error}") from None
