"""`bench trust-cost` at a tiny size, this tree against itself (`--before HEAD`, which every clone has), so the
command cannot rot: two persist processes fed the same phone uploads with delivery proofs, every fix held by both."""

from __future__ import annotations

import json

from udaconnect_dev.bench import trust_cost


def test_bench_trust_cost_feeds_both_trees_the_same_uploads_and_counts_every_fix(tmp_path, capsys) -> None:
    argv = ["--before", "HEAD", "--persons", "4", "--hours", "0.25", "--repeat", "2", "--out", str(tmp_path)]
    assert trust_cost.main(argv) == 0
    report = json.loads((tmp_path / "trust-cost.json").read_text())
    assert report["persons"] == 4 and report["fixes_per_upload"] == 50
    assert len(report["runs"]["before"]) == len(report["runs"]["unjudged"]) == len(report["runs"]["after"]) == 2
    # each turn went to both, whole: the same fixes, all answered 204 and held (trust_cost.turn checks the rows)
    assert ([r["fixes"] for r in report["runs"]["before"]] == [r["fixes"] for r in report["runs"]["unjudged"]]
            == [r["fixes"] for r in report["runs"]["after"]])
    assert sum(r["fixes"] for r in report["runs"]["after"]) < report["fixes"]  # the warm-up turn is not counted
    for mode in ("before", "unjudged", "after"):
        assert report["median"][mode]["persist_us_per_fix"] > 0
    # one tree, one judgement: the same fixes kept untrusted by both
    assert report["untrusted"]["before"] == report["untrusted"]["after"]
    assert report["untrusted"]["unjudged"] == {}  # judging switched off: every fix believed
    assert set(report["after_over_unjudged"]) >= {"persist_us_per_fix", "total_us_per_fix"}
    assert "kept untrusted of" in capsys.readouterr().out
