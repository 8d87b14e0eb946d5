"""Traces: the W3C trace context of a request carried on in the CloudEvents it causes (the Distributed Tracing
extension: `traceparent`, `tracestate` attributes, so in every content mode and as ce_ headers over Kafka), and
OpenTelemetry spans exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.

Off (no endpoint, the default), the OpenTelemetry SDK is never imported: a request's incoming context is passed on
as it came (its trace id in the access line, its traceparent on the events it publishes), for a few header
lookups. On, each request is a server span, child of that context; persist's commit and encounters' detection are
child spans; the events carry the current span's context. A delivery's parent is its event's `ce-traceparent` (the
report's trace, binary mode: what the Kafka broker's dispatcher sends), else an HTTP `traceparent` header.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from typing import Any

from udaconnect.events import Event

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_TRACESTATE_MAX = 512
#: The context a request passes on when tracing is off: (traceparent, tracestate) as it arrived.
_PASSED: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("udaconnect_trace", default=None)
_tracer: Any = None


def incoming(headers: Any, delivery: bool) -> tuple[str, str] | None:
    """The valid (traceparent, tracestate) a request carries, or None (an invalid one is ignored, never a 4xx)."""
    names = (("ce-traceparent", "ce-tracestate"), ("traceparent", "tracestate"))
    for parent, state in names if delivery else names[::-1]:
        value = headers.get(parent)
        if value and _TRACEPARENT.match(value) and value[3:35] != "0" * 32:
            return value, (headers.get(state) or "")[:_TRACESTATE_MAX]
    return None


def start(service: str) -> None:
    """Export spans over OTLP/HTTP (the exporter reads the OTEL_EXPORTER_OTLP_* variables itself); in the worker."""
    global _tracer
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("udaconnect")


@contextlib.contextmanager
def request_span(name: str, parent: tuple[str, str] | None, attributes: dict[str, Any]) -> Iterator[Any]:
    """The request's span (None when off, `parent` passed on instead); the caller sets its status attribute."""
    if _tracer is None:
        token = _PASSED.set(parent)
        try:
            yield None
        finally:
            _PASSED.reset(token)
        return
    from opentelemetry.trace import SpanKind

    context = _context(parent) if parent else None
    with _tracer.start_as_current_span(name, context=context, kind=SpanKind.SERVER, attributes=attributes,
                                       record_exception=False, set_status_on_exception=False) as span:
        yield span


@contextlib.contextmanager
def child(name: str, **attributes: Any) -> Iterator[None]:
    """A span inside the request's (persist's commit, encounters' detection); nothing when off."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(name, attributes=attributes):
        yield


def current() -> tuple[str, str] | None:
    """(traceparent, tracestate) to put on the events this request publishes."""
    if _tracer is None:
        return _PASSED.get()
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return (carrier["traceparent"], carrier.get("tracestate", "")) if "traceparent" in carrier else None


def trace_id(span: Any, parent: tuple[str, str] | None) -> str:
    """The trace id for the access line: the span's, else the one passed on, else ''."""
    if span is not None:
        return f"{span.get_span_context().trace_id:032x}"
    return parent[0][3:35] if parent else ""


def stamped(event: Event, context: tuple[str, str] | None = None) -> Event:
    """`event` carrying the trace context (the current one by default), as the Distributed Tracing extension."""
    context = context or current()
    if context is None:
        return event
    extensions = {"traceparent": context[0], **({"tracestate": context[1]} if context[1] else {})}
    return event.with_extensions(**extensions)


def _context(parent: tuple[str, str]) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": parent[0], **({"tracestate": parent[1]} if parent[1] else {})}
    return TraceContextTextMapPropagator().extract(carrier)
