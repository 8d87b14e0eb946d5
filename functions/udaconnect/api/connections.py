"""The `connections` target: whom a person crossed paths with, single locations, and the venue's places."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from flask import Request, Response
from sqlalchemy import Connection, text

from udaconnect import flask_edge
from udaconnect.api import path_id
from udaconnect.auth import audit, policy
from udaconnect.auth.ratelimit import ORGANIZER_SCALE, limiter
from udaconnect.bootstrap import context
from udaconnect.contracts.api import ConnectionQuery, TrackQuery, day_range
from udaconnect.errors import FieldError, Forbidden, InvalidInput, NotFound
from udaconnect.queries import locations, persons
from udaconnect.queries.connections import ConnectionSearch, search_json
from udaconnect.routes import match

GEOJSON = "application/geo+json"


@flask_edge.guarded
def handle(request: Request) -> Response:
    path = request.path
    if path == "/health":
        return flask_edge.health()
    routed = match(path)
    if routed is None or routed.route.target != "connections":
        return flask_edge.problem(404, f"no such resource: {path}")
    if request.method not in routed.route.methods:
        return flask_edge.not_allowed(routed.route)
    settings = context().settings
    if routed.name == "places":
        policy.check(settings, request.headers, path)
        from udaconnect.places.store import venue_geojson

        with context().engine.connect() as conn:
            _bound(conn)
            places = venue_geojson(conn, context().settings.venue_time_zone)
        return flask_edge.json_response(places, content_type=GEOJSON)
    if routed.name == "location":
        location_id = path_id(routed.params[0], "location")
        principal = policy.principal_of(settings, request.headers)
        policy.authorize(principal, policy.Access.SIGNED_IN)  # 401 before a lookup says whether it exists
        with context().engine.connect() as conn:
            _bound(conn)
            found = locations.get_location(conn, location_id)
        try:
            policy.authorize(principal, policy.Access.SELF, found.person_id)
        except Forbidden:  # someone else's location answers as one that does not exist: ids tell nothing
            raise NotFound(f"location {location_id} does not exist") from None
        audit.record(context().engine, principal, "read location", found.person_id, f"location {location_id}")
        return flask_edge.json_response(found.model_dump(mode="json"))
    person_id = path_id(routed.params[0], "person", 2**31 - 1)
    principal = policy.check(settings, request.headers, path, person_id)
    # searches and tracks per token: a person's page asks a few; a script asking thousands is slowed
    limiter(settings.search_rate, settings.search_burst, "searches").take(
        principal.subject, scale=ORGANIZER_SCALE if principal.organizer else 1.0)
    if routed.name == "track":
        audit.record(context().engine, principal, "read track", person_id, request.query_string.decode()[:200])
        return _track(request, person_id)
    audit.record(context().engine, principal, "read connections", person_id, request.query_string.decode()[:200])
    return _connections(request, person_id, coarse=not principal.organizer)


def _track(request: Request, person_id: int) -> Response:
    query = flask_edge.parse(TrackQuery, flask_edge.query_args(request), "query")
    start, end = _range(query.start_date, query.end_date)
    with context().reader().connect() as conn:  # the replica once it has caught up (udaconnect.storage.replica)
        _bound(conn)
        if not persons.person_exists(conn, person_id):
            raise NotFound(f"person {person_id} does not exist")
        found = locations.track(conn, person_id, start, end, query.limit)
    return flask_edge.json_response([item.model_dump(mode="json") for item in found])


def _connections(request: Request, person_id: int, coarse: bool) -> Response:
    """The search's answer; `coarse` (an attendee, not an organizer): without `window`, each match says only the
    place (or a coarse area) and the venue's day (presence), never the other person's coordinates or minute."""
    search = to_search(person_id, flask_edge.parse(ConnectionQuery, flask_edge.query_args(request), "query"))
    with context().dbapi(context().reader()) as (conn, info):  # the replica once it has caught up
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM person WHERE id = %s", (person_id,))
            if cur.fetchone() is None:
                raise NotFound(f"person {person_id} does not exist")
        body = search_json(conn, info, search, context().settings.search_timeout)
    if coarse and search.window is None:
        from udaconnect.places.store import days_zone

        shared = presences(json.loads(body), days_zone(context().engine, context().settings.venue_time_zone))
        if GEOJSON in (request.headers.get("Accept") or ""):
            return flask_edge.json_response(presences_geojson(shared), content_type=GEOJSON)
        return flask_edge.json_response(shared)
    if GEOJSON in (request.headers.get("Accept") or ""):
        return flask_edge.json_response(to_geojson(json.loads(body)), content_type=GEOJSON)
    return flask_edge.json_response(body)


#: A coarse area is a cell of this many degrees; its center is within AREA_RADIUS_M of any point in it.
AREA_DEGREES, AREA_RADIUS_M = 0.001, 75.0


def presences(connections: list[dict], time_zone: str) -> list[dict]:
    """Each match as a place shared (contracts.api.PlaceShared): the place, or where there is none a coarse
    area, and the day in the venue's zone."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(time_zone)
    out = []
    for found in connections:
        location = found["location"]
        place = location.get("place")
        area = None if place else {"longitude": _coarse(location["longitude"]),
                                   "latitude": _coarse(location["latitude"]), "radius": AREA_RADIUS_M}
        day = datetime.fromisoformat(location["creation_time"]).astimezone(zone).date().isoformat()
        out.append({"person": found["person"], "presence": {"place": place, "area": area, "day": day}})
    return out


def _coarse(degrees: float) -> float:
    return round(round(degrees / AREA_DEGREES) * AREA_DEGREES, 6)


def presences_geojson(shared: list[dict]) -> dict:
    """Places shared as a FeatureCollection: a coarse area's center as its point, a place with no geometry (the
    venue's places say where it is: GET /api/places)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature",
         "geometry": None if s["presence"]["area"] is None else {
             "type": "Point", "coordinates": [s["presence"]["area"]["longitude"], s["presence"]["area"]["latitude"]]},
         "properties": {"person": s["person"], **s["presence"]}}
        for s in shared]}


def _bound(conn: Connection) -> None:
    """The search budget for this transaction's reads too: PostgreSQL cancels them past it (-> 504)."""
    budget = context().settings.search_timeout
    if budget > 0:
        conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": f"{round(budget * 1000)}ms"})


def _range(first: date | datetime, last: date | datetime) -> tuple[datetime, datetime]:
    """[start, end) of the query's range: whole days are the venue's (UTC without a venue)."""
    from udaconnect.places.store import days_zone

    settings = context().settings
    try:
        return day_range(first, last, days_zone(context().engine, settings.venue_time_zone))
    except ValueError:
        raise InvalidInput("end_date is before start_date",
                           [FieldError("end_date", "must not be before start_date")]) from None


def to_search(person_id: int, query: ConnectionQuery) -> ConnectionSearch:
    start, end = _range(query.start_date, query.end_date)
    window = timedelta(minutes=query.window) if query.window is not None else None
    return ConnectionSearch(person_id, start, end, query.distance, window, query.limit)


def to_geojson(connections: list[dict]) -> dict:
    """The meeting points as a FeatureCollection: one Point feature per person met."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": c["location"]["id"],
                "geometry": {"type": "Point", "coordinates": [c["location"]["longitude"], c["location"]["latitude"]]},
                "properties": {"person": c["person"], "location_id": c["location"]["id"],
                               "creation_time": c["location"]["creation_time"],
                               "place": c["location"].get("place")},
            }
            for c in connections
        ],
    }
