"""A partition counts as stalled only when unpaused, behind its high-water mark and unmoved for a while."""

from __future__ import annotations

from udaconnect_dev.broker.progress import ProgressWatch


def test_a_partition_unmoved_below_its_high_water_mark_stalls_once_per_episode():
    watch = ProgressWatch(stall_after=10)
    assert not watch.observe("p0", 5, 9, paused=False, now=0)
    assert not watch.observe("p0", 5, 9, paused=False, now=9)
    assert watch.observe("p0", 5, 9, paused=False, now=10)
    assert not watch.observe("p0", 5, 9, paused=False, now=20), "reported once"
    assert watch.stalled == {"p0"} and watch.lag == {"p0": 4} and watch.stalls == 1
    assert not watch.observe("p0", 6, 9, paused=False, now=21)
    assert watch.stalled == set()
    assert watch.observe("p0", 6, 9, paused=False, now=31) and watch.stalls == 2


def test_caught_up_paused_or_moving_partitions_never_stall():
    watch = ProgressWatch(stall_after=1)
    for now in range(5):
        assert not watch.observe("caught-up", 9, 9, paused=False, now=now)
        assert not watch.observe("paused", 3, 9, paused=True, now=now)
        assert not watch.observe("moving", now, 9, paused=False, now=now)
        assert not watch.observe("no-fetch-yet", 0, None, paused=False, now=now)
    assert watch.stalls == 0 and watch.lag["paused"] == 6 and watch.lag["no-fetch-yet"] == 0
    watch.forget("paused")
    assert "paused" not in watch.lag
