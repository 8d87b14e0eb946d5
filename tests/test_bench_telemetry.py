"""`bench telemetry` at a tiny size, so the command cannot rot: ingest as deployed, quiet, with the per-request
telemetry switched off (unmeasured), and a checkout from before telemetry and Ed25519 tokens (off), which gets
HS256 device tokens minted by its own code. Every request must be accepted by each, or the run fails."""

from __future__ import annotations

import json
import subprocess

import pytest

from udaconnect.settings import PROJECT_ROOT
from udaconnect_dev.bench import telemetry, trust_cost

#: The last commit before issues 21, 22 and 29 (plausibility, Ed25519 tokens and delivery proofs, telemetry).
BASELINE = "0b494e0"


def test_bench_telemetry_measures_every_mode_side_by_side(tmp_path) -> None:
    if subprocess.run(["git", "-C", str(PROJECT_ROOT), "cat-file", "-e", f"{BASELINE}^{{commit}}"]).returncode:
        pytest.skip(f"this clone lacks commit {BASELINE} (a shallow clone): nothing to compare with")
    baseline = trust_cost.checkout(BASELINE, tmp_path / "baseline")
    argv = ["--events", "40", "--batch-events", "400", "--repeat", "1", "--baseline", str(baseline),
            "--out", str(tmp_path)]
    assert telemetry.main(argv) == 0  # 0: no request failed in any mode (the baseline took its own tokens)
    report = json.loads((tmp_path / "telemetry.json").read_text())
    for kind in ("single", "batch100", "upload50"):
        assert set(report["median"][kind]) == {"off", "on", "quiet", "unmeasured"}
        for mode, figures in report["median"][kind].items():
            assert figures["cpu_us_per_fix"] > 0, (kind, mode)
