"""`bench scale` at a tiny size: the realistic conference built by COPY, searched over HTTP with auth on, side by
side with the plain PostGIS join, so the command cannot rot."""

from __future__ import annotations

import json

from udaconnect.synthetic import Conference
from udaconnect_dev.bench import scale


def test_bench_scale_builds_a_conference_and_searches_it_over_http(settings, tmp_path, capsys) -> None:
    server = settings.database_url.rsplit("/", 1)[0]
    argv = ["--attendees", "10", "--days", "1", "--queries", "3", "--encounters", "--without-window",
            "--server", server, "--out", str(tmp_path)]
    assert scale.main(argv) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["rows"] == sum(1 for _ in Conference(persons=10, days=1).fixes())
    assert line["attendees"] == 10 and line["queries"] == 3
    assert line["same_answers"] == "12/12"  # ours and the plain join: the same people, first met at the same fix
    assert 0 < line["met_per_day_median"] <= line["met_per_day_no_window_median"] <= 9
    for name in ("search", "window", "day_window", "encounters", "plain_join"):
        assert line[f"{name}_p50_ms"] > 0 and line[f"{name}_p95_ms"] >= line[f"{name}_p50_ms"]
    assert line["bytes_per_fix"] > 50 and line["build_s"] > 0
    assert json.loads((tmp_path / "scale.json").read_text())["results"][0]["rows"] == line["rows"]
