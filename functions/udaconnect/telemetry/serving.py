"""Each request a function answers, measured and logged once (functions/main.py wraps every target with `served`);
the metrics server and the logs started in the process gunicorn forks to serve (`start_in_worker`).

A request is named by its route template (udaconnect.routes: `connections`, `report-events`, ...), `events` for
the CloudEvents POSTed to a function's root, `health`, `web` for the web client's files, `unmatched` for anything
else: never its path (which holds person ids) nor its query (a live stream's ?access_token=).
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from udaconnect.telemetry import metrics, tracing
from udaconnect.telemetry.logs import ACCESS

log = logging.getLogger(__name__)
#: Targets the broker delivers CloudEvents to (at their root): their answers are counted as deliveries.
DELIVERED_TO = frozenset({"persist", "encounters", "retention"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ROOT = frozenset({"/", "/api/persist", "/api/persist/"})
#: What a handler tells about its request beyond the status (e.g. a delivery dropped, not stored).
_NOTE: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("udaconnect_note", default=None)
_started = False


def note(**values: str) -> None:
    """Tell the request's measurement something its status does not say (delivery="dropped_erased")."""
    found = _NOTE.get()
    if found is not None:
        found.update(values)


@lru_cache(maxsize=4096)
def route_label(target: str, path: str) -> str:
    """The bounded name a request is counted and logged under (cached: paths repeat)."""
    if path == "/health":
        return "health"
    if target == "web":
        return "web"
    if path in _ROOT:
        return "events"
    from udaconnect.routes import route_for

    route = route_for(path)
    return route.name if route is not None else "unmatched"


def _span_name(target: str, path: str, method: str) -> str:
    return f"{method if method in _METHODS else 'other'} {target} {_route(target, path)}"


def _route(target: str, path: str) -> str:
    return route_label(target, path if len(path) <= 2048 else "")


def _record(target: str, path: str, method: str, status: int, started: float, headers: Any,
            noted: dict[str, str], span: Any = None, parent: tuple[str, str] | None = None) -> None:
    seconds = time.perf_counter() - started
    route = _route(target, path)
    method = method if method in _METHODS else "other"
    metrics.REQUESTS.labels(route, method, str(status)).inc()
    metrics.REQUEST_SECONDS.labels(route).observe(seconds)
    fields: dict[str, Any] = {"function": target, "route": route, "method": method, "status": status,
                              "duration_ms": round(seconds * 1000, 1)}
    if route == "events" and method == "POST":
        if target in DELIVERED_TO:
            outcome = noted.get("delivery") or metrics.delivery_outcome(status)
            metrics.DELIVERIES.labels(outcome).inc()
            fields["delivery"] = outcome
        fields["event_id"] = (headers.get("ce-id") or "")[:200]
        fields["event_type"] = (headers.get("ce-type") or "")[:200]
    if target == "ingest" and method == "POST" and route != "health" and status >= 400:
        metrics.REFUSALS.labels(metrics.refusal_reason(status)).inc()
    fields.update(noted)
    if trace := tracing.trace_id(span, parent):
        fields["trace_id"] = trace
    if span is not None:
        span.set_attributes({"http.request.method": method, "http.route": route, "http.response.status_code": status,
                             "udaconnect.function": target, **({"cloudevents.event_id": fields["event_id"]}
                                                              if fields.get("event_id") else {})})
    ACCESS.log(logging.DEBUG if route == "health" else logging.INFO, "request", extra={"fields": fields})


def served(target: str, handler: Callable[[Any], Any], asynchronous: bool) -> Callable[[Any], Any]:
    """`handler` measured: its requests counted by route and status, timed, and logged one line each."""
    if asynchronous:
        async def measured_async(request: Any) -> Any:
            started, noted = time.perf_counter(), dict[str, str]()
            token = _NOTE.set(noted)
            status, path, headers = 500, request.url.path, request.headers
            parent = tracing.incoming(headers, path in _ROOT)
            with tracing.request_span(_span_name(target, path, request.method), parent, {}) as span:
                try:
                    response = await handler(request)
                    status = response.status_code
                    return response
                finally:
                    _NOTE.reset(token)
                    _record(target, path, request.method, status, started, headers, noted, span, parent)

        return measured_async

    def measured(request: Any) -> Any:
        started, noted = time.perf_counter(), dict[str, str]()
        token = _NOTE.set(noted)
        status, path, headers = 500, request.path, request.headers
        parent = tracing.incoming(headers, path in _ROOT)
        with tracing.request_span(_span_name(target, path, request.method), parent, {}) as span:
            try:
                response = handler(request)
                status = _status(response)
                return response
            finally:
                _NOTE.reset(token)
                _record(target, path, request.method, status, started, headers, noted, span, parent)

    return measured


def _status(response: Any) -> int:
    if isinstance(response, tuple):
        return next((part for part in response[1:] if isinstance(part, int)), 200)
    return int(getattr(response, "status_code", 200))


def start_in_worker() -> None:
    """In the process that serves requests (gunicorn's worker, after its fork): the logs, then the metrics
    server on UDACONNECT_METRICS_PORT (0: none). Never in gunicorn's master, which counts nothing; once only, so
    a process the worker forks in turn does not try the port again."""
    global _started
    if _started:
        return
    _started = True
    from udaconnect.settings import Settings
    from udaconnect.telemetry.logs import configure

    settings = Settings.from_env()
    configure(settings.log_level, settings.log_format)
    if settings.metrics_port:
        metrics.serve(settings.function_target, settings.metrics_host, settings.metrics_port)
    if settings.otlp_endpoint or settings.otlp_traces_endpoint:
        tracing.start(settings.otel_service_name or f"udaconnect-{settings.function_target or 'function'}")


def register() -> None:
    """Start telemetry in each worker gunicorn forks from this process, when functions-framework's command serves
    the targets (call at import, in gunicorn's master). Nowhere else: a test process that imports the targets
    forks children of its own (subprocess with a preexec_fn runs fork hooks), which must bind no port."""
    command = sys.argv[0] if sys.argv else ""
    served_by_framework = os.path.basename(command) == "functions-framework" or "functions_framework" in command
    if served_by_framework and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=start_in_worker)
