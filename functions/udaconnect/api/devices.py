"""A person's devices, served by the `persons` target: enrol (POST, 201 with the token shown once), list (GET),
revoke (DELETE .../devices/{device}, 204). The attendee themself or an organizer (Access.SELF)."""

from __future__ import annotations

from flask import Request, Response

from udaconnect import flask_edge
from udaconnect.api import path_id
from udaconnect.auth import audit, policy
from udaconnect.auth.ratelimit import ORGANIZER_SCALE, Limiter, limiter
from udaconnect.bootstrap import context
from udaconnect.contracts.api import NewDevice
from udaconnect.queries import devices as queries
from udaconnect.routes import Match
from udaconnect.settings import Settings

#: The routes (udaconnect.routes) this module answers for the persons target.
OPERATIONS = ("devices", "device", "revoked-devices")
_INT32 = 2**31 - 1
#: Enrolments a person may make at once before UDACONNECT_ENROL_RATE paces them (a new phone, a reinstall).
ENROL_BURST = 3


def handle(request: Request, routed: Match) -> Response:
    if request.method not in routed.route.methods:
        return flask_edge.not_allowed(routed.route)
    if routed.name == "revoked-devices":
        return _revoked(request)
    path = request.path
    person_id = path_id(routed.params[0], "person", _INT32)
    settings, engine = context().settings, context().engine
    principal = policy.check(settings, request.headers, path, person_id)
    if routed.name == "device":
        device = routed.params[1]
        audit.record(engine, principal, "revoke device", person_id, f"device {device[:64]}")
        with engine.begin() as conn:
            queries.revoke(conn, person_id, device)
        return Response(status=204)
    if request.method == "POST":
        body = flask_edge.json_body(request) if request.get_data(cache=True) else {}
        new = flask_edge.parse(NewDevice, body, "device")
        _enrolments(settings).take(str(person_id), scale=ORGANIZER_SCALE if principal.organizer else 1.0)
        audit.record(engine, principal, "enrol device", person_id, new.name)
        with engine.begin() as conn:
            enrolled = queries.enrol(conn, settings, person_id, new.name)
        return flask_edge.json_response(enrolled.model_dump(mode="json"), 201,
                                  {"Location": f"/api/persons/{person_id}/devices/{enrolled.device_id}",
                                   "Cache-Control": "no-store"})
    audit.record(engine, principal, "list devices", person_id)
    with engine.connect() as conn:
        found = queries.list_devices(conn, person_id)
    return flask_edge.json_response([d.model_dump(mode="json") for d in found])


def _enrolments(settings: Settings) -> Limiter:
    """Enrolments per person: UDACONNECT_ENROL_RATE an hour, bursts of ENROL_BURST (an organizer's ten times)."""
    return limiter(settings.enrol_rate / 3600, ENROL_BURST, "device enrolments for this person")


def _revoked(request: Request) -> Response:
    """GET /api/devices/revoked?since=: the ids of devices revoked after `since` (ingest asks with its service
    token every few seconds; organizers may too), and `until`, the `since` of the next call."""
    from datetime import UTC, datetime, time

    from udaconnect.contracts.api import RevokedDevicesQuery

    policy.check(context().settings, request.headers, request.path)
    since = flask_edge.parse(RevokedDevicesQuery, flask_edge.query_args(request), "query").since
    after = since if isinstance(since, datetime) or since is None else datetime.combine(since, time.min, UTC)
    with context().engine.connect() as conn:
        revoked, until = queries.revoked_since(conn, after)
    return flask_edge.json_response({"revoked": revoked, "until": until.isoformat()})
