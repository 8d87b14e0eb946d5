"""Every UdaConnect function target; functions-framework picks one by FUNCTION_TARGET.

Each target imports its own module on first use, so a process loads only what its target needs
and nothing connects to anything at import time.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from typing import Any

import functions_framework
import functions_framework.aio
import werkzeug.routing
from starlette import convertors

from udaconnect.telemetry.serving import register as telemetry_in_worker


def _warn_if_open() -> None:
    """UDACONNECT_AUTH=open is for the original frontend only: say so loudly every time a function starts."""
    import logging

    from udaconnect.settings import Settings

    if Settings.from_env().open:
        logging.getLogger("udaconnect.auth").warning(
            "UDACONNECT_AUTH=open: authentication is OFF, every caller is an organizer (legacy clients only; "
            "never for real attendees)")


_warn_if_open()
telemetry_in_worker()  # gunicorn's worker, once forked, serves metrics and logs (see udaconnect.telemetry)

# functions-framework routes an ASGI target by Starlette's "/{path:path}", whose ".*" stops at a newline: a path
# holding %0A mid-way got Starlette's text/plain 404 before the function (or the gateway) saw it.
convertors.CONVERTOR_TYPES["path"].regex = "(?s:.*)"
# Its WSGI targets route by Werkzeug's "/<path:path>", whose ".*?" stops there too (an HTML 404 of Werkzeug's).
werkzeug.routing.PathConverter.regex = "[^/](?s:.*?)"


@functools.cache
def _handler(module: str, target: str) -> Any:
    """`target`'s handler (imported on its first request), each request counted, timed and logged."""
    from udaconnect.telemetry import served

    handle = importlib.import_module(f"udaconnect.{module}").handle
    return served(target, handle, asyncio.iscoroutinefunction(handle))


@functions_framework.http
def persons(request):  # type: ignore[no-untyped-def]
    """Person directory: list, search, create, fetch; serves the OpenAPI document and docs page."""
    return _handler("api.persons", "persons")(request)


@functions_framework.http
def connections(request):  # type: ignore[no-untyped-def]
    """Proximity search: whom a person crossed paths with; location lookup."""
    return _handler("api.connections", "connections")(request)


@functions_framework.aio.http
async def ingest(request):  # type: ignore[no-untyped-def]
    """Device CloudEvents (binary, structured, batch) and the original POST /api/locations (ASGI: each request
    waits for the broker's acknowledgement as a coroutine)."""
    return await _handler("ingest.function", "ingest")(request)


@functions_framework.aio.http
async def persist(request):  # type: ignore[no-untyped-def]
    """Trigger subscriber: writes reported locations to PostGIS with group commit (ASGI: hundreds of concurrent
    deliveries wait for their commit as coroutines, not threads)."""
    return await _handler("persist.function", "persist")(request)


@functions_framework.http
def web(request):  # type: ignore[no-untyped-def]
    """The web client's static assets."""
    return _handler("web.function", "web")(request)


@functions_framework.aio.http
async def gateway(request):  # type: ignore[no-untyped-def]
    """One origin for the API: proxies each path to its function by the routing table (ASGI: every upstream call
    is a coroutine, so slow searches or slow clients never hold the other routes up)."""
    return await _handler("gateway", "gateway")(request)


@functions_framework.aio.http
async def encounters(request):  # type: ignore[no-untyped-def]
    """Trigger subscriber for stored fixes (merges contacts into encounters) and a person's encounters, listed
    and live (ASGI: each Server-Sent Events stream is a coroutine waiting on one LISTEN per process)."""
    return await _handler("encounters.function", "encounters")(request)


@functions_framework.http
def retention(request):  # type: ignore[no-untyped-def]
    """PingSource sink: deletes locations (and encounters) older than UDACONNECT_RETENTION_DAYS in bounded
    batches, on every tick of the schedule in eventing/retention.yaml."""
    return _handler("retention.function", "retention")(request)
