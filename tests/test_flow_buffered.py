"""Phones uploading their buffered fixes through the whole local stack: gateway -> ingest -> Kafka (tansu) ->
the broker's Trigger persist-locations-reported -> persist (one group per upload) -> PostGIS, each fix once, and
each stored fix announced to the encounters function."""

# ruff: noqa: F811 - the module-scoped fixtures imported below are taken as arguments under their own names

from __future__ import annotations

from sqlalchemy import Engine, text

from test_flow import PERSONS, engine, postgres, stack, wait_for  # noqa: F401 - fixtures of a stack of our own
from udaconnect_dev.localstack import LocalStack
from udaconnect_dev.simulator import Simulator, post


def counts(engine: Engine) -> tuple[int, int, int, int]:
    """Fixes stored (trusted or kept apart), distinct keys among them, fixes encounters took, trusted fixes:
    phones reporting several times a second have fixes kept apart as untrusted (udaconnect.plausibility), stored
    but never announced."""
    with engine.connect() as conn:
        return tuple(conn.execute(text(  # type: ignore[return-value]
            "SELECT count(*), count(DISTINCT (event_source, event_id, event_index)), "
            "(SELECT count(*) FROM encounter_scan), (SELECT count(*) FROM location) FROM "
            "(SELECT event_source, event_id, event_index FROM location UNION ALL "
            "SELECT event_source, event_id, event_index FROM location_untrusted) AS stored")).one())


def test_buffered_uploads_are_stored_once_per_fix_and_announced(stack: LocalStack, engine: Engine) -> None:
    sim = Simulator(stack.api_url + "/api/events", list(range(1, PERSONS + 1)), devices=PERSONS, rate=200,
                    buffer_seconds=1.0, workers=4, record=True, seed=17).enrol(stack.api_url, stack.token())
    stats = sim.run(duration=3.0)
    assert stats.refused == stats.failed == 0 and stats.sent >= 400 and len(sim.accepted) >= 40
    wait_for(lambda: counts(engine)[0] == stats.sent, 60, f"{stats.sent} fixes stored")
    # a phone that did not hear the 202 uploads again: nothing new is stored
    for event in sim.accepted[:10]:
        assert 200 <= post(stack.api_url + "/api/events", [event], token=stack.token()) < 300
    wait_for(lambda: not sum(stack.lag().values()), 60, "every Trigger delivered")
    total, distinct, _, trusted = counts(engine)
    assert total == distinct == stats.sent and trusted > 0
    # each trusted fix announced (io.udaconnect.location.stored.v1) and taken into account by encounters
    wait_for(lambda: counts(engine)[2] == counts(engine)[3], 60, "encounters saw every trusted fix")
