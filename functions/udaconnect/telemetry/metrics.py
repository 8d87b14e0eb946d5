"""Every metric a UdaConnect function exports (prometheus_client), and the server that exposes them.

prometheus_client rather than OpenTelemetry metrics in Prometheus form: it is what Prometheus and the Prometheus
operator scrape natively, a counter's increment is a lock and an add (no SDK pipeline, no periodic reader), and it
adds one small pure-Python dependency.

One process per pod serves requests (functions-framework runs gunicorn with WORKERS=1: one gthread worker for the
Flask targets, one uvicorn worker for the ASGI ones; Knative scales pods, never gunicorn workers), so the default
in-process registry is exact and prometheus_client's multi-process mode (a file per worker and metric, gauges
merged by a mode) is not used. The server is started in that worker, after gunicorn forks it (serving.py): the
master process, where main.py is imported, serves nothing and counts nothing.

The metrics have their own port (UDACONNECT_METRICS_PORT), never the function's: Knative routes only the
container's one port through the queue-proxy, so neither the public ingress nor the gateway (which proxies only
the routing table's paths) can ever reach them. Labels are bounded (route names, outcomes, reasons, status
codes): never a person, a device, a path or a query.
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics, start_http_server

log = logging.getLogger(__name__)

#: Seconds: from a 5 ms lookup to a search at its 60 s gateway budget.
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Fixes in one group commit (at most group_commit.MAX_BATCH, 2000).
GROUP = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)

# Every function
REQUESTS = Counter("udaconnect_http_requests", "HTTP requests answered, by route template, method and status",
                   ["route", "method", "status"])
REQUEST_SECONDS = Histogram("udaconnect_http_request_duration_seconds",
                            "Seconds from a request's arrival to its answer's headers, by route template",
                            ["route"], buckets=SECONDS)
DELIVERIES = Counter("udaconnect_deliveries", "CloudEvents the broker delivered to this function, by what the "
                     "answer makes of them: delivered (2xx), dropped_erased and dropped_revoked (2xx, not stored), "
                     "retried (5xx, 404, 408, 409, 429: the broker sends it again), dead_lettered (any other 4xx)",
                     ["outcome"])

# ingest
FIXES_ACCEPTED = Counter("udaconnect_ingest_fixes_accepted", "Fixes ingest accepted (published to the broker)",
                         registry=None)
FIXES_LATE = Counter("udaconnect_ingest_fixes_late", "Accepted fixes older than UDACONNECT_MAX_FIX_AGE on arrival "
                     "(persist keeps them apart as untrusted)", registry=None)
FIXES_REFUSED = Counter("udaconnect_ingest_fixes_refused", "Fixes of valid reports in a request ingest refused, "
                        "by reason", ["reason"], registry=None)
REFUSALS = Counter("udaconnect_ingest_refusals", "Requests ingest refused, by reason", ["reason"], registry=None)

# persist
PERSIST_FIXES = Counter("udaconnect_persist_fixes", "Fixes persist's group commit settled, by outcome: stored, "
                        "duplicate (a redelivery), untrusted (kept apart), erased and revoked-device (dropped), "
                        "unknown-person and unstorable (dead-lettered)", ["outcome"], registry=None)
UNTRUSTED = Counter("udaconnect_persist_fixes_untrusted", "Fixes kept apart as untrusted, by reason (late, "
                    "imprecise, speed, burst)", ["reason"], registry=None)
COMMIT_SECONDS = Histogram("udaconnect_persist_commit_duration_seconds", "Seconds one group commit took "
                           "(judging, writing and committing its fixes)", buckets=SECONDS, registry=None)
GROUP_FIXES = Histogram("udaconnect_persist_group_size_fixes", "Fixes written by one group commit", buckets=GROUP,
                        registry=None)
COMMIT_FAILURES = Counter("udaconnect_persist_commit_failures", "Group commits the database failed (their "
                          "deliveries answer 503 and are retried)", registry=None)

# encounters
ENCOUNTERS_OPENED = Counter("udaconnect_encounters_opened", "Encounters opened (a new run of contacts)",
                            registry=None)
LIVE_STREAMS = Gauge("udaconnect_live_streams_open", "Live encounter streams (Server-Sent Events) open now",
                     registry=None)

# connections and encounters (udaconnect.storage.replica)
READS = Counter("udaconnect_db_reads", "Searches, tracks and encounter reads by the database that answered them "
                "(replica: DATABASE_READ_URL had caught up; primary: none set, or it lagged or was unreachable)",
                ["database"], registry=None)

# gateway
UPSTREAM_FAILURES = Counter("udaconnect_gateway_upstream_failures", "Calls the gateway could not complete, by "
                            "target function and kind (unavailable, timeout)", ["target", "kind"], registry=None)

#: Each function's own metrics, exported by its process alone (the others count nothing of them).
OWN = {"ingest": (FIXES_ACCEPTED, FIXES_LATE, FIXES_REFUSED, REFUSALS),
       "persist": (PERSIST_FIXES, UNTRUSTED, COMMIT_SECONDS, GROUP_FIXES, COMMIT_FAILURES),
       "encounters": (ENCOUNTERS_OPENED, LIVE_STREAMS, READS), "connections": (READS,),
       "gateway": (UPSTREAM_FAILURES,)}

#: Reasons ingest names for a refused request, by its status.
REFUSAL_REASONS = {400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method",
                   408: "timeout", 413: "too_large", 415: "unsupported_media_type", 429: "rate_limited",
                   431: "headers_too_large", 503: "unavailable"}
#: Statuses the Kafka broker's dispatcher retries (others >= 300 go straight to the dead-letter sink).
RETRIED = frozenset({404, 408, 409, 429})


def refusal_reason(status: int) -> str:
    return REFUSAL_REASONS.get(status, "other")


def delivery_outcome(status: int) -> str:
    if status < 300:
        return "delivered"
    return "retried" if status >= 500 or status in RETRIED else "dead_lettered"


def serve(target: str, host: str, port: int) -> bool:
    """Expose the common metrics and `target`'s own at http://host:port/metrics in a daemon thread; False
    (logged) when the port is taken."""
    for metric in OWN.get(target, ()):
        REGISTRY.register(metric)
    disable_created_metrics()  # the *_created series: twice the lines, and Prometheus reads resets by itself
    try:
        start_http_server(port, host)
    except OSError as error:
        log.warning("metrics not served on %s:%d (%s): with WORKERS > 1 only one worker can serve them; keep one "
                    "worker per pod (Knative scales pods)", host, port, error)
        return False
    log.info("metrics at http://%s:%d/metrics", host, port)
    return True
