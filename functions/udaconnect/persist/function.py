"""The `persist` target: the Trigger's subscriber for location reports.

Answers, as the Kafka broker's dispatcher reads them: 204 with an empty body once the row is committed (or was
already, for a redelivery); 503 when the database failed (retried with backoff); 400/422 with a problem+json
reason for an event that can never be stored (not retried: dead-lettered with the reason).
"""

from __future__ import annotations

import json

from flask import Request, Response

from udaconnect import http
from udaconnect.errors import FieldError, InvalidInput

_PATHS = ("/", "/api/persist")


class Unstorable(InvalidInput):
    status = 422


@http.guarded
def handle(request: Request) -> Response:
    if request.path == "/health":
        return http.health()
    if request.path not in _PATHS:
        return http.problem(404, f"no such resource: {request.path}")
    if request.method != "POST":
        return http.method_not_allowed("POST")
    from udaconnect.persist import writer

    row = _row(dict(request.headers), request.get_data())
    outcome = writer.for_url(_database_url()).write(row)
    if outcome == writer.UNKNOWN_PERSON:
        raise Unstorable(f"person {row.person_id} does not exist", [FieldError("data.person_id", "unknown person")])
    # Never a body: the dispatcher counts a non-empty 2xx body that is not a CloudEvent as a failed delivery.
    return Response(status=204)


def _row(headers: dict[str, str], body: bytes):  # noqa: ANN202 - a writer.Row, imported lazily
    from udaconnect.broker.errors import InvalidEvent
    from udaconnect.broker.http_binding import from_http
    from udaconnect.contracts.events import LOCATION_REPORTED
    from udaconnect.ingest.validation import InvalidPayload, check_payload
    from udaconnect.persist.writer import Row

    try:
        event = from_http(headers, body)
    except InvalidEvent as error:
        raise InvalidInput(f"not a CloudEvent: {error}") from None
    attributes = event.attributes
    if attributes["type"] != LOCATION_REPORTED:
        raise Unstorable(f"persist stores {LOCATION_REPORTED} only", [FieldError("type", attributes["type"])])
    try:
        data = json.loads(event.data or b"")
        payload = check_payload(data)
    except ValueError as error:
        raise Unstorable("the data is not JSON", [FieldError("data", str(error))]) from None
    except InvalidPayload as invalid:
        raise Unstorable("invalid location report", invalid.errors) from None
    return Row(payload.person_id, payload.longitude, payload.latitude, payload.recorded_at, payload.accuracy,
               attributes["source"], attributes["id"])


def _database_url() -> str:
    # Settings straight from the environment: udaconnect.bootstrap would import SQLAlchemy (cold start, memory).
    from udaconnect.settings import Settings

    settings = Settings.from_env()
    if settings.database_url:
        return settings.database_url
    from udaconnect.storage.database import database_url

    return database_url(settings)  # the embedded cluster of a checkout
