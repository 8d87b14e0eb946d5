"""`nox -s bench -- ingest` at a tiny size, end to end only, so the benchmark cannot rot: devices post through the
gateway with their own tokens, the encounters Trigger on, and its JSON gives what phones get (stored fixes/s, POST
to row p50/p99, CPU per fix per process), every accepted fix stored once (0 lost, 0 duplicates)."""

from __future__ import annotations

import json
from pathlib import Path

from udaconnect_dev.bench import ingest

PHASES = ("single", "single_at_1000_per_s", "batch100", "batch100_at_5000_fixes_per_s", "phones50",
          "phones50_at_5000_fixes_per_s", "phones50_at_10000_fixes_per_s")


def test_the_ingest_benchmark_reports_what_phones_get_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "results"
    assert ingest.main(["--parts", "end-to-end", "--persons", "20", "--events", "100", "--batch-events", "300",
                        "--phone-fixes", "500", "--deadline", "120", "--data-dir", str(tmp_path / "stack"),
                        "--out", str(out)]) == 0
    report = json.loads((out / "ingest.json").read_text())
    e2e = report["end_to_end"]
    assert e2e["encounters_trigger"] is True and "gateway" in e2e["path"]
    for name in PHASES:
        phase = e2e[name]
        assert phase["post_errors"] == 0, (name, phase)
        assert phase["stored_fixes"] == phase["accepted_fixes"] > 0, (name, phase)
        assert phase["end_to_end_fixes_per_s"] > 0 and 0 < phase["latency_p50_ms"] <= phase["latency_p99_ms"]
        assert phase["cpu_us_per_fix"]["total"] > 0, (name, phase)
    # the CPU is read once every Trigger drained a phase: the encounters function's share is in it. A process idle
    # in a phase (under 0.5 us per fix: no tick of 10 ms in a tiny phase) is left out of that phase's figures
    measured = {process for name in PHASES for process in e2e[name]["cpu_us_per_fix"]}
    assert {"gateway", "ingest", "broker", "persist", "encounters", "postgresql"} <= measured, measured
    assert e2e["lost"] == 0 and e2e["duplicate_rows"] == 0, e2e
    assert e2e["accepted_fixes"] == e2e["stored_fixes"] == 100 + 200 + 300 + 240 + 500 + 375 + 500
    assert len(report["load_average"]) == 3
