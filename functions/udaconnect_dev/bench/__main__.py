"""`python -m udaconnect_dev.bench connections|dispatch|http-client|ingest|faults|encounters|places|auth|plausibility
|telemetry|scale|trust-cost [options]`."""

from __future__ import annotations

import sys

from udaconnect_dev.bench import (
    auth,
    connections,
    dispatch,
    encounters,
    faults,
    http_client,
    ingest,
    places,
    scale,
    telemetry,
    trust_cost,
)
from udaconnect_dev.bench import plausibility as plausibility_bench

BENCHMARKS = {"connections": connections.main, "dispatch": dispatch.main, "http-client": http_client.main,
              "ingest": ingest.main,
              "faults": faults.main, "encounters": encounters.main,
              "places": places.main, "auth": auth.main, "plausibility": plausibility_bench.main,
              "telemetry": telemetry.main, "scale": scale.main,
              "trust-cost": trust_cost.main}

if __name__ == "__main__":
    name, *rest = sys.argv[1:] or ["connections"]
    if name not in BENCHMARKS:
        sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    sys.exit(BENCHMARKS[name](rest))
