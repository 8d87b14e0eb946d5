"""The local stack's metrics read back for people: each function's /metrics (listed in .udaconnect/stack.json)
summed into one line of the numbers an operator looks at first (`udaconnect status`)."""

from __future__ import annotations

import urllib.request
from collections import defaultdict

#: (label shown, metric, label that splits it or None) per function, in the order the flow runs.
SHOWN: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "gateway": (("requests", "udaconnect_http_requests_total", "status"),
                ("upstream failures", "udaconnect_gateway_upstream_failures_total", "kind")),
    "ingest": (("fixes accepted", "udaconnect_ingest_fixes_accepted_total", None),
               ("late", "udaconnect_ingest_fixes_late_total", None),
               ("refused requests", "udaconnect_ingest_refusals_total", "reason")),
    "persist": (("fixes", "udaconnect_persist_fixes_total", "outcome"),
                ("untrusted", "udaconnect_persist_fixes_untrusted_total", "reason"),
                ("deliveries", "udaconnect_deliveries_total", "outcome")),
    "encounters": (("opened", "udaconnect_encounters_opened_total", None),
                   ("live streams open", "udaconnect_live_streams_open", None),
                   ("deliveries", "udaconnect_deliveries_total", "outcome")),
}


def scrape(url: str, timeout: float = 3.0) -> dict[str, dict[str, float]]:
    """metric -> {value of its splitting labels, joined: sum} of one /metrics page (every label set kept)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - the stack's loopback address
        text = reply.read().decode()
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[sample.name][key] = sample.value
    return found


def summary(function: str, url: str) -> str:
    """`metrics ingest  http://...  fixes accepted 4, late 0, refused requests 2 (invalid 1, unauthenticated 1)`."""
    try:
        samples = scrape(url)
    except (OSError, ValueError) as error:
        return f"metrics {function}  {url}  does not answer ({type(error).__name__})"
    parts = []
    for shown, name, split in SHOWN.get(function, ()):
        values = samples.get(name, {})
        by: dict[str, float] = defaultdict(float)
        for key, value in values.items():
            labels = dict(part.split("=", 1) for part in key.split(",") if part)
            by[labels.get(split, "") if split else ""] += value
        total = sum(by.values())
        detail = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(by.items()) if k and v)
        parts.append(f"{shown} {total:,.0f}" + (f" ({detail})" if detail else ""))
    return f"metrics {function}  {url}" + (f"  {', '.join(parts)}" if parts else "")
