"""The `persons` target: the person directory and the API's OpenAPI document and docs page."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Request, Response

from udaconnect import flask_edge
from udaconnect.api import devices, path_id
from udaconnect.auth import audit, policy
from udaconnect.auth.tokens import Principal
from udaconnect.bootstrap import context
from udaconnect.contracts.api import NewPerson, PersonQuery
from udaconnect.errors import NotFound
from udaconnect.queries import persons as queries
from udaconnect.routes import match

_INT32 = 2**31 - 1


@flask_edge.guarded
def handle(request: Request) -> Response:
    path = request.path
    if path == "/health":
        return flask_edge.health()
    routed = match(path)
    if routed is None or routed.route.target != "persons":
        return flask_edge.problem(404, f"no such resource: {path}")
    if routed.name == "docs":
        from udaconnect.api import docs

        return docs.handle(request)
    if routed.name in devices.OPERATIONS:
        return devices.handle(request, routed)
    if routed.name == "persons":
        policy.check(context().settings, request.headers, path)
        if request.method not in routed.route.methods:
            return flask_edge.not_allowed(routed.route)
        return _create(request) if request.method == "POST" else _list(request)
    if request.method not in routed.route.methods:
        return flask_edge.not_allowed(routed.route)
    person_id = path_id(routed.params[0], "person", _INT32)
    principal = policy.check(context().settings, request.headers, path, person_id)
    if request.method == "DELETE":
        return _erase(principal, person_id)
    audit.record(context().engine, principal, "read person", person_id)
    with context().engine.connect() as conn:
        return flask_edge.json_response(queries.get_person(conn, person_id).model_dump(mode="json"))


def _list(request: Request) -> Response:
    query = flask_edge.parse(PersonQuery, flask_edge.query_args(request), "query")
    with context().engine.connect() as conn:
        page, total = queries.list_persons(conn, query)
    headers = {"X-Total-Count": str(total)}
    if query.limit is not None and query.offset + len(page) < total:
        args = {k: v for k, v in {"q": query.q, "limit": query.limit, "offset": query.offset + query.limit}.items()
                if v is not None}
        headers["Link"] = f'<{request.path}?{urlencode(args)}>; rel="next"'
    return flask_edge.json_response([p.model_dump() for p in page], headers=headers)


def _create(request: Request) -> Response:
    from udaconnect.api import announce
    from udaconnect.events import outbox

    new = flask_edge.parse(NewPerson, flask_edge.json_body(request), "person")
    with context().engine.begin() as conn:  # the person and its event commit together, or neither does
        created = queries.create_person(conn, new)
        event = announce.person_created(created)
        outbox.add(conn, [event])
    # The person exists and its event is safe in the outbox: publish it after the answer, never delaying it.
    outbox.deliver_soon(context().engine, context().settings, [event])
    return flask_edge.json_response(created.model_dump(), 201, {"Location": f"/api/persons/{created.id}"})


def _erase(principal: Principal, person_id: int) -> Response:
    """The person, their devices, fixes and encounters deleted and the erasure announced, in one transaction."""
    from udaconnect.api import announce
    from udaconnect.events import outbox
    from udaconnect.queries import erasure

    audit.record(context().engine, principal, "erase person", person_id)  # before: the log says who, even if it fails
    with context().engine.begin() as conn:
        erased_at = erasure.erase_person(conn, person_id)
        if erased_at is None:
            raise NotFound(f"person {person_id} does not exist")
        event = announce.person_deleted(person_id, erased_at)
        outbox.add(conn, [event])
    outbox.deliver_soon(context().engine, context().settings, [event])
    return Response(status=204)
